#include "modules.h"

#include <stddef.h>

const struct sl_module *sl_module_of(const struct sl_module *mods, unsigned n, uint64_t pc)
{
	for (unsigned i = 0; i < n; i++)
		if (pc >= mods[i].lo && pc < mods[i].hi)
			return &mods[i];
	return NULL;
}
