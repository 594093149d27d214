// Built by tests/test_checkpoints.py against include/sockleak.h, without linking sockleak.
#include <sockleak.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int open_leaky(void)
{
	return socket(AF_INET, SOCK_STREAM, 0);
}

int main(void)
{
	int before = socket(AF_INET, SOCK_STREAM, 0); /* made before the mark: not the test's */
	int ep = epoll_create1(0);
	uint64_t mark = sockleak_mark();
	int leaky = open_leaky();
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	close(udp);                                   /* finished: not reported */
	int pair[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
	struct epoll_event ev = {.events = EPOLLIN};
	epoll_ctl(ep, EPOLL_CTL_ADD, pair[0], &ev);
	close(pair[1]);
	unsigned long n = sockleak_check(mark, "first part");
	close(leaky);
	epoll_ctl(ep, EPOLL_CTL_DEL, pair[0], &ev);
	close(pair[0]);
	uint64_t mark2 = sockleak_mark();
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	close(s);
	unsigned long n2 = sockleak_check(mark2, "second part");
	char text[4096];
	unsigned long n3 = sockleak_check_text(mark, "as text", text, sizeof(text));
	printf("mark=%d n=%lu n2=%lu n3=%lu text=%d\n", mark != 0, n, n2, n3, text[0] != 0);
	close(before);
	close(ep);
	return 0;
}
