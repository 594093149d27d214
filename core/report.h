/* From final states to what a user reads: the transports with findings, their stacks symbolized,
 * suppressions applied, then written as text or JSON. The preload uses it for one process at
 * exit; the analyzer for every process of a run. */
#ifndef SOCKLEAK_REPORT_H
#define SOCKLEAK_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lifecycle.h"
#include "lifecycle_tls.h"
#include "modules.h"
#include "out.h"
#include "symbolize.h"

#define SOCKLEAK_VERSION "0.1.0"
#define SOCKLEAK_JSON_FORMAT 1 /* bump when a key changes meaning or goes away */

struct sl_suppressions;

/* One process image, as the report knows it. */
struct sl_report_proc {
	int pid, ppid;
	int argc;
	char **argv;
	struct sl_state *state;
	const struct sl_module *mods;
	unsigned nmods;
	int signal;           /* the signal it died of, when known (0 otherwise) */
	int raw_exit;         /* analyzer: it ended through a raw exit system call (its log has no
			       * exit, the wrapper saw an exit status), with status raw_exit_status */
	int raw_exit_status;
	int parent;           /* index of the parent process in the report, -1 for a root */
	int exec_of;          /* index of the image this one replaced by exec, -1 if none */
	const char *notes[4]; /* one-line remarks shown with the report */
	unsigned nnotes;
};

struct sl_report_config {
	int symbolize;
	struct sl_suppressions *supp;
	int native_frames_all; /* under a Python traceback, every native frame (not folded) */
};

struct sl_pytext {
	const char *file;
	const char *function;
	unsigned line;
};

/* A symbolized stack, shared by every item that has it. */
struct sl_stack_text {
	struct sl_frame *frames;
	unsigned nframes;
	struct sl_pytext *py; /* for a Python traceback, outermost first */
	unsigned npy;
};

struct sl_item_finding {
	const struct sl_finding *f;
	const struct sl_stack_text *where;    /* registration stack, when the flag has one */
	const struct sl_stack_text *where_py;
};

struct sl_item {
	unsigned proc; /* index into the report's processes */
	const struct sl_transport *t;
	const struct sl_stack_text *opened_at;
	const struct sl_stack_text *opened_py;
	const struct sl_stack_text *ssl_freed_at; /* TLS: where SSL_free was called */
	const struct sl_stack_text *ssl_freed_py;
	struct sl_item_finding findings[SL_FLAG_COUNT];
	unsigned nfindings;
	unsigned errors, warnings;
	size_t group_next; /* text report: the next item of the same group, or (size_t)-1 */
	size_t group_size; /* on the first item of a group: how many items it has */
	int group_member;  /* not the first of its group */
};

struct sl_report {
	struct sl_report_proc *procs;
	unsigned nprocs;
	const struct sl_report_config *cfg;
	struct sl_item *items;
	size_t nitems;
	unsigned long transports_seen, errors, warnings, suppressed;
	unsigned long per_flag[SL_FLAG_COUNT];
	struct sl_symbolizer **syms;         /* per process (NULL without symbolization) */
	const char *sym_status;              /* why frames lack names, when libdw could not help */
	struct sl_stack_text **stack_texts;  /* per process, indexed by stack id */
	uint32_t *nstack_texts;
	const char *text_refused;            /* why the preload did not write the text report, or NULL */
	const char *checkpoint;              /* a checkpoint's report: its label (sockleak_check) */
	int live_view;                       /* ... made on dump_signal: every open transport */
	char *const *checkpoint_json;        /* exit JSON: the checkpoints made before, one JSON object
					        each (sl_report_checkpoint_json) */
	unsigned ncheckpoints;
};

/* Builds the report. Returns 0, or -1 when memory ran out. */
int sl_report_build(struct sl_report *r, struct sl_report_proc *procs, unsigned nprocs,
		    const struct sl_report_config *cfg);
/* As sl_report_build, with one symbolizer the caller made for every process (and frees after
 * the report): the analyzer's, which knows every process's modules at once (analyzer/symbols.c). */
int sl_report_build_shared(struct sl_report *r, struct sl_report_proc *procs, unsigned nprocs,
			   const struct sl_report_config *cfg, struct sl_symbolizer *sym);
/* A checkpoint's report (issue 14): items from a list of transports (sl_state_checkpoint's
 * copies) instead of the state's finished ones, under a heading naming the label. */
int sl_report_build_checkpoint(struct sl_report *r, struct sl_report_proc *proc, const struct sl_report_config *cfg,
			       const struct sl_transport *list, long n, const char *label);
void sl_report_free(struct sl_report *r);

/* The text report, in the sanitizer tradition; nothing at all when there is nothing to say
 * (verbose: one summary line). */
void sl_report_text(struct sl_report *r, struct sl_out *out, int verbose);
/* The JSON report (docs/json-report.md). */
void sl_report_json(const struct sl_report *r, struct sl_out *out);

/* One checkpoint as a compact JSON object {"label", "pid", "count", "transports": [...]}: the
 * exit JSON lists them under "checkpoints". */
void sl_report_checkpoint_json(const struct sl_report *r, struct sl_out *out);

/* The one-line explanation of a finding, in the words of the program's kind (Python or not). */
const char *sl_report_detail(const struct sl_report *r, const struct sl_item *it,
			     const struct sl_item_finding *f, char *buf, size_t size);
/* "tcp4 client fd 5, 127.0.0.1:40312 -> 127.0.0.1:8080" */
const char *sl_report_describe(const struct sl_item *it, char *buf, size_t size);
/* The TLS sentence: "TLS: handshake completed; close_notify sent, the peer's never received". */
const char *sl_report_tls_text(const struct sl_tls *x, char *buf, size_t size);

#endif
