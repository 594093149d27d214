/* The facts the preload observes, in one form for both uses: the live preload applies each event
 * to its state as it happens, and the event log stores the same events so that the analyzer can
 * replay them through the same rules (lifecycle.c). Only successful calls become events. */
#ifndef SOCKLEAK_EVENT_H
#define SOCKLEAK_EVENT_H

#include <stdint.h>

/* Numbers are part of the event log format (docs/event-log.md): append, never renumber. */
enum sl_event_type {
	SL_EV_NONE = 0,
	SL_EV_SOCKET = 1,        /* fd; a = domain, b = type (flags stripped) */
	SL_EV_SOCKETPAIR = 2,    /* fd, fd2; a = domain, b = type */
	SL_EV_ACCEPT = 3,        /* fd = listener, fd2 = new descriptor; addr = peer */
	SL_EV_RECEIVED = 4,      /* fd2 = descriptor received through SCM_RIGHTS; a = domain, b = type */
	SL_EV_DUP = 5,           /* fd = old, fd2 = new (dup, dup2, dup3, F_DUPFD); an open fd2 is closed */
	SL_EV_CLOSE = 6,         /* fd */
	SL_EV_CLOSE_RANGE = 7,   /* fd = first, fd2 = last (inclusive) */
	SL_EV_SHUTDOWN = 8,      /* fd; a = how (SHUT_RD, SHUT_WR, SHUT_RDWR), or SL_SHUT_PEER */
	SL_EV_CONNECT = 9,       /* fd; addr = peer; a = 1 when still in progress */
	SL_EV_BIND = 10,         /* fd; addr = local */
	SL_EV_LISTEN = 11,       /* fd */
	SL_EV_ADDR = 12,         /* fd; a = 0 local, 1 peer; addr (learned from the kernel) */
	SL_EV_EPOLL_CREATE = 13, /* fd; a = 1 under track=all: the set is reported if left open (issue 15) */
	SL_EV_EPOLL_CTL = 14,    /* fd = epoll, fd2 = target; a = op, b = events */
	SL_EV_EXIT_PHASE = 15,   /* a = enum sl_exit_phase: exit-time cleanup has begun */
	SL_EV_EXIT = 16,         /* a = status, b = enum sl_exit_how */
	SL_EV_EXEC = 17,         /* the image is about to be replaced (a = 1: the exec failed, go on) */
	SL_EV_FORKED = 18,       /* first event of a forked child: a = next transport id, b = next epoll id */
	SL_EV_INHERIT = 19,      /* fd, obj = transport id, a = domain, b = type, fd2 = role */
	SL_EV_INHERIT_EPOLL = 20,/* fd, obj = epoll id */
	/* A later segment of a log starts with the whole state (docs/event-log.md, "Segments"):
	 * these rebuild it exactly, through the same rules (sl_state_apply). */
	SL_EV_SEGMENT = 21,      /* last of the snapshot: fd = segment number, fd2 = exit_phase | forked << 8 |
				  * out_of_memory << 9, a = next transport id, b = next epoll id,
				  * obj = transports seen */
	SL_EV_RESTORE = 22,      /* a transport: fd (-1: finished, on the report's list), fd2 = role | state << 8 |
				  * flags << 16, a = domain | type << 16 | its last fd << 32, obj = id; addr = local */
	SL_EV_RESTORE_PEER = 23, /* the transport restored last: addr = its peer */
	SL_EV_RESTORE_FINDING = 24, /* a finding of the transport restored last: fd, fd2 = epoll fd, a = flag |
				  * when << 8 | exit_phase << 16 | events << 32, obj = epoll id */
	SL_EV_RESTORE_EPOLL = 25,/* fd, obj = epoll id, a = inherited | tracked (track=all) << 1 */
	SL_EV_RESTORE_REG = 26,  /* fd = epoll set, fd2 = registered number, a = an open descriptor of the
				  * transport | fd_closed << 32, b = events */
	SL_EV_RESTORE_TLS = 27,  /* an SSL object: obj, a = its facts (as SSL_INHERIT), fd2 = freed | inherited << 1 |
				  * bound to the transport restored last << 2 | shutdown calls << 8,
				  * b = the first 8 SSL_shutdown results; or, with fd2 = 1 << 3, the
				  * SSL_free stacks of the one restored last */
	/* 28-31: closes the kernel confirms, and blind spots (issue 10) */
	SL_EV_CLOSE_BEGIN = 28,  /* fd = first, fd2 = last (inclusive), obj = key: a close is under way */
	SL_EV_CLOSE_END = 29,    /* obj = key; a = enum sl_close_outcome; b = kernel's answer (CANCELLED) */
	SL_EV_CLOSE_UNSEEN = 30, /* fd: at exit, the kernel no longer has this socket there */
	SL_EV_BLIND = 31,        /* a = enum sl_blind bits: sockets sockleak cannot see in this process */
	/* TLS (OpenSSL); obj is the SSL object's address */
	SL_EV_SSL_NEW = 32,      /* a = quiet shutdown inherited from the context */
	SL_EV_SSL_FREE = 33,
	SL_EV_SSL_CLEAR = 34,
	SL_EV_SSL_BIND = 35,     /* fd; a = enum sl_tls_bind */
	SL_EV_SSL_HANDSHAKE = 36,/* the handshake completed; a = 1 client, 2 server */
	SL_EV_SSL_SHUTDOWN = 37, /* a = SSL_shutdown's return, b = SSL_get_error, fd2 = SSL_get_shutdown after */
	SL_EV_SSL_SET_SHUTDOWN = 38, /* a = mode */
	SL_EV_SSL_QUIET = 39,    /* a = quiet shutdown on or off */
	SL_EV_SSL_STATE = 40,    /* a = 1 connect state, 2 accept state */
	SL_EV_SSL_INHERIT = 41,  /* forked child: obj; the SSL object's facts follow in a, b (packed) */
	SL_EV_SSL_SEEN = 42,     /* OpenSSL's own state, read after SSL_shutdown, before SSL_free and at
				    exit: a = SSL_is_init_finished, b = SSL_get_shutdown */
	SL_EV_SSL_UP_REF = 43,   /* SSL_up_ref succeeded: one more SSL_free before the session ends */
	/* 54-57: checkpoints (issue 14) */
	SL_EV_CHECKPOINT = 54,   /* sockleak_check: obj = the mark, a = the label's STRING id; changes
				  * nothing in the state (the analyzer lists the transports there) */
	/* 60-69: descriptors that are not sockets (issue 15, track=pipes and track=all) */
	SL_EV_FD_OPEN = 60,      /* fd, and fd2 (a pipe's write end) or -1; a = enum sl_fd_kind; b = st_dev,
				  * obj = st_ino (0: unknown); addr = a file's path as given, or a memfd's
				  * name, carried as a sockaddr_un (cut to 108 bytes) */
	SL_EV_TYPE_MAX = 64
};

