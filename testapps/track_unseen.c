// track=all, closes sockleak cannot see: a file closed by the syscall instruction itself, and
// another whose number a raw system call then gives to a different file, still open at exit. The
// kernel check at exit (the same device and inode) finds both gone: neither is never-closed, and
// the report says so, in one note with a socket closed the same way. (The second file is made
// out of sight and is missed: a known limit.)
// OPTIONS: track=all
// EXPECT-NONE
// EXPECT-EXIT: 0
// EXPECT-STDERR: 1 socket and 2 other descriptors were closed where sockleak could not see it
#include <fcntl.h>
#include <sys/syscall.h>

#include "testlib.h"

static long raw3(long nr, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

int main(void)
{
	int a = open("/etc/hostname", O_RDONLY);
	CHECK(a >= 0);
	int b = open("/etc/hostname", O_RDONLY);
	CHECK(b > a);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s > b);
	CHECK(raw3(SYS_close, s, 0, 0) == 0);
	CHECK(raw3(SYS_close, b, 0, 0) == 0);
	CHECK(raw3(SYS_close, a, 0, 0) == 0);
	/* The lowest number again, for another file, where sockleak does not see it. */
	CHECK(raw3(SYS_openat, AT_FDCWD, (long)"/etc/passwd", O_RDONLY) == a);
	return 0;
}
