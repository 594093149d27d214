#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "out.h"

enum opt_type { OPT_BOOL, OPT_INT, OPT_STRING };

struct opt_desc {
	const char *name;
	enum opt_type type;
	size_t offset;
	long def_int;
	const char *def_str;
	const char *help;
};

#define SL_OPT_DEFAULT_INT_BOOL(d) (d)
#define SL_OPT_DEFAULT_INT_INT(d) (d)
#define SL_OPT_DEFAULT_INT_STRING(d) 0
#define SL_OPT_DEFAULT_STR_BOOL(d) NULL
#define SL_OPT_DEFAULT_STR_INT(d) NULL
#define SL_OPT_DEFAULT_STR_STRING(d) (d)
#define SL_OPT_DESC(name, type, def, help)                                                         \
	{#name, OPT_##type, offsetof(struct sl_options, name), (long)SL_OPT_DEFAULT_INT_##type(def), \
	 SL_OPT_DEFAULT_STR_##type(def), help},

static const struct opt_desc table[] = {SL_OPTION_LIST(SL_OPT_DESC)};
#define NOPTS (sizeof(table) / sizeof(table[0]))

/* The slot of a string option: how many string options come before it in the table. */
static int string_slot(const struct opt_desc *d)
{
	int slot = 0;
	for (const struct opt_desc *e = table; e < d; e++)
		slot += e->type == OPT_STRING;
	return slot;
}

void sl_options_defaults(struct sl_options *o)
{
	/* The string slots are written whole (with their NUL) when an option is parsed: only the
	 * fields are cleared, not SL_OPTION_STRINGS KiB of slots, in every process's start-up. */
	memset(o, 0, offsetof(struct sl_options, storage_));
	for (size_t i = 0; i < SL_OPTION_STRINGS; i++)
		o->storage_[i][0] = '\0';
	for (size_t i = 0; i < NOPTS; i++) {
		char *field = (char *)o + table[i].offset;
		if (table[i].type == OPT_BOOL)
			*(int *)field = (int)table[i].def_int;
		else if (table[i].type == OPT_INT)
			*(long *)field = table[i].def_int;
		else
			*(const char **)field = table[i].def_str;
	}
}

static const struct opt_desc *find(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
			return &table[i];
	return NULL;
}

static int set_value(struct sl_options *o, const struct opt_desc *d, const char *val, char *err,
		     size_t errsize)
{
	char *field = (char *)o + d->offset;
	if (d->type == OPT_STRING) {
		size_t len = strlen(val);
		if (len >= SL_OPTION_STRING_MAX) {
			snprintf(err, errsize, "option '%s': value too long (at most %d bytes)", d->name,
				 SL_OPTION_STRING_MAX - 1);
			return -1;
		}
		char *dst = o->storage_[string_slot(d)];
		memcpy(dst, val, len + 1);
		*(const char **)field = dst;
		return 0;
	}
	if (d->type == OPT_BOOL) {
		if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes")) {
			*(int *)field = 1;
			return 0;
		}
		if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no")) {
			*(int *)field = 0;
			return 0;
		}
		snprintf(err, errsize, "option '%s' takes 0 or 1, not '%s'", d->name, val);
		return -1;
	}
	char *end = NULL;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || end == val || *end != '\0' || v < 0 || v > 1000000000L) {
		snprintf(err, errsize, "option '%s' takes a whole number (0 or more), not '%s'", d->name, val);
		return -1;
	}
	*(long *)field = v;
	return 0;
}

int sl_options_parse(struct sl_options *o, const char *text, char *err, size_t errsize)
{
	const char *p = text ? text : "";
	while (*p) {
		if (*p == ':' || *p == ' ' || *p == '\n' || *p == '\t') {
			p++;
			continue;
		}
		const char *name = p;
		while (*p && *p != '=' && *p != ':')
			p++;
		size_t nlen = (size_t)(p - name);
		if (*p != '=') {
			snprintf(err, errsize, "'%.*s' is not name=value", (int)(nlen > 64 ? 64 : nlen), name);
			return -1;
		}
		const struct opt_desc *d = find(name, nlen);
		if (!d) {
			snprintf(err, errsize, "unknown option '%.*s' (help=1 lists the options)",
				 (int)(nlen > 64 ? 64 : nlen), name);
			return -1;
		}
		p++; /* '=' */
		char val[SL_OPTION_STRING_MAX];
		size_t vlen = 0;
		if (*p == '\'' || *p == '"') {
			char q = *p++;
			while (*p && *p != q && vlen + 1 < sizeof(val))
				val[vlen++] = *p++;
			if (*p != q) {
				snprintf(err, errsize, "option '%s': unterminated quote", d->name);
				return -1;
			}
			p++;
		} else {
			while (*p && *p != ':' && vlen + 1 < sizeof(val))
				val[vlen++] = *p++;
		}
		if (*p && *p != ':') {
			snprintf(err, errsize, "option '%s': value too long or junk after it", d->name);
			return -1;
		}
		val[vlen] = '\0';
		if (vlen == 0 && d->type != OPT_STRING) {
			snprintf(err, errsize, "option '%s' has no value", d->name);
			return -1;
		}
		if (set_value(o, d, val, err, errsize) < 0)
			return -1;
	}
	if (o->stack_depth > 64) {
		snprintf(err, errsize, "option 'stack_depth' is at most 64, not %ld", o->stack_depth);
		return -1;
	}
	if (o->epoll_stacks > 2) {
		snprintf(err, errsize, "option 'epoll_stacks' is 0, 1 or 2, not %ld", o->epoll_stacks);
		return -1;
	}
	if (strcmp(o->color, "auto") && strcmp(o->color, "always") && strcmp(o->color, "never")) {
		snprintf(err, errsize, "option 'color' takes auto, always or never, not '%s'", o->color);
		return -1;
	}
	if (strcmp(o->native_frames, "folded") && strcmp(o->native_frames, "all")) {
		snprintf(err, errsize, "option 'native_frames' takes folded or all, not '%s'", o->native_frames);
		return -1;
	}
	if (strcmp(o->track, "sockets") && strcmp(o->track, "pipes") && strcmp(o->track, "all")) {
		snprintf(err, errsize, "option 'track' takes sockets, pipes or all, not '%s'", o->track);
		return -1;
	}
	if (o->exitcode > 255) {
		snprintf(err, errsize, "option 'exitcode' is an exit status, 0 to 255, not %ld", o->exitcode);
		return -1;
	}
	return 0;
}

void sl_options_print_help(struct sl_out *out)
{
	sl_out_puts(out, "sockleak: options, set as SOCKLEAK_OPTIONS=name=value:name=value\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_desc *d = &table[i];
		char def[64];
		if (d->type == OPT_STRING)
			snprintf(def, sizeof(def), "\"%s\"", d->def_str);
		else
			snprintf(def, sizeof(def), "%ld", d->def_int);
		sl_out_printf(out, "  %-18s %-7s default %-6s %s\n", d->name,
			      d->type == OPT_BOOL ? "bool" : d->type == OPT_INT ? "int" : "string", def, d->help);
	}
}
