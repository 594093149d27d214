#include "baseline.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/report.h"
#include "fingerprint.h"

struct entry {
	char fp[17];
	int seen;
};

struct sl_baseline {
	struct entry *v;
	size_t n;
};

static int by_fp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->fp, ((const struct entry *)b)->fp);
}

/* A fingerprint as the analyzer writes it: 16 lowercase hex digits. */
static int valid_fp(const char *s)
{
	if (!s || strlen(s) != 16)
		return 0;
	return strspn(s, "0123456789abcdef") == 16;
}

/* Adds the fingerprint of every finding of the transports; NULL (b freed) when memory ran out. */
static struct sl_baseline *add_findings(struct sl_baseline *b, size_t *cap, const json_t *doc, const json_t *transports)
{
	size_t i, k;
	json_t *t, *f;
	json_array_foreach(transports, i, t) {
		json_array_foreach(json_object_get(t, "flags"), k, f) {
			if (!b)
				return NULL;
			if (b->n == *cap) {
				*cap = *cap ? *cap * 2 : 64;
				struct entry *nv = realloc(b->v, *cap * sizeof(*nv));
				if (!nv) {
					sl_baseline_free(b);
					return NULL;
				}
				b->v = nv;
			}
			/* A report written by the analyzer carries each fingerprint; the preload's does
			 * not, and gets them computed here the same way. */
			const char *given = json_string_value(json_object_get(f, "fingerprint"));
			if (valid_fp(given))
				memcpy(b->v[b->n].fp, given, 17);
			else
				sl_fingerprint(doc, t, f, b->v[b->n].fp);
			b->v[b->n].seen = 0;
			b->n++;
		}
	}
	return b;
}

struct sl_baseline *sl_baseline_load(const char *path, char *err, size_t errsize)
{
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		if (je.position == 0 && je.line <= 1 && strstr(je.text, "unable to open"))
			snprintf(err, errsize, "baseline %s: %s", path, je.text);
		else
			snprintf(err, errsize, "baseline %s: not valid JSON: line %d, column %d: %s", path, je.line,
				 je.column, je.text);
		return NULL;
	}
	const char *tool = json_string_value(json_object_get(doc, "tool"));
	json_t *format = json_object_get(doc, "format");
	json_t *transports = json_object_get(doc, "transports");
	if (!json_is_object(doc) || !tool || strcmp(tool, "sockleak") != 0 || !json_is_integer(format) ||
	    !json_is_array(transports)) {
		snprintf(err, errsize, "baseline %s: not a sockleak JSON report (no \"tool\": \"sockleak\", "
			 "\"format\" and \"transports\")", path);
		json_decref(doc);
		return NULL;
	}
	if (json_integer_value(format) > SOCKLEAK_JSON_FORMAT || json_integer_value(format) < 1) {
		snprintf(err, errsize, "baseline %s: JSON report format %lld, this sockleak-report reads format %d",
			 path, (long long)json_integer_value(format), SOCKLEAK_JSON_FORMAT);
		json_decref(doc);
		return NULL;
	}
	struct sl_baseline *b = calloc(1, sizeof(*b));
	size_t cap = 0;
	b = add_findings(b, &cap, doc, transports);
	/* A checkpoint's findings (issue 14) have fingerprints as exit findings do. */
	size_t c;
	json_t *cp;
	json_array_foreach(json_object_get(doc, "checkpoints"), c, cp)
		b = add_findings(b, &cap, doc, json_object_get(cp, "transports"));
	json_decref(doc);
	if (!b) {
		snprintf(err, errsize, "baseline %s: out of memory", path);
		return NULL;
	}
	qsort(b->v, b->n, sizeof(*b->v), by_fp);
	size_t out = 0;
	for (size_t j = 0; j < b->n; j++)
		if (out == 0 || strcmp(b->v[out - 1].fp, b->v[j].fp) != 0)
			b->v[out++] = b->v[j];
	b->n = out;
	return b;
}

void sl_baseline_free(struct sl_baseline *b)
{
	if (b) {
		free(b->v);
		free(b);
	}
}

int sl_baseline_has(struct sl_baseline *b, const char *fingerprint)
{
	if (!b || b->n == 0)
		return 0;
	struct entry key;
	snprintf(key.fp, sizeof(key.fp), "%s", fingerprint);
	struct entry *e = bsearch(&key, b->v, b->n, sizeof(*b->v), by_fp);
	if (!e)
		return 0;
	e->seen = 1;
	return 1;
}

size_t sl_baseline_unseen(const struct sl_baseline *b)
{
	size_t n = 0;
	for (size_t i = 0; b && i < b->n; i++)
		n += !b->v[i].seen;
	return n;
}
