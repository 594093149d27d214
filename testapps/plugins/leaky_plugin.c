/* A plugin for testapps/dlclose_plugin.c: it makes a socket and never closes it. The program
 * unloads it before exit, as lighttpd unloads its modules at shutdown. */
#include <sys/socket.h>

__attribute__((noinline)) int leaky_plugin_open_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0);
}
