/* sockleak.h: checkpoints, to learn which part of a program (which test) left a transport
 * behind. A program built against this header needs no library at link time and runs unchanged
 * without the preload: the calls then return 0.
 *
 *     uint64_t mark = sockleak_mark();
 *     run_one_test();
 *     if (sockleak_check(mark, "test_reconnect") > 0)
 *             ... the test left transports open: the report says which, where they were made ...
 *
 * sockleak_check reports the transports made since the mark that are still unfinished (open,
 * and registered in an epoll set if they are), in the usual report format under a heading
 * naming the label, with their stacks, where the exit report goes (stderr or log_path); the
 * exit JSON (and a run's, under 'sockleak run') lists them under "checkpoints". Suppressions apply. It returns how many
 * transports it reported. */
#ifndef SOCKLEAK_H
#define SOCKLEAK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Weak: NULL when libsockleak.so is not preloaded. */
extern uint64_t sockleak_mark(void) __attribute__((weak));
extern unsigned long sockleak_check(uint64_t mark, const char *label) __attribute__((weak));
/* As sockleak_check, but the text goes into buf (cut to size, '\0'-terminated; "" when nothing
 * was found) instead of stderr or log_path. */
extern unsigned long sockleak_check_text(uint64_t mark, const char *label, char *buf, size_t size)
	__attribute__((weak));

#ifdef __cplusplus
}
#endif

/* Calls go through these, which return 0 without the preload. (A function-like macro is not
 * expanded inside itself, and (name) is the function.) */
#define sockleak_mark() (sockleak_mark ? (sockleak_mark)() : (uint64_t)0)
#define sockleak_check(mark, label) (sockleak_check ? (sockleak_check)((mark), (label)) : 0UL)
#define sockleak_check_text(mark, label, buf, size)                                               \
	(sockleak_check_text ? (sockleak_check_text)((mark), (label), (buf), (size))               \
			     : ((size) > 0 ? ((buf)[0] = '\0', 0UL) : 0UL))

#endif
