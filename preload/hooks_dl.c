/* dlopen: modules loaded after start-up are named in the event log, so that the analyzer can
 * symbolize frames in them (CPython loads _ssl and libssl this way). */
#include <dlfcn.h>

#include "preload.h"
#include "python.h"

SL_EXPORT void *dlopen(const char *file, int mode)
{
	SL_REAL(dlopen);
	void *h = SL_CALL(dlopen, NULL, file, mode);
	if (h && !(mode & RTLD_NOLOAD) && !sl_in_hook && sl_active()) {
		sl_log_rescan_modules();
		sl_datapath_after_dlopen();
		if (sl_rt.opt.python && !sl_python_available())
			sl_python_init();
	}
	return h;
}
