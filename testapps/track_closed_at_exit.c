// track=all: a file whose only close is in an atexit handler is closed-at-exit; a pipe end a
// forked child inherits and leaves open is the parent's (the child reports nothing), and a file
// left open across exec is the new image's inheritance, not its leak.
// OPTIONS: track=all
// EXPECT: file none closed-at-exit @main proc=main
// EXPECT-EXIT: 23
// PROCESSES: 2
#include <fcntl.h>

#include "testlib.h"

static int fd = -1;

static void cleanup(void)
{
	close(fd);
}

int main(void)
{
	fd = open("/etc/hostname", O_RDONLY);
	CHECK(fd >= 0);
	atexit(cleanup);
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The child exits with both ends still open, then runs an image that inherits them. */
		execl("/bin/true", "true", (char *)NULL);
		_exit(98);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(p[0]);
	close(p[1]);
	return 0;
}
