#include "lifecycle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lifecycle_tls.h"

/* A live transport's memory is one arena block of the 128-byte class (docs/performance.md:
 * at most 256 bytes per live transport, its epoll registration and table slot included). */
_Static_assert(sizeof(struct sl_transport) <= 128, "struct sl_transport outgrew the arena's 128-byte class");
_Static_assert(offsetof(struct sl_state, arena) == 64, "the state's written fields are one cache line (lifecycle.h)");

/* ---- the descriptor table ---- */

/* Inlined here, with socket_at and epoll_at: every event looks a number up, and most set one
 * (issue 12). */
static inline __attribute__((always_inline)) struct sl_obj *lookup(const struct sl_state *s, int fd)
{
	if ((unsigned)fd >= SL_FDTAB_CHUNK * SL_FDTAB_MAX_CHUNKS)
		return NULL; /* negative numbers too */
	struct sl_obj **chunk = s->fdtab[(unsigned)fd >> SL_FDTAB_CHUNK_BITS];
	return chunk ? chunk[sl_fdtab_slot(fd)] : NULL;
}

struct sl_obj *sl_state_lookup(const struct sl_state *s, int fd)
{
	return lookup(s, fd);
}

/* Stores obj (or NULL) at fd. Returns -1 when the chunk cannot be allocated, or when the number
 * is beyond what the table covers (such a descriptor is simply not tracked). */
static inline int fdtab_set(struct sl_state *s, int fd, struct sl_obj *obj)
{
	if (fd < 0 || (unsigned)fd >= SL_FDTAB_CHUNK * SL_FDTAB_MAX_CHUNKS)
		return obj ? -1 : 0;
	struct sl_obj ***slot = &s->fdtab[(unsigned)fd >> SL_FDTAB_CHUNK_BITS];
	struct sl_obj **chunk = *slot;
	if (!chunk) {
		if (!obj)
			return 0;
		chunk = sl_arena_alloc(s->arena, SL_FDTAB_CHUNK * sizeof(*chunk));
		if (!chunk)
			return -1;
		/* Published with release order: sl_state_peek reads it without the lock. */
		__atomic_store_n(slot, chunk, __ATOMIC_RELEASE);
		if (((unsigned)fd >> SL_FDTAB_CHUNK_BITS) >= s->fdtab_chunks)
			s->fdtab_chunks = ((unsigned)fd >> SL_FDTAB_CHUNK_BITS) + 1;
	}
	__atomic_store_n(&chunk[sl_fdtab_slot(fd)], obj, __ATOMIC_RELAXED);
	return 0;
}

/* Calls fn(ctx, fd, obj) for every occupied descriptor, in ascending order. */
typedef void (*fd_fn)(void *, int, struct sl_obj *);

/* The same for the descriptors first..last (inclusive). fn may empty the entry it is given. */
static void fd_walk_range(const struct sl_state *s, long first, long last, fd_fn fn, void *ctx)
{
	if (first < 0)
		first = 0;
	for (unsigned c = (unsigned long)first >> SL_FDTAB_CHUNK_BITS; c < s->fdtab_chunks; c++) {
		struct sl_obj **chunk = s->fdtab[c];
		if (!chunk)
			continue;
		for (unsigned i = 0; i < SL_FDTAB_CHUNK; i++) {
			long fd = (long)c * SL_FDTAB_CHUNK + i;
			if (fd > last)
				return;
			struct sl_obj *o = fd >= first ? chunk[sl_fdtab_slot((int)fd)] : NULL;
			if (o)
				fn(ctx, (int)fd, o);
		}
	}
}

static void fd_walk(const struct sl_state *s, fd_fn fn, void *ctx)
{
	fd_walk_range(s, 0, LONG_MAX, fn, ctx);
}

static inline __attribute__((always_inline)) struct sl_transport *socket_at(const struct sl_state *s, int fd)
{
	struct sl_obj *o = lookup(s, fd);
	return o && o->kind == SL_OBJ_SOCKET ? (struct sl_transport *)o : NULL;
}

struct sl_transport *sl_state_socket_at(const struct sl_state *s, int fd)
{
	return socket_at(s, fd);
}

static inline __attribute__((always_inline)) struct sl_epoll *epoll_at(const struct sl_state *s, int fd)
{
	struct sl_obj *o = lookup(s, fd);
	return o && o->kind == SL_OBJ_EPOLL ? (struct sl_epoll *)o : NULL;
}

/* ---- findings ---- */

static int judged(const struct sl_state *s, const struct sl_transport *t)
{
	return !(t->state & SL_T_INHERITED) || s->cfg.report_inherited;
}

int sl_transport_addrs_known(const struct sl_transport *t)
{
	return sl_addr_complete(&t->local) &&
	       (sl_addr_complete(&t->peer) || t->role == SL_ROLE_LISTENER || t->role == SL_ROLE_BOUND);
}

void sl_state_want_addr(struct sl_state *s, const struct sl_transport *t, int fd)
{
	if (t->domain == SL_DOMAIN_FD || sl_transport_addrs_known(t) || fd < 0 || s->n_want_addr >= (int)(sizeof(s->want_addr) / sizeof(s->want_addr[0])))
		return;
	s->want_addr[s->n_want_addr++] = fd;
}

/* Raises a finding on t. Returns it (to fill in details) or NULL when the transport is not judged
 * or memory ran out. A flag is raised once per transport: later occurrences add nothing. */
static struct sl_finding *raise_finding(struct sl_state *s, struct sl_transport *t, enum sl_flag flag,
				enum sl_finding_when when)
{
	if (!judged(s, t) || (t->flags & (1u << flag)))
		return NULL;
	struct sl_finding *f = sl_arena_alloc(s->arena, sizeof(*f));
	if (!f) {
		s->out_of_memory = 1;
		return NULL;
	}
	f->flag = (uint8_t)flag;
	f->when = (uint8_t)when;
	f->fd = t->fd;
	f->epoll_fd = -1;
	/* Keep findings in the order they were raised. */
	struct sl_finding **tail = &t->findings;
	while (*tail)
		tail = &(*tail)->next;
	*tail = f;
	t->flags |= (uint16_t)(1u << flag);
	return f;
}

struct sl_finding *sl_state_raise(struct sl_state *s, struct sl_transport *t, enum sl_flag flag,
				  enum sl_finding_when when)
{
	return raise_finding(s, t, flag, when);
}

void sl_state_withdraw(struct sl_state *s, struct sl_transport *t, enum sl_flag flag)
{
	if (!(t->flags & (1u << flag)))
		return;
	for (struct sl_finding **p = &t->findings; *p; p = &(*p)->next) {
		if ((*p)->flag == flag) {
			struct sl_finding *f = *p;
			*p = f->next;
			sl_arena_free(s->arena, f, sizeof(*f));
			break;
		}
	}
	t->flags &= (uint16_t)~(1u << flag);
}

static void free_findings(struct sl_state *s, struct sl_transport *t)
{
	while (t->findings) {
		struct sl_finding *f = t->findings;
		t->findings = f->next;
		sl_arena_free(s->arena, f, sizeof(*f));
	}
	t->flags = 0;
}

/* ---- transports ---- */

static struct sl_transport *new_transport(struct sl_state *s, const struct sl_event *ev, int fd,
					  int domain, int type, enum sl_role role)
{
	struct sl_transport *t = sl_arena_alloc_fixed(s->arena, sizeof(*t));
	if (!t)
		return NULL;
	if (fdtab_set(s, fd, &t->obj) < 0) {
		sl_arena_free(s->arena, t, sizeof(*t));
		return NULL;
	}
	t->obj.kind = SL_OBJ_SOCKET;
	t->role = (uint8_t)role;
	t->state = SL_T_OPEN;
	t->domain = (uint16_t)domain;
	t->type = (uint16_t)type;
	t->fd = fd;
	t->nfds = 1;
	t->stack = ev->stack;
	t->pystack = ev->pystack;
	t->id = ++s->next_transport_id;
	s->transports_seen++;
	s->live_transports++;
	return t;
}

