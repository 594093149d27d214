/* Interposers for the process's life: main's return, every exit path, fork, vfork and exec. */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"

SL_OWN_CALL_DECLARE(_exit);
SL_OWN_CALL_DECLARE(execve);
SL_OWN_CALL_DECLARE(execvp);

/* ---- main ---- */

typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

static void keep_argv(int argc, char **argv)
{
	/* A copy: programs rewrite their argv strings (nginx sets its process title there). A
	 * short command line is kept in a static buffer: a first malloc sets up the allocator's
	 * arena (about 2,000 instructions and two system calls), which a process that never
	 * allocates should not pay at start-up (issue 12). */
	static _Alignas(char *) char small[1024];
	size_t total = 0;
	for (int i = 0; i < argc; i++)
		total += strlen(argv[i]) + 1;
	size_t size = (size_t)(argc + 1) * sizeof(char *) + total;
	char **copy = size <= sizeof(small) ? (char **)small : malloc(size);
	if (!copy)
		return;
	char *p = (char *)(copy + argc + 1);
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;
		memcpy(p, argv[i], n);
		copy[i] = p;
		p += n;
	}
	copy[argc] = NULL;
	sl_rt.argv = copy;
	sl_rt.argc = argc;
}

void *sl_main_function(void)
{
	return (void *)real_main;
}

static int wrapped_main(int argc, char **argv, char **envp)
{
	int status = real_main(argc, argv, envp);
	sl_exit_phase(SL_EXIT_PHASE_MAIN_RETURNED, status, 1);
	return status;
}

/* Wrapping main is how sockleak knows when main returned: closes after that are exit-time
 * cleanup (closed-at-exit), and main's value is the exit status. */
SL_EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
				void (*rtld_fini)(void), void *stack_end)
{
	typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
	start_fn real = (start_fn)sl_resolve("__libc_start_main");
	if (!real) {
		sl_message("__libc_start_main not found: cannot start the program");
		SL_OWN_CALL(_exit)(127);
	}
	real_main = main;
	keep_argv(argc, argv);
	return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* ---- exits ---- */

static _Noreturn void exit_group_now(int status)
{
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

SL_EXPORT void exit(int status)
{
	SL_REAL(exit);
	sl_exit_phase(SL_EXIT_PHASE_EXIT_CALLED, status, 1);
	if (real_exit)
		real_exit(status);
	exit_group_now(status);
}

SL_EXPORT void _exit(int status)
{
	SL_REAL(_exit);
	int code = status;
	sl_finish(SL_EXIT_HOW__EXIT, status, 1, &code);
	if (real__exit)
		real__exit(code);
	exit_group_now(code);
}

SL_EXPORT void _Exit(int status)
{
	SL_REAL(_Exit);
	int code = status;
	sl_finish(SL_EXIT_HOW__EXIT, status, 1, &code);
	if (real__Exit)
		real__Exit(code);
	exit_group_now(code);
}

SL_EXPORT void quick_exit(int status)
{
	SL_REAL(quick_exit);
	int code = status;
	sl_finish(SL_EXIT_HOW_QUICK, status, 1, &code);
	if (real_quick_exit)
		real_quick_exit(code);
	exit_group_now(code);
}

/* ---- fork ---- */

/* fork() runs the pthread_atfork handlers (runtime.c); _Fork() does not, so it gets the same
 * treatment here. */
SL_EXPORT pid_t _Fork(void)
{
	SL_REAL(_Fork);
	if (!sl_active())
		return SL_CALL(_Fork, -1);
	sl_fork_prepare();
	pid_t pid = SL_CALL(_Fork, -1);
	if (pid == 0)
		sl_fork_child();
	else
		sl_fork_parent();
	return pid;
}

/* Called by the vfork wrapper (vfork.S) before the real vfork: from here until the parent
 * resumes, hooks on this thread touch nothing, since the child runs on the parent's memory. */
void *sl_vfork_prepare(void)
{
	static void *slot_real_vfork; /* atomic, as in SL_REAL */
	void *real_vfork = __atomic_load_n(&slot_real_vfork, __ATOMIC_RELAXED);
	if (!real_vfork) {
		real_vfork = sl_resolve("vfork");
		__atomic_store_n(&slot_real_vfork, real_vfork, __ATOMIC_RELAXED);
	}
	if (real_vfork)
		sl_vfork_child = 1;
	return real_vfork;
}

long sl_vfork_unavailable(void)
{
	errno = ENOSYS;
	return -1;
}

/* ---- exec ---- */

static void before_exec(void)
{
	if (sl_active()) {
		struct sl_event ev = {.type = SL_EV_EXEC, .a = 0};
		sl_record(&ev);
	}
}

static void exec_failed(void)
{
	int saved = errno;
	if (sl_active()) {
		struct sl_event ev = {.type = SL_EV_EXEC, .a = 1};
		sl_record(&ev);
	}
	errno = saved;
}

/* Every exec: the event log notes the attempt (the image ends here if it succeeds), and a
 * failure that returns is noted too, since the image goes on. */
#define SL_EXEC_HOOK(name, params, args)                                                               \
	SL_EXPORT int name params                                                                      \
	{                                                                                              \
		SL_REAL(name);                                                                         \
		before_exec();                                                                         \
		int r = SL_CALL(name, -1, SL_UNPAREN args);                                            \
		exec_failed();                                                                         \
		return r;                                                                              \
	}
#define SL_UNPAREN(...) __VA_ARGS__

SL_EXEC_HOOK(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp))
SL_EXEC_HOOK(execv, (const char *path, char *const argv[]), (path, argv))
SL_EXEC_HOOK(execvp, (const char *file, char *const argv[]), (file, argv))
SL_EXEC_HOOK(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp))
SL_EXEC_HOOK(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp))
SL_EXEC_HOOK(execveat, (int dirfd, const char *path, char *const argv[], char *const envp[], int flags),
	     (dirfd, path, argv, envp, flags))

