/* A TLS client that binds its session the way libevent's bufferevent_openssl and openssl
 * s_client do: SSL_set_bio with a socket BIO (BIO_new_socket), not SSL_set_fd. It ends the
 * session without SSL_shutdown, so that the report shows its TLS line; tests/test_runtimes.py
 * runs it against tests/tls_peer.py and checks that the line names SSL_set_bio.
 *
 *   tls_set_bio PORT
 */
#include <openssl/ssl.h>

#include "testlib.h"

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	CHECK(ctx);
	int fd = tl_connect(atoi(argv[1]));
	SSL *s = SSL_new(ctx);
	BIO *b = BIO_new_socket(fd, BIO_NOCLOSE);
	CHECK(s && b);
	SSL_set_bio(s, b, b);
	CHECK(SSL_connect(s) == 1);
	char buf[16];
	CHECK(SSL_write(s, "hello\n", 6) == 6);
	CHECK(SSL_read(s, buf, sizeof(buf)) == 6);
	SSL_free(s); /* no SSL_shutdown: tls-no-close-notify */
	close(fd);
	SSL_CTX_free(ctx);
	return 0;
}
