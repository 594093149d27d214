// The first image execs itself with a socket left open across exec (no CLOEXEC). The new image
// tracks afresh: the inherited socket is not its own, the socket it leaks itself is. The first
// image makes no report (it did not exit, it became the second).
// EXPECT: tcp4 socket never-closed @second_image
// EXPECT-EXIT: 23
// PROCESSES: 1
#include "testlib.h"

static void second_image(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		second_image();
		return 0;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	char *args[] = {argv[0], "second", NULL};
	execv("/proc/self/exe", args);
	CHECK(0);
}
