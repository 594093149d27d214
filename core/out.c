#include "out.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sl_out_init(struct sl_out *o, int fd)
{
	o->fd = fd;
	o->error = 0;
	o->printable = 0;
	o->color = 0;
	o->n = 0;
	o->mem = NULL;
	o->mem_len = o->mem_cap = 0;
}

void sl_out_init_mem(struct sl_out *o)
{
	sl_out_init(o, -1);
}

static void drain_mem(struct sl_out *o)
{
	if (!o->error && o->mem_len + o->n > o->mem_cap) {
		size_t cap = o->mem_cap ? o->mem_cap : sizeof(o->buf);
		while (cap < o->mem_len + o->n)
			cap *= 2;
		char *m = realloc(o->mem, cap);
		if (m) {
			o->mem = m;
			o->mem_cap = cap;
		} else {
			o->error = ENOMEM;
		}
	}
	if (!o->error) {
		memcpy(o->mem + o->mem_len, o->buf, o->n);
		o->mem_len += o->n;
	}
	o->n = 0;
}

static void drain(struct sl_out *o)
{
	if (o->fd < 0) {
		drain_mem(o);
		return;
	}
	size_t off = 0;
	while (off < o->n && !o->error) {
		ssize_t w = write(o->fd, o->buf + off, o->n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			o->error = errno;
		} else {
			off += (size_t)w;
		}
	}
	o->n = 0;
}

static void put(struct sl_out *o, const char *s, size_t len)
{
	while (len > 0) {
		if (o->n == sizeof(o->buf))
			drain(o);
		size_t k = sizeof(o->buf) - o->n;
		if (k > len)
			k = len;
		memcpy(o->buf + o->n, s, k);
		o->n += k;
		s += k;
		len -= k;
	}
}

/* In printable mode, a name from a process or a log (argv, a path, a function) cannot carry an
 * escape sequence to the reader's terminal. */
void sl_out_write(struct sl_out *o, const char *s, size_t len)
{
	if (!o->printable) {
		put(o, s, len);
		return;
	}
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 0x20 && c != 0x7f) || c == '\n')
			continue;
		put(o, s + run, i - run);
		put(o, "?", 1);
		run = i + 1;
	}
	put(o, s + run, len - run);
}

void sl_out_paint(struct sl_out *o, const char *code)
{
	if (o->color)
		put(o, code, strlen(code));
}

void sl_out_puts(struct sl_out *o, const char *s)
{
	sl_out_write(o, s, strlen(s));
}

void sl_out_vprintf(struct sl_out *o, const char *fmt, va_list ap)
{
	char tmp[4096];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		sl_out_write(o, tmp, (size_t)n);
		return;
	}
	/* Longer than the scratch buffer: format straight into the output buffer. */
	drain(o);
	if ((size_t)n < sizeof(o->buf)) {
		vsnprintf(o->buf, sizeof(o->buf), fmt, ap);
		o->n = (size_t)n;
		for (size_t i = 0; o->printable && i < o->n; i++) {
			unsigned char c = (unsigned char)o->buf[i];
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				o->buf[i] = '?';
		}
	} else {
		sl_out_write(o, tmp, sizeof(tmp) - 1);
	}
}

void sl_out_printf(struct sl_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sl_out_vprintf(o, fmt, ap);
	va_end(ap);
}

int sl_out_flush(struct sl_out *o)
{
	drain(o);
	return o->error;
}
