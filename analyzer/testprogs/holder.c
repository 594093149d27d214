// Holds transports open until it is killed: the analyzer must report each as process-killed,
// and nothing else (no reader-not-removed for the epoll registration, nothing for the socket it
// closed). With "fork", a child inherits them all (not its own to report), opens a UDP socket of
// its own, and waits too. Prints "ready PID [CHILD_PID]" once everything is in place.
#include <signal.h>
#include "../../testapps/testlib.h"

static int hold_udp(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	return s;
}

int main(int argc, char **argv)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	(void)c;
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0);
	int done = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(done >= 0);
	close(done);
	pid_t child = 0;
	int ready[2];
	CHECK(pipe(ready) == 0);
	if (argc > 1 && strcmp(argv[1], "fork") == 0) {
		child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			hold_udp();
			CHECK(write(ready[1], "x", 1) == 1);
			for (;;)
				pause();
		}
		char x;
		CHECK(read(ready[0], &x, 1) == 1);
	}
	if (child)
		printf("ready %d %d\n", (int)getpid(), (int)child);
	else
		printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
