#include "findings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/out.h"
#include "../core/utf8.h"
#include "fingerprint.h"

const char *sl_fail_on_name(enum sl_fail_on f)
{
	return f == SL_FAIL_ON_WARNING ? "warning" : f == SL_FAIL_ON_NEVER ? "never" : "error";
}

int sl_gate_counts(const struct sl_gate *g, const char *severity)
{
	int error = severity && !strcmp(severity, "error");
	return g->fail_on == SL_FAIL_ON_WARNING || (g->fail_on == SL_FAIL_ON_ERROR && error);
}

int sl_junit_counts(const struct sl_gate *g, const char *severity)
{
	return g->fail_on == SL_FAIL_ON_NEVER ? severity && !strcmp(severity, "error") : sl_gate_counts(g, severity);
}

int sl_finding_known(const json_t *doc, size_t i, size_t k)
{
	const json_t *t = json_array_get(json_object_get(doc, "transports"), i);
	const json_t *f = json_array_get(json_object_get(t, "flags"), k);
	const char *state = json_string_value(json_object_get(f, "baseline"));
	return state && !strcmp(state, "unchanged");
}

/* The JSON core/report.c writes (the preload's format, one encoder for both), read back into
 * jansson for the analyzer's additions. It is written into memory: a memory file or a
 * temporary file is one more thing that can fail. */
static json_t *core_json(const struct sl_report *r, char *err, size_t errsize)
{
	struct sl_out out;
	sl_out_init_mem(&out);
	sl_report_json(r, &out);
	if (sl_out_flush(&out)) {
		snprintf(err, errsize, "out of memory while writing the JSON report");
		free(out.mem);
		return NULL;
	}
	json_error_t je;
	json_t *doc = json_loadb(out.mem, out.mem_len, 0, &je);
	free(out.mem);
	if (!doc)
		snprintf(err, errsize, "the JSON report does not parse (line %d: %s): a bug in sockleak", je.line, je.text);
	return doc;
}

json_t *sl_json_text(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s);
	char *clean = malloc(n * 3 + 1);
	if (!clean)
		return json_null();
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t len = sl_utf8_len((const unsigned char *)s + i, n - i);
		if (len) {
			memcpy(clean + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(clean + o, SL_UTF8_REPLACEMENT, 3);
			o += 3;
			i++;
		}
	}
	json_t *j = json_stringn(clean, o);
	free(clean);
	return j ? j : json_null();
}

/* Gives finding f of transport t its fingerprint and, with a baseline, its baseline state.
 * Returns whether the baseline holds it. */
static int mark_finding(json_t *doc, json_t *t, json_t *f, struct sl_baseline *baseline)
{
	char fp[17];
	sl_fingerprint(doc, t, f, fp);
	json_object_set_new(f, "fingerprint", json_string(fp));
	int known = sl_baseline_has(baseline, fp);
	if (baseline)
		json_object_set_new(f, "baseline", json_string(known ? "unchanged" : "new"));
	return known;
}

static json_t *index_or_null(int i)
{
	return i >= 0 ? json_integer(i) : json_null();
}

