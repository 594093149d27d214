// The epoll set is closed while a socket is still registered in it, then the socket is closed:
// the reader was never removed (the asyncio loop.close() pattern). Nothing else is wrong.
// EXPECT: tcp4 client reader-not-removed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	int c = tl_connect(port);
	int a = tl_accept(l);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0);
	close(ep);
	close(c);
	close(a);
	close(l);
	return 0;
}