/* A transport with no descriptor: the report entry of a TLS session never bound to a socket. */
struct sl_transport *sl_state_new_detached(struct sl_state *s, uint32_t stack, uint32_t pystack)
{
	struct sl_transport *t = sl_arena_alloc(s->arena, sizeof(*t));
	if (!t) {
		s->out_of_memory = 1;
		return NULL;
	}
	t->obj.kind = SL_OBJ_SOCKET;
	t->fd = -1;
	t->stack = stack;
	t->pystack = pystack;
	t->id = ++s->next_transport_id;
	/* It is an entry of the report like a socket: counted, so that "N of M" stays true. */
	s->transports_seen++;
	return t;
}

static void release_transport(struct sl_state *s, struct sl_transport *t)
{
	if (t->tls)
		sl_tls_transport_released(s, t);
	/* Only a unix path holds memory of its own; the rest goes with t. */
	if (t->local.family == AF_UNIX)
		sl_addr_clear(s->arena, &t->local);
	if (t->peer.family == AF_UNIX)
		sl_addr_clear(s->arena, &t->peer);
	sl_arena_free_fixed(s->arena, t, sizeof(*t));
}

static void unlink_reg(struct sl_state *s, struct sl_reg *r)
{
	if (r->ep_prev)
		r->ep_prev->ep_next = r->ep_next;
	else
		r->ep->regs = r->ep_next;
	if (r->ep_next)
		r->ep_next->ep_prev = r->ep_prev;
	struct sl_reg **p = &r->t->regs;
	while (*p != r)
		p = &(*p)->t_next;
	*p = r->t_next;
	sl_arena_free_fixed(s->arena, r, sizeof(*r));
}

/* Puts t on the list of transports to report, once. */
static void list_transport(struct sl_state *s, struct sl_transport *t)
{
	if (t->state & SL_T_LISTED)
		return;
	t->state |= SL_T_LISTED;
	t->next = NULL;
	if (s->done_tail)
		s->done_tail->next = t;
	else
		s->done_head = t;
	s->done_tail = t;
}

/* The last descriptor of t is gone: the kernel drops its registrations, and t is finished. A
 * finished transport with findings is kept for the report; one without is forgotten, unless its
 * TLS session still refers to it. */
static void finish_transport(struct sl_state *s, struct sl_transport *t)
{
	while (t->regs)
		unlink_reg(s, t->regs);
	t->state &= (uint8_t)~SL_T_OPEN;
	s->live_transports--;
	if (t->tls)
		sl_tls_transport_finished(s, t);
	if (t->findings)
		list_transport(s, t);
	else if (!t->tls || !sl_tls_holds_transport(s, t))
		release_transport(s, t);
}

/* Called by lifecycle_tls.c when the SSL object that kept a finished transport alive goes away. */
void sl_state_release_finished(struct sl_state *s, struct sl_transport *t)
{
	if (!(t->state & (SL_T_OPEN | SL_T_LISTED)) && !t->findings && !sl_tls_holds_transport(s, t))
		release_transport(s, t);
}

/* Moves a finished transport that got a finding after it finished (a TLS verdict at SSL_free)
 * onto the list of finished transports with findings. */
void sl_state_list_finished(struct sl_state *s, struct sl_transport *t)
{
	if (!(t->state & SL_T_OPEN) && t->findings)
		list_transport(s, t);
}

/* A descriptor of t is closed (or replaced by dup2). With unseen, the close happened behind
 * sockleak's back (a descriptor number turned up again without a close it could see): the
 * transport is ended without judging how. */
static void socket_fd_gone(struct sl_state *s, struct sl_transport *t, int fd, int unseen);

static void close_socket_fd(struct sl_state *s, struct sl_transport *t, int fd, int unseen)
{
	fdtab_set(s, fd, NULL);
	socket_fd_gone(s, t, fd, unseen);
}

/* The same, once the number has left the table (a close under way that the kernel confirmed). */
static void socket_fd_gone(struct sl_state *s, struct sl_transport *t, int fd, int unseen)
{
	t->fd = fd;
	if (--t->nfds > 0) {
		/* The open file lives on through another descriptor: the kernel keeps every
		 * registration made under this number and goes on reporting events for it. */
		for (struct sl_reg *r = t->regs; r; r = r->t_next) {
			if (r->fd != fd || r->fd_closed)
				continue;
			r->fd_closed = 1;
			struct sl_finding *f = raise_finding(s, t, SL_FLAG_CLOSED_WHILE_REGISTERED, SL_WHEN_CLOSE);
			if (f) {
				f->fd = fd;
				f->epoll_fd = r->ep->fd;
				f->epoll_id = r->ep->id;
				f->stack = r->stack;
				f->pystack = r->pystack;
				f->events = r->events;
			}
		}
		return;
	}
	if (unseen) {
		t->state |= SL_T_UNSEEN_CLOSE;
	} else if (s->exit_phase != SL_EXIT_PHASE_NONE) {
		struct sl_finding *f = raise_finding(s, t, SL_FLAG_CLOSED_AT_EXIT, SL_WHEN_CLOSE);
		if (f)
			f->exit_phase = s->exit_phase;
	}
	finish_transport(s, t);
}

/* ---- epoll sets ---- */

static struct sl_epoll *new_epoll(struct sl_state *s, int fd, uint64_t id)
{
	struct sl_epoll *ep = sl_arena_alloc(s->arena, sizeof(*ep));
	if (!ep)
		return NULL;
	if (fdtab_set(s, fd, &ep->obj) < 0) {
		sl_arena_free(s->arena, ep, sizeof(*ep));
		return NULL;
	}
	ep->obj.kind = SL_OBJ_EPOLL;
	ep->fd = fd;
	ep->nfds = 1;
	ep->id = id;
	return ep;
}

/* Every registration still in ep whose socket is open is a reader that was never removed. */
static void judge_registrations(struct sl_state *s, struct sl_epoll *ep, enum sl_finding_when when)
{
	for (struct sl_reg *r = ep->regs; r; r = r->ep_next) {
		struct sl_transport *t = r->t;
		if (!(t->state & SL_T_OPEN) || (ep->inherited && !s->cfg.report_inherited))
			continue;
		struct sl_finding *f = raise_finding(s, t, SL_FLAG_READER_NOT_REMOVED, when);
		if (!f)
			continue;
		f->fd = r->fd;
		f->epoll_fd = ep->fd;
		f->epoll_id = ep->id;
		f->stack = r->stack;
		f->pystack = r->pystack;
		f->events = r->events;
		if (!r->fd_closed)
			sl_state_want_addr(s, t, r->fd);
		sl_tls_reader_not_removed(s, t);
	}
}

static void epoll_fd_gone(struct sl_state *s, struct sl_epoll *ep, int fd)
{
	ep->fd = fd;
	if (--ep->nfds > 0)
		return;
	judge_registrations(s, ep, SL_WHEN_EPOLL_CLOSED);
	while (ep->regs)
		unlink_reg(s, ep->regs);
	sl_arena_free(s->arena, ep, sizeof(*ep));
}

static void close_epoll_fd(struct sl_state *s, struct sl_epoll *ep, int fd)
{
	fdtab_set(s, fd, NULL);
	epoll_fd_gone(s, ep, fd);
}

static struct sl_reg *find_reg(struct sl_transport *t, struct sl_epoll *ep, int fd)
{
	for (struct sl_reg *r = t->regs; r; r = r->t_next)
		if (r->ep == ep && r->fd == fd && !r->fd_closed)
			return r;
	return NULL;
}

/* A registration of t's number fd in ep, with its events and stacks (EPOLL_CTL_ADD, and a
 * segment's RESTORE_REG). Returns it, or NULL when memory ran out. */
