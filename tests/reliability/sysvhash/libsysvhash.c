/* A library linked with only the older DT_HASH symbol table (--hash-style=sysv), as some
 * toolchains and old binaries still make them, defining strlen (a plain loop): preloaded after
 * sockleak, the loader binds sockleak's strlen to it. sockleak's lock-free search of the loaded
 * objects must read this table too: sending every name to dlsym instead made a hook's first
 * call wait for the loader's lock (review of issue 12, tests/test_lazy_imports.py). */
#include <stddef.h>

__attribute__((visibility("default"))) size_t strlen(const char *s)
{
	volatile const char *p = s; /* kept a loop: GCC would make a strlen of it */
	while (*p)
		p++;
	return (size_t)(p - s);
}
