#include "log_reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/event.h"
#include "../core/logformat.h"

/* ---- little-endian fields, read without alignment ---- */

static uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---- log ids to stack store ids ----
 *
 * The log numbers its stacks and strings with the writer's own ids. A forked child's log reuses
 * its parent's numbering, so its ids start wherever the parent's were and skip those the child
 * never used: they cannot be replayed as they are (a store numbers its stacks 1, 2, 3, ...). Each id
 * is mapped instead to the one the replay's store gives it. An id defined twice, or used before
 * it is defined, is still a defect. */

struct id_entry {
	uint32_t key;  /* the log's id, 0 = empty slot */
	uint32_t val;  /* the store's id; 0 when memory ran out while storing it */
	uint32_t kind; /* stacks: enum sl_stack_kind */
};

struct sl_id_map {
	struct id_entry *v;
	uint32_t cap, count; /* cap is a power of two */
};

static uint32_t id_hash(uint32_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32);
}

static const struct id_entry *id_find(const struct sl_id_map *m, uint32_t key)
{
	if (!m || !m->cap)
		return NULL;
	for (uint32_t k = id_hash(key) & (m->cap - 1);; k = (k + 1) & (m->cap - 1)) {
		if (m->v[k].key == key)
			return &m->v[k];
		if (m->v[k].key == 0)
			return NULL;
	}
}

/* Adds key (not yet present). Returns 0, or -1 when memory ran out. */
static int id_add(struct sl_id_map **mp, uint32_t key, uint32_t val, uint32_t kind)
{
	struct sl_id_map *m = *mp;
	if (!m) {
		m = *mp = calloc(1, sizeof(*m));
		if (!m)
			return -1;
	}
	if ((m->count + 1) * 2 > m->cap) {
		uint32_t ncap = m->cap ? m->cap * 2 : 64;
		struct id_entry *nv = calloc(ncap, sizeof(*nv));
		if (!nv)
			return -1;
		for (uint32_t i = 0; i < m->cap; i++) {
			if (!m->v[i].key)
				continue;
			uint32_t k = id_hash(m->v[i].key) & (ncap - 1);
			while (nv[k].key)
				k = (k + 1) & (ncap - 1);
			nv[k] = m->v[i];
		}
		free(m->v);
		m->v = nv;
		m->cap = ncap;
	}
	uint32_t k = id_hash(key) & (m->cap - 1);
	while (m->v[k].key)
		k = (k + 1) & (m->cap - 1);
	m->v[k].key = key;
	m->v[k].val = val;
	m->v[k].kind = kind;
	m->count++;
	return 0;
}

static void id_free(struct sl_id_map *m)
{
	if (m) {
		free(m->v);
		free(m);
	}
}

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static int fail(struct sl_image *img, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(img->error, sizeof(img->error), fmt, ap);
	va_end(ap);
	img->error_offset = offset;
	img->end = SL_END_CORRUPT;
	return -1;
}

static const char *rec_name(unsigned type)
{
	switch (type) {
	case SL_REC_PROCESS: return "PROCESS";
	case SL_REC_MODULE: return "MODULE";
	case SL_REC_STACK: return "STACK";
	case SL_REC_STRING: return "STRING";
	case SL_REC_EVENT: return "EVENT";
	case SL_REC_NOTE: return "NOTE";
	default: return "unknown";
	}
}

/* ---- records ---- */

/* Length of the NUL-ended string at p, within n bytes; -1 when there is no NUL. */
static long str_in(const unsigned char *p, size_t n)
{
	const unsigned char *z = memchr(p, 0, n);
	return z ? (long)(z - p) : -1;
}