static struct sl_reg *add_reg_with(struct sl_state *s, struct sl_epoll *ep, struct sl_transport *t, int fd,
				   uint32_t events, uint32_t stack, uint32_t pystack)
{
	struct sl_reg *r = sl_arena_alloc_fixed(s->arena, sizeof(*r));
	if (!r)
		return NULL;
	r->ep = ep;
	r->t = t;
	r->fd = fd;
	r->events = events;
	r->stack = stack;
	r->pystack = pystack;
	r->ep_next = ep->regs;
	if (ep->regs)
		ep->regs->ep_prev = r;
	ep->regs = r;
	r->t_next = t->regs;
	t->regs = r;
	return r;
}

static struct sl_reg *add_reg(struct sl_state *s, struct sl_epoll *ep, struct sl_transport *t,
			      const struct sl_event *ev)
{
	return add_reg_with(s, ep, t, ev->fd2, (uint32_t)ev->b, ev->stack, ev->pystack);
}

static inline __attribute__((always_inline)) int epoll_ctl_do(struct sl_state *s, int epfd, int op, int fd,
							  uint32_t events, uint32_t stack, uint32_t pystack)
{
	struct sl_epoll *ep = epoll_at(s, epfd);
	struct sl_transport *t = socket_at(s, fd);
	if (!ep || !t)
		return 0; /* not a socket (a pipe, an eventfd, a timer): not a transport */
	struct sl_reg *r = find_reg(t, ep, fd);
	switch (op) {
	case 1: /* EPOLL_CTL_ADD */
		return r || add_reg_with(s, ep, t, fd, events, stack, pystack) ? 0 : -1;
	case 3: /* EPOLL_CTL_MOD */
		if (r)
			r->events = events;
		return 0;
	case 2: /* EPOLL_CTL_DEL */
		if (r)
			unlink_reg(s, r);
		return 0;
	}
	return 0;
}

static int epoll_ctl_event(struct sl_state *s, const struct sl_event *ev)
{
	return epoll_ctl_do(s, ev->fd, (int)ev->a, ev->fd2, (uint32_t)ev->b, ev->stack, ev->pystack);
}

void sl_state_epoll_ctl(struct sl_state *s, int epfd, int op, int fd, uint32_t events, uint32_t stack)
{
	if (s->exited)
		return;
	if (epoll_ctl_do(s, epfd, op, fd, events, stack, 0) < 0 || s->arena->failed)
		s->out_of_memory = 1;
}

/* ---- closing any descriptor ---- */

static void close_obj(struct sl_state *s, struct sl_obj *o, int fd, int unseen);

/* Inlined: a number made anew (socket, accept) is looked up to end what sockleak held there,
 * which is nothing but for a close it could not see. */
static inline void close_fd(struct sl_state *s, int fd, int unseen)
{
	struct sl_obj *o = lookup(s, fd);
	if (o)
		close_obj(s, o, fd, unseen);
}

static __attribute__((noinline)) void close_obj(struct sl_state *s, struct sl_obj *o, int fd, int unseen)
{
	if (o->kind == SL_OBJ_SOCKET)
		close_socket_fd(s, (struct sl_transport *)o, fd, unseen);
	else
		close_epoll_fd(s, (struct sl_epoll *)o, fd);
}

static void close_one(void *ctx, int fd, struct sl_obj *o)
{
	(void)o;
	close_fd(ctx, fd, 0);
}

static void close_range_event(struct sl_state *s, int first, int last)
{
	fd_walk_range(s, first, last, close_one, s);
}

/* ---- closes under way ----
 *
 * A close is recorded in two steps, because the kernel may refuse it: close_range() fails with
 * EINVAL, or EPERM or ENOSYS under a seccomp filter, and a close() cancelled at its cancellation
 * point closes nothing. Recording the close as done before the call made sockleak forget
 * sockets that were still open, and miss their leaks. Recording it after the call is no better:
 * another thread may be handed the number the moment the kernel frees it, and its socket()
 * must find the number free. So the begin takes the descriptors out of the table and holds
 * their objects aside; the end either finishes them with every rule of a close, or puts them
 * back. The key (obj) tells concurrent closes apart. */

static size_t closing_size(uint32_t n)
{
	return sizeof(struct sl_closing) + n * sizeof(struct sl_closing_fd);
}

static void count_one(void *ctx, int fd, struct sl_obj *o)
{
	(void)fd;
	(void)o;
	(*(uint32_t *)ctx)++;
}

struct set_aside {
	struct sl_state *s;
	struct sl_closing *c;
};

static void set_one_aside(void *ctx, int fd, struct sl_obj *o)
{
	struct set_aside *a = ctx;
	a->c->e[a->c->n].fd = fd;
	a->c->e[a->c->n].obj = o;
	a->c->n++;
	fdtab_set(a->s, fd, NULL);
}

static void close_begin_event(struct sl_state *s, const struct sl_event *ev)
{
	int first = ev->fd < 0 ? 0 : ev->fd, last = ev->fd2;
	if (first > last)
		return;
	struct sl_closing *c;
	if (first == last) {
		/* One descriptor, as close() gives: no walk of the table. */
		struct sl_obj *o = lookup(s, first);
		if (!o)
			return;
		c = sl_arena_alloc_fixed(s->arena, closing_size(1));
		if (!c) {
			close_fd(s, first, 0);
			return;
		}
		c->e[0].fd = first;
		c->e[0].obj = o;
		c->n = 1;
		fdtab_set(s, first, NULL);
	} else {
		uint32_t n = 0;
		fd_walk_range(s, first, last, count_one, &n);
		if (n == 0)
			return;
		c = sl_arena_alloc(s->arena, closing_size(n));
		if (!c) {
			/* No room to hold them aside: close them now, as before. */
			close_range_event(s, first, last);
			return;
		}
		c->n = 0;
		struct set_aside a = {s, c};
		fd_walk_range(s, first, last, set_one_aside, &a);
	}
	c->key = ev->obj;
	c->next = s->closing;
	s->closing = c;
}

/* Whether what the kernel has at the number now (SL_CLOSE_CANCELLED's b) is still obj. */
static int still_there(const struct sl_obj *obj, int64_t now)
{
	if (obj->kind == SL_OBJ_EPOLL)
		return now == -2;
	const struct sl_transport *t = (const struct sl_transport *)obj;
	if (t->domain == SL_DOMAIN_FD)
		return now == -2; /* open, and not a socket */
	return now >= 0 && (int)(now >> 16) == t->domain && (int)(now & 0xffff) == t->type;
}

/* Ends the close under way *p (taken off the list) as the kernel answered: outcome and now are
 * SL_EV_CLOSE_END's a and b. */
static void end_closing(struct sl_state *s, struct sl_closing **p, int64_t outcome, int64_t now)
{
	struct sl_closing *c = *p;
	*p = c->next;
	for (uint32_t i = 0; i < c->n; i++) {
		int fd = c->e[i].fd;
		struct sl_obj *o = c->e[i].obj;
		int undo = outcome == SL_CLOSE_FAILED || (outcome == SL_CLOSE_CANCELLED && still_there(o, now));
		/* The number is ours again only if nothing took it meanwhile: the kernel did not free
		 * it, so anything there now came through a close sockleak could not see. */
		if (undo && !lookup(s, fd)) {
			fdtab_set(s, fd, o);
			continue;
		}
		int unseen = undo || outcome == SL_CLOSE_NOT_OPEN;
		if (o->kind == SL_OBJ_SOCKET)
			socket_fd_gone(s, (struct sl_transport *)o, fd, unseen);
		else
			epoll_fd_gone(s, (struct sl_epoll *)o, fd);
	}
	if (c->n == 1)
		sl_arena_free_fixed(s->arena, c, closing_size(1));
	else
		sl_arena_free(s->arena, c, closing_size(c->n));
}

static void close_end_event(struct sl_state *s, const struct sl_event *ev)
{
	struct sl_closing **p = &s->closing;
	while (*p && (*p)->key != ev->obj)
		p = &(*p)->next;
	if (*p)
		end_closing(s, p, ev->a, ev->b);
	/* else nothing was held aside: no tracked descriptor was in the range */
}

