/* libunwind's address-validation pipe, kept out of the program's way.
 *
 * libunwind checks that an address is readable by writing one byte from it into a pipe and
 * reading it back (mincore cannot see PROT_NONE pages). It opens that pipe when it starts, keeps
 * it for the life of the process, and when a read or a write on it fails it closes both
 * descriptors and opens a new pipe. Opened at sockleak's start-up, the pipe took descriptors 3
 * and 4. Every descriptor the program made then came out two numbers higher, and a program at
 * its limit got EMFILE two descriptors early. Worse, a program that closes descriptors it does
 * not own (closefrom(3) is a daemon's habit) and reuses the numbers had libunwind read a byte
 * from the program's socket, write a byte of memory into its file, or close it.
 *
 * So libunwind is given two numbers no descriptor can have. Its calls to pipe2, read, write,
 * close and syscall are pointed, in its own GOT, at the functions below, and no descriptor is
 * made at all:
 *   - the write, whose only point is to learn whether the kernel can read the address, is
 *     answered by process_vm_readv on our own process, which reads it without a descriptor;
 *   - the read that drains the pipe finds it empty (EAGAIN), which libunwind takes as valid.
 * Even descriptors kept at 900 and up were seen by programs that list their own descriptors
 * (CPython's test_subprocess.test_pass_fds_redirected failed with 900 and 901 in the list).
 *
 * Where process_vm_readv is refused (a seccomp filter), the calls are carried out on a pipe of
 * sockleak's own, made at the first need: it lives at 900 and above and is checked to still be
 * ours (fstat) before each use. A program that touches those real numbers finds them as if
 * they did not exist: close() gives EBADF, and after close_range, closefrom or a dup2 over them
 * the pipe is made again when next needed.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <stdarg.h>

#include "gotpatch.h"
#include "preload.h"
#include "unwind_pipe.h"

#define REAL_FD_MIN 900 /* above the program's usual range, as the event log's descriptor */

static int real_fd[2] = {-1, -1};
static dev_t real_dev;
static ino_t real_ino[2];
static pthread_mutex_t pipe_lock = PTHREAD_MUTEX_INITIALIZER;
static int no_vm_read; /* process_vm_readv was refused: use the pipe */

/* The real functions, from the start-up table (no loader lock). */
static int real_close(int fd)
{
	int (*f)(int) = (int (*)(int))sl_resolve("close");
	return f ? f(fd) : -1;
}

static int is_ours(int i)
{
	struct stat st;
	int fd = __atomic_load_n(&real_fd[i], __ATOMIC_ACQUIRE);
	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == real_dev && st.st_ino == real_ino[i];
}

