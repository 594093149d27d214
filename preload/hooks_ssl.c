/* Interposers for OpenSSL 3 (libssl.so.3, libcrypto.so.3).
 *
 * sockleak never links libssl: a program without TLS must not load it. The real functions are
 * looked up at first call, and CPython loads libssl privately (its _ssl module is opened with
 * RTLD_LOCAL), where dlsym(RTLD_NEXT) cannot see it: the fallback is dlopen(RTLD_NOLOAD), which
 * finds the already loaded library without ever loading one.
 *
 * Calls inside libssl go through the PLT as well (SSL_connect calls SSL_do_handshake, SSL_set_fd
 * calls SSL_set_bio, SSL_new calls SSL_clear): only the outermost SSL_* call on a thread records
 * anything, so each fact is counted once. */
#include <dlfcn.h>
#include <string.h>

#include "../core/lifecycle_tls.h"
#include "preload.h"
#include "tls_binding.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct bio_st BIO;

#define BIO_C_GET_FD 105

static void *resolve_in(const char *name, const char *lib)
{
	void *p = sl_resolve(name);
	if (p)
		return p;
	int guard = sl_in_hook;
	sl_in_hook = 1;
	void *h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
	if (h)
		p = dlsym(h, name);
	sl_in_hook = guard;
	return p;
}

