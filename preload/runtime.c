/* The preload's runtime: initialization, the one lock, the re-entry guard, and the path every
 * event takes from a hook into the state. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/out.h"
#include "../core/suppress.h"
#include "hooks_files.h"
#include "preload.h"
#include "python.h"
#include "../core/lifecycle_tls.h"

struct sl_runtime sl_rt;
__thread int sl_in_hook SL_TLS_MODEL;
__thread int sl_vfork_child SL_TLS_MODEL;
__thread uintptr_t sl_vfork_ret SL_TLS_MODEL; /* vfork.S keeps its caller's return address here */
__thread int *sl_errno_loc SL_TLS_MODEL;

/* Events a hook produced while this thread was inside sockleak already (a signal handler that
 * closed a socket, a hook reached while the lock was held for fork): applied right after.
 *
 * A ring per thread. Its producers are signal handlers, which interrupt the consumer and may
 * interrupt each other (two different signals); the consumer never interrupts a producer. So a
 * producer reserves its slot (tail) before writing it, and the consumer copies an event out
 * before freeing its slot (head). A queue that shifted its entries and then counted down lost
 * the event of a handler that came in between (the signal storm test, one socket in 8,000).
 *
 * The ring is static TLS, which glibc carves out of every thread's stack: an entry keeps only
 * what a deferred event has (no stack yet, no address: it is deferred before either is taken),
 * 36 bytes rather than a whole struct sl_event's 56. */
#define SL_DEFER_MAX 16
struct deferred_event {
	int64_t a, b;
	uint64_t obj;
	int32_t fd, fd2;
	uint16_t type;
} __attribute__((packed, aligned(4)));
/* A field added to struct sl_event must be added here too, or deferred events lose it. */
_Static_assert(sizeof(struct sl_event) == 56, "struct sl_event changed: keep struct deferred_event in step");
static __thread struct deferred_event deferred[SL_DEFER_MAX] SL_TLS_MODEL;
__thread unsigned sl_defer_head SL_TLS_MODEL, sl_defer_tail SL_TLS_MODEL; /* see sl_tracked */
static __thread unsigned deferred_lost SL_TLS_MODEL;

static unsigned pending(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&sl_defer_tail, __ATOMIC_RELAXED) - __atomic_load_n(&sl_defer_head, __ATOMIC_RELAXED);
}

/* Takes the oldest deferred event into ev; returns 0 when there is none. */
static int pop_deferred(struct sl_event *ev)
{
	if (!pending())
		return 0;
	unsigned h = __atomic_load_n(&sl_defer_head, __ATOMIC_RELAXED);
	const struct deferred_event *d = &deferred[h % SL_DEFER_MAX];
	*ev = (struct sl_event){.type = d->type, .fd = d->fd, .fd2 = d->fd2, .a = d->a, .b = d->b, .obj = d->obj};
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&sl_defer_head, h + 1, __ATOMIC_RELAXED);
	return 1;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ---- each thread's arena cache (core/arena.h, issue 12) ----
 *
 * A thread gets its cache at its first event, with the lock held. It must give its blocks back
 * when it exits: a pthread key's destructor does, with the lock (glibc runs key destructors in
 * every thread that pthread_create made, as it exits, on its own stack). The cache itself lives
 * in the arena, not in the thread's static TLS (which glibc carves out of every thread's stack,
 * and frees with it): a cache whose thread is gone without its destructor (a fork copied only one
 * thread; a destructor set too late to run) is still whole, and a forked child empties the
 * caches of the threads it does not have (become_child). The key is made at the program's first
 * pthread_create (sl_thread_caches_before_thread), not at start-up: a program that never makes a
 * thread has no cache (nothing shares its lists), and its pthread keys number as they do bare.
 *
 * pthread_setspecific may call calloc for a key past glibc's first 32, which a hook must not do
 * (a signal handler may have interrupted malloc): with such a key, no thread gets a cache, and
 * every thread takes blocks from the arena's own lists, as before. Nor under fault injection
 * (fail_alloc_after), which counts every allocation in the arena's own call. */
static pthread_key_t cache_key;
static int cache_key_usable; /* set (release) after cache_key */
/* 0: this thread has no cache yet; 1: it has one, or was refused one; 2: it is exiting, and its
 * cache was given back (a later key destructor of the program's may still close a socket). */
static __thread int cache_state SL_TLS_MODEL;
#define GLIBC_KEYS_WITHOUT_MALLOC 32 /* PTHREAD_KEY_2NDLEVEL_SIZE */

static void thread_cache_end(void *arg);
static void drain_deferred(void);

/* Called by the pthread_create interposer before the call: the first thread of a program that
 * started single-threaded makes the key, once sockleak is ready. Threads made before that (by
 * another library's constructor, or by a raw clone) take blocks from the arena's own lists. */
