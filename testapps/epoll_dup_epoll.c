// The epoll set itself is duplicated: closing one copy does not close the set, so the
// registration is judged only when the last copy goes (at exit here, with the socket open).
// EXPECT: tcp4 client never-closed,reader-not-removed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int ep = epoll_create1(0);
	int c = tl_connect(port);
	int a = tl_accept(l);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0);
	int ep2 = dup(ep);
	close(ep);
	(void)ep2;
	close(a);
	close(l);
	return 0;
}
