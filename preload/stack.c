/* Creation stacks, captured with libunwind. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload.h"
#include "unwind_pipe.h"

typedef int (*backtrace_fn)(void **buffer, int size);

static uint64_t libc_lo, libc_hi; /* the C library, whose frames end every stack */

static int in_libc(uint64_t pc)
{
	return pc >= libc_lo && pc < libc_hi;
}

typedef int (*caching_policy_fn)(void *as, int policy);


/* libunwind is loaded privately: linked normally, its exported backtrace() and _Unwind_*
 * functions would take the place of glibc's and libgcc's in the host program, changing how the
 * program's own C++ exceptions unwind. */
static int load_unwind(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
	backtrace_fn bt = (backtrace_fn)dlsym(h, "unw_backtrace");
	sl_modules_self_range(sl_resolve("close"), &libc_lo, &libc_hi);
	/* Before anything starts libunwind (the caching policy does): its pipe is made then. */
	if (bt)
		sl_unw_install((const void *)bt);
	caching_policy_fn set_policy = (caching_policy_fn)dlsym(h, "_ULx86_64_set_caching_policy");
	void **as = dlsym(h, "_ULx86_64_local_addr_space");
	/* A per-thread cache needs no lock, so capturing never blocks on another thread. */
	if (set_policy && as)
		set_policy(*as, 2 /* UNW_CACHE_PER_THREAD */);
	/* Published last: a walk starts only once libunwind is set up. */
	__atomic_store_n(&sl_unw_backtrace, bt, __ATOMIC_RELEASE);
	return bt ? 0 : -1;
}

/* ---- loading libunwind when it is first needed ----
 *
 * Loading libunwind (and liblzma, which it needs) cost 207,000 instructions at the start of
 * every process, most of which never take a stack. It is loaded instead at the first stack
 * walk, or earlier at the last moment it still can be: dlopen takes the dynamic loader's lock
 * and calls malloc, and a hook must never do either while another thread may hold that lock
 * and wait for us (a dlopen'ed library's constructor waiting for a thread that calls socket():
 * tests/reliability/libearly.c), nor inside a signal handler that interrupted malloc or dlopen.
 * So it is loaded only while the process has one thread (glibc's __libc_single_threaded) and no
 * signal handler of the program's can be running:
 *   - at the first stack walk, when no handler was ever installed;
 *   - at the first pthread_create, before the new thread exists;
 *   - at the first sigaction, signal, sigset, sysv_signal or bsd_signal that installs a
 *     handler, before the handler can run (hooks_unwind_load.c).
 * A process whose threads or handlers came by another way (a raw clone or rt_sigaction system
 * call) before its first walk is reported without creation stacks, and told so once. */
extern char __libc_single_threaded;

enum { UNW_NOT_YET, UNW_LOADING, UNW_LOADED, UNW_UNAVAILABLE };
static int unw_state;
int sl_handlers_installed; /* the program installed a signal handler */

/* dlopen and libunwind's set-up use a few KiB of stack (its relocations, liblzma's): with
 * less room than this left they run on a stack mapped for the call. */
#define LOAD_BUDGET (64 * 1024)

static void load_on_stack(void *p)
{
	*(int *)p = load_unwind();
}

/* Loads libunwind if the process has one thread; returns whether it is loaded. */
static int load_now(void)
{
	int state = __atomic_load_n(&unw_state, __ATOMIC_ACQUIRE);
	if (state != UNW_NOT_YET)
		return state == UNW_LOADED;
	if (sl_rt.opt.stack_depth <= 0 || sl_vfork_child)
		return 0;
	if (!__libc_single_threaded) {
		unw_state = UNW_UNAVAILABLE;
		sl_message("threads were started before libunwind could be loaded safely: transports are reported without creation stacks");
		return 0;
	}
	unw_state = UNW_LOADING; /* anything libunwind's loading calls back into finds it busy */
	int saved = errno;
	int guard = sl_in_hook;
	sl_in_hook = 1; /* dlopen opens files and allocates: none of that is the program's */
	int rc = -1;
	if (sl_stack_room() >= LOAD_BUDGET)
		rc = load_unwind();
	else if (sl_on_own_stack(load_on_stack, &rc, 4 * LOAD_BUDGET) < 0)
		rc = -1;
	sl_in_hook = guard;
	errno = saved;
	__atomic_store_n(&unw_state, rc == 0 ? UNW_LOADED : UNW_UNAVAILABLE, __ATOMIC_RELEASE);
	if (rc != 0)
		sl_message("libunwind.so.8 could not be loaded: transports are reported without creation stacks");
	return rc == 0;
}

