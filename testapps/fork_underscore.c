// _Fork() runs no fork handlers, so sockleak handles it itself: the child (which leaks a socket
// of its own and ignores what it inherited) reports only its own; the parent closes its socket.
// EXPECT: unix-dgram socket never-closed @child proc=child
// EXPECT-EXIT: 0
// PROCESSES: 2
#include "testlib.h"

static void child(void)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	exit(0);
}

int main(void)
{
	int inherited = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(inherited >= 0);
	pid_t pid = _Fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child();
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 23);
	close(inherited);
	return 0;
}
