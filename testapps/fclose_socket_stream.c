// A socket given to fdopen and closed by fclose, or by freopen, is closed: under the default
// track=sockets too. The C library closes the descriptor inside fclose (and freopen), out of
// close()'s sight: nothing may be reported, neither at a checkpoint taken after the close nor at
// exit, and the epoll set closed afterwards held no registration of it (the kernel dropped it
// with the last descriptor). Review of issues 12 and 15.
// EXPECT-NONE
// EXPECT-EXIT: 0
// EXPECT-STDOUT: checkpoint found 0
#include <dlfcn.h>
#include <stdint.h>

#include "testlib.h"

int main(void)
{
	uint64_t (*mark)(void) = (uint64_t(*)(void))dlsym(RTLD_DEFAULT, "sockleak_mark");
	unsigned long (*check)(uint64_t, const char *) =
		(unsigned long (*)(uint64_t, const char *))dlsym(RTLD_DEFAULT, "sockleak_check");
	CHECK(mark && check);
	int port;
	int l = tl_listener(&port);
	uint64_t m = mark();

	/* Both connections first: no socket made afterwards may take a closed one's number (a
	 * socket made on a number ends what sockleak held there). */
	int c = tl_connect(port);
	int s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	int c2 = tl_connect(port);
	int s2 = accept(l, NULL, NULL);
	CHECK(s2 >= 0);
	int ep = epoll_create1(0);
	CHECK(ep >= 0);

	/* A line written through stdio, the stream closed by fclose. */
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0);
	FILE *f = fdopen(c, "r+");
	CHECK(f != NULL);
	CHECK(fputs("hello\n", f) >= 0);
	CHECK(fclose(f) == 0);
	char buf[16];
	CHECK(read(s, buf, sizeof(buf)) == 6);
	CHECK(read(s, buf, sizeof(buf)) == 0);
	CHECK(close(s) == 0);

	/* A stream reopened onto another file: freopen closes the socket first. */
	FILE *f2 = fdopen(c2, "w");
	CHECK(f2 != NULL);
	f2 = freopen("/dev/null", "w", f2);
	CHECK(f2 != NULL);
	CHECK(read(s2, buf, sizeof(buf)) == 0);
	CHECK(close(s2) == 0);

	printf("checkpoint found %lu\n", check(m, "after-fclose"));
	fflush(stdout);
	CHECK(fclose(f2) == 0);
	CHECK(close(ep) == 0);
	CHECK(close(l) == 0);
	return 0;
}