int sl_stack_load(void)
{
	if (__atomic_load_n(&sl_handlers_installed, __ATOMIC_RELAXED)) {
		/* A handler was installed, and libunwind could not be loaded before it (threads ran
		 * already): a walk now may be inside that handler. */
		return __atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) == UNW_LOADED;
	}
	return load_now();
}

void sl_stack_before_thread(void)
{
	if (__atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) == UNW_NOT_YET && sl_active())
		load_now();
}

/* Called once sockleak is ready (hooks_unwind_load.c says why not before). */
void sl_stack_before_handler(void)
{
	if (__atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) == UNW_NOT_YET && !sl_rt.disabled)
		load_now();
	__atomic_store_n(&sl_handlers_installed, 1, __ATOMIC_RELAXED);
}

void sl_stack_after_init(void)
{
	if (__atomic_load_n(&sl_handlers_installed, __ATOMIC_RELAXED))
		load_now();
}

/* ---- the room left on this thread's stack ---- */

__thread uintptr_t sl_stack_lo SL_TLS_MODEL, sl_stack_min SL_TLS_MODEL, sl_stack_span SL_TLS_MODEL;

/* The main thread's stack, learned at start-up (its pthread_getattr_np reads /proc/self/maps
 * with stdio). The top is __libc_stack_end, a little under the true top (the arguments and
 * environment sit above it), and the stack may grow down to RLIMIT_STACK below the true top:
 * counting the limit from __libc_stack_end errs on the side of less room. An unlimited stack is
 * taken as room without end. */
extern void *__libc_stack_end;
/* The main thread, known by the address of one of its thread-local variables (the thread
 * pointer plus a fixed offset: no two live threads share it). pthread_self would do as well,
 * but its binding cost every process about 500 instructions at start-up (issue 12). */
static uintptr_t main_thread;

static int on_main_thread(void)
{
	return (uintptr_t)&sl_in_hook == main_thread;
}
static uintptr_t main_lo, main_span;
static int main_known;      /* main_lo and main_span are read (at the first room asked there) */
static int vm_read_refused; /* process_vm_readv is refused (a seccomp filter) */

void sl_stack_main_thread(void)
{
	main_thread = (uintptr_t)&sl_in_hook;
}

/* The main thread's range, read at its first slow room check rather than at start-up: a process
 * that never asks pays no getrlimit, and a limit the program lowered since is the one that holds. */
static void learn_main_stack(void)
{
	uintptr_t top = (uintptr_t)__libc_stack_end;
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= top)
		main_lo = 0;
	else
		main_lo = top - rl.rlim_cur;
	main_span = top - main_lo;
	main_known = 1;
}

/* The room below the caller's frame when this is the main thread on its own stack, whose range
 * RLIMIT_STACK gives; 0 anywhere else (another thread, a signal's alternate stack), where only
 * a probe could tell. The limit is read again each time: the kernel grows the stack to the
 * limit of the moment, and the exit that relies on this room (exit_report.c) may come after
 * the program lowered it; counted from the limit read at the first handler, it ran out of
 * stack where the program exits bare (review of issue 12). */
size_t sl_stack_room_main(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	if (!on_main_thread())
		return 0;
	int saved = errno;
	learn_main_stack();
	errno = saved;
	return main_span && sp - main_lo < main_span ? sp - main_lo : 0;
}

