/* Python tracebacks for transports made from Python code (python.c). */
#ifndef SOCKLEAK_PYTHON_H
#define SOCKLEAK_PYTHON_H

#include "preload.h"

/* Looks for a CPython interpreter in this process; costs nothing when there is none. */
void sl_python_init(void);
/* Adds the current Python traceback, if any, to a capture (outside the lock). */
void sl_python_capture(struct sl_capture *c);
/* Interns a captured traceback (lock held). Returns its stack id, or 0. */
uint32_t sl_python_intern(const struct sl_capture *c);

#endif
