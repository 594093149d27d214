/* files: the open()-heavy loop of issue 15, where track= costs the most: per unit, open a file,
 * read it, close it. Under the default track=sockets the open hook checks one flag and calls the
 * real open; under track=all each file is a transport made (with its stack) and finished.
 *
 *   files [FILES]   (default 200,000)
 *
 * The time is taken from the first open to the last close. */
#include <fcntl.h>

#include "benchlib.h"

int main(int argc, char **argv)
{
	long n = bl_count(argc, argv, 200000);
	char buf[256];
	double t0 = bl_now();
	for (long i = 0; i < n; i++) {
		int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
		CHECK(fd >= 0);
		CHECK(read(fd, buf, sizeof(buf)) > 0);
		close(fd);
	}
	bl_result("files", "file", n, bl_now() - t0);
	return 0;
}
