// One client socket is never closed; the listener and the accepted socket are.
// EXPECT: tcp4 client never-closed @open_client
// EXPECT-EXIT: 23
#include "testlib.h"

static int open_client(int port)
{
	return tl_connect(port);
}

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = open_client(port);
	int a = tl_accept(l);
	close(a);
	close(l);
	(void)c;
	return 0;
}
