#include "suppress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flags.h"
#include "out.h"

struct rule {
	int flag;
	int builtin; /* from the built-in list: matched against the creating frames only */
	char *pattern;
	unsigned long hits;
};

/* The built-in list: findings on the internals of widely used runtimes, true but not the
 * program's to fix. Each rule is matched against the frames that made the transport (native
 * and Python), never against where it was registered or freed, so a program's own socket is
 * not hidden because a runtime's frame was on the stack when it was used. Both the preload and
 * the analyzer apply this one list unless default_suppressions=0 (--no-default-suppressions). */
static const char default_text[] =
	/* trio closes its epoll set a moment before the two wakeup socketpairs of each run
	 * (trio/_core/_wakeup_socketpair.py), which stay registered until then. */
	"reader-not-removed:trio/_core/_wakeup_socketpair.py\n"
	/* An asyncio event loop left open (tornado's IOLoop.current() makes one the program never
	 * sees) has its self-pipe socketpair closed by the interpreter's shutdown: the loop's own
	 * wakeup channel. The loop's transports, if any, are still reported on their own. */
	"closed-at-exit:^_make_self_pipe$\n";

struct sl_suppressions {
	struct rule *rules;
	unsigned n;
};

/* Glob match of p (with '*') against s, both of given lengths. */
static int glob(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star_p = pi++;
			star_s = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star_p != (size_t)-1) {
			pi = star_p + 1;
			si = ++star_s;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

/* LeakSanitizer's template rule: an unanchored side matches like a '*' there. */
static int template_match(const char *pattern, const char *name)
{
	size_t pn = strlen(pattern);
	int start = pn > 0 && pattern[0] == '^';
	int end = pn > (size_t)start && pattern[pn - 1] == '$';
	const char *core = pattern + start;
	size_t cn = pn - (size_t)start - (size_t)end;
	char buf[512];
	if (cn + 2 >= sizeof(buf))
		return 0;
	size_t k = 0;
	if (!start)
		buf[k++] = '*';
	memcpy(buf + k, core, cn);
	k += cn;
	if (!end)
		buf[k++] = '*';
	return glob(buf, k, name, strlen(name));
}

void sl_supp_free(struct sl_suppressions *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++)
		free(s->rules[i].pattern);
	free(s->rules);
	free(s);
}

static void valid_flags(char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < SL_FLAG_COUNT && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", sl_flag_table[i].id);
}

struct sl_suppressions *sl_supp_parse(const char *text, size_t len, const char *name, char *err,
				      size_t errsize)
{
	struct sl_suppressions *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errsize, "%s: out of memory", name);
		return NULL;
	}
	size_t pos = 0;
	unsigned lineno = 0;
	while (pos < len) {
		size_t eol = pos;
		while (eol < len && text[eol] != '\n')
			eol++;
		lineno++;
		const char *line = text + pos;
		size_t n = eol - pos;
		pos = eol + 1;
		while (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
			line++;
			n--;
		}
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
			n--;
		if (n == 0 || line[0] == '#')
			continue;
		const char *colon = memchr(line, ':', n);
		if (!colon) {
			snprintf(err, errsize, "%s:%u: expected flag:pattern, got '%.*s'", name, lineno,
				 (int)(n > 80 ? 80 : n), line);
			sl_supp_free(s);
			return NULL;
		}
		int flag = sl_flag_by_id(line, (unsigned)(colon - line));
		if (flag < 0) {
			char valid[512];
			valid_flags(valid, sizeof(valid));
			snprintf(err, errsize, "%s:%u: unknown flag '%.*s' (valid flags: %s)", name, lineno,
				 (int)(colon - line > 64 ? 64 : colon - line), line, valid);
			sl_supp_free(s);
			return NULL;
		}
		size_t plen = n - (size_t)(colon + 1 - line);
		if (plen == 0) {
			snprintf(err, errsize, "%s:%u: flag '%s' has an empty pattern", name, lineno,
				 sl_flag_table[flag].id);
			sl_supp_free(s);
			return NULL;
		}
		struct rule *nr = realloc(s->rules, (s->n + 1) * sizeof(*nr));
		char *pat = strndup(colon + 1, plen);
		if (!nr || !pat) {
			free(pat);
			if (nr)
				s->rules = nr;
			snprintf(err, errsize, "%s: out of memory", name);
			sl_supp_free(s);
			return NULL;
		}
		s->rules = nr;
		s->rules[s->n].flag = flag;
		s->rules[s->n].builtin = 0;
		s->rules[s->n].pattern = pat;
		s->rules[s->n].hits = 0;
		s->n++;
	}
	return s;
}

