/* live: the memory a leak detector keeps per live TCP connection, as a server holds them: each
 * connection is a connected client socket and the server's accepted socket, both registered in
 * an epoll set (EPOLLIN), all kept open.
 *
 *   live [PAIRS]   (default 12,000 connections: 24,000 live transports; fewer where the
 *                  open-file limit cannot be raised that far)
 *
 * The resident memory is printed twice, with a quarter of the connections open and with all:
 * scripts/bench takes the difference, per transport, against a bare run (the kernel's socket
 * buffers are not resident memory of the process; what is left is the tracker's). The timed part
 * is making the connections. */
#include <sys/resource.h>

#include "benchlib.h"

#define SPARE_FDS 256

/* How many connections this process can hold (two descriptors each), after raising the
 * open-file limit as far as it will go: at most want. */
static long connection_room(long want)
{
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rlim_t need = (rlim_t)(2 * want + SPARE_FDS);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return want;
	long room = ((long)rl.rlim_cur - SPARE_FDS) / 2;
	CHECK(room > 0);
	printf("live: the open-file limit allows %ld connections, not %ld\n", room, want);
	return room;
}

int main(int argc, char **argv)
{
	long n = connection_room(bl_count(argc, argv, 12000));
	int *fds = calloc((size_t)(2 * n), sizeof(int));
	CHECK(fds != NULL);
	int port;
	int l = bl_listener(&port, 4096);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	long quarter = n / 4 > 0 ? n / 4 : 1;
	double start = bl_now();
	for (long i = 0; i < n; i++) {
		int c = bl_connect(port);
		int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		CHECK(a >= 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0);
		ev.data.fd = a;
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0);
		fds[2 * i] = c;
		fds[2 * i + 1] = a;
		if (i + 1 == quarter)
			printf("bench-live transports=%ld rss_kb=%ld\n", 2 * (i + 1), bl_rss_kb());
	}
	double secs = bl_now() - start;
	printf("bench-live transports=%ld rss_kb=%ld\n", 2 * n, bl_rss_kb());
	/* Everything is closed: the benchmark measures the live table, not a report. */
	for (long i = 0; i < 2 * n; i++) {
		CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL) == 0);
		close(fds[i]);
	}
	close(ep);
	close(l);
	free(fds);
	bl_result("live", "connection", n, secs);
	return 0;
}
