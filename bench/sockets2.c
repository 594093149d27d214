/* sockets2: two threads, each making a socket, registering it in its own epoll set, removing it
 * and closing it, again and again (issue 12, two threads). No connection and no traffic: the
 * kernel's part is a few microseconds, so what sockleak adds per event, and what its threads
 * share (its lock, its state's cache lines), weighs several times more than in `threads`.
 *
 *   sockets2 [SOCKETS [THREADS]]   (default 200,000 sockets in all, 2 threads)
 *
 * The time is taken from the moment every thread is ready to the last thread's end. */
#include <pthread.h>

#include "benchlib.h"

static long per_thread;
static pthread_barrier_t ready;

static void *maker(void *arg)
{
	(void)arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	pthread_barrier_wait(&ready);
	for (long i = 0; i < per_thread; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(s >= 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0);
		CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL) == 0);
		close(s);
	}
	close(ep);
	return NULL;
}

int main(int argc, char **argv)
{
	long sockets = bl_count(argc, argv, 200000);
	long nthreads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
	if (nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: %s [SOCKETS [THREADS]]  (THREADS 1 to 64)\n", argv[0]);
		return 2;
	}
	per_thread = (sockets + nthreads - 1) / nthreads;
	pthread_t t[64];
	CHECK(pthread_barrier_init(&ready, NULL, (unsigned)nthreads + 1) == 0);
	for (long i = 0; i < nthreads; i++)
		CHECK(pthread_create(&t[i], NULL, maker, NULL) == 0);
	pthread_barrier_wait(&ready);
	double start = bl_now();
	for (long i = 0; i < nthreads; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	double secs = bl_now() - start;
	bl_result("sockets2", "socket", per_thread * nthreads, secs);
	return 0;
}
