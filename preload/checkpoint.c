/* Issue 14, which test leaked it: sockleak_mark() and sockleak_check(), the calls behind
 * sockleak.h, the Python module and the pytest plugin. A mark is the id the next transport will
 * get; a check lists the transports made since that are still open, through the same lifecycle
 * walk (sl_state_checkpoint), report builder and writers as the exit report. The text goes
 * where the exit report goes, with its safety checks; the JSON of each checkpoint is kept for
 * the exit JSON's "checkpoints". */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/out.h"
#include "../core/report.h"
#include "../core/suppress.h"
#include "preload.h"
#include "report_out.h"

/* Checkpoint JSON objects, for the exit JSON; changed under sl_lock. */
static char **checkpoints;
static unsigned ncheckpoints, checkpoints_cap;
static pid_t checkpoints_pid; /* a forked child's copy of its parent's list is not its own */

char *const *sl_checkpoints_json(unsigned *n)
{
	*n = checkpoints_pid == getpid() ? ncheckpoints : 0;
	return checkpoints;
}

static void keep_json(char *json)
{
	if (checkpoints_pid != getpid()) {
		checkpoints_pid = getpid();
		ncheckpoints = 0;
	}
	if (ncheckpoints == checkpoints_cap) {
		unsigned ncap = checkpoints_cap ? checkpoints_cap * 2 : 16;
		char **nv = realloc(checkpoints, ncap * sizeof(*nv));
		if (!nv) {
			free(json);
			return;
		}
		checkpoints = nv;
		checkpoints_cap = ncap;
	}
	checkpoints[ncheckpoints++] = json;
}

SL_EXPORT uint64_t sockleak_mark(void)
{
	if (!sl_active() || sl_in_hook)
		return 0;
	sl_lock();
	if (!sl_rt.state.exited)
		sl_apply_ends_locked();
	uint64_t mark = sl_state_mark(&sl_rt.state);
	sl_unlock();
	return mark;
}

static void ask_addresses(void *ctx, struct sl_state *s, const struct sl_transport *t, int fd)
{
	(void)s;
	if (t->id < *(const uint64_t *)ctx)
		return;
	if (!sl_transport_addrs_known(t))
		sl_fill_addrs_locked(fd);
}

/* Builds the checkpoint's report under the lock (the copies share TLS records with the live
 * state) and renders it into memory. Returns the number of findings reported, or -1. */
static long build_locked(uint64_t mark, const char *label, int live, struct sl_suppressions *supp,
			 const struct sl_module *mods, unsigned nmods, char **text, size_t *text_len, char **json)
{
	sl_state_for_each_open(&sl_rt.state, ask_addresses, &mark);
	if (sl_log_active && !live) {
		/* Under 'sockleak run' the analyzer takes the same list from its replay, at this event. */
		uint32_t id = sl_stacks_add_string(sl_rt.stacks, label, strlen(label));
		if (id) {
			struct sl_event ev = {.type = SL_EV_CHECKPOINT, .a = id, .obj = mark};
			sl_apply_locked(&ev);
		}
	}
	struct sl_transport *list = NULL;
	long n = sl_state_checkpoint(&sl_rt.state, mark, &list);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	struct sl_report_proc proc = sl_report_proc_self(mods, nmods);
	struct sl_report_config cfg = {.symbolize = sl_rt.opt.symbolize,
					.supp = supp,
					.native_frames_all = !strcmp(sl_rt.opt.native_frames, "all")};
	struct sl_report r;
	long found = -1;
	if (sl_report_build_checkpoint(&r, &proc, &cfg, list, n, label) == 0) {
		found = (long)r.nitems;
		r.live_view = live;
		if (r.nitems > 0) {
			struct sl_out out;
			sl_out_init_mem(&out);
			sl_report_text(&r, &out, 0);
			if (sl_out_flush(&out) == 0) {
				*text = out.mem;
				*text_len = out.mem_len;
			} else {
				free(out.mem);
			}
			if (!live) {
				sl_out_init_mem(&out);
				sl_report_checkpoint_json(&r, &out);
				sl_out_write(&out, "", 1); /* the terminating '\0' */
				if (sl_out_flush(&out) == 0)
					*json = out.mem;
				else
					free(out.mem);
			}
		}
	}
	sl_report_free(&r);
	sl_state_checkpoint_free(list, n);
	return found;
}

