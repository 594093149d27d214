/* The text report of a run: core/report.c's own (in the sanitizer tradition) for the findings
 * that are not in the baseline, then the process tree and the gate's verdict. */
#ifndef SOCKLEAK_TEXT_H
#define SOCKLEAK_TEXT_H

#include <jansson.h>

#include "../core/out.h"
#include "../core/report.h"
#include "findings.h"
#include "run.h"

/* Writes the report. r's items are filtered for the time of the call and restored after. */
void sl_text_write(struct sl_out *out, struct sl_report *r, const struct sl_run *run, const json_t *doc,
		   const struct sl_gate *gate, int verbose, int exitcode);

#endif