enum sl_exit_phase {
	SL_EXIT_PHASE_NONE = 0,
	SL_EXIT_PHASE_MAIN_RETURNED = 1,
	SL_EXIT_PHASE_EXIT_CALLED = 2,
	SL_EXIT_PHASE_RUNTIME_FINALIZING = 3, /* a language runtime (CPython) began its shutdown */
	SL_EXIT_PHASE_PERL_DESTRUCT = 4,      /* Perl's global destruction (perl_destruct) closed a socket */
	SL_EXIT_PHASE_RUBY_FINALIZING = 5,    /* Ruby began finalizing every object (ruby_sig_finalize) */
	SL_EXIT_PHASE_MAX = 5
};

enum sl_exit_how {
	SL_EXIT_HOW_EXIT = 0,      /* exit() or return from main: atexit handlers and destructors ran */
	SL_EXIT_HOW__EXIT = 1,     /* _exit() / _Exit(): nothing ran */
	SL_EXIT_HOW_QUICK = 2,     /* quick_exit() */
	SL_EXIT_HOW_KILLED = 3,    /* analyzer only: the log ends without an exit */
};

/* How a close under way (SL_EV_CLOSE_BEGIN) ended. */
enum sl_close_outcome {
	SL_CLOSE_FAILED = 0,    /* the kernel closed nothing (close_range: EINVAL, EPERM, ENOSYS) */
	SL_CLOSE_DONE = 1,      /* closed (close() returning EINTR or EIO has closed too) */
	SL_CLOSE_CANCELLED = 2, /* close() cancelled at its cancellation point: b says what the number is
				 * now: -1 not open, -2 open but not a socket, else domain << 16 | type */
	SL_CLOSE_NOT_OPEN = 3,  /* EBADF: the number was not open, closed earlier behind sockleak's back */
};

/* SL_EV_BLIND's a: what sockleak cannot see in this process. */
enum sl_blind { SL_BLIND_IO_URING = 1, SL_BLIND_GO = 2, SL_BLIND_CLONE_UNSAFE = 4 };

/* SL_EV_SHUTDOWN's a when the peer ended the stream: a read returned end of file, or the
 * connection was reset. Recorded only for sockets in a process that has made a TLS session. */
#define SL_SHUT_PEER 16

/* SL_EV_SSL_BIND's a: the call that bound the session (BIO: a socket BIO given with SSL_set_bio). */
enum sl_tls_bind {
	SL_TLS_BIND_FD = 1,
	SL_TLS_BIND_RFD = 2,
	SL_TLS_BIND_WFD = 3,
	SL_TLS_BIND_TRAFFIC = 4,
	SL_TLS_BIND_BIO = 5,
};

/* SL_EV_FD_OPEN's a: what a descriptor that is not a socket refers to. Such a transport has
 * domain SL_DOMAIN_FD and the kind as its type. */
enum sl_fd_kind {
	SL_FD_FILE = 1,     /* open, openat, creat, fopen, opendir, tmpfile (path as given) */
	SL_FD_PIPE = 2,     /* pipe, pipe2, popen */
	SL_FD_FIFO = 3,     /* a named pipe, opened by path */
	SL_FD_EVENTFD = 4,
	SL_FD_TIMERFD = 5,
	SL_FD_SIGNALFD = 6,
	SL_FD_MEMFD = 7,    /* path: "memfd:NAME" */
	SL_FD_INOTIFY = 8,
	SL_FD_FANOTIFY = 9,
	SL_FD_PIDFD = 10,
	SL_FD_EPOLL = 11,   /* the report entry of an epoll set left open; or a set received (SCM_RIGHTS) */
	SL_FD_KIND_COUNT
};
#define SL_DOMAIN_FD 0xfd00 /* above every AF_* */

#define SL_EVENT_ADDR_MAX 128 /* a sockaddr_storage: longer addresses are cut */

struct sl_event {
	uint16_t type;
	uint16_t addrlen;   /* bytes at addr; 0 when there is none */
	int32_t fd;
	int32_t fd2;
	uint32_t stack;     /* native stack id, 0 = none */
	uint32_t pystack;   /* Python traceback id, 0 = none */
	int64_t a;
	int64_t b;
	uint64_t obj;
	const void *addr;   /* a struct sockaddr; not owned */
};

#endif
