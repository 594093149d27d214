// track=all from four threads at once: each opens and closes files (open, fopen, opendir), pipes
// and eventfds, and dups them, a few thousand times; every one is closed, so nothing may be
// reported (a close recorded against the wrong number, or lost, would show as never-closed).
// OPTIONS: track=all
// EXPECT-NONE
// EXPECT-EXIT: 0
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include "testlib.h"

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500; i++) {
		int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		CHECK(fd >= 0);
		int copy = dup(fd);
		CHECK(copy >= 0);
		close(fd);
		FILE *f = fopen("/etc/passwd", "r");
		CHECK(f != NULL);
		fclose(f);
		close(copy);
		DIR *d = opendir("/");
		CHECK(d != NULL);
		closedir(d);
		int p[2];
		CHECK(pipe2(p, O_CLOEXEC) == 0);
		close(p[0]);
		close(p[1]);
		int e = eventfd(0, EFD_CLOEXEC);
		CHECK(e >= 0);
		close(e);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	return 0;
}