/* As SL_REAL (preload.h): a relaxed atomic slot, and real_NAME a local copy. */
#define SSL_REAL_IN(ret, name, params, lib)                                                           \
	static ret(*slot_real_##name) params;                                                         \
	ret(*real_##name) params = __atomic_load_n(&slot_real_##name, __ATOMIC_RELAXED);              \
	if (SL_UNLIKELY(!real_##name)) {                                                              \
		real_##name = (ret(*) params)resolve_in(#name, lib);                                  \
		__atomic_store_n(&slot_real_##name, real_##name, __ATOMIC_RELAXED);                   \
	}
#define SSL_REAL(ret, name, params) SSL_REAL_IN(ret, name, params, "libssl.so.3")
#define CRYPTO_REAL(ret, name, params) SSL_REAL_IN(ret, name, params, "libcrypto.so.3")

/* One SSL_* call: tells whether it is the outermost on this thread, and (for calls that do I/O)
 * names the session while it runs, so socket I/O from inside it can bind the session. */
struct ssl_call {
	int outer;
	void *saved_current;
};

static int enter(struct ssl_call *c, SSL *io_session)
{
	c->saved_current = sl_tls_current;
	c->outer = sl_tls_depth++ == 0;
	if (c->outer && io_session && sl_tlsb_pending(io_session))
		sl_tls_current = io_session;
	return c->outer;
}

static void leave(struct ssl_call *c)
{
	sl_tls_depth--;
	sl_tls_current = c->saved_current;
}

static int tracking(const struct ssl_call *c)
{
	return c->outer && !sl_in_hook && sl_active() && sl_rt.opt.tls;
}

static void record(int type, SSL *s, int fd, int64_t a, int64_t b, int fd2)
{
	struct sl_event ev = {.type = (uint16_t)type, .obj = (uint64_t)(uintptr_t)s, .fd = fd, .fd2 = fd2,
			      .a = a, .b = b};
	sl_record(&ev);
}

/* ---- OpenSSL's own state ---- */

/* Read after each SSL_shutdown, before SSL_free and at exit (issue 11): lighttpd and openssl
 * s_client never call SSL_accept, SSL_connect or SSL_do_handshake, their handshake is done by
 * SSL_read; and a fatal alert, which sockleak does not see either, takes the session out of its
 * finished state (and sets SSL_RECEIVED_SHUTDOWN when the peer sent it). Resolved at SSL_new, so
 * that the exit, with sockleak's lock held, never has to resolve anything. */
static int (*state_init_finished)(const SSL *);
static int (*state_shutdown)(const SSL *);

static void resolve_state_readers(void)
{
	if (__atomic_load_n(&state_shutdown, __ATOMIC_RELAXED))
		return;
	SSL_REAL(int, SSL_is_init_finished, (const SSL *));
	SSL_REAL(int, SSL_get_shutdown, (const SSL *));
	__atomic_store_n(&state_init_finished, real_SSL_is_init_finished, __ATOMIC_RELAXED);
	if (real_SSL_is_init_finished)
		__atomic_store_n(&state_shutdown, real_SSL_get_shutdown, __ATOMIC_RELAXED);
}

/* Fills ev with s's state; 0 when the readers could not be found. Neither reader changes
 * anything in the object, nor errno. */
static int read_state(SSL *s, struct sl_event *ev)
{
	int (*sh)(const SSL *) = __atomic_load_n(&state_shutdown, __ATOMIC_RELAXED);
	int (*fin)(const SSL *) = __atomic_load_n(&state_init_finished, __ATOMIC_RELAXED);
	if (!sh || !fin)
		return 0;
	*ev = (struct sl_event){.type = SL_EV_SSL_SEEN, .obj = (uint64_t)(uintptr_t)s, .a = fin(s) == 1,
				.b = sh(s)};
	return 1;
}

static void record_state(SSL *s)
{
	struct sl_event ev;
	if (read_state(s, &ev))
		sl_record(&ev);
}

static void observe_live(void *ctx, uint64_t ssl)
{
	(void)ctx;
	struct sl_event ev;
	if (read_state((SSL *)(uintptr_t)ssl, &ev))
		sl_apply_locked(&ev);
}

/* Whether the state readers are still mapped at exit: a program may dlclose the library that
 * brought libssl in (lighttpd unloads mod_openssl), and a reader in unmapped code would crash
 * the exit. Asked before sockleak's lock is taken: dladdr takes the loader's lock. */
static int readers_mapped;

void sl_tls_check_readers(void)
{
	void *sh = (void *)__atomic_load_n(&state_shutdown, __ATOMIC_RELAXED);
	void *fin = (void *)__atomic_load_n(&state_init_finished, __ATOMIC_RELAXED);
	Dl_info a, b;
	readers_mapped = sh && fin && dladdr(sh, &a) && dladdr(fin, &b);
}

void sl_tls_observe_live_locked(void)
{
	if (sl_rt.opt.tls && readers_mapped)
		sl_tls_for_each_live(&sl_rt.state, observe_live, NULL);
}

/* ---- objects ---- */

/* Set at the first SSL_up_ref: until then every SSL_free releases an object's last reference,
 * and no SSL_free needs to ask. */
static int up_ref_seen;

/* Whether this SSL_free releases s's last reference. Asked before it is recorded. */
static int last_reference(SSL *s)
{
	if (!__atomic_load_n(&up_ref_seen, __ATOMIC_RELAXED))
		return 1;
	sl_lock();
	int last = sl_rt.state.exited || !sl_tls_free_drops_reference(&sl_rt.state, (uint64_t)(uintptr_t)s);
	sl_unlock();
	return last;
}

SL_EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
	SSL_REAL(SSL *, SSL_new, (SSL_CTX *));
	SSL_REAL(int, SSL_get_quiet_shutdown, (const SSL *));
	struct ssl_call c;
	enter(&c, NULL);
	SSL *s = real_SSL_new ? real_SSL_new(ctx) : NULL;
	leave(&c);
	if (s && tracking(&c)) {
		/* The context's quiet-shutdown setting is copied into each new SSL: read it here. */
		struct sl_event ev = {.type = SL_EV_SSL_NEW, .obj = (uint64_t)(uintptr_t)s,
				      .a = real_SSL_get_quiet_shutdown ? real_SSL_get_quiet_shutdown(s) : 0};
		sl_record_with_stack(&ev);
		resolve_state_readers();
		sl_tlsb_new(s);
		/* The first TLS session is when the data path starts to matter (datapath.c). */
		sl_datapath_enable();
		__atomic_store_n(&sl_tls_made, 1, __ATOMIC_RELAXED);
	}
	return s;
}

SL_EXPORT void SSL_free(SSL *s)
{
	SSL_REAL(void, SSL_free, (SSL *));
	struct ssl_call c;
	enter(&c, NULL);
	/* Recorded before the real free: another thread's SSL_new may get this address at once.
	 * OpenSSL's state first, while the object is still there to ask. */
	if (s && tracking(&c)) {
		record_state(s);
		/* A session still waiting to be bound by its traffic keeps waiting while it has
		 * references left. */
		int last = last_reference(s);
		struct sl_event ev = {.type = SL_EV_SSL_FREE, .obj = (uint64_t)(uintptr_t)s};
		/* "SSL_free at" is shown only with a finding: a stack for every free would be a fifth
		 * of what sockleak adds to a TLS connection. */
		if (sl_ssl_free_wants_stack((uint64_t)(uintptr_t)s))
			sl_record_with_stack(&ev);
		else
			sl_record(&ev);
		if (last)
			sl_tlsb_forget(s);
	}
	if (real_SSL_free)
		real_SSL_free(s);
	leave(&c);
}

/* Another reference: the session ends at the SSL_free that releases the last one. */
SL_EXPORT int SSL_up_ref(SSL *s)
{
	SSL_REAL(int, SSL_up_ref, (SSL *));
	struct ssl_call c;
	enter(&c, NULL);
	int r = real_SSL_up_ref ? real_SSL_up_ref(s) : 0;
	leave(&c);
	if (r == 1 && tracking(&c)) {
		__atomic_store_n(&up_ref_seen, 1, __ATOMIC_RELAXED);
		record(SL_EV_SSL_UP_REF, s, -1, 0, 0, 0);
	}
	return r;
}

SL_EXPORT int SSL_clear(SSL *s)
{
	SSL_REAL(int, SSL_clear, (SSL *));
	struct ssl_call c;
	enter(&c, NULL);
	int r = real_SSL_clear ? real_SSL_clear(s) : 0;
	leave(&c);
	if (r == 1 && tracking(&c))
		record(SL_EV_SSL_CLEAR, s, -1, 0, 0, 0);
	return r;
}

/* ---- binding to a socket ---- */

static void bind_fd(SSL *s, int fd, int how)
{
	if (!sl_tracked(fd))
		return;
	record(SL_EV_SSL_BIND, s, fd, how, 0, 0);
	sl_tlsb_forget(s);
}

SL_EXPORT int SSL_set_fd(SSL *s, int fd)
{
	SSL_REAL(int, SSL_set_fd, (SSL *, int));
	struct ssl_call c;
	enter(&c, NULL);
	int r = real_SSL_set_fd ? real_SSL_set_fd(s, fd) : 0;
	leave(&c);
	if (r == 1 && tracking(&c))
		bind_fd(s, fd, SL_TLS_BIND_FD);
	return r;
}

SL_EXPORT int SSL_set_rfd(SSL *s, int fd)
{
	SSL_REAL(int, SSL_set_rfd, (SSL *, int));
	struct ssl_call c;
	enter(&c, NULL);
	int r = real_SSL_set_rfd ? real_SSL_set_rfd(s, fd) : 0;
	leave(&c);
	if (r == 1 && tracking(&c))
		bind_fd(s, fd, SL_TLS_BIND_RFD);
	return r;
}

SL_EXPORT int SSL_set_wfd(SSL *s, int fd)
{
	SSL_REAL(int, SSL_set_wfd, (SSL *, int));
	struct ssl_call c;
	enter(&c, NULL);
	int r = real_SSL_set_wfd ? real_SSL_set_wfd(s, fd) : 0;
	leave(&c);
	if (r == 1 && tracking(&c))
		bind_fd(s, fd, SL_TLS_BIND_WFD);
	return r;
}

/* A BIO made by the program: a socket BIO names its descriptor; a memory or custom BIO does not,
 * and its session waits to be bound by its traffic. */
static void bios_given(SSL *s, BIO *rbio, BIO *wbio, int which)
{
	CRYPTO_REAL(long, BIO_ctrl, (BIO *, int, long, void *));
	BIO *b = which & 1 ? rbio : wbio;
	int fd = -1;
	if (b && real_BIO_ctrl && real_BIO_ctrl(b, BIO_C_GET_FD, 0, &fd) >= 0 && fd >= 0 && sl_tracked(fd)) {
		bind_fd(s, fd, which == 2 ? SL_TLS_BIND_WFD : which == 1 ? SL_TLS_BIND_RFD : SL_TLS_BIND_BIO);
		return;
	}
	sl_tlsb_set_bios(s, rbio, wbio, which);
}

SL_EXPORT void SSL_set_bio(SSL *s, BIO *rbio, BIO *wbio)
{
	SSL_REAL(void, SSL_set_bio, (SSL *, BIO *, BIO *));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_set_bio)
		real_SSL_set_bio(s, rbio, wbio);
	leave(&c);
	if (tracking(&c))
		bios_given(s, rbio, wbio, 3);
}

SL_EXPORT void SSL_set0_rbio(SSL *s, BIO *rbio)
{
	SSL_REAL(void, SSL_set0_rbio, (SSL *, BIO *));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_set0_rbio)
		real_SSL_set0_rbio(s, rbio);
	leave(&c);
	if (tracking(&c))
		bios_given(s, rbio, NULL, 1);
}

SL_EXPORT void SSL_set0_wbio(SSL *s, BIO *wbio)
{
	SSL_REAL(void, SSL_set0_wbio, (SSL *, BIO *));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_set0_wbio)
		real_SSL_set0_wbio(s, wbio);
	leave(&c);
	if (tracking(&c))
		bios_given(s, NULL, wbio, 2);
}

