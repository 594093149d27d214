/* Python tracebacks for transports made from Python code (python.c). */
#ifndef SOCKLEAK_PYTHON_H
#define SOCKLEAK_PYTHON_H

#include "preload.h"

/* Looks for a CPython interpreter in this process; costs nothing when there is none. Called at
 * start-up, and again after dlopen while none was found (an embedded libpython). */
void sl_python_init(void);
extern int sl_python_ready; /* set by sl_python_init when CPython is present */
int sl_python_available(void);
/* Marks the start of the interpreter's shutdown, once, when it has begun (before a close). */
void sl_python_check_finalizing(void);
/* runtimes.c: Perl's and Ruby's exit-time cleanup. sl_runtimes_init looks for Perl at start-up
 * (and after a dlopen while none was found); sl_runtimes_check_exit is called before a close of a tracked socket (and before a
 * dup or close_range) and marks the cleanup of any interpreter (CPython's too) once it began. */
void sl_runtimes_init(void);
void sl_runtimes_after_dlopen(void);
void sl_runtimes_check_exit(void);
/* Adds the current Python traceback, if any, to a capture (outside the lock). */
void sl_python_capture(struct sl_capture *c);
/* Interns a captured traceback (lock held). Returns its stack id, or 0. */
uint32_t sl_python_intern(const struct sl_capture *c);
/* In a forked child (the fork's handler): the cache of names and lines, if it was in use by a
 * thread the child does not have, starts anew. */
void sl_python_fork_child(void);

#endif
