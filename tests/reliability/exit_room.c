/* A program that lowers its own RLIMIT_STACK and exits deep in its stack (review of issue 12).
 *
 *   exit_room KIB [handler]   installs a signal handler first (with handler: sockleak then
 *                             reads the main thread's stack limit), lowers RLIMIT_STACK to
 *                             256 KiB, recurses until KIB KiB are left under that limit and
 *                             calls exit(0) there
 *
 * Bare, exit needs a few KiB. The kernel grows the main thread's stack only to the limit of
 * the moment: sockleak's exit, when it runs on the main thread's stack (a process that tracked
 * nothing), must count its room from the limit of the moment too, not from the one it read at
 * the first handler. */
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>

#include "../../testapps/testlib.h"

static uintptr_t limit_bottom;
static long left;

static void on_signal(int sig)
{
	(void)sig;
}

static void leave(void)
{
	printf("exiting with about %ld KiB left\n", left / 1024);
	fflush(stdout);
	exit(0);
}

static void (*volatile at_bottom)(void) = leave;

static void __attribute__((noinline)) descend(void)
{
	volatile char frame[512];
	frame[0] = 1;
	if ((uintptr_t)__builtin_frame_address(0) - limit_bottom > (uintptr_t)left)
		descend();
	else
		at_bottom();
	frame[1]++;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: exit_room KIB [handler]\n");
		return 2;
	}
	left = atol(argv[1]) * 1024;
	if (argc > 2 && strcmp(argv[2], "handler") == 0)
		CHECK(signal(SIGUSR1, on_signal) != SIG_ERR);
	struct rlimit rl = {256 * 1024, 256 * 1024};
	CHECK(setrlimit(RLIMIT_STACK, &rl) == 0);
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f);
	char line[512];
	unsigned long lo = 0, hi = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[stack]"))
			CHECK(sscanf(line, "%lx-%lx", &lo, &hi) == 2);
	fclose(f);
	CHECK(hi != 0);
	limit_bottom = hi - rl.rlim_cur;
	descend();
	return 1;
}
