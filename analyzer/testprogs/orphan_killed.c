// A grandchild orphaned by its parent's exit, then killed by SIGKILL while its UDP socket is
// open. Under 'sockleak run' it is reparented to the wrapper (a child subreaper), which learns
// the signal: the report says SIGKILL. The main process waits for it (a pipe reaching EOF) and
// finishes clean. It makes and closes a socket first: a process that records no event has no
// event log, and the report would then have no tree to draw.
#include <signal.h>
#include "../../testapps/testlib.h"

static void hold_udp(void)
{
	CHECK(socket(AF_INET, SOCK_DGRAM, 0) >= 0);
}

int main(void)
{
	int first = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(first >= 0 && close(first) == 0);
	int gone[2];
	CHECK(pipe(gone) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		pid_t me = getpid();
		pid_t g = fork();
		CHECK(g >= 0);
		if (g == 0) {
			close(gone[0]);
			while (getppid() == me)
				usleep(1000); /* orphaned once the child is gone */
			hold_udp();
			raise(SIGKILL);
		}
		_exit(0);
	}
	close(gone[1]);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	char x;
	CHECK(read(gone[0], &x, 1) == 0); /* EOF: the grandchild has died */
	close(gone[0]);
	return 0;
}
