#include "stacks.h"

#include "hash.h"

/* The key (kind, depth, zero, words) is contiguous so that uthash can compare it as bytes. */
struct stack_entry {
	UT_hash_handle hh;
	uint32_t id;
	uint32_t logged;
	uint16_t kind;
	uint16_t depth;
	uint32_t zero;
	uint64_t w[];
};

struct string_entry {
	UT_hash_handle hh;
	uint32_t id;
	uint32_t logged;
	uint32_t len;
	char s[];
};

struct id_array {
	void **slots;
	uint32_t cap;
	uint32_t count; /* ids 1..count are in use */
};

struct sl_stack_store {
	struct sl_arena *arena;
	struct stack_entry *stacks;
	struct string_entry *strings;
	struct id_array stack_ids;
	struct id_array string_ids;
};

struct sl_arena *sl_hash_arena;
int sl_hash_oom;

/* A multiply-and-rotate hash over whole words: stacks are hashed on every socket() call, and
 * uthash's byte-wise default costs several times more for a 16-frame stack. */
static uint32_t hash_words(const uint64_t *w, unsigned n, uint64_t seed)
{
	uint64_t h = seed ^ 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < n; i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return (uint32_t)(h ^ (h >> 29));
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static int ids_reserve(struct sl_arena *a, struct id_array *ids, uint32_t id)
{
	if (id < ids->cap)
		return 1;
	uint32_t ncap = ids->cap ? ids->cap : 1024;
	while (ncap <= id)
		ncap *= 2;
	void **n = sl_arena_alloc(a, (size_t)ncap * sizeof(void *));
	if (!n)
		return 0;
	if (ids->slots) {
		memcpy(n, ids->slots, (size_t)ids->cap * sizeof(void *));
		sl_arena_free(a, ids->slots, (size_t)ids->cap * sizeof(void *));
	}
	ids->slots = n;
	ids->cap = ncap;
	return 1;
}

struct sl_stack_store *sl_stacks_new(struct sl_arena *arena)
{
	struct sl_stack_store *st = sl_arena_alloc(arena, sizeof(*st));
	if (st)
		st->arena = arena;
	return st;
}

/* Finds or adds the stack whose key is (kind, depth, words). */
static int intern_stack(struct sl_stack_store *st, uint16_t kind, const uint64_t *w, unsigned nwords,
			unsigned depth, uint32_t *out_id)
{
	size_t keylen = 8 + (size_t)nwords * 8;
	uint32_t hv = hash_words(w, nwords, ((uint64_t)kind << 16) | depth);
	struct {
		uint16_t kind, depth;
		uint32_t zero;
		uint64_t w[SL_STACK_MAX_DEPTH * 2];
	} key;
	key.kind = kind;
	key.depth = (uint16_t)depth;
	key.zero = 0;
	memcpy(key.w, w, (size_t)nwords * 8);

	struct stack_entry *e = NULL;
	HASH_FIND_BYHASHVALUE(hh, st->stacks, &key, keylen, hv, e);
	if (e) {
		*out_id = e->id;
		return 1;
	}
	uint32_t id = st->stack_ids.count + 1;
	sl_hash_arena = st->arena;
	if (!ids_reserve(st->arena, &st->stack_ids, id))
		return -1;
	e = sl_arena_alloc(st->arena, sizeof(*e) + (size_t)nwords * 8);
	if (!e)
		return -1;
	e->id = id;
	e->kind = kind;
	e->depth = (uint16_t)depth;
	memcpy(e->w, w, (size_t)nwords * 8);
	sl_hash_oom = 0;
	HASH_ADD_KEYPTR_BYHASHVALUE(hh, st->stacks, &e->kind, keylen, hv, e);
	if (sl_hash_oom) {
		sl_arena_free(st->arena, e, sizeof(*e) + (size_t)nwords * 8);
		return -1;
	}
	st->stack_ids.slots[id] = e;
	st->stack_ids.count = id;
	*out_id = id;
	return 1;
}

uint32_t sl_stacks_add_native(struct sl_stack_store *st, const uint64_t *pcs, unsigned depth)
{
	uint32_t id = 0;
	if (depth == 0)
		return 0;
	if (depth > SL_STACK_MAX_DEPTH)
		depth = SL_STACK_MAX_DEPTH;
	return intern_stack(st, SL_STACK_NATIVE, pcs, depth, depth, &id) > 0 ? id : 0;
}

static unsigned pack_python(const struct sl_pyframe *frames, unsigned depth, uint64_t *w)
{
	for (unsigned i = 0; i < depth; i++) {
		w[2 * i] = (uint64_t)frames[i].file | ((uint64_t)frames[i].function << 32);
		w[2 * i + 1] = frames[i].line;
	}
	return depth * 2;
}

uint32_t sl_stacks_add_python(struct sl_stack_store *st, const struct sl_pyframe *frames, unsigned depth)
{
	uint64_t w[SL_STACK_MAX_DEPTH * 2];
	uint32_t id = 0;
	if (depth == 0)
		return 0;
	if (depth > SL_STACK_MAX_DEPTH)
		depth = SL_STACK_MAX_DEPTH;
	unsigned n = pack_python(frames, depth, w);
	return intern_stack(st, SL_STACK_PYTHON, w, n, depth, &id) > 0 ? id : 0;
}

static int intern_string(struct sl_stack_store *st, const char *s, size_t len, uint32_t *out_id)
{
	uint32_t hv = hash_bytes(s, len);
	struct string_entry *e = NULL;
	HASH_FIND_BYHASHVALUE(hh, st->strings, s, len, hv, e);
	if (e) {
		*out_id = e->id;
		return 1;
	}
	uint32_t id = st->string_ids.count + 1;
	sl_hash_arena = st->arena;
	if (!ids_reserve(st->arena, &st->string_ids, id))
		return -1;
	e = sl_arena_alloc(st->arena, sizeof(*e) + len + 1);
	if (!e)
		return -1;
	e->id = id;
	e->len = (uint32_t)len;
	memcpy(e->s, s, len);
	sl_hash_oom = 0;
	HASH_ADD_KEYPTR_BYHASHVALUE(hh, st->strings, e->s, len, hv, e);
	if (sl_hash_oom) {
		sl_arena_free(st->arena, e, sizeof(*e) + len + 1);
		return -1;
	}
	st->string_ids.slots[id] = e;
	st->string_ids.count = id;
	*out_id = id;
	return 1;
}

uint32_t sl_stacks_add_string(struct sl_stack_store *st, const char *s, size_t len)
{
	uint32_t id = 0;
	return intern_string(st, s, len, &id) > 0 ? id : 0;
}

int sl_stacks_get(const struct sl_stack_store *st, uint32_t id, unsigned *depth, const uint64_t **words)
{
	if (id == 0 || id > st->stack_ids.count)
		return 0;
	const struct stack_entry *e = st->stack_ids.slots[id];
	*depth = e->depth;
	*words = e->w;
	return e->kind;
}

const char *sl_stacks_string(const struct sl_stack_store *st, uint32_t id)
{
	if (id == 0 || id > st->string_ids.count)
		return NULL;
	return ((const struct string_entry *)st->string_ids.slots[id])->s;
}

int sl_stacks_test_and_mark_logged(struct sl_stack_store *st, uint32_t id)
{
	if (id == 0 || id > st->stack_ids.count)
		return 1;
	struct stack_entry *e = st->stack_ids.slots[id];
	int was = e->logged;
	e->logged = 1;
	return was;
}

int sl_stacks_string_test_and_mark_logged(struct sl_stack_store *st, uint32_t id)
{
	if (id == 0 || id > st->string_ids.count)
		return 1;
	struct string_entry *e = st->string_ids.slots[id];
	int was = e->logged;
	e->logged = 1;
	return was;
}

void sl_stacks_forget_logged(struct sl_stack_store *st)
{
	for (uint32_t i = 1; i <= st->stack_ids.count; i++)
		((struct stack_entry *)st->stack_ids.slots[i])->logged = 0;
	for (uint32_t i = 1; i <= st->string_ids.count; i++)
		((struct string_entry *)st->string_ids.slots[i])->logged = 0;
}

uint32_t sl_stacks_count(const struct sl_stack_store *st)
{
	return st->stack_ids.count;
}
