// As first_socket_in_handler, with the handler installed by the obsolete sigset(), which glibc
// implements without going through sigaction's PLT entry: libunwind must still be loaded before
// the handler can run, and the socket the handler leaks must have its stack.
// EXPECT: udp4 socket never-closed @sigset_handler_opens
// EXPECT-EXIT: 23
#include <signal.h>
#include "testlib.h"

static void sigset_handler_opens(int sig)
{
	(void)sig;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
}

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
int main(void)
{
	CHECK(sigset(SIGUSR1, sigset_handler_opens) != SIG_ERR);
	CHECK(raise(SIGUSR1) == 0);
	return 0;
}
