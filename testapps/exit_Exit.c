// _Exit(6), with the exit status left alone by exitcode=0.
// OPTIONS: exitcode=0
// EXPECT: udp6 socket never-closed @main
// EXPECT-EXIT: 6
#include "testlib.h"

int main(void)
{
	int s = socket(AF_INET6, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	_Exit(6);
}
