/* sockets2: two threads, each making a socket, registering it in its own epoll set, removing it
 * and closing it, again and again (issue 12, two threads). No connection and no traffic: the
 * kernel's part is a few microseconds, so what sockleak adds per event, and what its threads
 * share (its lock, its state's cache lines), weighs several times more than in `threads`.
 *
 *   sockets2 [SOCKETS [THREADS]]   (default 200,000 sockets in all, 2 threads)
 *
 * The time is taken from the moment every thread is ready to the last thread's end. */
#include "benchlib.h"

static void *maker(void *arg)
{
	struct bl_team *team = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	pthread_barrier_wait(&team->ready);
	for (long i = 0; i < team->per_thread; i++) {
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
	return bl_run_team(argc, argv, 200000, "SOCKETS", maker, "sockets2", "socket");
}
