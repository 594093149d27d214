/* The findings of a run as one JSON document: the report that core/report.c writes (the same
 * contract as the preload's JSON report), plus what only the analyzer knows: the process tree,
 * each finding's fingerprint and baseline state, and the gate's verdict. The SARIF, JUnit and
 * text outputs are all read from it (docs/analyzer.md lists the added keys). */
#ifndef SOCKLEAK_FINDINGS_H
#define SOCKLEAK_FINDINGS_H

#include <jansson.h>

#include "../core/report.h"
#include "baseline.h"
#include "run.h"

enum sl_fail_on { SL_FAIL_ON_ERROR, SL_FAIL_ON_WARNING, SL_FAIL_ON_NEVER };

struct sl_gate {
	enum sl_fail_on fail_on;
	const char *baseline_path;   /* NULL without a baseline */
	unsigned long new_errors, new_warnings; /* findings the baseline does not hold */
	unsigned long known;         /* findings the baseline holds */
	unsigned long fixed;         /* baseline findings this run no longer has */
	int failed;                  /* findings fail the gate */
	unsigned long lost;          /* processes that lost evidence (run->lost) */
	int lost_fails;              /* and that fails the gate: any loss, unless --fail-on never */
};

/* Builds the document. Returns NULL with a message in err when memory ran out. */
json_t *sl_findings_build(const struct sl_report *r, const struct sl_run *run, struct sl_baseline *baseline,
			  struct sl_gate *gate, char *err, size_t errsize);

/* Whether a finding of this severity, not in the baseline, fails the gate. */
int sl_gate_counts(const struct sl_gate *g, const char *severity);
/* Whether a finding marks its process as failed in the JUnit output: the gate's level, with
 * errors still failing when the gate is off (--fail-on never). */
int sl_junit_counts(const struct sl_gate *g, const char *severity);

/* Whether entry k of transport i's flags is known to the baseline. */
int sl_finding_known(const json_t *doc, size_t i, size_t k);

const char *sl_fail_on_name(enum sl_fail_on f);

/* A JSON string of any bytes (paths, command lines): invalid UTF-8 becomes U+FFFD. */
json_t *sl_json_text(const char *s);

#endif
