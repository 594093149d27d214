/* A library whose constructor uses sockets, preloaded beside sockleak in either order: one order
 * runs this constructor before sockleak's own, so that its first socket() call is the one that
 * starts sockleak. The constructor also starts threads that churn sockets at once, racing with
 * sockleak's start-up and with the program's main. Leaks on purpose: one TCP socket made in the
 * constructor, and one UDP socket per thread.
 *
 * EARLY_JOIN_IN_CONSTRUCTOR=1 makes the constructor wait for its threads: loaded with dlopen,
 * that wait happens while the dynamic loader's lock is held, and a thread that then needs the
 * loader (dlsym, to find a real function) would never finish. */
#include <pthread.h>

#include "../../testapps/testlib.h"

#define THREADS 4
#define ROUNDS 250

static pthread_t threads[THREADS];
static int joined;

static void *early_thread(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		int sv[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		int d = dup(sv[0]);
		CHECK(d >= 0);
		close(sv[0]);
		close(sv[1]);
		close(d);
	}
	int leaked = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(leaked >= 0);
	return NULL;
}

__attribute__((visibility("default"))) void early_join(void)
{
	if (joined)
		return;
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(threads[i], NULL) == 0);
	joined = 1;
}

__attribute__((constructor)) static void early_constructor(void)
{
	int leaked = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(leaked >= 0);
	int closed = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(closed >= 0);
	close(closed);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&threads[i], NULL, early_thread, NULL) == 0);
	const char *join = getenv("EARLY_JOIN_IN_CONSTRUCTOR");
	if (join && *join == '1')
		early_join();
}
