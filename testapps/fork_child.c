// The child inherits the parent's sockets (not its to report), leaks one socket of its own and
// exits with exit(); the parent waits, then closes everything.
// EXPECT: udp4 socket never-closed @child_work proc=child
// EXPECT-EXIT: 0
// PROCESSES: 2
#include "testlib.h"

static void child_work(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
}

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		child_work();
		exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 23);
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL) == 0);
	close(ep);
	close(a);
	close(c);
	close(l);
	return 0;
}
