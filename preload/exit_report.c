/* The end of the process: exit-time cleanup begins, the final verdicts are drawn, the report is
 * written, and the exit status may change. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/out.h"
#include "../core/report.h"
#include "../core/suppress.h"
#include "message.h"
#include "preload.h"
#include "report_out.h"

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

static const char *file_kind(mode_t mode)
{
	return S_ISLNK(mode) ? "it is a symbolic link" : S_ISFIFO(mode) ? "it is a FIFO"
	       : S_ISDIR(mode) ? "it is a directory" : S_ISSOCK(mode) ? "it is a socket"
	       : S_ISCHR(mode) || S_ISBLK(mode) ? "it is a device" : "it is not a regular file";
}

/* color=auto|always|never: auto colours only a terminal whose TERM is not "dumb", as the
 * sanitizers do; errno is the program's and stays as it was. */
static int paint_text(int fd)
{
	if (!strcmp(sl_rt.opt.color, "always"))
		return 1;
	if (strcmp(sl_rt.opt.color, "auto"))
		return 0;
	int saved = errno;
	const char *term = getenv("TERM");
	int tty = isatty(fd) && !(term && !strcmp(term, "dumb"));
	errno = saved;
	return tty;
}

/* Opens a report file (what: "report" for the text, or "JSON report") for writing, truncated or appended
 * to. Reports hold argv, addresses and stacks, and are often written into shared folders: the
 * file is made new with mode 0600, or else must be a regular file of this user with no other
 * name. A symbolic link planted there once made sockleak overwrite its target, a FIFO hung the
 * program at exit, and a file made by another user received the report. Returns the descriptor,
 * or -1 after one message naming the path and the reason. */
