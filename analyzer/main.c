/* sockleak-report: reads the event logs of a run (every process 'sockleak run' started), replays
 * them through the lifecycle rules, and writes one report for the whole process tree: text,
 * JSON, SARIF and JUnit, with suppressions, a baseline, and an exit status to gate CI on.
 * docs/analyzer.md describes it; docs/sockleak.1 is the manual. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/logformat.h"
#include "../core/out.h"
#include "../core/report.h"
#include "../core/suppress.h"
#include "baseline.h"
#include "checkpoints.h"
#include "findings.h"
#include "junit.h"
#include "run.h"
#include "sarif.h"
#include "symbols.h"
#include "text.h"

/* Exit statuses (docs/analyzer.md). The gate's is --exitcode, 23 by default. */
#define EXIT_PASSED 0
#define EXIT_USAGE 1 /* the request could not be carried out: arguments, suppressions, baseline, output */
#define EXIT_INPUT 2 /* a log could not be read to its end (the rest is reported), or there was none */
#define EXIT_LOST 3  /* the gate failed on lost evidence: a process could not log every event */
#define DEFAULT_EXITCODE 23

static const char usage[] =
	"Usage: sockleak-report [OPTION]... RUN_DIR|LOG_FILE...\n"
	"Reads the event logs of a run (written with SOCKLEAK_OPTIONS=run_dir=DIR, as 'sockleak run'\n"
	"does), and reports every process of it as one: transports never closed, closed only at exit,\n"
	"left registered with epoll, TLS sessions not finished, and those open in a process that was\n"
	"killed.\n"
	"\n"
	"Output:\n"
	"  --text FILE          the text report goes to FILE (default: standard output)\n"
	"  --json FILE          also write the JSON report (the preload's format, plus the process tree)\n"
	"  --sarif FILE         also write SARIF 2.1.0, for code-scanning views\n"
	"  --junit FILE         also write JUnit XML: one test case per process\n"
	"                       (FILE '-' is standard output; the text report then goes to standard error)\n"
	"  -q, --quiet          no text report\n"
	"  -v, --verbose        the whole process tree, even when nothing was found\n"
	"\n"
	"Findings:\n"
	"  --suppressions FILE  flag:pattern lines (LeakSanitizer style): matching findings are not reported\n"
	"  --no-default-suppressions  report the internals of widely used runtimes too (trio's wakeup\n"
	"                       socketpairs; as default_suppressions=0)\n"
	"  --baseline FILE      a JSON report of an earlier run: only findings not in it count for the gate\n"
	"  --fail-on LEVEL      error (default), warning, or never: what fails the gate\n"
	"  --exitcode N         exit status when the gate fails (default 23)\n"
	"  --report-inherited   also judge the transports a forked child inherited (as report_inherited=1)\n"
	"  --no-symbolize       leave frames as module+offset\n"
	"  --native-frames WHICH  under a Python traceback: folded (the default; native frames down to\n"
	"                       the interpreter's first, then a count) or all (as native_frames=all)\n"
	"  --source-root DIR    SARIF: paths under DIR are written relative to it (default: the current\n"
	"                       directory)\n"
	"\n"
	"  -h, --help           this text\n"
	"      --version        the version\n"
	"\n"
	"Exit status: 0 when the gate passes; the --exitcode status (23) when it fails; 1 when the\n"
	"request cannot be carried out (bad arguments, suppressions, baseline, an unwritable output);\n"
	"2 when a log is damaged or missing (the rest is still reported, and a failed gate wins);\n"
	"3 when evidence was lost (a process's event log stopped early, or it could not make one):\n"
	"the gate fails on it unless --fail-on never; findings that fail the gate win.\n";

enum {
	OPT_TEXT = 256, OPT_JSON, OPT_SARIF, OPT_JUNIT, OPT_SUPPRESSIONS, OPT_BASELINE, OPT_FAIL_ON, OPT_EXITCODE,
	OPT_REPORT_INHERITED, OPT_NO_SYMBOLIZE, OPT_SOURCE_ROOT, OPT_VERSION, OPT_NO_DEFAULT_SUPPRESSIONS,
	OPT_NATIVE_FRAMES,
};

