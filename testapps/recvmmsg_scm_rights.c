// Two sockets passed in one recvmmsg() call (two messages, one descriptor each): both
// received sockets are tracked; one is closed, the other leaked.
// EXPECT: udp4 received never-closed
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
	tl_send_fd(sv[0], a);
	tl_send_fd(sv[0], b);
	close(a);
	close(b);
	char bytes[2];
	struct iovec iov[2] = {{&bytes[0], 1}, {&bytes[1], 1}};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u[2];
	struct mmsghdr mm[2];
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < 2; i++) {
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = u[i].buf;
		mm[i].msg_hdr.msg_controllen = sizeof(u[i].buf);
	}
	CHECK(recvmmsg(sv[1], mm, 2, 0, NULL) == 2);
	int got[2];
	for (int i = 0; i < 2; i++)
		memcpy(&got[i], CMSG_DATA(CMSG_FIRSTHDR(&mm[i].msg_hdr)), sizeof(int));
	close(got[0]);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
