/* tls.h: TLS for the HTTP listener: OpenSSL over memory BIOs, so http_conn.c keeps driving the libuv
 * stream itself (ciphertext in and out), with no socket handed to OpenSSL. */
#ifndef CG_TLS_H
#define CG_TLS_H

#include <stddef.h>

struct cg_tls_ctx; /* certificate, key, protocol settings: shared by connections */
struct cg_tls;     /* one connection */

/* Loads a PEM certificate chain and key (TLS 1.2+, no renegotiation). 0, or CG_EINVAL/CG_ENOMEM with err. */
int cg_tls_ctx_create(const char *cert_file, const char *key_file, struct cg_tls_ctx **out, char *err,
		      size_t errlen);
/* Accepts NULL. Connections hold a reference: destroying the context while they live is safe. */
void cg_tls_ctx_destroy(struct cg_tls_ctx *ctx);

/* A server-side connection state; NULL on ENOMEM. */
struct cg_tls *cg_tls_new(struct cg_tls_ctx *ctx);
void cg_tls_free(struct cg_tls *t);

/* Ciphertext received from the peer. 0 or CG_ENOMEM. */
int cg_tls_feed(struct cg_tls *t, const char *data, size_t len);

/*
 * Decrypted bytes for the application: > 0 bytes written to buf; 0 when more ciphertext is
 * needed (handshake in progress or partial record); CG_ECLOSED when the peer sent close_notify;
 * CG_EIO on a protocol or handshake failure (the alert to send is queued: flush, then close).
 */
int cg_tls_read(struct cg_tls *t, char *buf, size_t len);

/* 1 once the handshake completed. */
int cg_tls_ready(const struct cg_tls *t);

/* Encrypts all of data (handshake must be complete). 0 or CG_EIO. */
int cg_tls_write(struct cg_tls *t, const char *data, size_t len);

/* Ciphertext waiting to be sent, and taking it (returns bytes copied). */
size_t cg_tls_pending(const struct cg_tls *t);
size_t cg_tls_take(struct cg_tls *t, char *buf, size_t len);

/* Queues a close_notify alert (send it with pending/take before shutting the socket). */
void cg_tls_close_notify(struct cg_tls *t);

#endif
