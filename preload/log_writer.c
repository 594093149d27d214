/* The event log (docs/event-log.md): written only when run_dir is set. */
#include "preload.h"

int sl_log_open(const char *run_dir, int forked_from)
{
	(void)run_dir;
	(void)forked_from;
	return 0;
}

void sl_log_event(const struct sl_event *ev)
{
	(void)ev;
}

void sl_log_fork_child(void)
{
}

void sl_log_close(void)
{
}
