/* libunwind's address-validation pipe, virtualized (unwind_pipe.c explains why). */
#ifndef SOCKLEAK_UNWIND_PIPE_H
#define SOCKLEAK_UNWIND_PIPE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

/* The numbers libunwind is given: above any descriptor the kernel can hand out. */
#define SL_UNW_FAKE_R (INT_MAX - 1)
#define SL_UNW_FAKE_W INT_MAX

/* libunwind's mapping, from stack.c (before libunwind first opens its pipe). */
void sl_unw_set_range(uint64_t lo, uint64_t hi);
/* Whether a hook's return address is in libunwind. */
int sl_unw_caller(const void *ret);

/* The calls libunwind makes on its pipe, carried out on sockleak's. */
int sl_unw_pipe2(int fds[2]);
ssize_t sl_unw_read(void *buf, size_t len);
long sl_unw_write(const void *buf, size_t len);
/* Whether fd is (still) one of the real descriptors behind them. */
int sl_unw_owns(int fd);

/* In a hook: is this a call libunwind makes on the numbers it was given? */
#define SL_UNW_FAKE(fd) (SL_UNLIKELY((fd) >= SL_UNW_FAKE_R) && sl_unw_caller(__builtin_return_address(0)))

#endif
