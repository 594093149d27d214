/* The event log's on-disk format (docs/event-log.md), shared by the preload's writer and the
 * analyzer's reader. All integers are little-endian, as written by x86_64. */
#ifndef SOCKLEAK_LOGFORMAT_H
#define SOCKLEAK_LOGFORMAT_H

#include <stdint.h>

#define SL_LOG_MAGIC "SOCKLEAK"
#define SL_LOG_VERSION 3 /* 3: descriptors that are not sockets (SL_EV_FD_OPEN, issue 15);  2: segments (SL_EV_SEGMENT, SL_EV_RESTORE_*), closes in two steps and blind spots (28-31), SSL_SEEN and SSL_UP_REF (issue 11) */
#define SL_LOG_HEADER_SIZE 64

/* RUN_DIR/lost-evidence: one line "PID what" for each process that lost events it could not
 * put in its log (it could not even create one). 'sockleak run' creates the file, with blocks
 * reserved beyond its end; the preload only appends to it. */
#define SL_LOG_LOST_FILE "lost-evidence"
/* When even that file cannot be opened (every descriptor taken), the line is the target of a
 * symbolic link RUN_DIR/lost-evidence.PID.N instead (no descriptor needed). */

/* RUN_DIR/preload-ran: made (empty, 0600, O_EXCL) by the first process of the run that loaded the
 * preload. A process makes its log only at its first event (issue 12): a run whose processes
 * recorded nothing has this file and no log, and one with neither never loaded the preload. */
#define SL_LOG_RUN_MARKER "preload-ran"

/* The file starts with this header; records follow at SL_LOG_HEADER_SIZE. */
struct sl_log_header {
	char magic[8];         /* "SOCKLEAK" */
	uint32_t version;      /* SL_LOG_VERSION: a reader refuses a newer one */
	uint32_t header_size;  /* offset of the first record */
	uint32_t pid;
	uint32_t segment;      /* 0 for an image's first log, k for its k-th later segment */
	uint64_t start_ns;     /* CLOCK_REALTIME when the image's first log was opened */
	uint8_t pad_[32];
};

/* Every record starts with this word, written last: until it is stored the record does not
 * exist, so a process killed mid-write leaves a log that ends cleanly before it. */
struct sl_log_rec {
	uint32_t size; /* whole record, header included, a multiple of 8, at least 8 */
	uint16_t type; /* enum sl_log_rec_type */
	uint16_t commit; /* SL_LOG_COMMIT */
};

#define SL_LOG_COMMIT 0x5c1e
#define SL_LOG_MAX_RECORD (1u << 20)

enum sl_log_rec_type {
	SL_REC_PROCESS = 1, /* struct sl_rec_process, then exe path and argv as NUL-ended strings */
	SL_REC_MODULE = 2,  /* struct sl_rec_module, then the path, NUL-ended */
	SL_REC_STACK = 3,   /* struct sl_rec_stack, then depth (native) or 2*depth (Python) words */
	SL_REC_STRING = 4,  /* struct sl_rec_string, then len bytes (no NUL) */
	SL_REC_EVENT = 5,   /* struct sl_rec_event, then addrlen bytes of sockaddr */
	SL_REC_NOTE = 6,    /* a NUL-ended remark for the report */
};

struct sl_rec_process {
	uint32_t pid;
	uint32_t ppid;
	uint32_t forked_from; /* the parent's pid when this log starts a forked child, else 0 */
	uint32_t argc;
	uint64_t start_ns;
};

struct sl_rec_module {
	uint64_t base, lo, hi;
	uint8_t build_id_len;
	uint8_t build_id[20];
	uint8_t pad_[3];
};

struct sl_rec_stack {
	uint32_t id;
	uint16_t kind;  /* enum sl_stack_kind */
	uint16_t depth;
};

struct sl_rec_string {
	uint32_t id;
	uint32_t len;
};

struct sl_rec_event {
	uint16_t type;    /* enum sl_event_type */
	uint16_t addrlen;
	int32_t fd;
	int32_t fd2;
	uint32_t stack;
	uint32_t pystack;
	uint32_t pad_;
	int64_t a;
	int64_t b;
	uint64_t obj;
};

#endif
