// Four client threads make 12,000 connections to an epoll server thread; descriptor numbers are
// reused all the time. Every 300th client socket is leaked on purpose: exactly 40, no more, no
// fewer, and nothing on the server side.
// EXPECT: tcp4 client never-closed @client_thread x40
// EXPECT-EXIT: 23
// TIMEOUT: 120
#include <pthread.h>
#include "testlib.h"

#define THREADS 4
#define PER_THREAD 3000
#define LEAK_EVERY 300

static int port;
static int listener;
static volatile int clients_done;

static void *client_thread(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		int c = tl_connect(port);
		char buf[64] = {0};
		CHECK(write(c, buf, sizeof(buf)) == sizeof(buf));
		size_t got = 0;
		while (got < sizeof(buf)) {
			ssize_t r = read(c, buf + got, sizeof(buf) - got);
			CHECK(r > 0);
			got += (size_t)r;
		}
		if ((id * PER_THREAD + i) % LEAK_EVERY != LEAK_EVERY - 1)
			close(c);
	}
	__atomic_add_fetch(&clients_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static char open_fds[65536]; /* accepted descriptors still open, closed when the clients are done */

static void *server_thread(void *arg)
{
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) == 0);
	while (__atomic_load_n(&clients_done, __ATOMIC_SEQ_CST) < THREADS) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == listener) {
				int a = accept4(listener, NULL, NULL, 0);
				CHECK(a >= 0);
				struct epoll_event aev = {.events = EPOLLIN, .data.fd = a};
				CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &aev) == 0);
				open_fds[a] = 1;
				continue;
			}
			char buf[64];
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r > 0) {
				CHECK(write(fd, buf, (size_t)r) == r);
				continue;
			}
			CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0);
			open_fds[fd] = 0;
			close(fd);
		}
	}
	for (int fd = 0; fd < 65536; fd++) {
		if (!open_fds[fd])
			continue;
		CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0);
		close(fd);
	}
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, listener, NULL) == 0);
	close(ep);
	return NULL;
}

int main(void)
{
	listener = tl_listener(&port);
	pthread_t server, clients[THREADS];
	CHECK(pthread_create(&server, NULL, server_thread, NULL) == 0);
	for (long i = 0; i < THREADS; i++)
		CHECK(pthread_create(&clients[i], NULL, client_thread, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(clients[i], NULL);
	pthread_join(server, NULL);
	close(listener);
	return 0;
}
