/* Unit tests of core/: the lifecycle rules fed events directly (no preload, no sockets), the
 * option parser and suppressions. Built with AddressSanitizer and UBSan; run by tests/test_unit.py.
 * Each test prints one line; the exit status is the number of failures. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../../core/lifecycle.h"
#include "../../core/lifecycle_tls.h"
#include "../../core/options.h"
#include "../../core/suppress.h"

static int failures;
static const char *current;

#define CHECK(cond)                                                                                    \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			printf("FAIL %s: %s (line %d)\n", current, #cond, __LINE__);                   \
			failures++;                                                                    \
			return;                                                                        \
		}                                                                                      \
	} while (0)

/* A state with its own arena and stacks. */
struct fixture {
	struct sl_arena arena;
	struct sl_stack_store *stacks;
	struct sl_state s;
};

static void setup(struct fixture *fx, int report_inherited)
{
	sl_arena_init(&fx->arena);
	fx->stacks = sl_stacks_new(&fx->arena);
	struct sl_state_config cfg = {.report_inherited = report_inherited};
	sl_state_init(&fx->s, &fx->arena, fx->stacks, &cfg);
}

static void teardown(struct fixture *fx)
{
	sl_arena_destroy(&fx->arena);
}

static void ev(struct fixture *fx, int type, int fd, int fd2, int64_t a, int64_t b)
{
	struct sl_event e = {.type = (uint16_t)type, .fd = fd, .fd2 = fd2, .a = a, .b = b};
	sl_state_apply(&fx->s, &e);
}

static void ssl_ev(struct fixture *fx, int type, uint64_t ssl, int fd, int64_t a, int64_t b, int fd2)
{
	struct sl_event e = {.type = (uint16_t)type, .obj = ssl, .fd = fd, .fd2 = fd2, .a = a, .b = b};
	sl_state_apply(&fx->s, &e);
}

static void tcp(struct fixture *fx, int fd)
{
	ev(fx, SL_EV_SOCKET, fd, 0, AF_INET, SOCK_STREAM);
}

static void exit_now(struct fixture *fx)
{
	ev(fx, SL_EV_EXIT, 0, 0, 0, SL_EXIT_HOW_EXIT);
}

/* The flagged transports, in order, as (flags bitmask) in out[]; returns how many. */
struct collected {
	unsigned n;
	unsigned flags[64];
	uint64_t ids[64];
};

static void collect(void *ctx, const struct sl_transport *t)
{
	struct collected *c = ctx;
	if (c->n < 64) {
		c->flags[c->n] = t->flags;
		c->ids[c->n] = t->id;
	}
	c->n++;
}

static struct collected flagged(struct fixture *fx)
{
	struct collected c = {0};
	sl_state_for_each_flagged(&fx->s, collect, &c);
	return c;
}

#define F(x) (1u << SL_FLAG_##x)

static void test_closed_socket_is_forgotten(void)
{
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	/* After the first socket only the descriptor table's chunk stays: churn adds nothing. */
	size_t baseline = fx.arena.bytes_in_use;
	CHECK(baseline > 0 && baseline < 64 * 1024);
	for (int i = 0; i < 1000; i++) {
		tcp(&fx, 3 + i % 7);
		ev(&fx, SL_EV_CLOSE, 3 + i % 7, 0, 0, 0);
	}
	CHECK(fx.arena.bytes_in_use == baseline);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 0 && fx.s.transports_seen == 1001 && fx.s.live_transports == 0);
	teardown(&fx);
}

static void test_never_closed(void)
{
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	tcp(&fx, 4);
	ev(&fx, SL_EV_CLOSE, 4, 0, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 1 && c.flags[0] == F(NEVER_CLOSED) && c.ids[0] == 1);
	teardown(&fx);
}

static void test_epoll_closed_with_reader(void)
{
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	ev(&fx, SL_EV_EPOLL_CREATE, 4, 0, 0, 0);
	ev(&fx, SL_EV_EPOLL_CTL, 4, 3, EPOLL_CTL_ADD, EPOLLIN);
	ev(&fx, SL_EV_CLOSE, 4, 0, 0, 0);
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 1 && c.flags[0] == F(READER_NOT_REMOVED));
	teardown(&fx);
}

static void test_close_registered_socket_is_normal(void)
{
	/* nginx: the socket's last descriptor closes while registered; the kernel drops it. */
	struct fixture fx;
	setup(&fx, 0);
	ev(&fx, SL_EV_EPOLL_CREATE, 4, 0, 0, 0);
	tcp(&fx, 3);
	ev(&fx, SL_EV_EPOLL_CTL, 4, 3, EPOLL_CTL_ADD, EPOLLIN);
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	tcp(&fx, 3); /* the number comes back as another socket, never registered */
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	ev(&fx, SL_EV_CLOSE, 4, 0, 0, 0);
	exit_now(&fx);
	CHECK(flagged(&fx).n == 0);
	teardown(&fx);
}

static void test_closed_while_registered_then_reader(void)
{
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	ev(&fx, SL_EV_EPOLL_CREATE, 4, 0, 0, 0);
	ev(&fx, SL_EV_EPOLL_CTL, 4, 3, EPOLL_CTL_ADD, EPOLLIN);
	ev(&fx, SL_EV_DUP, 3, 5, 0, 0);
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	/* DEL through the copy does not match the kernel's key (the old number): nothing removed. */
	ev(&fx, SL_EV_EPOLL_CTL, 4, 5, EPOLL_CTL_DEL, 0);
	ev(&fx, SL_EV_CLOSE, 4, 0, 0, 0);
	ev(&fx, SL_EV_CLOSE, 5, 0, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 1 && c.flags[0] == (F(CLOSED_WHILE_REGISTERED) | F(READER_NOT_REMOVED)));
	teardown(&fx);
}

static void test_closed_at_exit_and_dup2_close(void)
{
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	tcp(&fx, 4);
	tcp(&fx, 6);
	ev(&fx, SL_EV_CLOSE, 6, 0, 0, 0);
	ev(&fx, SL_EV_EXIT_PHASE, 0, 0, SL_EXIT_PHASE_MAIN_RETURNED, 0);
	ev(&fx, SL_EV_DUP, 3, 4, 0, 0); /* closes 4 (exit-time), 4 now refers to 3's socket */
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	ev(&fx, SL_EV_CLOSE, 4, 0, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 2 && c.flags[0] == F(CLOSED_AT_EXIT) && c.flags[1] == F(CLOSED_AT_EXIT));
	CHECK(c.ids[0] == 1 && c.ids[1] == 2);
	teardown(&fx);
}

