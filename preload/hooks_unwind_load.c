/* The calls after which libunwind could no longer be loaded safely from a hook: the first thread
 * (another thread may then hold the dynamic loader's lock and wait for the one in the hook) and
 * the first signal handler (a hook may then run inside it, interrupting malloc or dlopen). Each
 * interposer lets stack.c load libunwind first, while the process is still single-threaded and
 * no handler of the program's can run, and then makes the call. Nothing is recorded. */
#include <dlfcn.h>
#include <signal.h>

#include "preload.h"

SL_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	SL_REAL(pthread_create);
	sl_stack_before_thread();
	sl_thread_caches_before_thread();
	return real_pthread_create ? real_pthread_create(thread, attr, start, arg) : ENOSYS;
}

static int is_handler(void (*handler)(int))
{
	return handler != SIG_DFL && handler != SIG_IGN && handler != SIG_ERR && handler != SIG_HOLD;
}

/* A handler installed before sockleak is ready is only noted, and initialization loads
 * libunwind: a sanitizer's runtime installs its handlers through these interposers while it
 * starts itself, when it can run none of sockleak's code (the TSan build's instrumented
 * functions crashed there) and must not have its allocator called. So until then they take no
 * sanitizer's instrumentation and call nothing of sockleak's: the real function is found with
 * dlsym, as sockleak's own start-up would (only constructors run before it). */
#define SL_NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize_thread, no_sanitize_undefined))

static SL_NO_SANITIZE int note_handler(void (*handler)(int))
{
	/* A vforked child shares its parent's memory: its handlers (reset before an exec) must not
	 * be noted as the parent's. */
	if (sl_vfork_child || !is_handler(handler) || __atomic_load_n(&sl_handlers_installed, __ATOMIC_RELAXED))
		return 0;
	if (!sl_rt.ready) {
		__atomic_store_n(&sl_handlers_installed, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return 1;
}

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);
static sigaction_fn early_sigaction;

SL_EXPORT SL_NO_SANITIZE int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (SL_UNLIKELY(!sl_rt.ready)) {
		if (act)
			note_handler(act->sa_handler);
		if (!early_sigaction)
			early_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
		return early_sigaction ? early_sigaction(sig, act, old) : (errno = ENOSYS, -1);
	}
	SL_REAL(sigaction);
	if (act && note_handler(act->sa_handler))
		sl_stack_before_handler();
	return SL_CALL(sigaction, -1, sig, act, old);
}

/* glibc's signal() and its relatives call its own sigaction, not through the PLT: each is
 * interposed on its own. They share a type: a handler in, the previous one out. */
#define SL_SIGNAL_HOOK(name)                                                                           \
	static signal_fn early_##name;                                                                 \
	SL_EXPORT SL_NO_SANITIZE sighandler_t name(int sig, sighandler_t handler)                      \
	{                                                                                              \
		if (SL_UNLIKELY(!sl_rt.ready)) {                                                       \
			note_handler(handler);                                                         \
			if (!early_##name)                                                             \
				early_##name = (signal_fn)dlsym(RTLD_NEXT, #name);                     \
			return early_##name ? early_##name(sig, handler) : (errno = ENOSYS, SIG_ERR);  \
		}                                                                                      \
		SL_REAL(name);                                                                         \
		if (note_handler(handler))                                                             \
			sl_stack_before_handler();                                                     \
		return SL_CALL(name, SIG_ERR, sig, handler);                                           \
	}

SL_SIGNAL_HOOK(signal)
/* Obsolete, and so marked deprecated in signal.h; a program may still call it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
SL_SIGNAL_HOOK(sigset)
#pragma GCC diagnostic pop
SL_SIGNAL_HOOK(sysv_signal)
SL_SIGNAL_HOOK(bsd_signal)
