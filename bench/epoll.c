/* epoll: requests on one kept-alive loopback connection, with the epoll registrations an event
 * loop like redis-benchmark's makes for each (issue 12: 5 epoll_ctl calls per request, 2 ADD,
 * 2 DEL and 1 MOD).
 *
 * Per request, the client registers its socket for writing (ADD), writes the request, removes
 * it (DEL), registers it for reading (ADD), reads the reply and removes it (DEL); the server's
 * socket is registered with EPOLLONESHOT, and re-armed (MOD) after each reply. One thread plays
 * both, so the count of instructions per request is deterministic.
 *
 *   epoll [REQUESTS]   (default 100,000) */
#include <netinet/in.h>

#include "benchlib.h"

#define REQ 32

int main(int argc, char **argv)
{
	long requests = bl_count(argc, argv, 100000);
	int port;
	int listener = bl_listener(&port, 16);
	int c = bl_connect(port);
	int s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	CHECK(s >= 0);
	int cep = epoll_create1(EPOLL_CLOEXEC), sep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(cep >= 0 && sep >= 0);
	struct epoll_event sev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = s};
	CHECK(epoll_ctl(sep, EPOLL_CTL_ADD, s, &sev) == 0);
	char req[REQ], buf[REQ];
	memset(req, 'r', sizeof(req));

	double start = bl_now();
	for (long i = 0; i < requests; i++) {
		struct epoll_event out = {.events = EPOLLOUT, .data.fd = c};
		CHECK(epoll_ctl(cep, EPOLL_CTL_ADD, c, &out) == 0);
		bl_wait_for(cep, c, EPOLLOUT);
		bl_write_all(c, req, sizeof(req));
		CHECK(epoll_ctl(cep, EPOLL_CTL_DEL, c, NULL) == 0);
		struct epoll_event in = {.events = EPOLLIN, .data.fd = c};
		CHECK(epoll_ctl(cep, EPOLL_CTL_ADD, c, &in) == 0);

		bl_wait_for(sep, s, EPOLLIN);
		bl_read_all(s, buf, sizeof(buf));
		bl_write_all(s, buf, sizeof(buf));
		CHECK(epoll_ctl(sep, EPOLL_CTL_MOD, s, &sev) == 0);

		bl_wait_for(cep, c, EPOLLIN);
		bl_read_all(c, buf, sizeof(buf));
		CHECK(epoll_ctl(cep, EPOLL_CTL_DEL, c, NULL) == 0);
	}
	double secs = bl_now() - start;

	CHECK(epoll_ctl(sep, EPOLL_CTL_DEL, s, NULL) == 0);
	close(cep);
	close(sep);
	close(s);
	close(c);
	close(listener);
	bl_result("epoll", "request", requests, secs);
	return 0;
}
