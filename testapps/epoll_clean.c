// Registrations are removed (EPOLL_CTL_DEL) or dropped by the kernel when the socket's last
// descriptor closes while the epoll set stays open (nginx does this): nothing to report.
// Registering a pipe is not a transport's business.
// EXPECT-NONE
// EXPECT-EXIT: 0
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int ep = epoll_create1(0);
	CHECK(ep >= 0);
	int p[2];
	CHECK(pipe(p) == 0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
	for (int i = 0; i < 20; i++) {
		int c = tl_connect(port);
		int a = tl_accept(l);
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0);
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0);
		if (i % 2)
			CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL) == 0);
		close(a); /* still registered half the time: the kernel drops it with the file */
		close(c);
	}
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL) == 0);
	close(l);
	close(p[0]); /* the pipe stays registered: not a socket */
	close(p[1]);
	close(ep);
	return 0;
}
