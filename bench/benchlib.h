/* Helpers shared by the benchmark workloads: error checks, loopback sockets, a clock, and the one
 * result line every workload prints for scripts/bench to read.
 *
 * Each workload is a plain program, with no knowledge of sockleak: it is run bare, under the
 * preload, under strace and under valgrind, and only the environment differs. */
#ifndef SOCKLEAK_BENCHLIB_H
#define SOCKLEAK_BENCHLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x)                                                                                       \
	do {                                                                                           \
		if (!(x)) {                                                                            \
			fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #x, strerror(errno)); \
			_exit(99);                                                                     \
		}                                                                                      \
	} while (0)

static inline double bl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The count of units (connections, messages, sockets) from argv[1], or the default. */
static inline long bl_count(int argc, char **argv, long def)
{
	if (argc < 2)
		return def;
	char *end;
	long n = strtol(argv[1], &end, 10);
	if (*end || n <= 0) {
		fprintf(stderr, "usage: %s [COUNT]  (COUNT > 0, default %ld)\n", argv[0], def);
		exit(2);
	}
	return n;
}

/* A listening TCP socket on 127.0.0.1 with a kernel-chosen port. A fresh port for every run
 * matters: 20,000 connections leave as many TIME_WAIT entries, and a fixed port would run the
 * next run out of (client port, server port) pairs. */
static inline int bl_listener(int *port, int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(fd, backlog) == 0);
	socklen_t len = sizeof(a);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static inline int bl_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

static inline void bl_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		CHECK(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

static inline void bl_read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

/* Waits on the epoll set ep until fd is reported with one of events. */
static inline void bl_wait_for(int ep, int fd, uint32_t events)
{
	struct epoll_event ev;
	for (;;) {
		int n = epoll_wait(ep, &ev, 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n == 1);
		if (ev.data.fd == fd && (ev.events & events))
			return;
	}
}

/* The kernel's count of resident memory, in kB (VmRSS), or -1. */
static inline long bl_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Prints the human line and the machine line, then the moment main is about to return, as late
 * as possible: scripts/bench takes the time from there to the process's end as the cost of the
 * exit (where sockleak writes its report). Both lines are flushed first, so that the flush is
 * not part of that time. A program with exit-time work of its own prints bench-main-end again
 * when that work is done: the last one counts. */
static inline void bl_result(const char *name, const char *unit, long units, double seconds)
{
	printf("%s: %ld %ss in %.3f s: %.0f %ss/s, %.2f us per %s\n", name, units, unit, seconds,
	       (double)units / seconds, unit, seconds * 1e6 / (double)units, unit);
	printf("bench-result workload=%s unit=%s units=%ld seconds=%.6f rss_kb=%ld\n", name, unit, units,
	       seconds, bl_rss_kb());
	fflush(stdout);
	printf("bench-main-end %.6f\n", bl_now());
	fflush(stdout);
}

/* A team of threads that each run worker(team) for per_thread units, started together: the
 * workloads of several threads (threads, sockets2). argv[1] is the units in all (def when absent),
 * argv[2] the threads (2 when absent; 1 to 64). The time runs from the moment every worker is
 * ready (each waits on team->ready once set up) to the last one's end. Returns main's status. */
struct bl_team {
	long per_thread;
	pthread_barrier_t ready;
};

static inline int bl_run_team(int argc, char **argv, long def, const char *what, void *(*worker)(void *),
			      const char *name, const char *unit)
{
	long units = bl_count(argc, argv, def);
	long nthreads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
	if (nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: %s [%s [THREADS]]  (THREADS 1 to 64)\n", argv[0], what);
		return 2;
	}
	static struct bl_team team;
	team.per_thread = (units + nthreads - 1) / nthreads;
	pthread_t t[64];
	CHECK(pthread_barrier_init(&team.ready, NULL, (unsigned)nthreads + 1) == 0);
	for (long i = 0; i < nthreads; i++)
		CHECK(pthread_create(&t[i], NULL, worker, &team) == 0);
	pthread_barrier_wait(&team.ready);
	double start = bl_now();
	for (long i = 0; i < nthreads; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	double secs = bl_now() - start;
	bl_result(name, unit, team.per_thread * nthreads, secs);
	return 0;
}

#endif
