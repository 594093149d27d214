// libunwind is never loaded inside a signal handler (the handler may have interrupted malloc),
// so it is loaded when the first handler is installed. Here the process's first socket is made
// in a SIGUSR1 handler installed with sigaction, and a second in a SIGUSR2 handler installed
// with signal(); both are leaked, and both stacks must name their handler.
// EXPECT: udp4 socket never-closed @handler_opens
// EXPECT: udp4 socket never-closed @other_handler_opens
// EXPECT-EXIT: 23
#include <signal.h>
#include "testlib.h"

static void handler_opens(int sig)
{
	(void)sig;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
}

static void other_handler_opens(int sig)
{
	(void)sig;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler_opens;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(signal(SIGUSR2, other_handler_opens) != SIG_ERR);
	CHECK(raise(SIGUSR1) == 0);
	CHECK(raise(SIGUSR2) == 0);
	return 0;
}