static void write_text(const char *text, size_t len)
{
	int fd = 2, own = 0;
	if (sl_rt.opt.log_path[0]) {
		fd = sl_open_report_file("report", sl_rt.opt.log_path, 1);
		own = 1;
	} else {
		sl_lock();
		int tracked = sl_state_peek(&sl_rt.state, 2);
		sl_unlock();
		/* fd 2 is no longer stderr (a test runner capturing it, a socket): no text, and no
		 * message either, which would go to the same place. The exit JSON has the checkpoint. */
		if (tracked || sl_stderr_refusal())
			return;
	}
	if (fd < 0)
		return;
	struct sl_out out;
	sl_out_init(&out, fd);
	sl_out_write(&out, text, len);
	if (sl_out_flush(&out))
		sl_message("the checkpoint's report could not be written: %s", strerror(out.error));
	if (own)
		close(fd);
}

/* With buf, the text goes there (cut to size, '\0'-terminated) instead of the report's
 * destination: for the pytest plugin, which shows it in the test's failure. */
unsigned long sl_checkpoint_check(uint64_t mark, const char *label, char *buf, size_t size, int live)
{
	if (buf && size > 0)
		buf[0] = '\0';
	if (mark == 0 || !sl_active() || sl_in_hook)
		return 0;
	if (!label)
		label = "checkpoint";
	int saved_errno = errno;
	sl_in_hook = 1;
	struct sl_quiet_sigpipe q;
	sl_sigpipe_block(&q);
	struct sl_suppressions *supp = sl_report_suppressions();
	char *text = NULL, *json = NULL;
	size_t text_len = 0;
	long found = 0;
	/* The modules are listed before taking the lock: listing takes the loader's lock, which a
	 * thread inside dlopen holds while a constructor may make a socket and wait for ours. */
	struct sl_module *mods = NULL;
	unsigned nmods = 0;
	sl_modules_collect(&mods, &nmods);
	sl_modules_add_unloaded(&mods, &nmods);
	sl_lock();
	if (!sl_rt.state.exited && !sl_rt.finished) {
		sl_apply_ends_locked();
		found = build_locked(mark, label, live, supp, mods, nmods, &text, &text_len, &json);
		if (json)
			keep_json(json);
	}
	sl_unlock();
	sl_modules_free(mods, nmods);
	if (found < 0) {
		sl_message("out of memory while checking \"%s\"", label);
		found = 0;
	}
	if (live && !text) {
		/* A live view always answers, so that 'sockleak dump' knows it was heard. */
		char line[128];
		int len = snprintf(line, sizeof(line), "SUMMARY: sockleak: live view: no transport open now (pid %d)\n",
				   (int)getpid());
		text = malloc((size_t)len + 1);
		if (text) {
			memcpy(text, line, (size_t)len + 1);
			text_len = (size_t)len;
		}
	}
	if (text && buf && size > 0) {
		size_t n = text_len < size - 1 ? text_len : size - 1;
		memcpy(buf, text, n);
		buf[n] = '\0';
	} else if (text) {
		write_text(text, text_len);
	}
	free(text);
	sl_supp_free(supp);
	sl_sigpipe_restore(&q);
	sl_in_hook = 0;
	errno = saved_errno;
	return (unsigned long)found;
}

SL_EXPORT unsigned long sockleak_check(uint64_t mark, const char *label)
{
	return sl_checkpoint_check(mark, label, NULL, 0, 0);
}

SL_EXPORT unsigned long sockleak_check_text(uint64_t mark, const char *label, char *buf, size_t size)
{
	return sl_checkpoint_check(mark, label, buf, size, 0);
}
