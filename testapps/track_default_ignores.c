// Without track=, only sockets are followed: a file, a pipe and an eventfd left open are not
// reported, and the hooks that make them change nothing.
// EXPECT-NONE
// EXPECT-EXIT: 0
#include <fcntl.h>
#include <sys/eventfd.h>

#include "testlib.h"

int main(void)
{
	int p[2];
	CHECK(open("/etc/hostname", O_RDONLY) >= 0);
	CHECK(fopen("/etc/passwd", "r") != NULL);
	CHECK(pipe(p) == 0);
	CHECK(eventfd(0, 0) >= 0);
	return 0;
}
