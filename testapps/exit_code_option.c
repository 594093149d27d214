// exitcode=42 sets the status used when an error is found; stdout written before is kept.
// OPTIONS: exitcode=42
// EXPECT: unix-dgram socket never-closed @main
// EXPECT-EXIT: 42
// EXPECT-STDOUT: buffered output survives the changed exit status
#include "testlib.h"

int main(void)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	printf("buffered output survives the changed exit status\n");
	return 0;
}
