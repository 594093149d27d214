/* A baseline: the findings of an earlier run, from its JSON report (the analyzer's, or the
 * preload's json= report). A finding whose fingerprint the baseline holds is known: it is still
 * reported in the JSON and SARIF outputs, marked, but does not count toward the gate. */
#ifndef SOCKLEAK_BASELINE_H
#define SOCKLEAK_BASELINE_H

#include <stddef.h>

struct sl_baseline;

/* Loads a JSON report. Returns NULL with a message in err (naming the file) when the file cannot
 * be read or is not a sockleak JSON report of a format this analyzer reads. */
struct sl_baseline *sl_baseline_load(const char *path, char *err, size_t errsize);
void sl_baseline_free(struct sl_baseline *b);

/* Whether the baseline holds this fingerprint; marks it as seen. */
int sl_baseline_has(struct sl_baseline *b, const char *fingerprint);
size_t sl_baseline_unseen(const struct sl_baseline *b);

#endif
