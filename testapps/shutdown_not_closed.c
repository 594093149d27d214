// shutdown() ends the conversation but not the socket: it is still never closed.
// EXPECT: tcp4 client never-closed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	CHECK(shutdown(c, SHUT_RDWR) == 0);
	close(a);
	close(l);
	return 0;
}
