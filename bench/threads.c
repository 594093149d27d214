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
#include "benchlib.h"

#define MSG 64

static void *churner(void *arg)
{
	struct bl_team *team = arg;
	int port;
	int listener = bl_listener(&port, 64);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = listener};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev) == 0);
	char msg[MSG], buf[MSG];
	memset(msg, 'x', sizeof(msg));
	pthread_barrier_wait(&team->ready);
	for (long i = 0; i < team->per_thread; i++) {
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
	return bl_run_team(argc, argv, 20000, "CONNECTIONS", churner, "threads", "connection");
}
