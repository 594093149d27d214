/* An allocator whose malloc family is defined under a version of its own
 * (libversioned_alloc.map: malloc@@VERSIONED_ALLOC_1 ...). The loader binds a reference to
 * malloc@GLIBC_2.2.5 (every program's, the C library's own, sockleak's) to a definition of that
 * version or of none, never to this one: preloaded, it is passed over, and the program runs on
 * the C library's allocator. Its free says so and ends the process (status 99) when handed
 * memory it did not make: sockleak's free bound to it freed the C library's strdup (review of
 * issue 12, tests/test_lazy_imports.py). */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

static _Alignas(64) char heap[16 << 20];
static size_t used;

static int mine(const void *p)
{
	return (const char *)p >= heap && (const char *)p < heap + sizeof(heap);
}

void *malloc(size_t n)
{
	size_t at = __atomic_fetch_add(&used, (n + 15) / 16 * 16 + 16, __ATOMIC_RELAXED);
	if (at + n + 16 > sizeof(heap)) {
		errno = ENOMEM;
		return NULL;
	}
	*(size_t *)(heap + at) = n;
	return heap + at + 16;
}

void free(void *p)
{
	static const char msg[] = "libversioned_alloc: free of memory it did not make\n";
	if (p && !mine(p)) {
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(98);
		_exit(99);
	}
}

void *calloc(size_t a, size_t b)
{
	return malloc(a * b); /* the heap is zero and never reused */
}

void *realloc(void *p, size_t n)
{
	char *q = malloc(n);
	if (q && p) {
		size_t old = mine(p) ? *(size_t *)((char *)p - 16) : 0;
		for (size_t i = 0; i < old && i < n; i++)
			q[i] = ((char *)p)[i];
	}
	return q;
}
