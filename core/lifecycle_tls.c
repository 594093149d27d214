#include "lifecycle_tls.h"

#include <string.h>
#include <sys/socket.h>

/* OpenSSL's values, restated so that core/ does not include OpenSSL's headers. */
#define SSL_SENT_SHUTDOWN 1
#define SSL_RECEIVED_SHUTDOWN 2
#define SSL_ERROR_WANT_READ 2

struct sl_tls_table {
	struct sl_tls **buckets;
	uint32_t nbuckets; /* a power of two */
	uint32_t count;
};

static uint32_t bucket_of(const struct sl_tls_table *tab, uint64_t ssl)
{
	uint64_t h = ssl * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & (tab->nbuckets - 1);
}

static struct sl_tls *find(const struct sl_state *s, uint64_t ssl)
{
	const struct sl_tls_table *tab = s->tls;
	if (!tab || tab->count == 0)
		return NULL;
	for (struct sl_tls *x = tab->buckets[bucket_of(tab, ssl)]; x; x = x->hnext)
		if (x->ssl == ssl)
			return x;
	return NULL;
}

static int grow(struct sl_state *s)
{
	struct sl_tls_table *tab = s->tls;
	uint32_t n = tab->nbuckets ? tab->nbuckets * 2 : 64;
	struct sl_tls **b = sl_arena_alloc(s->arena, (size_t)n * sizeof(*b));
	if (!b)
		return -1;
	struct sl_tls_table old = *tab;
	tab->buckets = b;
	tab->nbuckets = n;
	for (uint32_t i = 0; i < old.nbuckets; i++) {
		while (old.buckets[i]) {
			struct sl_tls *x = old.buckets[i];
			old.buckets[i] = x->hnext;
			uint32_t k = bucket_of(tab, x->ssl);
			x->hnext = b[k];
			b[k] = x;
		}
	}
	if (old.buckets)
		sl_arena_free(s->arena, old.buckets, (size_t)old.nbuckets * sizeof(*old.buckets));
	return 0;
}

static struct sl_tls *insert(struct sl_state *s, uint64_t ssl)
{
	if (!s->tls) {
		s->tls = sl_arena_alloc(s->arena, sizeof(*s->tls));
		if (!s->tls)
			return NULL;
	}
	struct sl_tls_table *tab = s->tls;
	if (tab->count >= tab->nbuckets && grow(s) < 0)
		return NULL;
	struct sl_tls *x = sl_arena_alloc(s->arena, sizeof(*x));
	if (!x)
		return NULL;
	x->ssl = ssl;
	uint32_t k = bucket_of(tab, ssl);
	x->hnext = tab->buckets[k];
	tab->buckets[k] = x;
	tab->count++;
	return x;
}

/* Takes x out of the table (the SSL address may be handed to the next SSL_new). */
static void unlink_tls(struct sl_state *s, struct sl_tls *x)
{
	struct sl_tls_table *tab = s->tls;
	struct sl_tls **p = &tab->buckets[bucket_of(tab, x->ssl)];
	while (*p && *p != x)
		p = &(*p)->hnext;
	if (*p) {
		*p = x->hnext;
		tab->count--;
	}
	x->hnext = NULL;
}

/* The transport a TLS finding is reported on: the bound one, or for a session never bound to a
 * socket an entry of its own, with the SSL object's creation stack. */
static struct sl_transport *report_transport(struct sl_state *s, struct sl_tls *x)
{
	if (x->t)
		return x->t;
	struct sl_transport *t = sl_state_new_detached(s, x->stack, x->pystack);
	if (!t)
		return NULL;
	if (x->inherited)
		t->state |= SL_T_INHERITED;
	t->tls = x;
	x->t = t;
	return t;
}

static struct sl_finding *raise_tls(struct sl_state *s, struct sl_tls *x, enum sl_flag flag,
				     enum sl_finding_when when)
{
	if (x->inherited && !s->cfg.report_inherited)
		return NULL;
	struct sl_transport *t = report_transport(s, x);
	if (!t)
		return NULL;
	struct sl_finding *f = sl_state_raise(s, t, flag, when);
	if (f) {
		f->stack = x->stack;
		f->pystack = x->pystack;
		f->exit_phase = s->exit_phase; /* the report says when the session ended during cleanup */
		if ((t->state & SL_T_OPEN) && !(t->state & SL_T_DUPED))
			sl_state_want_addr(s, t, t->fd);
	}
	sl_state_list_finished(s, t);
	return f;
}

