// A server registers an accepted socket and exits with it still open and registered.
// EXPECT: tcp4 accepted never-closed,reader-not-removed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int ep = epoll_create(16);
	CHECK(ep >= 0);
	int c = tl_connect(port);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(a >= 0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = a};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0);
	ev.events = EPOLLIN;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, a, &ev) == 0);
	close(c);
	close(l);
	return 0;
}
