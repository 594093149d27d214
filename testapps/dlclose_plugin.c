// A plugin (build/testapps/libleaky_plugin.so) makes a socket that is never closed; the program
// unloads the plugin with dlclose before it exits. The report must still name the plugin's
// function in the socket's stack, not print a bare address.
// EXPECT: tcp4 socket never-closed @leaky_plugin_open_socket
// EXPECT-EXIT: 23
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>

#include "testlib.h"

int main(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/libleaky_plugin.so", dirname(exe));
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(h);
	int (*open_socket)(void) = (int (*)(void))dlsym(h, "leaky_plugin_open_socket");
	CHECK(open_socket && open_socket() >= 0);
	CHECK(dlclose(h) == 0);
	return 0;
}
