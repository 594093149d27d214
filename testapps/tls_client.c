/* A TLS client with one known way of ending its session per mode; tests/test_tls.py runs each
 * against tests/tls_peer.py and checks the exact findings.
 *
 *   tls_client STYLE-ENDING PORT
 *
 * STYLE is "fd" (SSL_set_fd) or "mem" (memory BIOs pumped by hand over the socket, as asyncio
 * does: bytes read out of the write BIO are sent, bytes received are written into the read BIO).
 * ENDING is one of:
 *   twoway     SSL_shutdown until the peer's close_notify arrives, SSL_free, close
 *   oneway     one SSL_shutdown (close_notify sent), SSL_free, close: curl's way, clean
 *   none       no SSL_shutdown at all, SSL_free, close
 *   abandoned  close_notify sent, the peer's awaited (SSL_ERROR_WANT_READ), then SSL_free, close:
 *              a one-way close by the program itself, clean (issue 11)
 *   atexit     as abandoned, but SSL_free and close are left to an atexit handler: cut short by
 *              exit-time cleanup, abandoned
 *   leftopen   as abandoned, but the socket is never closed: the TLS line says one-way
 *   loopclosed as abandoned, but first the socket's epoll set is closed with it still
 *              registered: cut short by its loop's teardown, abandoned
 *   upref      SSL_up_ref, SSL_free, then a clean two-way shutdown and the last SSL_free: clean
 *   upreflost  SSL_up_ref, a clean two-way shutdown, one SSL_free: the last reference leaks
 *   uprefearly SSL_up_ref and SSL_free before the handshake (in memory style, before the
 *              session is bound by its traffic); no SSL_shutdown, SSL_free, close: the warning
 *              lands on the socket
 *   implicit   no SSL_connect: SSL_write does the handshake; no SSL_shutdown, SSL_free, close
 *   implicitleak  as implicit, and never SSL_free (lighttpd stopped with SIGTERM)
 *   corrupt    (mem only) a damaged record arrives: SSL_read fails, OpenSSL sends a fatal alert
 *              and marks the session shut down; SSL_free, close (CPython's
 *              test_start_tls_client_corrupted_ssl)
 *   corruptopen (mem only) as corrupt, but the socket is never closed: the JSON report's tls
 *              object says fatal_alert
 *   corruptclosefirst (mem only) as corrupt, but the socket is closed before SSL_free, as
 *              asyncio's transport does: the fatal alert is learned only at SSL_free
 *   notfreed   a clean two-way shutdown, close, but never SSL_free
 *   quiet      SSL_set_quiet_shutdown(1) then SSL_shutdown: nothing sent, by choice
 *   nginx      the peer closes first; then quiet shutdown and SSL_set_shutdown(3), like nginx
 *   curl       one SSL_shutdown, then SSL_set_connect_state (which clears OpenSSL's own bits)
 *   unbound    an extra SSL object never bound to any socket and never freed
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

#include "testlib.h"

static int mem_style;
static int sock = -1;
static BIO *rbio, *wbio;
static SSL *exit_ssl;

static void free_at_exit(void)
{
	SSL_free(exit_ssl);
	close(sock);
}

/* close_notify sent, the peer's awaited: SSL_shutdown returns 0, then -1 wanting to read. */
static int drive(SSL *ssl, int (*op)(SSL *), int max_waits);
static void begin_two_way(SSL *ssl)
{
	CHECK(drive(ssl, SSL_shutdown, 0) == 0);
	if (!mem_style)
		CHECK(fcntl(sock, F_SETFL, O_NONBLOCK) == 0);
	int r = SSL_shutdown(ssl); /* the peer answers late: nothing to read yet */
	CHECK(r < 0 && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ);
}

/* Moves pending output from the write BIO to the socket. */
static void flush_out(void)
{
	char buf[16384];
	int n;
	while ((n = BIO_read(wbio, buf, sizeof(buf))) > 0)
		CHECK(send(sock, buf, (size_t)n, 0) == n);
}

/* Moves what the socket has into the read BIO; waits up to ms for it. Returns bytes moved. */
static int pump_in(int ms)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	if (poll(&p, 1, ms) <= 0)
		return 0;
	char buf[16384];
	ssize_t n = recv(sock, buf, sizeof(buf), 0);
	if (n > 0)
		CHECK(BIO_write(rbio, buf, (int)n) == n);
	return n > 0 ? (int)n : 0;
}

/* Runs an SSL call to completion, pumping bytes in memory style. Returns its last result. */
static int drive(SSL *ssl, int (*op)(SSL *), int max_waits)
{
	for (int i = 0;; i++) {
		int r = op(ssl);
		if (mem_style)
			flush_out();
		if (r > 0 || !mem_style || i >= max_waits)
			return r;
		int err = SSL_get_error(ssl, r);
		if (err != SSL_ERROR_WANT_READ)
			return r;
		if (!pump_in(5000))
			return r;
	}
}

static int do_write(SSL *ssl)
{
	return SSL_write(ssl, "hello", 5);
}

static char reply[16];
static int do_read(SSL *ssl)
{
	return SSL_read(ssl, reply, sizeof(reply));
}

