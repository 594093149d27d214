/* The transport table and the lifecycle rules: what a close, a dup2, an EPOLL_CTL_DEL or an exit
 * means, and which findings each raises. Every verdict sockleak gives is decided here, once: the
 * live preload applies events as they happen, and the analyzer replays an event log through the
 * same function. */
#ifndef SOCKLEAK_LIFECYCLE_H
#define SOCKLEAK_LIFECYCLE_H

#include <stdint.h>

#include "addr.h"
#include "arena.h"
#include "event.h"
#include "flags.h"
#include "stacks.h"

enum sl_obj_kind { SL_OBJ_SOCKET = 1, SL_OBJ_EPOLL = 2 };

enum sl_role {
	SL_ROLE_NONE = 0,   /* created, not yet connected, bound or listening */
	SL_ROLE_CLIENT,     /* connect() */
	SL_ROLE_ACCEPTED,   /* the server side of an accepted connection */
	SL_ROLE_LISTENER,   /* listen() */
	SL_ROLE_BOUND,      /* bind() without listen() or connect(), e.g. a UDP server */
	SL_ROLE_PAIR,       /* one end of a socketpair() */
	SL_ROLE_RECEIVED,   /* received from another process through SCM_RIGHTS */
	SL_ROLE_COUNT
};

/* What every object in the descriptor table starts with. */
struct sl_obj {
	uint8_t kind;
};

/* One finding on one transport, with the facts its explanation needs. */
struct sl_finding {
	struct sl_finding *next;
	uint8_t flag;       /* enum sl_flag */
	uint8_t when;       /* enum sl_finding_when */
	uint8_t exit_phase; /* for closed-at-exit: which cleanup closed it */
	int32_t fd;         /* the descriptor concerned */
	int32_t epoll_fd;   /* reader-not-removed, closed-while-registered: the epoll set's descriptor */
	uint32_t stack;     /* registration stack (epoll findings) or SSL creation stack (TLS) */
	uint32_t pystack;
	uint32_t events;    /* epoll findings: the registration's event mask */
	uint64_t epoll_id;
};

enum sl_finding_when {
	SL_WHEN_AT_EXIT = 0,       /* found when the process exited */
	SL_WHEN_EPOLL_CLOSED = 1,  /* found when the epoll set was closed */
	SL_WHEN_CLOSE = 2,         /* found when a descriptor was closed */
	SL_WHEN_SSL_FREE = 3,      /* found when the SSL object was freed */
	SL_WHEN_CHECKPOINT = 4,    /* found by sockleak_check: unfinished when the program asked */
};

struct sl_tls; /* lifecycle_tls.c */

enum sl_transport_state {
	SL_T_OPEN = 1,       /* at least one descriptor refers to it */
	SL_T_INHERITED = 2,  /* came from the parent process through fork */
	SL_T_SHUT_RD = 4,
	SL_T_SHUT_WR = 8,
	SL_T_UNSEEN_CLOSE = 16, /* its descriptor was closed behind sockleak's back */
	SL_T_LISTED = 32,    /* on the list of finished transports with findings */
	SL_T_DUPED = 64,     /* it has had several descriptors: fd may not be the open one */
};

struct sl_transport {
	struct sl_obj obj;
	uint8_t role;
	uint8_t state;       /* enum sl_transport_state bits */
	uint8_t pad_;
	uint16_t flags;      /* bit (1 << enum sl_flag) per finding raised */
	uint16_t domain;     /* AF_INET, AF_INET6, AF_UNIX, ... */
	uint16_t type;       /* SOCK_STREAM, SOCK_DGRAM, ... */
	uint16_t pad2_;
	int32_t fd;          /* the descriptor it was made or last closed with */
	uint32_t nfds;       /* open descriptors referring to it */
	uint32_t stack;
	uint32_t pystack;
	/* SL_DOMAIN_FD: the open file's identity (ino 0: unknown), checked at exit. Linux's device
	 * numbers fit 32 bits (st_dev is the kernel's encoded dev_t), which keeps the structure in
	 * the arena's 128-byte class: memory per live transport (issue 12). */
	uint32_t dev;
	uint64_t id;         /* 1, 2, ... in order of creation in this process */
	uint64_t ino;
	struct sl_addr local;
	struct sl_addr peer;
	struct sl_reg *regs; /* its epoll registrations */
	struct sl_finding *findings;
	struct sl_tls *tls;  /* the TLS session bound to it, if any */
	struct sl_transport *next; /* on the list of finished transports with findings */
};

