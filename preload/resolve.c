/* Finding the real function behind each interposer. */
#include <dlfcn.h>
#include <string.h>

#include "preload.h"

/* This library's address range, read once: dladdr() scans symbol tables, and asking it about
 * every candidate of every name cost four million instructions at each process's start. */
static int is_ours(void *p)
{
	static uint64_t lo, hi;
	if (!hi)
		sl_modules_self_range((const void *)&is_ours, &lo, &hi);
	return (uint64_t)(uintptr_t)p >= lo && (uint64_t)(uintptr_t)p < hi;
}

/* RTLD_NEXT finds the next definition after this library; RTLD_DEFAULT is the fallback for
 * symbols that arrived later. Either may hand back our own interposer (when this library was
 * loaded oddly), which must never be called as the "real" one. */
static void *lookup(const char *name)
{
	int saved = errno;
	int guard = sl_in_hook;
	sl_in_hook = 1; /* dlsym may allocate or take locks; nothing it calls may be tracked */
	void *found = dlsym(RTLD_NEXT, name);
	if (!found || is_ours(found)) {
		found = dlsym(RTLD_DEFAULT, name);
		if (found && is_ours(found))
			found = NULL;
	}
	sl_in_hook = guard;
	errno = saved;
	return found;
}

/* Every function an interposer stands in for (SL_REAL and sl_resolve names; tests check the
 * list is complete), resolved once at start-up. Resolving at a hook's first call instead needs
 * dlsym, and dlsym (like dladdr) takes the dynamic loader's lock: a thread's first socketpair()
 * never returned while another thread, inside dlopen, ran a library constructor that waited for
 * that thread (tests/reliability/libearly.c loaded with dlopen hung; it runs bare). */
static const char *const names[] = {
	"_Exit", "_Fork", "__libc_start_main", "_exit", "accept", "accept4", "bind", "close", "close_range",
	"closefrom", "connect", "dlclose", "dlopen", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
	"execv", "execve", "execveat", "execvp", "execvpe", "exit", "fcntl", "fcntl64", "fexecve", "listen",
	"pipe2", "quick_exit", "read", "recv", "recvfrom", "recvmmsg", "recvmsg", "ruby_sig_finalize", "send", "sendmsg", "sendto",
	"shutdown", "socket", "socketpair", "syscall", "vfork", "write",
	/* hooks_files.c (issue 15) */
	"__open64_2", "__open_2", "__openat64_2", "__openat_2", "closedir", "creat", "creat64", "eventfd",
	"fanotify_init", "fclose", "fopen", "fopen64", "freopen", "freopen64", "inotify_init", "inotify_init1",
	"memfd_create", "open", "open64", "openat", "openat64", "opendir", "pclose", "pidfd_open", "pipe",
	"popen", "signalfd", "timerfd_create", "tmpfile", "tmpfile64",
	/* hooks_files.c (review of issues 12 and 15) */
	"mkostemp", "mkostemp64", "mkostemps", "mkostemps64", "mkstemp", "mkstemp64", "mkstemps", "mkstemps64",
	"getpt", "openpty", "posix_openpt", "shm_open",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
static void *resolved[NNAMES];
static int resolved_ready;

void sl_resolve_all(void)
{
	for (size_t i = 0; i < NNAMES; i++)
		resolved[i] = lookup(names[i]);
	__atomic_store_n(&resolved_ready, 1, __ATOMIC_RELEASE);
}

void *sl_resolve(const char *name)
{
	if (__atomic_load_n(&resolved_ready, __ATOMIC_ACQUIRE))
		for (size_t i = 0; i < NNAMES; i++)
			if (resolved[i] && strcmp(names[i], name) == 0)
				return resolved[i];
	return lookup(name);
}
