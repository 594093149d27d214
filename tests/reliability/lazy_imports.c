/* sockleak's own C library imports, bound at their first call (resolve.c, sl_lazy_bind).
 *
 *   lazy_imports addresses   for every import, whether sockleak's binding is the function the
 *                            loader gives (dlsym(RTLD_DEFAULT), the global scope in load order,
 *                            default version), and where malloc and strlen come from
 *   lazy_imports thread      socket calls made first in a thread whose stack is PTHREAD_STACK_MIN
 *   lazy_imports signal      socket calls made first in a signal handler on a 16 KiB
 *                            alternate stack
 *
 * thread and signal print what each call returned (the transcript compared bare and preloaded)
 * and, on stderr, how many of sockleak's imports those first calls bound (0 bare).
 * Built a second time with -DOWN_FUNCTIONS -rdynamic (lazy_imports_own): the program then
 * defines and exports its own malloc family and strlen, which the loader would bind sockleak's
 * calls to. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>

#include "../../testapps/testlib.h"

#ifdef OWN_FUNCTIONS
/* A bump allocator: enough for a short program, never reused. */
static _Alignas(64) char heap[64 << 20];
static size_t heap_used;

void *malloc(size_t n)
{
	size_t at = __atomic_fetch_add(&heap_used, (n + 15) / 16 * 16 + 16, __ATOMIC_RELAXED);
	if (at + n + 16 > sizeof(heap)) {
		errno = ENOMEM;
		return NULL;
	}
	*(size_t *)(heap + at) = n;
	return heap + at + 16;
}

void free(void *p)
{
	(void)p;
}

void *calloc(size_t a, size_t b)
{
	return malloc(a * b); /* the heap is zero and never reused */
}

size_t malloc_usable_size(void *p)
{
	return p ? *(size_t *)((char *)p - 16) : 0;
}

void *realloc(void *p, size_t n)
{
	void *q = malloc(n);
	if (q && p) {
		size_t old = malloc_usable_size(p);
		for (size_t i = 0; i < old && i < n; i++)
			((char *)q)[i] = ((char *)p)[i];
	}
	return q;
}

void *memalign(size_t align, size_t n)
{
	char *p = malloc(n + align);
	return p ? (void *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1)) : NULL;
}

void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	*out = memalign(align, n);
	return *out ? 0 : ENOMEM;
}

size_t strlen(const char *s)
{
	volatile const char *p = s; /* kept a loop: GCC would make a strlen of it */
	while (*p)
		p++;
	return (size_t)(p - s);
}
#endif

typedef const char *lazy_fn(unsigned, void **, int);

static lazy_fn *lazy(void)
{
	return (lazy_fn *)dlsym(RTLD_DEFAULT, "sockleak_lazy_import");
}

static const char *object_of(void *addr)
{
	Dl_info info;
	if (!addr || !dladdr(addr, &info) || !info.dli_fname)
		return "?";
	const char *slash = strrchr(info.dli_fname, '/');
	return slash ? slash + 1 : info.dli_fname;
}

static int addresses(void)
{
	lazy_fn *f = lazy();
	if (!f) {
		printf("no lazy imports\n");
		return 1;
	}
	int differ = 0;
	unsigned i;
	void *addr;
	const char *name;
	for (i = 0; (name = f(i, &addr, 1)); i++) {
		void *want = dlsym(RTLD_DEFAULT, name);
		if (addr != want) {
			printf("%s differs: %p (%s) %p (%s)\n", name, addr, object_of(addr), want, object_of(want));
			differ = 1;
		}
	}
	printf("%u imports\n", i);
	/* The versions the static linker records for these names (their default ones) are the ones
	 * sockleak must take, not the older ones glibc keeps beside them. */
	static const char *const versioned[][2] = {{"memcpy", "GLIBC_2.14"}, {"realpath", "GLIBC_2.3"},
						   {"pthread_sigmask", "GLIBC_2.32"}, {"fstat", "GLIBC_2.33"}};
	for (unsigned v = 0; v < sizeof(versioned) / sizeof(versioned[0]); v++)
		for (unsigned k = 0; (name = f(k, &addr, 1)); k++)
			if (strcmp(name, versioned[v][0]) == 0)
				printf("%s@%s %s\n", name, versioned[v][1],
				       addr == dlvsym(RTLD_DEFAULT, name, versioned[v][1]) ? "same" : "differs");
	static const char *const shown[] = {"close", "free", "malloc", "strlen"};
	for (unsigned v = 0; v < sizeof(shown) / sizeof(shown[0]); v++)
		for (unsigned k = 0; (name = f(k, &addr, 1)); k++)
			if (strcmp(name, shown[v]) == 0)
				printf("%s from %s\n", name, object_of(addr));
	return differ;
}