/* Whether a session ending now is ended by teardown rather than by the program: at exit, during
 * exit-time cleanup (the moments closed-at-exit names), or with its socket's event loop closed
 * under it (reader-not-removed). */
static int torn_down(const struct sl_state *s, const struct sl_tls *x, enum sl_finding_when when)
{
	return when == SL_WHEN_AT_EXIT || s->exit_phase != SL_EXIT_PHASE_NONE ||
	       (x->t && (x->t->flags & (1u << SL_FLAG_READER_NOT_REMOVED)));
}

/* A two-way shutdown still waiting for the peer's close_notify. */
static int waiting_for_peer(const struct sl_tls *x)
{
	return x->two_way && !x->received;
}

static int no_close_notify(const struct sl_tls *x)
{
	return x->handshake && !x->fatal && !x->sent && !x->quiet && !(x->set_shutdown & SSL_SENT_SHUTDOWN);
}

/* The session has ended (its socket closed, SSL_free of its last reference, SSL_clear or exit):
 * judge how far its shutdown went.
 *
 * A program that sends close_notify and ends the session without waiting for the peer's closes
 * one way, as RFC 8446 6.1 and RFC 5246 7.2.1 allow the initiator to: trio's aclose(), CPython's
 * unwrap() on a non-blocking socket and C's `if (SSL_shutdown(s) == 0) SSL_shutdown(s);` all
 * begin a two-way shutdown and then free. Only a wait cut short by teardown is abandoned. */
static void end_session(struct sl_state *s, struct sl_tls *x, enum sl_finding_when when)
{
	if (x->ended)
		return;
	x->ended = 1;
	x->end_when = (uint8_t)when;
	/* A peer that hung up without close_notify (a read found the end of the stream, or a
	 * reset) ended the session, not the program: a two-way shutdown cannot receive what will
	 * never come, and there is no one left to send close_notify to. CPython's asyncio tests
	 * close the blocking peer's socket without unwrap() while asyncio waits for close_notify,
	 * and asyncio skips its own close_notify once the peer sent end of file. The peer, when
	 * it is this process, gets tls-no-close-notify. */
	if (x->peer_ended && !x->received)
		return;
	if (waiting_for_peer(x) && torn_down(s, x, when))
		raise_tls(s, x, SL_FLAG_TLS_SHUTDOWN_ABANDONED, when);
	else if (no_close_notify(x))
		raise_tls(s, x, SL_FLAG_TLS_NO_CLOSE_NOTIFY, when);
	else if (x->sent && !x->received && !x->quiet && x->n_results)
		x->one_way = 1;
}

void sl_tls_reader_not_removed(struct sl_state *s, struct sl_transport *t)
{
	struct sl_tls *x = t->tls;
	if (!x || !x->ended || !x->one_way || !waiting_for_peer(x))
		return;
	x->one_way = 0;
	struct sl_finding *f = raise_tls(s, x, SL_FLAG_TLS_SHUTDOWN_ABANDONED, (enum sl_finding_when)x->end_when);
	if (f)
		f->exit_phase = SL_EXIT_PHASE_NONE; /* the session itself ended before any cleanup */
}

/* OpenSSL's own state (SL_EV_SSL_SEEN): a handshake done implicitly by SSL_read or SSL_write
 * (lighttpd, openssl s_client), and the shutdown bits OpenSSL sets when it sends or receives
 * close_notify or a fatal alert. Facts are only added: curl's SSL_set_connect_state after its
 * shutdown clears OpenSSL's bits, and what was seen before it stays true. */
