/* The end of the process: exit-time cleanup begins, the final verdicts are drawn, the report is
 * written, and the exit status may change. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/out.h"
#include "../core/report.h"
#include "../core/suppress.h"
#include "preload.h"

void sl_exit_phase(int phase, int status, int status_known)
{
	if (sl_vfork_child)
		return;
	if (status_known) {
		sl_rt.exit_status = status;
		sl_rt.exit_status_known = 1;
	}
	if (sl_active()) {
		struct sl_event ev = {.type = SL_EV_EXIT_PHASE, .a = phase};
		sl_record(&ev);
	}
}

/* Expands %p in a path to the pid. */
static void expand_path(const char *tmpl, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = tmpl; *p && n + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			n += (size_t)snprintf(out + n, size - n, "%d", (int)getpid());
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n < size ? n : size - 1] = '\0';
}

static int open_output(const char *tmpl, int truncate)
{
	char path[4096];
	expand_path(tmpl, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0644);
	if (fd < 0)
		sl_message("cannot write the report to %s: %s", path, strerror(errno));
	return fd;
}

static void ask_addresses(void *ctx, struct sl_state *s, const struct sl_transport *t, int fd)
{
	(void)ctx;
	(void)s;
	if (!sl_addr_complete(&t->local) ||
	    (!sl_addr_complete(&t->peer) && t->role != SL_ROLE_LISTENER && t->role != SL_ROLE_BOUND))
		sl_fill_addrs_locked(fd);
}

/* Builds and writes the report. Returns the number of error findings. */
static unsigned long write_report(void)
{
	struct sl_module *mods = NULL;
	unsigned nmods = 0;
	sl_modules_collect(&mods, &nmods);
	struct sl_report_proc proc = {
		.pid = (int)getpid(),
		.ppid = (int)getppid(),
		.argc = sl_rt.argc,
		.argv = sl_rt.argv,
		.state = &sl_rt.state,
		.mods = mods,
		.nmods = nmods,
		.parent = -1,
		.exec_of = -1,
	};
	const char *note = sl_tls_visibility_note(sl_main_function());
	if (note)
		proc.notes[proc.nnotes++] = note;
	unsigned blind = sl_blind_spot_notes(proc.notes + proc.nnotes, 4 - proc.nnotes);
	proc.nnotes += blind;
	char err[512];
	struct sl_suppressions *supp = NULL;
	if (sl_rt.opt.suppressions[0]) {
		supp = sl_supp_load(sl_rt.opt.suppressions, err, sizeof(err));
		if (!supp)
			sl_message("%s (findings reported unsuppressed)", err);
	}
	struct sl_report_config cfg = {.symbolize = sl_rt.opt.symbolize, .supp = supp};
	struct sl_report r;
	unsigned long errors = 0;
	if (sl_report_build(&r, &proc, 1, &cfg) < 0) {
		sl_message("out of memory while building the report");
	} else {
		errors = r.errors;
		if (sl_rt.opt.report && (r.nitems > 0 || blind > 0 || sl_rt.opt.verbosity > 0)) {
			int fd = sl_rt.opt.log_path[0] ? open_output(sl_rt.opt.log_path, 0) : 2;
			if (fd >= 0) {
				struct sl_out out;
				sl_out_init(&out, fd);
				sl_report_text(&r, &out, sl_rt.opt.verbosity > 0);
				if (sl_out_flush(&out))
					sl_message("the report could not be written: %s", strerror(out.error));
				if (fd != 2)
					close(fd);
			}
		}
		if (sl_rt.opt.json[0]) {
			int fd = open_output(sl_rt.opt.json, 1);
			if (fd >= 0) {
				struct sl_out out;
				sl_out_init(&out, fd);
				sl_report_json(&r, &out);
				if (sl_out_flush(&out))
					sl_message("the JSON report could not be written: %s", strerror(out.error));
				close(fd);
			}
		}
	}
	sl_report_free(&r);
	sl_supp_free(supp);
	sl_modules_free(mods, nmods);
	return errors;
}

void sl_finish(int how, int status, int status_known, int *exit_override)
{
	*exit_override = status;
	if (sl_vfork_child || !sl_rt.ready || sl_rt.disabled)
		return;
	/* _exit() from a signal handler that interrupted sockleak itself on this thread: the lock
	 * may be held right here, and the state half-updated. Exit without a report. */
	if (sl_in_hook)
		return;
	/* A child made by a raw clone() that reached no hook yet becomes a child of its own here;
	 * should it still hold the parent's pid, its state is the parent's: no report. */
	sl_check_new_process();
	if (getpid() != sl_rt.pid)
		return;
	int saved_errno = errno;
	int guard = sl_in_hook;
	sl_in_hook = 1;
	sl_lock();
	if (sl_rt.finished || sl_rt.state.exited) {
		sl_unlock();
		goto out;
	}
	sl_rt.finished = 1;
	if (status_known) {
		sl_rt.exit_status = status;
		sl_rt.exit_status_known = 1;
	}
	sl_blind_spots_at_exit();
	sl_state_for_each_open(&sl_rt.state, ask_addresses, NULL);
	const char *note = sl_tls_visibility_note(sl_main_function());
	if (note)
		sl_log_note(note);
	struct sl_event ev = {.type = SL_EV_EXIT, .a = sl_rt.exit_status, .b = how};
	sl_apply_locked(&ev);
	int oom = sl_rt.state.out_of_memory;
	sl_log_close();
	sl_unlock();
	/* Memory ran out while the exit's own verdicts were drawn (an address asked for, a
	 * finding raised): the report would leave findings out without a word. With
	 * fail_alloc_after=12, never_closed lost its one finding and exited 0 in silence. Say so,
	 * as everywhere else memory runs out, and make no report. */
	if (SL_UNLIKELY(oom)) {
		sl_disable("out of memory inside sockleak");
		goto out;
	}
	unsigned long errors = write_report();
	if (errors > 0 && sl_rt.opt.exitcode != 0)
		*exit_override = (int)sl_rt.opt.exitcode;
out:
	sl_in_hook = guard;
	errno = saved_errno;
}

/* Runs after the program's own destructors and atexit handlers (this library was initialized
 * before the program, so it is finalized after it). */
__attribute__((destructor)) static void sl_destructor(void)
{
	int code;
	sl_finish(SL_EXIT_HOW_EXIT, sl_rt.exit_status, 0, &code);
	if (code != sl_rt.exit_status) {
		/* exit() would flush stdio after the destructors; _exit() will not, so flush now. */
		fflush(NULL);
		static __typeof__(_exit) *real__exit;
		real__exit = (__typeof__(_exit) *)sl_resolve("_exit");
		if (real__exit)
			real__exit(code);
	}
}
