// track=all, the kernel's own objects: one of each kind left open, one of each closed. Only the
// ones left open are reported, each with its kind (a memfd with its name as its path). With the
// argument "no-pidfd" (valgrind 3.19 does not know pidfd_open: tests/test_track.py's parity
// test), an eventfd stands in for the pidfd.
// OPTIONS: track=all
// EXPECT: eventfd none never-closed @make_all
// EXPECT: timerfd none never-closed @make_all
// EXPECT: signalfd none never-closed @make_all
// EXPECT: memfd none never-closed @make_all
// EXPECT: inotify none never-closed @make_all
// EXPECT: pidfd none never-closed @make_all
// EXPECT: epoll none never-closed @make_all
// EXPECT-EXIT: 23
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "testlib.h"

int pidfd_open(pid_t pid, unsigned int flags);

static int no_pidfd;

static __attribute__((noinline)) void make_all(int leak)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	int fds[7] = {
		eventfd(0, EFD_CLOEXEC),
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC),
		signalfd(-1, &mask, SFD_CLOEXEC),
		memfd_create("track-test", MFD_CLOEXEC),
		inotify_init1(IN_CLOEXEC),
		no_pidfd ? eventfd(0, 0) : pidfd_open(getpid(), 0),
		epoll_create1(EPOLL_CLOEXEC),
	};
	for (int i = 0; i < 7; i++)
		CHECK(fds[i] >= 0);
	/* signalfd on an existing descriptor changes its mask, and makes nothing. */
	CHECK(signalfd(fds[2], &mask, 0) == fds[2]);
	if (!leak)
		for (int i = 0; i < 7; i++)
			close(fds[i]);
}

int main(int argc, char **argv)
{
	no_pidfd = argc > 1 && strcmp(argv[1], "no-pidfd") == 0;
	make_all(0);
	make_all(1);
	return 0;
}
