// A unix-domain listener on a path, never closed; its accepted and client sockets are closed.
// EXPECT: unix-stream listener never-closed @main
// EXPECT-EXIT: 23
#include <sys/un.h>
#include "testlib.h"

int main(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/listener.sock", getenv("TEST_TMP"));
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(l, 4) == 0);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	int s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	close(s);
	close(c);
	return 0;
}
