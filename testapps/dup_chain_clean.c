// The same chain of copies, all closed: the transport ends with its last descriptor.
// EXPECT-NONE
// EXPECT-EXIT: 0
#include <fcntl.h>
#include "testlib.h"

int main(void)
{
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	int d1 = dup(c);
	int d2 = dup2(d1, 40);
	int d3 = dup3(d2, 41, O_CLOEXEC);
	int d4 = fcntl(d3, F_DUPFD, 50);
	close(c);
	close(d1);
	close(d2);
	close(d3);
	close(d4);
	close(a);
	close(l);
	return 0;
}
