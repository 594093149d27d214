/* scale: 100,000 leaked sockets, so that a leak detector's exit report holds 100,000 findings.
 * It measures what the tracker keeps per live transport (the resident memory printed while the
 * sockets are open, against a bare run) and how long the report at exit takes (the time from
 * the last line this program prints to the process's end, against a bare run).
 *
 *   scale [SOCKETS]   (default 100,000)
 *
 * The sockets are UDP: one socket() each, and nothing for the kernel to time out. The program
 * raises its open-file limit to hold them all at once, and then every one is still open at exit
 * (never-closed). Where the hard limit is lower and cannot be raised (a sandbox whose root lacks
 * CAP_SYS_RESOURCE), it holds as many as the limit allows open until the end, and makes the rest
 * during exit-time cleanup, in an atexit handler, closing each at once: sockleak reports those as
 * closed-at-exit, so the report still has one finding per socket, each with its creation stack.
 * The timed part is the creation of the sockets held open. */
#include <sys/resource.h>

#include "benchlib.h"

/* Room for what the C library, a preload and valgrind open besides the sockets. */
#define SPARE_FDS 256

static long at_exit_count;

/* How many descriptors this process may hold, after raising the limit as far as it will go. */
static long fd_room(long want)
{
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)want)
		return want;
	struct rlimit up = {.rlim_cur = (rlim_t)want, .rlim_max = rl.rlim_max};
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want)
		up.rlim_max = (rlim_t)want; /* allowed with CAP_SYS_RESOURCE only */
	if (setrlimit(RLIMIT_NOFILE, &up) == 0)
		return want;
	/* Without the capability, the soft limit can still go up to the hard one. */
	rl.rlim_cur = rl.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	return (long)rl.rlim_max;
}

static void open_and_close_at_exit(void)
{
	for (long i = 0; i < at_exit_count; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		CHECK(fd >= 0);
		close(fd);
	}
	/* The report begins when this handler returns: the end of the program's own work. */
	printf("bench-main-end %.6f\n", bl_now());
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long n = bl_count(argc, argv, 100000);
	long live = fd_room(n + SPARE_FDS) - SPARE_FDS;
	if (live > n)
		live = n;
	CHECK(live > 0);
	at_exit_count = n - live;

	double start = bl_now();
	for (long i = 0; i < live; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		CHECK(fd >= 0);
	}
	double secs = bl_now() - start;
	/* Left open on purpose: the exit is the point. */
	printf("bench-scale live=%ld closed_at_exit=%ld\n", live, at_exit_count);
	if (at_exit_count > 0) {
		printf("scale: the open-file limit allows %ld sockets at once; the other %ld are made and "
		       "closed during exit-time cleanup\n", live, at_exit_count);
		CHECK(atexit(open_and_close_at_exit) == 0);
	}
	bl_result("scale", "socket", live, secs);
	return 0;
}