/* How many pages below the stack pointer are readable, up to PROBE_PAGES: one byte of each is
 * read with process_vm_readv on our own process, which stops at the first page it cannot read
 * (a thread stack's guard page, or nothing mapped) and needs no descriptor. -1 if refused. */
#define PROBE_PAGES 5
_Static_assert((PROBE_PAGES - 1) * 4096 >= SL_PYTHON_BUDGET && SL_PYTHON_BUDGET >= SL_WALK_BUDGET,
	       "a probe must see past the largest budget");
static int readable_pages_below(uintptr_t page0, uintptr_t page)
{
	char sink[PROBE_PAGES];
	struct iovec local = {.iov_base = sink, .iov_len = sizeof(sink)};
	struct iovec remote[PROBE_PAGES];
	for (int i = 0; i < PROBE_PAGES; i++) {
		remote[i].iov_base = (void *)(page0 - (uintptr_t)(i + 1) * page);
		remote[i].iov_len = 1;
	}
	ssize_t n = process_vm_readv(getpid(), &local, 1, remote, PROBE_PAGES, 0);
	if (n >= 0)
		return (int)n;
	if (errno == EFAULT)
		return 0;
	return -1;
}

/* Not known yet, or not from here: the stack pointer is outside the range this thread learned.
 *
 * The main thread's range is its stack's. Another thread's is learned by probing: the pages
 * below the stack pointer are read until one cannot be (the guard page glibc puts below every
 * thread stack) or until PROBE_PAGES, more than any budget. pthread_getattr_np would give the
 * bounds, but it calls realloc, and a hook must not (a signal handler may have interrupted
 * malloc). [lo, lo + span) is then the range known to be this stack, and room is counted from
 * lo; when lo is not the stack's end but only as far as the probe went, min is set so that the
 * range answers only for room of at least PROBE_PAGES - 1 pages, and nearer lo it probes again.
 * A signal's alternate stack is told by sigaltstack, not probed: it often lies in the heap. */
size_t sl_stack_room_slow(uintptr_t sp)
{
	if (!main_known && on_main_thread()) {
		int saved = errno;
		learn_main_stack();
		errno = saved;
	}
	if (main_span && sp - main_lo < main_span && on_main_thread()) {
		sl_stack_lo = main_lo;
		sl_stack_min = 0;
		sl_stack_span = main_span;
		return sp - main_lo;
	}
	stack_t ss;
	int saved = errno;
	if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK) && sp - (uintptr_t)ss.ss_sp < ss.ss_size) {
		errno = saved;
		return sp - (uintptr_t)ss.ss_sp;
	}
	if (vm_read_refused) {
		errno = saved;
		return SIZE_MAX;
	}
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t page0 = sp & ~(page - 1);
	int n = readable_pages_below(page0, page);
	errno = saved;
	if (n < 0) {
		vm_read_refused = 1;
		return SIZE_MAX;
	}
	uintptr_t lo = page0 - (uintptr_t)n * page, top = page0 + page;
	int end_found = n < PROBE_PAGES;
	/* Joined to what this thread knew, when the two ranges meet: both are readable, and one. */
	uintptr_t old_top = sl_stack_lo + sl_stack_min + sl_stack_span;
	if (sl_stack_span && sl_stack_lo <= top && lo <= old_top) {
		if (sl_stack_lo < lo) {
			lo = sl_stack_lo;
			end_found = sl_stack_min == 0;
		}
		if (old_top > top)
			top = old_top;
	}
	sl_stack_lo = lo;
	sl_stack_min = end_found ? 0 : (PROBE_PAGES - 1) * page;
	sl_stack_span = top - lo - sl_stack_min;
	return sp - lo;
}

/* The capture itself is sl_stack_capture_inline (preload.h): inlined where the event is
 * recorded, so that libunwind walks one frame of sockleak's fewer for every stack. */
int (*sl_unw_backtrace)(void **buffer, int size);


