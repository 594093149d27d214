// A destructor closes the listener after main returned; exit() is called explicitly.
// EXPECT: tcp4 listener closed-at-exit @tl_listener
// EXPECT-EXIT: 23
#include "testlib.h"

static int listener = -1;

__attribute__((destructor)) static void close_listener(void)
{
	close(listener);
}

int main(void)
{
	int port;
	listener = tl_listener(&port);
	exit(0);
}