/* The execl family takes its arguments as a list; glibc turns them into an array and calls
 * execve internally (out of reach of the interposer above), so they are rebuilt here exactly as
 * glibc does it: count the list first, then an array of exactly that size on the stack. A fixed
 * cap (4,096 once) dropped the arguments past it, and execle then read envp from an argument's
 * slot (EFAULT). The count stops at INT_MAX with E2BIG, as glibc's does. */
#define SL_COUNT_ARGS(arg, argc)                                                                       \
	do {                                                                                           \
		va_list count_ap;                                                                      \
		va_start(count_ap, arg);                                                               \
		for ((argc) = 1; va_arg(count_ap, const char *); (argc)++) {                           \
			if ((argc) == INT_MAX) {                                                       \
				va_end(count_ap);                                                      \
				errno = E2BIG;                                                         \
				return -1;                                                             \
			}                                                                              \
		}                                                                                      \
		va_end(count_ap);                                                                      \
	} while (0)

/* Fills argv[0..argc] (argc + 1 slots) from the list and leaves ap after its NULL. */
static void collect_args(char **argv, ptrdiff_t argc, const char *arg, va_list *ap)
{
	argv[0] = (char *)arg;
	for (ptrdiff_t i = 1; i <= argc; i++)
		argv[i] = va_arg(*ap, char *);
}

SL_EXPORT int execl(const char *path, const char *arg, ...)
{
	ptrdiff_t argc;
	SL_COUNT_ARGS(arg, argc);
	char *argv[argc + 1];
	va_list ap;
	va_start(ap, arg);
	collect_args(argv, argc, arg, &ap);
	va_end(ap);
	extern char **environ;
	return SL_OWN_CALL(execve)(path, argv, environ);
}

SL_EXPORT int execlp(const char *file, const char *arg, ...)
{
	ptrdiff_t argc;
	SL_COUNT_ARGS(arg, argc);
	char *argv[argc + 1];
	va_list ap;
	va_start(ap, arg);
	collect_args(argv, argc, arg, &ap);
	va_end(ap);
	return SL_OWN_CALL(execvp)(file, argv);
}

SL_EXPORT int execle(const char *path, const char *arg, ...)
{
	ptrdiff_t argc;
	SL_COUNT_ARGS(arg, argc);
	char *argv[argc + 1];
	va_list ap;
	va_start(ap, arg);
	collect_args(argv, argc, arg, &ap);
	/* The environment is the slot right after the list's NULL. */
	char **envp = va_arg(ap, char **);
	va_end(ap);
	return SL_OWN_CALL(execve)(path, argv, envp);
}