static int read_process(struct sl_image *img, uint64_t off, const unsigned char *p, size_t n)
{
	if (img->have_process)
		return fail(img, off, "a second PROCESS record (a log holds one process image)");
	if (n < sizeof(struct sl_rec_process))
		return fail(img, off, "PROCESS record of %zu bytes, shorter than its %zu fixed bytes", n,
			    sizeof(struct sl_rec_process));
	uint32_t pid = rd32(p), argc = rd32(p + 12);
	if (pid != img->pid)
		return fail(img, off + 8, "PROCESS record names pid %u, the file header pid %u", pid, img->pid);
	if (argc > SL_LOG_MAX_ARGC)
		return fail(img, off + 20, "PROCESS record claims %u arguments (at most %d are accepted)", argc,
			    SL_LOG_MAX_ARGC);
	img->ppid = rd32(p + 4);
	img->forked_from = rd32(p + 8);
	img->start_ns = rd64(p + 16);
	size_t pos = sizeof(struct sl_rec_process);
	long elen = str_in(p + pos, n - pos);
	if (elen < 0)
		return fail(img, off + 8 + pos, "the executable's path in the PROCESS record is not NUL-ended");
	size_t exe_at = pos, args_at = pos + (size_t)elen + 1, total = 0;
	pos = args_at;
	for (uint32_t i = 0; i < argc; i++) {
		long l = str_in(p + pos, n - pos);
		if (l < 0)
			return fail(img, off + 8 + pos, "argument %u of the %u in the PROCESS record is missing or "
				    "not NUL-ended", i, argc);
		pos += (size_t)l + 1;
	}
	total = pos - args_at;
	img->exe = strndup((const char *)p + exe_at, (size_t)elen);
	img->argv = malloc((argc + 1) * sizeof(char *) + total);
	if (!img->exe || !img->argv)
		return fail(img, off, "out of memory");
	char *s = (char *)(img->argv + argc + 1);
	memcpy(s, p + args_at, total);
	for (uint32_t i = 0; i < argc; i++) {
		img->argv[i] = s;
		s += strlen(s) + 1;
	}
	img->argv[argc] = NULL;
	img->argc = (int)argc;
	img->have_process = 1;
	return 0;
}

static int read_module(struct sl_image *img, uint64_t off, const unsigned char *p, size_t n)
{
	const size_t fixed = sizeof(struct sl_rec_module);
	if (n < fixed + 1)
		return fail(img, off, "MODULE record of %zu bytes, too short for its fields and a path", n);
	if (img->nmods >= SL_LOG_MAX_MODULES)
		return fail(img, off, "more than %d MODULE records", SL_LOG_MAX_MODULES);
	struct sl_module m;
	memset(&m, 0, sizeof(m));
	m.base = rd64(p);
	m.lo = rd64(p + 8);
	m.hi = rd64(p + 16);
	m.build_id_len = p[24];
	if (m.build_id_len > sizeof(m.build_id))
		return fail(img, off + 8 + 24, "MODULE build id of %u bytes (at most 20)", m.build_id_len);
	memcpy(m.build_id, p + 25, sizeof(m.build_id));
	if (m.lo > m.hi)
		return fail(img, off + 8 + 8, "MODULE span 0x%llx-0x%llx ends before it starts",
			    (unsigned long long)m.lo, (unsigned long long)m.hi);
	long plen = str_in(p + fixed, n - fixed);
	if (plen < 0)
		return fail(img, off + 8 + fixed, "MODULE path is not NUL-ended");
	m.path = strndup((const char *)p + fixed, (size_t)plen);
	if (!m.path)
		return fail(img, off, "out of memory");
	if ((img->nmods & (img->nmods - 1)) == 0) { /* 0, 1, 2, 4, ...: grow by doubling */
		struct sl_module *nv = realloc(img->mods, (img->nmods ? img->nmods * 2 : 1) * sizeof(*nv));
		if (!nv) {
			free(m.path);
			return fail(img, off, "out of memory");
		}
		img->mods = nv;
	}
	img->mods[img->nmods++] = m;
	return 0;
}

