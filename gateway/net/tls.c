/* tls.c: server-side TLS on memory BIOs: http_conn.c feeds ciphertext in and takes ciphertext out. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "err.h"

struct cg_tls_ctx {
	SSL_CTX *ctx;
};

struct cg_tls {
	SSL *ssl;
	BIO *rbio; /* network -> SSL (owned by ssl) */
	BIO *wbio; /* SSL -> network (owned by ssl) */
	int failed;
};

static void ssl_err(const char *what, const char *file, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s %s: %s", what, file, e ? buf : "failed");
	ERR_clear_error();
}

int cg_tls_ctx_create(const char *cert_file, const char *key_file, struct cg_tls_ctx **out, char *err,
		      size_t errlen)
{
	struct cg_tls_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return CG_ENOMEM;
	}
	c->ctx = SSL_CTX_new(TLS_server_method());
	if (!c->ctx) {
		snprintf(err, errlen, "out of memory");
		free(c);
		return CG_ENOMEM;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	/* Renegotiation and compression only widen the attack surface of a webhook endpoint. */
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c->ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(c->ctx, cert_file) != 1) {
		ssl_err("cannot load certificate", cert_file, err, errlen);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_err("cannot load key", key_file, err, errlen);
		goto fail;
	}
	if (SSL_CTX_check_private_key(c->ctx) != 1) {
		ssl_err("key does not match the certificate", key_file, err, errlen);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	SSL_CTX_free(c->ctx);
	free(c);
	return CG_EINVAL;
}

void cg_tls_ctx_destroy(struct cg_tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ctx); /* reference counted: live SSL objects keep it */
	free(ctx);
}

struct cg_tls *cg_tls_new(struct cg_tls_ctx *ctx)
{
	struct cg_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ssl = SSL_new(ctx->ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		free(t);
		return NULL;
	}
	/* An empty read BIO means "no data yet", not EOF. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_accept_state(t->ssl);
	return t;
}

void cg_tls_free(struct cg_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* frees both BIOs */
	free(t);
}

int cg_tls_feed(struct cg_tls *t, const char *data, size_t len)
{
	while (len > 0) {
		int n = BIO_write(t->rbio, data, len > 65536 ? 65536 : (int)len);
		if (n <= 0)
			return CG_ENOMEM;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int cg_tls_read(struct cg_tls *t, char *buf, size_t len)
{
	if (t->failed)
		return CG_EIO;
	int n = SSL_read(t->ssl, buf, len > 65536 ? 65536 : (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(t->ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE: /* never with a memory BIO, but harmless */
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return CG_ECLOSED;
	default:
		t->failed = 1;
		ERR_clear_error();
		return CG_EIO;
	}
}

int cg_tls_ready(const struct cg_tls *t)
{
	return SSL_is_init_finished(t->ssl);
}

int cg_tls_write(struct cg_tls *t, const char *data, size_t len)
{
	if (t->failed || !SSL_is_init_finished(t->ssl))
		return CG_EIO;
	while (len > 0) {
		/* The memory write BIO grows as needed, so SSL_write never wants to wait. */
		int n = SSL_write(t->ssl, data, len > 65536 ? 65536 : (int)len);
		if (n <= 0) {
			t->failed = 1;
			ERR_clear_error();
			return CG_EIO;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t cg_tls_pending(const struct cg_tls *t)
{
	return BIO_ctrl_pending(t->wbio);
}

size_t cg_tls_take(struct cg_tls *t, char *buf, size_t len)
{
	int n = BIO_read(t->wbio, buf, len > 1u << 30 ? 1 << 30 : (int)len);
	return n > 0 ? (size_t)n : 0;
}

void cg_tls_close_notify(struct cg_tls *t)
{
	if (!t->failed && SSL_is_init_finished(t->ssl))
		SSL_shutdown(t->ssl);
	ERR_clear_error();
}
