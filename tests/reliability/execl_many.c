/* execl, execle and execlp with long argument lists (issue 10, item 9): 5,000 and 100,000
 * arguments, and a list too big for the kernel (E2BIG). The new image is this program again
 * ("show"), printing what it received: its argument count, a hash of every argument, and the
 * variable execle passed. tests/test_gate_process.py runs each mode bare and preloaded and
 * compares the transcripts and exit statuses.
 *
 *   execl_many show ...      print argc, the hash of argv[1..] and SL_EXECLE
 *   execl_many MODE          MODE is {execl,execle,execlp}-{5k,100k,big} */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NNAMES 100000
static char names[NNAMES][8];
/* A long argument: 100,000 of them are far beyond any exec size limit (6 MiB at most). */
static char long_arg[128];

/* call_list(fn, list, n) calls the variadic fn with list[0..n-1] as its arguments, as the
 * x86-64 calling convention passes them: six in registers, the rest on the stack. A call written
 * out with 100,000 arguments takes the compiler minutes and gigabytes. n must be 6 or more. */
long call_list(void *fn, char **list, long n);
__asm__(".text\n"
	".globl call_list\n"
	".type call_list,@function\n"
	"call_list:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	mov %rdi, %r12\n"
	"	mov %rsi, %r13\n"
	"	mov %rdx, %r14\n"
	"	mov %rdx, %rcx\n"
	"	sub $6, %rcx\n"
	"	test $1, %rcx\n" /* keep the stack 16-byte aligned at the call */
	"	jz 1f\n"
	"	sub $8, %rsp\n"
	"1:	mov %r14, %r15\n"
	"2:	cmp $6, %r15\n"
	"	jle 3f\n"
	"	dec %r15\n"
	"	push (%r13,%r15,8)\n"
	"	jmp 2b\n"
	"3:	mov 0(%r13), %rdi\n"
	"	mov 8(%r13), %rsi\n"
	"	mov 16(%r13), %rdx\n"
	"	mov 24(%r13), %rcx\n"
	"	mov 32(%r13), %r8\n"
	"	mov 40(%r13), %r9\n"
	"	xor %eax, %eax\n"
	"	call *%r12\n"
	"	lea -32(%rbp), %rsp\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	ret\n"
	".size call_list, .-call_list\n");

/* Calls fn(first, "execl_many", "show", <count arguments>, NULL[, envp]) and reports a failure. */
static int try_exec(const char *mode, void *fn, const char *first, long count, int big, char **envp)
{
	long n = 0;
	char **list = malloc((size_t)(count + 5) * sizeof(char *));
	if (!list)
		return 99;
	list[n++] = (char *)first;
	list[n++] = "execl_many";
	list[n++] = "show";
	for (long i = 0; i < count; i++)
		list[n++] = big ? long_arg : names[i % NNAMES];
	list[n++] = NULL;
	if (envp)
		list[n++] = (char *)envp;
	fflush(stdout);
	call_list(fn, list, n);
	printf("%s failed: %s\n", mode, strerror(errno));
	return 1;
}

static int show(int argc, char **argv)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 1; i < argc; i++)
		for (const char *p = argv[i];; p++) {
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
			if (!*p)
				break;
		}
	const char *e = getenv("SL_EXECLE");
	printf("argc=%d hash=%016llx SL_EXECLE=%s\n", argc, (unsigned long long)h, e ? e : "-");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "show") == 0)
		return show(argc, argv);
	if (argc != 2) {
		fprintf(stderr, "usage: execl_many show|MODE\n");
		return 2;
	}
	for (int i = 0; i < NNAMES; i++)
		snprintf(names[i], sizeof(names[i]), "a%05d", i);
	memset(long_arg, 'x', sizeof(long_arg) - 1);
	static char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 99;
	self[n] = '\0';
	/* execlp searches PATH: the folder of this program only. */
	char *slash = strrchr(self, '/');
	*slash = '\0';
	setenv("PATH", self, 1);
	*slash = '/';
	const char *base = slash + 1;
	char *envp[] = {"SL_EXECLE=yes", NULL};

	const char *m = argv[1];
	long count = strstr(m, "-5k") ? 5000 : 100000;
	int big = strstr(m, "-big") != NULL;
	if (!strncmp(m, "execl-", 6))
		return try_exec(m, (void *)execl, self, count, big, NULL);
	if (!strncmp(m, "execle-", 7))
		return try_exec(m, (void *)execle, self, count, big, envp);
	if (!strncmp(m, "execlp-", 7))
		return try_exec(m, (void *)execlp, base, count, big, NULL);
	fprintf(stderr, "execl_many: unknown mode %s\n", m);
	return 2;
}
