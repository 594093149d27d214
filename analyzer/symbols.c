#include "symbols.h"

#include <stdlib.h>
#include <string.h>

/* Shared ranges start at 2^47, where no user-space address of x86_64 is (so a return address in
 * no known module, JIT code say, can never be taken for one in a shared range), one module every
 * 64 GiB. */
#define SHARED_START (1ull << 47)
#define SHARED_STRIDE (1ull << 36)
#define MAX_SHARED ((unsigned)1 << 20)

/* How one module of one process moves: [lo, hi) in the process becomes [lo + delta, hi + delta). */
struct move {
	uint64_t lo, hi, delta;
};

struct proc_moves {
	struct move *v;
	unsigned n;
};

struct sl_run_symbols {
	struct sl_module *mods;  /* the distinct modules, at their shared addresses (paths borrowed) */
	unsigned n, cap;
	struct proc_moves *procs; /* per image of the run */
	unsigned nprocs;
	struct sl_symbolizer *sym;
};

static int same_module(const struct sl_module *a, const struct sl_module *b)
{
	return a->build_id_len == b->build_id_len && !memcmp(a->build_id, b->build_id, a->build_id_len) &&
	       a->lo - a->base == b->lo - b->base && a->hi - a->base == b->hi - b->base && !strcmp(a->path, b->path);
}

/* The shared module for m: found, or added. Returns its index, or -1. */
static int shared_of(struct sl_run_symbols *rs, const struct sl_module *m, const struct sl_module *shared_path)
{
	for (unsigned g = 0; g < rs->n; g++)
		if (same_module(&rs->mods[g], m))
			return (int)g;
	if (rs->n >= MAX_SHARED || m->hi - m->lo >= SHARED_STRIDE || m->lo < m->base)
		return -1;
	if (rs->n == rs->cap) {
		unsigned ncap = rs->cap ? rs->cap * 2 : 64;
		struct sl_module *nv = realloc(rs->mods, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		rs->mods = nv;
		rs->cap = ncap;
	}
	struct sl_module *s = &rs->mods[rs->n];
	*s = *m;
	s->path = shared_path->path;
	uint64_t base = SHARED_START + (uint64_t)rs->n * SHARED_STRIDE;
	/* The lowest segment may start below the load bias's page: keep the span's offsets. */
	s->base = base;
	s->lo = base + (m->lo - m->base);
	s->hi = base + (m->hi - m->base);
	return (int)rs->n++;
}

static const struct move *move_of(const struct proc_moves *pm, uint64_t pc)
{
	for (unsigned i = 0; i < pm->n; i++)
		if (pc >= pm->v[i].lo && pc < pm->v[i].hi)
			return &pm->v[i];
	return NULL;
}

struct sl_run_symbols *sl_run_symbols_prepare(struct sl_run *run)
{
	struct sl_run_symbols *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->procs = calloc(run->n ? run->n : 1, sizeof(*rs->procs));
	rs->nprocs = run->n;
	if (!rs->procs) {
		free(rs);
		return NULL;
	}
	for (unsigned p = 0; p < run->n; p++) {
		struct sl_run_image *ri = run->v[p];
		if (!ri->state->done_head || !ri->report_mods)
			continue;
		struct proc_moves *pm = &rs->procs[p];
		pm->v = calloc(ri->img.nmods ? ri->img.nmods : 1, sizeof(*pm->v));
		if (!pm->v)
			continue;
		/* report_mods is the image's module list as the symbolizer may open it (run.c); it
		 * moves to the shared addresses too, for the report's own module lookups. */
		for (unsigned i = 0; i < ri->img.nmods; i++) {
			struct sl_module *m = &ri->report_mods[i];
			int g = shared_of(rs, m, m);
			if (g < 0)
				continue;
			struct move mv = {m->lo, m->hi, rs->mods[g].base - m->base};
			pm->v[pm->n++] = mv;
			m->base += mv.delta;
			m->lo += mv.delta;
			m->hi += mv.delta;
		}
		/* Native stacks move with their modules. The store is the replay's own, read only by
		 * id from now on: its words may change under its hash. */
		const struct sl_stack_store *st = ri->state->stacks;
		for (uint32_t id = 1; id <= sl_stacks_count(st); id++) {
			unsigned depth = 0;
			const uint64_t *words = NULL;
			if (sl_stacks_get(st, id, &depth, &words) != SL_STACK_NATIVE)
				continue;
			uint64_t *w = (uint64_t *)words;
			for (unsigned k = 0; k < depth; k++) {
				const struct move *mv = move_of(pm, w[k]);
				if (mv)
					w[k] += mv->delta;
			}
		}
	}
	rs->sym = sl_sym_new(rs->mods, rs->n);
	return rs;
}

struct sl_symbolizer *sl_run_symbols_symbolizer(struct sl_run_symbols *rs)
{
	return rs ? rs->sym : NULL;
}

static void restore_frames(const struct proc_moves *pm, struct sl_stack_text *st)
{
	for (unsigned i = 0; i < st->nframes; i++) {
		uint64_t pc = st->frames[i].pc;
		for (unsigned k = 0; k < pm->n; k++) {
			if (pc >= pm->v[k].lo + pm->v[k].delta && pc < pm->v[k].hi + pm->v[k].delta) {
				st->frames[i].pc = pc - pm->v[k].delta;
				break;
			}
		}
	}
}

void sl_run_symbols_restore(struct sl_run_symbols *rs, struct sl_report *r)
{
	if (!rs)
		return;
	for (unsigned p = 0; p < r->nprocs && p < rs->nprocs; p++) {
		if (!r->stack_texts || !r->stack_texts[p])
			continue;
		for (uint32_t id = 0; id <= r->nstack_texts[p]; id++)
			if (r->stack_texts[p][id].frames)
				restore_frames(&rs->procs[p], &r->stack_texts[p][id]);
	}
}

void sl_run_symbols_free(struct sl_run_symbols *rs)
{
	if (!rs)
		return;
	sl_sym_free(rs->sym);
	for (unsigned p = 0; p < rs->nprocs; p++)
		free(rs->procs[p].v);
	free(rs->procs);
	free(rs->mods);
	free(rs);
}