static const struct option long_options[] = {
	{"text", required_argument, NULL, OPT_TEXT},
	{"json", required_argument, NULL, OPT_JSON},
	{"sarif", required_argument, NULL, OPT_SARIF},
	{"junit", required_argument, NULL, OPT_JUNIT},
	{"suppressions", required_argument, NULL, OPT_SUPPRESSIONS},
	{"baseline", required_argument, NULL, OPT_BASELINE},
	{"fail-on", required_argument, NULL, OPT_FAIL_ON},
	{"exitcode", required_argument, NULL, OPT_EXITCODE},
	{"report-inherited", no_argument, NULL, OPT_REPORT_INHERITED},
	{"no-symbolize", no_argument, NULL, OPT_NO_SYMBOLIZE},
	{"native-frames", required_argument, NULL, OPT_NATIVE_FRAMES},
	{"no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPPRESSIONS},
	{"source-root", required_argument, NULL, OPT_SOURCE_ROOT},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct args {
	const char *text, *json, *sarif, *junit, *suppressions, *baseline, *source_root;
	enum sl_fail_on fail_on;
	int exitcode;
	int report_inherited, symbolize, quiet, verbose, default_suppressions, native_frames_all;
};

static int usage_error(const char *fmt, const char *what)
{
	fprintf(stderr, "sockleak-report: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, " (--help lists the options)\n");
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct args *a, int *first_path)
{
	memset(a, 0, sizeof(*a));
	a->exitcode = DEFAULT_EXITCODE;
	a->symbolize = 1;
	a->default_suppressions = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":qvh", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_TEXT: a->text = optarg; break;
		case OPT_JSON: a->json = optarg; break;
		case OPT_SARIF: a->sarif = optarg; break;
		case OPT_JUNIT: a->junit = optarg; break;
		case OPT_SUPPRESSIONS: a->suppressions = optarg; break;
		case OPT_BASELINE: a->baseline = optarg; break;
		case OPT_SOURCE_ROOT: a->source_root = optarg; break;
		case OPT_REPORT_INHERITED: a->report_inherited = 1; break;
		case OPT_NO_SYMBOLIZE: a->symbolize = 0; break;
		case OPT_NO_DEFAULT_SUPPRESSIONS: a->default_suppressions = 0; break;
		case OPT_NATIVE_FRAMES:
			if (strcmp(optarg, "folded") && strcmp(optarg, "all"))
				return usage_error("--native-frames takes folded or all, not '%s'", optarg);
			a->native_frames_all = !strcmp(optarg, "all");
			break;
		case 'q': a->quiet = 1; break;
		case 'v': a->verbose = 1; break;
		case 'h':
			fputs(usage, stdout);
			exit(EXIT_PASSED);
		case OPT_VERSION:
			printf("sockleak-report %s (event log format %d, JSON report format %d)\n", SOCKLEAK_VERSION,
			       SL_LOG_VERSION, SOCKLEAK_JSON_FORMAT);
			exit(EXIT_PASSED);
		case OPT_FAIL_ON:
			if (!strcmp(optarg, "error"))
				a->fail_on = SL_FAIL_ON_ERROR;
			else if (!strcmp(optarg, "warning"))
				a->fail_on = SL_FAIL_ON_WARNING;
			else if (!strcmp(optarg, "never"))
				a->fail_on = SL_FAIL_ON_NEVER;
			else
				return usage_error("--fail-on takes error, warning or never, not '%s'", optarg);
			break;
		case OPT_EXITCODE: {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 || v > 255)
				return usage_error("--exitcode takes an exit status, 0 to 255, not '%s'", optarg);
			a->exitcode = (int)v;
			break;
		}
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("%s", "no run directory or log file to read");
	*first_path = optind;
	return -1;
}

/* Opens an output named on the command line ('-' is standard output). */
static FILE *open_output(const char *path)
{
	if (!strcmp(path, "-"))
		return stdout;
	FILE *f = fopen(path, "we");
	if (!f)
		fprintf(stderr, "sockleak-report: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

static int close_output(FILE *f, const char *path)
{
	int failed = fflush(f) != 0 || ferror(f);
	if (f != stdout)
		failed |= fclose(f) != 0;
	if (failed)
		fprintf(stderr, "sockleak-report: writing %s failed: %s\n", path, strerror(errno));
	return failed ? -1 : 0;
}

static int write_json(const char *path, json_t *doc)
{
	FILE *f = open_output(path);
	if (!f)
		return -1;
	int rc = json_dumpf(doc, f, JSON_INDENT(2)) == 0 ? 0 : -1;
	fputc('\n', f);
	if (rc < 0)
		fprintf(stderr, "sockleak-report: writing %s failed\n", path);
	return close_output(f, path) < 0 || rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct args a;
	int first = 0;
	int rc = parse_args(argc, argv, &a, &first);
	if (rc >= 0)
		return rc;

	char err[1024];
	struct sl_suppressions *supp = NULL;
	if (a.suppressions) {
		supp = sl_supp_load(a.suppressions, err, sizeof(err));
		if (!supp) {
			fprintf(stderr, "sockleak-report: %s\n", err);
			return EXIT_USAGE;
		}
	}
	if (a.default_suppressions && sl_supp_add_defaults(&supp, err, sizeof(err)) < 0) {
		fprintf(stderr, "sockleak-report: %s\n", err);
		sl_supp_free(supp);
		return EXIT_USAGE;
	}
	struct sl_baseline *baseline = NULL;
	if (a.baseline) {
		baseline = sl_baseline_load(a.baseline, err, sizeof(err));
		if (!baseline) {
			fprintf(stderr, "sockleak-report: %s\n", err);
			sl_supp_free(supp);
			return EXIT_USAGE;
		}
	}

	struct sl_state_config scfg = {.report_inherited = a.report_inherited};
	struct sl_run run;
	if (sl_run_load(&run, argv + first, argc - first, &scfg, stderr) < 0) {
		fprintf(stderr, "sockleak-report: no event log could be read: nothing to report\n");
		/* Processes that could not even make their logs say so in lost-evidence. */
		for (unsigned k = 0; k < run.nlost; k++)
			fprintf(stderr, "sockleak-report: EVIDENCE LOST: %s\n", run.lost[k] ? run.lost[k] : "(out of memory)");
		int lost_fails = run.nlost && a.fail_on != SL_FAIL_ON_NEVER;
		sl_run_free(&run);
		sl_supp_free(supp);
		sl_baseline_free(baseline);
		return lost_fails ? EXIT_LOST : EXIT_INPUT;
	}

	struct sl_report_config rcfg = {.symbolize = a.symbolize, .supp = supp, .native_frames_all = a.native_frames_all};
	struct sl_report r;
	int status = EXIT_PASSED;
	/* One symbolizer for every process of the run (analyzer/symbols.c). */
	struct sl_run_symbols *symbols = a.symbolize ? sl_run_symbols_prepare(&run) : NULL;
	rc = symbols ? sl_report_build_shared(&r, run.procs, run.n, &rcfg, sl_run_symbols_symbolizer(symbols))
		     : sl_report_build(&r, run.procs, run.n, &rcfg);
	sl_run_symbols_restore(symbols, &r);
	if (rc == 0 && sl_run_checkpoints(&run, &rcfg) < 0)
		rc = -1;
	r.checkpoint_json = run.checkpoint_json;
	r.ncheckpoints = run.ncheckpoints;
	if (rc < 0) {
		fprintf(stderr, "sockleak-report: out of memory while building the report\n");
		status = EXIT_USAGE;
		goto out;
	}
	struct sl_gate gate = {.fail_on = a.fail_on, .baseline_path = a.baseline};
	json_t *doc = sl_findings_build(&r, &run, baseline, &gate, err, sizeof(err));
	if (!doc) {
		fprintf(stderr, "sockleak-report: %s\n", err);
		status = EXIT_USAGE;
		goto out;
	}

	int output_failed = 0;
	if (a.json && write_json(a.json, doc) < 0)
		output_failed = 1;
	if (a.sarif) {
		char cwd[PATH_MAX];
		const char *root = a.source_root ? a.source_root : getcwd(cwd, sizeof(cwd));
		char *abs_root = root ? realpath(root, NULL) : NULL;
		json_t *sarif = sl_sarif_build(doc, &run, &gate, abs_root ? abs_root : root);
		free(abs_root);
		if (!sarif || write_json(a.sarif, sarif) < 0)
			output_failed = 1;
		json_decref(sarif);
	}
	if (a.junit) {
		FILE *f = open_output(a.junit);
		if (!f || sl_junit_write(f, doc, &gate) < 0 || close_output(f, a.junit) < 0)
			output_failed = 1;
	}
	if (!a.quiet) {
		int to_stdout_taken = (a.json && !strcmp(a.json, "-")) || (a.sarif && !strcmp(a.sarif, "-")) ||
				      (a.junit && !strcmp(a.junit, "-"));
		int fd = to_stdout_taken ? 2 : 1;
		if (a.text && strcmp(a.text, "-") != 0) {
			fd = open(a.text, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0) {
				fprintf(stderr, "sockleak-report: cannot write %s: %s\n", a.text, strerror(errno));
				output_failed = 1;
			}
		} else {
			fflush(stdout);
		}
		if (fd >= 0) {
			struct sl_out out;
			sl_out_init(&out, fd);
			int code = gate.failed ? a.exitcode : gate.lost_fails ? EXIT_LOST : run.unreadable ? EXIT_INPUT
													    : EXIT_PASSED;
			sl_text_write(&out, &r, &run, doc, &gate, a.verbose, code);
			if (sl_out_flush(&out)) {
				fprintf(stderr, "sockleak-report: writing the text report failed: %s\n", strerror(out.error));
				output_failed = 1;
			}
			if (fd > 2)
				close(fd);
		}
	}
	json_decref(doc);
	if (output_failed)
		status = EXIT_USAGE;
	else if (gate.failed)
		status = a.exitcode;
	else if (gate.lost_fails)
		status = EXIT_LOST;
	else if (run.unreadable)
		status = EXIT_INPUT;
out:
	sl_report_free(&r);
	sl_run_symbols_free(symbols);
	sl_run_free(&run);
	sl_supp_free(supp);
	sl_baseline_free(baseline);
	return status;
}
