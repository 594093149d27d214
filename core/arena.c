#include "arena.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_SIZE (256u * 1024u)
#define MIN_CLASS_SHIFT 4 /* the smallest class is 16 bytes */

/* Every mapping the arena makes begins with this header, so that destroy can find them all and
 * a large block can be unmapped on its own. 64 bytes keep the payload on a cache line's start:
 * a block of 64 bytes or more is carved at a multiple of 64 (carve), so that no two blocks share
 * a line, which two threads would otherwise write at once (issue 12). */
#define LINE 64
struct mapping {
	struct mapping *prev, *next;
	size_t size;
	char pad_[LINE - 3 * sizeof(size_t)];
};
_Static_assert(sizeof(struct mapping) == LINE, "the arena's mapping header is one cache line");

__thread struct sl_arena_cache *sl_arena_thread_cache;

static struct mapping *map_block(struct sl_arena *a, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		a->failed = 1;
		return NULL;
	}
	struct mapping *m = p;
	m->size = size;
	m->prev = NULL;
	m->next = a->maps;
	if (m->next)
		m->next->prev = m;
	a->maps = m;
	a->bytes_mapped += size;
	return m;
}

static void unmap_block(struct sl_arena *a, struct mapping *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		a->maps = m->next;
	if (m->next)
		m->next->prev = m->prev;
	a->bytes_mapped -= m->size;
	munmap(m, m->size);
}

/* The class of a size: 0 for up to 16 bytes, 1 for 17 to 32, ...; -1 beyond the last. */
static int size_class(size_t size)
{
	if (size <= ((size_t)1 << MIN_CLASS_SHIFT))
		return 0;
	int cls = (int)(sizeof(unsigned long) * 8) - __builtin_clzl(size - 1) - MIN_CLASS_SHIFT;
	return cls < SL_ARENA_CLASSES ? cls : -1;
}

void sl_arena_init(struct sl_arena *a)
{
	memset(a, 0, sizeof(*a));
}

/* A new block of class cls (csize bytes) from the current chunk, or from a new one; NULL when
 * the kernel refuses memory. */
static void *carve(struct sl_arena *a, size_t csize)
{
	size_t align = csize < LINE ? csize : LINE;
	char *pos = a->chunk_pos ? (char *)(((uintptr_t)a->chunk_pos + align - 1) & ~(uintptr_t)(align - 1)) : NULL;
	if (pos == NULL || pos > a->chunk_end || (size_t)(a->chunk_end - pos) < csize) {
		struct mapping *m = map_block(a, CHUNK_SIZE);
		if (!m)
			return NULL;
		pos = (char *)(m + 1);
		a->chunk_end = (char *)m + CHUNK_SIZE;
	}
	a->chunk_pos = pos + csize;
	return pos;
}

/* A block of class cls from the arena's own list, else carved; counted in bytes_in_use. */
static void *take(struct sl_arena *a, int cls)
{
	size_t csize = (size_t)1 << (cls + MIN_CLASS_SHIFT);
	void *p = a->free_lists[cls];
	if (p)
		a->free_lists[cls] = *(void **)p;
	else if (!(p = carve(a, csize)))
		return NULL;
	a->bytes_in_use += csize;
	return p;
}

static void give(struct sl_arena *a, void *p, int cls)
{
	*(void **)p = a->free_lists[cls];
	a->free_lists[cls] = p;
	a->bytes_in_use -= (size_t)1 << (cls + MIN_CLASS_SHIFT);
}

/* An empty list of the calling thread's cache: a batch moved into it from the arena. Returns
 * how many came (0: out of memory). */
static unsigned refill(struct sl_arena_cache *c, int cls)
{
	unsigned n = 0;
	while (n < SL_ARENA_CACHE_BATCH(cls)) {
		void *p = take(c->arena, cls);
		if (!p)
			break;
		*(void **)p = c->free_lists[cls];
		c->free_lists[cls] = p;
		n++;
	}
	c->count[cls] = (uint16_t)(c->count[cls] + n);
	return n;
}