/* ---- handshake ---- */

static void handshake_done(SSL *s, int role)
{
	SSL_REAL(int, SSL_is_server, (const SSL *));
	if (role == 0 && real_SSL_is_server)
		role = real_SSL_is_server(s) ? 2 : 1;
	record(SL_EV_SSL_HANDSHAKE, s, -1, role, 0, 0);
}

SL_EXPORT int SSL_connect(SSL *s)
{
	SSL_REAL(int, SSL_connect, (SSL *));
	struct ssl_call c;
	enter(&c, s);
	int r = real_SSL_connect ? real_SSL_connect(s) : -1;
	leave(&c);
	if (r == 1 && tracking(&c))
		handshake_done(s, 1);
	return r;
}

SL_EXPORT int SSL_accept(SSL *s)
{
	SSL_REAL(int, SSL_accept, (SSL *));
	struct ssl_call c;
	enter(&c, s);
	int r = real_SSL_accept ? real_SSL_accept(s) : -1;
	leave(&c);
	if (r == 1 && tracking(&c))
		handshake_done(s, 2);
	return r;
}

SL_EXPORT int SSL_do_handshake(SSL *s)
{
	SSL_REAL(int, SSL_do_handshake, (SSL *));
	struct ssl_call c;
	enter(&c, s);
	int r = real_SSL_do_handshake ? real_SSL_do_handshake(s) : -1;
	leave(&c);
	if (r == 1 && tracking(&c))
		handshake_done(s, 0);
	return r;
}

