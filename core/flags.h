/* The findings sockleak can raise: one table, shared by the preload, the analyzer, the
 * suppression parser and every output format. Ids are part of the JSON contract: never rename. */
#ifndef SOCKLEAK_FLAGS_H
#define SOCKLEAK_FLAGS_H

enum sl_flag {
	SL_FLAG_NEVER_CLOSED,
	SL_FLAG_CLOSED_AT_EXIT,
	SL_FLAG_READER_NOT_REMOVED,
	SL_FLAG_CLOSED_WHILE_REGISTERED,
	SL_FLAG_TLS_SHUTDOWN_ABANDONED,
	SL_FLAG_TLS_NO_CLOSE_NOTIFY,
	SL_FLAG_TLS_NOT_FREED,
	SL_FLAG_PROCESS_KILLED,
	SL_FLAG_COUNT
};

enum sl_severity { SL_SEV_WARNING, SL_SEV_ERROR };

struct sl_flag_info {
	const char *id;          /* stable name, e.g. "never-closed" */
	enum sl_severity severity;
	const char *summary;     /* one line: what the flag means */
};

extern const struct sl_flag_info sl_flag_table[SL_FLAG_COUNT];

/* Returns the flag with this id, or -1. */
int sl_flag_by_id(const char *id, unsigned len);
const char *sl_severity_name(enum sl_severity s);

#endif