static int read_string(struct sl_image *img, uint64_t off, const unsigned char *p, size_t n)
{
	if (n < sizeof(struct sl_rec_string))
		return fail(img, off, "STRING record of %zu bytes, shorter than its 8 fixed bytes", n);
	uint32_t id = rd32(p), len = rd32(p + 4);
	if (len > n - sizeof(struct sl_rec_string))
		return fail(img, off + 8 + 4, "STRING %u claims %u bytes, its record holds %zu", id, len,
			    n - sizeof(struct sl_rec_string));
	if (id == 0)
		return fail(img, off + 8, "STRING id 0 (ids start at 1)");
	if (id_find(img->string_ids, id))
		return fail(img, off + 8, "STRING id %u is defined twice", id);
	uint32_t sid = sl_stacks_add_string(img->stacks, (const char *)p + sizeof(struct sl_rec_string), len);
	if (!sid)
		img->out_of_memory = 1;
	if (id_add(&img->string_ids, id, sid, 0) < 0)
		return fail(img, off, "out of memory");
	return 0;
}

static int read_stack(struct sl_image *img, uint64_t off, const unsigned char *p, size_t n)
{
	if (n < sizeof(struct sl_rec_stack))
		return fail(img, off, "STACK record of %zu bytes, shorter than its 8 fixed bytes", n);
	uint32_t id = rd32(p);
	unsigned kind = rd16(p + 4), depth = rd16(p + 6);
	if (kind != SL_STACK_NATIVE && kind != SL_STACK_PYTHON)
		return fail(img, off + 8 + 4, "STACK %u has kind %u (1 native, 2 Python)", id, kind);
	if (depth < 1 || depth > SL_STACK_MAX_DEPTH)
		return fail(img, off + 8 + 6, "STACK %u has %u frames (1 to %d)", id, depth, SL_STACK_MAX_DEPTH);
	size_t nwords = kind == SL_STACK_NATIVE ? depth : 2 * (size_t)depth;
	if (nwords * 8 > n - sizeof(struct sl_rec_stack))
		return fail(img, off, "STACK %u: %u frames do not fit in its record of %zu bytes", id, depth, n + 8);
	if (id == 0)
		return fail(img, off + 8, "STACK id 0 (ids start at 1)");
	if (id_find(img->stack_ids, id))
		return fail(img, off + 8, "STACK id %u is defined twice", id);
	const unsigned char *w = p + sizeof(struct sl_rec_stack);
	uint32_t sid;
	if (kind == SL_STACK_NATIVE) {
		uint64_t pcs[SL_STACK_MAX_DEPTH];
		for (unsigned i = 0; i < depth; i++)
			pcs[i] = rd64(w + 8 * i);
		sid = sl_stacks_add_native(img->stacks, pcs, depth);
	} else {
		struct sl_pyframe frames[SL_STACK_MAX_DEPTH];
		for (unsigned i = 0; i < depth; i++) {
			uint32_t file = rd32(w + 16 * i), function = rd32(w + 16 * i + 4);
			const struct id_entry *f = id_find(img->string_ids, file);
			const struct id_entry *g = id_find(img->string_ids, function);
			if (!f || !g)
				return fail(img, off + 8 + sizeof(struct sl_rec_stack) + 16 * i,
					    "Python STACK %u, frame %u names string %u, which the log has not defined",
					    id, i, !f ? file : function);
			frames[i].file = f->val;
			frames[i].function = g->val;
			frames[i].line = rd32(w + 16 * i + 8);
		}
		sid = sl_stacks_add_python(img->stacks, frames, depth);
	}
	if (!sid)
		img->out_of_memory = 1;
	if (id_add(&img->stack_ids, id, sid, kind) < 0)
		return fail(img, off, "out of memory");
	return 0;
}

/* Event types the format defines (core/event.h). A new event type raises SL_LOG_VERSION, and
 * must be added here too: until it is, this reader calls a log that has one damaged. */
static int event_known(unsigned type)
{
	return (type >= SL_EV_SOCKET && type <= SL_EV_RESTORE_TLS) ||
	       (type >= SL_EV_CLOSE_BEGIN && type <= SL_EV_BLIND) || /* issue 10 */
	       (type >= SL_EV_SSL_NEW && type <= SL_EV_SSL_UP_REF) ||
	       type == SL_EV_CHECKPOINT || /* issue 14 */
	       type == SL_EV_FD_OPEN;       /* issue 15 */
}

