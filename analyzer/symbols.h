/* One symbolizer for a whole run. Made per process, as the preload does, symbolization of a run
 * with hundreds of leaking processes loads the same debug information hundreds of times (seconds
 * and gigabytes). Every process maps its modules at addresses of its own (ASLR), so one libdw
 * session cannot take their addresses as they are: each distinct module file (path and build id)
 * gets a range of its own above the user address space, the native stacks of the processes with
 * findings are moved there, and one symbolizer over all the modules serves every process. Once
 * the report is built, every frame gets its process's real address back. */
#ifndef SOCKLEAK_SYMBOLS_H
#define SOCKLEAK_SYMBOLS_H

#include "../core/report.h"
#include "run.h"

struct sl_run_symbols;

/* Moves the stacks of the run's processes with findings into the shared address space, and
 * makes the symbolizer. Returns NULL when memory ran out (the stacks are then unchanged). */
struct sl_run_symbols *sl_run_symbols_prepare(struct sl_run *run);
struct sl_symbolizer *sl_run_symbols_symbolizer(struct sl_run_symbols *rs);
/* After sl_report_build_shared: the report's frames get their real addresses back. */
void sl_run_symbols_restore(struct sl_run_symbols *rs, struct sl_report *r);
/* After the report is freed (its frames' names live in the symbolizer). */
void sl_run_symbols_free(struct sl_run_symbols *rs);

#endif
