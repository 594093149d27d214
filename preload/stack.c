/* Creation stacks, captured with libunwind. */
#include <dlfcn.h>
#include <stdint.h>

#include "preload.h"
#include "unwind_pipe.h"

typedef int (*backtrace_fn)(void **buffer, int size);
typedef int (*caching_policy_fn)(void *as, int policy);

static backtrace_fn unw_backtrace_p;

/* libunwind is loaded privately: linked normally, its exported backtrace() and _Unwind_*
 * functions would take the place of glibc's and libgcc's in the host program, changing how the
 * program's own C++ exceptions unwind. */
int sl_stack_init(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
	unw_backtrace_p = (backtrace_fn)dlsym(h, "unw_backtrace");
	/* Before anything starts libunwind (the caching policy does): its pipe is made then. */
	if (unw_backtrace_p) {
		uint64_t lo, hi;
		sl_modules_self_range((const void *)unw_backtrace_p, &lo, &hi);
		sl_unw_set_range(lo, hi);
	}
	caching_policy_fn set_policy = (caching_policy_fn)dlsym(h, "_ULx86_64_set_caching_policy");
	void **as = dlsym(h, "_ULx86_64_local_addr_space");
	/* A per-thread cache needs no lock, so capturing never blocks on another thread. */
	if (set_policy && as)
		set_policy(*as, 2 /* UNW_CACHE_PER_THREAD */);
	return unw_backtrace_p ? 0 : -1;
}

void sl_stack_capture(struct sl_capture *c)
{
	void *buf[SL_STACK_MAX_DEPTH + 8];
	c->n = 0;
	if (!unw_backtrace_p)
		return;
	unsigned want = (unsigned)sl_rt.opt.stack_depth;
	int n = unw_backtrace_p(buf, (int)(want + 8 < SL_STACK_MAX_DEPTH + 8 ? want + 8 : SL_STACK_MAX_DEPTH + 8));
	/* Leave out sockleak's own frames (the hooks, and the wrapper around main): the stack
	 * reads as the program's own. */
	for (int i = 0; i < n && c->n < want; i++)
		if ((uint64_t)buf[i] < sl_rt.self_lo || (uint64_t)buf[i] >= sl_rt.self_hi)
			c->pcs[c->n++] = (uint64_t)buf[i];
}
