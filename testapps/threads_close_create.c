// Six threads make, register (ADD, MOD, DEL) and close sockets at once, so that a number one
// thread's close frees is taken at once by another thread's socket(); meanwhile signals hit
// every thread, and their handler makes a socket, often while the thread is inside sockleak
// holding its lock (its event is queued, then applied by the thread). Issue 12: a close's end
// is handed to the next thread that takes the lock. Every 1000th socket of a worker is leaked
// (12 in all), each worker ends with one socket left registered in an epoll set it closes (6),
// and each worker closes the sockets its handlers made but the first (6). Nothing else.
// EXPECT: udp4 socket never-closed @worker x12
// EXPECT: udp4 socket reader-not-removed @worker x6
// EXPECT: unix-dgram socket never-closed x6
// EXPECT-EXIT: 23
// TIMEOUT: 120
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include "testlib.h"

#define THREADS 6
#define PER_THREAD 2000
#define LEAK_EVERY 1000

/* The sockets this thread's handlers made: the first 8 handlers make one each and keep it. A
 * handler that closed a socket while its thread was inside sockleak would free the number before
 * its queued close is applied (README.md, Limits), which another thread may take meanwhile; and
 * more than 16 events queued on one thread at once stop sockleak (it says so), which a thread
 * inside sockleak while the event log grows (under sockleak run) could see at this signal rate. */
#define MADE_MAX 8
static __thread int made[MADE_MAX];
static __thread volatile sig_atomic_t handled;
static int running = THREADS;

static void on_signal(int sig)
{
	int saved = errno;
	if (handled < MADE_MAX) {
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (s >= 0)
			made[handled++] = s;
	}
	errno = saved;
}

static void *worker(void *arg)
{
	(void)arg;
	int ep = epoll_create1(0);
	CHECK(ep >= 0);
	for (int i = 0; i < PER_THREAD; i++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		CHECK(s >= 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0);
		if (i % 3 == 0) {
			ev.events = EPOLLIN | EPOLLOUT;
			CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0);
		}
		CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL) == 0);
		if (i % LEAK_EVERY != LEAK_EVERY - 1)
			CHECK(close(s) == 0);
	}
	int r = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(r >= 0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = r};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, r, &ev) == 0);
	CHECK(close(ep) == 0);
	CHECK(close(r) == 0);
	while (!handled) /* the handler's leak is every worker's: wait for one signal at least */
		sched_yield();
	/* No more signals for this thread: then every socket its handlers made but the first is closed. */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &block, NULL) == 0);
	for (int i = 1; i < handled; i++)
		CHECK(close(made[i]) == 0);
	__atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
	/* A thread that has returned is still there until it is joined: signalling it is safe. */
	while (__atomic_load_n(&running, __ATOMIC_SEQ_CST) > 0) {
		for (int i = 0; i < THREADS; i++)
			pthread_kill(t[i], SIGUSR1);
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	return 0;
}