/* ---- first calls in a small thread, and in a signal handler ---- */

static char out[4096];
static size_t out_len;

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + out_len, sizeof(out) - out_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_len += (size_t)n < sizeof(out) - out_len ? (size_t)n : sizeof(out) - out_len - 1;
}

static unsigned bound_now(void)
{
	lazy_fn *f = lazy();
	unsigned n = 0;
	void *addr;
	for (unsigned i = 0; f && f(i, &addr, 0); i++)
		n += addr != NULL;
	return n;
}

static unsigned bound_by_calls;

/* Socket calls whose recording makes sockleak call C library functions it has not called yet
 * in this process (the clock, the addresses, the arena's memory). */
static void first_calls(void)
{
	unsigned before = bound_now();
	int sv[2] = {-1, -1};
	errno = 0;
	int r = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	say("socketpair %d %d %d errno %d\n", r, sv[0], sv[1], errno);
	char buf[8] = {0};
	ssize_t w = write(sv[0], "ping", 4);
	ssize_t rd = read(sv[1], buf, 4);
	say("write %zd read %zd %.4s\n", w, rd, buf);
	int t = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int b = bind(t, (struct sockaddr *)&a, sizeof(a));
	int l = listen(t, 4);
	socklen_t len = sizeof(a);
	int g = getsockname(t, (struct sockaddr *)&a, &len);
	say("socket %d bind %d listen %d getsockname %d port set %d\n", t, b, l, g, a.sin_port != 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int k = connect(c, (struct sockaddr *)&a, sizeof(a));
	int acc = accept(t, NULL, NULL);
	say("connect %d %d accept %d\n", c, k, acc);
	errno = 0;
	int bad = close(-1);
	int e = errno;
	say("close(-1) %d errno %d\n", bad, e);
	int c1 = close(acc), c2 = close(c), c3 = close(t), c4 = close(sv[0]), c5 = close(sv[1]);
	say("close %d %d %d %d %d\n", c1, c2, c3, c4, c5);
	bound_by_calls = bound_now() - before;
}

static void *thread_main(void *arg)
{
	(void)arg;
	first_calls();
	return NULL;
}

static int in_thread(void)
{
	pthread_attr_t attr;
	CHECK(pthread_attr_init(&attr) == 0);
	CHECK(pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN) == 0);
	pthread_t t;
	CHECK(pthread_create(&t, &attr, thread_main, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	fputs(out, stdout);
	fprintf(stderr, "bound by the first calls: %u\n", bound_by_calls);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	first_calls();
}

static int in_signal_handler(void)
{
	static char alt[16384];
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt)};
	CHECK(sigaltstack(&ss, NULL) == 0);
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_ONSTACK};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(raise(SIGUSR1) == 0);
	fputs(out, stdout);
	fprintf(stderr, "bound by the first calls: %u\n", bound_by_calls);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "addresses") == 0)
		return addresses();
	if (argc == 2 && strcmp(argv[1], "thread") == 0)
		return in_thread();
	if (argc == 2 && strcmp(argv[1], "signal") == 0)
		return in_signal_handler();
	fprintf(stderr, "usage: lazy_imports addresses|thread|signal\n");
	return 2;
}
