/* The path every lazily bound import takes once, at its first call (preload/lazy_imports.sh
 * writes the trampolines that come here, with the import's index in r11).
 *
 * It must leave the call exactly as the caller made it: the argument registers (rdi, rsi, rdx,
 * rcx, r8, r9, r10, and rax, which holds a varargs call's count of vector registers) and
 * xmm0-xmm7 are saved, sl_lazy_bind finds the function and stores it in the slot, and the
 * registers are restored before jumping to it, with the caller's return address still on top of
 * the stack. 208 bytes of stack plus sl_lazy_bind's, no lock: a thread's first call may come
 * on a small stack, in a signal handler, or in two threads at once (both store the same
 * address). glibc's lazy resolver, which saves the whole vector state (2.7 KiB with AVX-512)
 * and takes the loader's lock, never runs (docs/reliability.md, issue 10). */
	.text
	.globl	sl_lazy_common
	.hidden	sl_lazy_common
	.type	sl_lazy_common, @function
sl_lazy_common:
	.cfi_startproc
	pushq	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	andq	$-16, %rsp
	subq	$192, %rsp
	movq	%rdi, 0(%rsp)
	movq	%rsi, 8(%rsp)
	movq	%rdx, 16(%rsp)
	movq	%rcx, 24(%rsp)
	movq	%r8, 32(%rsp)
	movq	%r9, 40(%rsp)
	movq	%r10, 48(%rsp)
	movq	%rax, 56(%rsp)
	movaps	%xmm0, 64(%rsp)
	movaps	%xmm1, 80(%rsp)
	movaps	%xmm2, 96(%rsp)
	movaps	%xmm3, 112(%rsp)
	movaps	%xmm4, 128(%rsp)
	movaps	%xmm5, 144(%rsp)
	movaps	%xmm6, 160(%rsp)
	movaps	%xmm7, 176(%rsp)
	movl	%r11d, %edi
	call	sl_lazy_bind
	movq	%rax, %r11
	movq	0(%rsp), %rdi
	movq	8(%rsp), %rsi
	movq	16(%rsp), %rdx
	movq	24(%rsp), %rcx
	movq	32(%rsp), %r8
	movq	40(%rsp), %r9
	movq	48(%rsp), %r10
	movq	56(%rsp), %rax
	movaps	64(%rsp), %xmm0
	movaps	80(%rsp), %xmm1
	movaps	96(%rsp), %xmm2
	movaps	112(%rsp), %xmm3
	movaps	128(%rsp), %xmm4
	movaps	144(%rsp), %xmm5
	movaps	160(%rsp), %xmm6
	movaps	176(%rsp), %xmm7
	movq	%rbp, %rsp
	.cfi_def_cfa_register %rsp
	popq	%rbp
	.cfi_def_cfa_offset 8
	jmp	*%r11
	.cfi_endproc
	.size	sl_lazy_common, .-sl_lazy_common
	.section .note.GNU-stack,"",@progbits
