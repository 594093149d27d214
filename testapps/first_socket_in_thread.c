// libunwind is loaded at the first stack walk, or before the first thread starts: the main
// thread makes no socket, a second thread makes the process's first, and leaks it. Its stack
// must still be taken (the walk could not load libunwind there: another thread exists).
// EXPECT: udp4 socket never-closed @thread_opens
// EXPECT-EXIT: 23
#include <pthread.h>
#include "testlib.h"

static __attribute__((noinline)) void *thread_opens(void *arg)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	return arg;
}

int main(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, thread_opens, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	return 0;
}
