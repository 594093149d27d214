// Sockets closed by close_range, closefrom and syscall(SYS_close) are closed all the same.
// EXPECT-NONE
// EXPECT-EXIT: 0
#include <linux/close_range.h>
#include <sys/syscall.h>
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	CHECK(dup2(c, 100) == 100 && dup2(a, 101) == 101);
	close(c);
	close(a);
	CHECK(close_range(100, 101, 0) == 0);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(dup2(s, 200) == 200);
	close(s);
	closefrom(200);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(syscall(SYS_close, u) == 0);
	CHECK(syscall(SYS_close, l) == 0);
	return 0;
}
