/* Issue 14 item 4, a live view: with dump_signal=SIGUSR2 (off by default), that signal makes the
 * preload write every open transport, with its stacks, where the report goes, and the program
 * goes on. For the long-running server that slowly gains connections: where were they made?
 *
 * The design, chosen to change the program as little as possible once the option is given:
 * the signal's handler does only what is async-signal-safe, one write() of a byte into a pipe;
 * a thread started at load time (only with the option) waits on that pipe and writes the view,
 * taking sockleak's lock as any hook does, while the program's threads go on (their socket
 * calls wait while the view is built). A handler that only set a flag would never run the view
 * in a server asleep in accept(). The pipe's two descriptors are moved to the top of the
 * descriptor range, close-on-exec, so that the numbers the program gets stay those it gets bare.
 * The thread blocks every signal, so that none meant for the program lands on it. A forked child
 * has no such thread: its handler gives the signal its default action back and raises it again,
 * so that the child ends as it does bare (it checks the pid). A program that sets
 * its own handler for the signal takes it back from sockleak. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "preload.h"
#include "report_out.h"

static int dump_pipe[2] = {-1, -1};
static pid_t dump_pid;

static void dump_handler(int sig)
{
	int saved = errno;
	if (getpid() != dump_pid) {
		/* A forked child has no view to write: the signal does to it what it does bare (its
		 * default action ends it), so the disposition goes back to the default and the signal,
		 * blocked while this handler runs, is raised again for the return. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		raise(sig);
		errno = saved;
		return;
	}
	char c = 1;
	ssize_t rc = write(dump_pipe[1], &c, 1); /* non-blocking: a full pipe has a view pending already */
	(void)rc;
	errno = saved;
}

static void *dump_thread(void *arg)
{
	(void)arg;
	for (;;) {
		char c[64];
		ssize_t n = read(dump_pipe[0], c, sizeof(c));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		if (!sl_rt.disabled && !sl_rt.finished)
			sl_checkpoint_check(1, "live view", NULL, 0, 1);
	}
}

/* The signal named by the option: SIGUSR1 or SIGUSR2 (USR1, USR2, or their numbers). */
static int parse_signal(const char *s)
{
	if (!strncmp(s, "SIG", 3))
		s += 3;
	if (!strcmp(s, "USR1") || !strcmp(s, "10"))
		return SIGUSR1;
	if (!strcmp(s, "USR2") || !strcmp(s, "12"))
		return SIGUSR2;
	return 0;
}

/* Moves a descriptor to the highest free number below the limit, close-on-exec. */
static int move_high(int fd)
{
	struct rlimit rl;
	long top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= 1048576
			   ? (long)rl.rlim_cur : 1024;
	for (long want = top - 1; want > fd && want >= top - 64; want--) {
		if (fcntl((int)want, F_GETFD) >= 0 || errno != EBADF)
			continue; /* taken */
		int nfd = fcntl(fd, F_DUPFD_CLOEXEC, (int)want);
		if (nfd >= 0) {
			close(fd);
			return nfd;
		}
	}
	return fd;
}

__attribute__((constructor)) static void dump_start(void)
{
	sl_init();
	if (!sl_rt.ready || sl_rt.disabled || !sl_rt.opt.dump_signal[0])
		return;
	int sig = parse_signal(sl_rt.opt.dump_signal);
	if (!sig) {
		sl_message("SOCKLEAK_OPTIONS: option 'dump_signal' is SIGUSR1 or SIGUSR2, not '%s'", sl_rt.opt.dump_signal);
		sl_message("stopping before the program starts: fix SOCKLEAK_OPTIONS (help=1 lists the options)");
		_exit(1);
	}
	int saved_errno = errno;
	int guard = sl_in_hook;
	sl_in_hook = 1;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		sl_message("dump_signal: no pipe (%s): the live view is off", strerror(errno));
		goto out;
	}
	dump_pipe[0] = move_high(p[0]);
	dump_pipe[1] = move_high(p[1]);
	fcntl(dump_pipe[1], F_SETFL, O_NONBLOCK);
	dump_pid = getpid();
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t th;
	int rc = pthread_create(&th, NULL, dump_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		sl_message("dump_signal: no thread (%s): the live view is off", strerror(rc));
		close(dump_pipe[0]);
		close(dump_pipe[1]);
		goto out;
	}
	pthread_detach(th);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = dump_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
out:
	sl_in_hook = guard;
	errno = saved_errno;
}
