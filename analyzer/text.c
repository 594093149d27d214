#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TREE_FULL_MAX 40   /* larger trees show only the processes worth a look */
#define TREE_DEPTH_MAX 24  /* indentation stops growing here */

/* Per process: what the text shows of it. */
struct shown {
	unsigned long errors, warnings;
	int mark;          /* printed in a pruned tree */
	int first_child, next_sibling;
};

static void plural(struct sl_out *out, unsigned long n, const char *what)
{
	size_t len = strlen(what);
	sl_out_printf(out, "%lu %s%s", n, what, n == 1 ? "" : len && what[len - 1] == 's' ? "es" : "s");
}

static void print_tree(struct sl_out *out, const struct sl_run *run, struct shown *sh, int verbose)
{
	unsigned n = run->n;
	int pruned = !verbose && n > TREE_FULL_MAX;
	for (unsigned i = 0; i < n; i++)
		sh[i].first_child = sh[i].next_sibling = -1;
	/* Children in order of start: link them backwards. */
	for (unsigned i = n; i-- > 0;) {
		const struct sl_run_image *ri = run->v[i];
		int up = ri->exec_of >= 0 ? ri->exec_of : ri->parent;
		if (up >= 0) {
			sh[i].next_sibling = sh[up].first_child;
			sh[up].first_child = (int)i;
		}
	}
	if (pruned) {
		for (unsigned i = 0; i < n; i++) {
			const struct sl_run_image *ri = run->v[i];
			if (!(sh[i].errors || sh[i].warnings || ri->nnotes || ri->img.end == SL_END_NONE))
				continue;
			/* Mark it and its ancestors: the tree shows the way to it. */
			for (int k = (int)i; k >= 0 && !sh[k].mark;
			     k = run->v[k]->exec_of >= 0 ? run->v[k]->exec_of : run->v[k]->parent)
				sh[k].mark = 1;
		}
	}
	unsigned printed = 0, killed = 0, running = 0;
	for (unsigned i = 0; i < n; i++) {
		killed += run->v[i]->img.end == SL_END_NONE && !run->v[i]->running;
		running += run->v[i]->running;
	}
	sl_out_printf(out, "Processes: %u", n);
	if (killed)
		sl_out_printf(out, " (%u died without exiting)", killed);
	if (running)
		sl_out_printf(out, " (%u still running)", running);
	sl_out_puts(out, "\n");
	/* Depth-first, without recursion: a hostile run may nest thousands deep. */
	int *stack = malloc((n ? n : 1) * sizeof(int));
	int *depth = malloc((n ? n : 1) * sizeof(int));
	if (!stack || !depth) {
		free(stack);
		free(depth);
		return;
	}
	for (unsigned root = 0; root < n; root++) {
		const struct sl_run_image *rr = run->v[root];
		if ((rr->exec_of >= 0 ? rr->exec_of : rr->parent) >= 0)
			continue;
		unsigned top = 0;
		stack[top] = (int)root;
		depth[top++] = 0;
		while (top > 0) {
			top--;
			int i = stack[top], d = depth[top];
			if (pruned && !sh[i].mark)
				continue;
			const struct sl_run_image *ri = run->v[i];
			char how[64], cmd[200];
			sl_out_printf(out, "%*s%u %s%s", 2 + 2 * (d < TREE_DEPTH_MAX ? d : TREE_DEPTH_MAX), "", ri->img.pid,
				      ri->exec_of >= 0 ? "exec, " : ri->img.forked_from ? "fork, " : "",
				      sl_run_how(run, (unsigned)i, how, sizeof(how)));
			if (sh[i].errors) {
				sl_out_puts(out, ", ");
				plural(out, sh[i].errors, "error");
			}
			if (sh[i].warnings) {
				sl_out_puts(out, ", ");
				plural(out, sh[i].warnings, "warning");
			}
			sl_out_printf(out, ": %s\n", sl_run_cmdline(ri, cmd, sizeof(cmd)));
			printed++;
			/* Push children last-first so that they come out in order of start. */
			unsigned mark = top;
			for (int c = sh[i].first_child; c >= 0 && top < n; c = sh[c].next_sibling) {
				stack[top] = c;
				depth[top++] = d + 1;
			}
			for (unsigned a = mark, b = top; b > a + 1; a++, b--) {
				int ts = stack[a], td = depth[a];
				stack[a] = stack[b - 1];
				depth[a] = depth[b - 1];
				stack[b - 1] = ts;
				depth[b - 1] = td;
			}
		}
	}
	free(stack);
	free(depth);
	if (printed < n)
		sl_out_printf(out, "  (%u more processes finished with nothing to report; --verbose lists them)\n",
			      n - printed);
}

