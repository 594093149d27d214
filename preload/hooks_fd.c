/* Interposers for the calls that copy and close descriptors. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks_files.h"
#include "preload.h"
#include "python.h"
#include "unwind_pipe.h"

SL_OWN_CALL_DECLARE(fcntl);

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

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

/* A close in two steps (core/lifecycle.c, "closes under way"): the begin, before the real call,
 * takes the numbers out of the table, since another thread may be handed one of them by socket()
 * or accept() the moment the kernel frees it; the end, after the call, says what the kernel did.
 * The key is the address of the hook's own frame: no two closes under way share one. The begin
 * returns what the end needs (runtime.c, sl_close_begin): the end takes no lock. */
static struct sl_closing *record_close_begin(long first, long last, uint64_t key)
{
	sl_runtimes_check_exit();
	struct sl_event ev = {.type = SL_EV_CLOSE_BEGIN, .fd = (int)(first > INT_MAX ? INT_MAX : first),
			      .fd2 = (int)(last > INT_MAX ? INT_MAX : last), .obj = key};
	return sl_close_begin(&ev);
}

/* What close() returned, as the kernel meant it: on Linux a close that fails with EINTR or EIO
 * has closed the descriptor all the same; EBADF says it was not open. */
static int close_outcome(long r)
{
	return r == 0 || errno != EBADF ? SL_CLOSE_DONE : SL_CLOSE_NOT_OPEN;
}

struct close_call {
	int fd;
	uint64_t key;
	struct sl_closing *begun; /* what the begin set aside (sl_close_begin) */
};

/* close() is a cancellation point: a thread cancelled there leaves it without closing (glibc
 * acts on the cancellation before the system call). Ask the kernel what the number is now, so
 * that the end finishes the transport only if it is gone. */
static void close_cancelled(void *arg)
{
	const struct close_call *c = arg;
	int saved = errno;
	int64_t now = -1;
	if (SL_OWN_CALL(fcntl)(c->fd, F_GETFD) >= 0) {
		int domain, type;
		socklen_t len = sizeof(domain);
		if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0) {
			len = sizeof(type);
			if (getsockopt(c->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
				type = 0;
			now = ((int64_t)domain << 16) | (type & 0xffff);
		} else {
			now = -2;
		}
	}
	sl_close_end(c->begun, c->key, SL_CLOSE_CANCELLED, now);
	errno = saved;
}

/* glibc's cleanup handlers of the first kind: exported (GLIBC_2.2.5, and GLIBC_2.34 since libpthread
 * joined libc) but not declared in pthread.h. push links a buffer into the thread's list of
 * handlers, and the unwinding of a cancellation runs it as it leaves the frame that holds the
 * buffer, as it does pthread_cleanup_push's. The pthread_cleanup_push macro costs a sigsetjmp
 * and two calls, about 35 instructions on every close (the churn budget, issue 12); these cost
 * a few stores each. */
extern void _pthread_cleanup_push(struct _pthread_cleanup_buffer *buffer, void (*routine)(void *), void *arg);
extern void _pthread_cleanup_pop(struct _pthread_cleanup_buffer *buffer, int execute);

SL_EXPORT int close(int fd)
{
	SL_REAL(close);
	/* A number the program does not own, that sockleak keeps for libunwind: as bare. */
	if (SL_UNLIKELY(fd >= 900) && sl_unw_owns(fd)) {
		errno = EBADF;
		return -1;
	}
	if (!sl_tracked(fd) || !sl_active())
		return SL_CALL(close, -1, fd);
	if (SL_UNLIKELY(!real_close)) {
		errno = ENOSYS;
		return -1;
	}
	/* The begin and the real call, with close_cancelled as the cleanup should the thread be
	 * cancelled in the real close. */
	struct close_call c = {.fd = fd, .key = (uint64_t)(uintptr_t)&c};
	struct _pthread_cleanup_buffer cleanup;
	_pthread_cleanup_push(&cleanup, close_cancelled, &c);
	c.begun = record_close_begin(fd, fd, c.key);
	int r = real_close(fd);
	_pthread_cleanup_pop(&cleanup, 0);
	sl_close_end(c.begun, c.key, close_outcome(r), 0);
	return r;
}

/* close_range closes nothing when it fails: EINVAL for unknown flags, EPERM or ENOSYS under a
 * seccomp filter, ENOMEM when CLOSE_RANGE_UNSHARE cannot copy the table. */
SL_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	SL_REAL(close_range);
	if ((flags & CLOSE_RANGE_CLOEXEC) || first > last || !sl_active())
		return SL_CALL(close_range, -1, first, last, flags);
	uint64_t key = (uint64_t)(uintptr_t)&key;
	struct sl_closing *begun = record_close_begin(first, last, key);
	int r = SL_CALL(close_range, -1, first, last, flags);
	sl_close_end(begun, key, r == 0 ? SL_CLOSE_DONE : SL_CLOSE_FAILED, 0);
	return r;
}

/* closefrom() returns nothing and does not fail: glibc closes one by one when close_range is
 * refused, and aborts if it cannot. */
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
	else if (SL_UNLIKELY(sl_track_level == SL_TRACK_ALL) && r > 2)
		sl_files_adopt(r); /* a copy of an inherited descriptor is the program's (issue 15) */
	return r;
}

/* dup2 and dup3 onto an open descriptor close it; the real call does both atomically, so no
 * other thread can take the number between, and recording after it is safe. */
