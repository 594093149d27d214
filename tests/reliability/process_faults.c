/* Closes the kernel refused, a raw clone() child, and sockets made or closed out of sockleak's
 * sight (issue 10, items 10, 11, 14). Each mode prints what every call returned, so that
 * tests/test_gate_process.py can compare the bare and preloaded transcripts, and leaks exactly
 * the sockets the test expects in the report:
 *
 *   close-range-einval   close_range with unknown flags fails (EINVAL): udp socket leaked
 *   close-range-eperm    close_range refused by a seccomp filter (EPERM): udp socket leaked
 *   close-range-enosys   the same with ENOSYS
 *   close-cancelled      a thread cancelled at close(): its udp socket stays open, leaked
 *   raw-clone            a child made by syscall(SYS_clone) without CLONE_VM leaks a udp socket;
 *                        the parent's tcp listener, inherited, is closed by both
 *   raw-close            a udp socket closed with the syscall instruction itself: no leak
 *   sys-socket           a udp socket made with syscall(SYS_socket), leaked
 *   io-uring             an io_uring set up with syscall(SYS_io_uring_setup), kept open
 * Every mode also makes and closes a tcp socket properly: it must not be reported. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void said(const char *what, long r)
{
	printf("%s = %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
	fflush(stdout);
}

static int udp(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		_exit(99);
	return fd;
}

/* A tcp socket made and closed as it should be: never reported. */
static void clean_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	said("clean close", close(fd));
}

static int still_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A seccomp filter that makes close_range fail with err. */
static void refuse_close_range(int err)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close_range, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("seccomp");
		_exit(98);
	}
}

static void *cancelled_closer(void *arg)
{
	int fd = *(int *)arg;
	/* A cancellation pending before close(): it acts at close's cancellation point, before the
	 * system call, so the descriptor stays open. */
	pthread_cancel(pthread_self());
	close(fd);
	return NULL;
}

static long raw_close(int fd)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_close), "D"((long)fd) : "rcx", "r11", "memory");
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: process_faults MODE\n");
		return 2;
	}
	const char *m = argv[1];
	clean_socket();
	if (!strcmp(m, "close-range-einval")) {
		int fd = udp();
		said("close_range bad flags", close_range((unsigned)fd, (unsigned)fd, 0x40000));
		printf("still open: %d\n", still_open(fd));
	} else if (!strcmp(m, "close-range-eperm") || !strcmp(m, "close-range-enosys")) {
		int fd = udp();
		refuse_close_range(strstr(m, "eperm") ? EPERM : ENOSYS);
		said("close_range refused", close_range((unsigned)fd, (unsigned)fd, 0));
		said("syscall close_range refused", syscall(SYS_close_range, fd, fd, 0));
		printf("still open: %d\n", still_open(fd));
	} else if (!strcmp(m, "close-cancelled")) {
		int fd = udp();
		pthread_t t;
		void *res;
		if (pthread_create(&t, NULL, cancelled_closer, &fd) != 0 || pthread_join(t, &res) != 0)
			return 97;
		printf("cancelled: %d, still open: %d\n", res == PTHREAD_CANCELED, still_open(fd));
	} else if (!strcmp(m, "raw-clone")) {
		int listener = socket(AF_INET, SOCK_STREAM, 0);
		long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
		if (pid == 0) {
			udp(); /* the child's own, leaked */
			close(listener);
			exit(0);
		}
		int status;
		said("waitpid", waitpid((pid_t)pid, &status, 0) == pid ? WEXITSTATUS(status) : -1);
		said("parent close listener", close(listener));
	} else if (!strcmp(m, "raw-close")) {
		int fd = udp();
		said("raw close", raw_close(fd));
	} else if (!strcmp(m, "sys-socket")) {
		long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
		printf("syscall socket ok: %d\n", fd >= 0);
	} else if (!strcmp(m, "io-uring")) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		long fd = syscall(SYS_io_uring_setup, 4, &p);
		printf("io_uring_setup ok: %d\n", fd >= 0 || errno == ENOSYS || errno == EPERM);
	} else {
		fprintf(stderr, "process_faults: unknown mode %s\n", m);
		return 2;
	}
	return 0;
}
