/* Binding TLS sessions to sockets by their traffic (tls_binding.c). */
#ifndef SOCKLEAK_TLS_BINDING_H
#define SOCKLEAK_TLS_BINDING_H

#include <stddef.h>
#include <sys/types.h>

#include "preload.h"

extern int sl_tls_unbound;
extern __thread void *sl_tls_current SL_TLS_MODEL;
extern __thread int sl_tls_depth SL_TLS_MODEL;

/* Whether the data-path hooks have anything to do: true only while a session waits. */
static inline int sl_tls_binding_wanted(void)
{
	return SL_UNLIKELY(__atomic_load_n(&sl_tls_unbound, __ATOMIC_RELAXED) > 0);
}

/* Set once the process has made an SSL object. From then on, a read that finds the peer's end
 * of a stream (0 bytes into a non-empty buffer, or ECONNRESET) is recorded: a two-way TLS
 * shutdown that the peer cut short by hanging up was not abandoned by the program. */
extern int sl_tls_made;

static inline int sl_tls_peer_end(ssize_t r, size_t len)
{
	return SL_UNLIKELY(r <= 0) && __atomic_load_n(&sl_tls_made, __ATOMIC_RELAXED) &&
	       (r == 0 ? len > 0 : errno == ECONNRESET) && !sl_vfork_child;
}

/* Records that fd's peer ended the stream (keeps errno). */
void sl_tlsb_on_peer_end(int fd);

void sl_tlsb_new(void *ssl);
/* which: 1 the read BIO, 2 the write BIO, 3 both. */
void sl_tlsb_set_bios(void *ssl, void *rbio, void *wbio, int which);
void sl_tlsb_forget(void *ssl);
int sl_tlsb_pending(void *ssl);
void sl_tlsb_on_send(int fd, const void *buf, size_t len);
void sl_tlsb_on_recv(int fd, const void *buf, size_t len);
void sl_tlsb_after_bio_read(void *bio, const void *buf, int n);
void sl_tlsb_before_bio_write(void *bio, const void *buf, int n);

#endif
