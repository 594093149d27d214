/* sockleak's own words to the user: every "sockleak: ..." line and the text report go to fd 2
 * through the guards here, so that writing them never harms the program. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "message.h"
#include "preload.h"

/* fd 2 as the process started with it. sockleak writes to fd 2 only while it is still that
 * file: a program that closed stderr and was handed a socket as fd 2 once received the report
 * on its network connection. Taken by the constructor, or by the first message when another
 * library's constructor made sockleak speak before it ran. */
static struct {
	int taken;
	int open;
	dev_t dev;
	ino_t ino;
} start_stderr;

static void take_start_stderr(void)
{
	if (__atomic_exchange_n(&start_stderr.taken, 1, __ATOMIC_ACQ_REL))
		return;
	struct stat st;
	if (fstat(2, &st) == 0) {
		start_stderr.dev = st.st_dev;
		start_stderr.ino = st.st_ino;
		__atomic_store_n(&start_stderr.open, 1, __ATOMIC_RELEASE);
	}
}

__attribute__((constructor)) static void remember_stderr(void)
{
	int saved = errno;
	take_start_stderr();
	errno = saved;
}

/* Set by the exit report when fd 2 holds a transport or epoll set the program tracked. */
int sl_stderr_tracked;

const char *sl_stderr_refusal(void)
{
	take_start_stderr();
	if (__atomic_load_n(&sl_stderr_tracked, __ATOMIC_RELAXED))
		return "fd 2 is a socket the program uses, not its stderr";
	if (!__atomic_load_n(&start_stderr.open, __ATOMIC_ACQUIRE))
		return "fd 2 was not open when the process started";
	struct stat st;
	if (fstat(2, &st) < 0)
		return "fd 2 is closed";
	if (st.st_dev != start_stderr.dev || st.st_ino != start_stderr.ino)
		return "fd 2 is no longer the stderr the process started with";
	return NULL;
}

/* Writing to a pipe whose reader is gone raises SIGPIPE: stderr such a pipe once killed the
 * program at exit, even with exitcode=0, and a message in mid-run could do the same. SIGPIPE
 * is blocked on this thread while sockleak writes (the kernel sends it to the writing thread),
 * and one that sockleak's own writes left pending is taken back before the mask is restored:
 * the program never sees it. One that was pending before stays. SIGXFSZ likewise: a message
 * written to a stderr redirected into a file while RLIMIT_FSIZE is below its size killed the
 * program (a program that lowers the limit, then makes its first socket, whose event log cannot
 * be made then and says so: issue 12). */
void sl_sigpipe_block(struct sl_quiet_sigpipe *q)
{
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &set, &q->old);
	int got = sigpending(&pending) == 0;
	q->was_pending = got && sigismember(&pending, SIGPIPE);
	q->xfsz_was_pending = got && sigismember(&pending, SIGXFSZ);
}

void sl_sigpipe_restore(struct sl_quiet_sigpipe *q)
{
	sigset_t pending;
	int got = sigpending(&pending) == 0;
	const int sigs[2] = {SIGPIPE, SIGXFSZ}, before[2] = {q->was_pending, q->xfsz_was_pending};
	const struct timespec zero = {0, 0};
	int saved = errno;
	/* Only a signal sockleak's own writes raised, taken once. */
	for (int i = 0; i < 2; i++) {
		if (before[i] || !got || !sigismember(&pending, sigs[i]))
			continue;
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, sigs[i]);
		sigtimedwait(&one, NULL, &zero);
	}
	errno = saved;
	pthread_sigmask(SIG_SETMASK, &q->old, NULL);
}

/* One line, whatever the message holds: a path or an error text with a newline or a control
 * character in it must not start a line of its own that looks like the program's output. */
void sl_message(const char *fmt, ...)
{
	char buf[1024];
	int saved = errno;
	struct sl_quiet_sigpipe q;
	sl_sigpipe_block(&q);
	if (!sl_stderr_refusal()) {
		memcpy(buf, "sockleak: ", 10);
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(buf + 10, sizeof(buf) - 11, fmt, ap);
		va_end(ap);
		if (n < 0)
			n = 0;
		size_t len = 10 + ((size_t)n < sizeof(buf) - 11 ? (size_t)n : sizeof(buf) - 12);
		for (size_t i = 10; i < len; i++)
			if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
				buf[i] = '?';
		buf[len++] = '\n';
		ssize_t w = write(2, buf, len);
		(void)w;
	}
	sl_sigpipe_restore(&q);
	errno = saved;
}
