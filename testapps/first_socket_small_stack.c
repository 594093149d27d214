// The process's first socket is made on a small stack (32 KiB, run with swapcontext in the only
// thread): libunwind, loaded at that first walk, needs more stack than is left there, and is
// loaded on a stack mapped for it. The walk itself fits, so the stack is taken.
// EXPECT: udp4 socket never-closed @small_stack_opens
// EXPECT-EXIT: 23
#include <ucontext.h>
#include "testlib.h"

#define SMALL (32 * 1024)

static ucontext_t main_ctx, small_ctx;

static void small_stack_opens(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
}

int main(void)
{
	static char stack[SMALL] __attribute__((aligned(16)));
	CHECK(getcontext(&small_ctx) == 0);
	small_ctx.uc_stack.ss_sp = stack;
	small_ctx.uc_stack.ss_size = sizeof(stack);
	small_ctx.uc_link = &main_ctx;
	makecontext(&small_ctx, small_stack_opens, 0);
	CHECK(swapcontext(&main_ctx, &small_ctx) == 0);
	return 0;
}