static void test_unseen_close_is_not_a_leak(void)
{
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	ev(&fx, SL_EV_SOCKETPAIR, 3, 5, AF_UNIX, SOCK_STREAM); /* 3 came back: closed out of sight */
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	ev(&fx, SL_EV_CLOSE, 5, 0, 0, 0);
	exit_now(&fx);
	CHECK(flagged(&fx).n == 0 && fx.s.transports_seen == 3);
	teardown(&fx);
}

static void test_close_range(void)
{
	struct fixture fx;
	setup(&fx, 0);
	for (int fd = 3; fd < 10; fd++)
		tcp(&fx, fd);
	tcp(&fx, 1000000);
	ev(&fx, SL_EV_CLOSE_RANGE, 4, 8, 0, 0);
	ev(&fx, SL_EV_CLOSE_RANGE, 999999, 2147483647, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 2 && c.ids[0] == 1 && c.ids[1] == 7); /* fds 3 and 9 */
	teardown(&fx);
}

static void close_ev(struct fixture *fx, int type, int fd, int fd2, uint64_t key, int64_t a, int64_t b)
{
	struct sl_event e = {.type = (uint16_t)type, .fd = fd, .fd2 = fd2, .obj = key, .a = a, .b = b};
	sl_state_apply(&fx->s, &e);
}

/* Issue 10, item 10: a close in two steps, confirmed or undone by what the kernel did. */
static void test_close_begin_end(void)
{
	struct fixture fx;
	setup(&fx, 0);
	for (int fd = 3; fd <= 6; fd++)
		tcp(&fx, fd); /* ids 1-4 */
	/* Another thread is handed number 3 while the close of 3 is under way: a new transport. */
	close_ev(&fx, SL_EV_CLOSE_BEGIN, 3, 3, 1, 0, 0);
	CHECK(sl_state_lookup(&fx.s, 3) == NULL);
	tcp(&fx, 3); /* id 5 */
	close_ev(&fx, SL_EV_CLOSE_END, 0, 0, 1, SL_CLOSE_DONE, 0);
	/* A close_range the kernel refused: both put back. */
	close_ev(&fx, SL_EV_CLOSE_BEGIN, 4, 5, 2, 0, 0);
	CHECK(sl_state_lookup(&fx.s, 4) == NULL && sl_state_lookup(&fx.s, 5) == NULL);
	close_ev(&fx, SL_EV_CLOSE_END, 0, 0, 2, SL_CLOSE_FAILED, 0);
	CHECK(sl_state_lookup(&fx.s, 4) != NULL && sl_state_lookup(&fx.s, 5) != NULL);
	/* A cancelled close, the same socket still there: undone. */
	close_ev(&fx, SL_EV_CLOSE_BEGIN, 6, 6, 3, 0, 0);
	close_ev(&fx, SL_EV_CLOSE_END, 0, 0, 3, SL_CLOSE_CANCELLED, ((int64_t)AF_INET << 16) | SOCK_STREAM);
	CHECK(sl_state_lookup(&fx.s, 6) != NULL);
	/* A cancelled close, the number no longer open: closed. */
	tcp(&fx, 7); /* id 6 */
	close_ev(&fx, SL_EV_CLOSE_BEGIN, 7, 7, 4, 0, 0);
	close_ev(&fx, SL_EV_CLOSE_END, 0, 0, 4, SL_CLOSE_CANCELLED, -1);
	CHECK(sl_state_lookup(&fx.s, 7) == NULL);
	/* An end with no begin (nothing tracked was in range) changes nothing. */
	close_ev(&fx, SL_EV_CLOSE_END, 0, 0, 99, SL_CLOSE_DONE, 0);
	/* Confirmed during exit-time cleanup: closed-at-exit. */
	tcp(&fx, 8); /* id 7 */
	ev(&fx, SL_EV_EXIT_PHASE, 0, 0, SL_EXIT_PHASE_MAIN_RETURNED, 0);
	close_ev(&fx, SL_EV_CLOSE_BEGIN, 8, 8, 5, 0, 0);
	close_ev(&fx, SL_EV_CLOSE_END, 0, 0, 5, SL_CLOSE_DONE, 0);
	/* Closed out of sight, found at exit: no finding. */
	tcp(&fx, 9); /* id 8 */
	ev(&fx, SL_EV_CLOSE_UNSEEN, 9, 0, 0, 0);
	CHECK(fx.s.unseen_closes == 1 && sl_state_lookup(&fx.s, 9) == NULL);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 5);
	CHECK(c.ids[0] == 2 && c.flags[0] == F(NEVER_CLOSED));
	CHECK(c.ids[1] == 3 && c.flags[1] == F(NEVER_CLOSED));
	CHECK(c.ids[2] == 4 && c.flags[2] == F(NEVER_CLOSED));
	CHECK(c.ids[3] == 5 && c.flags[3] == F(NEVER_CLOSED));
	CHECK(c.ids[4] == 7 && c.flags[4] == F(CLOSED_AT_EXIT));
	teardown(&fx);
}

static void test_tls_abandoned_at_close_is_listed_once(void)
{
	/* Regression: a TLS finding raised while its socket was finishing listed the transport
	 * twice, and the report looped forever. */
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	ssl_ev(&fx, SL_EV_SSL_NEW, 0x1000, 0, 0, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_BIND, 0x1000, 3, SL_TLS_BIND_TRAFFIC, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_HANDSHAKE, 0x1000, -1, 1, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_SHUTDOWN, 0x1000, -1, 0, 0, 1);
	ssl_ev(&fx, SL_EV_SSL_SHUTDOWN, 0x1000, -1, -1, 2 /* WANT_READ */, 1);
	ev(&fx, SL_EV_EXIT_PHASE, 0, 0, SL_EXIT_PHASE_RUNTIME_FINALIZING, 0);
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_FREE, 0x1000, 0, 0, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 1 && c.flags[0] == (F(CLOSED_AT_EXIT) | F(TLS_SHUTDOWN_ABANDONED)));
	teardown(&fx);
}

