// quick_exit(4) skips atexit handlers and destructors, like _exit: the report comes from it.
// EXPECT: tcp4 socket never-closed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0);
	quick_exit(4);
}
