/* Binding TLS sessions that carry no descriptor (memory BIOs, custom BIOs) to their socket, by
 * watching their traffic:
 *  - the program reads bytes out of the session's write BIO and sends that same buffer, same
 *    length, on a socket (asyncio's SSL transport);
 *  - the program receives into a buffer and writes that buffer into the session's read BIO;
 *  - a socket is read or written from inside an SSL_* call on the session (curl's BIO callbacks).
 * Everything here is skipped while no session waits to be bound, so the data-path hooks cost a
 * load and a branch. */
#include <string.h>

#include "preload.h"
#include "tls_binding.h"

#define MAX_PENDING 256

struct pending {
	void *ssl;
	void *rbio;
	void *wbio;
};

int sl_tls_unbound; /* sessions waiting to be bound; read without the lock */
int sl_tls_made;    /* see tls_binding.h */
static struct pending pend[MAX_PENDING];
static int pend_hw; /* slots in use are below this mark */

__thread void *sl_tls_current SL_TLS_MODEL; /* the session an SSL_* call on this thread works on */
__thread int sl_tls_depth SL_TLS_MODEL;     /* SSL_* calls nested on this thread */

/* What this thread last did that may be half of a binding. */
static __thread const void *out_buf SL_TLS_MODEL; /* bytes read out of a pending session's write BIO */
static __thread size_t out_len SL_TLS_MODEL;
static __thread void *out_ssl SL_TLS_MODEL;
static __thread int in_fd SL_TLS_MODEL = -1;      /* bytes received from a socket */
static __thread const void *in_buf SL_TLS_MODEL;
static __thread size_t in_len SL_TLS_MODEL;

static struct pending *find_ssl(void *ssl)
{
	int hw = __atomic_load_n(&pend_hw, __ATOMIC_ACQUIRE);
	for (int i = 0; i < hw; i++)
		if (__atomic_load_n(&pend[i].ssl, __ATOMIC_RELAXED) == ssl)
			return &pend[i];
	return NULL;
}

/* sl_tlsb_new and sl_tlsb_forget take sockleak's lock: the re-entry guard is set while they
 * hold it, so that a signal handler making a socket meanwhile defers its event instead of
 * waiting for ever on its own thread's lock. Called with the guard already set (a handler that
 * interrupted sockleak, whose lock this thread may hold), they take no lock: a new session is
 * then never bound by its traffic (reported on its own, as when every slot is taken), and a
 * forgotten one leaves its slot by compare-and-swap. */
void sl_tlsb_new(void *ssl)
{
	if (sl_in_hook)
		return;
	sl_lock_outside_hook();
	struct pending *p = find_ssl(ssl);
	for (int i = 0; !p && i < MAX_PENDING; i++) {
		if (pend[i].ssl == NULL) {
			p = &pend[i];
			if (i >= pend_hw)
				__atomic_store_n(&pend_hw, i + 1, __ATOMIC_RELEASE);
			__atomic_add_fetch(&sl_tls_unbound, 1, __ATOMIC_RELAXED);
		}
	}
	/* With every slot taken, the session is simply never bound by its traffic: it is then
	 * reported on its own, with its creation stack. */
	if (p) {
		__atomic_store_n(&p->rbio, NULL, __ATOMIC_RELAXED);
		__atomic_store_n(&p->wbio, NULL, __ATOMIC_RELAXED);
		__atomic_store_n(&p->ssl, ssl, __ATOMIC_RELEASE);
	}
	sl_unlock_outside_hook();
}

void sl_tlsb_on_peer_end(int fd)
{
	int saved = errno;
	if (sl_tracked(fd) && sl_active()) {
		struct sl_event ev = {.type = SL_EV_SHUTDOWN, .fd = fd, .a = SL_SHUT_PEER};
		sl_record(&ev);
	}
	errno = saved;
}

