#include "fingerprint.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct fnv {
	uint64_t h;
};

static void feed(struct fnv *f, const char *s)
{
	for (; s && *s; s++) {
		f->h ^= (unsigned char)*s;
		f->h *= 0x100000001b3ull;
	}
	/* A separator that no text holds, so that ("ab", "c") and ("a", "bc") differ. */
	f->h ^= 0xff;
	f->h *= 0x100000001b3ull;
}

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const char *base_name(const char *path)
{
	if (!path)
		return NULL;
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Native frames are innermost first. */
static void feed_frames(struct fnv *f, const json_t *frames)
{
	size_t n = json_array_size(frames);
	for (size_t i = 0; i < n && i < SL_FINGERPRINT_FRAMES; i++) {
		const json_t *fr = json_array_get(frames, i);
		const char *file = str(fr, "file");
		feed(f, str(fr, "function"));
		feed(f, base_name(file ? file : str(fr, "module")));
	}
	feed(f, "|");
}

/* A Python traceback is outermost first: its innermost frames are its last. */
static void feed_python(struct fnv *f, const json_t *frames)
{
	size_t n = json_array_size(frames);
	for (size_t k = 0; k < n && k < SL_FINGERPRINT_FRAMES; k++) {
		const json_t *fr = json_array_get(frames, n - 1 - k);
		feed(f, str(fr, "function"));
		feed(f, base_name(str(fr, "file")));
	}
	feed(f, "|");
}

static const char *program(const json_t *report, const json_t *transport)
{
	const json_t *proc = report;
	const json_t *index = json_object_get(transport, "process");
	if (json_is_integer(index)) {
		const json_t *p = json_array_get(json_object_get(report, "processes"), (size_t)json_integer_value(index));
		if (p)
			proc = p;
	}
	return base_name(json_string_value(json_array_get(json_object_get(proc, "argv"), 0)));
}

void sl_fingerprint(const json_t *report, const json_t *transport, const json_t *flag, char out[17])
{
	struct fnv f = {0xcbf29ce484222325ull};
	feed(&f, "sockleak-fingerprint-1");
	feed(&f, str(flag, "flag"));
	feed(&f, str(transport, "kind"));
	feed(&f, str(transport, "role"));
	feed(&f, program(report, transport));
	feed_frames(&f, json_object_get(transport, "opened_at"));
	feed_python(&f, json_object_get(transport, "python_traceback"));
	feed_frames(&f, json_object_get(flag, "registered_at"));
	feed_python(&f, json_object_get(flag, "registered_python_traceback"));
	snprintf(out, 17, "%016llx", (unsigned long long)f.h);
}
