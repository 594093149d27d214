#include "junit.h"

#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Writes text escaped for XML 1.0, in an attribute or element. Characters XML cannot hold at
 * all (control characters other than tab and newline) are written as '?'. */
static void xml(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		case '\n': fputs("&#10;", f); break;
		case '\t': fputs("&#9;", f); break;
		default: fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
		}
	}
}

/* The same for element content: newlines kept as they are. */
static void xml_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\n')
			fputc('\n', f);
		else {
			char one[2] = {*s, 0};
			xml(f, one);
		}
	}
}

static void cmdline(const json_t *proc, char *buf, size_t size)
{
	size_t n = 0;
	const json_t *argv = json_object_get(proc, "argv");
	buf[0] = '\0';
	for (size_t i = 0; i < json_array_size(argv) && n + 1 < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? " " : "", json_string_value(json_array_get(argv, i)));
	if (n >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static void frames_text(FILE *f, const char *title, const json_t *frames, const json_t *py)
{
	if (!json_array_size(frames) && !json_array_size(py))
		return;
	fprintf(f, "    %s:\n", title);
	for (size_t i = 0; i < json_array_size(py); i++) {
		const json_t *fr = json_array_get(py, i);
		fputs("      File \"", f);
		xml_text(f, str(fr, "file") ? str(fr, "file") : "?");
		fprintf(f, "\", line %lld, in ", (long long)json_integer_value(json_object_get(fr, "line")));
		xml_text(f, str(fr, "function") ? str(fr, "function") : "?");
		fputc('\n', f);
	}
	for (size_t i = 0; i < json_array_size(frames); i++) {
		const json_t *fr = json_array_get(frames, i);
		fprintf(f, "      #%zu %s", i, str(fr, "pc") ? str(fr, "pc") : "");
		if (str(fr, "function")) {
			fputs(" in ", f);
			xml_text(f, str(fr, "function"));
		}
		if (str(fr, "file")) {
			fputc(' ', f);
			xml_text(f, str(fr, "file"));
			fprintf(f, ":%lld", (long long)json_integer_value(json_object_get(fr, "line")));
		} else if (str(fr, "module")) {
			fputs(" (", f);
			xml_text(f, str(fr, "module"));
			fputc(')', f);
		}
		fputc('\n', f);
	}
}

/* One finding, as the body of a failure or as system-out. */
static void finding_text(FILE *f, const json_t *t, const json_t *fl)
{
	const char *local = str(t, "local"), *peer = str(t, "peer");
	fputs("Transport ", f);
	xml_text(f, str(t, "kind"));
	if (str(t, "role")) {
		fputc(' ', f);
		xml_text(f, str(t, "role"));
	}
	if (json_is_integer(json_object_get(t, "fd")))
		fprintf(f, " fd %lld", (long long)json_integer_value(json_object_get(t, "fd")));
	if (local) {
		fputs(", ", f);
		xml_text(f, local);
	}
	if (peer) {
		fputs(" -> ", f);
		xml_text(f, peer);
	}
	fputs("\n  ", f);
	xml_text(f, str(fl, "flag"));
	fputs(" (", f);
	xml_text(f, str(fl, "severity"));
	fputs("): ", f);
	xml_text(f, str(fl, "detail"));
	if (str(fl, "baseline") && !strcmp(str(fl, "baseline"), "unchanged"))
		fputs(" [in the baseline]", f);
	fputc('\n', f);
	frames_text(f, "registered at", json_object_get(fl, "registered_at"), json_object_get(fl, "registered_python_traceback"));
	frames_text(f, "opened at", json_object_get(t, "opened_at"), json_object_get(t, "python_traceback"));
}

static char (*sort_lines)[256];

/* Same command line together, and in order of the processes within. */
static int by_line(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(sort_lines[x], sort_lines[y]);
	return c ? c : x < y ? -1 : x > y;
}

struct proc_counts {
	unsigned failing, other;
};

int sl_junit_write(FILE *f, const json_t *doc, const struct sl_gate *gate)
{
	const json_t *procs = json_object_get(doc, "processes");
	const json_t *transports = json_object_get(doc, "transports");
	size_t np = json_array_size(procs);
	struct proc_counts *c = calloc(np ? np : 1, sizeof(*c));
	char **names = calloc(np ? np : 1, sizeof(*names));
	if (!c || !names) {
		free(c);
		free(names);
		return -1;
	}
	size_t i, k;
	json_t *t, *fl;
	json_array_foreach(transports, i, t) {
		size_t p = (size_t)json_integer_value(json_object_get(t, "process"));
		if (p >= np)
			continue;
		json_array_foreach(json_object_get(t, "flags"), k, fl) {
			int known = str(fl, "baseline") && !strcmp(str(fl, "baseline"), "unchanged");
			if (!known && sl_junit_counts(gate, str(fl, "severity")))
				c[p].failing++;
			else
				c[p].other++;
		}
	}
	unsigned failures = 0;
	for (size_t p = 0; p < np; p++)
		failures += c[p].failing > 0;

	/* Test case names are the command lines, stable from run to run (pids are not), with a
	 * number added when several processes ran the same one. */
	char (*lines)[256] = calloc(np ? np : 1, sizeof(*lines));
	size_t *order = calloc(np ? np : 1, sizeof(*order));
	if (!lines || !order) {
		free(lines);
		free(order);
		free(c);
		free(names);
		return -1;
	}
	for (size_t p = 0; p < np; p++) {
		cmdline(json_array_get(procs, p), lines[p], sizeof(lines[p]));
		if (!lines[p][0])
			snprintf(lines[p], sizeof(lines[p]), "(no command line)");
		order[p] = p;
	}
	sort_lines = lines;
	qsort(order, np, sizeof(*order), by_line);
	unsigned same = 0;
	for (size_t j = 0; j < np; j++) {
		size_t p = order[j];
		same = j > 0 && !strcmp(lines[order[j - 1]], lines[p]) ? same + 1 : 1;
		names[p] = malloc(strlen(lines[p]) + 16);
		if (names[p]) {
			if (same > 1)
				sprintf(names[p], "%s #%u", lines[p], same);
			else
				strcpy(names[p], lines[p]);
		}
	}
	free(lines);
	free(order);

	/* Lost evidence is an error of its own (one test case): without it a run whose processes
	 * could not all log read as passed here, 0 tests or no failure, while the gate failed. */
	const json_t *lost = json_object_get(json_object_get(doc, "run"), "lost_evidence");
	size_t nlost = json_array_size(lost);
	unsigned errors = nlost > 0;
	size_t ntests = np + errors;

	char root[256] = "";
	const char *note = str(json_object_get(doc, "run"), "note");
	if (np)
		cmdline(json_array_get(procs, 0), root, sizeof(root));
	else if (note)
		snprintf(root, sizeof(root), "%s", note); /* no process recorded anything */
	else if (nlost)
		snprintf(root, sizeof(root), "no process has an event log, and evidence was lost");
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
	fprintf(f, "<testsuites name=\"sockleak\" tests=\"%zu\" failures=\"%u\" errors=\"%u\">\n", ntests, failures,
		errors);
	fputs("  <testsuite name=\"sockleak: ", f);
	xml(f, root);
	fprintf(f, "\" tests=\"%zu\" failures=\"%u\" errors=\"%u\" skipped=\"0\" time=\"0\">\n", ntests, failures,
		errors);
	fputs("    <properties>\n", f);
	fprintf(f, "      <property name=\"sockleak.version\" value=\"%s\"/>\n", str(doc, "version") ? str(doc, "version") : "");
	fprintf(f, "      <property name=\"sockleak.fail_on\" value=\"%s\"/>\n", sl_fail_on_name(gate->fail_on));
	if (gate->baseline_path) {
		fputs("      <property name=\"sockleak.baseline\" value=\"", f);
		xml(f, gate->baseline_path);
		fputs("\"/>\n", f);
	}
	fputs("    </properties>\n", f);
	for (size_t p = 0; p < np; p++) {
		const json_t *proc = json_array_get(procs, p);
		const char *argv0 = json_string_value(json_array_get(json_object_get(proc, "argv"), 0));
		const char *base = argv0 ? strrchr(argv0, '/') : NULL;
		base = base ? base + 1 : argv0 ? argv0 : "process";
		fputs("    <testcase classname=\"sockleak.", f);
		for (const char *s = base; *s; s++) {
			char one[2] = {*s == '.' ? '_' : *s, 0};
			xml(f, one);
		}
		fputs("\" name=\"", f);
		xml(f, names[p] ? names[p] : "?");
		fputs("\" time=\"0\">\n", f);
		if (c[p].failing) {
			fprintf(f, "      <failure type=\"sockleak\" message=\"%u finding%s", c[p].failing,
				c[p].failing == 1 ? "" : "s");
			const char *sep = ": ";
			json_array_foreach(transports, i, t) {
				if ((size_t)json_integer_value(json_object_get(t, "process")) != p)
					continue;
				json_array_foreach(json_object_get(t, "flags"), k, fl) {
					int known = str(fl, "baseline") && !strcmp(str(fl, "baseline"), "unchanged");
					if (known || !sl_junit_counts(gate, str(fl, "severity")))
						continue;
					fputs(sep, f);
					sep = ", ";
					xml(f, str(fl, "flag"));
				}
			}
			fputs("\">", f);
			json_array_foreach(transports, i, t) {
				if ((size_t)json_integer_value(json_object_get(t, "process")) != p)
					continue;
				json_array_foreach(json_object_get(t, "flags"), k, fl) {
					int known = str(fl, "baseline") && !strcmp(str(fl, "baseline"), "unchanged");
					if (!known && sl_junit_counts(gate, str(fl, "severity")))
						finding_text(f, t, fl);
				}
			}
			fputs("</failure>\n", f);
		}
		const json_t *exitj = json_object_get(proc, "exit");
		fputs("      <system-out>", f);
		fprintf(f, "pid %lld, ", (long long)json_integer_value(json_object_get(proc, "pid")));
		xml_text(f, str(exitj, "how"));
		if (json_is_integer(json_object_get(exitj, "status")))
			fprintf(f, " %lld", (long long)json_integer_value(json_object_get(exitj, "status")));
		if (json_is_integer(json_object_get(exitj, "signal")))
			fprintf(f, " (signal %lld)", (long long)json_integer_value(json_object_get(exitj, "signal")));
		long long seen = (long long)json_integer_value(json_object_get(proc, "transports_seen"));
		fprintf(f, ", %lld transport%s\n", seen, seen == 1 ? "" : "s");
		const json_t *notes = json_object_get(proc, "notes");
		for (size_t n = 0; n < json_array_size(notes); n++) {
			fputs("note: ", f);
			xml_text(f, json_string_value(json_array_get(notes, n)));
			fputc('\n', f);
		}
		if (c[p].other) {
			json_array_foreach(transports, i, t) {
				if ((size_t)json_integer_value(json_object_get(t, "process")) != p)
					continue;
				json_array_foreach(json_object_get(t, "flags"), k, fl) {
					int known = str(fl, "baseline") && !strcmp(str(fl, "baseline"), "unchanged");
					if (known || !sl_junit_counts(gate, str(fl, "severity")))
						finding_text(f, t, fl);
				}
			}
		}
		fputs("</system-out>\n", f);
		fputs("    </testcase>\n", f);
	}
	if (errors) {
		fputs("    <testcase classname=\"sockleak.evidence\" name=\"evidence lost\" time=\"0\">\n", f);
		fprintf(f, "      <error type=\"sockleak\" message=\"%zu loss%s of evidence: findings may be missing\">",
			nlost, nlost == 1 ? "" : "es");
		for (size_t n = 0; n < nlost; n++) {
			xml_text(f, json_string_value(json_array_get(lost, n)));
			fputc('\n', f);
		}
		fputs("</error>\n    </testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	for (size_t p = 0; p < np; p++)
		free(names[p]);
	free(names);
	free(c);
	fflush(f);
	return ferror(f) ? -1 : 0;
}
