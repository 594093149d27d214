/* The one rule for strings sockleak writes as JSON, in the preload (core/json.c) and in the
 * analyzer (analyzer/findings.c): well-formed UTF-8 passes as it is, and every byte that does not
 * start a well-formed sequence becomes U+FFFD. Two rules once disagreed: a surrogate in argv
 * passed the preload's and failed the analyzer's, so `sockleak run` exited 125 and Python's
 * json.load refused the preload's own report. */
#ifndef SOCKLEAK_UTF8_H
#define SOCKLEAK_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (n > 0 bytes left), or 0 when there is none.
 * Overlong forms, surrogates (U+D800..U+DFFF) and code points past U+10FFFF are not UTF-8. */
static inline size_t sl_utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		     : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t k = 1; k < len; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
	    (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

/* What an invalid byte becomes: U+FFFD, REPLACEMENT CHARACTER, in UTF-8. */
#define SL_UTF8_REPLACEMENT "\xef\xbf\xbd"

#endif
