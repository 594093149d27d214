// The parent makes no socket before it forks, so libunwind is not loaded yet: the forked child
// loads it at its own first walk. The child leaks one socket; the parent's report is clean.
// EXPECT: udp4 socket never-closed @child_opens proc=child
// EXPECT-EXIT: 0
// PROCESSES: 2
#include <sys/wait.h>
#include "testlib.h"

static void child_opens(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
}

int main(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		child_opens();
		exit(0);
	}
	int status; /* the child's is sockleak's exitcode (23): it leaked */
	CHECK(waitpid(pid, &status, 0) == pid);
	return 0;
}
