/* The program for libearly.so (see there): preloaded with it, or loading it with dlopen, it
 * joins the library's threads, makes and closes one socket of its own, and exits 0.
 *
 *   early_host               libearly.so is preloaded
 *   early_host dlopen PATH   libearly.so is loaded now, with dlopen */
#include <dlfcn.h>

#include "../../testapps/testlib.h"

int main(int argc, char **argv)
{
	void (*join)(void);
	if (argc == 3 && !strcmp(argv[1], "dlopen")) {
		void *h = dlopen(argv[2], RTLD_NOW);
		CHECK(h);
		join = (void (*)(void))dlsym(h, "early_join");
	} else {
		join = (void (*)(void))dlsym(RTLD_DEFAULT, "early_join");
	}
	CHECK(join);
	join();
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0);
	close(s);
	printf("early_host done\n");
	return 0;
}
