/* Suppressions in the LeakSanitizer style: a file of "flag:pattern" lines, '#' comments. A
 * finding is suppressed when a pattern matches a function, source file or module name in the
 * transport's stacks (native frames and Python frames). '*' matches any run of characters; a
 * pattern matches anywhere in a name unless anchored with a leading '^' or a trailing '$'. */
#ifndef SOCKLEAK_SUPPRESS_H
#define SOCKLEAK_SUPPRESS_H

#include <stddef.h>

struct sl_out;
struct sl_suppressions;

/* Loads a file. Returns NULL with a message (no "sockleak: " prefix) in err on failure: an
 * unreadable file, a line without ':', or an unknown flag (the message lists the valid ones). */
struct sl_suppressions *sl_supp_load(const char *path, char *err, size_t errsize);
/* Parses text already in memory; name is used in messages. */
struct sl_suppressions *sl_supp_parse(const char *text, size_t len, const char *name, char *err,
				      size_t errsize);
void sl_supp_free(struct sl_suppressions *s);

/* Appends the built-in rules (suppress.c: the internals of widely used runtimes), creating the
 * set when *s is NULL. Returns 0, or -1 with a message in err. */
int sl_supp_add_defaults(struct sl_suppressions **s, char *err, size_t errsize);

/* Returns the index of the first rule for flag matching any of the names, counting a hit, or -1.
 * The first ncreating names are those of the frames that made the transport: the only ones a
 * built-in rule is matched against. */
int sl_supp_match(struct sl_suppressions *s, int flag, const char *const *names, unsigned n, unsigned ncreating);
/* "Suppressions used:" with hit counts, as LeakSanitizer prints them; nothing if none was used. */
void sl_supp_print_used(const struct sl_suppressions *s, struct sl_out *out);
unsigned sl_supp_count(const struct sl_suppressions *s);
/* Whether rule i is one of the built-in rules. */
int sl_supp_rule_builtin(const struct sl_suppressions *s, unsigned i);
/* Rule i: its flag id text and pattern, and how many findings it suppressed. */
void sl_supp_rule(const struct sl_suppressions *s, unsigned i, const char **flag, const char **pattern,
		  unsigned long *hits);

#endif