static void test_tls_endings(void)
{
	struct {
		const char *name;
		int steps; /* bit 0 handshake, 1 one shutdown (0, sent), 2 second (1, both), 3 free,
			      4 quiet, 5 set_shutdown(3) */
		unsigned flags;
	} cases[] = {
		{"clean two-way", 1 | 2 | 4 | 8, 0},
		{"clean one-way", 1 | 2 | 8, 0},
		{"no close_notify", 1 | 8, F(TLS_NO_CLOSE_NOTIFY)},
		{"no handshake, nothing sent", 8, 0},
		{"quiet", 1 | 16 | 8, 0},
		{"nginx: quiet and set_shutdown", 1 | 16 | 32 | 8, 0},
		{"never freed", 1 | 2 | 4, F(TLS_NOT_FREED)},
		{"never freed, no close_notify", 1, F(TLS_NOT_FREED) | F(TLS_NO_CLOSE_NOTIFY)},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		current = cases[i].name;
		struct fixture fx;
		setup(&fx, 0);
		tcp(&fx, 3);
		ssl_ev(&fx, SL_EV_SSL_NEW, 0x2000, 0, 0, 0, 0);
		ssl_ev(&fx, SL_EV_SSL_BIND, 0x2000, 3, SL_TLS_BIND_FD, 0, 0);
		int s = cases[i].steps;
		if (s & 1)
			ssl_ev(&fx, SL_EV_SSL_HANDSHAKE, 0x2000, -1, 1, 0, 0);
		if (s & 16)
			ssl_ev(&fx, SL_EV_SSL_QUIET, 0x2000, -1, 1, 0, 0);
		if (s & 32)
			ssl_ev(&fx, SL_EV_SSL_SET_SHUTDOWN, 0x2000, -1, 3, 0, 0);
		if (s & 16)
			ssl_ev(&fx, SL_EV_SSL_SHUTDOWN, 0x2000, -1, 1, 0, 3);
		if (s & 2)
			ssl_ev(&fx, SL_EV_SSL_SHUTDOWN, 0x2000, -1, 0, 0, 1);
		if (s & 4)
			ssl_ev(&fx, SL_EV_SSL_SHUTDOWN, 0x2000, -1, 1, 0, 3);
		if (s & 8)
			ssl_ev(&fx, SL_EV_SSL_FREE, 0x2000, 0, 0, 0, 0);
		ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
		exit_now(&fx);
		struct collected c = flagged(&fx);
		CHECK(cases[i].flags ? c.n == 1 && c.flags[0] == cases[i].flags : c.n == 0);
		teardown(&fx);
	}
}

static void test_tls_clear_ends_a_session(void)
{
	/* SSL_clear ends one session (judged then) and the object carries on with the next. */
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	ssl_ev(&fx, SL_EV_SSL_NEW, 0x7000, 0, 0, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_BIND, 0x7000, 3, SL_TLS_BIND_FD, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_HANDSHAKE, 0x7000, -1, 1, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_CLEAR, 0x7000, -1, 0, 0, 0); /* no close_notify for the first session */
	ssl_ev(&fx, SL_EV_SSL_HANDSHAKE, 0x7000, -1, 1, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_SHUTDOWN, 0x7000, -1, 0, 0, 1); /* the second ends cleanly */
	ssl_ev(&fx, SL_EV_SSL_FREE, 0x7000, 0, 0, 0, 0);
	ev(&fx, SL_EV_CLOSE, 3, 0, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 1 && c.flags[0] == F(TLS_NO_CLOSE_NOTIFY));
	teardown(&fx);
}

static void test_tls_unbound_gets_its_own_entry(void)
{
	struct fixture fx;
	setup(&fx, 0);
	ssl_ev(&fx, SL_EV_SSL_NEW, 0x3000, 0, 0, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_NEW, 0x4000, 0, 0, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_FREE, 0x4000, 0, 0, 0, 0);
	ssl_ev(&fx, SL_EV_SSL_NEW, 0x4000, 0, 0, 0, 0); /* the address reused */
	ssl_ev(&fx, SL_EV_SSL_FREE, 0x4000, 0, 0, 0, 0);
	exit_now(&fx);
	struct collected c = flagged(&fx);
	CHECK(c.n == 1 && c.flags[0] == F(TLS_NOT_FREED));
	teardown(&fx);
}

/* Issue 11: OpenSSL's own state, SSL_up_ref, one-way closes. Each case is a list of events on
 * one TLS client socket (fd 3, SSL 0x9000, an epoll set at fd 5 where asked), then the exit. */
struct tls_step {
	int type, fd, fd2;
	int64_t a, b;
};

