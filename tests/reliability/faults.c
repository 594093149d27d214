/* Fault injection (issue 7): each mode drives the program into one fault and prints what every
 * call returned, with its errno, one line per call. tests/test_reliability.py runs each mode bare
 * and under sockleak and requires the two transcripts to be identical, then checks the report.
 *
 *   faults emfile     descriptor exhaustion: socket(), socketpair(), accept4(), dup() and
 *                     epoll_create1() fail with EMFILE; a socket leaked on purpose at the limit
 *   faults highfd     descriptors above 1,000,000 (RLIMIT_NOFILE raised to the kernel's
 *                     nr_open): dup2, dup3, F_DUPFD there, close_range over them, one leaked
 *                     at the very top. Without CAP_SYS_RESOURCE the hard limit cannot be
 *                     raised: the same is done just under the hard limit, and the first line
 *                     says which ("range: above 1000000" or "range: below the hard limit").
 *   faults eintr      signals interrupting blocking accept, recv, read, recvmsg, epoll_wait and
 *                     connect (no SA_RESTART: EINTR), then a recv that SA_RESTART resumes; the
 *                     handlers close one socket and leak another
 *   faults storm      a signal storm on a thread churning sockets: each handler makes and
 *                     closes a socket, often while the thread is inside sockleak (its events
 *                     are then deferred); a "# made N" line gives the exact count
 *   faults badfd      closing what the program does not own: never-opened numbers, -1, a
 *                     socket closed twice, close_range with first > last, dup2 from a bad fd
 *   faults spawn      posix_spawn of a missing file, vfork then a failing exec, fork then exec
 *   faults ownfds     the numbers sockleak keeps for itself (libunwind's pipe, 900 and up):
 *                     close() of them gives EBADF as bare; after closefrom(3) the program
 *                     puts a socketpair there, and sockets made meanwhile (stack captures,
 *                     which use libunwind's pipe) must leave the bytes waiting in it alone
 *   faults logfd      (with run_dir) closefrom(3) closes sockleak's own event-log descriptor;
 *                     the program then puts a socket on that number and forks: the child must
 *                     still have it
 */
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "../../testapps/testlib.h"

extern char **environ;

/* Prints "what = ret" and, when ret < 0, the errno's name. */
static long show(const char *what, long ret)
{
	int e = errno;
	if (ret < 0)
		printf("%s = %ld %s\n", what, ret, strerrorname_np(e) ? strerrorname_np(e) : "?");
	else
		printf("%s = ok\n", what);
	fflush(stdout);
	errno = e;
	return ret;
}

/* Prints the value itself (for calls whose descriptor numbers are part of the point). */
static long show_value(const char *what, long ret)
{
	int e = errno;
	if (ret < 0)
		printf("%s = %ld %s\n", what, ret, strerrorname_np(e) ? strerrorname_np(e) : "?");
	else
		printf("%s = %ld\n", what, ret);
	fflush(stdout);
	errno = e;
	return ret;
}

/* ---- emfile ---- */

static int leaked_at_limit(int fd)
{
	return fd; /* the socket made last before the limit: never closed */
}

static void mode_emfile(void)
{
	int port;
	int l = tl_listener(&port);
	int pending = tl_connect(port); /* waits in the backlog for an accept4 that will fail */
	struct rlimit rl = {64, 64};
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = 64;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	int fds[64], n = 0;
	for (;;) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			break;
		fds[n++] = s;
	}
	printf("sockets made before the limit: %d\n", n);
	show("socket", socket(AF_INET, SOCK_DGRAM, 0));
	int sv[2];
	show("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	show("accept4", accept4(l, NULL, NULL, SOCK_CLOEXEC));
	show("accept", accept(l, NULL, NULL));
	show("dup", dup(l));
	show("fcntl F_DUPFD", fcntl(l, F_DUPFD, 0));
	show("epoll_create1", epoll_create1(0));
	/* One descriptor back: the pending connection is accepted, and the last socket made
	 * before the limit is kept open on purpose (the one finding). */
	close(fds[--n]);
	int a = (int)show("accept4 after one close", accept4(l, NULL, NULL, 0));
	int kept = leaked_at_limit(fds[--n]);
	(void)kept;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(a);
	close(pending);
	close(l);
}