void sl_tlsb_set_bios(void *ssl, void *rbio, void *wbio, int which)
{
	struct pending *p = find_ssl(ssl);
	if (!p)
		return;
	if (which & 1)
		__atomic_store_n(&p->rbio, rbio, __ATOMIC_RELAXED);
	if (which & 2)
		__atomic_store_n(&p->wbio, wbio, __ATOMIC_RELAXED);
}

void sl_tlsb_forget(void *ssl)
{
	int guard = sl_in_hook;
	if (!guard)
		sl_lock_outside_hook();
	struct pending *p = find_ssl(ssl);
	void *expected = ssl;
	if (p && __atomic_compare_exchange_n(&p->ssl, &expected, NULL, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		__atomic_sub_fetch(&sl_tls_unbound, 1, __ATOMIC_RELAXED);
	if (!guard)
		sl_unlock_outside_hook();
	if (out_ssl == ssl)
		out_ssl = NULL;
}

int sl_tlsb_pending(void *ssl)
{
	return sl_tls_unbound > 0 && find_ssl(ssl) != NULL;
}

/* Binds a pending session to the socket its traffic went through. */
static void bind_traffic(void *ssl, int fd)
{
	if (!sl_tracked(fd) || !find_ssl(ssl))
		return;
	struct sl_event ev = {.type = SL_EV_SSL_BIND, .obj = (uint64_t)(uintptr_t)ssl, .fd = fd,
			      .a = SL_TLS_BIND_TRAFFIC};
	sl_record(&ev);
	sl_tlsb_forget(ssl);
}

void sl_tlsb_on_send(int fd, const void *buf, size_t len)
{
	int saved = errno;
	if (sl_tls_current && sl_tls_depth > 0)
		bind_traffic(sl_tls_current, fd);
	else if (out_ssl && buf == out_buf && len == out_len)
		bind_traffic(out_ssl, fd);
	errno = saved;
}

void sl_tlsb_on_recv(int fd, const void *buf, size_t len)
{
	int saved = errno;
	if (sl_tls_current && sl_tls_depth > 0) {
		bind_traffic(sl_tls_current, fd);
	} else if (sl_tracked(fd)) {
		in_fd = fd;
		in_buf = buf;
		in_len = len;
	}
	errno = saved;
}

static struct pending *find_bio(const void *bio, int want_wbio)
{
	int hw = __atomic_load_n(&pend_hw, __ATOMIC_ACQUIRE);
	for (int i = 0; i < hw; i++) {
		const void *b = __atomic_load_n(want_wbio ? &pend[i].wbio : &pend[i].rbio, __ATOMIC_RELAXED);
		if (b == bio && __atomic_load_n(&pend[i].ssl, __ATOMIC_RELAXED))
			return &pend[i];
	}
	return NULL;
}

void sl_tlsb_after_bio_read(void *bio, const void *buf, int n)
{
	struct pending *p = find_bio(bio, 1);
	if (!p) {
		/* This thread's latest BIO read is another BIO's: a later send of a buffer at the
		 * pending session's old address is not its bytes. Python frees the bytes object
		 * of each read, and the allocator hands the same address to the next one of the
		 * same size: TLS over TLS in CPython's asyncio tests had the outer session's
		 * close_notify (24 bytes, in the block the inner one's 24 bytes had used) bind the
		 * inner session to the socket, which unbound the outer one. */
		out_ssl = NULL;
		return;
	}
	out_ssl = __atomic_load_n(&p->ssl, __ATOMIC_RELAXED);
	out_buf = buf;
	out_len = (size_t)n;
}

void sl_tlsb_before_bio_write(void *bio, const void *buf, int n)
{
	if (in_fd < 0 || n <= 0)
		return;
	/* The received bytes, or the front of them, going into a pending session's read BIO. */
	if ((const char *)buf < (const char *)in_buf || (const char *)buf + n > (const char *)in_buf + in_len)
		return;
	struct pending *p = find_bio(bio, 0);
	if (!p)
		return;
	int saved = errno;
	bind_traffic(__atomic_load_n(&p->ssl, __ATOMIC_RELAXED), in_fd);
	in_fd = -1;
	errno = saved;
}
