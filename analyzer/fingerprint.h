/* A finding's fingerprint: what stays the same when the same defect is found again in another
 * run, so that a baseline (a JSON report of an earlier run) can say which findings are new.
 *
 * Version 1 hashes (64-bit FNV-1a, written as 16 hex digits):
 *   the flag id; the transport's kind and role; the base name of its program (argv[0]);
 *   the innermost 4 frames of where it was opened: function, and the base name of the source
 *   file (or of the module when there is no line information);
 *   the innermost 4 frames of its Python traceback: function and file base name;
 *   for epoll flags, the innermost 4 frames of where it was registered, the same way.
 * Left out on purpose, since they change from run to run or with unrelated edits: addresses,
 * line numbers, pids, descriptors, ports and paths to the source tree. docs/analyzer.md says why. */
#ifndef SOCKLEAK_FINGERPRINT_H
#define SOCKLEAK_FINGERPRINT_H

#include <jansson.h>

#define SL_FINGERPRINT_FRAMES 4

/* Computes the fingerprint of one entry of a transport's "flags", reading the JSON report as
 * sockleak writes it (the preload's or the analyzer's; a missing key counts as empty). out
 * receives 16 hex digits and a NUL. */
void sl_fingerprint(const json_t *report, const json_t *transport, const json_t *flag, char out[17]);

#endif
