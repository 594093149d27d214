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
#include <sys/syscall.h>
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

/* Records fd (and fd2, a pipe's other end) as made here, with the caller's stack. sockleak's own
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

/* ---- descriptors received through SCM_RIGHTS, and copies of ones not tracked ---- */

/* What the kernel calls the open file at fd (/proc/self/fd/N): "pipe:[...]", "anon_inode:[eventfd]",
 * "/memfd:NAME (deleted)", a path. Asked only for descriptors that arrive, and for copies of
 * untracked ones under track=all, which are rare. 0 for a socket. */
static int received_kind(int fd, char *path, size_t size, size_t *len)
{
	char link[48];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, size - 1);
	*len = 0;
	if (n <= 0)
		return SL_FD_FILE;
	path[n] = '\0';
	if (strncmp(path, "socket:", 7) == 0)
		return 0; /* a socket is not one of these */
	static const struct {
		const char *prefix;
		int kind;
	} anon[] = {
		{"pipe:", SL_FD_PIPE},
		{"anon_inode:[eventfd]", SL_FD_EVENTFD},
		{"anon_inode:[timerfd]", SL_FD_TIMERFD},
		{"anon_inode:[signalfd]", SL_FD_SIGNALFD},
		{"anon_inode:inotify", SL_FD_INOTIFY},
		{"anon_inode:[fanotify]", SL_FD_FANOTIFY},
		{"anon_inode:[pidfd]", SL_FD_PIDFD},
		{"anon_inode:[eventpoll]", SL_FD_EPOLL},
		{"/memfd:", SL_FD_MEMFD},
	};
	for (size_t i = 0; i < sizeof(anon) / sizeof(anon[0]); i++) {
		if (strncmp(path, anon[i].prefix, strlen(anon[i].prefix)) != 0)
			continue;
		if (anon[i].kind == SL_FD_MEMFD) {
			/* "/memfd:NAME (deleted)": the name as memfd_create's hook shows it. */
			char *end = strstr(path, " (deleted)");
			*len = (size_t)((end ? end : path + n) - (path + 1));
			memmove(path, path + 1, *len);
		}
		return anon[i].kind;
	}
	if (path[0] == '/')
		*len = (size_t)n;
	return SL_FD_FILE; /* a FIFO is told by record_open's fstat */
}

void sl_files_adopt(int fd)
{
	char path[160]; /* a path is cut to 108 bytes anyway: a small frame in recvmsg's path */
	size_t len;
	int saved = *sl_errno();
	int kind = received_kind(fd, path, sizeof(path), &len);
	*sl_errno() = saved;
	if (kind)
		record_open(fd, -1, kind, len ? path : NULL, len);
}

/* ---- made through syscall() ---- */

void sl_files_syscall(long number, const long *a, long r)
{
	switch (number) {
	case SYS_pidfd_open:
		record_open((int)r, -1, SL_FD_PIDFD, NULL, 0);
		break;
	case SYS_eventfd2:
		record_open((int)r, -1, SL_FD_EVENTFD, NULL, 0);
		break;
	case SYS_pipe2: {
		const int *fds = (const int *)a[0];
		record_open(fds[0], fds[1], SL_FD_PIPE, NULL, 0);
		break;
	}
	case SYS_memfd_create: {
		char label[sizeof(((struct sockaddr_un *)0)->sun_path)];
		const char *name = (const char *)a[0];
		int n = snprintf(label, sizeof(label), "memfd:%s", name ? name : "");
		record_open((int)r, -1, SL_FD_MEMFD, label, n < 0 ? 0 : (size_t)n < sizeof(label) ? (size_t)n : sizeof(label) - 1);
		break;
	}
	default:
		break;
	}
}

/* ---- open and its variants ---- */

/* Each hook checks the flag and, under the default, jumps to the real function: the recording
 * lives in a function of its own (NAME_tracked), which the hook calls last, so that the compiler
 * makes the call a jump (a sibling call) and the hook's fast path needs no frame at all. The
 * tracked function's frame then takes the hook's place: the stack is taken there, and its
 * return address is the program's call site (the key of the learned stack shape, stack.c).
 * Without the sibling call (an unoptimized build) the hook's frame is one more of sockleak's,
 * which the walk drops: slower, never wrong. */
#define TRACKED __attribute__((noinline))

