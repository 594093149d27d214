// A process that gives up its access to the run folder before its first socket
// (tests/test_review_lazy_log.py). Run as root. One mode per run, named by the first argument:
//   setuid        setgid and setuid to 65534 (nobody), then leaks a UDP socket (leak_udp)
//   setresuid     the same with setresgid and setresuid
//   chroot DIR    chroot to DIR and chdir there, then leaks a UDP socket
//   setuid-quiet  setgid and setuid to 65534, and makes no socket
// Each prints the socket's number (or "quiet") and exits 0.
#include "../../testapps/testlib.h"

static void leak_udp(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	printf("socket %d\n", s);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "setuid") || !strcmp(mode, "setuid-quiet")) {
		CHECK(setgid(65534) == 0 && setuid(65534) == 0);
	} else if (!strcmp(mode, "setresuid")) {
		CHECK(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0);
	} else if (!strcmp(mode, "chroot") && argc > 2) {
		CHECK(chroot(argv[2]) == 0 && chdir("/") == 0);
	} else {
		return 2;
	}
	if (!strcmp(mode, "setuid-quiet")) {
		printf("quiet\n");
		return 0;
	}
	leak_udp();
	return 0;
}
