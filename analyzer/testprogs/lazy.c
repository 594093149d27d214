// The event log made at a process's first event (issue 12, tests/test_lazy_log.py). One mode
// per run, named by the first argument:
//   none                   records nothing
//   clean                  a socket, closed
//   leak                   a UDP socket never closed (leak_udp)
//   fork-child-socket      the parent records nothing; its forked child leaks a UDP socket
//   socket-fork-quiet      the parent makes and closes a socket, then forks a child that records
//                          nothing
//   hold-fork-quiet        the parent holds a socket across the fork (closed at the end); the
//                          child records nothing but inherits it
//   closed-fork-child-socket  the parent makes and closes two sockets; its child leaks one
//   exec-then-socket       execs itself as "leak" without recording anything first
//   socket-then-exec       makes and closes a socket, then execs itself as "none"
//   failed-exec            makes and closes a socket, an exec that fails, then exits
//   emfile                 takes every descriptor RLIMIT_NOFILE (24) allows, frees one, and makes
//                          its first socket there; prints the socket's number
//   fsize                  sets RLIMIT_FSIZE to 0, then makes and closes its first socket;
//                          prints its number
//   fsize-later            makes and closes a socket, writes a line to stderr, sets RLIMIT_FSIZE
//                          below stderr's size (a file, as the test gives it), then makes and
//                          closes 3,000 sockets: the event log cannot grow, and sockleak's
//                          message about it must not raise SIGXFSZ in the program
#include <fcntl.h>
#include <sys/resource.h>
#include "../../testapps/testlib.h"

static void leak_udp(void)
{
	CHECK(socket(AF_INET, SOCK_DGRAM, 0) >= 0);
}

static void make_and_close(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0 && close(s) == 0);
}

static void wait_ok(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
}

static void exec_self(const char *mode)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0);
	self[n] = '\0';
	execl(self, self, mode, (char *)NULL);
	CHECK(0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "none";
	if (!strcmp(mode, "none"))
		return 0;
	if (!strcmp(mode, "clean")) {
		make_and_close();
		return 0;
	}
	if (!strcmp(mode, "leak")) {
		leak_udp();
		return 0;
	}
	if (!strcmp(mode, "fork-child-socket") || !strcmp(mode, "closed-fork-child-socket")) {
		if (mode[0] == 'c') {
			make_and_close();
			make_and_close();
		}
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			leak_udp();
			exit(0);
		}
		wait_ok(pid);
		return 0;
	}
	if (!strcmp(mode, "socket-fork-quiet") || !strcmp(mode, "hold-fork-quiet")) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		CHECK(s >= 0);
		if (mode[0] == 's')
			CHECK(close(s) == 0);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(0);
		wait_ok(pid);
		if (mode[0] == 'h')
			CHECK(close(s) == 0);
		return 0;
	}
	if (!strcmp(mode, "exec-then-socket"))
		exec_self("leak");
	if (!strcmp(mode, "socket-then-exec")) {
		make_and_close();
		exec_self("none");
	}
	if (!strcmp(mode, "failed-exec")) {
		make_and_close();
		char *args[] = {"x", NULL};
		CHECK(execv("/nonexistent/program", args) < 0);
		return 0;
	}
	if (!strcmp(mode, "emfile")) {
		struct rlimit rl = {24, 24};
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
		int last = -1, fd;
		while ((fd = open("/dev/null", O_RDONLY)) >= 0)
			last = fd;
		CHECK(errno == EMFILE && last >= 0 && close(last) == 0);
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		printf("socket %d errno %d\n", s, s < 0 ? errno : 0);
		fflush(stdout);
		CHECK(s == last && close(s) == 0);
		return 0;
	}
	if (!strcmp(mode, "fsize")) {
		struct rlimit rl = {0, RLIM_INFINITY};
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		printf("socket %d\n", s);
		fflush(stdout);
		CHECK(s >= 0 && close(s) == 0);
		return 0;
	}
	if (!strcmp(mode, "fsize-later")) {
		make_and_close();
		fprintf(stderr, "started\n");
		fflush(stderr);
		struct rlimit rl = {4, RLIM_INFINITY};
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		for (int i = 0; i < 3000; i++)
			make_and_close();
		printf("done\n");
		fflush(stdout);
		return 0;
	}
	fprintf(stderr, "lazy: unknown mode %s\n", mode);
	return 2;
}
