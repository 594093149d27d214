/* Redirecting a module's calls to named functions through its GOT (gotpatch.c). */
#ifndef SOCKLEAK_GOTPATCH_H
#define SOCKLEAK_GOTPATCH_H

#include <dlfcn.h>

struct sl_got_target {
	const char *name; /* the function's symbol, e.g. "recv" */
	void *hook;       /* what calls to it should reach */
};

/* Points GOT slots for the named functions at the hooks: in the one module containing
 * only_module, or with NULL in every loaded module but this library, libc, ld.so, the vDSO and
 * libunwind. Idempotent: run it again after dlopen. Returns the number of slots changed. Takes
 * the loader's lock (dl_iterate_phdr): never call it with sockleak's lock held. */
unsigned sl_got_patch(const struct sl_got_target *targets, unsigned n, const void *only_module);

#endif