static int fd_ok(int32_t fd)
{
	return fd >= 0 && (uint32_t)fd < SL_LOG_MAX_FD;
}

/* Maps an event's stack id through the log's definitions. Returns -1 (after fail) when the id
 * is not a defined stack of the expected kind. */
static int map_stack(struct sl_image *img, uint64_t off, uint32_t id, unsigned kind, uint32_t *out)
{
	*out = 0;
	if (id == 0)
		return 0;
	const struct id_entry *e = id_find(img->stack_ids, id);
	if (!e)
		return fail(img, off, "EVENT names stack %u, which the log has not defined", id);
	if (e->kind != kind)
		return fail(img, off, "EVENT names %s stack %u where a %s one belongs", e->kind == SL_STACK_NATIVE ?
			    "native" : "Python", id, kind == SL_STACK_NATIVE ? "native" : "Python");
	*out = e->val;
	return 0;
}

/* A checkpoint: the transports made since its mark that are still open, listed on the replayed
 * state as the preload listed them on its own (docs/event-log.md, type 54). */
static int read_checkpoint(struct sl_image *img, uint64_t at, const struct sl_event *ev)
{
	if (ev->a <= 0 || ev->a > UINT32_MAX)
		return fail(img, at + 24, "CHECKPOINT event with label string %lld", (long long)ev->a);
	const struct id_entry *e = id_find(img->string_ids, (uint32_t)ev->a);
	if (!e)
		return fail(img, at + 24, "CHECKPOINT event names string %lld, which the log has not defined",
			    (long long)ev->a);
	struct sl_transport *list = NULL;
	long n = sl_state_checkpoint(img->state, ev->obj, &list);
	if (n <= 0) {
		if (n < 0)
			img->out_of_memory = 1;
		return 0;
	}
	const char *label = e->val ? sl_stacks_string(img->stacks, e->val) : NULL;
	struct sl_image_checkpoint *nv = realloc(img->checkpoints, (img->ncheckpoints + 1) * sizeof(*nv));
	char *copy = strdup(label ? label : "checkpoint");
	if (!nv || !copy) {
		if (nv)
			img->checkpoints = nv;
		free(copy);
		sl_state_checkpoint_free(list, n);
		img->out_of_memory = 1;
		return 0;
	}
	img->checkpoints = nv;
	nv[img->ncheckpoints++] = (struct sl_image_checkpoint){copy, list, n};
	return 0;
}

