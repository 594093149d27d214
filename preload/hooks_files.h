/* track= (issue 15): which descriptors besides sockets the preload follows. */
#ifndef SOCKLEAK_HOOKS_FILES_H
#define SOCKLEAK_HOOKS_FILES_H

enum sl_track_level {
	SL_TRACK_SOCKETS = 0, /* the default: the hooks of hooks_files.c only call the real function */
	SL_TRACK_PIPES = 1,   /* pipes, popen's pipes and FIFOs too */
	SL_TRACK_ALL = 2,     /* every descriptor the program makes */
};

/* Set once, at start-up, from the option (zero until then: what is opened before sockleak is
 * ready was opened before the program's own code ran, and is not the program's). */
extern int sl_track_level;
void sl_files_configure(const char *track);

/* A descriptor the program did not make through a tracked call is now its own: one that arrived
 * through SCM_RIGHTS (hooks_socket.c), or a copy (dup, F_DUPFD) of one not tracked, such as an
 * inherited descriptor (hooks_fd.c, under track=all only), as valgrind --track-fds counts it.
 * Recorded with the kind the kernel names (/proc/self/fd) and the calling stack, unless it is a
 * socket. errno is kept. */
void sl_files_adopt(int fd);

/* After syscall(number, a...) returned r >= 0: records the descriptors that pidfd_open,
 * memfd_create, eventfd2 and pipe2 made (CPython's os.pidfd_open is a syscall() call). Not
 * open or openat: a library may open files that way inside its own lock (jemalloc). */
void sl_files_syscall(long number, const long *a, long r);

#endif