struct sl_epoll {
	struct sl_obj obj;
	uint8_t inherited;
	uint8_t tracked;     /* track=all: reported (kind epoll) when left open at exit */
	uint8_t reported;
	uint32_t nfds;
	uint32_t stack;      /* where it was made, with tracked */
	uint32_t pystack;
	int32_t fd;
	uint64_t id;
	struct sl_reg *regs;
};

/* One registration, as the kernel keys it: (epoll set, descriptor number, open file). */
struct sl_reg {
	struct sl_reg *ep_prev, *ep_next; /* in the epoll set's list */
	struct sl_reg *t_next;            /* in the transport's list */
	struct sl_epoll *ep;
	struct sl_transport *t;
	int32_t fd;
	uint32_t events;
	uint32_t stack;
	uint32_t pystack;
	uint8_t fd_closed; /* the number was closed while the file stayed open */
};

#define SL_FDTAB_CHUNK_BITS 12
#define SL_FDTAB_CHUNK (1u << SL_FDTAB_CHUNK_BITS)
#define SL_FDTAB_MAX_CHUNKS (1u << 14) /* descriptors up to 64M are tracked */

/* A close under way (SL_EV_CLOSE_BEGIN): the descriptors it took out of the table, held aside
 * until its SL_EV_CLOSE_END (lifecycle.c, "closes under way"). The preload does not take the
 * lock a second time for the end of a close: the closing thread fills in end_outcome and
 * end_now and hands the record to the next thread that takes the lock (end_next), which applies
 * the end as an SL_EV_CLOSE_END event (preload/runtime.c, sl_close_end). */
struct sl_closing_fd {
	int32_t fd;
	struct sl_obj *obj;
};

struct sl_closing {
	struct sl_closing *next;     /* in sl_state.closing */
	struct sl_closing *end_next; /* the preload's list of ended closes not yet applied */
	uint64_t key;
	int64_t end_now;
	int32_t end_outcome;
	uint32_t n;
	struct sl_closing_fd e[];
};

struct sl_state_config {
	int report_inherited; /* flag transports inherited through fork too */
};

struct sl_state {
	/* The fields a connection's events write (a socket made, a close begun and ended), together
	 * in the first 64 bytes: the preload aligns the state on a cache line, so that the threads
	 * whose events take turns move this one line between their cores, and the fields every event
	 * only reads stay on lines both cores keep (issue 12). */
	uint64_t next_transport_id;
	uint64_t transports_seen;  /* created in this process (not inherited) */
	uint64_t live_transports;
	struct sl_closing *closing;                 /* closes under way (SL_EV_CLOSE_BEGIN) */
	uint64_t written_pad_[4];
	struct sl_arena *arena;
	struct sl_stack_store *stacks;
	struct sl_state_config cfg;
	/* The descriptor table: chunks are allocated on first use and never freed, so the preload
	 * can peek at an entry without the lock (sl_state_peek). */
	struct sl_obj **fdtab[SL_FDTAB_MAX_CHUNKS];
	unsigned fdtab_chunks; /* chunks below this index may be allocated: walks stop there */
	uint64_t next_epoll_id;
	struct sl_transport *done_head, *done_tail; /* finished transports with findings */
	int want_addr[16];                          /* see sl_state_take_want_addr */
	int n_want_addr;
	struct sl_tls_table *tls;                   /* lifecycle_tls.c */
	uint64_t unseen_closes;  /* sockets found closed at exit where sockleak could not see it */
	uint64_t unseen_fd_closes; /* the same, of other descriptors (issue 15) */
	uint32_t blind;          /* enum sl_blind bits (SL_EV_BLIND) */
	uint8_t exit_phase;   /* enum sl_exit_phase: the first cleanup that began */
	uint8_t exited;       /* the process exited (or died): the state is final */
	uint8_t exit_how;     /* enum sl_exit_how */
	uint8_t execed;       /* the image was replaced by exec */
	uint8_t forked;       /* this process is a forked child */
	int exit_status;
	int out_of_memory;    /* an event could not be applied: the state is incomplete */
	struct sl_transport *restoring; /* a segment's snapshot: the transport SL_EV_RESTORE made last */
	struct sl_tls *restoring_tls;   /* and the SSL object SL_EV_RESTORE_TLS made last */
};

