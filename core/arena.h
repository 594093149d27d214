/* A small allocator over mmap for the transport table.
 *
 * The preload must never call malloc while tracking: a signal handler may run socket() or close()
 * while the interrupted code holds malloc's lock, and libc's malloc is not async-signal-safe. The
 * arena hands out fixed size classes from mmap'd chunks and keeps free lists, so steady churn
 * returns memory to the same lists instead of growing.
 *
 * Not thread-safe: every caller holds the state lock (preload) or is single-threaded (analyzer). */
#ifndef SOCKLEAK_ARENA_H
#define SOCKLEAK_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define SL_ARENA_CLASSES 8 /* 16, 32, ..., 2048 bytes; larger blocks are mapped one by one */

struct sl_arena_cache;

struct sl_arena {
	void *free_lists[SL_ARENA_CLASSES];
	char *chunk_pos;  /* carving point in the current chunk */
	char *chunk_end;
	void *maps;            /* every mapping, linked through their headers (for destroy) */
	size_t bytes_in_use;   /* what callers and threads' caches hold, rounded to their class */
	size_t bytes_mapped;   /* what the arena took from the kernel */
	long fail_after;       /* fault injection: fail the n-th allocation (0 = never) */
	int failed;            /* an allocation has failed */
	struct sl_arena_cache *caches; /* every thread's cache of this arena (below) */
};

/* A thread's own free blocks (issue 12). Two threads that take blocks from one free list write
 * its head, and each other's blocks, on every allocation: the list's cache line and the blocks'
 * own lines move between their cores, several times per connection. A thread with a cache takes
 * blocks of every size class from its own lists, refilled from the arena's lists in batches, and
 * gives them back to its own lists, handing a batch back to the arena when it holds too many.
 * So a thread that frees what it made (a connection's transport, registration and close record)
 * reuses its own blocks, on lines its own core wrote last.
 *
 * A cache is still used only by a caller that holds the state lock (or is single-threaded), as
 * every arena call is: so the thread that holds the lock can also empty another thread's cache
 * (sl_arena_cache_free), as a forked child must for the threads the fork did not copy. The preload
 * sets sl_arena_thread_cache to the calling thread's cache of its one arena (preload/runtime.c),
 * and every call a thread makes with a cache set is on that cache's arena; the analyzer never
 * sets one, and every call then takes the arena's lists as before. Blocks in a cache count as in
 * use in bytes_in_use; sl_arena_in_use leaves them out. */
/* Blocks moved at once between a cache and its arena: 8 of up to 128 bytes, 1 KiB of the larger
 * classes (one of 1 or 2 KiB). A cache keeps at most twice this per class: 14 KiB at worst, a
 * few hundred bytes for a thread that only makes and closes sockets. */
#define SL_ARENA_CACHE_BATCH(cls) ((cls) <= 3 ? 8u : (cls) >= 6 ? 1u : 1024u >> ((cls) + 4))
struct sl_arena_cache {
	void *free_lists[SL_ARENA_CLASSES];
	uint16_t count[SL_ARENA_CLASSES];
	struct sl_arena *arena;
	struct sl_arena_cache *prev, *next; /* in arena->caches */
};
extern __thread struct sl_arena_cache *sl_arena_thread_cache;

/* A new, empty cache of a, linked into a->caches (taken from a itself), or NULL when memory ran
 * out. Called by a thread that has no cache yet (sl_arena_thread_cache NULL). */
struct sl_arena_cache *sl_arena_cache_new(struct sl_arena *a);
/* Gives every block of c back to its arena, unlinks c and frees it. c must not be
 * sl_arena_thread_cache (the caller clears that first when it is its own). */
void sl_arena_cache_free(struct sl_arena_cache *c);
/* Frees every cache of a but keep (which may be NULL): a forked child's other threads are gone. */
void sl_arena_caches_keep_only(struct sl_arena *a, struct sl_arena_cache *keep);
/* The bytes callers hold: bytes_in_use without the blocks waiting in threads' caches. */
size_t sl_arena_in_use(const struct sl_arena *a);

void sl_arena_init(struct sl_arena *a);
/* Returns zeroed memory, or NULL when the kernel refuses memory (or fault injection says so). */
void *sl_arena_alloc(struct sl_arena *a, size_t size);
void sl_arena_free(struct sl_arena *a, void *p, size_t size);
char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n);
/* Unmaps every chunk the arena took (analyzer only; the preload never tears down). */
void sl_arena_destroy(struct sl_arena *a);

/* sl_arena_alloc and sl_arena_free for a size known at compile time, inlined where the preload
 * allocates on every connection (a transport, a registration, a close under way): the class is
 * computed by the compiler, and a block on its free list is taken or given back in a few
 * instructions (issue 12). Anything else (no free block, fault injection) takes the call. */
#define SL_ARENA_CLASS_OF(size) ((size) <= 16 ? 0 : (int)(sizeof(unsigned long) * 8) - __builtin_clzl((size) - 1) - 4)

static inline __attribute__((always_inline)) void *sl_arena_alloc_fixed(struct sl_arena *a, size_t size)
{
	int cls = SL_ARENA_CLASS_OF(size);
	if (cls >= SL_ARENA_CLASSES)
		return sl_arena_alloc(a, size);
	struct sl_arena_cache *c = sl_arena_thread_cache;
	void *p;
	if (c) {
		/* Fault injection never has caches (runtime.c): the n-th allocation is counted in
		 * sl_arena_alloc, which refills the cache when it is empty. */
		p = c->free_lists[cls];
		if (__builtin_expect(!p, 0))
			return sl_arena_alloc(a, size);
		c->free_lists[cls] = *(void **)p;
		c->count[cls]--;
	} else {
		p = a->free_lists[cls];
		if (__builtin_expect(!p || a->fail_after > 0, 0))
			return sl_arena_alloc(a, size);
		a->free_lists[cls] = *(void **)p;
		a->bytes_in_use += (size_t)16 << cls;
	}
	__builtin_memset(p, 0, size);
	return p;
}

static inline __attribute__((always_inline)) void sl_arena_free_fixed(struct sl_arena *a, void *p, size_t size)
{
	int cls = SL_ARENA_CLASS_OF(size);
	struct sl_arena_cache *c = sl_arena_thread_cache;
	if (__builtin_expect(cls >= SL_ARENA_CLASSES || !c || c->count[cls] >= 2 * SL_ARENA_CACHE_BATCH(cls), 0)) {
		sl_arena_free(a, p, size);
		return;
	}
	*(void **)p = c->free_lists[cls];
	c->free_lists[cls] = p;
	c->count[cls]++;
}

#endif