SL_EXPORT void SSL_set_connect_state(SSL *s)
{
	SSL_REAL(void, SSL_set_connect_state, (SSL *));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_set_connect_state)
		real_SSL_set_connect_state(s);
	leave(&c);
	if (tracking(&c))
		record(SL_EV_SSL_STATE, s, -1, 1, 0, 0);
}

SL_EXPORT void SSL_set_accept_state(SSL *s)
{
	SSL_REAL(void, SSL_set_accept_state, (SSL *));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_set_accept_state)
		real_SSL_set_accept_state(s);
	leave(&c);
	if (tracking(&c))
		record(SL_EV_SSL_STATE, s, -1, 2, 0, 0);
}

/* ---- shutdown ---- */

/* Every call is recorded with its result, the error class when it failed, and the shutdown bits
 * right after it: what this call sent and received. (The bits at free time only add facts: curl
 * calls SSL_set_connect_state after its shutdown, which clears them.) */
SL_EXPORT int SSL_shutdown(SSL *s)
{
	SSL_REAL(int, SSL_shutdown, (SSL *));
	SSL_REAL(int, SSL_get_error, (const SSL *, int));
	SSL_REAL(int, SSL_get_shutdown, (const SSL *));
	struct ssl_call c;
	enter(&c, s);
	int r = real_SSL_shutdown ? real_SSL_shutdown(s) : -1;
	leave(&c);
	if (tracking(&c)) {
		int saved = errno;
		/* SSL_get_error only peeks at the error queue: the program's own call sees the same. */
		int err = r < 0 && real_SSL_get_error ? real_SSL_get_error(s, r) : 0;
		int bits = real_SSL_get_shutdown ? real_SSL_get_shutdown(s) : 0;
		record(SL_EV_SSL_SHUTDOWN, s, -1, r, err, bits);
		/* After the call's own facts: what OpenSSL adds to them (a handshake done implicitly). */
		record_state(s);
		errno = saved;
	}
	return r;
}

