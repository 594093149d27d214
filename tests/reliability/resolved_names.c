/* Prints, for each name given, whether the real function sockleak found at start-up (its own
 * walk of the loaded objects' symbol tables, resolve.c) is the one dlsym finds in the C library
 * the program runs with: "NAME same", or "NAME differs: ADDRESS ADDRESS". Run preloaded. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	void *(*resolved)(const char *) = (void *(*)(const char *))dlsym(RTLD_DEFAULT, "sockleak_resolved");
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	if (!resolved || !libc) {
		printf("not preloaded\n");
		return 1;
	}
	int differ = 0;
	for (int i = 1; i < argc; i++) {
		void *mine = resolved(argv[i]), *want = dlsym(libc, argv[i]);
		if (mine == want) {
			printf("%s same\n", argv[i]);
		} else {
			printf("%s differs: %p %p\n", argv[i], mine, want);
			differ = 1;
		}
	}
	return differ;
}