void sl_thread_caches_before_thread(void)
{
	static int tried;
	if (__atomic_load_n(&tried, __ATOMIC_ACQUIRE) || !sl_rt.ready || sl_rt.disabled ||
	    sl_rt.opt.fail_alloc_after != 0 || __atomic_exchange_n(&tried, 1, __ATOMIC_ACQ_REL))
		return;
	if (pthread_key_create(&cache_key, thread_cache_end) == 0 && (unsigned)cache_key < GLIBC_KEYS_WITHOUT_MALLOC)
		__atomic_store_n(&cache_key_usable, 1, __ATOMIC_RELEASE);
}

/* This thread's first event (the lock held): its cache. */
static __attribute__((noinline, cold)) void thread_cache_start(void)
{
	if (cache_state || !__atomic_load_n(&cache_key_usable, __ATOMIC_ACQUIRE))
		return;
	cache_state = 1;
	struct sl_arena_cache *c = sl_arena_cache_new(&sl_rt.arena);
	if (!c)
		return;
	if (pthread_setspecific(cache_key, c) != 0) {
		sl_arena_cache_free(c);
		return;
	}
	sl_arena_thread_cache = c;
}

static inline void thread_cache_check(void)
{
	if (SL_UNLIKELY(!sl_arena_thread_cache))
		thread_cache_start();
}

static int cache_listed(const struct sl_arena_cache *c)
{
	for (const struct sl_arena_cache *k = sl_rt.arena.caches; k; k = k->next)
		if (k == c)
			return 1;
	return 0;
}

/* The key's destructor: the thread is exiting, and its blocks go back to the arena. Not from
 * inside sockleak (a pthread_exit in a signal handler that interrupted a hook, the lock
 * perhaps this thread's): the cache is left whole, for a forked child to empty. A cache the
 * arena no longer lists (a raw clone's child started a new arena) is not the arena's to free.
 * Nor after the exit: the thread making the report takes memory from the arena without the
 * lock (exit_report.c), since no event changes the state any more. */
static void thread_cache_end(void *arg)
{
	if (sl_in_hook || sl_vfork_child)
		return;
	int saved_errno = errno;
	cache_state = 2;
	sl_arena_thread_cache = NULL;
	sl_lock_outside_hook();
	if (!sl_rt.state.exited && cache_listed(arg))
		sl_arena_cache_free(arg);
	sl_unlock_outside_hook();
	errno = saved_errno;
}

void sl_disable(const char *why)
{
	if (__atomic_exchange_n(&sl_rt.disabled, 1, __ATOMIC_ACQ_REL))
		return;
	__atomic_store_n(&sl_rt.disabled_why, why, __ATOMIC_RELEASE);
	sl_message("%s; tracking stopped, the program runs on without sockleak (no report)", why);
}

/* The lock: a futex word (0 free, 1 taken, 2 taken with waiters). Taking it uncontended is one
 * compare-and-swap, giving it back one exchange: every lifecycle event takes it, and a
 * pthread mutex cost four times as much (docs/performance.md). The futex calls are made with
 * the syscall instruction itself, not through syscall(), which sockleak interposes. */
static void drain_deferred(void);
static void arm_live(void);

static long futex(int *word, int op, int val)
{
	long ret;
	register long timeout __asm__("r10") = 0;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_futex), "D"(word), "S"((long)op), "d"((long)val), "r"(timeout)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Taking a lock another thread holds: spin for a while first. The lock is held for a few hundred
 * instructions, while sleeping on the futex and being woken costs two system calls and a
 * context switch each way: two threads churning connections on two cores ran at 0.83x bare,
 * with every futex call of the run made on this lock (issue 12). The spin is bounded, so that
 * a holder that lost its core costs a waiter no more than a few microseconds before it sleeps. */
#define SL_LOCK_SPINS 200

