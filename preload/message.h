/* The guards every write sockleak makes to fd 2 goes through (message.c). sl_message itself is
 * declared in preload.h. */
#ifndef SL_MESSAGE_H
#define SL_MESSAGE_H

#include <signal.h>

/* Why sockleak must not write to fd 2 now, or NULL when fd 2 is still the stderr the process
 * started with. */
const char *sl_stderr_refusal(void);
/* Set (by the exit report, under the lock) when fd 2 holds a transport the program tracked. */
extern int sl_stderr_tracked;

/* SIGPIPE held back while sockleak writes, and one its own writes raised taken back. */
struct sl_quiet_sigpipe {
	sigset_t old;
	int was_pending;
	int xfsz_was_pending; /* SIGXFSZ likewise: a message into a file past RLIMIT_FSIZE */
};
void sl_sigpipe_block(struct sl_quiet_sigpipe *q);
void sl_sigpipe_restore(struct sl_quiet_sigpipe *q);

#endif