/* Whether t's local address, and its peer's (a listener or a bound socket has none), are known. */
int sl_transport_addrs_known(const struct sl_transport *t);

/* Takes back a finding raised on t, when a fact learned later shows it wrong (OpenSSL's state,
 * read after the session's end, tells a fatal alert: lifecycle_tls.c). A transport left with no
 * finding is not reported. */
void sl_state_withdraw(struct sl_state *s, struct sl_transport *t, enum sl_flag flag);

/* The record the last SL_EV_CLOSE_BEGIN applied set aside for key, or NULL when it set nothing
 * aside (no tracked descriptor in its range): then its end changes nothing. */
/* What SL_EV_CLOSE_END does for the close under way c, without the event and its lookup by
 * key: the preload's path for the end of a close when no event log is written. */
void sl_state_close_end(struct sl_state *s, struct sl_closing *c, int64_t outcome, int64_t now);

/* What SL_EV_EPOLL_CTL does (fd = epfd, fd2 = fd, a = op, b = events, with stack and no Python
 * traceback), without the event: the preload's path for epoll_ctl when no event log is written. */
void sl_state_epoll_ctl(struct sl_state *s, int epfd, int op, int fd, uint32_t events, uint32_t stack);

static inline struct sl_closing *sl_state_last_closing(const struct sl_state *s, uint64_t key)
{
	return s->closing && s->closing->key == key ? s->closing : NULL;
}

/* Prepares an empty state. The arena and stack store outlive it. */
void sl_state_init(struct sl_state *s, struct sl_arena *arena, struct sl_stack_store *stacks,
		   const struct sl_state_config *cfg);
/* The same for a state whose bytes are all zero already (static storage, a fresh mapping): the
 * descriptor table's 128 KiB are left untouched, so that a process that opens no socket never
 * writes (and the kernel never hands it) those 32 pages. */
void sl_state_init_zeroed(struct sl_state *s, struct sl_arena *arena, struct sl_stack_store *stacks,
			  const struct sl_state_config *cfg);

/* Applies one event. Returns 0, or -1 when memory ran out (the state is then incomplete). */
int sl_state_apply(struct sl_state *s, const struct sl_event *ev);

/* A descriptor's entry in its chunk of the table. A thread's new socket takes the lowest free
 * number, so the numbers threads hold at once are neighbours: side by side, eight entries to a
 * cache line, every socket and close of one thread wrote the line another thread's events were
 * reading and writing too (issue 12). Number i's entry is at 9 i mod 4096 instead: multiplying
 * by an odd number permutes the entries of a chunk, and any 455 consecutive numbers are on as
 * many different lines (one instruction more than i mod 4096, where a descriptor is looked up
 * a dozen times per connection). */
static inline unsigned sl_fdtab_slot(int fd)
{
	return ((unsigned)fd * 9u) & (SL_FDTAB_CHUNK - 1);
}

/* Whether a descriptor refers to a tracked object. Safe without the lock: a racing update gives
 * a stale answer, never a crash. */
static inline int sl_state_peek(const struct sl_state *s, int fd)
{
	if (fd < 0 || (unsigned)fd >= SL_FDTAB_CHUNK * SL_FDTAB_MAX_CHUNKS)
		return 0;
	struct sl_obj **chunk = __atomic_load_n(&s->fdtab[(unsigned)fd >> SL_FDTAB_CHUNK_BITS], __ATOMIC_ACQUIRE);
	return chunk && __atomic_load_n(&chunk[sl_fdtab_slot(fd)], __ATOMIC_RELAXED) != NULL;
}