static void note_state(struct sl_state *s, struct sl_tls *x, const struct sl_event *ev)
{
	int learned = ev->a && !x->handshake;
	/* Once complete, a handshake is "not finished" again only after a fatal alert, sent or
	 * received (OpenSSL 3.0 sets no shutdown bit when it sends one), or after the program
	 * restarted it. After a fatal alert no close_notify can be sent. */
	if (ev->a) {
		x->handshake = 1;
	} else if (x->handshake && !x->restarted && !x->fatal) {
		x->fatal = 1;
		/* The session ended when its socket was closed (asyncio closes the socket, then frees
		 * the SSL object), and only now does OpenSSL tell that a fatal alert had ended it:
		 * the missing close_notify judged at that end was no fault of the program's. */
		struct sl_transport *t = x->ended ? x->t : NULL;
		if (t && !x->sent)
			sl_state_withdraw(s, t, SL_FLAG_TLS_NO_CLOSE_NOTIFY);
	}
	/* A quiet shutdown sets both bits without sending anything; SSL_set_shutdown's bits are
	 * the program's own choice, kept in set_shutdown. */
	if (x->quiet)
		return;
	int bits = (int)ev->b & ~x->set_shutdown & (SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	if ((bits & SSL_SENT_SHUTDOWN) && !x->sent) {
		x->sent = 1;
		x->state_bits |= SSL_SENT_SHUTDOWN;
	}
	if ((bits & SSL_RECEIVED_SHUTDOWN) && !x->received) {
		x->received = 1;
		x->state_bits |= SSL_RECEIVED_SHUTDOWN;
	}
	/* The session ended when its socket was closed, and only now (at SSL_free or at exit) does
	 * OpenSSL tell that its handshake had completed: judge that end again with this fact. */
	if (learned && x->ended && !(x->peer_ended && !x->received) && no_close_notify(x))
		raise_tls(s, x, SL_FLAG_TLS_NO_CLOSE_NOTIFY, (enum sl_finding_when)x->end_when);
}

static void bind_to(struct sl_state *s, struct sl_tls *x, struct sl_transport *t, int how)
{
	if (x->t == t) {
		if (how == SL_TLS_BIND_FD || how == SL_TLS_BIND_BIO || x->bind == 0)
			x->bind = (uint8_t)how;
		return;
	}
	if (x->t && x->t->tls == x) {
		struct sl_transport *old = x->t;
		old->tls = NULL;
		sl_state_release_finished(s, old);
	}
	if (t->tls && t->tls != x) {
		/* A transport reports one session: the newest. An older, freed one is forgotten. */
		struct sl_tls *prev = t->tls;
		prev->t = NULL;
		if (prev->freed)
			sl_arena_free(s->arena, prev, sizeof(*prev));
	}
	x->t = t;
	x->bind = (uint8_t)how;
	t->tls = x;
}

static void note_shutdown(struct sl_tls *x, const struct sl_event *ev)
{
	int ret = (int)ev->a;
	int err = (int)ev->b;
	int flags = ev->fd2;
	if (x->n_results < 255) {
		if (x->n_results < SL_TLS_MAX_RESULTS)
			x->results[x->n_results] = (int8_t)ret;
		x->n_results++;
	}
	/* A quiet shutdown sets OpenSSL's flags without sending or receiving anything. */
	if (!x->quiet) {
		if (flags & SSL_SENT_SHUTDOWN)
			x->sent = 1;
		if (flags & SSL_RECEIVED_SHUTDOWN)
			x->received = 1;
	}
	if (ret == 1 && !x->quiet)
		x->received = x->sent = 1;
	/* Two-way: called again after a 0 (close_notify sent, the peer's awaited), or told to wait
	 * for the peer's data. A single call that sends and then frees is a clean one-way close. */
	if (x->last_zero || (ret < 0 && err == SSL_ERROR_WANT_READ))
		x->two_way = 1;
	x->last_zero = ret == 0;
}

static void reset_session(struct sl_tls *x)
{
	x->handshake = x->sent = x->received = x->two_way = x->last_zero = 0;
	x->set_shutdown = 0;
	x->ended = x->peer_ended = 0;
	x->n_results = 0;
	x->state_bits = x->one_way = x->end_when = x->fatal = x->restarted = 0;
}

/* Packs a session's facts for a forked child's log (SSL_EV_SSL_INHERIT). */
static int64_t pack(const struct sl_tls *x)
{
	return (int64_t)x->handshake | (int64_t)x->sent << 1 | (int64_t)x->received << 2 |
	       (int64_t)x->quiet << 3 | (int64_t)(x->set_shutdown & 3) << 4 | (int64_t)x->two_way << 6 |
	       (int64_t)x->last_zero << 7 | (int64_t)(x->role & 3) << 8 | (int64_t)(x->bind & 7) << 10 |
	       (int64_t)x->ended << 13 | (int64_t)x->peer_ended << 14 | (int64_t)x->one_way << 15 |
	       (int64_t)(x->state_bits & 3) << 16 | (int64_t)(x->end_when & 3) << 18 |
	       (int64_t)x->up_refs << 20 | (int64_t)x->frees << 36 | (int64_t)x->fatal << 52 |
	       (int64_t)x->restarted << 53;
}

static void unpack(struct sl_tls *x, int64_t v)
{
	x->handshake = v & 1;
	x->sent = (v >> 1) & 1;
	x->received = (v >> 2) & 1;
	x->quiet = (v >> 3) & 1;
	x->set_shutdown = (v >> 4) & 3;
	x->two_way = (v >> 6) & 1;
	x->last_zero = (v >> 7) & 1;
	x->role = (v >> 8) & 3;
	x->bind = (v >> 10) & 7;
	x->ended = (v >> 13) & 1;
	x->peer_ended = (v >> 14) & 1;
	x->one_way = (v >> 15) & 1;
	x->state_bits = (v >> 16) & 3;
	x->end_when = (v >> 18) & 3;
	x->up_refs = (uint16_t)(v >> 20);
	x->frees = (uint16_t)(v >> 36);
	x->fatal = (v >> 52) & 1;
	x->restarted = (v >> 53) & 1;
}

int sl_tls_apply(struct sl_state *s, const struct sl_event *ev)
{
	struct sl_tls *x = find(s, ev->obj);
	if (ev->type == SL_EV_SSL_NEW || ev->type == SL_EV_SSL_INHERIT) {
		if (x) {
			/* The address came back without a free sockleak saw: forget the old object. */
			unlink_tls(s, x);
			if (x->t && x->t->tls == x)
				x->freed = 1;
			else
				sl_arena_free(s->arena, x, sizeof(*x));
		}
		x = insert(s, ev->obj);
		if (!x)
			return -1;
		x->stack = ev->stack;
		x->pystack = ev->pystack;
		if (ev->type == SL_EV_SSL_NEW) {
			x->quiet = ev->a != 0;
		} else {
			unpack(x, ev->a);
			x->inherited = 1;
			struct sl_transport *t = sl_state_socket_at(s, ev->fd);
			if (t)
				bind_to(s, x, t, x->bind ? x->bind : SL_TLS_BIND_FD);
		}
		return 0;
	}
	if (!x)
		return 0; /* an SSL object made before tracking began */
	switch (ev->type) {
	case SL_EV_SSL_FREE: {
		/* SSL_free only drops a reference while SSL_up_ref's are outstanding. */
		if (x->frees < x->up_refs) {
			x->frees++;
			break;
		}
		end_session(s, x, SL_WHEN_SSL_FREE);
		unlink_tls(s, x);
		x->freed = 1;
		x->free_stack = ev->stack;
		x->free_pystack = ev->pystack;
		struct sl_transport *t = x->t;
		if (!t)
			sl_arena_free(s->arena, x, sizeof(*x));
		else
			sl_state_release_finished(s, t); /* frees x with t when nothing else keeps t */
		break;
	}
	case SL_EV_SSL_CLEAR:
		end_session(s, x, SL_WHEN_SSL_FREE);
		reset_session(x);
		break;
	case SL_EV_SSL_BIND: {
		struct sl_transport *t = sl_state_socket_at(s, ev->fd);
		if (t)
			bind_to(s, x, t, (int)ev->a);
		break;
	}
	case SL_EV_SSL_HANDSHAKE:
		x->handshake = 1;
		if (ev->a)
			x->role = (uint8_t)ev->a;
		break;
	case SL_EV_SSL_SHUTDOWN:
		note_shutdown(x, ev);
		break;
	case SL_EV_SSL_SET_SHUTDOWN:
		x->set_shutdown |= (uint8_t)(ev->a & 3);
		if (ev->a & SSL_RECEIVED_SHUTDOWN)
			x->received = 1;
		break;
	case SL_EV_SSL_SEEN:
		note_state(s, x, ev);
		break;
	case SL_EV_SSL_UP_REF:
		if (x->up_refs < UINT16_MAX)
			x->up_refs++;
		break;
	case SL_EV_SSL_QUIET:
		x->quiet = ev->a != 0;
		break;
	case SL_EV_SSL_STATE:
		x->role = (uint8_t)ev->a;
		if (x->handshake)
			x->restarted = 1;
		break;
	}
	return 0;
}

void sl_tls_transport_finished(struct sl_state *s, struct sl_transport *t)
{
	if (t->tls && !t->tls->freed)
		end_session(s, t->tls, SL_WHEN_CLOSE);
}

int sl_tls_holds_transport(const struct sl_state *s, const struct sl_transport *t)
{
	(void)s;
	return t->tls && !t->tls->freed;
}

void sl_tls_transport_released(struct sl_state *s, struct sl_transport *t)
{
	struct sl_tls *x = t->tls;
	if (!x)
		return;
	t->tls = NULL;
	if (x->t == t)
		x->t = NULL;
	if (x->freed)
		sl_arena_free(s->arena, x, sizeof(*x));
}

void sl_tls_process_exit(struct sl_state *s, int killed)
{
	struct sl_tls_table *tab = s->tls;
	if (!tab || killed)
		return;
	for (uint32_t i = 0; i < tab->nbuckets; i++) {
		for (struct sl_tls *x = tab->buckets[i]; x; x = x->hnext) {
			end_session(s, x, SL_WHEN_AT_EXIT);
			raise_tls(s, x, SL_FLAG_TLS_NOT_FREED, SL_WHEN_AT_EXIT);
		}
	}
}

void sl_tls_for_each_live(struct sl_state *s, sl_tls_live_fn fn, void *ctx)
{
	struct sl_tls_table *tab = s->tls;
	if (!tab)
		return;
	for (uint32_t i = 0; i < tab->nbuckets; i++)
		for (struct sl_tls *x = tab->buckets[i]; x; x = x->hnext)
			fn(ctx, x->ssl);
}

void sl_tls_peer_ended(struct sl_state *s, struct sl_transport *t)
{
	(void)s;
	if (t->type == SOCK_STREAM && t->tls && !t->tls->freed && !t->tls->ended)
		t->tls->peer_ended = 1;
}

void sl_tls_forked(struct sl_state *s)
{
	struct sl_tls_table *tab = s->tls;
	if (!tab)
		return;
	for (uint32_t i = 0; i < tab->nbuckets; i++)
		for (struct sl_tls *x = tab->buckets[i]; x; x = x->hnext)
			x->inherited = 1;
}

static void emit_inherit(const struct sl_tls *x, int fd, sl_emit_fn emit, void *ctx)
{
	struct sl_event ev = {0};
	ev.type = SL_EV_SSL_INHERIT;
	ev.obj = x->ssl;
	ev.fd = fd;
	ev.a = pack(x);
	ev.stack = x->stack;
	ev.pystack = x->pystack;
	emit(ctx, &ev);
}

void sl_tls_snapshot_transport(const struct sl_state *s, const struct sl_transport *t, int fd,
			       sl_emit_fn emit, void *ctx)
{
	(void)s;
	if (t->tls && !t->tls->freed)
		emit_inherit(t->tls, fd, emit, ctx);
}

void sl_tls_snapshot_rest(const struct sl_state *s, sl_emit_fn emit, void *ctx)
{
	const struct sl_tls_table *tab = s->tls;
	if (!tab)
		return;
	for (uint32_t i = 0; i < tab->nbuckets; i++)
		for (const struct sl_tls *x = tab->buckets[i]; x; x = x->hnext)
			if (!x->t || !(x->t->state & SL_T_OPEN) || x->t->domain == 0)
				emit_inherit(x, -1, emit, ctx);
}

int sl_tls_free_drops_reference(const struct sl_state *s, uint64_t ssl)
{
	const struct sl_tls *x = find(s, ssl);
	return x && x->frees < x->up_refs;
}

/* Whether SSL_free of this object will appear in a report ("SSL_free at"): the session's end
 * raises a finding, or its transport has one already. Asked before the free, so that the hook
 * takes a stack only when it will be shown: one per TLS connection is a fifth of what sockleak
 * adds to a TLS handshake. */
int sl_tls_free_wants_stack(const struct sl_state *s, uint64_t ssl)
{
	const struct sl_tls *x = find(s, ssl);
	if (!x || x->frees < x->up_refs)
		return 0; /* this SSL_free only drops a reference */
	if (x->t && x->t->findings)
		return 1;
	if (x->ended || (x->inherited && !s->cfg.report_inherited) || (x->peer_ended && !x->received))
		return 0;
	return (waiting_for_peer(x) && torn_down(s, x, SL_WHEN_SSL_FREE)) || no_close_notify(x);
}

/* ---- segments ---- */

/* A RESTORE_TLS event: a = pack() (every fact the fork snapshot carries too), b = the first
 * SSL_shutdown results, fd2 = these bits, and the number of results above bit 8. */
#define RESTORE_FREED 1u
#define RESTORE_INHERITED 2u
#define RESTORE_BOUND 4u
#define RESTORE_FREE_STACKS 8u
#define RESTORE_RESULTS_SHIFT 8

void sl_tls_for_each_session(const struct sl_state *s, void (*fn)(void *ctx, const struct sl_tls *x), void *ctx)
{
	const struct sl_tls_table *tab = s->tls;
	if (!tab)
		return;
	for (uint32_t i = 0; i < tab->nbuckets; i++)
		for (const struct sl_tls *x = tab->buckets[i]; x; x = x->hnext)
			fn(ctx, x);
}

void sl_tls_segment_emit(const struct sl_tls *x, int bound, sl_emit_fn emit, void *ctx)
{
	struct sl_event ev = {0};
	ev.type = SL_EV_RESTORE_TLS;
	ev.obj = x->ssl;
	ev.fd = -1;
	ev.a = pack(x);
	ev.fd2 = (int32_t)((x->freed ? RESTORE_FREED : 0) | (x->inherited ? RESTORE_INHERITED : 0) |
			   (uint32_t)x->n_results << RESTORE_RESULTS_SHIFT | (bound ? RESTORE_BOUND : 0));
	uint64_t results = 0;
	for (int i = 0; i < SL_TLS_MAX_RESULTS; i++)
		results |= (uint64_t)(uint8_t)x->results[i] << (8 * i);
	ev.b = (int64_t)results;
	ev.stack = x->stack;
	ev.pystack = x->pystack;
	emit(ctx, &ev);
	if (x->free_stack || x->free_pystack) {
		struct sl_event fe = {0};
		fe.type = SL_EV_RESTORE_TLS;
		fe.obj = x->ssl;
		fe.fd = -1;
		fe.fd2 = (int32_t)RESTORE_FREE_STACKS;
		fe.stack = x->free_stack;
		fe.pystack = x->free_pystack;
		emit(ctx, &fe);
	}
}

int sl_tls_restore(struct sl_state *s, const struct sl_event *ev)
{
	uint32_t a = (uint32_t)ev->fd2;
	if (a & RESTORE_FREE_STACKS) {
		if (s->restoring_tls) {
			s->restoring_tls->free_stack = ev->stack;
			s->restoring_tls->free_pystack = ev->pystack;
		}
		return 0;
	}
	s->restoring_tls = NULL;
	struct sl_transport *t = (a & RESTORE_BOUND) ? s->restoring : NULL;
	if (t && t->tls)
		return 0; /* a transport reports one session (a damaged log says two) */
	struct sl_tls *x;
	if (a & RESTORE_FREED) {
		x = sl_arena_alloc(s->arena, sizeof(*x)); /* out of the table, as after SSL_free */
		if (!x)
			return -1;
		x->ssl = ev->obj;
	} else {
		if (find(s, ev->obj))
			return 0;
		x = insert(s, ev->obj);
		if (!x)
			return -1;
	}
	unpack(x, ev->a);
	x->freed = (a & RESTORE_FREED) != 0;
	x->inherited = (a & RESTORE_INHERITED) != 0;
	x->n_results = (uint8_t)(a >> RESTORE_RESULTS_SHIFT);
	for (int i = 0; i < SL_TLS_MAX_RESULTS; i++)
		x->results[i] = (int8_t)(uint8_t)((uint64_t)ev->b >> (8 * i));
	x->stack = ev->stack;
	x->pystack = ev->pystack;
	if (t) {
		x->t = t;
		t->tls = x;
	} else if (x->freed) {
		sl_arena_free(s->arena, x, sizeof(*x)); /* freed and bound to nothing: nothing to keep */
		return 0;
	}
	s->restoring_tls = x;
	return 0;
}