void sl_state_close_end(struct sl_state *s, struct sl_closing *c, int64_t outcome, int64_t now)
{
	if (s->exited)
		return;
	struct sl_closing **p = &s->closing;
	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		end_closing(s, p, outcome, now);
	if (s->arena->failed)
		s->out_of_memory = 1;
}

/* ---- exit ---- */

struct exit_ctx {
	struct sl_state *s;
	int killed;
};

/* Under track=all an epoll set is a descriptor like any other: one still open at exit gets a
 * report entry of its own (kind epoll), made here, since the set itself is no transport. */
static void exit_tracked_epoll(struct exit_ctx *x, struct sl_epoll *ep, int fd)
{
	struct sl_state *s = x->s;
	if (!ep->tracked || ep->reported || (ep->inherited && !s->cfg.report_inherited) || fd <= 2)
		return;
	ep->reported = 1;
	struct sl_transport *t = sl_state_new_detached(s, ep->stack, ep->pystack);
	if (!t)
		return;
	s->transports_seen--; /* counted when the set was made */
	t->domain = SL_DOMAIN_FD;
	t->type = SL_FD_EPOLL;
	t->fd = fd;
	t->state = SL_T_OPEN;
	struct sl_finding *f = raise_finding(s, t, x->killed ? SL_FLAG_PROCESS_KILLED : SL_FLAG_NEVER_CLOSED,
					     SL_WHEN_AT_EXIT);
	if (f)
		f->fd = fd;
	list_transport(s, t);
}

static void exit_epoll(void *vctx, int fd, struct sl_obj *o)
{
	struct exit_ctx *x = vctx;
	(void)fd;
	/* An epoll set with several descriptors is judged once per descriptor: harmless, as a
	 * flag is raised once per transport. */
	if (o->kind == SL_OBJ_EPOLL && !x->killed)
		judge_registrations(x->s, (struct sl_epoll *)o, SL_WHEN_AT_EXIT);
	if (o->kind == SL_OBJ_EPOLL)
		exit_tracked_epoll(x, (struct sl_epoll *)o, fd);
}

static void exit_socket(void *vctx, int fd, struct sl_obj *o)
{
	struct exit_ctx *x = vctx;
	struct sl_transport *t = (struct sl_transport *)o;
	if (o->kind != SL_OBJ_SOCKET)
		return;
	if (t->state & SL_T_LISTED)
		return; /* seen already through a lower descriptor */
	/* 0 to 2 are the standard streams: a file or pipe put there (a redirection) is deliberate,
	 * and valgrind --track-fds=yes leaves them out too. The same object open at a higher
	 * number is still judged there. */
	if (t->domain == SL_DOMAIN_FD && fd <= 2)
		return;
	t->fd = fd;
	struct sl_finding *f = raise_finding(x->s, t, x->killed ? SL_FLAG_PROCESS_KILLED : SL_FLAG_NEVER_CLOSED,
				     SL_WHEN_AT_EXIT);
	if (f)
		f->fd = fd;
	if (t->findings)
		list_transport(x->s, t);
}

/* The process exits: every epoll set still open is judged as if closed, every socket still open
 * was never closed, every SSL object still allocated was never freed. The state is final after. */
static void exit_event(struct sl_state *s, const struct sl_event *ev)
{
	struct exit_ctx x = {s, ev->b == SL_EXIT_HOW_KILLED};
	s->exit_status = (int)ev->a;
	s->exit_how = (uint8_t)ev->b;
	/* Epoll sets first: an epoll descriptor numbered above a socket's must still see it open. */
	fd_walk(s, exit_epoll, &x);
	sl_tls_process_exit(s, x.killed);
	fd_walk(s, exit_socket, &x);
	s->exited = 1;
}

/* ---- fork ---- */

static void forked_obj(void *vctx, int fd, struct sl_obj *o)
{
	struct sl_state *s = vctx;
	(void)fd;
	if (o->kind == SL_OBJ_SOCKET) {
		struct sl_transport *t = (struct sl_transport *)o;
		t->state |= SL_T_INHERITED;
		free_findings(s, t);
	} else {
		((struct sl_epoll *)o)->inherited = 1;
	}
}

/* In a forked child: everything open came from the parent, and what the parent found is the
 * parent's to report. */
static void forked_event(struct sl_state *s, const struct sl_event *ev)
{
	fd_walk(s, forked_obj, s);
	while (s->done_head) {
		struct sl_transport *t = s->done_head;
		s->done_head = t->next;
		free_findings(s, t);
		t->state &= (uint8_t)~SL_T_LISTED;
		sl_state_release_finished(s, t);
	}
	s->done_tail = NULL;
	s->transports_seen = 0;
	s->forked = 1;
	/* A close under way belongs to a thread the child does not have, and the child's log
	 * starts from the table alone (sl_state_snapshot): drop it here too, so both agree. */
	s->closing = NULL;
	s->unseen_closes = 0;
	s->unseen_fd_closes = 0;
	s->blind = 0;
	if ((uint64_t)ev->a > s->next_transport_id)
		s->next_transport_id = (uint64_t)ev->a;
	if ((uint64_t)ev->b > s->next_epoll_id)
		s->next_epoll_id = (uint64_t)ev->b;
	sl_tls_forked(s);
}

/* ---- the one entry point ---- */

static int set_addr(struct sl_state *s, struct sl_addr *dst, const struct sl_event *ev)
{
	/* An IPv4 address over one that holds no memory: copied here, as sl_addr_set would (every
	 * connect and accept of a TCP program comes this way). */
	const struct sockaddr_in *in = ev->addr;
	if (in && ev->addrlen >= sizeof(*in) && in->sin_family == AF_INET && dst->family != AF_UNIX) {
		memset(dst, 0, sizeof(*dst));
		dst->family = AF_INET;
		dst->port = ntohs(in->sin_port);
		dst->len = 4;
		memcpy(dst->u.ip, &in->sin_addr, 4);
		return 0;
	}
	if (sl_addr_set(s->arena, dst, ev->addr, ev->addrlen) < 0)
		return -1;
	return 0;
}

/* ---- segments: the whole state, rebuilt ---- */

static void segment_event(struct sl_state *s, const struct sl_event *ev)
{
	s->next_transport_id = (uint64_t)ev->a;
	s->next_epoll_id = (uint64_t)ev->b;
	s->transports_seen = ev->obj;
	s->exit_phase = (uint8_t)(ev->fd2 & 0xff);
	s->forked = (ev->fd2 >> 8) & 1;
	if ((ev->fd2 >> 9) & 1)
		s->out_of_memory = 1;
	s->restoring = NULL;
}

static int restore_transport(struct sl_state *s, const struct sl_event *ev)
{
	uint32_t bits = (uint32_t)ev->fd2;
	int domain = (int)(ev->a & 0xffff), type = (int)((ev->a >> 16) & 0xffff);
	enum sl_role role = (enum sl_role)(bits & 0xff);
	struct sl_transport *t;
	s->restoring = NULL;
	if (role >= SL_ROLE_COUNT)
		return 0;
	if (ev->fd >= 0) {
		close_fd(s, ev->fd, 1);
		t = new_transport(s, ev, ev->fd, domain, type, role);
		if (!t)
			return -1;
		/* The counters come with SL_EV_SEGMENT, as they stood. */
		s->next_transport_id--;
		s->transports_seen--;
	} else {
		t = sl_arena_alloc(s->arena, sizeof(*t));
		if (!t)
			return -1;
		t->obj.kind = SL_OBJ_SOCKET;
		t->role = (uint8_t)role;
		t->domain = (uint16_t)domain;
		t->type = (uint16_t)type;
		t->stack = ev->stack;
		t->pystack = ev->pystack;
	}
	t->id = ev->obj;
	t->state = (uint8_t)((bits >> 8) & 0xff & ~(unsigned)SL_T_LISTED);
	if (ev->fd >= 0)
		t->state |= SL_T_OPEN;
	else
		t->state &= (uint8_t)~SL_T_OPEN;
	t->fd = (int32_t)(uint32_t)((uint64_t)ev->a >> 32);
	if (set_addr(s, &t->local, ev) < 0)
		return -1;
	/* A finished transport is on the report's list, or kept only by its live SSL object. */
	if (ev->fd < 0 && ((bits >> 8) & SL_T_LISTED))
		list_transport(s, t);
	s->restoring = t;
	return 0;
}