/* ---- highfd ---- */

static void mode_highfd(void)
{
	long nr_open = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	if (f) {
		CHECK(fscanf(f, "%ld", &nr_open) == 1);
		fclose(f);
	}
	struct rlimit rl = {(rlim_t)nr_open, (rlim_t)nr_open};
	long base;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
		base = 1000000;
		printf("range: above 1000000\n");
	} else {
		CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
		rl.rlim_cur = rl.rlim_max;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
		base = (long)rl.rlim_max - 100;
		printf("range: below the hard limit\n");
	}
	int top = (int)rl.rlim_cur - 1; /* the highest descriptor the kernel allows */
	fprintf(stderr, "# top %d\n", top);
	int port;
	int l = tl_listener(&port);
	int c = tl_connect(port);
	int a = tl_accept(l);
	show_value("dup2 listener", dup2(l, (int)base + 3) - base);
	close(l);
	show_value("dup3 client", dup3(c, (int)base + 4, O_CLOEXEC) - base);
	close(c);
	show_value("F_DUPFD accepted", fcntl(a, F_DUPFD_CLOEXEC, (int)base + 5) - base);
	close(a);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	show_value("dup2 to the top", dup2(s, top) == top ? 0 : -1);
	close(s);
	int e = epoll_create1(0);
	show_value("epoll dup2", dup2(e, (int)base + 10) - base);
	close(e);
	struct epoll_event ev = {.events = EPOLLIN};
	show("epoll_ctl high", epoll_ctl((int)base + 10, EPOLL_CTL_ADD, (int)base + 5, &ev));
	show("dup2 back down", dup2((int)base + 4, 50));
	show("close_range base..base+9", close_range((unsigned)base, (unsigned)base + 9, 0));
	/* The accepted socket was registered and is now closed: its registration went with it. */
	show("close the epoll set", close((int)base + 10));
	show("close base+3 again", close((int)base + 3));
	show("close the low copy", close(50));
	/* The socket at the top stays open: the one finding, at the highest descriptor. */
}

/* ---- storm ---- */

static long storm_made;

static void storm_handler(int sig)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s >= 0) {
		__atomic_add_fetch(&storm_made, 1, __ATOMIC_RELAXED);
		close(s);
	}
}

static volatile int storm_stop;

static void *storm_sender(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	while (!storm_stop) {
		pthread_kill(target, SIGUSR2);
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void mode_storm(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = storm_handler;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	pthread_t self = pthread_self(), t;
	CHECK(pthread_create(&t, NULL, storm_sender, &self) == 0);
	int port;
	int l = tl_listener(&port);
	__atomic_add_fetch(&storm_made, 1, __ATOMIC_RELAXED);
	int ep = epoll_create1(0);
	for (int i = 0; i < 3000; i++) {
		int c = tl_connect(port);
		int a = tl_accept(l);
		struct epoll_event ev = {.events = EPOLLIN};
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0);
		int d = dup(c);
		CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL) == 0);
		close(a);
		close(c);
		close(d);
		__atomic_add_fetch(&storm_made, 2, __ATOMIC_RELAXED);
	}
	storm_stop = 1;
	pthread_join(t, NULL);
	/* A signal sent just before the sender stopped may still be pending: drop it, so that no
	 * handler makes a socket after the count below is printed. */
	signal(SIGUSR2, SIG_IGN);
	close(ep);
	close(l);
	printf("storm done\n");
	printf("# made %ld\n", __atomic_load_n(&storm_made, __ATOMIC_RELAXED));
}

/* ---- eintr ---- */

static volatile sig_atomic_t handled;
static int victim = -1;      /* closed by the handler */
static pthread_t main_thread;

