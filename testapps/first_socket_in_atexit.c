// The process records nothing until its atexit handler makes its first sockets: under 'sockleak
// run' its event log is made then, and opens with the exit phase that began while it had none
// (issue 12), so that the replay judges these sockets as the live preload does.
// EXPECT: udp4 socket never-closed @make_at_exit
// EXPECT: udp4 socket closed-at-exit @make_at_exit
// EXPECT-EXIT: 23
#include "testlib.h"

static void make_at_exit(void)
{
	int kept = socket(AF_INET, SOCK_DGRAM, 0);
	int closed = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(kept >= 0 && closed >= 0);
	close(closed);
}

int main(void)
{
	atexit(make_at_exit);
	return 0;
}
