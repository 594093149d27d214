// A vforked child shares the parent's memory: what it does (dup2, close, _exit) must not reach
// the parent's table. The parent leaks one socket, which must still be reported exactly once.
// The first child makes no report of its own; the second execs /bin/true, whose clean report
// makes the second JSON file.
// EXPECT: tcp4 client never-closed @main proc=main
// EXPECT-EXIT: 23
// PROCESSES: 2
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	close(a);
	close(l);
	pid_t pid = vfork();
	if (pid == 0) {
		dup2(c, 0);
		close(c);
		_exit(0);
	}
	CHECK(pid > 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	pid = vfork();
	if (pid == 0) {
		close(c);
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}
