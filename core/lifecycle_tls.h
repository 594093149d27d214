/* The TLS half of the lifecycle rules: OpenSSL sessions, how far each was shut down, and the
 * TLS findings. Called only from lifecycle.c; the report reads struct sl_tls directly. */
#ifndef SOCKLEAK_LIFECYCLE_TLS_H
#define SOCKLEAK_LIFECYCLE_TLS_H

#include "lifecycle.h"

#define SL_TLS_MAX_RESULTS 8

/* One SSL object, as observed through the calls the program made, and through OpenSSL's own
 * state read at the moments it matters (SL_EV_SSL_SEEN). That state only ever adds facts: curl
 * resets OpenSSL's shutdown bits after its shutdown, and what was seen before stays true. */
struct sl_tls {
	struct sl_tls *hnext;      /* in the table's bucket */
	uint64_t ssl;              /* the SSL object's address */
	struct sl_transport *t;    /* the transport it is bound to, or its own report entry */
	uint32_t stack, pystack;   /* SSL_new */
	uint32_t free_stack;       /* SSL_free */
	uint32_t free_pystack;
	uint8_t bind;              /* enum sl_tls_bind, 0 when never bound */
	uint8_t role;              /* 1 client, 2 server, 0 unknown */
	uint8_t handshake;         /* the handshake completed */
	uint8_t sent;              /* close_notify was sent */
	uint8_t received;          /* the peer's close_notify was received */
	uint8_t quiet;             /* quiet shutdown: nothing is sent, by choice */
	uint8_t set_shutdown;      /* SSL_set_shutdown bits the program set */
	uint8_t two_way;           /* a two-way shutdown was begun */
	uint8_t last_zero;         /* the previous SSL_shutdown returned 0 */
	uint8_t freed;
	uint8_t ended;             /* the session's end was judged */
	uint8_t inherited;
	uint8_t peer_ended;        /* the peer ended the stream (end of file, reset) before the session */
	uint8_t n_results;         /* SSL_shutdown calls seen (results kept for the first few) */
	int8_t results[SL_TLS_MAX_RESULTS];
	/* Issue 11. OpenSSL's own state (SL_EV_SSL_SEEN) sets handshake, sent and received above
	 * too; these say what only it told, and how the session's references and end went. */
	uint8_t state_bits;        /* shutdown bits known only from OpenSSL's state (a fatal alert) */
	uint8_t one_way;           /* ended by the program with close_notify sent, the peer's not awaited */
	uint8_t end_when;          /* enum sl_finding_when: how the session ended */
	uint8_t fatal;             /* OpenSSL left the completed handshake's state: a fatal alert */
	uint8_t restarted;         /* SSL_set_connect_state or _accept_state after the handshake (curl) */
	uint16_t up_refs;          /* SSL_up_ref calls: the session ends at SSL_free number up_refs + 1 */
	uint16_t frees;            /* SSL_free calls that did not end it */
};

int sl_tls_apply(struct sl_state *s, const struct sl_event *ev);
/* t's last descriptor was closed: a session bound to it has ended. */
void sl_tls_transport_finished(struct sl_state *s, struct sl_transport *t);
/* Whether a live SSL object still refers to t (so t must outlive its close). */
int sl_tls_holds_transport(const struct sl_state *s, const struct sl_transport *t);
/* t is being freed: detach or free its session record. */
void sl_tls_transport_released(struct sl_state *s, struct sl_transport *t);
void sl_tls_process_exit(struct sl_state *s, int killed);
/* t got reader-not-removed: its event loop was closed under it. A one-way close of its session
 * that was still waiting for the peer was cut short by that teardown after all. */
void sl_tls_reader_not_removed(struct sl_state *s, struct sl_transport *t);
/* Calls fn with the address of every SSL object not yet freed (the preload reads their state
 * before the exit). fn may apply SL_EV_SSL_SEEN events, nothing else. */
typedef void (*sl_tls_live_fn)(void *ctx, uint64_t ssl);
void sl_tls_for_each_live(struct sl_state *s, sl_tls_live_fn fn, void *ctx);
/* A read on t found the peer's end of the stream (SL_SHUT_PEER). */
void sl_tls_peer_ended(struct sl_state *s, struct sl_transport *t);
void sl_tls_forked(struct sl_state *s);
/* Fork snapshot: the session bound to an open transport (after its SSL_EV_INHERIT), then the rest. */
void sl_tls_snapshot_transport(const struct sl_state *s, const struct sl_transport *t, int fd,
			       sl_emit_fn emit, void *ctx);
void sl_tls_snapshot_rest(const struct sl_state *s, sl_emit_fn emit, void *ctx);

/* Whether SSL_free of ssl only drops a reference taken with SSL_up_ref (the session goes on). */
int sl_tls_free_drops_reference(const struct sl_state *s, uint64_t ssl);
/* Segments: calls fn for every SSL object alive; emits an SSL object's facts (bound: to the
 * transport restored just before); rebuilds one (SL_EV_RESTORE_TLS). */
void sl_tls_for_each_session(const struct sl_state *s, void (*fn)(void *ctx, const struct sl_tls *x), void *ctx);
void sl_tls_segment_emit(const struct sl_tls *x, int bound, sl_emit_fn emit, void *ctx);
int sl_tls_restore(struct sl_state *s, const struct sl_event *ev);

/* Whether SSL_free of ssl will be shown in a report (its stack is worth taking). */
int sl_tls_free_wants_stack(const struct sl_state *s, uint64_t ssl);

/* Shared with lifecycle.c. */
struct sl_finding *sl_state_raise(struct sl_state *s, struct sl_transport *t, enum sl_flag flag,
				  enum sl_finding_when when);
void sl_state_release_finished(struct sl_state *s, struct sl_transport *t);
void sl_state_list_finished(struct sl_state *s, struct sl_transport *t);
struct sl_transport *sl_state_socket_at(const struct sl_state *s, int fd);
/* Asks for t's addresses (through fd, which must be open) before it is reported. */
void sl_state_want_addr(struct sl_state *s, const struct sl_transport *t, int fd);
struct sl_transport *sl_state_new_detached(struct sl_state *s, uint32_t stack, uint32_t pystack);

#endif
