// With report_inherited=1 a forked child is judged on what it inherited: it leaves the
// inherited client open, while the parent closes its own copy.
// OPTIONS: report_inherited=1
// EXPECT: tcp4 client never-closed @main proc=child
// EXPECT-EXIT: 0
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
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 23);
	close(c);
	return 0;
}
