// A server accepts three connections (accept with an address, accept4 without) and forgets to
// close two of them; the client side is closed properly.
// EXPECT: tcp4 accepted never-closed @main x2
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c1 = tl_connect(port), c2 = tl_connect(port), c3 = tl_connect(port);
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	int a1 = accept(l, (struct sockaddr *)&peer, &len);
	int a2 = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	int a3 = accept(l, NULL, NULL);
	CHECK(a1 >= 0 && a2 >= 0 && a3 >= 0);
	close(a2);
	close(c1);
	close(c2);
	close(c3);
	close(l);
	return 0;
}
