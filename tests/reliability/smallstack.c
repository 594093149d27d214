/* Small stacks (issue 10, item 7): hooks and the exit report must not crash a program whose
 * thread or signal stack is small. Each mode prints what it did, one line per step; the tests
 * (tests/test_gate_stacks.py) run each mode bare and under sockleak and compare the transcripts,
 * the exit status (and signal) and the report. '#' lines carry figures that vary by machine.
 *
 *   smallstack socket [KIB]  a thread on a KIB KiB stack (PTHREAD_STACK_MIN, 16 KiB, by
 *                            default) makes a TCP socket and leaks it
 *   smallstack socket_low    a thread leaves less than 2 KiB of its 64 KiB stack and makes a
 *                            UDP socket there (leaked): too little room for any stack walk
 *   smallstack exit KIB      the main thread leaks a TCP socket; a thread on a KIB KiB stack
 *                            calls exit(0)
 *   smallstack exit_noas [KIB]  the main thread leaks a TCP socket, lowers RLIMIT_AS to what
 *                            it uses and 256 KiB more, and calls exit(0); with KIB, a thread
 *                            on a KIB KiB stack (made before the limit) calls it
 *   smallstack altexit [B]   the main thread leaks a TCP socket; a signal handler on an
 *                            alternate stack of B bytes (SIGSTKSZ by default: sysconf's
 *                            figure with _GNU_SOURCE, 8192 before glibc 2.34) calls _exit(0)
 *   smallstack altsocket [B] a signal handler on an alternate stack of B bytes makes a UDP
 *                            socket (leaked), then the program returns from main
 *   smallstack measure       prints the deepest stack use of each hooked path ("# use PATH
 *                            BYTES"), from a painted thread stack; not a test, a measurement
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "../../testapps/testlib.h"

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* The room left below the current frame, from the thread's own stack bounds. */
static size_t room_left(void)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;
	CHECK(pthread_getattr_np(pthread_self(), &attr) == 0);
	CHECK(pthread_attr_getstack(&attr, &addr, &size) == 0);
	pthread_attr_destroy(&attr);
	char here;
	return (size_t)(&here - (char *)addr);
}

static void run_thread(size_t stack, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	CHECK(pthread_attr_init(&attr) == 0);
	CHECK(pthread_attr_setstacksize(&attr, stack) == 0);
	CHECK(pthread_create(&t, &attr, fn, arg) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	pthread_attr_destroy(&attr);
}

/* ---- socket() on a small thread stack ---- */

static void *socket_thread(void *arg)
{
	(void)arg;
	printf("# room %zu\n", room_left());
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	say(fd >= 0 ? "socket = ok" : "socket failed");
	return NULL;
}

/* Uses the stack down to about `keep` bytes above its end, then makes the socket there (and
 * prints nothing there: printf alone needs more). */
static size_t low_room;
static int low_fd = -1;

static __attribute__((noinline)) void socket_with_room(char *end, size_t keep)
{
	char here;
	if ((size_t)(&here - end) > keep + 256) {
		volatile char pad[192];
		pad[0] = 1;
		socket_with_room(end, keep);
		(void)pad[0];
		return;
	}
	low_room = (size_t)(&here - end);
	low_fd = socket(AF_INET, SOCK_DGRAM, 0);
}

static void *socket_low_thread(void *arg)
{
	(void)arg;
	/* The program's own first call to socket() runs the loader's lazy binding (2 to 3 KiB of
	 * stack): bound here, so that only sockleak's hook runs with little room. */
	close(socket(AF_UNIX, SOCK_DGRAM, 0));
	size_t room = room_left();
	char here;
	socket_with_room(&here - room, 1536);
	printf("# room %zu\n", low_room);
	say(low_fd >= 0 ? "socket = ok" : "socket failed");
	return NULL;
}

/* ---- exit() on a small thread stack ---- */

/* Lets the address space grow by `spare` bytes at most. */
static void limit_address_space(size_t spare)
{
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f != NULL);
	unsigned long pages = 0;
	CHECK(fscanf(f, "%lu", &pages) == 1);
	fclose(f);
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
	rl.rlim_cur = pages * (size_t)sysconf(_SC_PAGESIZE) + spare;
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
}

static void *exit_thread(void *arg)
{
	(void)arg;
	say("exit(0) from the thread");
	exit(0);
}

/* ---- signal handlers on a SIGSTKSZ alternate stack ---- */

static void on_altexit(int sig)
{
	(void)sig;
	static const char line[] = "_exit(0) from the handler\n";
	ssize_t w = write(1, line, sizeof(line) - 1);
	(void)w;
	_exit(0);
}

static void on_altsocket(int sig)
{
	(void)sig;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	static const char ok[] = "socket in the handler = ok\n", bad[] = "socket in the handler failed\n";
	ssize_t w = fd >= 0 ? write(1, ok, sizeof(ok) - 1) : write(1, bad, sizeof(bad) - 1);
	(void)w;
}

static void on_alt_stack(void (*handler)(int), size_t size)
{
	stack_t ss = {.ss_sp = malloc(size), .ss_size = size};
	CHECK(ss.ss_sp != NULL);
	CHECK(sigaltstack(&ss, NULL) == 0);
	struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_ONSTACK};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	printf("# alternate stack %zu\n", size);
	CHECK(raise(SIGUSR1) == 0);
}

/* ---- measure: the deepest stack use of each hooked path ---- */

#define PAINT 0xa5
#define MEASURE_STACK (1 << 20)

static char *painted;
static volatile uintptr_t mark_sp; /* the measured call's frame */

