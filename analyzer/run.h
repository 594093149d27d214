/* A run: every event log of the processes one command started (a run directory, or log files
 * named one by one), replayed, linked into one process tree, and finished: a process whose log
 * ends without an exit died, and its open transports are judged as at its death. */
#ifndef SOCKLEAK_RUN_H
#define SOCKLEAK_RUN_H

#include <stdio.h>

#include "../core/report.h"
#include "log_reader.h"

/* DIR/exit-status, written by 'sockleak run': how the processes it could wait for ended. */
#define SL_RUN_STATUS_FILE "exit-status"

struct sl_run_image {
	char *file;          /* the log's path */
	unsigned long seq;   /* N in sockleak.PID.N.log (0 for a file named otherwise) */
	struct sl_image img;
	struct sl_state *state; /* storage in the run's pool */
	int signal;          /* the signal it died of, when the wrapper learned it */
	int exit_status;     /* the wait status the wrapper saw (-1: none) */
	int running;         /* still running when the run ended: not judged */
	int parent;          /* index of the parent process's image, -1 for a root */
	int exec_of;         /* index of the image this one replaced by exec, -1 if none */
	struct sl_module *report_mods; /* the module list handed to the symbolizer */
	char *notes[4];      /* remarks for the report (owned) */
	unsigned nnotes;
};

struct sl_run {
	struct sl_run_image **v; /* usable images, ordered by start time: parents come first */
	unsigned n;
	unsigned files;         /* log files found */
	unsigned unreadable;    /* of which could not be read to their end (reported on stderr) */
	unsigned killed;        /* images judged as killed */
	unsigned superseded;    /* files left out: an earlier segment of an image whose later one is there */
	unsigned no_events;     /* run directories with the preload's marker and no log: no process
				 * there recorded an event (a run may then have no image at all) */
	struct sl_state *pool;  /* one state per file, in one mapping */
	size_t pool_bytes;
	struct sl_report_proc *procs; /* for sl_report_build, one per image */
	char **problems;        /* every message printed on errs, for the SARIF notifications */
	unsigned nproblems;
	/* Lost evidence: events a process observed and could not log (its log stopped early, or
	 * it could not create one, as RUN_DIR/lost-evidence says). One line each, for the report;
	 * the gate fails on any (docs/analyzer.md). */
	char **lost;
	unsigned nlost;
	/* The checkpoints that report a transport, as JSON objects, and the index of each one's
	 * process (analyzer/checkpoints.c). */
	char **checkpoint_json;
	unsigned *checkpoint_proc;
	unsigned ncheckpoints;
};

/* What every output says of a run whose processes recorded no event (sl_run_recorded_nothing). */
#define SL_RUN_NOTHING_RECORDED "no process recorded a transport: the preload ran, and a process makes its event log only at its first event"

/* Whether the run has no image because its processes recorded nothing (not because no process
 * loaded the preload: that run is refused by sl_run_load; nor because a process could not make
 * its log: that is lost evidence). */
static inline int sl_run_recorded_nothing(const struct sl_run *run)
{
	return run->n == 0 && run->no_events > 0 && run->nlost == 0;
}

/* Reads every log under the paths (directories are searched for sockleak.PID.N.log; other paths
 * are read as logs), and the exit-status file of each directory. Defects are reported on errs as
 * "sockleak-report: FILE: byte N: what" and counted in run->unreadable; the rest is kept.
 * Returns 0, or -1 when nothing could be analyzed at all (the reason is on errs). */
int sl_run_load(struct sl_run *run, char *const *paths, int npaths, const struct sl_state_config *cfg,
		FILE *errs);
void sl_run_free(struct sl_run *run);

/* "exit 0", "killed by SIGKILL", "exec", "still running", ... */
const char *sl_run_how(const struct sl_run *run, unsigned i, char *buf, size_t size);
/* The image's command line, one line, control characters shown as '?', cut at max bytes. */
const char *sl_run_cmdline(const struct sl_run_image *ri, char *buf, size_t size);

#endif
