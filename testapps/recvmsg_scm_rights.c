// A socket passed over a unix socketpair with SCM_RIGHTS: the sender closes its copy, the
// receiver leaks the one it received. The pair and the original are closed.
// EXPECT: tcp4 received never-closed
// EXPECT-EXIT: 23
#include "testlib.h"

static int recv_fd(int via)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	CHECK(recvmsg(via, &m, 0) == 1);
	int fd;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
	return fd;
}

int main(void)
{
	int port, sv[2];
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	tl_send_fd(sv[0], c);
	close(c);
	int got = recv_fd(sv[1]);
	CHECK(got >= 0);
	close(sv[0]);
	close(sv[1]);
	close(a);
	close(l);
	return 0;
}