static void on_signal(int sig)
{
	handled++;
	if (victim >= 0) {
		close(victim);
		victim = -1;
		/* A socket made inside a handler, kept open: the second finding. */
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		(void)s;
	}
}

static void *kicker(void *arg)
{
	long delay_ms = (long)arg;
	struct timespec ts = {0, delay_ms * 1000000L};
	nanosleep(&ts, NULL);
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

static void kick_after(long ms)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, kicker, (void *)ms) == 0);
	pthread_detach(t);
}

static void *late_sender(void *arg)
{
	int fd = (int)(long)arg;
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	CHECK(write(fd, "hello", 5) == 5);
	return NULL;
}

static void set_handler(int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
}

static void mode_eintr(void)
{
	main_thread = pthread_self();
	set_handler(0);
	int port;
	int l = tl_listener(&port);
	char buf[16];

	kick_after(100);
	show("accept", accept(l, NULL, NULL));
	kick_after(100);
	show("accept4", accept4(l, NULL, NULL, 0));

	int c = tl_connect(port);
	int a = tl_accept(l);
	kick_after(100);
	show("recv", recv(a, buf, sizeof(buf), 0));
	kick_after(100);
	show("read", read(a, buf, sizeof(buf)));
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	kick_after(100);
	show("recvmsg", recvmsg(a, &msg, 0));
	kick_after(100);
	show("recvfrom", recvfrom(a, buf, sizeof(buf), 0, NULL, NULL));
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0);
	kick_after(100);
	show("epoll_wait", epoll_wait(ep, &ev, 1, 5000));
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL) == 0);
	close(ep);

	/* A blocking connect to a listener whose backlog is full waits for room: interrupted. */
	int full_port;
	int full = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(bind(full, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(full, 0) == 0);
	socklen_t len = sizeof(sa);
	CHECK(getsockname(full, (struct sockaddr *)&sa, &len) == 0);
	full_port = ntohs(sa.sin_port);
	int fillers[4];
	for (int i = 0; i < 4; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		sa.sin_port = htons((uint16_t)full_port);
		connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	int blocked = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {5, 0};
	CHECK(setsockopt(blocked, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
	kick_after(100);
	long r = connect(blocked, (struct sockaddr *)&sa, sizeof(sa));
	/* Linux either waits (and is interrupted) or accepts the SYN at once on loopback: either
	 * way the same in both runs, which is what is compared. */
	show("connect to a full backlog", r < 0 && errno == EINTR ? -1 : 0);
	close(blocked);
	for (int i = 0; i < 4; i++)
		close(fillers[i]);
	close(full);

	/* SA_RESTART: the interrupted recv resumes and gets the bytes sent 300 ms later. */
	set_handler(SA_RESTART);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, late_sender, (void *)(long)c) == 0);
	kick_after(100);
	show_value("recv with SA_RESTART", recv(a, buf, sizeof(buf), 0));
	pthread_join(t, NULL);

	/* A handler that closes a tracked socket (and makes one) while the program sleeps in a
	 * blocking call on another. */
	set_handler(0);
	int pair[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
	victim = pair[1];
	kick_after(100);
	show("read while the handler closes the other end", read(pair[0], buf, sizeof(buf)));
	show("read after the peer was closed", read(pair[0], buf, sizeof(buf)));
	close(pair[0]);
	printf("signals handled: %d\n", (int)handled);
	close(a);
	close(c);
	close(l);
}

/* ---- badfd ---- */

static void mode_badfd(void)
{
	show("close 12345 (never opened)", close(12345));
	show("close -1", close(-1));
	int s = socket(AF_INET, SOCK_STREAM, 0);
	show("close socket", close(s));
	show("close socket again", close(s));
	show("shutdown closed socket", shutdown(s, SHUT_RDWR));
	show("dup2 from a closed fd", dup2(s, 200));
	show("dup3 same fd", dup3(1, 1, 0));
	show("close_range 10..5", close_range(10, 5, 0));
	show("syscall close 4321", syscall(SYS_close, 4321));
	show("epoll_ctl on bad fds", epoll_ctl(9999, EPOLL_CTL_ADD, 9998, NULL));
	show("connect on a bad fd", connect(9997, NULL, 0));
	int f = open("/dev/null", O_RDONLY);
	show("close a file", close(f));
	show("close it again", close(f));
	/* Closing a descriptor another part of the program owns: it is gone for both. */
	int t = socket(AF_INET, SOCK_DGRAM, 0);
	int alias = t;
	show("close the socket", close(t));
	show("its owner closes it too", close(alias));
	show("fcntl on the closed fd", fcntl(alias, F_GETFD));
}

/* ---- spawn ---- */

static void mode_spawn(void)
{
	pid_t pid;
	char *args[] = {"missing", NULL};
	int r = posix_spawn(&pid, "/nonexistent/missing", NULL, NULL, args, environ);
	printf("posix_spawn of a missing file = %s\n", r ? strerrorname_np(r) : "ok");
	if (r == 0) {
		int st;
		waitpid(pid, &st, 0);
		printf("  its child exited with %d\n", WEXITSTATUS(st));
	}
	int port;
	int l = tl_listener(&port);
	pid = vfork();
	if (pid == 0) {
		close(l);
		execl("/nonexistent/missing", "missing", (char *)NULL);
		_exit(errno == ENOENT ? 42 : 43);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	printf("vfork child after a failed exec exited with %d\n", WEXITSTATUS(st));
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	printf("fork then exec exited with %d\n", WEXITSTATUS(st));
	close(l);
}

/* ---- ownfds ---- */

static void mode_ownfds(void)
{
	show("close 900", close(900));
	show("close 901", close(901));
	show("syscall close 901", syscall(SYS_close, 901));
	closefrom(3);
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	show_value("socketpair first", sv[0]);
	show_value("dup2 onto 900", dup2(sv[0], 900));
	show_value("dup2 onto 901", dup2(sv[1], 901));
	close(sv[0]);
	close(sv[1]);
	CHECK(write(901, "abc", 3) == 3);
	for (int i = 0; i < 200; i++) {
		int s = socket(i % 2 ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
		if (i == 0)
			show_value("next socket", s);
		close(s);
	}
	char buf[8] = {0};
	show_value("read 900", read(900, buf, sizeof(buf)));
	printf("bytes: %s\n", buf);
	show("close 900", close(900));
	show("close 901", close(901));
}

/* ---- logfd ---- */

static void mode_logfd(void)
{
	closefrom(3); /* a daemon's habit: this closes sockleak's event log descriptor too */
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	show_value("dup2 onto 900", dup2(s, 900));
	close(s);
	pid_t pid = fork();
	if (pid == 0) {
		int type = 0;
		socklen_t len = sizeof(type);
		int r = getsockopt(900, SOL_SOCKET, SO_TYPE, &type, &len);
		show("child: fd 900 is still the socket", r == 0 && type == SOCK_DGRAM ? 0 : -1);
		close(900);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	int type = 0;
	socklen_t len = sizeof(type);
	show("parent: fd 900 is still the socket",
	     getsockopt(900, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM ? 0 : -1);
	close(900);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "emfile"))
		mode_emfile();
	else if (!strcmp(argv[1], "highfd"))
		mode_highfd();
	else if (!strcmp(argv[1], "eintr"))
		mode_eintr();
	else if (!strcmp(argv[1], "storm"))
		mode_storm();
	else if (!strcmp(argv[1], "badfd"))
		mode_badfd();
	else if (!strcmp(argv[1], "spawn"))
		mode_spawn();
	else if (!strcmp(argv[1], "ownfds"))
		mode_ownfds();
	else if (!strcmp(argv[1], "logfd"))
		mode_logfd();
	else
		CHECK(0);
	return 0;
}
