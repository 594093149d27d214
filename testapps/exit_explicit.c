// exit(3) with a leaked socket: the report is made and the status becomes 23.
// EXPECT: tcp4 socket never-closed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0);
	exit(3);
}
