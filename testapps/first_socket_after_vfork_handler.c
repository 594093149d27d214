// A vforked child shares its parent's memory, and sets a signal handler before it exits (as a
// child does before an exec). That handler is the child's: the parent installed none, so its
// first socket's stack walk still loads libunwind, and the socket it leaks has its stack.
// EXPECT: udp4 socket never-closed @parent_opens proc=main
// EXPECT-EXIT: 23
#include <signal.h>
#include "testlib.h"

static void child_handler(int sig)
{
	(void)sig;
}

static void parent_opens(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
}

int main(void)
{
	pid_t pid = vfork();
	CHECK(pid >= 0);
	if (pid == 0) {
		signal(SIGUSR1, child_handler);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	parent_opens();
	return 0;
}
