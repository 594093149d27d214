/* Interposers for the descriptors that are not sockets (issue 15): files, pipes, FIFOs,
 * eventfds, timerfds, signalfds, memfds, inotify and fanotify instances, pidfds. Under the
 * default track=sockets each one checks one flag and calls the real function; under
 * track=pipes and track=all it records an SL_EV_FD_OPEN, and core/lifecycle.c treats the
 * descriptor as a transport with every rule of a socket's (dups, closes, exit-time cleanup,
 * epoll registrations).
 *
 * The C library opens and closes descriptors inside its own functions without going through
 * these symbols (fopen, fclose, opendir, closedir, popen, pclose, tmpfile, freopen): a file
 * recorded by open() and closed inside fclose() would look never closed, so the stdio, dirent
 * and popen families are interposed too, and at exit each descriptor still open in the table is
 * confirmed with the kernel by its device and inode (blind_spots.c). */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "hooks_files.h"
#include "preload.h"
#include "python.h"

int sl_track_level;

void sl_files_configure(const char *track)
{
	int level = !strcmp(track, "all") ? SL_TRACK_ALL : !strcmp(track, "pipes") ? SL_TRACK_PIPES : SL_TRACK_SOCKETS;
	__atomic_store_n(&sl_track_level, level, __ATOMIC_RELAXED);
}

static inline int tracking(void)
{
	return SL_UNLIKELY(__atomic_load_n(&sl_track_level, __ATOMIC_RELAXED) != SL_TRACK_SOCKETS);
}

/* Records fd (and fd2, a pipe's other end) as made here, with the caller's stack. Inlined into
 * each hook, so that the stack is taken in the hook's own frame (preload.h). sockleak's own
 * files (its log, the report, /proc files it reads) are opened with sl_in_hook set: never
 * recorded, not even deferred. errno is the real call's on return. */
