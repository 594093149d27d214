/* startup: what sockleak costs a process that opens no socket, the kind a CI job starts by the
 * thousand (compilers, shells' helpers, test binaries).
 *
 *   startup           does nothing and exits 0: the process whose start-up and exit are measured
 *                     (scripts/bench counts its instructions bare, preloaded, and with the event
 *                     log of `sockleak run`)
 *   startup COUNT     a shell loop that runs `startup` COUNT times, one process after another,
 *                     and prints the time per process (scripts/bench times it bare, preloaded
 *                     and under `sockleak run`, whose analyzer then reads COUNT + 1 logs)
 *
 * The loop is run by /bin/sh, as a CI script's would be: the shell and each process it starts
 * inherit the environment, and with it LD_PRELOAD. */
#include <limits.h>
#include <sys/wait.h>

#include "benchlib.h"

int main(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	long n = bl_count(argc, argv, 2501);
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(len > 0);
	self[len] = '\0';
	char script[256];
	snprintf(script, sizeof(script), "i=0; while [ $i -lt %ld ]; do \"$0\" || exit 1; i=$((i+1)); done", n);
	fflush(stdout);
	double start = bl_now();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", script, self, (char *)NULL);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	double secs = bl_now() - start;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	bl_result("startup", "start", n, secs);
	return 0;
}
