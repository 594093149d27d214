/* Finding the real function behind each interposer. */
#include <dlfcn.h>
#include <string.h>

#include "preload.h"

static int is_ours(void *p)
{
	Dl_info self, info;
	return dladdr((void *)&is_ours, &self) && dladdr(p, &info) && info.dli_fbase == self.dli_fbase;
}

/* RTLD_NEXT finds the next definition after this library; RTLD_DEFAULT is the fallback for
 * symbols that arrived later. Either may hand back our own interposer (when this library was
 * loaded oddly), which must never be called as the "real" one. */
void *sl_resolve(const char *name)
{
	int saved = errno;
	int guard = sl_in_hook;
	sl_in_hook = 1; /* dlsym may allocate or take locks; nothing it calls may be tracked */
	void *found = NULL;
	void *candidates[2] = {dlsym(RTLD_NEXT, name), dlsym(RTLD_DEFAULT, name)};
	for (int i = 0; i < 2 && !found; i++)
		if (candidates[i] && !is_ours(candidates[i]))
			found = candidates[i];
	sl_in_hook = guard;
	errno = saved;
	return found;
}
