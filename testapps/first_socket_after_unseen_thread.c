// glibc starts a SIGEV_THREAD timer's helper thread itself, not through pthread_create's PLT
// entry: sockleak cannot load libunwind before it, nor (the process has two threads then) at the
// first stack walk. The leaked socket is still reported, without a creation stack, and sockleak
// says once why.
// EXPECT: udp4 socket never-closed
// EXPECT-STDERR: sockleak: threads were started before libunwind could be loaded safely: transports are reported without creation stacks
// EXPECT-EXIT: 23
#include <signal.h>
#include <time.h>
#include "testlib.h"

static void tick(union sigval v)
{
	(void)v;
}

int main(void)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = tick;
	timer_t timer;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	CHECK(timer_delete(timer) == 0);
	return 0;
}
