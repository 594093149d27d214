/* The modules (executable and shared libraries) mapped in a process: what a stack's addresses
 * are symbolized against. The preload collects them with dl_iterate_phdr; the event log records
 * them so that the analyzer can symbolize after the process is gone. */
#ifndef SOCKLEAK_MODULES_H
#define SOCKLEAK_MODULES_H

#include <stdint.h>

struct sl_module {
	uint64_t base;   /* load bias: the address where the file's vaddr 0 is mapped */
	uint64_t lo, hi; /* [lo, hi): the span of its loaded segments */
	char *path;      /* absolute file name (malloc'd or arena; owner says) */
	uint8_t build_id[20];
	uint8_t build_id_len;
};

/* Returns the module containing pc, or NULL. */
const struct sl_module *sl_module_of(const struct sl_module *mods, unsigned n, uint64_t pc);

#endif
