// posix_spawn with a file action closing a socket in the child: the parent's socket stays
// open in the parent (and is leaked there); /bin/true, preloaded too, reports nothing.
// EXPECT: tcp4 listener never-closed @main proc=main
// EXPECT-EXIT: 23
// PROCESSES: 2
#include <spawn.h>
#include "testlib.h"

extern char **environ;

int main(void)
{
	int port;
	int l = tl_listener(&port);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addclose(&fa, l);
	pid_t pid;
	char *args[] = {"true", NULL};
	CHECK(posix_spawn(&pid, "/bin/true", &fa, NULL, args, environ) == 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	posix_spawn_file_actions_destroy(&fa);
	return 0;
}
