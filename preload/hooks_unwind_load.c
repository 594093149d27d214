/* The calls after which libunwind could no longer be loaded safely from a hook: the first thread
 * (another thread may then hold the dynamic loader's lock and wait for the one in the hook) and
 * the first signal handler (a hook may then run inside it, interrupting malloc or dlopen). Each
 * interposer lets stack.c load libunwind first, while the process is still single-threaded and
 * no handler of the program's can run, and then makes the call. Nothing is recorded. */
#include <signal.h>

#include "preload.h"

SL_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	SL_REAL(pthread_create);
	sl_stack_before_thread();
	return real_pthread_create ? real_pthread_create(thread, attr, start, arg) : ENOSYS;
}

static int is_handler(void (*handler)(int))
{
	return handler != SIG_DFL && handler != SIG_IGN && handler != SIG_ERR;
}

SL_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	SL_REAL(sigaction);
	if (act && is_handler(act->sa_handler))
		sl_stack_before_handler();
	return SL_CALL(sigaction, -1, sig, act, old);
}

/* glibc's signal() calls its own sigaction, not through the PLT: interposed on its own. */
SL_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	SL_REAL(signal);
	if (is_handler(handler))
		sl_stack_before_handler();
	return SL_CALL(signal, SIG_ERR, sig, handler);
}
