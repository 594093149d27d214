// track=pipes: a pipe end left open, a popen stream never pclosed, a FIFO left open and a pipe
// still registered in an epoll set when the set was closed are reported as sockets are; a file
// left open is not (that is track=all), and pipes closed (close, pclose, pipe2) are not.
// OPTIONS: track=pipes
// EXPECT: pipe none never-closed @leak_pipe
// EXPECT: pipe none never-closed @leak_popen
// EXPECT: fifo none never-closed @leak_fifo
// EXPECT: pipe none reader-not-removed @leak_registered
// EXPECT-EXIT: 23
#include <fcntl.h>
#include <sys/stat.h>

#include "testlib.h"

static __attribute__((noinline)) void leak_pipe(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	close(p[1]);
}

static __attribute__((noinline)) void leak_popen(void)
{
	FILE *f = popen("true", "r");
	CHECK(f != NULL);
	char buf[8];
	CHECK(fread(buf, 1, sizeof(buf), f) == 0);
}

static __attribute__((noinline)) void leak_fifo(const char *path)
{
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(open(path, O_RDONLY | O_NONBLOCK) >= 0);
}

/* The read end is registered, then the epoll set is closed before it: the reader was never
 * removed. Both ends are closed afterwards. */
static __attribute__((noinline)) void leak_registered(void)
{
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	int ep = epoll_create1(0);
	CHECK(ep >= 0);
	struct epoll_event e = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) == 0);
	close(ep);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	char dir[] = "/tmp/sockleak-track-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/fifo", dir);
	leak_pipe();
	leak_popen();
	leak_fifo(path);
	leak_registered();
	CHECK(open("/etc/hostname", O_RDONLY) >= 0); /* a file: not tracked under track=pipes */
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	close(p[0]);
	close(p[1]);
	FILE *f = popen("true", "r");
	CHECK(f != NULL);
	CHECK(pclose(f) == 0);
	unlink(path);
	rmdir(dir);
	return 0;
}