int main(int argc, char **argv)
{
	CHECK(argc == 3);
	char style[16];
	const char *ending = strchr(argv[1], '-');
	CHECK(ending && ending - argv[1] < (long)sizeof(style));
	memcpy(style, argv[1], (size_t)(ending - argv[1]));
	style[ending - argv[1]] = '\0';
	ending++;
	mem_style = strcmp(style, "mem") == 0;

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	CHECK(ctx);
	sock = tl_connect(atoi(argv[2]));
	SSL *ssl = SSL_new(ctx);
	CHECK(ssl);
	if (mem_style) {
		rbio = BIO_new(BIO_s_mem());
		wbio = BIO_new(BIO_s_mem());
		SSL_set_bio(ssl, rbio, wbio);
		SSL_set_connect_state(ssl);
	} else {
		CHECK(SSL_set_fd(ssl, sock) == 1);
	}
	if (!strcmp(ending, "uprefearly")) {
		CHECK(SSL_up_ref(ssl) == 1);
		SSL_free(ssl); /* only a reference: the session, still unbound, goes on */
	}
	int implicit = strncmp(ending, "implicit", 8) == 0;
	if (implicit)
		SSL_set_connect_state(ssl); /* the handshake is left to SSL_write, as s_client does */
	else
		CHECK(drive(ssl, mem_style ? SSL_do_handshake : SSL_connect, 20) == 1);
	CHECK(drive(ssl, do_write, implicit ? 20 : 0) == 5);
	CHECK(drive(ssl, do_read, 20) == 5);

	if (!strcmp(ending, "twoway") || !strcmp(ending, "notfreed")) {
		CHECK(drive(ssl, SSL_shutdown, 0) == 0);
		CHECK(drive(ssl, SSL_shutdown, 20) == 1);
	} else if (!strcmp(ending, "oneway")) {
		CHECK(drive(ssl, SSL_shutdown, 0) == 0);
	} else if (!strcmp(ending, "abandoned")) {
		begin_two_way(ssl);
	} else if (!strcmp(ending, "atexit")) {
		begin_two_way(ssl);
		exit_ssl = ssl;
		atexit(free_at_exit);
		SSL_CTX_free(ctx);
		return 0;
	} else if (!strcmp(ending, "leftopen")) {
		begin_two_way(ssl);
		SSL_free(ssl);
		SSL_CTX_free(ctx);
		return 0; /* the socket is never closed */
	} else if (!strcmp(ending, "loopclosed")) {
		begin_two_way(ssl);
		int ep = epoll_create1(0);
		struct epoll_event e = {.events = EPOLLIN};
		CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, sock, &e) == 0);
		close(ep); /* the loop is closed under its socket */
	} else if (!strcmp(ending, "upref") || !strcmp(ending, "upreflost")) {
		CHECK(SSL_up_ref(ssl) == 1);
		if (!strcmp(ending, "upref"))
			SSL_free(ssl); /* only a reference: the session goes on */
		CHECK(drive(ssl, SSL_shutdown, 0) == 0);
		CHECK(drive(ssl, SSL_shutdown, 20) == 1);
	} else if (!strcmp(ending, "corrupt") || !strcmp(ending, "corruptopen") || !strcmp(ending, "corruptclosefirst")) {
		CHECK(mem_style);
		static const unsigned char junk[5 + 64] = {0x17, 0x03, 0x03, 0x00, 64};
		CHECK(BIO_write(rbio, junk, sizeof(junk)) == (int)sizeof(junk));
		int r = SSL_read(ssl, reply, sizeof(reply));
		CHECK(r <= 0 && SSL_get_error(ssl, r) == SSL_ERROR_SSL);
		flush_out(); /* the alert */
		ERR_clear_error();
		/* OpenSSL 3.0 sets no shutdown bit for the alert it sent; it leaves the finished state. */
		CHECK(SSL_is_init_finished(ssl) == 0);
	} else if (!strcmp(ending, "implicitleak")) {
		close(sock);
		SSL_CTX_free(ctx);
		return 0; /* ssl is never freed */
	} else if (!strcmp(ending, "quiet")) {
		SSL_set_quiet_shutdown(ssl, 1);
		CHECK(drive(ssl, SSL_shutdown, 0) == 1);
	} else if (!strcmp(ending, "nginx")) {
		CHECK(drive(ssl, do_read, 20) == 0); /* the peer's close_notify */
		CHECK(SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN);
		SSL_set_quiet_shutdown(ssl, 1);
		SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN | SSL_SENT_SHUTDOWN);
		CHECK(SSL_shutdown(ssl) == 1);
	} else if (!strcmp(ending, "curl")) {
		CHECK(drive(ssl, SSL_shutdown, 0) == 0);
		SSL_set_connect_state(ssl);
		CHECK(SSL_get_shutdown(ssl) == 0); /* OpenSSL's own bits are gone: sockleak must not rely on them */
	} else if (!strcmp(ending, "unbound")) {
		CHECK(drive(ssl, SSL_shutdown, 0) == 0);
		SSL *extra = SSL_new(ctx); /* never bound, never freed */
		CHECK(extra);
		SSL *freed = SSL_new(ctx); /* never bound, freed: nothing to say */
		SSL_free(freed);
	} else {
		CHECK(strcmp(ending, "none") == 0 || strcmp(ending, "implicit") == 0 ||
		      strcmp(ending, "uprefearly") == 0);
	}
	int close_first = !strcmp(ending, "corruptclosefirst");
	if (close_first)
		close(sock);
	if (strcmp(ending, "notfreed") != 0)
		SSL_free(ssl);
	if (!close_first && strcmp(ending, "corruptopen") != 0)
		close(sock);
	SSL_CTX_free(ctx);
	return 0;
}