SL_EXPORT void SSL_set_shutdown(SSL *s, int mode)
{
	SSL_REAL(void, SSL_set_shutdown, (SSL *, int));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_set_shutdown)
		real_SSL_set_shutdown(s, mode);
	leave(&c);
	if (tracking(&c))
		record(SL_EV_SSL_SET_SHUTDOWN, s, -1, mode, 0, 0);
}

SL_EXPORT void SSL_set_quiet_shutdown(SSL *s, int mode)
{
	SSL_REAL(void, SSL_set_quiet_shutdown, (SSL *, int));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_set_quiet_shutdown)
		real_SSL_set_quiet_shutdown(s, mode);
	leave(&c);
	if (tracking(&c))
		record(SL_EV_SSL_QUIET, s, -1, mode != 0, 0, 0);
}

/* Nothing to record: every SSL made from this context afterwards copies the setting, and
 * SSL_new reads it from the new object. Interposed so that a call from inside libssl is not
 * mistaken for the program's. */
SL_EXPORT void SSL_CTX_set_quiet_shutdown(SSL_CTX *ctx, int mode)
{
	SSL_REAL(void, SSL_CTX_set_quiet_shutdown, (SSL_CTX *, int));
	struct ssl_call c;
	enter(&c, NULL);
	if (real_SSL_CTX_set_quiet_shutdown)
		real_SSL_CTX_set_quiet_shutdown(ctx, mode);
	leave(&c);
}

/* ---- memory BIO traffic (libcrypto) ---- */

SL_EXPORT int BIO_read(BIO *b, void *data, int dlen)
{
	CRYPTO_REAL(int, BIO_read, (BIO *, void *, int));
	int r = real_BIO_read ? real_BIO_read(b, data, dlen) : -1;
	if (r > 0 && sl_tls_binding_wanted() && !sl_vfork_child) {
		int saved = errno;
		sl_tlsb_after_bio_read(b, data, r);
		errno = saved;
	}
	return r;
}

SL_EXPORT int BIO_write(BIO *b, const void *data, int dlen)
{
	CRYPTO_REAL(int, BIO_write, (BIO *, const void *, int));
	if (sl_tls_binding_wanted() && !sl_vfork_child)
		sl_tlsb_before_bio_write(b, data, dlen);
	return real_BIO_write ? real_BIO_write(b, data, dlen) : -1;
}

/* ---- programs with an OpenSSL of their own ---- */

/* Node.js and others link OpenSSL statically: their SSL_new is found in the executable before
 * this library's, so no session is ever seen. Say so rather than report nothing silently. */
const char *sl_tls_visibility_note(const void *main_fn)
{
	Dl_info self, found, exe;
	void *p = dlsym(RTLD_DEFAULT, "SSL_new");
	if (!p || !main_fn || !dladdr((void *)&sl_tls_visibility_note, &self) || !dladdr(p, &found) ||
	    !dladdr(main_fn, &exe))
		return NULL;
	if (found.dli_fbase != self.dli_fbase && found.dli_fbase == exe.dli_fbase)
		return "this program carries its own OpenSSL (SSL_new is defined in the executable): its TLS "
		       "sessions are not visible to sockleak, only its sockets";
	return NULL;
}
