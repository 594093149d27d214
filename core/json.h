/* A streaming JSON writer over struct sl_out: keys and strings are escaped, commas placed, and
 * nesting checked. Compact output, one element per line at the top two levels. */
#ifndef SOCKLEAK_JSON_H
#define SOCKLEAK_JSON_H

#include <stdint.h>

#include "out.h"

#define SL_JSON_MAX_DEPTH 32

struct sl_json {
	struct sl_out *out;
	int depth;
	int pretty_depth; /* newlines between elements down to this depth */
	unsigned char count[SL_JSON_MAX_DEPTH]; /* whether a level has an element yet */
	char closer[SL_JSON_MAX_DEPTH];         /* '}' or ']' for each open level */
	int after_key;
};

void sl_json_init(struct sl_json *j, struct sl_out *out, int pretty_depth);
void sl_json_object(struct sl_json *j);
void sl_json_array(struct sl_json *j);
void sl_json_end(struct sl_json *j); /* closes the innermost object or array */
void sl_json_key(struct sl_json *j, const char *key);
void sl_json_string(struct sl_json *j, const char *s); /* NULL writes null */
void sl_json_string_n(struct sl_json *j, const char *s, unsigned long n);
void sl_json_int(struct sl_json *j, int64_t v);
void sl_json_bool(struct sl_json *j, int v);
void sl_json_null(struct sl_json *j);
/* An element already written as JSON (one compact value), e.g. a fragment made earlier. */
void sl_json_raw(struct sl_json *j, const char *json);
/* Finishes the document with a newline. */
void sl_json_finish(struct sl_json *j);

/* Shorthands for "key": value. */
void sl_json_kv_string(struct sl_json *j, const char *key, const char *s);
void sl_json_kv_int(struct sl_json *j, const char *key, int64_t v);
void sl_json_kv_bool(struct sl_json *j, const char *key, int v);

#endif
