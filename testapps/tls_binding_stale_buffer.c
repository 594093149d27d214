// A TLS session waiting to be bound by its traffic must not be bound by bytes that only reuse
// the address of its own last read. Here the session's ClientHello is read out of its write
// BIO into a buffer and never sent; then another memory BIO is read into the same buffer, same
// length, and that is sent on the socket. (CPython's asyncio tests did this by accident: with
// TLS over TLS, the outer session's close_notify landed in the bytes object the inner one's
// had used, bound the inner session to the socket and unbound the outer one.) The session is
// never freed: reported on its own, as a TLS session never bound to a socket; the socket itself
// is closed and clean.
// EXPECT: tls none tls-not-freed @main
// EXPECT-EXIT: 23
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	CHECK(ctx);
	SSL *ssl = SSL_new(ctx);
	CHECK(ssl);
	BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_connect_state(ssl);
	CHECK(SSL_do_handshake(ssl) <= 0); /* the ClientHello waits in the write BIO */
	static char buf[4096];
	int n = BIO_read(wbio, buf, sizeof(buf));
	CHECK(n > 0);
	BIO *other = BIO_new(BIO_s_mem());
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	CHECK(BIO_write(other, junk, n) == n);
	CHECK(BIO_read(other, buf, n) == n); /* same buffer, same length, another BIO's bytes */
	CHECK(send(c, buf, (size_t)n, 0) == n);
	BIO_free(other);
	close(a);
	close(c);
	close(l);
	return 0; /* ssl is never freed */
}
