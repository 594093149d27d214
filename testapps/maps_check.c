// A program without TLS: after making and closing sockets, it prints the libraries mapped in
// it; tests/test_tls.py checks that libssl and libcrypto are not among them.
// EXPECT-NONE
// EXPECT-EXIT: 0
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	char buf[4];
	CHECK(write(c, "abc", 3) == 3 && read(a, buf, 3) == 3);
	close(a);
	close(c);
	close(l);
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f);
	char line[4096];
	while (fgets(line, sizeof(line), f))
		if (strstr(line, ".so"))
			fputs(strrchr(line, ' ') + 1, stdout);
	fclose(f);
	return 0;
}
