// Leaves through the exit_group system call itself, as a runtime may: no exit() or _exit() is
// seen, yet the process was not killed. The wrapper sees its status (given as the first
// argument): the report must say "exit N (raw exit system call)", never "killed". A forked child
// that exits normally first makes the run a tree, so the text report draws it (it makes and
// closes a socket: a process that records no event has no event log to draw).
#include <sys/syscall.h>
#include "../../testapps/testlib.h"

int main(int argc, char **argv)
{
	int status = argc > 1 ? atoi(argv[1]) : 0;
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int c = socket(AF_INET, SOCK_DGRAM, 0);
		CHECK(c >= 0 && close(c) == 0);
		exit(0);
	}
	CHECK(waitpid(child, NULL, 0) == child);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	syscall(SYS_exit_group, status);
	return 99;
}
