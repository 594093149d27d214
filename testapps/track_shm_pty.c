// track=all: a shared memory object (shm_open) and a pseudo-terminal (posix_openpt), which the C
// library opens inside itself (not through open): left open, each is reported, as valgrind
// --track-fds reports them; closed, neither is. Review of issues 12 and 15.
// OPTIONS: track=all
// EXPECT: file none never-closed @leak_shm
// EXPECT: file none never-closed @leak_pty
// EXPECT-EXIT: 23
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "testlib.h"

static void shm_name(char *name, size_t size, const char *what)
{
	snprintf(name, size, "/sockleak-test-%s-%d", what, (int)getpid());
}

static __attribute__((noinline)) void leak_shm(void)
{
	char name[64];
	shm_name(name, sizeof(name), "leak");
	CHECK(shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600) >= 0);
	CHECK(shm_unlink(name) == 0);
}

static __attribute__((noinline)) void leak_pty(void) { CHECK(posix_openpt(O_RDWR | O_NOCTTY) >= 0); }

/* Closed: not reported. */
static __attribute__((noinline)) void closed_both(void)
{
	char name[64];
	shm_name(name, sizeof(name), "closed");
	int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
	CHECK(fd >= 0);
	CHECK(shm_unlink(name) == 0);
	CHECK(close(fd) == 0);
	fd = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK(fd >= 0);
	CHECK(close(fd) == 0);
}

int main(void)
{
	leak_shm();
	leak_pty();
	closed_both();
	return 0;
}
