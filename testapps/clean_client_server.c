// A client and a server that close everything they open: nothing may be reported.
// EXPECT-NONE
// EXPECT-EXIT: 0
// EXPECT-NO-STDERR
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	for (int i = 0; i < 50; i++) {
		int c = tl_connect(port);
		int a = tl_accept(l);
		CHECK(write(c, "ping", 4) == 4);
		char buf[4];
		CHECK(read(a, buf, 4) == 4);
		close(a);
		close(c);
	}
	close(l);
	return 0;
}