static int restore_finding(struct sl_state *s, const struct sl_event *ev)
{
	struct sl_transport *t = s->restoring;
	unsigned flag = (unsigned)(ev->a & 0xff);
	if (!t || flag >= SL_FLAG_COUNT || (t->flags & (1u << flag)))
		return 0;
	struct sl_finding *f = sl_arena_alloc(s->arena, sizeof(*f));
	if (!f)
		return -1;
	f->flag = (uint8_t)flag;
	f->when = (uint8_t)((ev->a >> 8) & 0xff);
	f->exit_phase = (uint8_t)((ev->a >> 16) & 0xff);
	f->events = (uint32_t)((uint64_t)ev->a >> 32);
	f->fd = ev->fd;
	f->epoll_fd = ev->fd2;
	f->epoll_id = ev->obj;
	f->stack = ev->stack;
	f->pystack = ev->pystack;
	struct sl_finding **tail = &t->findings;
	while (*tail)
		tail = &(*tail)->next;
	*tail = f;
	t->flags |= (uint16_t)(1u << flag);
	return 0;
}

static int restore_reg(struct sl_state *s, const struct sl_event *ev)
{
	struct sl_epoll *ep = epoll_at(s, ev->fd);
	struct sl_transport *t = socket_at(s, (int32_t)(uint32_t)ev->a);
	if (!ep || !t)
		return 0;
	struct sl_reg *r = add_reg(s, ep, t, ev);
	if (!r)
		return -1;
	r->fd_closed = ((uint64_t)ev->a >> 32) & 1;
	return 0;
}

void sl_state_init_zeroed(struct sl_state *s, struct sl_arena *arena, struct sl_stack_store *stacks,
			  const struct sl_state_config *cfg)
{
	s->arena = arena;
	s->stacks = stacks;
	if (cfg)
		s->cfg = *cfg;
}

/* A descriptor that is not a socket (issue 15): a transport of domain SL_DOMAIN_FD, its kind
 * as its type, a file's path as its local address. Every rule of a socket's applies to it:
 * dups follow it, a close ends it, exit-time cleanup and epoll registrations are judged. */
static int fd_open_event(struct sl_state *s, const struct sl_event *ev)
{
	int fds[2] = {ev->fd, ev->fd2};
	int kind = ev->a > 0 && ev->a < SL_FD_KIND_COUNT ? (int)ev->a : SL_FD_FILE;
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0 || (i == 1 && fds[1] == fds[0]))
			continue;
		close_fd(s, fds[i], 1);
		struct sl_transport *t = new_transport(s, ev, fds[i], SL_DOMAIN_FD, kind, SL_ROLE_NONE);
		if (!t)
			return -1;
		t->dev = (uint32_t)ev->b;
		t->ino = ev->obj;
		if (ev->addr && set_addr(s, &t->local, ev) < 0)
			return -1;
	}
	return 0;
}

void sl_state_init(struct sl_state *s, struct sl_arena *arena, struct sl_stack_store *stacks,
		   const struct sl_state_config *cfg)
{
	memset(s, 0, sizeof(*s));
	sl_state_init_zeroed(s, arena, stacks, cfg);
}

static int socket_type(int64_t type)
{
	return (int)(type & 0xf); /* SOCK_NONBLOCK and SOCK_CLOEXEC are not part of the type */
}

int sl_state_apply(struct sl_state *s, const struct sl_event *ev)
{
	struct sl_transport *t;
	int rc = 0;
	if (s->exited)
		return 0; /* the report is being written: nothing after the exit counts */
	switch (ev->type) {
	case SL_EV_SOCKET:
		close_fd(s, ev->fd, 1);
		if (!new_transport(s, ev, ev->fd, (int)ev->a, socket_type(ev->b), SL_ROLE_NONE))
			rc = -1;
		break;
	case SL_EV_SOCKETPAIR:
		close_fd(s, ev->fd, 1);
		close_fd(s, ev->fd2, 1);
		if (!new_transport(s, ev, ev->fd, (int)ev->a, socket_type(ev->b), SL_ROLE_PAIR) ||
		    !new_transport(s, ev, ev->fd2, (int)ev->a, socket_type(ev->b), SL_ROLE_PAIR))
			rc = -1;
		break;
	case SL_EV_ACCEPT: {
		struct sl_transport *l = socket_at(s, ev->fd);
		const struct sockaddr *peer = ev->addr;
		int domain = l ? l->domain : (peer && ev->addrlen >= sizeof(peer->sa_family) ? peer->sa_family : 0);
		close_fd(s, ev->fd2, 1);
		t = new_transport(s, ev, ev->fd2, domain, l ? l->type : SOCK_STREAM, SL_ROLE_ACCEPTED);
		if (!t)
			rc = -1;
		else if (ev->addr && set_addr(s, &t->peer, ev) < 0) /* a new transport's is unknown */
			rc = -1;
		else if (l && l->local.family && l->local.family != AF_UNIX)
			t->local = l->local; /* the listener's address; a wildcard stays one */
		break;
	}
	case SL_EV_RECEIVED:
		close_fd(s, ev->fd2, 1);
		if (!new_transport(s, ev, ev->fd2, (int)ev->a, socket_type(ev->b), SL_ROLE_RECEIVED))
			rc = -1;
		break;
	case SL_EV_DUP: {
		if (ev->fd == ev->fd2)
			break;
		/* dup2 and dup3 onto an open descriptor close it first, with every rule of a close. */
		close_fd(s, ev->fd2, 0);
		struct sl_obj *o = lookup(s, ev->fd);
		if (!o)
			break;
		if (fdtab_set(s, ev->fd2, o) < 0) {
			rc = -1;
			break;
		}
		if (o->kind == SL_OBJ_SOCKET) {
			((struct sl_transport *)o)->nfds++;
			((struct sl_transport *)o)->state |= SL_T_DUPED;
		} else
			((struct sl_epoll *)o)->nfds++;
		break;
	}
	case SL_EV_CLOSE:
		close_fd(s, ev->fd, 0);
		break;
	case SL_EV_CLOSE_RANGE:
		close_range_event(s, ev->fd, ev->fd2);
		break;
	case SL_EV_CLOSE_BEGIN:
		close_begin_event(s, ev);
		break;
	case SL_EV_CLOSE_END:
		close_end_event(s, ev);
		break;
	case SL_EV_CLOSE_UNSEEN:
		if ((t = socket_at(s, ev->fd)) != NULL) {
			if (t->domain == SL_DOMAIN_FD)
				s->unseen_fd_closes++;
			else
				s->unseen_closes++;
			close_socket_fd(s, t, ev->fd, 1);
		}
		break;
	case SL_EV_BLIND:
		s->blind |= (uint32_t)ev->a;
		break;
	case SL_EV_SHUTDOWN:
		if ((t = socket_at(s, ev->fd)) != NULL && ev->a == SL_SHUT_PEER) {
			sl_tls_peer_ended(s, t);
		} else if (t != NULL) {
			if (ev->a == SHUT_RD || ev->a == SHUT_RDWR)
				t->state |= SL_T_SHUT_RD;
			if (ev->a == SHUT_WR || ev->a == SHUT_RDWR)
				t->state |= SL_T_SHUT_WR;
		}
		break;
	case SL_EV_CONNECT:
		if ((t = socket_at(s, ev->fd)) != NULL) {
			if (t->role == SL_ROLE_NONE || t->role == SL_ROLE_BOUND)
				t->role = SL_ROLE_CLIENT;
			rc = set_addr(s, &t->peer, ev);
			/* A connect still in progress (trio, twisted, uvloop, Ruby) already has its local
			 * address: the kernel picks it before sending the SYN. Asked now, while the
			 * descriptor is the program's, it is known when the socket is reported after its
			 * close. A blocking connect's is asked only when reported (the churn budget). */
			if (ev->a == 1 && (t->domain == AF_INET || t->domain == AF_INET6))
				sl_state_want_addr(s, t, ev->fd);
		}
		break;
	case SL_EV_BIND:
		if ((t = socket_at(s, ev->fd)) != NULL) {
			if (t->role == SL_ROLE_NONE)
				t->role = SL_ROLE_BOUND;
			rc = set_addr(s, &t->local, ev);
		}
		break;
	case SL_EV_LISTEN:
		if ((t = socket_at(s, ev->fd)) != NULL)
			t->role = SL_ROLE_LISTENER;
		break;
	case SL_EV_ADDR:
		if ((t = socket_at(s, ev->fd)) != NULL)
			rc = set_addr(s, ev->a ? &t->peer : &t->local, ev);
		break;
	case SL_EV_EPOLL_CREATE: {
		close_fd(s, ev->fd, 1);
		struct sl_epoll *ep = new_epoll(s, ev->fd, ++s->next_epoll_id);
		if (!ep) {
			rc = -1;
		} else if (ev->a == 1) {
			ep->tracked = 1;
			ep->stack = ev->stack;
			ep->pystack = ev->pystack;
			s->transports_seen++;
		}
		break;
	}
	case SL_EV_FD_OPEN:
		rc = fd_open_event(s, ev);
		break;
	case SL_EV_EPOLL_CTL:
		rc = epoll_ctl_event(s, ev);
		break;
	case SL_EV_EXIT_PHASE:
		if (s->exit_phase == SL_EXIT_PHASE_NONE)
			s->exit_phase = (uint8_t)ev->a;
		break;
	case SL_EV_EXIT:
		exit_event(s, ev);
		break;
	case SL_EV_EXEC:
		s->execed = ev->a == 0;
		break;
	case SL_EV_FORKED:
		forked_event(s, ev);
		break;
	case SL_EV_INHERIT:
		close_fd(s, ev->fd, 1);
		t = new_transport(s, ev, ev->fd, (int)ev->a, socket_type(ev->b), (enum sl_role)ev->fd2);
		if (!t) {
			rc = -1;
			break;
		}
		/* An inherited transport keeps the parent's id and is not one this process made. */
		s->next_transport_id--;
		s->transports_seen--;
		t->id = ev->obj;
		t->state |= SL_T_INHERITED;
		break;
	case SL_EV_SEGMENT:
		segment_event(s, ev);
		break;
	case SL_EV_RESTORE:
		rc = restore_transport(s, ev);
		break;
	case SL_EV_RESTORE_PEER:
		if (s->restoring)
			rc = set_addr(s, &s->restoring->peer, ev);
		break;
	case SL_EV_RESTORE_FINDING:
		rc = restore_finding(s, ev);
		break;
	case SL_EV_RESTORE_REG:
		rc = restore_reg(s, ev);
		break;
	case SL_EV_RESTORE_TLS:
		rc = sl_tls_restore(s, ev);
		break;
	case SL_EV_INHERIT_EPOLL:
	case SL_EV_RESTORE_EPOLL: {
		close_fd(s, ev->fd, 1);
		struct sl_epoll *ep = new_epoll(s, ev->fd, ev->obj);
		if (!ep) {
			rc = -1;
		} else {
			ep->inherited = ev->type == SL_EV_INHERIT_EPOLL || (ev->a & 1);
			ep->tracked = ev->type == SL_EV_RESTORE_EPOLL && (ev->a & 2);
			ep->stack = ev->stack;
			ep->pystack = ev->pystack;
		}
		break;
	}
	case SL_EV_CHECKPOINT:
		break; /* a fact for the log's reader (sl_state_checkpoint there), not a change */
	default:
		if (ev->type >= SL_EV_SSL_NEW && ev->type < SL_EV_TYPE_MAX)
			rc = sl_tls_apply(s, ev);
		break;
	}
	if (rc < 0 || s->arena->failed)
		s->out_of_memory = 1;
	return rc < 0 ? -1 : 0;
}