/* What a full walk from one call site looked like, per thread: how many of sockleak's frames
 * came first, how many of the program's followed, and the return address of the start frame
 * below them (in start_thread, or in __libc_start_call_main, the same for every stack). A
 * later walk from the site asks for one frame past the program's and takes the stack only if
 * that frame is this start frame; anything else means another, deeper path, walked in full. */
#define SITES 16
struct site {
	const void *pc;
	uint16_t own;
	uint16_t k;
	uint64_t start_pc; /* 0: the walk was cut by stack_depth, no start frame to check */
};
static __thread struct site sites[SITES] SL_TLS_MODEL;

static struct site *site_slot(const void *pc)
{
	return &sites[((uintptr_t)pc >> 4) % SITES];
}

int sl_stack_walk_size(const void *pc)
{
	const struct site *e = site_slot(pc);
	if (e->pc != pc)
		return SL_STACK_FULL_WALK;
	return e->own + e->k + (e->start_pc ? 1 : 0);
}

/* Takes the program's frames out of the walk in c->pcs (n return addresses, sockleak's own
 * frames first), in place. Returns 1 when the walk was a short one that did not end as
 * learned, so that a full walk is needed. */
int sl_stack_finish(struct sl_capture *c, int n, const void *pc, int asked)
{
	unsigned want = (unsigned)sl_rt.opt.stack_depth;
	struct site *e = site_slot(pc);
	uint64_t *w = c->pcs;
	int own = 0;
	while (own < n && w[own] >= sl_rt.self_lo && w[own] < sl_rt.self_hi)
		own++;
	c->n = 0;
	if (asked != SL_STACK_FULL_WALK) {
		/* A short walk: exactly the learned shape, or nothing. */
		if (own != e->own || (e->start_pc && (n != asked || w[n - 1] != e->start_pc)))
			return 1;
		unsigned k = e->k < n - own ? e->k : (unsigned)(n - own);
		for (unsigned i = 0; i < k; i++) /* a few frames: a call to memmove costs more */
			w[i] = w[own + i];
		c->n = k;
		return 0;
	}
	/* A full walk: the program's frames (sockleak's wrapper around main left out), then the
	 * start frames cut from the bottom. A thread's stack ends in the C library (start_thread,
	 * clone3); the main thread's in it and then _start, in the program itself. The frames are
	 * moved down over sockleak's; first_own is where the first of sockleak's frames after the
	 * program's was in the walk (n if none), and first_own_pc its address. */
	unsigned m = 0;
	int first_own = n;
	uint64_t first_own_pc = 0;
	for (int i = own; i < n; i++) {
		if (w[i] < sl_rt.self_lo || w[i] >= sl_rt.self_hi) {
			w[m++] = w[i];
		} else if (first_own == n) {
			first_own = i;
			first_own_pc = w[i];
		}
	}
	unsigned kept = m;
	int complete = n < SL_STACK_FULL_WALK;
	if (complete && kept >= 2 && !in_libc(w[kept - 1]) && in_libc(w[kept - 2]))
		kept--;
	while (complete && kept > 0 && in_libc(w[kept - 1]))
		kept--;
	if (kept == 0)
		kept = m; /* nothing but start frames: keep them rather than nothing */
	c->n = kept < want ? kept : want;
	/* Learn the site's shape, for a short walk to repeat: only when the program's frames kept
	 * are the walk's frames right after sockleak's, one for one. */
	e->pc = NULL;
	if (first_own < own + (int)c->n)
		return 0;
	if (c->n < kept) {
		/* Cut by stack_depth: a short walk of exactly these many frames is the same cut. */
		e->start_pc = 0;
	} else if (complete && kept < m && own + (int)c->n < n) {
		/* The frame below the program's: a start frame (or sockleak's wrapper around main). */
		e->start_pc = first_own == own + (int)c->n ? first_own_pc : w[c->n];
	} else {
		return 0;
	}
	e->pc = pc;
	e->own = (uint16_t)own;
	e->k = (uint16_t)c->n;
	return 0;
}
