// A timer's signal handler makes and closes a socket every 50 us while the program calls dlopen
// (of a library it holds already) in a loop (tests/test_review_lazy_log.py). After each dlopen
// the preload names new modules in the event log: the handler must never wait for a lock that
// its own thread holds there (sockleak's, or the loader's taken by dl_iterate_phdr). Prints
// "done" and exits 0.
#include <dlfcn.h>
#include <signal.h>
#include <sys/time.h>
#include "../../testapps/testlib.h"

static void make_one(int sig)
{
	(void)sig;
	int saved = errno;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd >= 0)
		close(fd);
	errno = saved;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50000;
	CHECK(close(socket(AF_INET, SOCK_DGRAM, 0)) == 0);
	CHECK(dlopen("libm.so.6", RTLD_NOW) != NULL);
	struct sigaction sa = {.sa_handler = make_one, .sa_flags = SA_RESTART};
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	struct itimerval on = {{0, 50}, {0, 50}}, off = {{0, 0}, {0, 0}};
	CHECK(setitimer(ITIMER_REAL, &on, NULL) == 0);
	for (int i = 0; i < n; i++)
		CHECK(dlopen("libm.so.6", RTLD_NOW) != NULL);
	CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	printf("done\n");
	return 0;
}
