// A fork tree and an exec chain, each process with one known defect (or none), for the
// analyzer's merged report:
//   image 0 (stage 1)   reader-not-removed on a UDP socket, found before it execs itself
//   +- child 1          udp4 socket never-closed, made in leak_udp
//   +- child 2          nothing
//   |  +- grandchild    tcp4 listener never-closed, made in leak_listener
//   image 1 (stage 2, exec of image 0)
//                       2 unix-stream pair never-closed, made in leak_pair
//   +- child 4          tcp4 socket made in leak_tcp, open when it is killed by SIGKILL
// The socketpair inherited by child 4 is its parent's, not reported for it.
#include <signal.h>
#include "../../testapps/testlib.h"

static void leak_udp(void)
{
	CHECK(socket(AF_INET, SOCK_DGRAM, 0) >= 0);
}

static void leak_listener(void)
{
	int port;
	tl_listener(&port);
}

static void leak_pair(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

static void leak_tcp(void)
{
	CHECK(socket(AF_INET, SOCK_STREAM, 0) >= 0);
}

static void wait_exit(pid_t pid, int killed)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (killed)
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	else
		CHECK(WIFEXITED(status));
}

static int stage2(void)
{
	leak_pair();
	pid_t p4 = fork();
	CHECK(p4 >= 0);
	if (p4 == 0) {
		leak_tcp();
		raise(SIGKILL);
	}
	wait_exit(p4, 1);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "stage2") == 0)
		return stage2();
	pid_t p1 = fork();
	CHECK(p1 >= 0);
	if (p1 == 0) {
		leak_udp();
		exit(0);
	}
	wait_exit(p1, 0);
	pid_t p2 = fork();
	CHECK(p2 >= 0);
	if (p2 == 0) {
		pid_t p3 = fork();
		CHECK(p3 >= 0);
		if (p3 == 0) {
			leak_listener();
			exit(0);
		}
		wait_exit(p3, 0);
		exit(0);
	}
	wait_exit(p2, 0);
	/* Registered, and the epoll set closed under it: found now, before the exec. */
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0);
	close(ep);
	char *args[] = {argv[0], "stage2", NULL};
	execv("/proc/self/exe", args);
	CHECK(0);
}
