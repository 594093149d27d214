// SSL_up_ref (issue 11): a session ends at the SSL_free of its last reference. One SSL object
// takes an extra reference and is freed twice: nothing to say, the first SSL_free only dropped
// a reference. Another takes one and is freed once: its last reference leaks. It is reported on
// its own, as a TLS session never bound to a socket, with the counts.
// EXPECT: tls none tls-not-freed @leak_a_reference
// EXPECT-EXIT: 23
// EXPECT-STDERR: SSL_up_ref was called 1 time and SSL_free 1 time, so its last reference was never released
// EXPECT-STDERR: SSL_free called 1 time, 1 reference left (SSL_up_ref)
#include <openssl/ssl.h>

#include "testlib.h"

static void free_both_references(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	CHECK(ssl && SSL_up_ref(ssl) == 1);
	SSL_free(ssl);
	SSL_free(ssl);
}

static void __attribute__((noinline)) leak_a_reference(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	CHECK(ssl && SSL_up_ref(ssl) == 1);
	SSL_free(ssl); /* the other reference is never released */
}

int main(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	CHECK(ctx);
	free_both_references(ctx);
	leak_a_reference(ctx);
	SSL_CTX_free(ctx);
	return 0;
}