/* Gives n blocks of the cache's list cls back to the arena. */
static void drain(struct sl_arena_cache *c, int cls, unsigned n)
{
	while (n-- > 0 && c->free_lists[cls]) {
		void *p = c->free_lists[cls];
		c->free_lists[cls] = *(void **)p;
		c->count[cls]--;
		give(c->arena, p, cls);
	}
}

void *sl_arena_alloc(struct sl_arena *a, size_t size)
{
	if (size == 0)
		size = 1;
	/* Fault injection: the n-th allocation fails, wherever its memory would come from. */
	if (a->fail_after > 0 && --a->fail_after == 0) {
		a->failed = 1;
		return NULL;
	}
	int cls = size_class(size);
	if (cls < 0) {
		struct mapping *m = map_block(a, (sizeof(struct mapping) + size + 4095) & ~(size_t)4095);
		if (!m)
			return NULL;
		a->bytes_in_use += m->size;
		return m + 1; /* fresh anonymous pages are already zero */
	}
	void *p;
	struct sl_arena_cache *c = sl_arena_thread_cache;
	if (c) {
		if (!c->free_lists[cls] && !refill(c, cls)) {
			a->failed = 1;
			return NULL;
		}
		p = c->free_lists[cls];
		c->free_lists[cls] = *(void **)p;
		c->count[cls]--;
	} else if (!(p = take(a, cls))) {
		return NULL;
	}
	memset(p, 0, size); /* callers see only size bytes */
	return p;
}

void sl_arena_free(struct sl_arena *a, void *p, size_t size)
{
	if (!p)
		return;
	if (size == 0)
		size = 1;
	int cls = size_class(size);
	if (cls < 0) {
		struct mapping *m = (struct mapping *)p - 1;
		a->bytes_in_use -= m->size;
		unmap_block(a, m);
		return;
	}
	struct sl_arena_cache *c = sl_arena_thread_cache;
	if (!c) {
		give(a, p, cls);
		return;
	}
	*(void **)p = c->free_lists[cls];
	c->free_lists[cls] = p;
	c->count[cls]++;
	if (c->count[cls] > 2 * SL_ARENA_CACHE_BATCH(cls))
		drain(c, cls, SL_ARENA_CACHE_BATCH(cls));
}

struct sl_arena_cache *sl_arena_cache_new(struct sl_arena *a)
{
	struct sl_arena_cache *c = sl_arena_alloc(a, sizeof(*c));
	if (!c)
		return NULL;
	c->arena = a;
	c->next = a->caches;
	if (c->next)
		c->next->prev = c;
	a->caches = c;
	return c;
}

void sl_arena_cache_free(struct sl_arena_cache *c)
{
	struct sl_arena *a = c->arena;
	for (int cls = 0; cls < SL_ARENA_CLASSES; cls++)
		drain(c, cls, UINT32_MAX);
	if (c->prev)
		c->prev->next = c->next;
	else
		a->caches = c->next;
	if (c->next)
		c->next->prev = c->prev;
	give(a, c, size_class(sizeof(*c)));
}

void sl_arena_caches_keep_only(struct sl_arena *a, struct sl_arena_cache *keep)
{
	struct sl_arena_cache *c = a->caches;
	while (c) {
		struct sl_arena_cache *next = c->next;
		if (c != keep)
			sl_arena_cache_free(c);
		c = next;
	}
}

size_t sl_arena_in_use(const struct sl_arena *a)
{
	size_t cached = 0;
	for (const struct sl_arena_cache *c = a->caches; c; c = c->next)
		for (int cls = 0; cls < SL_ARENA_CLASSES; cls++)
			cached += (size_t)c->count[cls] << (cls + MIN_CLASS_SHIFT);
	return a->bytes_in_use - cached;
}

char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n)
{
	char *d = sl_arena_alloc(a, n + 1);
	if (d)
		memcpy(d, s, n); /* the terminator is already zero */
	return d;
}

void sl_arena_destroy(struct sl_arena *a)
{
	while (a->maps)
		unmap_block(a, a->maps);
	memset(a, 0, sizeof(*a));
}
