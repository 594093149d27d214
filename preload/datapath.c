/* The data path: read, write, send and recv, watched only in a process that has made a TLS
 * session, and there only for two things: binding a memory-BIO or custom-BIO session to its
 * socket by its traffic (tls_binding.c), and noticing a peer that hung up without close_notify.
 *
 * None of these functions is exported. Exported, they would be interposed on every read and
 * write of every program, TLS or not: the steady benchmark measured 73 instructions a message.
 * Instead, at the first SSL_new, every loaded module's GOT slots for them are pointed here
 * (gotpatch.c), and again after each dlopen; a program that never makes a TLS session never
 * reaches this file. */
#include <sys/socket.h>
#include <unistd.h>

#include "gotpatch.h"
#include "preload.h"
#include "tls_binding.h"

#define BINDING() (sl_tls_binding_wanted() && !sl_vfork_child)

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);

static ssize_t dp_write(int fd, const void *buf, size_t len)
{
	if (BINDING())
		sl_tlsb_on_send(fd, buf, len);
	return real_write(fd, buf, len);
}

static ssize_t dp_send(int fd, const void *buf, size_t len, int flags)
{
	if (BINDING())
		sl_tlsb_on_send(fd, buf, len);
	return real_send(fd, buf, len, flags);
}

static ssize_t dp_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	if (BINDING())
		sl_tlsb_on_send(fd, buf, len);
	return real_sendto(fd, buf, len, flags, to, tolen);
}

static ssize_t dp_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (BINDING() && msg && msg->msg_iovlen > 0)
		sl_tlsb_on_send(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
	return real_sendmsg(fd, msg, flags);
}

static ssize_t dp_read(int fd, void *buf, size_t len)
{
	ssize_t r = real_read(fd, buf, len);
	if (r > 0 && BINDING())
		sl_tlsb_on_recv(fd, buf, (size_t)r);
	else if (sl_tls_peer_end(r, len))
		sl_tlsb_on_peer_end(fd);
	return r;
}

static ssize_t dp_recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t r = real_recv(fd, buf, len, flags);
	if (r > 0 && BINDING())
		sl_tlsb_on_recv(fd, buf, (size_t)r);
	else if (sl_tls_peer_end(r, len))
		sl_tlsb_on_peer_end(fd);
	return r;
}

static ssize_t dp_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
	ssize_t r = real_recvfrom(fd, buf, len, flags, from, fromlen);
	if (r > 0 && BINDING())
		sl_tlsb_on_recv(fd, buf, (size_t)r);
	else if (sl_tls_peer_end(r, len))
		sl_tlsb_on_peer_end(fd);
	return r;
}

static const struct sl_got_target targets[] = {
	{"write", (void *)dp_write},       {"send", (void *)dp_send},   {"sendto", (void *)dp_sendto},
	{"sendmsg", (void *)dp_sendmsg},   {"read", (void *)dp_read},   {"recv", (void *)dp_recv},
	{"recvfrom", (void *)dp_recvfrom},
};

static int enabled;

/* Resolves the real functions (from the start-up table: no loader lock), then patches. */
void sl_datapath_enable(void)
{
	if (__atomic_load_n(&enabled, __ATOMIC_ACQUIRE) || sl_vfork_child)
		return;
	real_write = (__typeof__(real_write))sl_resolve("write");
	real_send = (__typeof__(real_send))sl_resolve("send");
	real_sendto = (__typeof__(real_sendto))sl_resolve("sendto");
	real_sendmsg = (__typeof__(real_sendmsg))sl_resolve("sendmsg");
	real_read = (__typeof__(real_read))sl_resolve("read");
	real_recv = (__typeof__(real_recv))sl_resolve("recv");
	real_recvfrom = (__typeof__(real_recvfrom))sl_resolve("recvfrom");
	if (!real_write || !real_send || !real_sendto || !real_sendmsg || !real_read || !real_recv || !real_recvfrom)
		return; /* without every real function, nothing is redirected */
	if (__atomic_exchange_n(&enabled, 1, __ATOMIC_ACQ_REL))
		return;
	int guard = sl_in_hook;
	sl_in_hook = 1;
	sl_got_patch(targets, sizeof(targets) / sizeof(targets[0]), NULL);
	sl_in_hook = guard;
}

void sl_datapath_after_dlopen(void)
{
	if (!__atomic_load_n(&enabled, __ATOMIC_ACQUIRE))
		return;
	int guard = sl_in_hook;
	sl_in_hook = 1;
	sl_got_patch(targets, sizeof(targets) / sizeof(targets[0]), NULL);
	sl_in_hook = guard;
}