json_t *sl_findings_build(const struct sl_report *r, const struct sl_run *run, struct sl_baseline *baseline,
			  struct sl_gate *gate, char *err, size_t errsize)
{
	json_t *doc = core_json(r, err, errsize);
	if (!doc)
		return NULL;
	json_t *procs = json_object_get(doc, "processes");
	json_t *transports = json_object_get(doc, "transports");
	if (json_array_size(procs) != run->n || json_array_size(transports) != r->nitems) {
		snprintf(err, errsize, "the JSON report does not match the run: a bug in sockleak");
		json_decref(doc);
		return NULL;
	}
	for (unsigned p = 0; p < run->n; p++) {
		const struct sl_run_image *ri = run->v[p];
		json_t *jp = json_array_get(procs, p);
		json_object_set_new(jp, "parent", index_or_null(ri->parent));
		json_object_set_new(jp, "exec_of", index_or_null(ri->exec_of));
		json_object_set_new(jp, "log", sl_json_text(ri->file));
		if (ri->img.end == SL_END_CORRUPT || ri->img.end == SL_END_STOPPED) {
			/* The log does not say how the process ended: its end is unknown, not "running". */
			json_object_set_new(json_object_get(jp, "exit"), "how", json_string("unknown"));
			json_object_set_new(jp, "incomplete", json_true());
		}
	}
	gate->new_errors = gate->new_warnings = gate->known = 0;
	for (size_t i = 0; i < r->nitems; i++) {
		json_t *t = json_array_get(transports, i);
		json_object_set_new(t, "process", json_integer(r->items[i].proc));
		size_t k;
		json_t *f;
		json_array_foreach(json_object_get(t, "flags"), k, f) {
			int known = mark_finding(doc, t, f, baseline);
			const char *severity = json_string_value(json_object_get(f, "severity"));
			if (known)
				gate->known++;
			else if (severity && !strcmp(severity, "error"))
				gate->new_errors++;
			else
				gate->new_warnings++;
		}
	}
	/* Checkpoints: fingerprints and baseline states as exit findings have, but they do not count
	 * in the gate, as a check does not change the preload's exit status. */
	json_t *cps = json_object_get(doc, "checkpoints");
	if (json_array_size(cps) != run->ncheckpoints) {
		snprintf(err, errsize, "the JSON report's checkpoints do not match the run: a bug in sockleak");
		json_decref(doc);
		return NULL;
	}
	size_t c;
	json_t *cp;
	json_array_foreach(cps, c, cp) {
		json_t *index = json_integer(run->checkpoint_proc[c]);
		json_object_set(cp, "process", index);
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(cp, "transports"), i, t) {
			json_object_set(t, "process", index);
			size_t k;
			json_t *f;
			json_array_foreach(json_object_get(t, "flags"), k, f)
				mark_finding(doc, t, f, baseline);
		}
		json_decref(index);
	}
	gate->fixed = sl_baseline_unseen(baseline);
	gate->failed = (gate->new_errors && sl_gate_counts(gate, "error")) ||
		       (gate->new_warnings && sl_gate_counts(gate, "warning"));
	/* A run that lost evidence may have lost the very leak the gate is there for: it is never
	 * passed, whatever was found in what was recorded. */
	gate->lost = run->nlost;
	gate->lost_fails = run->nlost > 0 && gate->fail_on != SL_FAIL_ON_NEVER;

	json_t *jr = json_object();
	json_object_set_new(jr, "logs", json_integer(run->files));
	json_object_set_new(jr, "unreadable_logs", json_integer(run->unreadable));
	json_object_set_new(jr, "processes", json_integer(run->n));
	json_object_set_new(jr, "killed", json_integer(run->killed));
	json_t *jl = json_array();
	for (unsigned k = 0; k < run->nlost; k++)
		json_array_append_new(jl, run->lost[k] ? sl_json_text(run->lost[k]) : json_string("(out of memory)"));
	json_object_set_new(jr, "lost_evidence", jl);
	if (sl_run_recorded_nothing(run))
		json_object_set_new(jr, "note", json_string(SL_RUN_NOTHING_RECORDED));
	json_object_set_new(doc, "run", jr);
	json_t *jg = json_object();
	json_object_set_new(jg, "fail_on", json_string(sl_fail_on_name(gate->fail_on)));
	json_object_set_new(jg, "baseline", sl_json_text(gate->baseline_path));
	json_object_set_new(jg, "new_errors", json_integer((json_int_t)gate->new_errors));
	json_object_set_new(jg, "new_warnings", json_integer((json_int_t)gate->new_warnings));
	json_object_set_new(jg, "known", json_integer((json_int_t)gate->known));
	json_object_set_new(jg, "fixed", json_integer((json_int_t)gate->fixed));
	json_object_set_new(jg, "evidence_lost", json_integer((json_int_t)gate->lost));
	json_object_set_new(jg, "passed", json_boolean(!gate->failed && !gate->lost_fails));
	json_object_set_new(doc, "gate", jg);
	return doc;
}
