/* Creation stacks, captured with libunwind. */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

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
int sl_stack_init(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
	sl_unw_backtrace = (backtrace_fn)dlsym(h, "unw_backtrace");
	sl_modules_self_range(sl_resolve("close"), &libc_lo, &libc_hi);
	/* Before anything starts libunwind (the caching policy does): its pipe is made then. */
	if (sl_unw_backtrace)
		sl_unw_install((const void *)sl_unw_backtrace);
	caching_policy_fn set_policy = (caching_policy_fn)dlsym(h, "_ULx86_64_set_caching_policy");
	void **as = dlsym(h, "_ULx86_64_local_addr_space");
	/* A per-thread cache needs no lock, so capturing never blocks on another thread. */
	if (set_policy && as)
		set_policy(*as, 2 /* UNW_CACHE_PER_THREAD */);
	return sl_unw_backtrace ? 0 : -1;
}

/* ---- the room left on this thread's stack ---- */

__thread uintptr_t sl_stack_lo SL_TLS_MODEL, sl_stack_span SL_TLS_MODEL;

/* The main thread's stack, learned at start-up: its pthread_getattr_np reads /proc/self/maps
 * with stdio (malloc), which a hook must not do. The top is __libc_stack_end, a little under
 * the true top (the arguments and environment sit above it), and the stack may grow down to
 * RLIMIT_STACK below the true top: counting the limit from __libc_stack_end errs on the side of
 * less room. An unlimited stack is taken as room without end. */
extern void *__libc_stack_end;
static pthread_t main_thread;
static uintptr_t main_lo, main_span;

void sl_stack_main_thread(void)
{
	main_thread = pthread_self();
	uintptr_t top = (uintptr_t)__libc_stack_end;
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= top) {
		main_lo = 0;
	} else {
		main_lo = top - rl.rlim_cur;
	}
	main_span = top - main_lo;
}

/* The first event of a thread learns its stack; later, a stack pointer outside it is on a
 * signal's alternate stack (sigaltstack says where that is) or on a stack sockleak cannot
 * place: a coroutine's, or a thread made with a raw clone() that shares its parent's TLS. */
size_t sl_stack_room_slow(uintptr_t sp)
{
	if (!sl_stack_span) {
		if (pthread_equal(pthread_self(), main_thread)) {
			sl_stack_lo = main_lo;
			sl_stack_span = main_span;
		} else {
			/* A thread's own bounds (no /proc, no malloc for a thread without a CPU set). */
			pthread_attr_t attr;
			void *addr;
			size_t size;
			if (pthread_getattr_np(pthread_self(), &attr) == 0) {
				if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
					sl_stack_lo = (uintptr_t)addr;
					sl_stack_span = size;
				}
				pthread_attr_destroy(&attr);
			}
			/* Bounds that cannot be had are taken as room without end, as before. */
			if (!sl_stack_span)
				sl_stack_span = UINTPTR_MAX;
		}
		if (sp - sl_stack_lo < sl_stack_span)
			return sp - sl_stack_lo;
	}
	stack_t ss;
	if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK) && sp - (uintptr_t)ss.ss_sp < ss.ss_size)
		return sp - (uintptr_t)ss.ss_sp;
	return SIZE_MAX;
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
		memmove(w, w + own, k * sizeof(*w));
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
