/* dlopen: modules loaded after start-up are named in the event log, so that the analyzer can
 * symbolize frames in them (CPython loads _ssl and libssl this way). dlclose: the modules it
 * unmaps are remembered for the exit report's frames (modules.c). */
#include <dlfcn.h>
#include <errno.h>

#include "preload.h"
#include "python.h"

SL_EXPORT void *dlopen(const char *file, int mode)
{
	__atomic_store_n(&sl_dlopen_called, 1, __ATOMIC_RELAXED);
	if (!sl_in_hook && !(mode & RTLD_NOLOAD))
		__atomic_store_n(&sl_program_dlopened, 1, __ATOMIC_RELAXED); /* not libunwind's, sockleak's own */
	SL_REAL(dlopen);
	void *h = SL_CALL(dlopen, NULL, file, mode);
	if (h && !(mode & RTLD_NOLOAD) && !sl_in_hook && sl_active()) {
		/* A dlopen that succeeds leaves errno as it found it: the rescan (the event log's
		 * module notes left EINVAL) and the lookups below must too. */
		int saved = errno;
		sl_log_rescan_modules();
		sl_datapath_after_dlopen();
		if (sl_rt.opt.python && !sl_python_available())
			sl_python_init();
		sl_runtimes_after_dlopen();
		errno = saved;
	}
	return h;
}

SL_EXPORT int dlclose(void *h)
{
	SL_REAL(dlclose);
	struct sl_module *before = NULL, *after = NULL;
	unsigned nbefore = 0, nafter = 0;
	int watch = !sl_in_hook && sl_active();
	if (watch) {
		/* The program's errno goes into the real call as it was: the collection's realpath
		 * fails (ENOENT) on a name such as the vDSO's, and a dlclose that succeeds leaves
		 * errno as it found it. */
		int saved = errno;
		sl_in_hook = 1; /* realpath and malloc inside the collection are sockleak's */
		sl_modules_collect(&before, &nbefore);
		sl_guard_restore(0);
		errno = saved;
	}
	int r = SL_CALL(dlclose, -1, h);
	if (watch) {
		int saved = errno;
		sl_in_hook = 1;
		if (sl_modules_collect(&after, &nafter) == 0)
			sl_modules_note_unloaded(before, nbefore, after, nafter);
		sl_modules_free(before, nbefore);
		sl_modules_free(after, nafter);
		sl_guard_restore(0);
		errno = saved;
	}
	return r;
}