static void list_if_flagged(void *vctx, int fd, struct sl_obj *o)
{
	struct sl_state *s = vctx;
	(void)fd;
	struct sl_transport *t = (struct sl_transport *)o;
	if (o->kind == SL_OBJ_SOCKET && t->findings && judged(s, t))
		list_transport(s, t);
}

void sl_state_list_open_findings(struct sl_state *s)
{
	fd_walk(s, list_if_flagged, s);
}

int sl_state_take_want_addr(struct sl_state *s, int *fds, int max)
{
	int n = s->n_want_addr < max ? s->n_want_addr : max;
	memcpy(fds, s->want_addr, (size_t)n * sizeof(int));
	s->n_want_addr = 0;
	return n;
}

/* ---- walking the state ---- */

static int first_fd_of(const struct sl_state *s, int fd, const struct sl_obj *o)
{
	for (int lower = 0; lower < fd; lower++)
		if (lookup(s, lower) == o)
			return lower;
	return fd;
}

struct open_ctx {
	struct sl_state *s;
	sl_open_fn fn;
	void *ctx;
};

static void open_obj(void *vctx, int fd, struct sl_obj *o)
{
	struct open_ctx *oc = vctx;
	if (o->kind != SL_OBJ_SOCKET)
		return;
	struct sl_transport *t = (struct sl_transport *)o;
	if (!judged(oc->s, t))
		return;
	/* Visit a transport through its lowest descriptor only. Several descriptors to one
	 * socket are rare, so the look back costs nothing in the common case. */
	if (t->nfds > 1 && first_fd_of(oc->s, fd, o) != fd)
		return;
	oc->fn(oc->ctx, oc->s, t, fd);
}

void sl_state_for_each_open(struct sl_state *s, sl_open_fn fn, void *ctx)
{
	struct open_ctx oc = {s, fn, ctx};
	fd_walk(s, open_obj, &oc);
}

static void snapshot_obj(void *vctx, int fd, struct sl_obj *o);

struct snap_ctx {
	const struct sl_state *s;
	sl_emit_fn emit;
	void *ctx;
	int pass; /* 0: sockets, 1: epoll sets, 2: registrations */
};

static void snapshot_obj(void *vctx, int fd, struct sl_obj *o)
{
	struct snap_ctx *sc = vctx;
	struct sl_event ev = {0};
	int nfds = o->kind == SL_OBJ_SOCKET ? (int)((struct sl_transport *)o)->nfds
					    : (int)((struct sl_epoll *)o)->nfds;
	int first = nfds > 1 ? first_fd_of(sc->s, fd, o) : fd;
	if (first != fd) {
		if ((sc->pass == 0 && o->kind == SL_OBJ_SOCKET) || (sc->pass == 1 && o->kind == SL_OBJ_EPOLL)) {
			ev.type = SL_EV_DUP;
			ev.fd = first;
			ev.fd2 = fd;
			sc->emit(sc->ctx, &ev);
		}
		return;
	}
	if (sc->pass == 0 && o->kind == SL_OBJ_SOCKET) {
		const struct sl_transport *t = (const struct sl_transport *)o;
		ev.type = SL_EV_INHERIT;
		ev.fd = fd;
		ev.fd2 = t->role;
		ev.a = t->domain;
		ev.b = t->type;
		ev.obj = t->id;
		ev.stack = t->stack;
		ev.pystack = t->pystack;
		sc->emit(sc->ctx, &ev);
		sl_tls_snapshot_transport(sc->s, t, fd, sc->emit, sc->ctx);
	} else if (sc->pass == 1 && o->kind == SL_OBJ_EPOLL) {
		ev.type = SL_EV_INHERIT_EPOLL;
		ev.fd = fd;
		ev.obj = ((const struct sl_epoll *)o)->id;
		sc->emit(sc->ctx, &ev);
	} else if (sc->pass == 2 && o->kind == SL_OBJ_EPOLL) {
		for (const struct sl_reg *r = ((const struct sl_epoll *)o)->regs; r; r = r->ep_next) {
			if (r->fd_closed)
				continue; /* the child can neither DEL nor see this number as the socket */
			ev.type = SL_EV_EPOLL_CTL;
			ev.fd = fd;
			ev.fd2 = r->fd;
			ev.a = 1;
			ev.b = r->events;
			ev.stack = r->stack;
			ev.pystack = r->pystack;
			sc->emit(sc->ctx, &ev);
		}
	}
}

