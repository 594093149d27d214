/* churn: connection churn through a loopback epoll server, the workload where a leak detector
 * pays the most: every connection is two transports made, registered, removed and closed.
 *
 * Client, per connection: socket, connect, write 64 bytes, read the echo, close.
 * Server, per connection: accept, EPOLL_CTL_ADD, read, echo, EPOLL_CTL_DEL, close.
 *
 *   churn [CONNECTIONS]   (default 20,000)
 *
 * The client runs in main, one connection at a time; the server is a thread. The time is taken
 * from the first connect to the server's last close, so start-up and the exit are not in it. */
#include <pthread.h>

#include "benchlib.h"

#define MSG 64
#define MAX_FD 65536

static int listener;
static long connections;

static void *server_thread(void *arg)
{
	static unsigned char got[MAX_FD]; /* bytes echoed so far, per accepted descriptor */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = listener};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev) == 0);
	long done = 0;
	while (done < connections) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == listener) {
				int a = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
				CHECK(a >= 0 && a < MAX_FD);
				struct epoll_event aev = {.events = EPOLLIN, .data.fd = a};
				CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &aev) == 0);
				got[a] = 0;
				continue;
			}
			char buf[MSG];
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			CHECK(r >= 0);
			if (r > 0) {
				bl_write_all(fd, buf, (size_t)r);
				got[fd] = (unsigned char)(got[fd] + r);
			}
			/* The whole message echoed, or the client gone: this connection is done. */
			if (r == 0 || got[fd] >= MSG) {
				CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0);
				close(fd);
				done++;
			}
		}
	}
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, listener, NULL) == 0);
	close(ep);
	return NULL;
}

int main(int argc, char **argv)
{
	connections = bl_count(argc, argv, 20000);
	int port;
	listener = bl_listener(&port, 1024);
	pthread_t server;
	CHECK(pthread_create(&server, NULL, server_thread, NULL) == 0);

	double start = bl_now();
	char msg[MSG], echo[MSG];
	memset(msg, 'x', sizeof(msg));
	for (long i = 0; i < connections; i++) {
		int c = bl_connect(port);
		bl_write_all(c, msg, sizeof(msg));
		bl_read_all(c, echo, sizeof(echo));
		close(c);
	}
	CHECK(pthread_join(server, NULL) == 0);
	double secs = bl_now() - start;

	close(listener);
	bl_result("churn", "connection", connections, secs);
	return 0;
}
