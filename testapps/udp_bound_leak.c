// A UDP socket bound to a port and never closed; a connected UDP client closed properly.
// EXPECT: udp4 bound never-closed @main
// EXPECT-EXIT: 23
#include "testlib.h"

int main(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	socklen_t len = sizeof(a);
	CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(send(c, "x", 1, 0) == 1);
	close(c);
	return 0;
}