void sl_state_snapshot(const struct sl_state *s, sl_emit_fn emit, void *ctx)
{
	struct snap_ctx sc = {s, emit, ctx, 0};
	for (sc.pass = 0; sc.pass < 3; sc.pass++)
		fd_walk(s, snapshot_obj, &sc);
	sl_tls_snapshot_rest(s, emit, ctx);
}

/* ---- segments: the whole state, written down ---- */

/* The sockaddr an sl_addr was made from (sl_addr_set gives back the same sl_addr). */
static void addr_event(const struct sl_addr *a, struct sockaddr_storage *ss, struct sl_event *ev)
{
	memset(ss, 0, sizeof(*ss));
	ev->addr = NULL;
	ev->addrlen = 0;
	if (!a->family)
		return;
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->u.ip, 4);
		ev->addrlen = sizeof(*in);
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->u.ip, 16);
		ev->addrlen = sizeof(*in6);
	} else if (a->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		size_t n = a->len < sizeof(un->sun_path) ? a->len : sizeof(un->sun_path);
		un->sun_family = AF_UNIX;
		if (n)
			memcpy(un->sun_path, a->u.path, n);
		ev->addrlen = (uint16_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		ss->ss_family = a->family;
		ev->addrlen = sizeof(sa_family_t);
	}
	ev->addr = ss;
}

static void emit_transport(const struct sl_transport *t, int fd, sl_emit_fn emit, void *ctx)
{
	struct sockaddr_storage ss;
	struct sl_event ev = {0};
	ev.type = SL_EV_RESTORE;
	ev.fd = fd;
	ev.fd2 = (int32_t)((uint32_t)t->role | (uint32_t)t->state << 8 | (uint32_t)t->flags << 16);
	ev.a = (int64_t)((uint64_t)t->domain | (uint64_t)t->type << 16 | (uint64_t)(uint32_t)t->fd << 32);
	ev.obj = t->id;
	ev.stack = t->stack;
	ev.pystack = t->pystack;
	addr_event(&t->local, &ss, &ev);
	emit(ctx, &ev);
	if (t->peer.family) {
		struct sl_event pe = {0};
		pe.type = SL_EV_RESTORE_PEER;
		pe.fd = fd;
		addr_event(&t->peer, &ss, &pe);
		emit(ctx, &pe);
	}
	for (const struct sl_finding *f = t->findings; f; f = f->next) {
		struct sl_event fe = {0};
		fe.type = SL_EV_RESTORE_FINDING;
		fe.fd = f->fd;
		fe.fd2 = f->epoll_fd;
		fe.a = (int64_t)((uint64_t)f->flag | (uint64_t)f->when << 8 | (uint64_t)f->exit_phase << 16 |
				 (uint64_t)f->events << 32);
		fe.obj = f->epoll_id;
		fe.stack = f->stack;
		fe.pystack = f->pystack;
		emit(ctx, &fe);
	}
	if (t->tls)
		sl_tls_segment_emit(t->tls, 1, emit, ctx);
}

static void segment_obj(void *vctx, int fd, struct sl_obj *o)
{
	struct snap_ctx *sc = vctx;
	int nfds = o->kind == SL_OBJ_SOCKET ? (int)((struct sl_transport *)o)->nfds
					    : (int)((struct sl_epoll *)o)->nfds;
	int first = nfds > 1 ? first_fd_of(sc->s, fd, o) : fd;
	int mine = (sc->pass == 0 && o->kind == SL_OBJ_SOCKET) || (sc->pass == 1 && o->kind == SL_OBJ_EPOLL);
	struct sl_event ev = {0};
	if (mine && first != fd) {
		ev.type = SL_EV_DUP;
		ev.fd = first;
		ev.fd2 = fd;
		sc->emit(sc->ctx, &ev);
	} else if (mine && o->kind == SL_OBJ_SOCKET) {
		emit_transport((const struct sl_transport *)o, fd, sc->emit, sc->ctx);
	} else if (mine) {
		ev.type = SL_EV_RESTORE_EPOLL;
		ev.fd = fd;
		const struct sl_epoll *ep = (const struct sl_epoll *)o;
		ev.obj = ep->id;
		ev.a = ep->inherited | ep->tracked << 1;
		if (ep->tracked) {
			ev.stack = ep->stack;
			ev.pystack = ep->pystack;
		}
		sc->emit(sc->ctx, &ev);
	} else if (sc->pass == 2 && o->kind == SL_OBJ_EPOLL && first == fd) {
		/* From the oldest: each is put first again, so the list comes back in its order. */
		const struct sl_reg *r = ((const struct sl_epoll *)o)->regs;
		while (r && r->ep_next)
			r = r->ep_next;
		for (; r; r = r->ep_prev) {
			int tfd = r->fd_closed || lookup(sc->s, r->fd) != &r->t->obj
					  ? first_fd_of(sc->s, SL_FDTAB_CHUNK * sc->s->fdtab_chunks, &r->t->obj) : r->fd;
			ev.type = SL_EV_RESTORE_REG;
			ev.fd = fd;
			ev.fd2 = r->fd;
			ev.a = (int64_t)((uint64_t)(uint32_t)tfd | (uint64_t)r->fd_closed << 32);
			ev.b = r->events;
			ev.stack = r->stack;
			ev.pystack = r->pystack;
			sc->emit(sc->ctx, &ev);
		}
	}
}

/* An SSL object alive whose transport was not written with the open and listed ones: none, or
 * one kept only by the SSL object (closed, or the object's own report entry). */
static void segment_tls(void *vctx, const struct sl_tls *x)
{
	struct snap_ctx *sc = vctx;
	const struct sl_transport *t = x->t;
	if (t && (t->state & (SL_T_OPEN | SL_T_LISTED)))
		return;
	if (t && t->tls == x) {
		emit_transport(t, -1, sc->emit, sc->ctx);
		return;
	}
	sl_tls_segment_emit(x, 0, sc->emit, sc->ctx);
}

int sl_state_can_segment(const struct sl_state *s)
{
	return !s->exited;
}

void sl_state_segment_snapshot(const struct sl_state *s, uint32_t segment, sl_emit_fn emit, void *ctx)
{
	for (const struct sl_transport *t = s->done_head; t; t = t->next)
		emit_transport(t, -1, emit, ctx);
	struct snap_ctx sc = {s, emit, ctx, 0};
	for (sc.pass = 0; sc.pass < 3; sc.pass++)
		fd_walk(s, segment_obj, &sc);
	sl_tls_for_each_session(s, segment_tls, &sc);
	struct sl_event ev = {0};
	ev.type = SL_EV_SEGMENT;
	ev.fd = (int32_t)segment;
	ev.fd2 = (int32_t)((uint32_t)s->exit_phase | (uint32_t)(s->forked & 1) << 8 |
			   (uint32_t)(s->out_of_memory ? 1 : 0) << 9);
	ev.a = (int64_t)s->next_transport_id;
	ev.b = (int64_t)s->next_epoll_id;
	ev.obj = s->transports_seen;
	emit(ctx, &ev);
}

