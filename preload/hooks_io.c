/* The data path: read, write, send and recv do no tracking at all. They matter only while a TLS
 * session waits to be bound to its socket by its traffic (tls_binding.c); until then, and after,
 * each costs one load and one branch on top of the real call. */
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload.h"
#include "tls_binding.h"
#include "unwind_pipe.h"

#define BINDING() (sl_tls_binding_wanted() && !sl_vfork_child)

SL_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	SL_REAL(write);
	if (SL_UNW_FAKE(fd))
		return sl_unw_write(buf, len);
	if (BINDING())
		sl_tlsb_on_send(fd, buf, len);
	return SL_CALL(write, -1, fd, buf, len);
}

SL_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	SL_REAL(send);
	if (BINDING())
		sl_tlsb_on_send(fd, buf, len);
	return SL_CALL(send, -1, fd, buf, len, flags);
}

SL_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG to, socklen_t tolen)
{
	SL_REAL(sendto);
	if (BINDING())
		sl_tlsb_on_send(fd, buf, len);
	return SL_CALL(sendto, -1, fd, buf, len, flags, to, tolen);
}

SL_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	SL_REAL(sendmsg);
	if (BINDING() && msg && msg->msg_iovlen > 0)
		sl_tlsb_on_send(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
	return SL_CALL(sendmsg, -1, fd, msg, flags);
}

SL_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	SL_REAL(read);
	if (SL_UNW_FAKE(fd))
		return sl_unw_read(buf, len);
	ssize_t r = SL_CALL(read, -1, fd, buf, len);
	if (r > 0 && BINDING())
		sl_tlsb_on_recv(fd, buf, (size_t)r);
	else if (sl_tls_peer_end(r, len))
		sl_tlsb_on_peer_end(fd);
	return r;
}

SL_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	SL_REAL(recv);
	ssize_t r = SL_CALL(recv, -1, fd, buf, len, flags);
	if (r > 0 && BINDING())
		sl_tlsb_on_recv(fd, buf, (size_t)r);
	else if (sl_tls_peer_end(r, len))
		sl_tlsb_on_peer_end(fd);
	return r;
}

SL_EXPORT ssize_t recvfrom(int fd, void *__restrict buf, size_t len, int flags, __SOCKADDR_ARG from,
			   socklen_t *__restrict fromlen)
{
	SL_REAL(recvfrom);
	ssize_t r = SL_CALL(recvfrom, -1, fd, buf, len, flags, from, fromlen);
	if (r > 0 && BINDING())
		sl_tlsb_on_recv(fd, buf, (size_t)r);
	else if (sl_tls_peer_end(r, len))
		sl_tlsb_on_peer_end(fd);
	return r;
}