struct sl_obj *sl_state_lookup(const struct sl_state *s, int fd);

/* Descriptors of transports that just got a finding, are still open and whose local or peer
 * address is not known. The preload asks the kernel (getsockname) about these: a system call is
 * worth it only for the few transports that will be reported. Fills fds, returns how many, and
 * empties the list. */
int sl_state_take_want_addr(struct sl_state *s, int *fds, int max);

/* Calls fn for every open transport not inherited (or all, with report_inherited), with one of
 * its descriptors. fn may apply SL_EV_ADDR events, nothing else. */
typedef void (*sl_open_fn)(void *ctx, struct sl_state *s, const struct sl_transport *t, int fd);
void sl_state_for_each_open(struct sl_state *s, sl_open_fn fn, void *ctx);

/* For a process image that did not exit (replaced by exec, still running, or its log cut
 * short): puts the open transports that already have findings (a reader left registered when its
 * epoll set was closed, say) on the list the report reads, as an exit would have. */
void sl_state_list_open_findings(struct sl_state *s);

/* Emits the events that rebuild this state's open transports and epoll sets in an empty state
 * (marked inherited): the start of a forked child's event log. */
typedef void (*sl_emit_fn)(void *ctx, const struct sl_event *ev);
void sl_state_snapshot(const struct sl_state *s, sl_emit_fn emit, void *ctx);

/* Whether sl_state_segment_snapshot can write this state down: not after the exit. */
int sl_state_can_segment(const struct sl_state *s);
/* Emits the events that rebuild this whole state, exactly, in an empty state: the start of a
 * later segment of a log. The last one is SL_EV_SEGMENT (segment number `segment`). */
void sl_state_segment_snapshot(const struct sl_state *s, uint32_t segment, sl_emit_fn emit, void *ctx);

/* Calls fn for every transport with at least one finding, in order of id. Open transports are
 * given the lowest descriptor that refers to them. Allocates a temporary array from the arena;
 * returns -1 when that fails. */
typedef void (*sl_transport_fn)(void *ctx, const struct sl_transport *t);
int sl_state_for_each_flagged(struct sl_state *s, sl_transport_fn fn, void *ctx);

/* The notes a report carries for what sockleak could not see in this process (enum sl_blind,
 * closes found at exit). buf (size bytes) holds a note with a count. Returns how many. */
unsigned sl_blind_notes(const struct sl_state *s, const char **out, unsigned max, char *buf, unsigned size);

/* Issue 14, checkpoints. A mark is the id the next transport will get: every transport made
 * after it has an id >= the mark (never 0). */
static inline uint64_t sl_state_mark(const struct sl_state *s)
{
	return s->next_transport_id + 1;
}

/* The transports made since a mark (not inherited) that are unfinished now: still open. Each is
 * returned as a copy carrying the findings an exit now would raise on it (never-closed, and
 * reader-not-removed for a registration still in an epoll set), with when = SL_WHEN_CHECKPOINT,
 * so that the report renders it as it renders an exit finding. The live state is not changed.
 * *out is a malloc'd array in order of id (free with sl_state_checkpoint_free, NULL when there
 * is none). Returns how many, or -1 when memory ran out. */
long sl_state_checkpoint(struct sl_state *s, uint64_t mark, struct sl_transport **out);
void sl_state_checkpoint_free(struct sl_transport *v, long n);

/* Names used in reports and JSON: "tcp", "udp", "unix", ...; "inet", "inet6", ...; roles. */
const char *sl_role_name(int role);
const char *sl_family_name(int domain);
const char *sl_type_name(int type);
/* "tcp4", "udp6", "unix-stream", "netlink", ...; "file", "pipe", ... for SL_DOMAIN_FD */
const char *sl_kind_name(const struct sl_transport *t, char *buf, unsigned size);
/* "file", "pipe", "eventfd", ... (enum sl_fd_kind) */
const char *sl_fd_kind_name(int kind);

#endif