static int read_event(struct sl_image *img, uint64_t off, const unsigned char *p, size_t n)
{
	const size_t fixed = sizeof(struct sl_rec_event);
	if (n < fixed)
		return fail(img, off, "EVENT record of %zu bytes, shorter than its %zu fixed bytes", n, fixed);
	struct sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = rd16(p);
	ev.addrlen = rd16(p + 2);
	ev.fd = (int32_t)rd32(p + 4);
	ev.fd2 = (int32_t)rd32(p + 8);
	uint32_t stack = rd32(p + 12), pystack = rd32(p + 16);
	ev.a = (int64_t)rd64(p + 24);
	ev.b = (int64_t)rd64(p + 32);
	ev.obj = rd64(p + 40);
	uint64_t at = off + 8;
	if (!event_known(ev.type))
		return fail(img, at, "unknown event type %u", ev.type);
	if (ev.addrlen > SL_EVENT_ADDR_MAX)
		return fail(img, at + 2, "event address of %u bytes (at most %d)", ev.addrlen, SL_EVENT_ADDR_MAX);
	if (ev.addrlen > n - fixed)
		return fail(img, at + 2, "event address of %u bytes does not fit in its record", ev.addrlen);
	if (map_stack(img, at + 12, stack, SL_STACK_NATIVE, &ev.stack) < 0 ||
	    map_stack(img, at + 16, pystack, SL_STACK_PYTHON, &ev.pystack) < 0)
		return -1;
	ev.addr = ev.addrlen ? p + fixed : NULL;

	int first = img->events == 0;
	int restore = ev.type >= SL_EV_SEGMENT && ev.type <= SL_EV_RESTORE_TLS;
	if (restore && (!img->segment || img->segment_seen))
		return fail(img, at, "snapshot event (type %u) %s", ev.type, img->segment ? "after the SEGMENT event "
			    "that ends the snapshot" : "in a log that is not a later segment");
	/* A later segment opens with its snapshot, a forked child's too. */
	if (img->forked_from && first && ev.type != SL_EV_FORKED && !img->segment)
		return fail(img, at, "a forked child's log must begin with a FORKED event, not type %u", ev.type);
	switch (ev.type) {
	case SL_EV_SOCKET:
	case SL_EV_EPOLL_CREATE:
	case SL_EV_INHERIT:
	case SL_EV_INHERIT_EPOLL:
		if (!fd_ok(ev.fd))
			return fail(img, at + 4, "descriptor %d out of range", ev.fd);
		break;
	case SL_EV_SOCKETPAIR:
	case SL_EV_DUP:
		if (!fd_ok(ev.fd) || !fd_ok(ev.fd2))
			return fail(img, at + 4, "descriptors %d, %d out of range", ev.fd, ev.fd2);
		break;
	case SL_EV_ACCEPT:
	case SL_EV_RECEIVED:
		if (!fd_ok(ev.fd2))
			return fail(img, at + 8, "descriptor %d out of range", ev.fd2);
		break;
	case SL_EV_EXIT_PHASE:
		if (ev.a < SL_EXIT_PHASE_MAIN_RETURNED || ev.a > SL_EXIT_PHASE_MAX)
			return fail(img, at + 24, "EXIT_PHASE event with unknown phase %lld", (long long)ev.a);
		break;
	case SL_EV_EXIT:
		/* SL_EXIT_HOW_KILLED is the analyzer's own: a log never says it. */
		if (ev.b < SL_EXIT_HOW_EXIT || ev.b > SL_EXIT_HOW_QUICK)
			return fail(img, at + 32, "EXIT event with unknown 'how' %lld", (long long)ev.b);
		break;
	case SL_EV_RESTORE:
		if (ev.fd != -1 && !fd_ok(ev.fd))
			return fail(img, at + 4, "descriptor %d out of range", ev.fd);
		if ((ev.fd2 & 0xff) >= SL_ROLE_COUNT)
			return fail(img, at + 8, "RESTORE event with unknown role %d", ev.fd2 & 0xff);
		break;
	case SL_EV_RESTORE_FINDING:
		if ((ev.a & 0xff) >= SL_FLAG_COUNT || ((ev.a >> 8) & 0xff) > SL_WHEN_SSL_FREE ||
		    ((ev.a >> 16) & 0xff) > SL_EXIT_PHASE_MAX)
			return fail(img, at + 24, "RESTORE_FINDING event with an unknown flag, time or exit phase (0x%llx)",
				    (unsigned long long)(ev.a & 0xffffff));
		break;
	case SL_EV_RESTORE_EPOLL:
	case SL_EV_RESTORE_REG:
		if (!fd_ok(ev.fd))
			return fail(img, at + 4, "descriptor %d out of range", ev.fd);
		break;
	case SL_EV_SEGMENT:
		if ((uint32_t)ev.fd != img->segment || (ev.fd2 & 0xff) > SL_EXIT_PHASE_MAX)
			return fail(img, at + 4, "SEGMENT event names segment %d with exit phase %d, the header segment %u",
				    ev.fd, ev.fd2 & 0xff, img->segment);
		img->segment_seen = 1;
		break;
	case SL_EV_FORKED:
		if (!img->forked_from || !first)
			return fail(img, at, "FORKED event %s", !img->forked_from ? "in a log that is not a forked "
				    "child's" : "after the first event");
		break;
	}
	if (ev.type == SL_EV_INHERIT && (ev.fd2 < 0 || ev.fd2 >= SL_ROLE_COUNT))
		return fail(img, at + 8, "INHERIT event with unknown role %d", ev.fd2);
	if ((ev.type == SL_EV_INHERIT || ev.type == SL_EV_INHERIT_EPOLL || ev.type == SL_EV_SSL_INHERIT) &&
	    !img->forked_from)
		return fail(img, at, "inheritance event (type %u) in a log that is not a forked child's", ev.type);
	if (ev.type == SL_EV_CHECKPOINT && read_checkpoint(img, at, &ev) < 0)
		return -1;
	if (sl_state_apply(img->state, &ev) < 0)
		img->out_of_memory = 1;
	img->events++;
	img->last_event = ev.type;
	/* An exec that succeeded ends the image even when another thread logged an event after
	 * EXEC was written (exec ends every thread); one that failed is followed by EXEC a=1. */
	if (ev.type == SL_EV_EXEC)
		img->exec_pending = ev.a == 0;
	img->end = ev.type == SL_EV_EXIT ? SL_END_EXIT : SL_END_NONE;
	return 0;
}

