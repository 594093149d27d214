/* Writing a report where the program lives: shared by the exit report and checkpoints
 * (exit_report.c, checkpoint.c). */
#ifndef SOCKLEAK_REPORT_OUT_H
#define SOCKLEAK_REPORT_OUT_H

#include <signal.h>

/* Why a text report must not go to fd 2 (fd2_tracked: fd 2 holds a tracked socket or epoll
 * set), or NULL when fd 2 is still the stderr the process started with. */
const char *sl_stderr_refusal(int fd2_tracked);

/* Opens a report file safely (see exit_report.c). Returns the descriptor, or -1 after one
 * message. */
int sl_open_report_file(const char *what, const char *tmpl, int append);

/* SIGPIPE blocked while a report is written, and one that sockleak's writes raised taken back. */
struct quiet_sigpipe {
	sigset_t old;
	int was_pending;
};
void sl_sigpipe_block(struct quiet_sigpipe *q);
void sl_sigpipe_restore(struct quiet_sigpipe *q);

/* The checkpoints made so far, as JSON objects, for the exit JSON (checkpoint.c). */
char *const *sl_checkpoints_json(unsigned *n);

/* sockleak_check's work (checkpoint.c). With buf, the text goes there instead of stderr or
 * log_path; live: a live view (dump_signal), kept out of the exit JSON. */
#include <stddef.h>
#include <stdint.h>
unsigned long sl_checkpoint_check(uint64_t mark, const char *label, char *buf, size_t size, int live);

#endif
