#include "arena.h"

#include <string.h>
#include <sys/mman.h>

#define CHUNK_SIZE (256u * 1024u)
#define MIN_CLASS_SHIFT 4 /* the smallest class is 16 bytes */

/* Every mapping the arena makes begins with this header, so that destroy can find them all and
 * a large block can be unmapped on its own. 32 bytes keep the payload 16-byte aligned. */
struct mapping {
	struct mapping *prev, *next;
	size_t size;
	size_t pad_;
};

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
	size_t csize = (size_t)1 << (cls + MIN_CLASS_SHIFT);
	void *p = a->free_lists[cls];
	if (p) {
		a->free_lists[cls] = *(void **)p;
	} else {
		if (a->chunk_pos == NULL || (size_t)(a->chunk_end - a->chunk_pos) < csize) {
			struct mapping *m = map_block(a, CHUNK_SIZE);
			if (!m)
				return NULL;
			a->chunk_pos = (char *)(m + 1);
			a->chunk_end = (char *)m + CHUNK_SIZE;
		}
		p = a->chunk_pos;
		a->chunk_pos += csize;
	}
	memset(p, 0, size); /* callers see only size bytes */
	a->bytes_in_use += csize;
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
	*(void **)p = a->free_lists[cls];
	a->free_lists[cls] = p;
	a->bytes_in_use -= (size_t)1 << (cls + MIN_CLASS_SHIFT);
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
