#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

void sl_json_init(struct sl_json *j, struct sl_out *out, int pretty_depth)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->pretty_depth = pretty_depth;
}

/* Writes the separator an element needs before it. */
static void element(struct sl_json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth > 0 && j->depth < SL_JSON_MAX_DEPTH) {
		if (j->count[j->depth])
			sl_out_write(j->out, ",", 1);
		if (j->depth <= j->pretty_depth)
			sl_out_write(j->out, "\n", 1);
		j->count[j->depth] = 1;
	}
}

static void open_level(struct sl_json *j, char opener, char closer)
{
	element(j);
	sl_out_write(j->out, &opener, 1);
	j->depth++;
	if (j->depth < SL_JSON_MAX_DEPTH) {
		j->count[j->depth] = 0;
		j->closer[j->depth] = closer;
	}
}

void sl_json_object(struct sl_json *j)
{
	open_level(j, '{', '}');
}

void sl_json_array(struct sl_json *j)
{
	open_level(j, '[', ']');
}

void sl_json_end(struct sl_json *j)
{
	if (j->depth == 0)
		return;
	char c = j->depth < SL_JSON_MAX_DEPTH ? j->closer[j->depth] : '}';
	if (j->depth <= j->pretty_depth && j->count[j->depth])
		sl_out_write(j->out, "\n", 1);
	sl_out_write(j->out, &c, 1);
	j->depth--;
}

void sl_json_raw(struct sl_json *j, const char *json)
{
	element(j);
	sl_out_puts(j->out, json);
}

static void escaped(struct sl_out *o, const char *s, unsigned long n)
{
	static const char hex[] = "0123456789abcdef";
	sl_out_write(o, "\"", 1);
	unsigned long run = 0; /* bytes since the last escape, written in one go */
	for (unsigned long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			size_t len = sl_utf8_len((const unsigned char *)s + i, n - i);
			if (len) {
				i += len - 1;
				continue;
			}
			/* Not UTF-8 (a path or argv may hold any byte, a surrogate too): JSON cannot carry
			 * it as is. The same rule as the analyzer's (core/utf8.h). */
			sl_out_write(o, s + run, i - run);
			run = i + 1;
			sl_out_write(o, "\\ufffd", 6);
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		sl_out_write(o, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': sl_out_write(o, "\\\"", 2); break;
		case '\\': sl_out_write(o, "\\\\", 2); break;
		case '\n': sl_out_write(o, "\\n", 2); break;
		case '\t': sl_out_write(o, "\\t", 2); break;
		case '\r': sl_out_write(o, "\\r", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sl_out_write(o, u, 6);
		}
		}
	}
	sl_out_write(o, s + run, n - run);
	sl_out_write(o, "\"", 1);
}

void sl_json_key(struct sl_json *j, const char *key)
{
	element(j);
	escaped(j->out, key, strlen(key));
	sl_out_write(j->out, ":", 1);
	j->after_key = 1;
}

void sl_json_string_n(struct sl_json *j, const char *s, unsigned long n)
{
	element(j);
	escaped(j->out, s, n);
}

void sl_json_string(struct sl_json *j, const char *s)
{
	if (!s) {
		sl_json_null(j);
		return;
	}
	sl_json_string_n(j, s, strlen(s));
}

void sl_json_int(struct sl_json *j, int64_t v)
{
	element(j);
	sl_out_printf(j->out, "%" PRId64, v);
}

void sl_json_bool(struct sl_json *j, int v)
{
	element(j);
	sl_out_puts(j->out, v ? "true" : "false");
}

void sl_json_null(struct sl_json *j)
{
	element(j);
	sl_out_puts(j->out, "null");
}

void sl_json_finish(struct sl_json *j)
{
	while (j->depth > 0)
		sl_json_end(j);
	sl_out_write(j->out, "\n", 1);
}

void sl_json_kv_string(struct sl_json *j, const char *key, const char *s)
{
	sl_json_key(j, key);
	sl_json_string(j, s);
}

void sl_json_kv_int(struct sl_json *j, const char *key, int64_t v)
{
	sl_json_key(j, key);
	sl_json_int(j, v);
}

void sl_json_kv_bool(struct sl_json *j, const char *key, int v)
{
	sl_json_key(j, key);
	sl_json_bool(j, v);
}