int sl_open_report_file(const char *what, const char *tmpl, int append)
{
	char path[4096];
	expand_path(tmpl, path, sizeof(path));
	int flags = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (append ? O_APPEND : 0);
	int fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EEXIST) {
		sl_message("cannot write the %s to %s: %s", what, path, strerror(errno));
		return -1;
	}
	/* It exists. Look before opening (opening a device or a FIFO may act or block), then make
	 * sure that what was opened is what was looked at. */
	struct stat st, fst;
	const char *why = NULL;
	if (lstat(path, &st) < 0) {
		sl_message("cannot write the %s to %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		why = file_kind(st.st_mode);
	else if (st.st_uid != geteuid())
		why = "another user owns it";
	else if (st.st_nlink != 1)
		why = "it has other hard links";
	if (why) {
		sl_message("cannot write the %s to %s: %s", what, path, why);
		return -1;
	}
	fd = open(path, flags);
	if (fd < 0) {
		sl_message("cannot write the %s to %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &fst) < 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino || !S_ISREG(fst.st_mode) ||
	    fst.st_uid != geteuid() || fst.st_nlink != 1) {
		sl_message("cannot write the %s to %s: it was replaced while being opened", what, path);
		close(fd);
		return -1;
	}
	if (!append && ftruncate(fd, 0) < 0) {
		sl_message("cannot write the %s to %s: %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct sl_report_proc sl_report_proc_self(const struct sl_module *mods, unsigned nmods)
{
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
	return proc;
}

struct sl_suppressions *sl_report_suppressions(void)
{
	char err[512];
	struct sl_suppressions *supp = NULL;
	if (sl_rt.opt.suppressions[0]) {
		supp = sl_supp_load(sl_rt.opt.suppressions, err, sizeof(err));
		if (!supp)
			sl_message("%s (findings reported unsuppressed)", err);
	}
	if (sl_rt.opt.default_suppressions && sl_supp_add_defaults(&supp, err, sizeof(err)) < 0)
		sl_message("%s (findings reported unsuppressed)", err);
	return supp;
}

static void ask_addresses(void *ctx, struct sl_state *s, const struct sl_transport *t, int fd)
{
	(void)ctx;
	(void)s;
	if (!sl_transport_addrs_known(t))
		sl_fill_addrs_locked(fd);
}

/* Whether TLS sessions are visible, found once at exit (a dlsym and three dladdr calls) for the
 * event log and the report both. */
static const char *tls_note;

/* Builds and writes the report: the JSON first, so that it never depends on the text report.
 * Returns the number of error findings. */
static unsigned long write_report(void)
{
	/* The text report goes to fd 2 under the guards every sockleak message takes. */
	struct sl_quiet_sigpipe q;
	sl_sigpipe_block(&q);
	const char *stderr_why = sl_stderr_refusal();
	struct sl_module *mods = NULL;
	unsigned nmods = 0;
	sl_modules_collect(&mods, &nmods);
	sl_modules_add_unloaded(&mods, &nmods);
	struct sl_report_proc proc = sl_report_proc_self(mods, nmods);
	if (tls_note)
		proc.notes[proc.nnotes++] = tls_note;
	unsigned blind = sl_blind_spot_notes(proc.notes + proc.nnotes, 4 - proc.nnotes);
	proc.nnotes += blind;
	struct sl_suppressions *supp = sl_report_suppressions();
	struct sl_report_config cfg = {.symbolize = sl_rt.opt.symbolize,
					.supp = supp,
					.native_frames_all = !strcmp(sl_rt.opt.native_frames, "all")};
	struct sl_report r;
	unsigned long errors = 0;
	if (sl_report_build(&r, &proc, 1, &cfg) < 0) {
		sl_message("out of memory while building the report");
	} else {
		errors = r.errors;
		int text_fd = -1, text_own = 0;
		if (sl_rt.opt.report && (r.nitems > 0 || blind > 0 || sl_rt.opt.verbosity > 0)) {
			if (sl_rt.opt.log_path[0]) {
				/* A program that closed stderr may have its fd 2 handed to this file. */
				text_fd = sl_open_report_file("report", sl_rt.opt.log_path, 1);
				text_own = 1;
				if (text_fd < 0)
					r.text_refused = "log_path could not be opened safely";
			} else if (stderr_why) {
				r.text_refused = stderr_why;
			} else {
				text_fd = 2;
			}
		}
		r.checkpoint_json = sl_checkpoints_json(&r.ncheckpoints);
		if (sl_rt.opt.json[0]) {
			int fd = sl_open_report_file("JSON report", sl_rt.opt.json, 0);
			if (fd >= 0) {
				struct sl_out out;
				sl_out_init(&out, fd);
				sl_report_json(&r, &out);
				if (sl_out_flush(&out))
					sl_message("the JSON report could not be written: %s", strerror(out.error));
				close(fd);
			}
		}
		if (text_fd >= 0) {
			struct sl_out out;
			sl_out_init(&out, text_fd);
			out.color = paint_text(text_fd);
			sl_report_text(&r, &out, sl_rt.opt.verbosity > 0);
			if (sl_out_flush(&out))
				sl_message("the report could not be written: %s", strerror(out.error));
			if (text_own)
				close(text_fd);
		}
	}
	sl_report_free(&r);
	sl_supp_free(supp);
	sl_modules_free(mods, nmods);
	sl_sigpipe_restore(&q);
	return errors;
}

/* Whether the report would be read by no one, so that building it (a module listing, the
 * suppressions, a dozen system calls: 8,000 instructions at every exit) can be skipped. Under
 * `sockleak run` (report=0, exitcode=0, no json) the analyzer reports from the event log. And a
 * text report is written only when it has a transport to show (all of them are on done_head
 * after the exit event), a blind spot to tell, or verbosity asks for it: without those and
 * without json, write_report writes nothing and counts no error. */
static int report_unread(void)
{
	if (sl_rt.opt.json[0])
		return 0;
	if (!sl_rt.opt.report && sl_rt.opt.exitcode == 0)
		return 1;
	const char *notes[4];
	return !sl_rt.state.done_head && sl_rt.opt.verbosity == 0 && sl_blind_spot_notes(notes, 4) == 0;
}

static void finish(int how, int status, int status_known, int *exit_override)
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
	sl_tls_check_readers();
	sl_lock();
	if (sl_rt.finished || sl_rt.state.exited) {
		sl_unlock();
		goto out;
	}
	sl_rt.finished = 1;
	if (!sl_rt.disabled)
		sl_apply_ends_locked();
	if (status_known) {
		sl_rt.exit_status = status;
		sl_rt.exit_status_known = 1;
	}
	sl_blind_spots_at_exit();
	sl_state_for_each_open(&sl_rt.state, ask_addresses, NULL);
	sl_stderr_tracked = sl_state_peek(&sl_rt.state, 2);
	sl_tls_observe_live_locked();
	/* Said only of a process that had transports: one with none has no TLS session to miss,
	 * and the question costs a failing dlsym (7,000 instructions) at every exit. */
	tls_note = sl_rt.state.next_transport_id ? sl_tls_visibility_note(sl_main_function()) : NULL;
	if (tls_note)
		sl_log_note(tls_note);
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
	if (report_unread())
		goto out;
	unsigned long errors = write_report();
	if (errors > 0 && sl_rt.opt.exitcode != 0)
		*exit_override = (int)sl_rt.opt.exitcode;
out:
	sl_in_hook = guard;
	errno = saved_errno;
}

/* The report runs on a stack of sockleak's own (ownstack.c): it takes about 32 KiB (symbolizing
 * with libdw, grouping, formatting into a 16 KiB buffer), and exit() may come from a thread
 * with a 16 KiB stack or _exit() from a handler on a signal's alternate stack. 1 MiB, reserved
 * and not committed, leaves room for the program's signal handlers meanwhile. */
#define REPORT_STACK_SIZE (1 << 20)
#define REPORT_STACK_NEEDED (128 * 1024)

struct finish_args {
	int how, status, status_known;
	int *exit_override;
};

static void finish_on_own_stack(void *p)
{
	struct finish_args *a = p;
	finish(a->how, a->status, a->status_known, a->exit_override);
}

/* Tracking stopped earlier (sl_disable): no report, the program's own status, and under
 * `sockleak run` an event log that says it stopped (sl_log_stop), so that the gate fails on the
 * evidence lost instead of passing on a log that merely ends. */
static void finish_disabled(void)
{
	const char *why = __atomic_load_n(&sl_rt.disabled_why, __ATOMIC_ACQUIRE);
	if (!why || !sl_log_active || getpid() != sl_rt.pid)
		return;
	int saved_errno = errno;
	sl_in_hook = 1;
	sl_lock();
	sl_log_stop(why);
	sl_unlock();
	sl_in_hook = 0;
	errno = saved_errno;
}

void sl_finish(int how, int status, int status_known, int *exit_override)
{
	*exit_override = status;
	if (sl_rt.disabled && !sl_vfork_child && sl_rt.ready && !sl_in_hook)
		finish_disabled();
	/* What finish() returns at once for, checked before a stack is mapped: a vforked child
	 * must not map anything in its parent's memory. */
	if (sl_vfork_child || !sl_rt.ready || sl_rt.disabled || sl_in_hook)
		return;
	/* A process that never tracked a descriptor has no stack to symbolize and no transport to
	 * report: its exit is the blind spots' checks and at most a few lines. On the main thread
	 * with REPORT_STACK_NEEDED left, it runs where it is, rather than on a stack mapped for it
	 * (an mmap, an mprotect and a munmap at the exit of every such process, issue 12). The
	 * descriptor table's chunks are made at the first descriptor tracked, and a forked child
	 * inherits its parent's. */
	if (sl_rt.state.fdtab_chunks == 0 && !sl_rt.state.tls && sl_stack_room_main() >= REPORT_STACK_NEEDED) {
		finish(how, status, status_known, exit_override);
		return;
	}
	struct finish_args a = {how, status, status_known, exit_override};
	if (sl_on_own_stack(finish_on_own_stack, &a, REPORT_STACK_SIZE) == 0)
		return;
	/* No memory for a stack (RLIMIT_AS reached): a thread with room to spare makes the report
	 * on its own stack, as before; a small one makes none rather than crash. */
	if (sl_stack_room() >= REPORT_STACK_NEEDED)
		finish(how, status, status_known, exit_override);
	else
		sl_disable("no memory could be mapped for the exit report's stack, and this thread's stack is too small for it");
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
