/* JUnit XML, the test report format CI systems read: one test case per process, failed when
 * it has findings that count (errors not in the baseline, or warnings too with --fail-on
 * warning). */
#ifndef SOCKLEAK_JUNIT_H
#define SOCKLEAK_JUNIT_H

#include <stdio.h>

#include <jansson.h>

#include "findings.h"

/* Writes the XML to f. Returns 0, or -1 when writing failed. */
int sl_junit_write(FILE *f, const json_t *doc, const struct sl_gate *gate);

#endif
