// The demo: an epoll echo server whose error path forgets EPOLL_CTL_DEL and close() for a
// client that sent a bad request; the loop then shuts down.
// EXPECT: tcp4 accepted never-closed,reader-not-removed @serve_forever
// EXPECT-EXIT: 23
#include "testlib.h"

static int handle(int fd)
{
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0)
		return 0;
	if (buf[0] == '!')
		return -1; /* a bad request: the caller is meant to drop the connection */
	return write(fd, buf, (size_t)n) == n ? 1 : 0;
}

static void serve_forever(int listener, int ep, int requests)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) == 0);
	while (requests > 0) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, 1000);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == listener) {
				int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
				struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
				CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) == 0);
				continue;
			}
			int r = handle(fd);
			requests--;
			if (r == 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
			/* r < 0: the bug. The connection should be dropped here, and is not. */
		}
	}
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, listener, NULL) == 0);
}

int main(void)
{
	int port;
	int listener = tl_listener(&port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	pid_t pid = fork();
	if (pid == 0) { /* the clients: a good one and a bad one */
		int good = tl_connect(port), bad = tl_connect(port);
		char buf[4];
		CHECK(write(good, "hi", 2) == 2 && read(good, buf, 2) == 2);
		CHECK(write(bad, "!x", 2) == 2);
		close(good);
		/* Hold the bad connection until the server is gone, so that its end is the server's
		 * doing (or not): read returns 0 when the server process exits. */
		while (read(bad, buf, sizeof(buf)) > 0)
			;
		close(bad);
		_exit(0);
	}
	serve_forever(listener, ep, 3); /* "hi", "!x", and the good client's end */
	close(listener);
	close(ep);
	return 0;
}
