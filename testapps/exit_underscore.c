// _exit(5) skips atexit handlers and destructors: the report is still made, from _exit.
// EXPECT: tcp6 socket never-closed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK(s >= 0);
	fflush(stdout);
	_exit(5);
}
