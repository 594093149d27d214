/* vfork for x86_64.
 *
 * The child of vfork runs on the parent's stack and memory until it calls exec or _exit, and
 * returns through this function before the parent does. So this wrapper keeps nothing in a stack
 * frame across the call: the caller's return address waits in a thread-local slot (the child
 * only reads it), and the flag that makes every hook pass straight through while the child runs
 * is set before and cleared by the parent after. */
	.text
	.globl	vfork
	.type	vfork, @function
vfork:
	subq	$8, %rsp
	call	sl_vfork_prepare	/* the real vfork, or NULL; sets sl_vfork_child */
	addq	$8, %rsp
	testq	%rax, %rax
	jz	2f
	movq	sl_vfork_ret@gottpoff(%rip), %rcx
	popq	%rdx			/* the caller's return address */
	movq	%rdx, %fs:(%rcx)
	call	*%rax			/* returns twice: first in the child, then in the parent */
	movq	sl_vfork_ret@gottpoff(%rip), %rcx
	pushq	%fs:(%rcx)
	testl	%eax, %eax
	jz	1f			/* the child keeps the flag set */
	movq	sl_vfork_child@gottpoff(%rip), %rcx
	movl	$0, %fs:(%rcx)
1:	ret
2:	jmp	sl_vfork_unavailable
	.size	vfork, .-vfork
	.section .note.GNU-stack,"",@progbits
