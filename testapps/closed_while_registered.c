// fd c is registered, duplicated, then closed: the socket lives on through the copy, so the
// kernel keeps the registration under a closed number. The copy is closed later, properly.
// EXPECT: tcp4 client closed-while-registered @main
// EXPECT-EXIT: 0
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
	int copy = dup(c);
	CHECK(copy >= 0);
	close(c);
	close(copy); /* the last descriptor: the registration goes with the file */
	close(ep);
	close(a);
	close(l);
	return 0;
}
