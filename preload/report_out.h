/* Writing a report where the program lives: shared by the exit report and checkpoints
 * (exit_report.c, checkpoint.c). */
#ifndef SOCKLEAK_REPORT_OUT_H
#define SOCKLEAK_REPORT_OUT_H

#include "message.h"

#include "../core/report.h"

/* This process, as a report describes it: the exit report's and a checkpoint's. */
struct sl_report_proc sl_report_proc_self(const struct sl_module *mods, unsigned nmods);

/* The suppressions a report applies: the suppressions= file and, unless default_suppressions=0,
 * the built-in ones (NULL when there are none); a file that cannot be read is said once. */
struct sl_suppressions *sl_report_suppressions(void);

/* Opens a report file safely (see exit_report.c). Returns the descriptor, or -1 after one
 * message. */
int sl_open_report_file(const char *what, const char *tmpl, int append);

/* The checkpoints made so far, as JSON objects, for the exit JSON (checkpoint.c). */
char *const *sl_checkpoints_json(unsigned *n);

/* sockleak_check's work (checkpoint.c). With buf, the text goes there instead of stderr or
 * log_path; live: a live view (dump_signal), kept out of the exit JSON. */
#include <stddef.h>
#include <stdint.h>
unsigned long sl_checkpoint_check(uint64_t mark, const char *label, char *buf, size_t size, int live);

#endif
