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

struct sl_arena {
	void *free_lists[SL_ARENA_CLASSES];
	char *chunk_pos;  /* carving point in the current chunk */
	char *chunk_end;
	void *maps;            /* every mapping, linked through their headers (for destroy) */
	size_t bytes_in_use;   /* what callers hold, rounded to their class */
	size_t bytes_mapped;   /* what the arena took from the kernel */
	long fail_after;       /* fault injection: fail the n-th allocation (0 = never) */
	int failed;            /* an allocation has failed */
};

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
	void *p = cls < SL_ARENA_CLASSES ? a->free_lists[cls] : NULL;
	if (__builtin_expect(!p || a->fail_after > 0, 0))
		return sl_arena_alloc(a, size);
	a->free_lists[cls] = *(void **)p;
	__builtin_memset(p, 0, size);
	a->bytes_in_use += (size_t)16 << cls;
	return p;
}

static inline __attribute__((always_inline)) void sl_arena_free_fixed(struct sl_arena *a, void *p, size_t size)
{
	int cls = SL_ARENA_CLASS_OF(size);
	if (__builtin_expect(cls >= SL_ARENA_CLASSES, 0)) {
		sl_arena_free(a, p, size);
		return;
	}
	*(void **)p = a->free_lists[cls];
	a->free_lists[cls] = p;
	a->bytes_in_use -= (size_t)16 << cls;
}

#endif