static void read_note(struct sl_image *img, const unsigned char *p, size_t n)
{
	if (img->nnotes >= SL_IMAGE_MAX_NOTES) {
		img->notes_dropped++;
		return;
	}
	long len = str_in(p, n);
	size_t k = len < 0 ? n : (size_t)len;
	if (k > SL_IMAGE_NOTE_MAX)
		k = SL_IMAGE_NOTE_MAX;
	char *s = malloc(k + 1);
	if (!s)
		return;
	/* A note is shown on a terminal: no control characters get through. */
	for (size_t i = 0; i < k; i++)
		s[i] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
	s[k] = '\0';
	img->notes[img->nnotes++] = s;
}

/* ---- the log ---- */

int sl_log_replay(struct sl_image *img, struct sl_state *state, const struct sl_state_config *cfg,
		  const unsigned char *buf, size_t len)
{
	sl_arena_init(&img->arena);
	img->stacks = sl_stacks_new(&img->arena);
	sl_state_init_zeroed(state, &img->arena, img->stacks, cfg);
	img->state = state;
	if (!img->stacks)
		return fail(img, 0, "out of memory");
	if (len < SL_LOG_HEADER_SIZE) {
		if (len >= 8 && memcmp(buf, SL_LOG_MAGIC, 8) != 0)
			return fail(img, 0, "not a sockleak event log (it does not start with SOCKLEAK)");
		return fail(img, len, len == 0 ? "empty file (a log holds at least its %d-byte header)"
					       : "truncated inside the %d-byte file header", SL_LOG_HEADER_SIZE);
	}
	if (memcmp(buf, SL_LOG_MAGIC, 8) != 0)
		return fail(img, 0, "not a sockleak event log (it does not start with SOCKLEAK)");
	uint32_t version = rd32(buf + 8), header_size = rd32(buf + 12);
	if (version == 0)
		return fail(img, 8, "log format version 0 does not exist");
	if (version > SL_LOG_VERSION)
		return fail(img, 8, "written in log format version %u, newer than this sockleak-report reads (up to "
			    "%d): analyze it with the sockleak that wrote it", version, SL_LOG_VERSION);
	if (header_size < SL_LOG_HEADER_SIZE || header_size % 8 || header_size > len)
		return fail(img, 12, "header size %u is not valid (at least %d, a multiple of 8, within the file)",
			    header_size, SL_LOG_HEADER_SIZE);
	img->pid = rd32(buf + 16);
	img->segment = version >= 2 ? rd32(buf + 20) : 0;
	img->start_ns = rd64(buf + 24);

	size_t off = header_size;
	while (off < len) {
		if (len - off < sizeof(struct sl_log_rec))
			return fail(img, off, "truncated: %zu bytes where a record header belongs", len - off);
		const unsigned char *h = buf + off;
		if (rd64(h) == 0)
			break; /* the end: what follows is the file's zero fill, or a record never finished */
		uint32_t size = rd32(h);
		unsigned type = rd16(h + 4), commit = rd16(h + 6);
		if (commit != SL_LOG_COMMIT)
			return fail(img, off, "no record starts here (commit mark 0x%04x, expected 0x%04x)", commit,
				    SL_LOG_COMMIT);
		if (size < sizeof(struct sl_log_rec) || size % 8 || size > SL_LOG_MAX_RECORD)
			return fail(img, off, "record size %u is not valid (a multiple of 8, from 8 to 1 MiB)", size);
		if (size > len - off)
			return fail(img, off, "a %s record of %u bytes runs past the end of the file (%zu bytes left): "
				    "the file is truncated", rec_name(type), size, len - off);
		if (type < SL_REC_PROCESS || type > SL_REC_NOTE)
			return fail(img, off, "unknown record type %u", type);
		if (!img->have_process && type != SL_REC_PROCESS)
			return fail(img, off, "%s record before the PROCESS record, which must come first",
				    rec_name(type));
		if (img->end == SL_END_EXIT)
			return fail(img, off, "%s record after the EXIT event, which ends a log", rec_name(type));
		const unsigned char *p = h + sizeof(struct sl_log_rec);
		size_t n = size - sizeof(struct sl_log_rec);
		int rc = 0;
		switch (type) {
		case SL_REC_PROCESS: rc = read_process(img, off, p, n); break;
		case SL_REC_MODULE: rc = read_module(img, off, p, n); break;
		case SL_REC_STACK: rc = read_stack(img, off, p, n); break;
		case SL_REC_STRING: rc = read_string(img, off, p, n); break;
		case SL_REC_EVENT: rc = read_event(img, off, p, n); break;
		case SL_REC_NOTE:
			read_note(img, p, n);
			img->end = SL_END_STOPPED;
			break;
		}
		if (rc < 0)
			return -1;
		if (type != SL_REC_NOTE && type != SL_REC_EVENT && img->end == SL_END_STOPPED)
			img->end = SL_END_NONE; /* a remark, not the last word */
		img->records++;
		off += size;
	}
	if (!img->have_process)
		return fail(img, off, "the log ends before its PROCESS record: it names no process");
	if (img->segment && !img->segment_seen)
		return fail(img, off, "segment %u of its image ends before its snapshot's SEGMENT event", img->segment);
	if (img->end == SL_END_NONE && img->exec_pending)
		img->end = SL_END_EXEC;
	return 0;
}

