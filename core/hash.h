/* uthash, configured for sockleak: its tables take memory from an arena instead of malloc (see
 * arena.h for why), and running out of memory is reported to the caller instead of aborting.
 *
 * uthash's allocation macros take no context, so the arena is named by sl_hash_arena, which every
 * user sets before a HASH_ADD. All users hold the state lock (preload) or run single-threaded. */
#ifndef SOCKLEAK_HASH_H
#define SOCKLEAK_HASH_H

#include "arena.h"

extern struct sl_arena *sl_hash_arena;
extern int sl_hash_oom;

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) sl_arena_alloc(sl_hash_arena, (sz))
#define uthash_free(ptr, sz) sl_arena_free(sl_hash_arena, (ptr), (sz))
#define uthash_nonfatal_oom(obj) (sl_hash_oom = 1)
#define uthash_bzero(a, n) memset((a), 0, (n))

#include <string.h>
#include <uthash.h>

#endif