static int by_id(const void *a, const void *b)
{
	const struct sl_transport *x = *(const struct sl_transport *const *)a;
	const struct sl_transport *y = *(const struct sl_transport *const *)b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int sl_state_for_each_flagged(struct sl_state *s, sl_transport_fn fn, void *ctx)
{
	size_t n = 0;
	for (struct sl_transport *t = s->done_head; t; t = t->next)
		n++;
	if (n == 0)
		return 0;
	struct sl_transport **v = sl_arena_alloc(s->arena, n * sizeof(*v));
	if (!v)
		return -1;
	size_t i = 0;
	for (struct sl_transport *t = s->done_head; t; t = t->next)
		v[i++] = t;
	qsort(v, i, sizeof(*v), by_id);
	for (size_t k = 0; k < i; k++)
		fn(ctx, v[k]);
	sl_arena_free(s->arena, v, n * sizeof(*v));
	return 0;
}

/* ---- blind spots ---- */

unsigned sl_blind_notes(const struct sl_state *s, const char **out, unsigned max, char *buf, unsigned size)
{
	unsigned n = 0;
	if ((s->blind & SL_BLIND_CLONE_UNSAFE) && n < max)
		out[n++] = "this process was made by clone() while another thread was inside sockleak: the "
			   "sockets it inherited are not tracked, only those it made";
	if ((s->blind & SL_BLIND_IO_URING) && n < max)
		out[n++] = "this process set up an io_uring: sockets it opens or closes through io_uring are not "
			   "visible to sockleak";
	if ((s->blind & SL_BLIND_GO) && n < max)
		out[n++] = "this is a Go program: it makes its own system calls, so its sockets are not visible "
			   "to sockleak";
	if (s->unseen_closes && s->unseen_fd_closes && n < max) {
		/* Issue 15: sockets and other descriptors both (buf holds one note). */
		snprintf(buf, size, "%llu socket%s and %llu other descriptor%s were closed where sockleak could not "
			 "see it (a raw system call, io_uring, inside the C library): not reported as never-closed",
			 (unsigned long long)s->unseen_closes, s->unseen_closes == 1 ? "" : "s",
			 (unsigned long long)s->unseen_fd_closes, s->unseen_fd_closes == 1 ? "" : "s");
		out[n++] = buf;
	} else if (s->unseen_closes && n < max) {
		snprintf(buf, size, "%llu socket%s closed where sockleak could not see it (a raw system call or "
			 "io_uring): not reported as never-closed", (unsigned long long)s->unseen_closes,
			 s->unseen_closes == 1 ? " was" : "s were");
		out[n++] = buf;
	} else if (s->unseen_fd_closes && n < max) {
		/* Issue 15: files, pipes and the rest, closed inside the C library or by a raw call. */
		snprintf(buf, size, "%llu descriptor%s (files, pipes, ...) %s closed where sockleak could not see it "
			 "(inside the C library, or a raw system call): not reported as never-closed",
			 (unsigned long long)s->unseen_fd_closes, s->unseen_fd_closes == 1 ? "" : "s",
			 s->unseen_fd_closes == 1 ? "was" : "were");
		out[n++] = buf;
	}
	return n;
}

/* ---- checkpoints (issue 14) ---- */

struct checkpoint_ctx {
	uint64_t mark;
	struct sl_transport *v;
	long n, cap;
	int failed;
};

static struct sl_finding *checkpoint_finding(struct sl_transport *c, enum sl_flag flag, int fd)
{
	struct sl_finding *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->flag = (uint8_t)flag;
	f->when = SL_WHEN_CHECKPOINT;
	f->fd = fd;
	f->epoll_fd = -1;
	struct sl_finding **tail = &c->findings;
	while (*tail)
		tail = &(*tail)->next;
	*tail = f;
	c->flags |= (uint16_t)(1u << flag);
	return f;
}

static void checkpoint_obj(void *vctx, struct sl_state *s, const struct sl_transport *t, int fd)
{
	(void)s;
	struct checkpoint_ctx *x = vctx;
	if (x->failed || t->id < x->mark || (t->state & SL_T_INHERITED))
		return;
	if (x->n == x->cap) {
		long ncap = x->cap ? x->cap * 2 : 16;
		struct sl_transport *nv = realloc(x->v, (size_t)ncap * sizeof(*nv));
		if (!nv) {
			x->failed = 1;
			return;
		}
		x->v = nv;
		x->cap = ncap;
	}
	struct sl_transport *c = &x->v[x->n++];
	*c = *t;
	c->fd = fd;
	c->findings = NULL;
	c->flags = 0;
	c->next = NULL;
	if (!checkpoint_finding(c, SL_FLAG_NEVER_CLOSED, fd)) {
		x->failed = 1;
		return;
	}
	for (const struct sl_reg *r = t->regs; r; r = r->t_next) {
		if (c->flags & (1u << SL_FLAG_READER_NOT_REMOVED))
			break; /* one finding per flag, as at exit */
		struct sl_finding *f = checkpoint_finding(c, SL_FLAG_READER_NOT_REMOVED, r->fd);
		if (!f) {
			x->failed = 1;
			return;
		}
		f->epoll_fd = r->ep->fd;
		f->epoll_id = r->ep->id;
		f->stack = r->stack;
		f->pystack = r->pystack;
		f->events = r->events;
	}
}

static int by_id_value(const void *a, const void *b)
{
	const struct sl_transport *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

long sl_state_checkpoint(struct sl_state *s, uint64_t mark, struct sl_transport **out)
{
	struct checkpoint_ctx x = {mark, NULL, 0, 0, 0};
	sl_state_for_each_open(s, checkpoint_obj, &x);
	if (x.failed) {
		sl_state_checkpoint_free(x.v, x.n);
		*out = NULL;
		return -1;
	}
	if (x.n > 1)
		qsort(x.v, (size_t)x.n, sizeof(*x.v), by_id_value);
	*out = x.v;
	return x.n;
}

void sl_state_checkpoint_free(struct sl_transport *v, long n)
{
	for (long i = 0; i < n; i++)
		for (struct sl_finding *f = v[i].findings, *next; f; f = next) {
			next = f->next;
			free(f);
		}
	free(v);
}

/* ---- names ---- */

const char *sl_role_name(int role)
{
	static const char *const names[SL_ROLE_COUNT] = {"socket", "client", "accepted", "listener",
							 "bound", "pair", "received"};
	return role >= 0 && role < SL_ROLE_COUNT ? names[role] : "socket";
}

const char *sl_family_name(int domain)
{
	switch (domain) {
	case AF_INET: return "inet";
	case AF_INET6: return "inet6";
	case AF_UNIX: return "unix";
	case AF_NETLINK: return "netlink";
	case AF_PACKET: return "packet";
	case SL_DOMAIN_FD: return "descriptor";
	case 0: return "none";
	default: return "other";
	}
}

const char *sl_type_name(int type)
{
	switch (type) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "dgram";
	case SOCK_SEQPACKET: return "seqpacket";
	case SOCK_RAW: return "raw";
	case 0: return "none";
	default: return "other";
	}
}

const char *sl_fd_kind_name(int kind)
{
	static const char *const names[SL_FD_KIND_COUNT] = {"descriptor", "file", "pipe", "fifo", "eventfd",
							   "timerfd", "signalfd", "memfd", "inotify",
							   "fanotify", "pidfd", "epoll"};
	return kind > 0 && kind < SL_FD_KIND_COUNT ? names[kind] : names[0];
}

const char *sl_kind_name(const struct sl_transport *t, char *buf, unsigned size)
{
	if (t->domain == SL_DOMAIN_FD) {
		snprintf(buf, size, "%s", sl_fd_kind_name(t->type));
		return buf;
	}
	if (t->domain == AF_INET || t->domain == AF_INET6) {
		const char *proto = t->type == SOCK_STREAM ? "tcp" : t->type == SOCK_DGRAM ? "udp" : "ip";
		snprintf(buf, size, "%s%c", proto, t->domain == AF_INET ? '4' : '6');
	} else if (t->domain == AF_UNIX) {
		snprintf(buf, size, "unix-%s", sl_type_name(t->type));
	} else if (t->domain == 0) {
		snprintf(buf, size, "tls");
	} else {
		snprintf(buf, size, "%s", sl_family_name(t->domain));
	}
	return buf;
}
