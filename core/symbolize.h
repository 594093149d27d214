/* Turns return addresses into function, source file and line, with elfutils' libdw. libdw is
 * loaded with dlopen when a report is written, so that a process with nothing to report never
 * maps it, and the preload adds no dependency that the host program could clash with. */
#ifndef SOCKLEAK_SYMBOLIZE_H
#define SOCKLEAK_SYMBOLIZE_H

#include <stdint.h>

#include "modules.h"

struct sl_frame {
	uint64_t pc;
	const char *function; /* NULL when unknown */
	const char *file;     /* NULL when there is no line information */
	int line;
	const char *module;   /* NULL when the address is in no known module */
	uint64_t offset;      /* pc relative to the module's load bias */
};

struct sl_symbolizer;

/* Builds a symbolizer over a module list (copied). Never fails: without libdw, frames get their
 * module and offset only, and sl_sym_status says why. */
struct sl_symbolizer *sl_sym_new(const struct sl_module *mods, unsigned n);
void sl_sym_free(struct sl_symbolizer *sym);
/* NULL when libdw is working, else a sentence saying what is missing. */
const char *sl_sym_status(const struct sl_symbolizer *sym);

/* Symbolizes one frame. A return address (every frame but the innermost) is looked up one byte
 * earlier, at the call instruction. The strings live as long as the symbolizer. */
void sl_sym_frame(struct sl_symbolizer *sym, uint64_t pc, int return_address, struct sl_frame *out);

#endif