void sl_image_finish_killed(struct sl_image *img)
{
	if (img->end != SL_END_NONE || !img->state || img->state->exited)
		return;
	struct sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = SL_EV_EXIT;
	ev.b = SL_EXIT_HOW_KILLED;
	if (sl_state_apply(img->state, &ev) < 0)
		img->out_of_memory = 1;
}

void sl_image_drop_replay(struct sl_image *img)
{
	for (unsigned i = 0; i < img->ncheckpoints; i++) {
		free(img->checkpoints[i].label);
		sl_state_checkpoint_free(img->checkpoints[i].list, img->checkpoints[i].n);
	}
	free(img->checkpoints);
	img->checkpoints = NULL;
	img->ncheckpoints = 0;
	id_free(img->stack_ids);
	id_free(img->string_ids);
	img->stack_ids = img->string_ids = NULL;
	sl_arena_destroy(&img->arena);
	img->stacks = NULL;
	img->state = NULL;
}

void sl_image_free(struct sl_image *img)
{
	sl_image_drop_replay(img);
	free(img->exe);
	free(img->argv);
	for (unsigned i = 0; i < img->nmods; i++)
		free(img->mods[i].path);
	free(img->mods);
	for (unsigned i = 0; i < img->nnotes; i++)
		free(img->notes[i]);
	memset(img, 0, sizeof(*img));
}
