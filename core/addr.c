#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

void sl_addr_clear(struct sl_arena *a, struct sl_addr *addr)
{
	if (addr->family == AF_UNIX && addr->len > 0)
		sl_arena_free(a, addr->u.path, addr->len + 1);
	memset(addr, 0, sizeof(*addr));
}

int sl_addr_set(struct sl_arena *a, struct sl_addr *dst, const void *sa, size_t len)
{
	sa_family_t family;
	sl_addr_clear(a, dst);
	if (!sa || len < sizeof(family))
		return 0;
	memcpy(&family, sa, sizeof(family));
	if (family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		dst->family = AF_INET;
		dst->port = ntohs(in.sin_port);
		dst->len = 4;
		memcpy(dst->u.ip, &in.sin_addr, 4);
	} else if (family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		dst->family = AF_INET6;
		dst->port = ntohs(in6.sin6_port);
		dst->len = 16;
		memcpy(dst->u.ip, &in6.sin6_addr, 16);
	} else if (family == AF_UNIX) {
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = len > off ? len - off : 0;
		const char *path = (const char *)sa + off;
		if (n > sizeof(((struct sockaddr_un *)0)->sun_path))
			n = sizeof(((struct sockaddr_un *)0)->sun_path);
		/* A pathname ends at its first NUL; an abstract name (leading NUL) uses every byte. */
		if (n > 0 && path[0] != '\0')
			n = strnlen(path, n);
		dst->family = AF_UNIX;
		if (n > 0) {
			char *copy = sl_arena_strndup(a, path, n);
			if (!copy) {
				dst->family = 0;
				return -1;
			}
			dst->u.path = copy;
			dst->len = (uint32_t)n;
		}
	} else {
		dst->family = family;
	}
	return 0;
}

const char *sl_addr_format(const struct sl_addr *addr, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	switch (addr->family) {
	case 0:
		snprintf(buf, size, "?");
		break;
	case AF_INET:
		inet_ntop(AF_INET, addr->u.ip, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, addr->port);
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, addr->u.ip, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, addr->port);
		break;
	case AF_UNIX:
		if (addr->len == 0)
			snprintf(buf, size, "(unnamed)");
		else if (addr->u.path[0] == '\0') {
			/* Abstract names may hold any byte: show printable ones, '.' for the rest. */
			size_t n = 0;
			if (size > 1)
				buf[n++] = '@';
			for (uint32_t i = 1; i < addr->len && n + 1 < size; i++) {
				unsigned char c = (unsigned char)addr->u.path[i];
				buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
			}
			buf[n < size ? n : size - 1] = '\0';
		} else
			snprintf(buf, size, "%.*s", (int)addr->len, addr->u.path);
		break;
	default:
		snprintf(buf, size, "(family %u)", addr->family);
		break;
	}
	return buf;
}
