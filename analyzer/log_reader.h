/* Reads one event log (docs/event-log.md) and replays it through the lifecycle rules
 * (core/lifecycle.c), the same function the preload applies live, so that both reach the same
 * verdicts.
 *
 * The input is untrusted: a log may be truncated, corrupt, hostile, or written by a newer
 * sockleak. Every length is checked against the record that holds it, every id against what the
 * log defined before, every count against a cap. The first defect stops the reading: what came
 * before it stays replayed, and the defect is described with its byte offset. */
#ifndef SOCKLEAK_LOG_READER_H
#define SOCKLEAK_LOG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/lifecycle.h"
#include "../core/modules.h"
#include "../core/stacks.h"

#define SL_IMAGE_MAX_NOTES 4      /* NOTE records kept per log (more are counted, not kept) */
#define SL_IMAGE_NOTE_MAX 300     /* bytes kept of each note */
#define SL_LOG_MAX_MODULES 65536  /* MODULE records accepted per log */
#define SL_LOG_MAX_ARGC 65536     /* arguments accepted in a PROCESS record */
#define SL_LOG_MAX_FD (SL_FDTAB_CHUNK * SL_FDTAB_MAX_CHUNKS) /* what the state can track */

/* How a log ends (docs/event-log.md, "Ending"). */
enum sl_image_end {
	SL_END_NONE = 0,   /* no EXIT, EXEC or stop note: the process died without exiting */
	SL_END_EXIT,       /* an EXIT event: the process exited */
	SL_END_EXEC,       /* an EXEC event (a = 0) last: the image was replaced */
	SL_END_STOPPED,    /* a NOTE last: the preload stopped writing (the history is incomplete) */
	SL_END_CORRUPT,    /* reading stopped at a defect (the history is incomplete) */
};

struct sl_id_map; /* log id -> stack store id */

/* A checkpoint (sockleak_check) the log recorded, with a transport left over there: the
 * transports sl_state_checkpoint listed on the replayed state at its event. */
struct sl_image_checkpoint {
	char *label;               /* malloc'd */
	struct sl_transport *list; /* sl_state_checkpoint's; it refers to the replay */
	long n;
};

/* One process image: one log file. */
struct sl_image {
	/* The header and the PROCESS record. */
	uint32_t pid, ppid, forked_from;
	uint32_t segment;          /* the header's: 0, or k for the image's k-th later segment */
	int segment_seen;          /* a later segment's snapshot was read to its SEGMENT event */
	uint64_t start_ns;
	int have_process;          /* the PROCESS record was read */
	char *exe;                 /* the executable's path (malloc'd) */
	int argc;
	char **argv;               /* argc strings, NULL-terminated (one malloc'd block) */
	struct sl_module *mods;    /* malloc'd, paths malloc'd */
	unsigned nmods;
	char *notes[SL_IMAGE_MAX_NOTES]; /* NOTE records' text, control characters replaced */
	unsigned nnotes, notes_dropped;
	/* The replay. */
	struct sl_arena arena;
	struct sl_stack_store *stacks;
	struct sl_state *state;    /* the caller's storage, initialized by sl_log_replay */
	struct sl_id_map *stack_ids, *string_ids;
	enum sl_image_end end;
	uint64_t records, events;
	int last_event;            /* type of the last EVENT record, 0 if none */
	int exec_pending;          /* an EXEC (a = 0) not followed by a failed one (a = 1) */
	int out_of_memory;         /* an event or stack could not be stored */
	struct sl_image_checkpoint *checkpoints; /* those with a transport left over, in log order */
	unsigned ncheckpoints;
	/* The first defect, when end is SL_END_CORRUPT. */
	uint64_t error_offset;
	char error[256];
};

/* Reads a log held in memory and replays it into state (which it initializes with cfg). The
 * image must be zeroed before, and so must state (all its bytes: calloc'd or freshly mapped, so
 * that a run of thousands of processes never writes their descriptor tables' 128 KiB each). Returns 0 when the whole log was read, -1 when a defect stopped
 * the reading: img->error and img->error_offset say what and where. Even then the image holds
 * everything read before the defect; img->have_process says whether it names a process at all.
 * The state is not finished: the caller decides how the process ended (sl_image_finish). */
int sl_log_replay(struct sl_image *img, struct sl_state *state, const struct sl_state_config *cfg,
		  const unsigned char *buf, size_t len);

/* Ends the replay of a process that died without exiting: its open transports are judged as at
 * its death (process-killed). Does nothing unless the log ended without an ending (SL_END_NONE). */
void sl_image_finish_killed(struct sl_image *img);

/* Frees the replay (arena, stacks, id maps) but keeps the process facts. The state must not be
 * used afterwards. */
void sl_image_drop_replay(struct sl_image *img);
/* Frees everything the image owns (not the state storage). */
void sl_image_free(struct sl_image *img);


#endif
