// One end of a unix socketpair is closed, the other never is.
// EXPECT: unix-stream pair never-closed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(write(sv[0], "x", 1) == 1);
	close(sv[0]);
	return 0;
}
