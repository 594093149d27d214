// Linked statically, so the preload never loads in it: runs its arguments with LD_PRELOAD taken
// out of the environment, as a launcher that cleans the environment does. Nothing of the
// command is ever tracked: 'sockleak run' must fail the gate, not pass an empty run.
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	unsetenv("LD_PRELOAD");
	execv(argv[1], argv + 1);
	return 127;
}
