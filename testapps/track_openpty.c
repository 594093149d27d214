// track=all: pseudo-terminals made by openpty (both ends) and getpt, which the C library opens
// inside itself (not through open): left open, each descriptor is reported, as valgrind
// --track-fds reports them; closed, none is. Review of issues 12 and 15.
// OPTIONS: track=all
// EXPECT: file none never-closed @leak_openpty x2
// EXPECT: file none never-closed @leak_getpt
// EXPECT-EXIT: 23
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>

#include "testlib.h"

static __attribute__((noinline)) void leak_openpty(void)
{
	int master, slave;
	CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0);
}

static __attribute__((noinline)) void leak_getpt(void) { CHECK(getpt() >= 0); }

/* Closed: not reported. */
static __attribute__((noinline)) void closed_both(void)
{
	int master, slave;
	char name[64];
	CHECK(openpty(&master, &slave, name, NULL, NULL) == 0);
	CHECK(close(slave) == 0);
	CHECK(close(master) == 0);
	int fd = getpt();
	CHECK(fd >= 0);
	CHECK(close(fd) == 0);
}

int main(void)
{
	leak_openpty();
	leak_getpt();
	closed_both();
	return 0;
}
