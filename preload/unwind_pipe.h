/* libunwind's address-validation pipe, virtualized (unwind_pipe.c explains why). */
#ifndef SOCKLEAK_UNWIND_PIPE_H
#define SOCKLEAK_UNWIND_PIPE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

/* The numbers libunwind is given: above any descriptor the kernel can hand out. */
#define SL_UNW_FAKE_R (INT_MAX - 1)
#define SL_UNW_FAKE_W INT_MAX

/* Points libunwind's calls to pipe2, read, write, close and syscall (its GOT, found through an
 * address inside it) at sockleak's answers: before libunwind first opens its pipe. */
void sl_unw_install(const void *in_libunwind);
/* Whether fd is (still) one of the real descriptors behind the pipe, where one is needed. */
int sl_unw_owns(int fd);

#endif
