/* Running code on a stack of sockleak's own.
 *
 * The exit report symbolizes stacks with libdw, sorts, groups and formats: about 32 KiB of
 * stack, more than a small thread has (exit() on a 16 to 64 KiB thread died with SIGSEGV) and
 * far more than a signal's alternate stack (_exit() from a handler on a SIGSTKSZ stack). So it
 * runs on a stack mapped for it, with a guard page below, and unmapped after.
 *
 * The switch is a few instructions: keep the caller's stack pointer in rbp (callee-saved, so fn
 * leaves it alone), move rsp to the top of the new stack, call fn, and take rsp back from rbp.
 * The CFI names rbp as the frame's base, so a debugger or an unwinder (a profiler's signal
 * handler, libunwind in a hook reached from the report) walks from the new stack back onto the
 * caller's. Signals that arrive meanwhile run on the new stack, which is larger than the
 * thread's own. */
#include <sys/mman.h>
#include <unistd.h>

#include "preload.h"

void sl_own_stack_call(void (*fn)(void *), void *arg, void *top);

__asm__(".text\n"
	".globl sl_own_stack_call\n"
	".hidden sl_own_stack_call\n"
	".type sl_own_stack_call, @function\n"
	"sl_own_stack_call:\n"
	"	.cfi_startproc\n"
	"	pushq %rbp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbp, -16\n"
	"	movq %rsp, %rbp\n"
	"	.cfi_def_cfa_register %rbp\n"
	"	movq %rdx, %rsp\n"
	"	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	call *%rax\n"
	"	movq %rbp, %rsp\n"
	"	popq %rbp\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size sl_own_stack_call, .-sl_own_stack_call\n");

int sl_on_own_stack(void (*fn)(void *), void *arg, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size = (size + page - 1) & ~(page - 1);
	/* Reserved, not committed: only the pages the report touches are ever backed. */
	char *base = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return -1;
	/* The guard: a report deeper than its stack faults here instead of writing over the memory
	 * below. */
	if (mprotect(base, page, PROT_NONE) != 0) {
		munmap(base, size + page);
		return -1;
	}
	sl_own_stack_call(fn, arg, base + page + size);
	munmap(base, size + page);
	return 0;
}
