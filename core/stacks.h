/* Stacks and Python tracebacks, each stored once however often it recurs.
 *
 * A stack id names one distinct stack for the life of the process (and of its event log); 0 means
 * "no stack". Native stacks are return addresses; Python tracebacks are (file, function, line)
 * frames, outermost first, whose strings are interned in the same store. */
#ifndef SOCKLEAK_STACKS_H
#define SOCKLEAK_STACKS_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define SL_STACK_MAX_DEPTH 64

/* The one frame of a native stack that was not taken: the thread had too little stack left for
 * the walk (preload/preload.h). No return address can be 1; the report prints it as words. */
#define SL_STACK_NOT_TAKEN_PC 1
#define SL_STACK_NOT_TAKEN_TEXT "(stack not taken: too little stack left in this thread)"

enum sl_stack_kind { SL_STACK_NATIVE = 1, SL_STACK_PYTHON = 2 };

struct sl_pyframe {
	uint32_t file;     /* string id */
	uint32_t function; /* string id */
	uint32_t line;
};

struct sl_stack_store;

struct sl_stack_store *sl_stacks_new(struct sl_arena *arena);

/* Interns a stack; returns its id, or 0 when memory ran out. */
uint32_t sl_stacks_add_native(struct sl_stack_store *st, const uint64_t *pcs, unsigned depth);
uint32_t sl_stacks_add_python(struct sl_stack_store *st, const struct sl_pyframe *frames,
			      unsigned depth);
/* Interns a string (a Python file or function name); returns its id, or 0. */
uint32_t sl_stacks_add_string(struct sl_stack_store *st, const char *s, size_t len);

/* Looks an id up. Returns the kind (0 for an unknown id) and sets the depth and the words: return
 * addresses for a native stack, two words a frame for Python (read them with sl_pyframe_at). */
int sl_stacks_get(const struct sl_stack_store *st, uint32_t id, unsigned *depth, const uint64_t **words);

static inline struct sl_pyframe sl_pyframe_at(const uint64_t *words, unsigned i)
{
	struct sl_pyframe f = {(uint32_t)words[2 * i], (uint32_t)(words[2 * i] >> 32),
			       (uint32_t)words[2 * i + 1]};
	return f;
}
const char *sl_stacks_string(const struct sl_stack_store *st, uint32_t id);

/* For the event log: marks an id as written to the current log, returning whether it already was.
 * sl_stacks_forget_logged starts a new log (a forked child's). */
int sl_stacks_test_and_mark_logged(struct sl_stack_store *st, uint32_t id);
int sl_stacks_string_test_and_mark_logged(struct sl_stack_store *st, uint32_t id);
void sl_stacks_forget_logged(struct sl_stack_store *st);

uint32_t sl_stacks_count(const struct sl_stack_store *st);

#endif
