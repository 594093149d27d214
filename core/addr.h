/* Socket addresses as sockaddr_storage would hold them, kept small: a transport stores two. */
#ifndef SOCKLEAK_ADDR_H
#define SOCKLEAK_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "arena.h"

struct sl_addr {
	uint16_t family; /* 0 when unknown */
	uint16_t port;   /* host byte order */
	uint32_t len;    /* unix: bytes of the path (0 for unnamed); inet: 4 or 16 */
	union {
		uint8_t ip[16];
		char *path; /* unix: arena copy; an abstract name keeps its leading NUL */
	} u;
};

/* Fills dst from a sockaddr; a unix path is copied into the arena. Returns 0, or -1 when memory
 * ran out (dst is then left unknown). */
int sl_addr_set(struct sl_arena *a, struct sl_addr *dst, const void *sa, size_t len);
void sl_addr_clear(struct sl_arena *a, struct sl_addr *addr);

/* Whether the address is fully known: an inet address with port 0 (bind to port 0, before the
 * kernel chose one) is not. */
static inline int sl_addr_complete(const struct sl_addr *a)
{
	return a->family != 0 && !((a->family == AF_INET || a->family == AF_INET6) && a->port == 0);
}

/* Writes "127.0.0.1:80", "[::1]:443", "/run/x.sock", "@abstract", "(unnamed)" or "?" into buf. */
const char *sl_addr_format(const struct sl_addr *addr, char *buf, size_t size);

#endif
