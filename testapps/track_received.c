// track=all, descriptors received through SCM_RIGHTS that are not sockets: a pipe end, a file and
// an eventfd arrive over a socketpair; the pipe end and the file are closed, the eventfd is kept
// open to the end. The received eventfd is reported, as made by the recvmsg that brought it, with
// its kind; the originals, all closed, are not.
// OPTIONS: track=all
// EXPECT: eventfd none never-closed @receive
// EXPECT-EXIT: 23
#include <fcntl.h>
#include <sys/eventfd.h>

#include "testlib.h"

static void send_fds(int sock, const int *fds, int n)
{
	char byte = 'x';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	CHECK(sendmsg(sock, &msg, 0) == 1);
}

static __attribute__((noinline)) void receive(int sock, int *fds, int n)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	CHECK(recvmsg(sock, &msg, 0) == 1);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	CHECK(c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(n * sizeof(int)));
	memcpy(fds, CMSG_DATA(c), n * sizeof(int));
}

int main(void)
{
	int sv[2], p[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pipe(p) == 0);
	int sent[3] = {p[0], open("/etc/hostname", O_RDONLY), eventfd(0, 0)};
	CHECK(sent[1] >= 0 && sent[2] >= 0);
	send_fds(sv[0], sent, 3);
	for (int i = 0; i < 3; i++)
		close(sent[i]);
	close(p[1]);
	int got[3];
	receive(sv[1], got, 3);
	close(got[0]);
	close(got[1]);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
