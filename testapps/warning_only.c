// Only a warning (closed-while-registered) is found: the exit status is left alone.
// EXPECT: unix-stream pair closed-while-registered @main
// EXPECT-EXIT: 7
#include "testlib.h"

int main(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
	int copy = dup(sv[0]);
	close(sv[0]);
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, copy, NULL) == -1); /* the kernel keys it by the old number */
	close(copy);
	close(sv[1]);
	close(ep);
	return 7;
}
