// The only close of the client happens in an atexit handler: exit-time cleanup, not the program.
// EXPECT: tcp4 client closed-at-exit @main
// EXPECT-EXIT: 23
#include "testlib.h"

static int client = -1;

static void cleanup(void)
{
	close(client);
}

int main(void)
{
	int port;
	int l = tl_listener(&port);
	client = tl_connect(port);
	int a = tl_accept(l);
	close(a);
	close(l);
	atexit(cleanup);
	return 0;
}
