/* A TLS client whose connect does not block (as trio, twisted, uvloop and Ruby connect), and
 * whose session ends when its socket is closed, before SSL_free and without SSL_shutdown: the
 * finding is raised when the descriptor is already gone, so its local address must have been
 * learned earlier. tests/test_runtimes.py runs it against tests/tls_peer.py.
 *
 *   tls_nonblocking_connect PORT
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>

#include "testlib.h"

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	CHECK(ctx);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	CHECK(poll(&p, 1, 10000) == 1);
	CHECK(fcntl(fd, F_SETFL, 0) == 0); /* blocking from here on: the handshake is not the point */
	SSL *s = SSL_new(ctx);
	CHECK(s && SSL_set_fd(s, fd) == 1 && SSL_connect(s) == 1);
	char buf[16];
	CHECK(SSL_write(s, "hello\n", 6) == 6);
	CHECK(SSL_read(s, buf, sizeof(buf)) == 6);
	close(fd); /* the session ends here: tls-no-close-notify */
	SSL_free(s);
	SSL_CTX_free(ctx);
	return 0;
}
