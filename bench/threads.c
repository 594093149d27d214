/* threads: connection churn on several threads at once, each through its own loopback epoll
 * server, so that nothing but sockleak's lock is shared between them (issue 12).
 *
 * Each thread, per connection: socket, connect, write 64 bytes; then, as the server, accept,
 * EPOLL_CTL_ADD, read, echo, EPOLL_CTL_DEL, close; then, as the client again, read the echo and
 * close. One thread plays both ends, so a thread never waits for another: on as many cores as
 * threads, bare, the threads run side by side, and any serialization is the tool's.
 *
 *   threads [CONNECTIONS [THREADS]]   (default 20,000 connections in all, 2 threads)
 *
 * The time is taken from the moment every thread is ready to the last thread's end. */
#include <pthread.h>

#include "benchlib.h"

#define MSG 64

static long per_thread;
static pthread_barrier_t ready;

static void *churner(void *arg)
{
	(void)arg;
	int port;
	int listener = bl_listener(&port, 64);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = listener};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev) == 0);
	char msg[MSG], buf[MSG];
	memset(msg, 'x', sizeof(msg));
	pthread_barrier_wait(&ready);
	for (long i = 0; i < per_thread; i++) {
		int c = bl_connect(port);
		bl_write_all(c, msg, sizeof(msg));
		bl_wait_for(ep, listener, EPOLLIN | EPOLLERR | EPOLLHUP);
		int a = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		CHECK(a >= 0);
		struct epoll_event aev = {.events = EPOLLIN, .data.fd = a};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &aev) == 0);
		bl_wait_for(ep, a, EPOLLIN | EPOLLERR | EPOLLHUP);
		bl_read_all(a, buf, sizeof(buf));
		bl_write_all(a, buf, sizeof(buf));
		CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL) == 0);
		close(a);
		bl_read_all(c, buf, sizeof(buf));
		close(c);
	}
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, listener, NULL) == 0);
	close(ep);
	close(listener);
	return NULL;
}

int main(int argc, char **argv)
{
	long connections = bl_count(argc, argv, 20000);
	long nthreads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
	if (nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: %s [CONNECTIONS [THREADS]]  (THREADS 1 to 64)\n", argv[0]);
		return 2;
	}
	per_thread = (connections + nthreads - 1) / nthreads;
	pthread_t t[64];
	CHECK(pthread_barrier_init(&ready, NULL, (unsigned)nthreads + 1) == 0);
	for (long i = 0; i < nthreads; i++)
		CHECK(pthread_create(&t[i], NULL, churner, NULL) == 0);
	pthread_barrier_wait(&ready);
	double start = bl_now();
	for (long i = 0; i < nthreads; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	double secs = bl_now() - start;
	bl_result("threads", "connection", per_thread * nthreads, secs);
	return 0;
}
