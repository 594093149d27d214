/* steady: 1,000 long-lived loopback connections exchanging small messages. Once they are open
 * nothing is created, registered or closed: only read, write and epoll_wait run, none of which
 * a lifecycle tracker has any business in, so its cost here must be nil.
 *
 *   steady [MESSAGES]   (default 100,000, rounded up to a multiple of 1,000)
 *
 * A message is 16 bytes from the client and their echo. In each round the client writes one on
 * every connection, then reads every echo; a server thread echoes through epoll. Only the
 * rounds are timed: opening and closing the 1,000 connections is not. */
#include <pthread.h>

#include "benchlib.h"

#define CONNS 1000
#define MSG 16

static int listener;

static void *server_thread(void *arg)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = listener};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev) == 0);
	int closed = 0;
	while (closed < CONNS) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == listener) {
				int a = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
				CHECK(a >= 0);
				struct epoll_event aev = {.events = EPOLLIN, .data.fd = a};
				CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &aev) == 0);
				continue;
			}
			char buf[4096];
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			CHECK(r >= 0);
			if (r > 0) {
				bl_write_all(fd, buf, (size_t)r);
				continue;
			}
			CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0);
			close(fd);
			closed++;
		}
	}
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, listener, NULL) == 0);
	close(ep);
	return NULL;
}

int main(int argc, char **argv)
{
	long rounds = (bl_count(argc, argv, 100000) + CONNS - 1) / CONNS;
	int port;
	listener = bl_listener(&port, CONNS + 24);
	pthread_t server;
	CHECK(pthread_create(&server, NULL, server_thread, NULL) == 0);
	int fds[CONNS];
	for (int i = 0; i < CONNS; i++)
		fds[i] = bl_connect(port);

	char msg[MSG], echo[MSG];
	memset(msg, 'm', sizeof(msg));
	double start = bl_now();
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < CONNS; i++)
			bl_write_all(fds[i], msg, sizeof(msg));
		for (int i = 0; i < CONNS; i++)
			bl_read_all(fds[i], echo, sizeof(echo));
	}
	double secs = bl_now() - start;

	for (int i = 0; i < CONNS; i++)
		close(fds[i]);
	CHECK(pthread_join(server, NULL) == 0);
	close(listener);
	bl_result("steady", "message", rounds * CONNS, secs);
	return 0;
}
