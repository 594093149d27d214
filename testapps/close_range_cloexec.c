// close_range with CLOSE_RANGE_CLOEXEC only marks descriptors: the two sockets stay open.
// EXPECT: tcp4 client never-closed @main
// EXPECT: tcp4 accepted never-closed @main
// EXPECT-EXIT: 23
#include <linux/close_range.h>
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	close(l);
	CHECK(close_range((unsigned)c, (unsigned)a, CLOSE_RANGE_CLOEXEC) == 0);
	return 0;
}
