// dup2 onto an open socket closes it: the replaced socket (the listener) is finished, the client
// now has two descriptors and one is left open at exit.
// EXPECT: tcp4 client never-closed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	close(a);
	CHECK(dup2(c, l) == l); /* closes the listener, l now refers to the client */
	close(c);
	return 0;
}