static void test_tls_issue11(void)
{
#define NEW {SL_EV_SSL_NEW, 0, 0, 0, 0}
#define BIND {SL_EV_SSL_BIND, 3, 0, SL_TLS_BIND_FD, 0}
#define HS {SL_EV_SSL_HANDSHAKE, -1, 0, 1, 0}
#define SHUT0 {SL_EV_SSL_SHUTDOWN, -1, 1, 0, 0}        /* returned 0, close_notify sent */
#define SHUTWAIT {SL_EV_SSL_SHUTDOWN, -1, 1, -1, 2}    /* -1, SSL_ERROR_WANT_READ */
#define SEEN(fin, bits) {SL_EV_SSL_SEEN, 0, 0, fin, bits}
#define FREE {SL_EV_SSL_FREE, 0, 0, 0, 0}
#define UPREF {SL_EV_SSL_UP_REF, 0, 0, 0, 0}
#define CLOSE3 {SL_EV_CLOSE, 3, 0, 0, 0}
#define CLEANUP {SL_EV_EXIT_PHASE, 0, 0, SL_EXIT_PHASE_EXIT_CALLED, 0}
#define END {0, 0, 0, 0, 0}
	struct {
		const char *name;
		struct tls_step steps[12];
		unsigned flags;
	} cases[] = {
		{"one-way close by the program", {NEW, BIND, HS, SHUT0, SHUTWAIT, FREE, CLOSE3, END}, 0},
		{"one-way close by socket close", {NEW, BIND, HS, SHUT0, SHUTWAIT, CLOSE3, FREE, END}, 0},
		{"wait cut short by exit-time cleanup", {NEW, BIND, HS, SHUT0, SHUTWAIT, CLEANUP, FREE, CLOSE3, END},
		 F(TLS_SHUTDOWN_ABANDONED) | F(CLOSED_AT_EXIT)},
		{"still waiting at exit", {NEW, BIND, HS, SHUT0, SHUTWAIT, END},
		 F(TLS_SHUTDOWN_ABANDONED) | F(TLS_NOT_FREED) | F(NEVER_CLOSED)},
		{"loop closed after the session ended",
		 {NEW, BIND, HS, {SL_EV_EPOLL_CREATE, 5, 0, 0, 0}, {SL_EV_EPOLL_CTL, 5, 3, 1, EPOLLIN}, SHUT0, SHUTWAIT,
		  FREE, {SL_EV_CLOSE, 5, 0, 0, 0}, CLOSE3, END},
		 F(TLS_SHUTDOWN_ABANDONED) | F(READER_NOT_REMOVED)},
		{"loop closed before the session ended",
		 {NEW, BIND, HS, {SL_EV_EPOLL_CREATE, 5, 0, 0, 0}, {SL_EV_EPOLL_CTL, 5, 3, 1, EPOLLIN}, SHUT0, SHUTWAIT,
		  {SL_EV_CLOSE, 5, 0, 0, 0}, FREE, CLOSE3, END},
		 F(TLS_SHUTDOWN_ABANDONED) | F(READER_NOT_REMOVED)},
		{"one-way close, then the loop closed without it",
		 {NEW, BIND, HS, {SL_EV_EPOLL_CREATE, 5, 0, 0, 0}, {SL_EV_EPOLL_CTL, 5, 3, 1, EPOLLIN},
		  {SL_EV_EPOLL_CTL, 5, 3, 2, 0}, SHUT0, SHUTWAIT, FREE, {SL_EV_CLOSE, 5, 0, 0, 0}, CLOSE3, END}, 0},
		{"SSL_up_ref: the second SSL_free ends it", {NEW, BIND, UPREF, HS, FREE, SHUT0, FREE, CLOSE3, END}, 0},
		{"SSL_up_ref: a reference leaked", {NEW, BIND, UPREF, HS, SHUT0, FREE, CLOSE3, END}, F(TLS_NOT_FREED)},
		{"handshake seen in OpenSSL's state", {NEW, BIND, SEEN(1, 0), FREE, CLOSE3, END}, F(TLS_NO_CLOSE_NOTIFY)},
		{"handshake seen after the socket closed", {NEW, BIND, CLOSE3, SEEN(1, 0), FREE, END},
		 F(TLS_NO_CLOSE_NOTIFY)},
		{"handshake seen at exit", {NEW, BIND, CLOSE3, SEEN(1, 0), END}, F(TLS_NO_CLOSE_NOTIFY) | F(TLS_NOT_FREED)},
		{"no handshake in OpenSSL's state either", {NEW, BIND, SEEN(0, 0), FREE, CLOSE3, END}, 0},
		{"fatal alert", {NEW, BIND, HS, SEEN(0, 0), FREE, CLOSE3, END}, 0},
		{"fatal alert received", {NEW, BIND, SEEN(1, 0), SEEN(0, 2), FREE, CLOSE3, END}, 0},
		{"curl: restarted after its shutdown",
		 {NEW, BIND, HS, SHUT0, {SL_EV_SSL_STATE, -1, 0, 1, 0}, SEEN(0, 0), FREE, CLOSE3, END}, 0},
		{"restarted without close_notify is no fatal alert",
		 {NEW, BIND, HS, {SL_EV_SSL_STATE, -1, 0, 1, 0}, SEEN(0, 0), FREE, CLOSE3, END}, F(TLS_NO_CLOSE_NOTIFY)},
		{"shutdown bit set by OpenSSL", {NEW, BIND, HS, SEEN(1, 1), FREE, CLOSE3, END}, 0},
		{"quiet: OpenSSL's bits are not a close_notify", {NEW, BIND, HS, {SL_EV_SSL_QUIET, -1, 0, 1, 0},
		 SEEN(1, 3), FREE, CLOSE3, END}, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		current = cases[i].name;
		struct fixture fx;
		setup(&fx, 0);
		tcp(&fx, 3);
		for (const struct tls_step *st = cases[i].steps; st->type; st++) {
			if (st->type >= SL_EV_SSL_NEW)
				ssl_ev(&fx, st->type, 0x9000, st->fd, st->a, st->b, st->fd2);
			else
				ev(&fx, st->type, st->fd, st->fd2, st->a, st->b);
		}
		exit_now(&fx);
		struct collected c = flagged(&fx);
		CHECK(cases[i].flags ? c.n == 1 && c.flags[0] == cases[i].flags : c.n == 0);
		teardown(&fx);
	}
#undef NEW
#undef BIND
#undef HS
#undef SHUT0
#undef SHUTWAIT
#undef SEEN
#undef FREE
#undef UPREF
#undef CLOSE3
#undef CLEANUP
#undef END
}

/* Fork: a snapshot of the parent's state, replayed into an empty state, rebuilds what the
 * child inherited, and the child judges none of it by default. */
struct snap {
	struct sl_event ev[64];
	unsigned char addr[64][SL_EVENT_ADDR_MAX]; /* an event's address is not owned: copied here */
	int n;
};

static void keep(void *ctx, const struct sl_event *e)
{
	struct snap *sn = ctx;
	if (sn->n < 64) {
		sn->ev[sn->n] = *e;
		if (e->addr && e->addrlen <= SL_EVENT_ADDR_MAX) {
			memcpy(sn->addr[sn->n], e->addr, e->addrlen);
			sn->ev[sn->n].addr = sn->addr[sn->n];
		}
		sn->n++;
	}
}

static void test_fork_snapshot(void)
{
	for (int report_inherited = 0; report_inherited <= 1; report_inherited++) {
		current = report_inherited ? "fork snapshot, report_inherited=1" : "fork snapshot";
		struct fixture parent, child;
		setup(&parent, report_inherited);
		setup(&child, report_inherited);
		tcp(&parent, 3);
		tcp(&parent, 4);
		ev(&parent, SL_EV_DUP, 4, 9, 0, 0);
		ev(&parent, SL_EV_EPOLL_CREATE, 5, 0, 0, 0);
		ev(&parent, SL_EV_EPOLL_CTL, 5, 3, EPOLL_CTL_ADD, EPOLLIN);
		ssl_ev(&parent, SL_EV_SSL_NEW, 0x5000, 0, 0, 0, 0);
		struct snap sn = {.n = 0};
		struct sl_event forked = {.type = SL_EV_FORKED, .a = (int64_t)parent.s.next_transport_id,
					  .b = (int64_t)parent.s.next_epoll_id};
		sl_state_apply(&child.s, &forked);
		sl_state_snapshot(&parent.s, keep, &sn);
		for (int i = 0; i < sn.n; i++)
			sl_state_apply(&child.s, &sn.ev[i]);
		CHECK(sn.n == 6); /* 2 INHERIT, 1 DUP, 1 INHERIT_EPOLL, 1 EPOLL_CTL, 1 SSL_INHERIT */
		CHECK(child.s.live_transports == 2 && child.s.transports_seen == 0);
		CHECK(sl_state_lookup(&child.s, 9) == sl_state_lookup(&child.s, 4));
		tcp(&child, 7); /* the child's own, never closed */
		CHECK(child.s.next_transport_id == 3);
		exit_now(&child);
		struct collected c = flagged(&child);
		if (!report_inherited) {
			CHECK(c.n == 1 && c.ids[0] == 3 && c.flags[0] == F(NEVER_CLOSED));
		} else {
			/* 1 (never-closed, reader-not-removed), 2 (never-closed), the SSL, 3 */
			CHECK(c.n == 4 && c.flags[0] == (F(NEVER_CLOSED) | F(READER_NOT_REMOVED)));
		}
		teardown(&parent);
		teardown(&child);
	}
}

/* Segments: a state written down (sl_state_segment_snapshot) and replayed into an empty state
 * is the same state, field by field, and goes on to the same verdicts. */
static void addr_ev(struct fixture *fx, int type, int fd, int64_t a, const void *sa, size_t len)
{
	struct sl_event e = {.type = (uint16_t)type, .fd = fd, .a = a, .addr = sa, .addrlen = (uint16_t)len};
	sl_state_apply(&fx->s, &e);
}

static void dump_addr(char **p, char *end, const struct sl_addr *a)
{
	char buf[160];
	*p += snprintf(*p, (size_t)(end - *p), " %s", a->family ? sl_addr_format(a, buf, sizeof(buf)) : "-");
}

static void dump_transport(char **p, char *end, const struct sl_transport *t)
{
	*p += snprintf(*p, (size_t)(end - *p), "[t id=%llu role=%u state=%u flags=%u dom=%u type=%u fd=%d nfds=%u",
		       (unsigned long long)t->id, t->role, t->state, t->flags, t->domain, t->type, t->fd, t->nfds);
	dump_addr(p, end, &t->local);
	dump_addr(p, end, &t->peer);
	for (const struct sl_finding *f = t->findings; f; f = f->next)
		*p += snprintf(*p, (size_t)(end - *p), " {f%u w%u x%u fd%d ep%d ev%u id%llu}", f->flag, f->when,
			       f->exit_phase, f->fd, f->epoll_fd, f->events, (unsigned long long)f->epoll_id);
	for (const struct sl_reg *r = t->regs; r; r = r->t_next)
		*p += snprintf(*p, (size_t)(end - *p), " <reg ep%llu fd%d ev%u c%u>", (unsigned long long)r->ep->id,
			       r->fd, r->events, r->fd_closed);
	const struct sl_tls *x = t->tls;
	if (x)
		*p += snprintf(*p, (size_t)(end - *p), " (ssl %llx back %d bind %u role %u hs %u sent %u rcv %u quiet %u "
			       "set %u two %u last0 %u freed %u ended %u inh %u peer %u n %u r %d,%d st %u/%u "
			       "bits %u oneway %u endw %u fatal %u restarted %u refs %u/%u)",
			       (unsigned long long)x->ssl, x->t == t, x->bind, x->role, x->handshake, x->sent, x->received,
			       x->quiet, x->set_shutdown, x->two_way, x->last_zero, x->freed, x->ended, x->inherited,
			       x->peer_ended, x->n_results, x->results[0], x->results[1], x->free_stack, x->stack,
			       x->state_bits, x->one_way, x->end_when, x->fatal, x->restarted, x->up_refs, x->frees);
	*p += snprintf(*p, (size_t)(end - *p), "]\n");
}

struct live_tls {
	uint64_t ssl[16];
	uint64_t tid[16];
	unsigned n;
};

static void note_live(void *ctx, const struct sl_tls *x)
{
	struct live_tls *l = ctx;
	if (l->n < 16) {
		l->ssl[l->n] = x->ssl;
		l->tid[l->n++] = x->t ? x->t->id : 0;
	}
}

static void dump_state(const struct sl_state *s, char *buf, size_t size)
{
	char *p = buf, *end = buf + size;
	p += snprintf(p, (size_t)(end - p), "next %llu/%llu seen %llu live %llu phase %u forked %u\n",
		      (unsigned long long)s->next_transport_id, (unsigned long long)s->next_epoll_id,
		      (unsigned long long)s->transports_seen, (unsigned long long)s->live_transports, s->exit_phase,
		      s->forked);
	for (int fd = 0; fd < 64; fd++) {
		struct sl_obj *o = sl_state_lookup(s, fd);
		if (!o)
			continue;
		p += snprintf(p, (size_t)(end - p), "fd %d: ", fd);
		if (o->kind == SL_OBJ_SOCKET) {
			dump_transport(&p, end, (const struct sl_transport *)o);
		} else {
			const struct sl_epoll *ep = (const struct sl_epoll *)o;
			p += snprintf(p, (size_t)(end - p), "[ep id=%llu nfds=%u inh=%u", (unsigned long long)ep->id,
				      ep->nfds, ep->inherited);
			for (const struct sl_reg *r = ep->regs; r; r = r->ep_next)
				p += snprintf(p, (size_t)(end - p), " <t%llu fd%d ev%u c%u>", (unsigned long long)r->t->id,
					      r->fd, r->events, r->fd_closed);
			p += snprintf(p, (size_t)(end - p), "]\n");
		}
	}
	for (const struct sl_transport *t = s->done_head; t; t = t->next) {
		p += snprintf(p, (size_t)(end - p), "done: ");
		dump_transport(&p, end, t);
	}
	/* SSL objects alive, by address (the table's order is its own), with their transports. */
	struct live_tls l = {.n = 0};
	sl_tls_for_each_session(s, note_live, &l);
	for (unsigned i = 0; i < l.n; i++)
		for (unsigned k = i + 1; k < l.n; k++)
			if (l.ssl[k] < l.ssl[i]) {
				uint64_t a = l.ssl[i], b = l.tid[i];
				l.ssl[i] = l.ssl[k];
				l.tid[i] = l.tid[k];
				l.ssl[k] = a;
				l.tid[k] = b;
			}
	for (unsigned i = 0; i < l.n; i++)
		p += snprintf(p, (size_t)(end - p), "live ssl %llx on t%llu\n", (unsigned long long)l.ssl[i],
			      (unsigned long long)l.tid[i]);
}

static void test_segment_snapshot(void)
{
	struct fixture a, b;
	setup(&a, 0);
	setup(&b, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(8080)};
	in.sin_addr.s_addr = htonl(0x7f000001);
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	in6.sin6_addr.s6_addr[15] = 1;
	struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x.sock"};
	for (int i = 0; i < 5; i++) { /* history: made and finished without findings */
		tcp(&a, 3);
		ev(&a, SL_EV_CLOSE, 3, 0, 0, 0);
	}
	tcp(&a, 3); /* a listener on 127.0.0.1:8080 */
	addr_ev(&a, SL_EV_BIND, 3, 0, &in, sizeof(in));
	ev(&a, SL_EV_LISTEN, 3, 0, 0, 0);
	struct sl_event acc = {.type = SL_EV_ACCEPT, .fd = 3, .fd2 = 4, .addr = &in6, .addrlen = sizeof(in6)};
	sl_state_apply(&a.s, &acc);
	ev(&a, SL_EV_SOCKET, 5, 0, AF_UNIX, SOCK_STREAM);
	addr_ev(&a, SL_EV_CONNECT, 5, 0, &un, sizeof(un));
	ev(&a, SL_EV_DUP, 5, 12, 0, 0);
	ev(&a, SL_EV_SHUTDOWN, 4, 0, SHUT_WR, 0);
	ev(&a, SL_EV_EPOLL_CREATE, 6, 0, 0, 0);
	ev(&a, SL_EV_DUP, 6, 13, 0, 0);
	ev(&a, SL_EV_EPOLL_CTL, 6, 4, EPOLL_CTL_ADD, EPOLLIN);
	ev(&a, SL_EV_EPOLL_CTL, 6, 5, EPOLL_CTL_ADD, EPOLLOUT);
	ev(&a, SL_EV_EPOLL_CTL, 6, 12, EPOLL_CTL_ADD, EPOLLIN | EPOLLET);
	ev(&a, SL_EV_CLOSE, 12, 0, 0, 0); /* closed while registered: a finding on an open transport */
	tcp(&a, 7); /* finished with a finding: closed-while-registered, then reader-not-removed */
	ev(&a, SL_EV_DUP, 7, 8, 0, 0);
	ev(&a, SL_EV_EPOLL_CREATE, 9, 0, 0, 0);
	ev(&a, SL_EV_EPOLL_CTL, 9, 8, EPOLL_CTL_ADD, EPOLLIN);
	ev(&a, SL_EV_CLOSE, 8, 0, 0, 0);
	ev(&a, SL_EV_CLOSE, 9, 0, 0, 0);
	ev(&a, SL_EV_CLOSE, 7, 0, 0, 0);
	/* TLS: a session on the accepted socket that sent close_notify; one freed without it on an
	 * open socket; one never bound; one whose socket was closed without close_notify (listed);
	 * one whose socket was closed after a clean shutdown (kept only by the SSL object); one
	 * never bound and freed without close_notify (its own report entry). */
	ssl_ev(&a, SL_EV_SSL_NEW, 0x5000, 0, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_BIND, 0x5000, 4, SL_TLS_BIND_FD, 0, 0);
	ssl_ev(&a, SL_EV_SSL_HANDSHAKE, 0x5000, 0, 2, 0, 0);
	ssl_ev(&a, SL_EV_SSL_SHUTDOWN, 0x5000, 0, 0, 0, 1);
	tcp(&a, 10);
	ssl_ev(&a, SL_EV_SSL_NEW, 0x6000, 0, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_BIND, 0x6000, 10, SL_TLS_BIND_FD, 0, 0);
	ssl_ev(&a, SL_EV_SSL_HANDSHAKE, 0x6000, 0, 1, 0, 0);
	ssl_ev(&a, SL_EV_SSL_FREE, 0x6000, 0, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_NEW, 0x7000, 0, 1, 0, 0);
	/* The issue 11 facts travel too: a reference taken and one of two dropped, and OpenSSL's
	 * own state (handshake done, close_notify sent). */
	ssl_ev(&a, SL_EV_SSL_UP_REF, 0x7000, 0, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_SEEN, 0x7000, 0, 1, 1, 0);
	ssl_ev(&a, SL_EV_SSL_FREE, 0x7000, 0, 0, 0, 0);
	tcp(&a, 11);
	ssl_ev(&a, SL_EV_SSL_NEW, 0x8000, 0, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_BIND, 0x8000, 11, SL_TLS_BIND_RFD, 0, 0);
	ssl_ev(&a, SL_EV_SSL_HANDSHAKE, 0x8000, 0, 1, 0, 0);
	ev(&a, SL_EV_CLOSE, 11, 0, 0, 0);
	tcp(&a, 14);
	ssl_ev(&a, SL_EV_SSL_NEW, 0x9000, 0, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_BIND, 0x9000, 14, SL_TLS_BIND_FD, 0, 0);
	ssl_ev(&a, SL_EV_SSL_HANDSHAKE, 0x9000, 0, 1, 0, 0);
	ssl_ev(&a, SL_EV_SSL_SHUTDOWN, 0x9000, 0, 1, 0, 3);
	ev(&a, SL_EV_CLOSE, 14, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_NEW, 0xa000, 0, 0, 0, 0);
	ssl_ev(&a, SL_EV_SSL_HANDSHAKE, 0xa000, 0, 1, 0, 0);
	ssl_ev(&a, SL_EV_SSL_FREE, 0xa000, 0, 0, 0, 0);
	ev(&a, SL_EV_EXIT_PHASE, 0, 0, SL_EXIT_PHASE_EXIT_CALLED, 0);
	CHECK(sl_state_can_segment(&a.s));
	static struct snap sn;
	sn.n = 0;
	sl_state_segment_snapshot(&a.s, 1, keep, &sn);
	CHECK(sn.n < 64 && sn.ev[sn.n - 1].type == SL_EV_SEGMENT);
	for (int i = 0; i < sn.n; i++)
		CHECK(sl_state_apply(&b.s, &sn.ev[i]) == 0);
	static char da[8192], db[8192];
	dump_state(&a.s, da, sizeof(da));
	dump_state(&b.s, db, sizeof(db));
	if (strcmp(da, db) != 0)
		printf("--- written\n%s--- rebuilt\n%s", da, db);
	CHECK(strcmp(da, db) == 0);
	CHECK(a.s.done_head && b.s.done_head && b.s.transports_seen == 13);
	/* The same events after it give the same verdicts: the 3 finished ones; 4 closed at exit
	 * (the exit phase came through); the listener, the unix client, fd 10 and a new socket never
	 * closed; SSL objects never freed on their own entry (0x7000) and on the socket closed after
	 * a clean shutdown (0x9000, kept by its SSL object). */
	for (struct fixture *fx = &a;; fx = &b) {
		ev(fx, SL_EV_CLOSE, 4, 0, 0, 0);
		tcp(fx, 4);
		exit_now(fx);
		if (fx == &b)
			break;
	}
	dump_state(&a.s, da, sizeof(da));
	dump_state(&b.s, db, sizeof(db));
	CHECK(strcmp(da, db) == 0);
	struct collected ca = flagged(&a), cb = flagged(&b);
	CHECK(ca.n == cb.n && ca.n == 10 && memcmp(ca.flags, cb.flags, sizeof(ca.flags)) == 0 &&
	      memcmp(ca.ids, cb.ids, sizeof(ca.ids)) == 0);
	CHECK(!sl_state_can_segment(&a.s)); /* after the exit */
	teardown(&a);
	teardown(&b);
}

static void test_killed_process(void)
{
	struct fixture fx;
	setup(&fx, 0);
	tcp(&fx, 3);
	ev(&fx, SL_EV_EPOLL_CREATE, 4, 0, 0, 0);
	ev(&fx, SL_EV_EPOLL_CTL, 4, 3, EPOLL_CTL_ADD, EPOLLIN);
	ssl_ev(&fx, SL_EV_SSL_NEW, 0x6000, 0, 0, 0, 0);
	ev(&fx, SL_EV_EXIT, 0, 0, 0, SL_EXIT_HOW_KILLED);
	struct collected c = flagged(&fx);
	CHECK(c.n == 1 && c.flags[0] == F(PROCESS_KILLED));
	teardown(&fx);
}

static void test_out_of_memory_is_reported_not_fatal(void)
{
	struct fixture fx;
	setup(&fx, 0);
	fx.arena.fail_after = 3;
	for (int fd = 3; fd < 40; fd++)
		tcp(&fx, fd);
	CHECK(fx.s.out_of_memory == 1);
	exit_now(&fx);
	flagged(&fx);
	teardown(&fx);
}

static void test_options(void)
{
	struct sl_options o;
	char err[256];
	sl_options_defaults(&o);
	CHECK(o.exitcode == 23 && o.report == 1 && o.stack_depth == 16 && !strcmp(o.json, ""));
	CHECK(sl_options_parse(&o, "exitcode=7:json='/tmp/a:b.json':log_path=/x/%p:report=0", err, sizeof(err)) == 0);
	CHECK(o.exitcode == 7 && !strcmp(o.json, "/tmp/a:b.json") && !strcmp(o.log_path, "/x/%p") && o.report == 0);
	CHECK(sl_options_parse(&o, "verbosity=2", err, sizeof(err)) == 0 && !strcmp(o.json, "/tmp/a:b.json"));
	CHECK(sl_options_parse(&o, "nosuch=1", err, sizeof(err)) < 0 && strstr(err, "unknown option 'nosuch'"));
	CHECK(sl_options_parse(&o, "exitcode=-1", err, sizeof(err)) < 0);
	CHECK(sl_options_parse(&o, "exitcode=12abc", err, sizeof(err)) < 0);
	CHECK(sl_options_parse(&o, "report=2", err, sizeof(err)) < 0);
	CHECK(sl_options_parse(&o, ":::", err, sizeof(err)) == 0);
	/* A string option set again takes the place of its value: the store never fills up. */
	char many[8192], path[700];
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(many, sizeof(many), "json=/a%s:json=/b%s:log_path=/c%s:json=/d%s:log_path=/e", path, path, path, path);
	CHECK(sl_options_parse(&o, many, err, sizeof(err)) == 0 && o.json[1] == 'd' && !strcmp(o.log_path, "/e"));
	CHECK(sl_options_parse(&o, many, err, sizeof(err)) == 0 && o.json[1] == 'd' && strlen(o.json) == 701);
}

static void test_suppressions(void)
{
	char err[512];
	const char *text = "# accepted findings\nnever-closed:ngx_read_channel\n\nreader-not-removed:*selector*\n"
			   "tls-not-freed:^main$\n";
	struct sl_suppressions *s = sl_supp_parse(text, strlen(text), "supp", err, sizeof(err));
	CHECK(s && sl_supp_count(s) == 3);
	const char *names1[] = {"main", "ngx_read_channel", NULL};
	CHECK(sl_supp_match(s, SL_FLAG_NEVER_CLOSED, names1, 3, 3) == 0);
	CHECK(sl_supp_match(s, SL_FLAG_CLOSED_AT_EXIT, names1, 3, 3) == -1);
	const char *names2[] = {"/usr/lib/python3.11/selectors.py"};
	CHECK(sl_supp_match(s, SL_FLAG_READER_NOT_REMOVED, names2, 1, 1) == 1);
	const char *names3[] = {"domain_main"};
	CHECK(sl_supp_match(s, SL_FLAG_TLS_NOT_FREED, names3, 1, 1) == -1);
	const char *names4[] = {"main"};
	CHECK(sl_supp_match(s, SL_FLAG_TLS_NOT_FREED, names4, 1, 1) == 2);
	sl_supp_free(s);
	const char *bad = "never-closed:x\nleaked:foo\n";
	CHECK(!sl_supp_parse(bad, strlen(bad), "supp", err, sizeof(err)));
	CHECK(strstr(err, "supp:2: unknown flag 'leaked' (valid flags: never-closed, closed-at-exit"));
	const char *nocolon = "never-closed\n";
	CHECK(!sl_supp_parse(nocolon, strlen(nocolon), "supp", err, sizeof(err)) && strstr(err, "supp:1: expected flag:pattern"));
	/* The built-in rules come after the user's, and look at the creating frames only. */
	s = sl_supp_parse(text, strlen(text), "supp", err, sizeof(err));
	CHECK(s && sl_supp_add_defaults(&s, err, sizeof(err)) == 0 && sl_supp_count(s) == 5);
	CHECK(!sl_supp_rule_builtin(s, 2) && sl_supp_rule_builtin(s, 3) && sl_supp_rule_builtin(s, 4));
	const char *trio[] = {"/usr/lib/python3/dist-packages/trio/_core/_wakeup_socketpair.py", "wait_woken"};
	CHECK(sl_supp_match(s, SL_FLAG_READER_NOT_REMOVED, trio, 2, 1) == 3);
	CHECK(sl_supp_match(s, SL_FLAG_NEVER_CLOSED, trio, 2, 1) == -1);
	/* The same file where the socket was registered, not where it was made: not suppressed. */
	const char *trio_registered[] = {"/srv/app.py", "/usr/lib/python3/dist-packages/trio/_core/_wakeup_socketpair.py"};
	CHECK(sl_supp_match(s, SL_FLAG_READER_NOT_REMOVED, trio_registered, 2, 1) == -1);
	const char *self_pipe[] = {"_make_self_pipe"}, *not_self_pipe[] = {"my_make_self_pipe2"};
	CHECK(sl_supp_match(s, SL_FLAG_CLOSED_AT_EXIT, self_pipe, 1, 1) == 4);
	CHECK(sl_supp_match(s, SL_FLAG_CLOSED_AT_EXIT, not_self_pipe, 1, 1) == -1);
	sl_supp_free(s);
	s = NULL;
	CHECK(sl_supp_add_defaults(&s, err, sizeof(err)) == 0 && sl_supp_count(s) == 2 && sl_supp_rule_builtin(s, 0));
	sl_supp_free(s);
}

static void test_stacks(void)
{
	struct sl_arena a;
	sl_arena_init(&a);
	struct sl_stack_store *st = sl_stacks_new(&a);
	uint64_t pcs[3] = {1, 2, 3}, other[3] = {1, 2, 4};
	uint32_t x = sl_stacks_add_native(st, pcs, 3), y = sl_stacks_add_native(st, pcs, 3);
	uint32_t z = sl_stacks_add_native(st, other, 3);
	CHECK(x == 1 && y == 1 && z == 2 && sl_stacks_count(st) == 2);
	uint32_t f = sl_stacks_add_string(st, "a.py", 4), g = sl_stacks_add_string(st, "f", 1);
	struct sl_pyframe fr = {f, g, 10};
	uint32_t p = sl_stacks_add_python(st, &fr, 1);
	unsigned depth;
	const uint64_t *w;
	CHECK(p == 3 && sl_stacks_get(st, p, &depth, &w) == SL_STACK_PYTHON && depth == 1);
	CHECK(sl_pyframe_at(w, 0).line == 10 && !strcmp(sl_stacks_string(st, sl_pyframe_at(w, 0).file), "a.py"));
	sl_arena_destroy(&a);
}

/* Threads' caches (issue 12): blocks a thread frees come back to it, a full cache hands a batch
 * back, blocks of 64 bytes and more never share a cache line, and emptying the caches of threads
 * that are gone (a forked child) leaves exactly what callers hold. */
static void test_arena_thread_caches(void)
{
	struct sl_arena a;
	sl_arena_init(&a);
	struct sl_arena_cache *one = sl_arena_cache_new(&a), *two = sl_arena_cache_new(&a);
	CHECK(one && two && a.caches == two && two->next == one);
	size_t held = sl_arena_in_use(&a); /* the two caches' own blocks */
	sl_arena_thread_cache = one;
	void *t = sl_arena_alloc_fixed(&a, 128);
	CHECK(t && ((uintptr_t)t & 63) == 0 && one->count[3] == SL_ARENA_CACHE_BATCH(3) - 1);
	CHECK(sl_arena_in_use(&a) == held + 128);
	sl_arena_free_fixed(&a, t, 128);
	CHECK(one->count[3] == SL_ARENA_CACHE_BATCH(3) && sl_arena_alloc_fixed(&a, 128) == t);
	/* Another thread's blocks are its own: never one of the first thread's. */
	sl_arena_thread_cache = two;
	void *u = sl_arena_alloc_fixed(&a, 128);
	CHECK(u && u != t && ((uintptr_t)u & 63) == 0 && (char *)u - (char *)t >= 128);
	void *r = sl_arena_alloc_fixed(&a, 48), *r2 = sl_arena_alloc_fixed(&a, 48);
	CHECK(((uintptr_t)r & 63) == 0 && ((uintptr_t)r2 & 63) == 0 && r != r2);
	/* Freeing many: the cache keeps at most twice a batch, the rest goes back to the arena. */
	void *many[40];
	for (int i = 0; i < 40; i++)
		CHECK((many[i] = sl_arena_alloc_fixed(&a, 128)) != NULL);
	for (int i = 0; i < 40; i++)
		sl_arena_free_fixed(&a, many[i], 128);
	CHECK(two->count[3] <= 2 * SL_ARENA_CACHE_BATCH(3) && two->count[3] >= SL_ARENA_CACHE_BATCH(3));
	CHECK(sl_arena_in_use(&a) == held + 128 + 128 + 2 * 64);
	/* A large class moves one block at a time: a cache never holds much memory. */
	void *big = sl_arena_alloc(&a, 2000);
	CHECK(big && two->count[7] == 0);
	sl_arena_free(&a, big, 2000);
	CHECK(two->count[7] == 1);
	/* The first thread is gone (a forked child keeps only its own cache). */
	sl_arena_caches_keep_only(&a, two);
	CHECK(a.caches == two && two->next == NULL && two->prev == NULL);
	CHECK(sl_arena_in_use(&a) == held - 128 + 128 + 128 + 2 * 64);
	sl_arena_free_fixed(&a, u, 128);
	sl_arena_free(&a, r, 48);
	sl_arena_free(&a, r2, 48);
	sl_arena_thread_cache = NULL;
	sl_arena_free(&a, t, 128); /* its thread is gone: straight to the arena */
	sl_arena_cache_free(two);
	CHECK(a.caches == NULL && a.bytes_in_use == 0 && sl_arena_in_use(&a) == 0);
	sl_arena_destroy(&a);
}

int main(void)
{
	struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"closed socket is forgotten", test_closed_socket_is_forgotten},
		{"never closed", test_never_closed},
		{"epoll closed with a reader", test_epoll_closed_with_reader},
		{"closing a registered socket is normal", test_close_registered_socket_is_normal},
		{"closed while registered, then reader", test_closed_while_registered_then_reader},
		{"closed at exit, and dup2 closes", test_closed_at_exit_and_dup2_close},
		{"unseen close is not a leak", test_unseen_close_is_not_a_leak},
		{"close_range", test_close_range},
		{"close begin and end", test_close_begin_end},
		{"TLS abandoned at close, listed once", test_tls_abandoned_at_close_is_listed_once},
		{"TLS endings", test_tls_endings},
		{"TLS unbound session", test_tls_unbound_gets_its_own_entry},
		{"TLS SSL_clear ends a session", test_tls_clear_ends_a_session},
		{"TLS state, SSL_up_ref, one-way closes (issue 11)", test_tls_issue11},
		{"fork snapshot", test_fork_snapshot},
		{"segment snapshot", test_segment_snapshot},
		{"killed process", test_killed_process},
		{"out of memory", test_out_of_memory_is_reported_not_fatal},
		{"options", test_options},
		{"suppressions", test_suppressions},
		{"stacks", test_stacks},
		{"arena: threads' caches", test_arena_thread_caches},
	};
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int before = failures;
		current = tests[i].name;
		tests[i].fn();
		if (failures == before)
			printf("ok   %s\n", tests[i].name);
	}
	return failures;
}
