/* Load (issue 7): a 4-thread epoll server under sustained connection churn from 4 client
 * threads, for a bounded time, with sockleak's memory sampled between rounds.
 *
 *   churn_server SECONDS LEAK_LAST_ROUND
 *
 * The clients connect, send 64 bytes, read the echo and close; each server thread accepts from
 * the shared listener (EPOLLEXCLUSIVE), echoes and closes. Work goes in rounds of ROUND
 * connections; after each round the program waits until every server-side connection is
 * closed, then asks sockleak how many bytes its tables hold (sockleak_memory, looked up with
 * dlsym: absent without the preload). The first round warms up (stacks interned, descriptor
 * table chunks made); its figure is the baseline every later round must come back to.
 *
 * In the last round the clients leak LEAK_LAST_ROUND sockets on purpose (after the last sample).
 * Prints one line per sample and a last line with the exact counts:
 *   sample ROUND IN_USE MAPPED
 *   done rounds=R connections=C sockets=S leaked=L
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#include "../../testapps/testlib.h"

#define SERVERS 4
#define CLIENTS 4
#define ROUND 2000 /* connections per round, CLIENTS threads sharing them */

static int port, listener;
static volatile int stop_servers;
static long open_server_conns; /* accepted and not yet closed (atomic) */
static long accepted_total;
static int leak_this_round;    /* client sockets to leave open in this round */
static long leaked_total;
static long next_in_round;     /* connections handed out in this round (atomic) */

static void *server_thread(void *arg)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listener};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) == 0);
	while (!__atomic_load_n(&stop_servers, __ATOMIC_ACQUIRE)) {
		struct epoll_event evs[32];
		int n = epoll_wait(ep, evs, 32, 50);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == listener) {
				int a = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (a < 0)
					continue; /* another thread took it (EAGAIN) */
				__atomic_add_fetch(&open_server_conns, 1, __ATOMIC_SEQ_CST);
				__atomic_add_fetch(&accepted_total, 1, __ATOMIC_SEQ_CST);
				struct epoll_event aev = {.events = EPOLLIN, .data.fd = a};
				CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &aev) == 0);
				continue;
			}
			char buf[64];
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r > 0)
				CHECK(write(fd, buf, (size_t)r) == r);
			/* One request per connection: the server closes after its answer (or at EOF). */
			CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0);
			close(fd);
			__atomic_sub_fetch(&open_server_conns, 1, __ATOMIC_SEQ_CST);
		}
	}
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, listener, NULL) == 0);
	close(ep);
	return NULL;
}

static void *client_thread(void *arg)
{
	for (;;) {
		long k = __atomic_fetch_add(&next_in_round, 1, __ATOMIC_SEQ_CST);
		if (k >= ROUND)
			return NULL;
		int c = tl_connect(port);
		char buf[64] = {0};
		CHECK(write(c, buf, sizeof(buf)) == sizeof(buf));
		size_t got = 0;
		while (got < sizeof(buf)) {
			ssize_t r = read(c, buf + got, sizeof(buf) - got);
			CHECK(r > 0);
			got += (size_t)r;
		}
		/* The last leak_this_round connections of the round are left open. */
		if (k >= ROUND - leak_this_round)
			__atomic_add_fetch(&leaked_total, 1, __ATOMIC_SEQ_CST);
		else
			close(c);
	}
}

static void run_round(void)
{
	__atomic_store_n(&next_in_round, 0, __ATOMIC_SEQ_CST);
	pthread_t t[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		CHECK(pthread_create(&t[i], NULL, client_thread, NULL) == 0);
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(t[i], NULL);
	/* Quiescence: every connection the server accepted is closed again. */
	while (__atomic_load_n(&open_server_conns, __ATOMIC_SEQ_CST) > 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	CHECK(argc == 3);
	double seconds = atof(argv[1]);
	int leak_last = atoi(argv[2]);
	CHECK(leak_last >= 0 && leak_last < ROUND);
	void (*memory)(size_t *, size_t *) = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "sockleak_memory");
	listener = tl_listener(&port);
	/* Several threads may wake for one connection: the losers must get EAGAIN, not block. */
	CHECK(fcntl(listener, F_SETFL, O_NONBLOCK) == 0);
	pthread_t servers[SERVERS];
	for (int i = 0; i < SERVERS; i++)
		CHECK(pthread_create(&servers[i], NULL, server_thread, NULL) == 0);
	double end = now() + seconds;
	int rounds = 0;
	do {
		run_round();
		rounds++;
		size_t in_use = 0, mapped = 0;
		if (memory)
			memory(&in_use, &mapped);
		printf("sample %d %zu %zu\n", rounds, in_use, mapped);
	} while (now() < end || rounds < 2);
	leak_this_round = leak_last;
	run_round();
	rounds++;
	__atomic_store_n(&stop_servers, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < SERVERS; i++)
		pthread_join(servers[i], NULL);
	close(listener);
	long connections = (long)rounds * ROUND;
	CHECK(accepted_total == connections);
	/* The listener, and a client and an accepted socket per connection. */
	printf("done rounds=%d connections=%ld sockets=%ld leaked=%ld\n", rounds, connections,
	       1 + 2 * connections, leaked_total);
	return 0;
}