enum { M_SOCKET_COLD, M_SOCKET_WARM, M_ACCEPT, M_CLOSE, M_EPOLL_CTL, M_SSL_NEW, M_NONE };
static const char *const path_names[] = {"socket(first)", "socket(again)", "accept", "close", "epoll_ctl", "SSL_new"};
static int lfd = -1, port;

static __attribute__((noinline)) void measured_call(int what)
{
	char here;
	mark_sp = (uintptr_t)&here;
	switch (what) {
	case M_SOCKET_COLD:
	case M_SOCKET_WARM: {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		break;
	}
	case M_ACCEPT: {
		int fd = accept(lfd, NULL, NULL);
		CHECK(fd >= 0);
		break;
	}
	case M_CLOSE:
		close(lfd);
		break;
	case M_EPOLL_CTL: {
		static int ep = -1;
		if (ep < 0)
			ep = epoll_create1(0);
		static int fd = -1;
		if (fd < 0)
			fd = socket(AF_INET, SOCK_DGRAM, 0);
		memset(painted, PAINT, mark_sp - (uintptr_t)painted - 64);
		struct epoll_event ev = {.events = EPOLLIN};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
		break;
	}
	case M_SSL_NEW: {
		void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_GLOBAL);
		if (!h)
			break;
		void *(*method)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "TLS_method");
		void *(*ctx_new)(void *) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "SSL_CTX_new");
		void *(*ssl_new)(void *) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "SSL_new");
		void *ctx = ctx_new(method());
		/* Repaint what SSL_CTX_new used: only SSL_new is measured. */
		memset(painted, PAINT, mark_sp - (uintptr_t)painted - 64);
		CHECK(ssl_new(ctx) != NULL);
		break;
	}
	}
}

static void *measure_thread(void *arg)
{
	int what = (int)(intptr_t)arg;
	if (what == M_ACCEPT)
		tl_connect(port);
	measured_call(what);
	return NULL;
}

static void measure(int what)
{
	memset(painted, PAINT, MEASURE_STACK);
	pthread_attr_t attr;
	pthread_t t;
	CHECK(pthread_attr_init(&attr) == 0);
	CHECK(pthread_attr_setstack(&attr, painted, MEASURE_STACK) == 0);
	CHECK(pthread_create(&t, &attr, measure_thread, (void *)(intptr_t)what) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	size_t low = 0;
	while (low < MEASURE_STACK && (unsigned char)painted[low] == PAINT)
		low++;
	printf("# use %s %ld\n", path_names[what], (long)(mark_sp - (uintptr_t)(painted + low)));
}

static void measure_all(void)
{
	painted = mmap(NULL, MEASURE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	CHECK(painted != MAP_FAILED);
	lfd = tl_listener(&port);
	for (int w = M_SOCKET_COLD; w < M_NONE; w++)
		measure(w);
	/* The exit report: a child's thread, on a shared painted stack, calls exit(). */
	painted = mmap(NULL, MEASURE_STACK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	CHECK(painted != MAP_FAILED);
	memset(painted, PAINT, MEASURE_STACK);
	char *volatile *shared_sp = (char *volatile *)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pthread_attr_t attr;
		pthread_t t;
		CHECK(pthread_attr_init(&attr) == 0);
		CHECK(pthread_attr_setstack(&attr, painted, MEASURE_STACK) == 0);
		CHECK(pthread_create(&t, &attr, exit_thread, NULL) == 0);
		(void)shared_sp;
		pause();
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	size_t low = 0;
	while (low < MEASURE_STACK && (unsigned char)painted[low] == PAINT)
		low++;
	/* The thread's first frame sits right under its TLS and descriptor, at the top. */
	char *top = painted + MEASURE_STACK;
	size_t high = MEASURE_STACK;
	while (high > 0 && (unsigned char)painted[high - 1] != PAINT)
		high--;
	printf("# use exit(whole thread) %ld\n", (long)(top - (painted + low)));
	(void)high;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "socket")) {
		run_thread(argc > 2 ? (size_t)atoi(argv[2]) * 1024 : PTHREAD_STACK_MIN, socket_thread, NULL);
	} else if (!strcmp(mode, "socket_low")) {
		run_thread(64 * 1024, socket_low_thread, NULL);
	} else if (!strcmp(mode, "exit") && argc > 2) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		run_thread((size_t)atoi(argv[2]) * 1024, exit_thread, NULL);
		say("the thread returned");
	} else if (!strcmp(mode, "exit_noas")) {
		/* No room left in the address space for sockleak's report stack (1 MiB). */
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		pthread_attr_t attr;
		pthread_t t;
		CHECK(pthread_attr_init(&attr) == 0);
		if (argc > 2)
			CHECK(pthread_attr_setstacksize(&attr, (size_t)atoi(argv[2]) * 1024) == 0);
		limit_address_space(256 * 1024);
		if (argc > 2) {
			CHECK(pthread_create(&t, &attr, exit_thread, NULL) == 0);
			CHECK(pthread_join(t, NULL) == 0);
		}
		say("exit(0) with 256 KiB of address space to spare");
		exit(0);
	} else if (!strcmp(mode, "altexit")) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		on_alt_stack(on_altexit, argc > 2 ? (size_t)atoi(argv[2]) : SIGSTKSZ);
		say("the handler returned");
	} else if (!strcmp(mode, "altsocket")) {
		on_alt_stack(on_altsocket, argc > 2 ? (size_t)atoi(argv[2]) : SIGSTKSZ);
		say("main returns");
	} else if (!strcmp(mode, "measure")) {
		measure_all();
	} else {
		fprintf(stderr, "usage: smallstack socket [KIB]|socket_low|exit KIB|exit_noas|altexit [B]|altsocket [B]|measure\n");
		return 2;
	}
	return 0;
}
