// track=all, files: what is left open is reported with its path, whichever call opened it (open,
// fopen, opendir, creat); what is closed (close, fclose, closedir, fdopen then fclose, a dup and
// its original, freopen's old file) is not. A file closed by a raw system call, out of sight,
// is confirmed closed with the kernel at exit and not called never-closed; a file dup2'ed onto
// stdout (a redirection) is not reported either. A copy of stdin (inherited: /dev/null under the
// tests) left open is the program's, as valgrind counts it.
// OPTIONS: track=all
// EXPECT: file none never-closed @leak_open
// EXPECT: file none never-closed @leak_fopen
// EXPECT: file none never-closed @leak_opendir
// EXPECT: file none never-closed @leak_creat
// EXPECT: file none never-closed @leak_dup
// EXPECT: file none never-closed @leak_stdin_copy
// EXPECT-EXIT: 23
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include "testlib.h"

static __attribute__((noinline)) void leak_open(void) { CHECK(open("/etc/hostname", O_RDONLY) >= 0); }
static __attribute__((noinline)) void leak_fopen(void) { CHECK(fopen("/etc/passwd", "r") != NULL); }
static __attribute__((noinline)) void leak_opendir(void) { CHECK(opendir("/") != NULL); }
static __attribute__((noinline)) void leak_creat(const char *path) { CHECK(creat(path, 0600) >= 0); }

/* The original is closed, its copy is not: the file stays open. */
static __attribute__((noinline)) void leak_dup(void)
{
	int fd = open("/etc/hostname", O_RDONLY);
	CHECK(fd >= 0);
	CHECK(dup(fd) >= 0);
	close(fd);
}

static __attribute__((noinline)) void leak_stdin_copy(void)
{
	CHECK(fcntl(0, F_DUPFD_CLOEXEC, 20) >= 20);
	int copy = dup(0); /* and one closed */
	CHECK(copy >= 0);
	close(copy);
}

static void clean(const char *dir)
{
	FILE *f = fopen("/etc/passwd", "r");
	CHECK(f != NULL);
	fclose(f);
	DIR *d = opendir("/");
	CHECK(d != NULL);
	closedir(d);
	int fd = open("/etc/hostname", O_RDONLY);
	CHECK(fd >= 0);
	f = fdopen(fd, "r");
	CHECK(f != NULL);
	fclose(f);
	fd = openat(AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	CHECK(copy >= 10);
	close(fd);
	close(copy);
	f = fopen("/etc/hostname", "r");
	CHECK(f != NULL);
	f = freopen("/etc/passwd", "r", f);
	CHECK(f != NULL);
	fclose(f);
	/* Closed by a system call sockleak does not interpose. */
	fd = open("/etc/hostname", O_RDONLY);
	CHECK(fd >= 0);
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_close), "D"((long)fd) : "rcx", "r11", "memory");
	CHECK(r == 0);
	/* A redirection of stdout into a file, left in place until exit. */
	char path[256];
	snprintf(path, sizeof(path), "%s/out", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(dup2(fd, 1) == 1);
	close(fd);
}

int main(void)
{
	char dir[] = "/tmp/sockleak-track-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/made", dir);
	leak_open();
	leak_fopen();
	leak_opendir();
	leak_creat(path);
	leak_dup();
	leak_stdin_copy();
	clean(dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/out", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}