/* The processor's hint that this is a spin-wait loop; a compiler barrier elsewhere. */
static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static __attribute__((noinline)) void lock_contended(void)
{
	for (int i = 0; i < SL_LOCK_SPINS; i++) {
		spin_pause();
		int c = __atomic_load_n(&sl_rt.lock, __ATOMIC_RELAXED);
		if (c == 0 && __atomic_compare_exchange_n(&sl_rt.lock, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		if (c == 2)
			break; /* others sleep already: queue behind them */
	}
	int c = __atomic_exchange_n(&sl_rt.lock, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		futex(&sl_rt.lock, FUTEX_WAIT_PRIVATE, 2);
		c = __atomic_exchange_n(&sl_rt.lock, 2, __ATOMIC_ACQUIRE);
	}
}

void sl_lock(void)
{
	int c = 0;
	if (SL_LIKELY(__atomic_compare_exchange_n(&sl_rt.lock, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		return;
	lock_contended();
}

/* Takes the lock if it is free, without waiting; returns whether it did. */
static inline int sl_trylock(void)
{
	int c = 0;
	return __atomic_compare_exchange_n(&sl_rt.lock, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void sl_unlock(void)
{
	if (__atomic_exchange_n(&sl_rt.lock, 0, __ATOMIC_RELEASE) == 2)
		futex(&sl_rt.lock, FUTEX_WAKE_PRIVATE, 1);
}

/* ---- initialization ---- */


/* Options and suppressions are the user's words: a mistake in them stops the program at once,
 * as a sanitizer does, rather than running it unchecked while CI believes it is checked. */
static void fatal_config(const char *what)
{
	sl_message("%s", what);
	sl_message("stopping before the program starts: fix SOCKLEAK_OPTIONS (help=1 lists the options)");
	_exit(1);
}

/* getenv("SOCKLEAK_OPTIONS"), read from environ itself: getenv's binding cost every process
 * about 450 instructions at start-up (issue 12), and this is its one call. */
static const char *options_env(void)
{
	static const char name[] = "SOCKLEAK_OPTIONS=";
	extern char **environ;
	for (char **e = environ; e && *e; e++) {
		size_t i = 0;
		while (i < sizeof(name) - 1 && (*e)[i] == name[i])
			i++;
		if (i == sizeof(name) - 1)
			return *e + i;
	}
	return NULL;
}

static void do_init(void)
{
	int saved_errno = errno;
	int saved_guard = sl_in_hook;
	sl_in_hook = 1;

	__atomic_store_n(&sl_rt.lock, 0, __ATOMIC_RELAXED);
	sl_resolve_all();
	sl_options_defaults(&sl_rt.opt);
	char err[512];
	const char *env = options_env();
	if (env && sl_options_parse(&sl_rt.opt, env, err, sizeof(err)) < 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "SOCKLEAK_OPTIONS: %s", err);
		fatal_config(msg);
	}
	if (sl_rt.opt.help) {
		struct sl_out out;
		sl_out_init(&out, 2);
		sl_options_print_help(&out);
		sl_out_flush(&out);
	}
	if (sl_rt.opt.suppressions[0]) {
		struct sl_suppressions *supp = sl_supp_load(sl_rt.opt.suppressions, err, sizeof(err));
		if (!supp)
			fatal_config(err);
		sl_supp_free(supp); /* read again at exit, when it is used */
	}

	sl_rt.pid = getpid();
	sl_arena_init(&sl_rt.arena);
	sl_rt.arena.fail_after = sl_rt.opt.fail_alloc_after;
	sl_rt.stacks = sl_stacks_new(&sl_rt.arena);
	struct sl_state_config cfg = {.report_inherited = (int)sl_rt.opt.report_inherited};
	sl_state_init_zeroed(&sl_rt.state, &sl_rt.arena, sl_rt.stacks, &cfg); /* static: zero until now */
	if (sl_resolve_self_range(&sl_rt.self_lo, &sl_rt.self_hi) < 0)
		sl_modules_self_range((const void *)&do_init, &sl_rt.self_lo, &sl_rt.self_hi);
	sl_stack_main_thread();
	if (!sl_rt.stacks) {
		sl_rt.ready = 1;
		sl_disable("out of memory at start-up");
		goto out;
	}
	pthread_atfork(sl_fork_prepare, sl_fork_parent, sl_fork_child);
	if (sl_rt.opt.run_dir[0] && sl_log_open(sl_rt.opt.run_dir, 0) < 0) {
		sl_rt.ready = 1;
		sl_disable("the event log could not be created");
		goto out;
	}
	sl_rt.ready = 1;
	sl_stack_after_init();
	sl_files_configure(sl_rt.opt.track);
	/* CPython's API and Perl's destructor are looked for with dlsym, whose failing search
	 * costs every process without them about 2,000 instructions a name (issue 12): the
	 * objects read at start-up tell first whether any defines them. One loaded later with
	 * dlopen is looked for by the dlopen interposer (hooks_dl.c), as before. */
	if (sl_rt.opt.python && sl_resolve_defined_at_start("PyGILState_GetThisThreadState") != 0)
		sl_python_init();
	if (sl_resolve_defined_at_start("perl_destruct") != 0)
		sl_runtimes_init();
	sl_blind_spots_at_start();
out:
	arm_live();
	sl_in_hook = saved_guard;
	errno = saved_errno;
}

void sl_init(void)
{
	pthread_once(&init_once, do_init);
}

/* ---- a new process that no fork handler announced ---- */

static volatile int not_live;
static volatile int live_fallback = 1; /* where MADV_WIPEONFORK is not available */
volatile int *sl_live = &not_live;

/* Marks this process as the one sockleak's state belongs to. The page is mapped once; a
 * forked child gets it zeroed, and sl_fork_child sets the word again. */
static void arm_live(void)
{
	if (sl_live != &not_live) {
		__atomic_store_n(sl_live, 1, __ATOMIC_RELEASE);
		return;
	}
	volatile int *live = &live_fallback;
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED && madvise(page, 4096, MADV_WIPEONFORK) == 0)
		live = page;
	else if (page != MAP_FAILED)
		munmap(page, 4096);
	/* The word first, then the pointer: a thread that sees the page sees it armed. */
	__atomic_store_n(live, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&sl_live, live, __ATOMIC_RELEASE);
}

static void become_child(int parent);
static void forget_stack_cache(void);

/* This process was made by clone() without CLONE_VM and without glibc's fork (so no fork
 * handler ran): its state is a copy of the parent's, and its event log the parent's file. It
 * becomes a forked child here, at its first hook. If sockleak's lock was held at the clone,
 * another thread of the parent was updating the state: the copy may be half-updated, and is
 * never walked. The child then starts with nothing tracked, and its report says so. */
static void cloned_child(void)
{
	int zero = 0;
	if (!__atomic_compare_exchange_n((int *)sl_live, &zero, 2, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	int saved_errno = errno;
	int guard = sl_in_hook;
	sl_in_hook = 1;
	int parent = (int)sl_rt.pid;
	int unsafe = __atomic_load_n(&sl_rt.lock, __ATOMIC_RELAXED) != 0;
	__atomic_store_n(&sl_rt.lock, 0, __ATOMIC_RELAXED);
	if (unsafe && !sl_rt.disabled) {
		long fail_after = sl_rt.arena.fail_after;
		sl_arena_init(&sl_rt.arena);
		sl_rt.arena.fail_after = fail_after;
		sl_rt.stacks = sl_stacks_new(&sl_rt.arena);
		struct sl_state_config cfg = {.report_inherited = (int)sl_rt.opt.report_inherited};
		sl_state_init(&sl_rt.state, &sl_rt.arena, sl_rt.stacks, &cfg);
		forget_stack_cache();
		/* This thread's cache was the old arena's: it gets a new one at its next event. */
		sl_arena_thread_cache = NULL;
		cache_state = 0;
		__atomic_store_n(&sl_defer_head, __atomic_load_n(&sl_defer_tail, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		if (!sl_rt.stacks)
			sl_rt.disabled = 1;
	}
	sl_lock();
	become_child(parent);
	if (unsafe && !sl_rt.state.exited && !sl_rt.disabled) {
		struct sl_event ev = {.type = SL_EV_BLIND, .a = SL_BLIND_CLONE_UNSAFE};
		sl_apply_locked(&ev);
	}
	sl_unlock();
	__atomic_store_n(sl_live, 1, __ATOMIC_RELEASE);
	sl_in_hook = guard;
	errno = saved_errno;
}

/* Whether this is a process made by a raw clone that has not become a child of its own yet.
 * Not before the page is armed: initialization may have set ready and not armed it yet. Not
 * inside sockleak on this thread: a fork's handlers are running, and sl_fork_child arms the
 * word again. */
static int raw_clone_child(void)
{
	volatile int *live = __atomic_load_n(&sl_live, __ATOMIC_ACQUIRE);
	return live != &not_live && !__atomic_load_n(live, __ATOMIC_ACQUIRE) && !sl_in_hook && !sl_vfork_child;
}

int sl_active_slow(void)
{
	if (__atomic_load_n(&sl_live, __ATOMIC_ACQUIRE) == &not_live) {
		if (!sl_rt.ready) {
			if (sl_in_hook)
				return 0;
			sl_init();
		}
		return !sl_rt.disabled;
	}
	if (raw_clone_child())
		cloned_child();
	return !sl_rt.disabled;
}

void sl_check_new_process(void)
{
	if (raw_clone_child())
		cloned_child();
}

__attribute__((constructor)) static void sl_constructor(void)
{
	sl_init();
}

/* For tests and benchmarks, not an API: the bytes sockleak's tables hold now (its arena's
 * bytes_in_use) and what the arena has taken from the kernel. A program that watches sockleak's
 * memory under load looks it up with dlsym(RTLD_DEFAULT, "sockleak_memory")
 * (tests/reliability/churn_server.c). */
SL_EXPORT void sockleak_memory(size_t *in_use, size_t *mapped)
{
	*in_use = *mapped = 0;
	if (!sl_rt.ready || sl_in_hook)
		return;
	sl_lock_outside_hook();
	if (!sl_rt.state.exited && !sl_rt.disabled)
		sl_apply_ends_locked();
	*in_use = sl_arena_in_use(&sl_rt.arena);
	*mapped = sl_rt.arena.bytes_mapped;
	sl_unlock_outside_hook();
}

/* The lock taken by code outside a hook (the re-entry guard clear): the guard is set while it is
 * held, so that a signal handler's socket meanwhile is deferred instead of waiting for ever on
 * this thread's lock, and what it deferred is applied after. */
void sl_lock_outside_hook(void)
{
	sl_in_hook = 1;
	sl_lock();
}

void sl_unlock_outside_hook(void)
{
	sl_unlock();
	sl_guard_restore(0);
}

/* The end of a section of sockleak's own work outside an event (dlsym, libunwind, the module
 * list): the re-entry guard back to what it was, and when that is clear, a signal handler's
 * events queued meanwhile applied now rather than at this thread's next event (a program that
 * calls dlopen in a loop while a timer's handler makes sockets filled the queue, and tracking
 * stopped). */
void sl_guard_restore(int guard)
{
	sl_in_hook = guard;
	if (!guard && SL_UNLIKELY(pending()))
		drain_deferred();
}

/* ---- recording ---- */

void sl_defer(const struct sl_event *ev)
{
	if (pending() >= SL_DEFER_MAX) {
		deferred_lost++;
		return;
	}
	unsigned t = __atomic_load_n(&sl_defer_tail, __ATOMIC_RELAXED);
	__atomic_store_n(&sl_defer_tail, t + 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* The address lives in the caller's frame, gone by the time this is applied: left out. */
	struct deferred_event *slot = &deferred[t % SL_DEFER_MAX];
	slot->type = ev->type;
	slot->fd = ev->fd;
	slot->fd2 = ev->fd2;
	slot->a = ev->a;
	slot->b = ev->b;
	slot->obj = ev->obj;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

int sl_deferred_opens(int fd)
{
	unsigned h = __atomic_load_n(&sl_defer_head, __ATOMIC_RELAXED), n = pending();
	for (unsigned i = 0; i < n && i < SL_DEFER_MAX; i++) {
		const struct deferred_event *e = &deferred[(h + i) % SL_DEFER_MAX];
		switch (e->type) {
		case SL_EV_SOCKET:
		case SL_EV_EPOLL_CREATE:
			if (e->fd == fd)
				return 1;
			break;
		case SL_EV_SOCKETPAIR:
			if (e->fd == fd || e->fd2 == fd)
				return 1;
			break;
		case SL_EV_ACCEPT:
		case SL_EV_RECEIVED:
		case SL_EV_DUP:
			if (e->fd2 == fd)
				return 1;
			break;
		}
	}
	return 0;
}

/* Asks the kernel for the addresses of a transport about to be reported. */
void sl_fill_addrs_locked(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sl_event ev = {.type = SL_EV_ADDR, .fd = fd};
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		ev.a = 0;
		ev.addr = &ss;
		ev.addrlen = (uint16_t)(len < sizeof(ss) ? len : sizeof(ss));
		sl_apply_locked(&ev);
	}
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		ev.a = 1;
		ev.addr = &ss;
		ev.addrlen = (uint16_t)(len < sizeof(ss) ? len : sizeof(ss));
		sl_apply_locked(&ev);
	}
}

void sl_apply_locked(struct sl_event *ev)
{
	if (sl_log_active)
		sl_log_event(ev);
	sl_state_apply(&sl_rt.state, ev);
}

/* Everything that follows an applied event, with the lock held. */
static void after_apply(void)
{
	struct sl_event ev;
	while (pop_deferred(&ev))
		sl_apply_locked(&ev);
	int fds[16];
	int n = sl_state_take_want_addr(&sl_rt.state, fds, 16);
	for (int i = 0; i < n; i++)
		sl_fill_addrs_locked(fds[i]);
}

/* The stacks this thread interned last: a program makes its sockets at a few call sites, again
 * and again, and comparing a few words is cheaper than hashing and looking a stack up. Four
 * entries, because a server thread alternates between accept's stack and epoll_ctl's.
 *
 * An entry points at the stack's frames in the store instead of holding a copy (static TLS
 * comes out of every thread's stack: four copies of 16 frames took 544 bytes). Interned stacks
 * are never freed or moved, and the lock is held while they are compared. */
#define LAST_ENTRIES 4
struct last_stack {
	const uint64_t *pcs;
	uint32_t id;
	uint32_t n;
};
static __thread struct last_stack last[LAST_ENTRIES] SL_TLS_MODEL;

/* The stack ids cached here belong to a stack store that is being replaced (cloned_child). */
static void forget_stack_cache(void)
{
	memset(last, 0, sizeof(last));
}

/* A few words, compared inline: a call to memcmp costs more than the comparison. */
static inline int same_stack(const struct last_stack *e, const struct sl_capture *cap)
{
	if (e->n != cap->n || !e->id)
		return 0;
	for (unsigned i = 0; i < cap->n; i++)
		if (e->pcs[i] != cap->pcs[i])
			return 0;
	return 1;
}

/* A stack this thread interned lately: compared without the lock, since interned stacks are
 * never freed or moved, and the entries are this thread's own. */
/* An entry's place: two ways of a set chosen by the stack's first frame, so that a lookup
 * compares at most two entries (a loop over four cost about 50 instructions per stack). */
static inline unsigned cache_set(uint64_t first_pc)
{
	return (unsigned)((first_pc >> 4) ^ (first_pc >> 12)) % (LAST_ENTRIES / 2) * 2;
}

static uint32_t intern_cached(const struct sl_capture *cap)
{
	unsigned i = cache_set(cap->pcs[0]);
	if (same_stack(&last[i], cap))
		return last[i].id;
	if (same_stack(&last[i + 1], cap))
		return last[i + 1].id;
	return 0;
}

/* The same for a stack of one frame (an EPOLL_CTL_ADD's caller). */
static inline uint32_t intern_one_cached(uint64_t pc)
{
	unsigned i = cache_set(pc);
	for (unsigned k = i; k < i + 2; k++)
		if (last[k].n == 1 && last[k].id && last[k].pcs[0] == pc)
			return last[k].id;
	return 0;
}

/* A stack not in the cache: interned in the store, with the lock held, and cached in its set
 * (the older of its two entries goes). */
static uint32_t intern_pcs_locked(const uint64_t *frames, unsigned n)
{
	uint32_t id = sl_stacks_add_native(sl_rt.stacks, frames, n);
	unsigned depth;
	const uint64_t *pcs;
	if (id && sl_stacks_get(sl_rt.stacks, id, &depth, &pcs) == SL_STACK_NATIVE && depth == n) {
		unsigned i = cache_set(frames[0]);
		last[i + 1] = last[i];
		struct last_stack *e = &last[i];
		e->pcs = pcs;
		e->n = depth;
		e->id = id;
	}
	return id;
}

static uint32_t intern_native_locked(const struct sl_capture *cap)
{
	return intern_pcs_locked(cap->pcs, cap->n);
}

/* Events a signal handler could not queue (sl_defer): sockleak's state is incomplete. */
static __attribute__((noinline, cold)) void note_lost(void)
{
	deferred_lost = 0;
	sl_disable("too many socket calls from signal handlers inside sockleak's own code");
}

/* The record the CLOSE_BEGIN this thread committed last set aside (sl_close_begin). */
static __thread struct sl_closing *begun SL_TLS_MODEL;

static inline __attribute__((always_inline)) void commit_here(struct sl_event *ev, const struct sl_capture *cap,
							    int is_begin)
{
	/* What needs no lock is done before taking it: the lock serializes every thread's events. */
	uint32_t stack = cap && cap->n ? intern_cached(cap) : 0;
	sl_lock();
	if (sl_rt.state.exited || sl_rt.disabled) {
		sl_unlock();
		return;
	}
	thread_cache_check();
	sl_apply_ends_locked();
	if (cap && cap->n)
		ev->stack = stack ? stack : intern_native_locked(cap);
	if (cap && cap->npy)
		ev->pystack = sl_python_intern(cap);
	/* A socket closed during exit-time cleanup will be reported: its addresses are worth a
	 * system call now, while the descriptor still exists. */
	if (SL_UNLIKELY(sl_rt.state.exit_phase) &&
	    (ev->type == SL_EV_CLOSE || (ev->type == SL_EV_CLOSE_BEGIN && ev->fd == ev->fd2)))
		sl_fill_addrs_locked(ev->fd);
	sl_apply_locked(ev);
	if (is_begin)
		begun = sl_state_last_closing(&sl_rt.state, ev->obj);
	int lost = 0;
	if (SL_UNLIKELY(pending() || sl_rt.state.n_want_addr)) {
		after_apply();
		/* An event is lost only when the queue was full, so never without one pending. */
		lost = deferred_lost;
	}
	int oom = sl_rt.state.out_of_memory;
	sl_unlock();
	if (SL_UNLIKELY(oom))
		sl_disable("out of memory inside sockleak");
	if (SL_UNLIKELY(lost))
		note_lost();
}

/* Committing an event (taking the lock, interning the stack, applying the event, writing it
 * to the log) needs about 3 KiB of stack below the hook's frame; a thread with less room left
 * (a signal handler on a small alternate stack, a program deep in its own recursion) commits
 * on a stack mapped for the call instead: slower, but neither a crash nor an event lost. */
#define COMMIT_BUDGET (6 * 1024)
#define COMMIT_STACK_SIZE (64 * 1024)

struct commit_args {
	struct sl_event *ev;
	const struct sl_capture *cap;
};

static __attribute__((noinline)) void commit_on_own_stack(void *p)
{
	struct commit_args *a = p;
	commit_here(a->ev, a->cap, a->ev->type == SL_EV_CLOSE_BEGIN);
}

/* is_begin: the event is a close's begin, whose record sl_close_begin hands back (a constant
 * where this is inlined, so that other events do not test it). */
static inline __attribute__((always_inline)) void commit(struct sl_event *ev, const struct sl_capture *cap,
							int is_begin)
{
	if (SL_LIKELY(sl_stack_room() >= COMMIT_BUDGET)) {
		commit_here(ev, cap, is_begin);
		return;
	}
	struct commit_args a = {ev, cap};
	if (sl_on_own_stack(commit_on_own_stack, &a, COMMIT_STACK_SIZE) < 0)
		sl_disable("a thread had too little stack left to record a socket call, and no memory could be mapped for one");
}

/* Applies what signal handlers deferred after this thread's last drain (after_apply): a signal
 * that lands after the drain and before sl_in_hook is cleared would otherwise leave its events
 * queued until this thread's next event, while the program goes on to close those sockets. */
static void drain_deferred(void)
{
	while (SL_UNLIKELY(pending() > 0)) {
		sl_in_hook = 1;
		sl_lock();
		if (!sl_rt.state.exited && !sl_rt.disabled) {
			sl_apply_ends_locked();
			after_apply();
		}
		else
			__atomic_store_n(&sl_defer_head, __atomic_load_n(&sl_defer_tail, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		sl_unlock();
		sl_in_hook = 0;
	}
	if (SL_UNLIKELY(deferred_lost))
		note_lost();
}

void sl_record(struct sl_event *ev)
{
	if (sl_in_hook) {
		sl_defer(ev);
		return;
	}
	int *err = sl_errno(), saved = *err;
	sl_in_hook = 1;
	commit(ev, NULL, 0);
	sl_in_hook = 0;
	if (SL_UNLIKELY(pending()))
		drain_deferred();
	*err = saved;
}

/* The begin of a close: committed as any event, and the record it set aside handed back. */
struct sl_closing *sl_close_begin(struct sl_event *ev)
{
	if (sl_in_hook) {
		sl_defer(ev);
		return SL_CLOSE_DEFERRED;
	}
	int *err = sl_errno(), saved = *err;
	sl_in_hook = 1;
	begun = NULL;
	commit(ev, NULL, 1);
	struct sl_closing *c = begun;
	sl_in_hook = 0;
	if (SL_UNLIKELY(pending()))
		drain_deferred();
	*err = saved;
	return c;
}

/* The rare paths of a close's end (sl_close_end_here), each keeping the program's errno, as the
 * real close left it. Events a signal handler queued meanwhile: */
static __attribute__((noinline, cold)) void close_end_drain(void)
{
	int *err = sl_errno(), saved = *err;
	drain_deferred();
	*err = saved;
}

/* With the lock held: queued events, or addresses to ask for a finding just raised. Returns
 * whether events were lost. */
static __attribute__((noinline, cold)) int close_end_after_apply(void)
{
	int *err = sl_errno(), saved = *err;
	after_apply();
	*err = saved;
	return deferred_lost != 0;
}

static __attribute__((noinline, cold)) void close_end_trouble(int oom, int lost)
{
	int *err = sl_errno(), saved = *err;
	if (oom)
		sl_disable("out of memory inside sockleak");
	if (lost)
		note_lost();
	*err = saved;
}

/* The end of one close, handed over or the thread's own (lock held). */
static inline void apply_end(struct sl_closing *e)
{
	if (SL_UNLIKELY(sl_log_active)) {
		struct sl_event ev = {.type = SL_EV_CLOSE_END, .obj = e->key, .a = e->end_outcome, .b = e->end_now};
		sl_apply_locked(&ev);
	} else {
		sl_state_close_end(&sl_rt.state, e, e->end_outcome, e->end_now);
	}
}

int sl_close_end_here(struct sl_closing *c)
{
	/* Inside sockleak before the lock is tried: a signal handler's socket() between taking the
	 * lock and setting the guard would wait for ever for the lock its own thread holds. */
	sl_in_hook = 1;
	if (SL_UNLIKELY(!sl_trylock())) {
		sl_in_hook = 0;
		if (SL_UNLIKELY(pending()))
			close_end_drain();
		return 0;
	}
	int oom = 0, lost = 0;
	if (SL_LIKELY(!sl_rt.state.exited && !sl_rt.disabled)) {
		sl_apply_ends_locked();
		apply_end(c);
		/* Finishing a transport may raise a finding whose addresses are asked for. */
		if (SL_UNLIKELY(pending() || sl_rt.state.n_want_addr))
			lost = close_end_after_apply();
		oom = sl_rt.state.out_of_memory;
	}
	sl_unlock();
	if (SL_UNLIKELY(oom | lost))
		close_end_trouble(oom, lost);
	sl_in_hook = 0;
	if (SL_UNLIKELY(pending()))
		close_end_drain();
	return 1;
}

void sl_apply_ends_slow(void)
{
	struct sl_closing *c = __atomic_exchange_n(&sl_rt.ends, NULL, __ATOMIC_ACQUIRE), *fifo = NULL;
	while (c) { /* in the order they were handed over */
		struct sl_closing *next = c->end_next;
		c->end_next = fifo;
		fifo = c;
		c = next;
	}
	while (fifo) {
		/* Read before applying: the end frees the record. */
		struct sl_closing *e = fifo;
		fifo = fifo->end_next;
		apply_end(e);
	}
}

/* The Python traceback, in a frame of its own: its frames take 2 KiB of stack, which the hooks
 * of a program without Python should not pay for. Taken only with room for CPython's calls. */
static __attribute__((noinline)) void commit_with_python(struct sl_event *ev, struct sl_capture *cap)
{
	struct sl_pyframe_raw py[SL_STACK_MAX_DEPTH];
	cap->py = py;
	if (sl_stack_room() >= SL_PYTHON_BUDGET) {
		sl_python_capture(cap);
	} else if (cap->n == 0) {
		cap->pcs[0] = SL_STACK_NOT_TAKEN_PC;
		cap->n = 1;
	}
	commit(ev, cap, 0);
	cap->py = NULL;
}

/* The second half of sl_record_with_stack (preload.h), after the capture made in the hook's
 * own frame: the Python traceback, the commit, and leaving sockleak. */
void sl_commit_capture(struct sl_event *ev, struct sl_capture *cap, int saved_errno)
{
	if (sl_python_ready && sl_rt.opt.python)
		commit_with_python(ev, cap);
	else
		commit(ev, cap, 0);
	sl_in_hook = 0;
	if (SL_UNLIKELY(pending()))
		drain_deferred();
	*sl_errno() = saved_errno;
}

/* An epoll_ctl of a tracked socket in a tracked set (hooks_epoll.c): a program's event loop may
 * make several for every request (redis-benchmark: two ADD, two DEL and one MOD), so the common
 * case takes a path of its own: no event built, the state changed directly, and a caller's
 * one-frame stack found in this thread's cache before the lock. Anything else (a signal handler
 * inside sockleak, an event log to write, a Python traceback to take, little stack left) takes
 * the general path. */
void sl_record_epoll_ctl(int epfd, int op, int fd, uint32_t events, const void *caller)
{
	if (SL_UNLIKELY(sl_in_hook || sl_log_active || (caller && sl_python_ready && sl_rt.opt.python) ||
			sl_stack_room() < COMMIT_BUDGET)) {
		struct sl_event ev = {.type = SL_EV_EPOLL_CTL, .fd = epfd, .fd2 = fd, .a = op, .b = events};
		if (caller)
			sl_record_with_caller(&ev, caller);
		else
			sl_record(&ev);
		return;
	}
	int *err = sl_errno(), saved = *err;
	sl_in_hook = 1;
	uint64_t pc = (uint64_t)(uintptr_t)caller;
	uint32_t stack = caller ? intern_one_cached(pc) : 0;
	int oom = 0;
	sl_lock();
	if (SL_LIKELY(!sl_rt.state.exited && !sl_rt.disabled)) {
		thread_cache_check();
		sl_apply_ends_locked();
		if (caller && !stack)
			stack = intern_pcs_locked(&pc, 1);
		sl_state_epoll_ctl(&sl_rt.state, epfd, op, fd, events, stack);
		if (SL_UNLIKELY(pending() || sl_rt.state.n_want_addr))
			after_apply();
		oom = sl_rt.state.out_of_memory;
	}
	sl_unlock();
	if (SL_UNLIKELY(oom))
		sl_disable("out of memory inside sockleak");
	sl_in_hook = 0;
	if (SL_UNLIKELY(pending()))
		drain_deferred();
	*err = saved;
}

/* An event whose stack is one frame, the given return address (and a Python traceback). */
void sl_record_with_caller(struct sl_event *ev, const void *caller)
{
	if (sl_in_hook) {
		sl_defer(ev);
		return;
	}
	int saved = *sl_errno();
	sl_in_hook = 1;
	struct sl_capture cap;
	cap.pcs[0] = (uint64_t)(uintptr_t)caller;
	cap.n = 1;
	cap.npy = 0;
	cap.py = NULL;
	sl_commit_capture(ev, &cap, saved);
}

int sl_ssl_free_wants_stack(uint64_t ssl)
{
	if (sl_in_hook)
		return 0;
	sl_lock_outside_hook();
	int wants = !sl_rt.state.exited && sl_tls_free_wants_stack(&sl_rt.state, ssl);
	sl_unlock_outside_hook();
	return wants;
}

/* ---- fork ---- */

static int fork_saved_guard;

void sl_fork_prepare(void)
{
	if (!sl_rt.ready || sl_vfork_child)
		return;
	fork_saved_guard = sl_in_hook;
	sl_in_hook = 1; /* hooks run by other fork handlers defer their events */
	sl_lock();
	if (!sl_rt.state.exited && !sl_rt.disabled)
		sl_apply_ends_locked();
}

void sl_fork_parent(void)
{
	if (!sl_rt.ready || sl_vfork_child)
		return;
	if (!sl_rt.state.exited && !sl_rt.disabled)
		after_apply();
	sl_unlock();
	sl_in_hook = fork_saved_guard;
}

void sl_fork_child(void)
{
	if (!sl_rt.ready || sl_vfork_child)
		return;
	/* The child has one thread: whoever held the lock in the parent is not here. */
	__atomic_store_n(&sl_rt.lock, 0, __ATOMIC_RELAXED);
	sl_python_fork_child();
	/* The parent is the process that forked, whose pid sockleak still holds: getppid() would
	 * name init (or a subreaper) if the parent exited already. */
	become_child((int)sl_rt.pid);
	arm_live();
	sl_in_hook = fork_saved_guard;
}

/* A forked (or cloned) child takes its own pid, and its own event log that opens with what it
 * inherited. Called with the lock held (or free in a process of one thread). */
static void become_child(int parent)
{
	sl_rt.pid = getpid();
	/* Closes ended in the parent after its fork handler ran: the child drops what was under
	 * way (forked_event), and their threads are not here. */
	__atomic_store_n(&sl_rt.ends, NULL, __ATOMIC_RELAXED);
	/* Nor are the other threads, whose caches would keep their blocks for ever. */
	sl_arena_caches_keep_only(&sl_rt.arena, sl_arena_thread_cache);
	if (!sl_rt.state.exited && !sl_rt.disabled) {
		/* Events deferred before the fork happened in the parent: part of what the child inherits. */
		struct sl_event early;
		while (pop_deferred(&early))
			sl_state_apply(&sl_rt.state, &early);
		sl_log_fork_child(parent);
		struct sl_event ev = {.type = SL_EV_FORKED,
				      .a = (int64_t)sl_rt.state.next_transport_id,
				      .b = (int64_t)sl_rt.state.next_epoll_id};
		sl_state_apply(&sl_rt.state, &ev);
	}
}
