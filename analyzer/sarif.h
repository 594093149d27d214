/* SARIF 2.1.0 (OASIS), the format code-scanning views read: each finding is a result whose
 * location is the frame that opened the transport, with the whole creation stack attached. */
#ifndef SOCKLEAK_SARIF_H
#define SOCKLEAK_SARIF_H

#include <jansson.h>

#include "findings.h"
#include "run.h"

/* Builds the SARIF log from the findings document. source_root: absolute paths under it are
 * written relative to it (uriBaseId SRCROOT). Returns NULL when memory ran out. */
json_t *sl_sarif_build(const json_t *doc, const struct sl_run *run, const struct sl_gate *gate,
		       const char *source_root);

#endif