/* Makes sure our pipe exists and is still ours; remakes it if not. Returns 0 or -1. */
static int ensure_pipe(void)
{
	if (is_ours(0) && is_ours(1))
		return 0;
	pthread_mutex_lock(&pipe_lock);
	int ok = is_ours(0) && is_ours(1);
	if (!ok) {
		/* Whatever numbers we had may be the program's by now: forget them, never close. */
		real_fd[0] = real_fd[1] = -1;
		int (*pipe2_fn)(int *, int) = (int (*)(int *, int))sl_resolve("pipe2");
		int fds[2];
		if (pipe2_fn && pipe2_fn(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
			struct stat st;
			for (int i = 0; i < 2; i++) {
				int high = fcntl(fds[i], F_DUPFD_CLOEXEC, REAL_FD_MIN);
				if (high >= 0) {
					real_close(fds[i]);
					fds[i] = high;
				}
				if (fstat(fds[i], &st) == 0) {
					real_dev = st.st_dev;
					real_ino[i] = st.st_ino;
				}
			}
			__atomic_store_n(&real_fd[0], fds[0], __ATOMIC_RELEASE);
			__atomic_store_n(&real_fd[1], fds[1], __ATOMIC_RELEASE);
			ok = 1;
		}
	}
	pthread_mutex_unlock(&pipe_lock);
	return ok ? 0 : -1;
}

static int unw_pipe2(int fds[2])
{
	fds[0] = SL_UNW_FAKE_R;
	fds[1] = SL_UNW_FAKE_W;
	return 0;
}

static ssize_t unw_read(void *buf, size_t len)
{
	if (!__atomic_load_n(&no_vm_read, __ATOMIC_RELAXED)) {
		errno = EAGAIN; /* nothing was ever written: an empty pipe */
		return -1;
	}
	if (ensure_pipe() < 0) {
		errno = EBADF;
		return -1;
	}
	return syscall(SYS_read, __atomic_load_n(&real_fd[0], __ATOMIC_ACQUIRE), buf, len);
}

static long unw_write(const void *buf, size_t len)
{
	if (!__atomic_load_n(&no_vm_read, __ATOMIC_RELAXED)) {
		char byte[16];
		size_t n = len < sizeof(byte) ? len : sizeof(byte);
		struct iovec local = {byte, n}, remote = {(void *)buf, n};
		ssize_t r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		if (r > 0)
			return r;
		if (errno == EFAULT || errno == ENOMEM)
			return -1; /* the answer libunwind asked for: not readable */
		__atomic_store_n(&no_vm_read, 1, __ATOMIC_RELAXED); /* refused: fall back to a pipe */
	}
	if (ensure_pipe() < 0) {
		errno = EBADF;
		return -1;
	}
	return syscall(SYS_write, __atomic_load_n(&real_fd[1], __ATOMIC_ACQUIRE), buf, len);
}

int sl_unw_owns(int fd)
{
	if (fd < REAL_FD_MIN)
		return 0;
	for (int i = 0; i < 2; i++)
		if (fd == __atomic_load_n(&real_fd[i], __ATOMIC_ACQUIRE) && is_ours(i))
			return 1;
	return 0;
}

/* ---- libunwind's calls, as its GOT now routes them ---- */

#define FAKE(fd) ((int)(fd) >= SL_UNW_FAKE_R)

static int hook_pipe2(int fds[2], int flags)
{
	(void)flags;
	return unw_pipe2(fds);
}

static ssize_t hook_read(int fd, void *buf, size_t len)
{
	if (FAKE(fd))
		return unw_read(buf, len);
	ssize_t (*f)(int, void *, size_t) = (ssize_t(*)(int, void *, size_t))sl_resolve("read");
	return f ? f(fd, buf, len) : -1;
}

static ssize_t hook_write(int fd, const void *buf, size_t len)
{
	if (FAKE(fd))
		return unw_write(buf, len);
	ssize_t (*f)(int, const void *, size_t) = (ssize_t(*)(int, const void *, size_t))sl_resolve("write");
	return f ? f(fd, buf, len) : -1;
}

static int hook_close(int fd)
{
	return FAKE(fd) ? 0 : real_close(fd);
}

static long hook_syscall(long number, ...)
{
	va_list ap;
	long a[6];
	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_write && FAKE(a[0]))
		return unw_write((const void *)a[1], (size_t)a[2]);
	if (number == SYS_read && FAKE(a[0]))
		return unw_read((void *)a[1], (size_t)a[2]);
	if (number == SYS_close && FAKE(a[0]))
		return 0;
	long (*f)(long, ...) = (long (*)(long, ...))sl_resolve("syscall");
	return f ? f(number, a[0], a[1], a[2], a[3], a[4], a[5]) : -1;
}

void sl_unw_install(const void *in_libunwind)
{
	static const struct sl_got_target targets[] = {
		{"pipe2", (void *)hook_pipe2},   {"read", (void *)hook_read},       {"write", (void *)hook_write},
		{"close", (void *)hook_close},   {"syscall", (void *)hook_syscall},
	};
	sl_got_patch(targets, sizeof(targets) / sizeof(targets[0]), in_libunwind);
}