void sl_text_write(struct sl_out *out, struct sl_report *r, const struct sl_run *run, const json_t *doc,
		   const struct sl_gate *gate, int verbose, int exitcode)
{
	struct shown *sh = calloc(run->n ? run->n : 1, sizeof(*sh));
	struct sl_item *kept = calloc(r->nitems ? r->nitems : 1, sizeof(*kept));
	if (!sh || !kept) {
		free(sh);
		free(kept);
		sl_out_puts(out, "sockleak-report: out of memory while writing the text report\n");
		return;
	}
	/* The report without the findings the baseline holds. */
	size_t nkept = 0;
	unsigned long errors = 0, warnings = 0, per_flag[SL_FLAG_COUNT] = {0};
	for (size_t i = 0; i < r->nitems; i++) {
		struct sl_item it = r->items[i];
		it.nfindings = 0;
		it.errors = it.warnings = 0;
		for (unsigned k = 0; k < r->items[i].nfindings; k++) {
			const struct sl_item_finding *f = &r->items[i].findings[k];
			if (sl_finding_known(doc, i, k))
				continue;
			it.findings[it.nfindings++] = *f;
			if (sl_flag_table[f->f->flag].severity == SL_SEV_ERROR)
				it.errors++;
			else
				it.warnings++;
			per_flag[f->f->flag]++;
		}
		if (!it.nfindings)
			continue;
		errors += it.errors;
		warnings += it.warnings;
		sh[it.proc].errors += it.errors;
		sh[it.proc].warnings += it.warnings;
		kept[nkept++] = it;
	}
	struct sl_item *items = r->items;
	size_t nitems = r->nitems;
	unsigned long save_e = r->errors, save_w = r->warnings, save_pf[SL_FLAG_COUNT];
	memcpy(save_pf, r->per_flag, sizeof(save_pf));
	r->items = kept;
	r->nitems = nkept;
	r->errors = errors;
	r->warnings = warnings;
	memcpy(r->per_flag, per_flag, sizeof(per_flag));
	sl_report_text(r, out, 0);
	r->items = items;
	r->nitems = nitems;
	r->errors = save_e;
	r->warnings = save_w;
	memcpy(r->per_flag, save_pf, sizeof(save_pf));

	int any_note = 0;
	for (unsigned i = 0; i < run->n; i++)
		any_note |= run->v[i]->nnotes > 0 || (run->v[i]->img.end == SL_END_NONE && !run->v[i]->running);
	if (run->n > 1 && (verbose || nkept > 0 || any_note)) {
		if (nkept > 0)
			sl_out_puts(out, "\n");
		print_tree(out, run, sh, verbose);
	}
	if (nkept == 0 && run->n == 0) {
		if (run->nlost)
			sl_out_puts(out, "sockleak: no process has an event log: nothing found in what was recorded, but "
				    "evidence was lost\n");
		else
			sl_out_printf(out, "sockleak: %s\n", SL_RUN_NOTHING_RECORDED);
	} else if (nkept == 0) {
		sl_out_printf(out, "sockleak: ");
		plural(out, run->n, "process");
		sl_out_puts(out, ", ");
		plural(out, r->transports_seen, "transport");
		int noted = 0;
		for (unsigned i = 0; i < run->n; i++)
			noted |= run->v[i]->nnotes > 0;
		if (run->nlost)
			sl_out_puts(out, ": nothing found in what was recorded, but evidence was lost\n");
		else if (r->nitems == 0 && noted) /* what sockleak could not see: not "all finished properly" */
			sl_out_puts(out, ", no findings; see the notes above for what sockleak could not see\n");
		else if (r->nitems == 0)
			sl_out_printf(out, ", all finished properly%s\n", r->suppressed ? " (some findings suppressed)" : "");
		else
			sl_out_puts(out, ": no new findings\n");
	}
	if (gate->baseline_path) {
		sl_out_printf(out, "sockleak: baseline %s: ", gate->baseline_path);
		plural(out, gate->known, "known finding");
		sl_out_printf(out, " not shown, %lu fixed since, ", gate->fixed);
		plural(out, gate->new_errors + gate->new_warnings, "new finding");
		sl_out_puts(out, "\n");
	}
	for (unsigned k = 0; k < run->nlost; k++)
		sl_out_printf(out, "sockleak: EVIDENCE LOST: %s\n", run->lost[k] ? run->lost[k] : "(out of memory)");
	if (run->nlost && !gate->failed) {
		sl_out_puts(out, gate->lost_fails ? "sockleak: FAILED: " : "sockleak: not checked: ");
		plural(out, run->nlost, "loss");
		sl_out_printf(out, " of evidence: findings may be missing (--fail-on %s)", sl_fail_on_name(gate->fail_on));
		if (gate->lost_fails)
			sl_out_printf(out, ": exit status %d", exitcode);
		sl_out_puts(out, "\n");
	}
	if (gate->failed) {
		const char *nw = gate->baseline_path ? "new " : "";
		char what[32];
		sl_out_puts(out, "sockleak: FAILED: ");
		if (gate->new_errors) {
			snprintf(what, sizeof(what), "%serror", nw);
			plural(out, gate->new_errors, what);
		}
		if (gate->new_errors && gate->new_warnings && gate->fail_on == SL_FAIL_ON_WARNING)
			sl_out_puts(out, " and ");
		if (gate->new_warnings && gate->fail_on == SL_FAIL_ON_WARNING) {
			snprintf(what, sizeof(what), "%swarning", nw);
			plural(out, gate->new_warnings, what);
		}
		sl_out_printf(out, " (--fail-on %s): exit status %d\n", sl_fail_on_name(gate->fail_on), exitcode);
	}
	free(kept);
	free(sh);
}
