/* Interposers for the calls that make sockets and give them a role and addresses. Each calls
 * the real function, then records what happened; no rule lives here (see core/lifecycle.c). */
#include <sys/socket.h>

#include "hooks_files.h"
#include "preload.h"
#include "tls_binding.h"

SL_EXPORT int socket(int domain, int type, int protocol)
{
	SL_REAL(socket);
	int fd = SL_CALL(socket, -1, domain, type, protocol);
	if (fd >= 0 && sl_active()) {
		struct sl_event ev = {.type = SL_EV_SOCKET, .fd = fd, .a = domain, .b = type};
		sl_record_with_stack(&ev);
	}
	return fd;
}

SL_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	SL_REAL(socketpair);
	int r = SL_CALL(socketpair, -1, domain, type, protocol, sv);
	if (r == 0 && sl_active()) {
		struct sl_event ev = {.type = SL_EV_SOCKETPAIR, .fd = sv[0], .fd2 = sv[1], .a = domain, .b = type};
		sl_record_with_stack(&ev);
	}
	return r;
}

/* Inlined into the hooks, so that the stack is taken in the hook's own frame: a frame of
 * sockleak's more cost libunwind a step on every accept (issue 12). */
static inline __attribute__((always_inline)) void record_accept(int lfd, int nfd, const struct sockaddr *sa,
								 const socklen_t *len)
{
	struct sl_event ev = {.type = SL_EV_ACCEPT, .fd = lfd, .fd2 = nfd};
	if (sa && len && *len > 0) {
		ev.addr = sa;
		ev.addrlen = (uint16_t)(*len < SL_EVENT_ADDR_MAX ? *len : SL_EVENT_ADDR_MAX);
	}
	sl_record_with_stack(&ev);
}

SL_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
	SL_REAL(accept);
	int nfd = SL_CALL(accept, -1, fd, addr, len);
	if (nfd >= 0 && sl_active())
		record_accept(fd, nfd, addr.__sockaddr__, len);
	return nfd;
}

SL_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
	SL_REAL(accept4);
	int nfd = SL_CALL(accept4, -1, fd, addr, len, flags);
	if (nfd >= 0 && sl_active())
		record_accept(fd, nfd, addr.__sockaddr__, len);
	return nfd;
}

static void record_addr_event(int type, int fd, const struct sockaddr *sa, socklen_t len, int64_t a)
{
	struct sl_event ev = {.type = (uint16_t)type, .fd = fd, .a = a};
	if (sa) {
		ev.addr = sa;
		ev.addrlen = (uint16_t)(len < SL_EVENT_ADDR_MAX ? len : SL_EVENT_ADDR_MAX);
	}
	sl_record(&ev);
}

SL_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	SL_REAL(connect);
	int r = SL_CALL(connect, -1, fd, addr, len);
	/* A non-blocking connect still in progress has its peer all the same. */
	if ((r == 0 || errno == EINPROGRESS) && sl_tracked(fd) && sl_active())
		record_addr_event(SL_EV_CONNECT, fd, addr.__sockaddr__, len, r != 0);
	return r;
}

SL_EXPORT int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	SL_REAL(bind);
	int r = SL_CALL(bind, -1, fd, addr, len);
	if (r == 0 && sl_tracked(fd) && sl_active())
		record_addr_event(SL_EV_BIND, fd, addr.__sockaddr__, len, 0);
	return r;
}

SL_EXPORT int listen(int fd, int backlog)
{
	SL_REAL(listen);
	int r = SL_CALL(listen, -1, fd, backlog);
	if (r == 0 && sl_tracked(fd) && sl_active()) {
		struct sl_event ev = {.type = SL_EV_LISTEN, .fd = fd};
		sl_record(&ev);
	}
	return r;
}

SL_EXPORT int shutdown(int fd, int how)
{
	SL_REAL(shutdown);
	int r = SL_CALL(shutdown, -1, fd, how);
	if (r == 0 && sl_tracked(fd) && sl_active()) {
		struct sl_event ev = {.type = SL_EV_SHUTDOWN, .fd = fd, .a = how};
		sl_record(&ev);
	}
	return r;
}

/* Descriptors passed in with SCM_RIGHTS: each socket among them is a transport this process now
 * holds. Asking the kernel what each is costs a system call, paid only when descriptors arrive. */
static void record_received(const struct msghdr *msg)
{
	int saved = errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd, domain, type;
			socklen_t len = sizeof(int);
			__builtin_memcpy(&fd, data + i * sizeof(int), sizeof(int));
			if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
				if (SL_UNLIKELY(sl_track_level != SL_TRACK_SOCKETS))
					sl_files_adopt(fd); /* a pipe, a file, ... (issue 15) */
				continue; /* not a socket */
			}
			len = sizeof(int);
			if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
				type = 0;
			struct sl_event ev = {.type = SL_EV_RECEIVED, .fd2 = fd, .a = domain, .b = type};
			sl_record_with_stack(&ev);
		}
	}
	errno = saved;
}

SL_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	SL_REAL(recvmsg);
	ssize_t r = SL_CALL(recvmsg, -1, fd, msg, flags);
	if (r >= 0 && msg && msg->msg_controllen > 0 && msg->msg_control && sl_active())
		record_received(msg);
	if (r > 0 && sl_tls_binding_wanted() && !sl_vfork_child && msg->msg_iovlen > 0)
		sl_tlsb_on_recv(fd, msg->msg_iov[0].iov_base, (size_t)r < msg->msg_iov[0].iov_len ? (size_t)r : msg->msg_iov[0].iov_len);
	else if (sl_tls_peer_end(r, msg && msg->msg_iovlen > 0 ? msg->msg_iov[0].iov_len : 0))
		sl_tlsb_on_peer_end(fd);
	return r;
}

SL_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *timeout)
{
	SL_REAL(recvmmsg);
	int r = SL_CALL(recvmmsg, -1, fd, vec, vlen, flags, timeout);
	for (int i = 0; i < r; i++)
		if (vec[i].msg_hdr.msg_controllen > 0 && vec[i].msg_hdr.msg_control && sl_active())
			record_received(&vec[i].msg_hdr);
	return r;
}