struct sl_suppressions *sl_supp_load(const char *path, char *err, size_t errsize)
{
	/* O_NONBLOCK: a FIFO named here blocked the program at start until someone wrote to it. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsize, "cannot read suppressions file %s: %s", path, strerror(errno));
		return NULL;
	}
	/* Only a regular file: a directory read as an empty file, and was accepted in silence. */
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "suppressions file %s is not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_size > 16 * 1024 * 1024) {
		snprintf(err, errsize, "suppressions file %s is larger than 16 MiB", path);
		close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf) {
		snprintf(err, errsize, "%s: out of memory", path);
		return NULL;
	}
	struct sl_suppressions *s = sl_supp_parse(buf, got, path, err, errsize);
	free(buf);
	return s;
}

int sl_supp_add_defaults(struct sl_suppressions **s, char *err, size_t errsize)
{
	struct sl_suppressions *d = sl_supp_parse(default_text, sizeof(default_text) - 1, "built-in suppressions",
						  err, errsize);
	if (!d)
		return -1;
	for (unsigned i = 0; i < d->n; i++)
		d->rules[i].builtin = 1;
	if (!*s) {
		*s = d;
		return 0;
	}
	/* After the user's rules: a finding both match is counted under the user's. */
	struct rule *nr = realloc((*s)->rules, ((*s)->n + d->n) * sizeof(*nr));
	if (!nr) {
		snprintf(err, errsize, "built-in suppressions: out of memory");
		sl_supp_free(d);
		return -1;
	}
	memcpy(nr + (*s)->n, d->rules, d->n * sizeof(*nr));
	(*s)->rules = nr;
	(*s)->n += d->n;
	free(d->rules); /* the patterns now belong to *s */
	free(d);
	return 0;
}

int sl_supp_match(struct sl_suppressions *s, int flag, const char *const *names, unsigned n, unsigned ncreating)
{
	if (!s)
		return -1;
	for (unsigned i = 0; i < s->n; i++) {
		if (s->rules[i].flag != flag)
			continue;
		unsigned upto = s->rules[i].builtin && ncreating < n ? ncreating : n;
		for (unsigned k = 0; k < upto; k++) {
			if (names[k] && template_match(s->rules[i].pattern, names[k])) {
				s->rules[i].hits++;
				return (int)i;
			}
		}
	}
	return -1;
}

void sl_supp_print_used(const struct sl_suppressions *s, struct sl_out *out)
{
	int any = 0;
	for (unsigned i = 0; s && i < s->n; i++)
		any |= s->rules[i].hits > 0;
	if (!any)
		return;
	sl_out_puts(out, "-----------------------------------------------------\n");
	sl_out_puts(out, "Suppressions used:\n");
	sl_out_puts(out, "  count template\n");
	for (unsigned i = 0; i < s->n; i++)
		if (s->rules[i].hits)
			sl_out_printf(out, "%7lu %s:%s%s\n", s->rules[i].hits, sl_flag_table[s->rules[i].flag].id,
				      s->rules[i].pattern, s->rules[i].builtin ? " (built in)" : "");
	sl_out_puts(out, "-----------------------------------------------------\n");
}

unsigned sl_supp_count(const struct sl_suppressions *s)
{
	return s ? s->n : 0;
}

int sl_supp_rule_builtin(const struct sl_suppressions *s, unsigned i)
{
	return s->rules[i].builtin;
}

void sl_supp_rule(const struct sl_suppressions *s, unsigned i, const char **flag, const char **pattern,
		  unsigned long *hits)
{
	*flag = sl_flag_table[s->rules[i].flag].id;
	*pattern = s->rules[i].pattern;
	*hits = s->rules[i].hits;
}
