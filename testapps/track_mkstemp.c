// track=all, temporary files made by the C library's mkstemp family, which opens them inside
// itself (not through open): the ones left open are reported, as valgrind --track-fds reports
// them, with the template as their path; the ones closed are not. Review of issues 12 and 15.
// OPTIONS: track=all
// EXPECT: file none never-closed @leak_mkstemp
// EXPECT: file none never-closed @leak_mkostemp
// EXPECT-EXIT: 23
#include <fcntl.h>
#include <stdlib.h>

#include "testlib.h"

static __attribute__((noinline)) void leak_mkstemp(void)
{
	char path[] = "leak-mkstemp-XXXXXX";
	CHECK(mkstemp(path) >= 0);
	CHECK(unlink(path) == 0);
}

static __attribute__((noinline)) void leak_mkostemp(void)
{
	char path[] = "leak-mkostemp-XXXXXX";
	CHECK(mkostemp(path, O_CLOEXEC) >= 0);
	CHECK(unlink(path) == 0);
}

/* Closed: not reported. */
static __attribute__((noinline)) void closed_mkstemps(void)
{
	char path[] = "closed-XXXXXX.txt";
	int fd = mkstemps(path, 4);
	CHECK(fd >= 0);
	CHECK(unlink(path) == 0);
	CHECK(close(fd) == 0);
	char path2[] = "closed-XXXXXX.txt";
	fd = mkostemps(path2, 4, O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(unlink(path2) == 0);
	CHECK(close(fd) == 0);
}

int main(void)
{
	leak_mkstemp();
	leak_mkostemp();
	closed_mkstemps();
	return 0;
}
