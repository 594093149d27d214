/* Interposers for the calls that copy and close descriptors. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"
#include "python.h"
#include "unwind_pipe.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void record_close(int fd)
{
	sl_runtimes_check_exit();
	struct sl_event ev = {.type = SL_EV_CLOSE, .fd = fd};
	sl_record(&ev);
}

static void record_dup(int oldfd, int newfd)
{
	sl_runtimes_check_exit();
	struct sl_event ev = {.type = SL_EV_DUP, .fd = oldfd, .fd2 = newfd};
	sl_record(&ev);
}

static void record_close_range(long first, long last)
{
	sl_runtimes_check_exit();
	struct sl_event ev = {.type = SL_EV_CLOSE_RANGE, .fd = (int)(first > INT_MAX ? INT_MAX : first),
			      .fd2 = (int)(last > INT_MAX ? INT_MAX : last)};
	sl_record(&ev);
}

/* Record the close first: another thread may be handed this descriptor number by socket() or
 * accept() the moment the real close returns, and its event must find the number free. */
SL_EXPORT int close(int fd)
{
	SL_REAL(close);
	/* A number the program does not own, that sockleak keeps for libunwind: as bare. */
	if (SL_UNLIKELY(fd >= 900) && sl_unw_owns(fd)) {
		errno = EBADF;
		return -1;
	}
	if (sl_tracked(fd) && sl_active())
		record_close(fd);
	return SL_CALL(close, -1, fd);
}

SL_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	SL_REAL(close_range);
	if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last && sl_active())
		record_close_range(first, last);
	return SL_CALL(close_range, -1, first, last, flags);
}

SL_EXPORT void closefrom(int lowfd)
{
	SL_REAL(closefrom);
	if (lowfd >= 0 && sl_active())
		record_close_range(lowfd, INT_MAX);
	if (real_closefrom)
		real_closefrom(lowfd);
}

SL_EXPORT int dup(int fd)
{
	SL_REAL(dup);
	int r = SL_CALL(dup, -1, fd);
	if (r >= 0 && sl_tracked(fd) && sl_active())
		record_dup(fd, r);
	return r;
}

/* dup2 and dup3 onto an open descriptor close it; the real call does both atomically, so no
 * other thread can take the number between, and recording after it is safe. */
SL_EXPORT int dup2(int oldfd, int newfd)
{
	SL_REAL(dup2);
	int r = SL_CALL(dup2, -1, oldfd, newfd);
	if (r >= 0 && oldfd != newfd && (sl_tracked(oldfd) || sl_tracked(newfd)) && sl_active())
		record_dup(oldfd, newfd);
	return r;
}

SL_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	SL_REAL(dup3);
	int r = SL_CALL(dup3, -1, oldfd, newfd, flags);
	if (r >= 0 && (sl_tracked(oldfd) || sl_tracked(newfd)) && sl_active())
		record_dup(oldfd, newfd);
	return r;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	int r = real(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && sl_tracked(fd) && sl_active())
		record_dup(fd, r);
	return r;
}

/* fcntl's third argument is read as a pointer whatever cmd is: that is how glibc forwards it. */
SL_EXPORT int fcntl(int fd, int cmd, ...)
{
	SL_REAL(fcntl);
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(real_fcntl, fd, cmd, arg);
}

SL_EXPORT int fcntl64(int fd, int cmd, ...)
{
	static int (*slot_real_fcntl64)(int, int, ...); /* atomic, as in SL_REAL */
	int (*real_fcntl64)(int, int, ...) = __atomic_load_n(&slot_real_fcntl64, __ATOMIC_RELAXED);
	if (SL_UNLIKELY(!real_fcntl64)) {
		real_fcntl64 = (int (*)(int, int, ...))sl_resolve("fcntl64");
		__atomic_store_n(&slot_real_fcntl64, real_fcntl64, __ATOMIC_RELAXED);
	}
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(real_fcntl64, fd, cmd, arg);
}

/* libuv (and so Node.js) closes descriptors with syscall(SYS_close, fd). */
SL_EXPORT long syscall(long number, ...)
{
	SL_REAL(syscall);
	va_list ap;
	long a[6];
	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_close && (int)a[0] >= 900 && sl_unw_owns((int)a[0])) {
		errno = EBADF;
		return -1;
	}
	if (number == SYS_close && sl_tracked((int)a[0]) && sl_active())
		record_close((int)a[0]);
	else if (number == SYS_close_range && !(a[2] & CLOSE_RANGE_CLOEXEC) &&
		 (unsigned long)a[0] <= (unsigned long)a[1] && sl_active())
		record_close_range((unsigned int)a[0], (unsigned int)a[1]);
	long r = SL_CALL(syscall, -1, number, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (r >= 0 && (number == SYS_dup3 || number == SYS_dup2) && (sl_tracked((int)a[0]) || sl_tracked((int)a[1])) &&
	    sl_active())
		record_dup((int)a[0], (int)a[1]);
	return r;
}
