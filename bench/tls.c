/* tls: TLS connection churn over loopback with OpenSSL 3. Per connection, on both sides: a full
 * handshake, one 64-byte echo, a two-way SSL_shutdown (close_notify sent and received), SSL_free
 * and close. A TLS tracker sees every one of these calls; without one (sockleak before TLS
 * tracking, or tls=0) only the socket lifecycle is tracked.
 *
 *   tls [CONNECTIONS]   (default 2,000)
 *
 * The key (EC P-256) and its self-signed certificate are made in memory at start-up, so the
 * program needs no files. Session caching and tickets are off: every handshake is a full one.
 * The client runs in main, the server in a thread, both with blocking sockets. */
#include <netinet/tcp.h>
#include <pthread.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "benchlib.h"

#define MSG 64

#define SSL_CHECK(x)                                                                                   \
	do {                                                                                           \
		if (!(x)) {                                                                            \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #x);                 \
			ERR_print_errors_fp(stderr);                                                   \
			_exit(99);                                                                     \
		}                                                                                      \
	} while (0)

static int listener;
static long connections;
static SSL_CTX *server_ctx, *client_ctx;

static SSL_CTX *make_server_ctx(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	SSL_CHECK(key);
	X509 *cert = X509_new();
	SSL_CHECK(cert);
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	SSL_CHECK(X509_set_pubkey(cert, key));
	X509_NAME *name = X509_get_subject_name(cert);
	SSL_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0));
	SSL_CHECK(X509_set_issuer_name(cert, name));
	SSL_CHECK(X509_sign(cert, key, EVP_sha256()));

	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL_CHECK(ctx);
	SSL_CHECK(SSL_CTX_use_certificate(ctx, cert) == 1);
	SSL_CHECK(SSL_CTX_use_PrivateKey(ctx, key) == 1);
	/* Every connection pays a full handshake, as churn from many distinct clients would. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
}

/* A two-way shutdown: send close_notify, then wait for the peer's. */
static void shutdown_two_way(SSL *ssl)
{
	int r = SSL_shutdown(ssl);
	if (r == 0)
		r = SSL_shutdown(ssl);
	SSL_CHECK(r == 1);
}

static void ssl_read_all(SSL *ssl, char *buf, int n)
{
	int got = 0;
	while (got < n) {
		int r = SSL_read(ssl, buf + got, n - got);
		SSL_CHECK(r > 0);
		got += r;
	}
}

/* A handshake is several small writes in a row: with Nagle's algorithm on, each waits for the
 * peer's delayed ACK (40 ms on Linux), and the benchmark would time nothing but that. */
static void no_delay(int fd)
{
	int one = 1;
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
}

static void *server_thread(void *arg)
{
	for (long i = 0; i < connections; i++) {
		int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		CHECK(fd >= 0);
		no_delay(fd);
		SSL *ssl = SSL_new(server_ctx);
		SSL_CHECK(ssl);
		SSL_CHECK(SSL_set_fd(ssl, fd) == 1);
		SSL_CHECK(SSL_accept(ssl) == 1);
		char buf[MSG];
		ssl_read_all(ssl, buf, MSG);
		SSL_CHECK(SSL_write(ssl, buf, MSG) == MSG);
		shutdown_two_way(ssl);
		SSL_free(ssl);
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	connections = bl_count(argc, argv, 2000);
	server_ctx = make_server_ctx();
	client_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CHECK(client_ctx);
	SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_OFF);
	int port;
	listener = bl_listener(&port, 1024);
	pthread_t server;
	CHECK(pthread_create(&server, NULL, server_thread, NULL) == 0);

	double start = bl_now();
	char msg[MSG], echo[MSG];
	memset(msg, 't', sizeof(msg));
	for (long i = 0; i < connections; i++) {
		int fd = bl_connect(port);
		no_delay(fd);
		SSL *ssl = SSL_new(client_ctx);
		SSL_CHECK(ssl);
		SSL_CHECK(SSL_set_fd(ssl, fd) == 1);
		SSL_CHECK(SSL_connect(ssl) == 1);
		SSL_CHECK(SSL_write(ssl, msg, MSG) == MSG);
		ssl_read_all(ssl, echo, MSG);
		shutdown_two_way(ssl);
		SSL_free(ssl);
		close(fd);
	}
	CHECK(pthread_join(server, NULL) == 0);
	double secs = bl_now() - start;

	close(listener);
	SSL_CTX_free(client_ctx);
	SSL_CTX_free(server_ctx);
	bl_result("tls", "connection", connections, secs);
	return 0;
}
