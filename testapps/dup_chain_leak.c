// A socket copied with dup, dup2, dup3 and fcntl(F_DUPFD, F_DUPFD_CLOEXEC); every copy but the
// last is closed, so the one transport is still open at exit, reported once.
// EXPECT: tcp4 client never-closed @main
// EXPECT-EXIT: 23
#include <fcntl.h>
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	int d1 = dup(c);
	int d2 = dup2(d1, 40);
	int d3 = dup3(d2, 41, O_CLOEXEC);
	int d4 = fcntl(d3, F_DUPFD, 50);
	int d5 = fcntl(d4, F_DUPFD_CLOEXEC, 60);
	CHECK(d1 >= 0 && d2 == 40 && d3 == 41 && d4 >= 50 && d5 >= 60);
	close(c);
	close(d1);
	close(d2);
	close(d3);
	close(d4);
	close(a);
	close(l);
	return 0;
}
