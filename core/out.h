/* A buffered writer to a file descriptor, for reports. It does not use stdio: the report may be
 * written from _exit(), after stdio was torn down, or into a descriptor the program also uses. */
#ifndef SOCKLEAK_OUT_H
#define SOCKLEAK_OUT_H

#include <stdarg.h>
#include <stddef.h>

struct sl_out {
	int fd;       /* -1: into memory (sl_out_init_mem) */
	int error;    /* a write failed: errno of the first failure */
	int printable; /* replace control characters but newline with '?' (text meant for a terminal) */
	int color;     /* sl_out_paint writes its escape codes (the only ones that can reach the output) */
	size_t n;
	char *mem;     /* into memory: everything flushed so far (malloc'd, the caller frees it) */
	size_t mem_len, mem_cap;
	char buf[16384];
};

void sl_out_init(struct sl_out *o, int fd);
/* A writer into memory, for the analyzer, which reads the JSON report back: after
 * sl_out_flush, o->mem holds o->mem_len bytes (error ENOMEM when it could not grow). */
void sl_out_init_mem(struct sl_out *o);
void sl_out_write(struct sl_out *o, const char *s, size_t len);
void sl_out_puts(struct sl_out *o, const char *s);
/* The report's one palette, as the sanitizers colour theirs. */
#define SL_PAINT_ERROR "\033[1;31m"
#define SL_PAINT_WARNING "\033[1;35m"
#define SL_PAINT_BOLD "\033[1m"
#define SL_PAINT_RESET "\033[0m"
/* Writes one of the SL_PAINT_ codes when o->color, nothing otherwise; never filtered. */
void sl_out_paint(struct sl_out *o, const char *code);
void sl_out_printf(struct sl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_out_vprintf(struct sl_out *o, const char *fmt, va_list ap);
/* Returns 0, or the errno of the first failed write. */
int sl_out_flush(struct sl_out *o);

#endif