/* The real function, or ENOSYS when it could not be found: never a NULL call. */
#define REAL_OR_FAIL(real, fail)                                                                       \
	if (SL_UNLIKELY(!(real))) {                                                                    \
		errno = ENOSYS;                                                                        \
		return (fail);                                                                         \
	}

typedef int open_fn(const char *, int, ...);
typedef int openat_fn(int, const char *, int, ...);

static TRACKED int open_tracked(open_fn *real, const char *path, int flags, mode_t mode)
{
	REAL_OR_FAIL(real, -1);
	int fd = real(path, flags, mode);
	if (fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

static TRACKED int openat_tracked(openat_fn *real, int dirfd, const char *path, int flags, mode_t mode)
{
	REAL_OR_FAIL(real, -1);
	int fd = real(dirfd, path, flags, mode);
	if (fd >= 0)
		record_path(fd, SL_FD_FILE, path);
	return fd;
}

/* open and openat are variadic: the mode is there only with O_CREAT or O_TMPFILE. On x86-64 a
 * variadic call passes its arguments in the same registers as a plain one, so these take the
 * mode as a plain third (fourth) argument, and pass on whatever the register holds: the real
 * function reads it only when the flags ask for a mode, as it would have. A variadic definition
 * would spill six registers on every call, tracked or not. */
#define OPEN_HOOK(name)                                                                                \
	SL_EXPORT int sl_hook_##name(const char *path, int flags, mode_t mode) __asm__(#name);        \
	SL_EXPORT int sl_hook_##name(const char *path, int flags, mode_t mode)                        \
	{                                                                                              \
		SL_REAL_AS(real, open_fn, #name)                                                       \
		if (SL_UNLIKELY(tracking()))                                                           \
			return open_tracked(real, path, flags, mode);                                  \
		REAL_OR_FAIL(real, -1);                                                                \
		return real(path, flags, mode);                                                        \
	}

#define OPENAT_HOOK(name)                                                                              \
	SL_EXPORT int sl_hook_##name(int dirfd, const char *path, int flags, mode_t mode) __asm__(#name); \
	SL_EXPORT int sl_hook_##name(int dirfd, const char *path, int flags, mode_t mode)             \
	{                                                                                              \
		SL_REAL_AS(real, openat_fn, #name)                                                     \
		if (SL_UNLIKELY(tracking()))                                                           \
			return openat_tracked(real, dirfd, path, flags, mode);                         \
		REAL_OR_FAIL(real, -1);                                                                \
		return real(dirfd, path, flags, mode);                                                 \
	}

OPEN_HOOK(open)
OPEN_HOOK(open64)
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)
/* _FORTIFY_SOURCE builds call these, with no mode (the register is passed on unread). */
OPEN_HOOK(__open_2)
OPEN_HOOK(__open64_2)
OPENAT_HOOK(__openat_2)
OPENAT_HOOK(__openat64_2)

/* The hooks below have one shape: under the default, the real call; else NAME_tracked. */
#define HOOK(ret, name, fail, params, args)                                                            \
	static TRACKED ret name##_tracked(__typeof__(name) *real, SL_UNPAREN params);                  \
	SL_EXPORT ret name params                                                                      \
	{                                                                                              \
		SL_REAL(name);                                                                         \
		if (SL_UNLIKELY(tracking()))                                                           \
			return name##_tracked(real_##name, SL_UNPAREN args);                           \
		return SL_CALL(name, fail, SL_UNPAREN args);                                           \
	}                                                                                              \
	static TRACKED ret name##_tracked(__typeof__(name) *real, SL_UNPAREN params)
#define SL_UNPAREN(...) __VA_ARGS__

/* A hook whose call returns a new file's descriptor, named by one of its arguments. */
#define FILE_HOOK(name, params, args, path)                                                            \
	HOOK(int, name, -1, params, args)                                                              \
	{                                                                                              \
		REAL_OR_FAIL(real, -1);                                                                \
		int fd = real args;                                                                    \
		if (fd >= 0)                                                                           \
			record_path(fd, SL_FD_FILE, path);                                             \
		return fd;                                                                             \
	}

FILE_HOOK(creat, (const char *path, mode_t mode), (path, mode), path)
FILE_HOOK(creat64, (const char *path, mode_t mode), (path, mode), path)

/* The mkstemp family opens inside the C library (not through open): a temporary file left open
 * was missed, where valgrind --track-fds reports it (review of issues 12 and 15). Its path is the
 * template, as the call filled it in. */
int mkstemp(char *tmpl);
int mkstemp64(char *tmpl);
int mkostemp(char *tmpl, int flags);
int mkostemp64(char *tmpl, int flags);
int mkstemps(char *tmpl, int suffixlen);
int mkstemps64(char *tmpl, int suffixlen);
int mkostemps(char *tmpl, int suffixlen, int flags);
int mkostemps64(char *tmpl, int suffixlen, int flags);
int shm_open(const char *name, int flags, mode_t mode);
int posix_openpt(int flags);
int getpt(void);
struct termios;
struct winsize;
int openpty(int *master, int *slave, char *name, const struct termios *termp, const struct winsize *winp);

FILE_HOOK(mkstemp, (char *tmpl), (tmpl), tmpl)
FILE_HOOK(mkstemp64, (char *tmpl), (tmpl), tmpl)
FILE_HOOK(mkostemp, (char *tmpl, int flags), (tmpl, flags), tmpl)
FILE_HOOK(mkostemp64, (char *tmpl, int flags), (tmpl, flags), tmpl)
FILE_HOOK(mkstemps, (char *tmpl, int suffixlen), (tmpl, suffixlen), tmpl)
FILE_HOOK(mkstemps64, (char *tmpl, int suffixlen), (tmpl, suffixlen), tmpl)
FILE_HOOK(mkostemps, (char *tmpl, int suffixlen, int flags), (tmpl, suffixlen, flags), tmpl)
FILE_HOOK(mkostemps64, (char *tmpl, int suffixlen, int flags), (tmpl, suffixlen, flags), tmpl)

/* shm_open and posix_openpt open inside the C library too (review of issues 12 and 15). A shared
 * memory object's path is its name as given; a pseudo-terminal's is the multiplexer's. */
FILE_HOOK(shm_open, (const char *name, int flags, mode_t mode), (name, flags, mode), name)

HOOK(int, posix_openpt, -1, (int flags), (flags))
{
	REAL_OR_FAIL(real, -1);
	int fd = real(flags);
	if (fd >= 0)
		record_path(fd, SL_FD_FILE, "/dev/ptmx");
	return fd;
}

static TRACKED int getpt_tracked(int (*real)(void))
{
	REAL_OR_FAIL(real, -1);
	int fd = real();
	if (fd >= 0)
		record_path(fd, SL_FD_FILE, "/dev/ptmx");
	return fd;
}

SL_EXPORT int getpt(void)
{
	SL_REAL(getpt);
	if (SL_UNLIKELY(tracking()))
		return getpt_tracked(real_getpt);
	return SL_CALL(getpt, -1);
}

/* openpty makes both ends of a pseudo-terminal; the name it fills in is the terminal's. */
HOOK(int, openpty, -1,
     (int *master, int *slave, char *name, const struct termios *termp, const struct winsize *winp),
     (master, slave, name, termp, winp))
{
	REAL_OR_FAIL(real, -1);
	int r = real(master, slave, name, termp, winp);
	if (r == 0) {
		record_path(*master, SL_FD_FILE, "/dev/ptmx");
		record_path(*slave, SL_FD_FILE, name);
	}
	return r;
}

/* ---- pipes ---- */

HOOK(int, pipe, -1, (int fds[2]), (fds))
{
	REAL_OR_FAIL(real, -1);
	int r = real(fds);
	if (r == 0)
		record_open(fds[0], fds[1], SL_FD_PIPE, NULL, 0);
	return r;
}

HOOK(int, pipe2, -1, (int fds[2], int flags), (fds, flags))
{
	REAL_OR_FAIL(real, -1);
	int r = real(fds, flags);
	if (r == 0)
		record_open(fds[0], fds[1], SL_FD_PIPE, NULL, 0);
	return r;
}

/* ---- descriptors of the kernel's own objects ---- */

HOOK(int, eventfd, -1, (unsigned int count, int flags), (count, flags))
{
	REAL_OR_FAIL(real, -1);
	int fd = real(count, flags);
	if (fd >= 0)
		record_open(fd, -1, SL_FD_EVENTFD, NULL, 0);
	return fd;
}

HOOK(int, timerfd_create, -1, (int clockid, int flags), (clockid, flags))
{
	REAL_OR_FAIL(real, -1);
	int fd = real(clockid, flags);
	if (fd >= 0)
		record_open(fd, -1, SL_FD_TIMERFD, NULL, 0);
	return fd;
}

/* signalfd(-1, ...) makes a descriptor; signalfd(fd, ...) changes the mask of fd. */
HOOK(int, signalfd, -1, (int fd, const sigset_t *mask, int flags), (fd, mask, flags))
{
	REAL_OR_FAIL(real, -1);
	int r = real(fd, mask, flags);
	if (r >= 0 && fd == -1)
		record_open(r, -1, SL_FD_SIGNALFD, NULL, 0);
	return r;
}

HOOK(int, memfd_create, -1, (const char *name, unsigned int flags), (name, flags))
{
	REAL_OR_FAIL(real, -1);
	int fd = real(name, flags);
	if (fd >= 0) {
		char label[sizeof(((struct sockaddr_un *)0)->sun_path)];
		int n = snprintf(label, sizeof(label), "memfd:%s", name ? name : "");
		record_open(fd, -1, SL_FD_MEMFD, label, n < 0 ? 0 : (size_t)n < sizeof(label) ? (size_t)n : sizeof(label) - 1);
	}
	return fd;
}

static TRACKED int inotify_init_tracked(int (*real)(void));
SL_EXPORT int inotify_init(void)
{
	SL_REAL(inotify_init);
	if (SL_UNLIKELY(tracking()))
		return inotify_init_tracked(real_inotify_init);
	return SL_CALL(inotify_init, -1);
}
static TRACKED int inotify_init_tracked(int (*real)(void))
{
	REAL_OR_FAIL(real, -1);
	int fd = real();
	if (fd >= 0)
		record_open(fd, -1, SL_FD_INOTIFY, NULL, 0);
	return fd;
}

HOOK(int, inotify_init1, -1, (int flags), (flags))
{
	REAL_OR_FAIL(real, -1);
	int fd = real(flags);
	if (fd >= 0)
		record_open(fd, -1, SL_FD_INOTIFY, NULL, 0);
	return fd;
}

HOOK(int, fanotify_init, -1, (unsigned int flags, unsigned int event_flags), (flags, event_flags))
{
	REAL_OR_FAIL(real, -1);
	int fd = real(flags, event_flags);
	if (fd >= 0)
		record_open(fd, -1, SL_FD_FANOTIFY, NULL, 0);
	return fd;
}

int pidfd_open(pid_t pid, unsigned int flags);

HOOK(int, pidfd_open, -1, (pid_t pid, unsigned int flags), (pid, flags))
{
	REAL_OR_FAIL(real, -1);
	int fd = real(pid, flags);
	if (fd >= 0)
		record_open(fd, -1, SL_FD_PIDFD, NULL, 0);
	return fd;
}

/* ---- stdio, dirent and popen: the C library opens and closes inside these ---- */

/* The C library declares these arguments never NULL, so the compiler may drop a check for NULL
 * that it can trace to one: the empty asm hides where the pointer came from. closedir(NULL)
 * fails with EINVAL, and must still do so here. */
#define LAUNDER(p) __asm__("" : "+r"(p))

static int stream_fd(FILE *f)
{
	int saved = *sl_errno();
	LAUNDER(f);
	int fd = f ? fileno(f) : -1;
	*sl_errno() = saved;
	return fd;
}

/* fclose and pclose: the stream's descriptor closed inside the call. */
static int close_stream(int (*real)(FILE *), FILE *f)
{
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(stream_fd(f), key);
	int r = real(f);
	if (closing)
		end_inner_close(key);
	return r;
}

/* Whether the descriptor under stream f is one sockleak follows now: a socket given to fdopen is
 * one under the default track=sockets too. */
static inline int stream_tracked(FILE *f)
{
	int fd = stream_fd(f);
	return fd >= 0 && sl_tracked(fd);
}

/* HOOK for the calls that close a stream's descriptor (fclose, freopen): their tracked function
 * also runs when that descriptor is followed, whatever track= says. Under the default a socket
 * given to fdopen and closed by fclose looked still open: a checkpoint reported it never-closed
 * (and reader-not-removed, were it in an epoll set), and the exit turned that into
 * closed-at-exit (review of issues 12 and 15, testapps/fclose_socket_stream.c). */
#define STREAM_CLOSE_HOOK(ret, name, fail, stream, params, args)                                       \
	static TRACKED ret name##_tracked(__typeof__(name) *real, SL_UNPAREN params);                  \
	SL_EXPORT ret name params                                                                      \
	{                                                                                              \
		SL_REAL(name);                                                                         \
		if (SL_UNLIKELY(tracking()) || SL_UNLIKELY(stream_tracked(stream)))                    \
			return name##_tracked(real_##name, SL_UNPAREN args);                           \
		return SL_CALL(name, fail, SL_UNPAREN args);                                           \
	}                                                                                              \
	static TRACKED ret name##_tracked(__typeof__(name) *real, SL_UNPAREN params)

HOOK(FILE *, fopen, NULL, (const char *path, const char *mode), (path, mode))
{
	REAL_OR_FAIL(real, NULL);
	FILE *f = real(path, mode);
	if (f)
		record_path(stream_fd(f), SL_FD_FILE, path);
	return f;
}

/* The 64 forms are the same functions in a 64-bit process. */
HOOK(FILE *, fopen64, NULL, (const char *path, const char *mode), (path, mode))
{
	return fopen_tracked(real, path, mode);
}

/* freopen closes the stream's descriptor, then opens path (onto the same number when it can).
 * With no path it reopens the same file: what it is then is not known here. */
STREAM_CLOSE_HOOK(FILE *, freopen, NULL, stream, (const char *path, const char *mode, FILE *stream), (path, mode, stream))
{
	REAL_OR_FAIL(real, NULL);
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(stream_fd(stream), key);
	FILE *f = real(path, mode, stream);
	if (closing)
		end_inner_close(key);
	if (f)
		record_path(stream_fd(f), SL_FD_FILE, path);
	return f;
}

STREAM_CLOSE_HOOK(FILE *, freopen64, NULL, stream, (const char *path, const char *mode, FILE *stream), (path, mode, stream))
{
	return freopen_tracked(real, path, mode, stream);
}

static TRACKED FILE *tmpfile_tracked(FILE *(*real)(void))
{
	REAL_OR_FAIL(real, NULL);
	FILE *f = real();
	if (f)
		record_path(stream_fd(f), SL_FD_FILE, NULL);
	return f;
}

SL_EXPORT FILE *tmpfile(void)
{
	SL_REAL(tmpfile);
	if (SL_UNLIKELY(tracking()))
		return tmpfile_tracked(real_tmpfile);
	return SL_CALL(tmpfile, NULL);
}

SL_EXPORT FILE *tmpfile64(void)
{
	SL_REAL(tmpfile64);
	if (SL_UNLIKELY(tracking()))
		return tmpfile_tracked(real_tmpfile64);
	return SL_CALL(tmpfile64, NULL);
}

STREAM_CLOSE_HOOK(int, fclose, EOF, f, (FILE *f), (f))
{
	REAL_OR_FAIL(real, EOF);
	return close_stream(real, f);
}

HOOK(FILE *, popen, NULL, (const char *command, const char *type), (command, type))
{
	REAL_OR_FAIL(real, NULL);
	FILE *f = real(command, type);
	if (f)
		record_open(stream_fd(f), -1, SL_FD_PIPE, NULL, 0);
	return f;
}

HOOK(int, pclose, -1, (FILE *f), (f))
{
	REAL_OR_FAIL(real, -1);
	return close_stream(real, f);
}

HOOK(DIR *, opendir, NULL, (const char *path), (path))
{
	REAL_OR_FAIL(real, NULL);
	DIR *d = real(path);
	if (d) {
		int saved = *sl_errno();
		int fd = dirfd(d);
		*sl_errno() = saved;
		record_path(fd, SL_FD_FILE, path);
	}
	return d;
}

HOOK(int, closedir, -1, (DIR *d), (d))
{
	REAL_OR_FAIL(real, -1);
	int saved = *sl_errno();
	DIR *dp = d;
	LAUNDER(dp);
	int fd = dp ? dirfd(dp) : -1;
	*sl_errno() = saved;
	uint64_t key = (uint64_t)(uintptr_t)&key;
	int closing = begin_inner_close(fd, key);
	int r = real(d);
	if (closing)
		end_inner_close(key);
	return r;
}