SL_EXPORT int dup2(int oldfd, int newfd)
{
	SL_REAL(dup2);
	int r = SL_CALL(dup2, -1, oldfd, newfd);
	int old_tracked = sl_tracked(oldfd);
	if (r >= 0 && oldfd != newfd && (old_tracked || sl_tracked(newfd)) && sl_active())
		record_dup(oldfd, newfd);
	if (SL_UNLIKELY(sl_track_level == SL_TRACK_ALL) && r > 2 && oldfd != newfd && !old_tracked)
		sl_files_adopt(newfd);
	return r;
}

SL_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	SL_REAL(dup3);
	int r = SL_CALL(dup3, -1, oldfd, newfd, flags);
	int old_tracked = sl_tracked(oldfd);
	if (r >= 0 && (old_tracked || sl_tracked(newfd)) && sl_active())
		record_dup(oldfd, newfd);
	if (SL_UNLIKELY(sl_track_level == SL_TRACK_ALL) && r > 2 && !old_tracked)
		sl_files_adopt(newfd);
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
	else if (SL_UNLIKELY(sl_track_level == SL_TRACK_ALL) && r > 2 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		sl_files_adopt(r); /* as dup */
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

/* The system calls the syscall() interposer records after they return. */
static int syscall_makes_descriptors(long number)
{
	switch (number) {
	case SYS_socket:
	case SYS_socketpair:
	case SYS_accept:
	case SYS_accept4:
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
	case SYS_fcntl:
	case SYS_epoll_create:
	case SYS_epoll_create1:
	case SYS_epoll_ctl:
	case SYS_io_uring_setup:
		return 1;
	default:
		return 0;
	}
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
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = 0;
	struct sl_closing *begun = NULL;
	if (number == SYS_close && sl_tracked((int)a[0]) && sl_active()) {
		begun = record_close_begin((int)a[0], (int)a[0], key);
		closing = 1;
	} else if (number == SYS_close_range && !(a[2] & CLOSE_RANGE_CLOEXEC) &&
		   (unsigned long)a[0] <= (unsigned long)a[1] && sl_active()) {
		begun = record_close_begin((unsigned int)a[0], (unsigned int)a[1], key);
		closing = 2;
	}
	long r = SL_CALL(syscall, -1, number, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (closing) {
		sl_close_end(begun, key, closing == 1 ? close_outcome(r) : r == 0 ? SL_CLOSE_DONE : SL_CLOSE_FAILED, 0);
		return r;
	}
	if (SL_UNLIKELY(sl_track_level != SL_TRACK_SOCKETS) && r >= 0)
		sl_files_syscall(number, a, r); /* pidfd_open and the like (issue 15) */
	/* Only the calls below start sockleak: a library may call syscall() for anything while it
	 * holds a lock of its own (jemalloc opens /proc files with syscall(SYS_open) inside its
	 * initialization), and sockleak's start-up must not run, and take locks, inside that. */
	if (r < 0 || !syscall_makes_descriptors(number) || !sl_active())
		return r;
	/* The calls that make or copy descriptors, made through syscall() rather than their libc
	 * wrappers: recorded as the wrappers' hooks record them (issue 10, item 14). */
	struct sl_event ev = {0};
	switch (number) {
	case SYS_socket:
		ev = (struct sl_event){.type = SL_EV_SOCKET, .fd = (int)r, .a = (int)a[0], .b = (int)a[1]};
		sl_record_with_stack(&ev);
		break;
	case SYS_socketpair: {
		const int *sv = (const int *)a[3];
		ev = (struct sl_event){.type = SL_EV_SOCKETPAIR, .fd = sv[0], .fd2 = sv[1], .a = (int)a[0], .b = (int)a[1]};
		sl_record_with_stack(&ev);
		break;
	}
	case SYS_accept:
	case SYS_accept4: {
		const socklen_t *len = (const socklen_t *)a[2];
		ev = (struct sl_event){.type = SL_EV_ACCEPT, .fd = (int)a[0], .fd2 = (int)r};
		if (a[1] && len && *len > 0) {
			ev.addr = (const void *)a[1];
			ev.addrlen = (uint16_t)(*len < SL_EVENT_ADDR_MAX ? *len : SL_EVENT_ADDR_MAX);
		}
		sl_record_with_stack(&ev);
		break;
	}
	case SYS_dup:
		if (sl_tracked((int)a[0]))
			record_dup((int)a[0], (int)r);
		break;
	case SYS_dup2:
	case SYS_dup3:
		if ((int)a[0] != (int)a[1] && (sl_tracked((int)a[0]) || sl_tracked((int)a[1])))
			record_dup((int)a[0], (int)a[1]);
		break;
	case SYS_fcntl:
		if (((int)a[1] == F_DUPFD || (int)a[1] == F_DUPFD_CLOEXEC) && sl_tracked((int)a[0]))
			record_dup((int)a[0], (int)r);
		break;
	case SYS_epoll_create:
	case SYS_epoll_create1:
		ev = (struct sl_event){.type = SL_EV_EPOLL_CREATE, .fd = (int)r};
		sl_record(&ev);
		break;
	case SYS_epoll_ctl:
		if (sl_tracked((int)a[0]) && sl_tracked((int)a[2])) {
			const struct epoll_event *e = (const struct epoll_event *)a[3];
			ev = (struct sl_event){.type = SL_EV_EPOLL_CTL, .fd = (int)a[0], .fd2 = (int)a[2], .a = (int)a[1],
					       .b = e && (int)a[1] != EPOLL_CTL_DEL ? (int64_t)e->events : 0};
			sl_record_with_caller(&ev, __builtin_return_address(0));
		}
		break;
	case SYS_io_uring_setup:
		/* Its submissions open and close descriptors in the kernel, out of sight. */
		ev = (struct sl_event){.type = SL_EV_BLIND, .a = SL_BLIND_IO_URING};
		sl_record(&ev);
		break;
	}
	return r;
}
