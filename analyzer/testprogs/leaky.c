// Leaks what its arguments name, each from a function of its own (so that each finding has a
// fingerprint of its own): udp (never-closed), tcp (a listener, never-closed), epoll
// (reader-not-removed and never-closed), warn (closed-while-registered, a warning only).
// Exits 0 unless told "exit=N".
#include "../../testapps/testlib.h"

static void leak_udp(void)
{
	CHECK(socket(AF_INET, SOCK_DGRAM, 0) >= 0);
}

static void leak_tcp(void)
{
	int port;
	tl_listener(&port);
}

static void leak_epoll(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0);
	close(ep);
}

static void warn_only(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
	int copy = dup(sv[0]);
	close(sv[0]);
	close(copy);
	close(sv[1]);
	close(ep);
}

int main(int argc, char **argv)
{
	int status = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "udp"))
			leak_udp();
		else if (!strcmp(argv[i], "tcp"))
			leak_tcp();
		else if (!strcmp(argv[i], "epoll"))
			leak_epoll();
		else if (!strcmp(argv[i], "warn"))
			warn_only();
		else if (!strncmp(argv[i], "exit=", 5))
			status = atoi(argv[i] + 5);
		else
			CHECK(!"unknown argument");
	}
	return status;
}