static inline __attribute__((always_inline)) void record_open(int fd, int fd2, int kind, const char *path,
							      size_t pathlen)
{
	if (sl_in_hook || !sl_active())
		return;
	int saved = *sl_errno();
	struct stat st;
	struct sl_event ev = {.type = SL_EV_FD_OPEN, .fd = fd, .fd2 = fd2, .a = kind};
	if (fstat(fd, &st) == 0) {
		ev.b = (int64_t)st.st_dev;
		ev.obj = (uint64_t)st.st_ino;
		if (kind == SL_FD_FILE && S_ISFIFO(st.st_mode))
			ev.a = kind = SL_FD_FIFO;
	}
	if (sl_track_level != SL_TRACK_ALL && kind != SL_FD_PIPE && kind != SL_FD_FIFO) {
		*sl_errno() = saved;
		return;
	}
	struct sockaddr_un sun;
	if (path) {
		size_t n = pathlen < sizeof(sun.sun_path) ? pathlen : sizeof(sun.sun_path);
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, path, n);
		ev.addr = &sun;
		ev.addrlen = (uint16_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	*sl_errno() = saved;
	sl_record_with_stack(&ev);
}

static inline __attribute__((always_inline)) void record_path(int fd, int kind, const char *path)
{
	record_open(fd, -1, kind, path, path && path[0] ? strnlen(path, PATH_MAX) : 0);
}

/* The close a C library function makes inside itself (fclose, pclose, closedir), recorded as
 * close() is (hooks_fd.c): the begin before the real call, which may free the number for
 * another thread, the end after it. The descriptor is gone whatever the call returns. */
static int begin_inner_close(int fd, uint64_t key)
{
	if (fd < 0 || sl_in_hook || !sl_tracked(fd) || !sl_active())
		return 0;
	sl_runtimes_check_exit();
	struct sl_event ev = {.type = SL_EV_CLOSE_BEGIN, .fd = fd, .fd2 = fd, .obj = key};
	sl_record(&ev);
	return 1;
}

static void end_inner_close(uint64_t key)
{
	struct sl_event ev = {.type = SL_EV_CLOSE_END, .obj = key, .a = SL_CLOSE_DONE};
	sl_record(&ev);
}

/* ---- open and its variants ---- */

/* open's mode is read only when the flags ask for one, as glibc does. */
#define MODE_ARG(flags, mode)                                                                          \
	mode_t mode = 0;                                                                               \
	if ((flags) & (O_CREAT | O_TMPFILE)) {                                                         \
		va_list ap;                                                                            \
		va_start(ap, flags);                                                                   \
		mode = va_arg(ap, mode_t);                                                             \
		va_end(ap);                                                                            \
	}

SL_EXPORT int open(const char *path, int flags, ...)
{
	SL_REAL(open);
	MODE_ARG(flags, mode);
	int fd = SL_CALL(open, -1, path, flags, mode);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int open64(const char *path, int flags, ...)
{
	SL_REAL(open64);
	MODE_ARG(flags, mode);
	int fd = SL_CALL(open64, -1, path, flags, mode);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	SL_REAL(openat);
	MODE_ARG(flags, mode);
	int fd = SL_CALL(openat, -1, dirfd, path, flags, mode);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	SL_REAL(openat64);
	MODE_ARG(flags, mode);
	int fd = SL_CALL(openat64, -1, dirfd, path, flags, mode);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int creat(const char *path, mode_t mode)
{
	SL_REAL(creat);
	int fd = SL_CALL(creat, -1, path, mode);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int creat64(const char *path, mode_t mode)
{
	SL_REAL(creat64);
	int fd = SL_CALL(creat64, -1, path, mode);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

/* _FORTIFY_SOURCE builds call these instead of open and openat. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

SL_EXPORT int __open_2(const char *path, int flags)
{
	SL_REAL(__open_2);
	int fd = SL_CALL(__open_2, -1, path, flags);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int __open64_2(const char *path, int flags)
{
	SL_REAL(__open64_2);
	int fd = SL_CALL(__open64_2, -1, path, flags);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	SL_REAL(__openat_2);
	int fd = SL_CALL(__openat_2, -1, dirfd, path, flags);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

SL_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	SL_REAL(__openat64_2);
	int fd = SL_CALL(__openat64_2, -1, dirfd, path, flags);
	if (tracking() && fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

/* ---- pipes ---- */

SL_EXPORT int pipe(int fds[2])
{
	SL_REAL(pipe);
	int r = SL_CALL(pipe, -1, fds);
	if (tracking() && r == 0)
		record_open(fds[0], fds[1], SL_FD_PIPE, NULL, 0);
	return r;
}

SL_EXPORT int pipe2(int fds[2], int flags)
{
	SL_REAL(pipe2);
	int r = SL_CALL(pipe2, -1, fds, flags);
	if (tracking() && r == 0)
		record_open(fds[0], fds[1], SL_FD_PIPE, NULL, 0);
	return r;
}

/* ---- descriptors of the kernel's own objects ---- */

SL_EXPORT int eventfd(unsigned int count, int flags)
{
	SL_REAL(eventfd);
	int fd = SL_CALL(eventfd, -1, count, flags);
	if (tracking() && fd >= 0)
		record_open(fd, -1, SL_FD_EVENTFD, NULL, 0);
	return fd;
}

SL_EXPORT int timerfd_create(int clockid, int flags)
{
	SL_REAL(timerfd_create);
	int fd = SL_CALL(timerfd_create, -1, clockid, flags);
	if (tracking() && fd >= 0)
		record_open(fd, -1, SL_FD_TIMERFD, NULL, 0);
	return fd;
}

/* signalfd(-1, ...) makes a descriptor; signalfd(fd, ...) changes the mask of fd. */
SL_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	SL_REAL(signalfd);
	int r = SL_CALL(signalfd, -1, fd, mask, flags);
	if (tracking() && r >= 0 && fd == -1)
		record_open(r, -1, SL_FD_SIGNALFD, NULL, 0);
	return r;
}

SL_EXPORT int memfd_create(const char *name, unsigned int flags)
{
	SL_REAL(memfd_create);
	int fd = SL_CALL(memfd_create, -1, name, flags);
	if (tracking() && fd >= 0) {
		char label[sizeof(((struct sockaddr_un *)0)->sun_path)];
		int n = snprintf(label, sizeof(label), "memfd:%s", name ? name : "");
		record_open(fd, -1, SL_FD_MEMFD, label, n < 0 ? 0 : (size_t)n < sizeof(label) ? (size_t)n : sizeof(label) - 1);
	}
	return fd;
}

SL_EXPORT int inotify_init(void)
{
	SL_REAL(inotify_init);
	int fd = SL_CALL(inotify_init, -1);
	if (tracking() && fd >= 0)
		record_open(fd, -1, SL_FD_INOTIFY, NULL, 0);
	return fd;
}

SL_EXPORT int inotify_init1(int flags)
{
	SL_REAL(inotify_init1);
	int fd = SL_CALL(inotify_init1, -1, flags);
	if (tracking() && fd >= 0)
		record_open(fd, -1, SL_FD_INOTIFY, NULL, 0);
	return fd;
}

SL_EXPORT int fanotify_init(unsigned int flags, unsigned int event_flags)
{
	SL_REAL(fanotify_init);
	int fd = SL_CALL(fanotify_init, -1, flags, event_flags);
	if (tracking() && fd >= 0)
		record_open(fd, -1, SL_FD_FANOTIFY, NULL, 0);
	return fd;
}

int pidfd_open(pid_t pid, unsigned int flags);

SL_EXPORT int pidfd_open(pid_t pid, unsigned int flags)
{
	SL_REAL(pidfd_open);
	int fd = SL_CALL(pidfd_open, -1, pid, flags);
	if (tracking() && fd >= 0)
		record_open(fd, -1, SL_FD_PIDFD, NULL, 0);
	return fd;
}

/* ---- stdio, dirent and popen: the C library opens and closes inside these ---- */

static int stream_fd(FILE *f)
{
	int saved = *sl_errno();
	int fd = f ? fileno(f) : -1;
	*sl_errno() = saved;
	return fd;
}

SL_EXPORT FILE *fopen(const char *path, const char *mode)
{
	SL_REAL(fopen);
	FILE *f = SL_CALL(fopen, NULL, path, mode);
	if (tracking() && f)
		record_path(stream_fd(f), SL_FD_FILE, path);
	return f;
}

SL_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	SL_REAL(fopen64);
	FILE *f = SL_CALL(fopen64, NULL, path, mode);
	if (tracking() && f)
		record_path(stream_fd(f), SL_FD_FILE, path);
	return f;
}

/* freopen closes the stream's descriptor, then opens path (onto the same number when it can).
 * With no path it reopens the same file: what it is then is not known here. */
SL_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	SL_REAL(freopen);
	if (!tracking())
		return SL_CALL(freopen, NULL, path, mode, stream);
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(stream_fd(stream), key);
	FILE *f = SL_CALL(freopen, NULL, path, mode, stream);
	if (closing)
		end_inner_close(key);
	if (f)
		record_path(stream_fd(f), SL_FD_FILE, path);
	return f;
}

SL_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	SL_REAL(freopen64);
	if (!tracking())
		return SL_CALL(freopen64, NULL, path, mode, stream);
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(stream_fd(stream), key);
	FILE *f = SL_CALL(freopen64, NULL, path, mode, stream);
	if (closing)
		end_inner_close(key);
	if (f)
		record_path(stream_fd(f), SL_FD_FILE, path);
	return f;
}

SL_EXPORT FILE *tmpfile(void)
{
	SL_REAL(tmpfile);
	FILE *f = SL_CALL(tmpfile, NULL);
	if (tracking() && f)
		record_path(stream_fd(f), SL_FD_FILE, NULL);
	return f;
}

SL_EXPORT FILE *tmpfile64(void)
{
	SL_REAL(tmpfile64);
	FILE *f = SL_CALL(tmpfile64, NULL);
	if (tracking() && f)
		record_path(stream_fd(f), SL_FD_FILE, NULL);
	return f;
}

SL_EXPORT int fclose(FILE *f)
{
	SL_REAL(fclose);
	if (!tracking())
		return SL_CALL(fclose, EOF, f);
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(stream_fd(f), key);
	int r = SL_CALL(fclose, EOF, f);
	if (closing)
		end_inner_close(key);
	return r;
}

SL_EXPORT FILE *popen(const char *command, const char *type)
{
	SL_REAL(popen);
	FILE *f = SL_CALL(popen, NULL, command, type);
	if (tracking() && f)
		record_open(stream_fd(f), -1, SL_FD_PIPE, NULL, 0);
	return f;
}

SL_EXPORT int pclose(FILE *f)
{
	SL_REAL(pclose);
	if (!tracking())
		return SL_CALL(pclose, -1, f);
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(stream_fd(f), key);
	int r = SL_CALL(pclose, -1, f);
	if (closing)
		end_inner_close(key);
	return r;
}

SL_EXPORT DIR *opendir(const char *path)
{
	SL_REAL(opendir);
	DIR *d = SL_CALL(opendir, NULL, path);
	if (tracking() && d) {
		int saved = *sl_errno();
		int fd = dirfd(d);
		*sl_errno() = saved;
		record_path(fd, SL_FD_FILE, path);
	}
	return d;
}

SL_EXPORT int closedir(DIR *d)
{
	SL_REAL(closedir);
	if (!tracking())
		return SL_CALL(closedir, -1, d);
	int saved = *sl_errno();
	int fd = dirfd(d);
	*sl_errno() = saved;
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(fd, key);
	int r = SL_CALL(closedir, -1, d);
	if (closing)
		end_inner_close(key);
	return r;
}
