/* test_tls.c: the listener's TLS over memory buffers against an OpenSSL client: certificate loading errors, handshake, data both ways, close_notify, garbage refused. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "err.h"
#include "harness.h"
#include "tls.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = cg_h_tmpdir("tls");
	/* A self-signed localhost certificate (EC: quick to make), and a second key that does not match it. */
	char *cmd = cg_h_fmt("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			     "-keyout srv.key -out srv.pem -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
			     ">/dev/null 2>&1 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
			     "-out other.key >/dev/null 2>&1",
			     dir);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0)
		fail_msg("openssl could not make a test certificate (rc %d)", rc);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cg_h_rmrf(dir);
	free(dir);
	return 0;
}

static void test_ctx_errors(void **state)
{
	(void)state;
	char err[512] = "";
	struct cg_tls_ctx *ctx = NULL;
	char *cert = cg_h_fmt("%s/srv.pem", dir), *key = cg_h_fmt("%s/srv.key", dir);
	char *other = cg_h_fmt("%s/other.key", dir), *missing = cg_h_fmt("%s/missing.pem", dir);
	assert_int_equal(cg_tls_ctx_create(missing, key, &ctx, err, sizeof(err)), CG_EINVAL);
	if (!strstr(err, missing))
		fail_msg("missing certificate: \"%s\" should name %s", err, missing);
	err[0] = '\0';
	assert_int_equal(cg_tls_ctx_create(cert, missing, &ctx, err, sizeof(err)), CG_EINVAL);
	if (!strstr(err, missing))
		fail_msg("missing key: \"%s\" should name %s", err, missing);
	err[0] = '\0';
	assert_int_equal(cg_tls_ctx_create(cert, other, &ctx, err, sizeof(err)), CG_EINVAL);
	assert_true(err[0] != '\0');
	/* A key where the certificate belongs. */
	assert_int_equal(cg_tls_ctx_create(key, key, &ctx, err, sizeof(err)), CG_EINVAL);
	assert_int_equal(cg_tls_ctx_create(cert, key, &ctx, err, sizeof(err)), 0);
	cg_tls_ctx_destroy(ctx);
	cg_tls_ctx_destroy(NULL);
	free(cert);
	free(key);
	free(other);
	free(missing);
}

struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out; /* in: what the server sent; out: what the client sends */
};

static void client_init(struct client *c)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->ctx);
	char *cert = cg_h_fmt("%s/srv.pem", dir);
	assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, cert, NULL), 1);
	free(cert);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	c->ssl = SSL_new(c->ctx);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	SSL_set_bio(c->ssl, c->in, c->out);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	SSL_set1_host(c->ssl, "localhost");
	SSL_set_connect_state(c->ssl);
}

static void client_free(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
}

/* Moves ciphertext both ways until neither side has anything to send. */
static void pump(struct client *c, struct cg_tls *t, char *plain, size_t plainlen, int *got, int *server_rc)
{
	char buf[16384];
	for (int round = 0; round < 20; round++) {
		int moved = 0;
		int n;
		while ((n = BIO_read(c->out, buf, sizeof(buf))) > 0) {
			assert_int_equal(cg_tls_feed(t, buf, (size_t)n), 0);
			moved = 1;
		}
		int r = cg_tls_read(t, plain, plainlen);
		if (r > 0 && got)
			*got += r;
		if (r < 0 && server_rc)
			*server_rc = r;
		size_t k;
		while ((k = cg_tls_take(t, buf, sizeof(buf))) > 0) {
			assert_int_equal(BIO_write(c->in, buf, (int)k), (int)k);
			moved = 1;
		}
		if (!SSL_is_init_finished(c->ssl))
			SSL_do_handshake(c->ssl);
		if (!moved && BIO_pending(c->out) == 0)
			return;
	}
}

static void test_session(void **state)
{
	(void)state;
	char err[512] = "";
	struct cg_tls_ctx *ctx = NULL;
	char *cert = cg_h_fmt("%s/srv.pem", dir), *key = cg_h_fmt("%s/srv.key", dir);
	assert_int_equal(cg_tls_ctx_create(cert, key, &ctx, err, sizeof(err)), 0);
	struct cg_tls *t = cg_tls_new(ctx);
	assert_non_null(t);
	cg_tls_ctx_destroy(ctx); /* the connection keeps its reference */
	struct client c;
	client_init(&c);
	assert_false(cg_tls_ready(t));
	assert_true(SSL_do_handshake(c.ssl) <= 0); /* ClientHello queued */
	char plain[256];
	int got = 0, src = 0;
	pump(&c, t, plain, sizeof(plain), &got, &src);
	assert_int_equal(src, 0);
	assert_true(cg_tls_ready(t));
	assert_int_equal(SSL_is_init_finished(c.ssl), 1);
	assert_int_equal(SSL_get_verify_result(c.ssl), X509_V_OK);
	assert_true(SSL_version(c.ssl) >= TLS1_2_VERSION);

	/* Client -> server. */
	assert_int_equal(SSL_write(c.ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	got = 0;
	pump(&c, t, plain, sizeof(plain), &got, &src);
	assert_int_equal(got, 18);
	assert_memory_equal(plain, "GET / HTTP/1.1\r\n\r\n", 18);
	/* Server -> client. */
	assert_int_equal(cg_tls_write(t, "HTTP/1.1 204 No Content\r\n\r\n", 27), 0);
	assert_true(cg_tls_pending(t) > 27); /* ciphertext, framed */
	pump(&c, t, plain, sizeof(plain), NULL, NULL);
	char back[64];
	assert_int_equal(SSL_read(c.ssl, back, sizeof(back)), 27);
	assert_memory_equal(back, "HTTP/1.1 204 No Content\r\n\r\n", 27);

	/* The client's close_notify reads as closed, not as data or an error. */
	SSL_shutdown(c.ssl);
	src = 0;
	pump(&c, t, plain, sizeof(plain), NULL, &src);
	assert_int_equal(src, CG_ECLOSED);
	cg_tls_close_notify(t);
	assert_true(cg_tls_pending(t) > 0);
	client_free(&c);
	cg_tls_free(t);
	free(cert);
	free(key);
}

/* Plain HTTP (or anything) on the TLS port is a handshake failure, never data. */
static void test_garbage(void **state)
{
	(void)state;
	char err[512] = "";
	struct cg_tls_ctx *ctx = NULL;
	char *cert = cg_h_fmt("%s/srv.pem", dir), *key = cg_h_fmt("%s/srv.key", dir);
	assert_int_equal(cg_tls_ctx_create(cert, key, &ctx, err, sizeof(err)), 0);
	struct cg_tls *t = cg_tls_new(ctx);
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(cg_tls_feed(t, http, sizeof(http) - 1), 0);
	char plain[256];
	assert_int_equal(cg_tls_read(t, plain, sizeof(plain)), CG_EIO);
	assert_false(cg_tls_ready(t));
	assert_int_equal(cg_tls_write(t, "x", 1), CG_EIO);
	cg_tls_free(t);
	/* A handshake record with nonsense inside: refused, and the alert that says so is queued. */
	t = cg_tls_new(ctx);
	static const char bad_hello[] = "\x16\x03\x01\x00\x08\x01\x00\x00\x04\xde\xad\xbe\xef";
	assert_int_equal(cg_tls_feed(t, bad_hello, sizeof(bad_hello) - 1), 0);
	assert_int_equal(cg_tls_read(t, plain, sizeof(plain)), CG_EIO);
	assert_true(cg_tls_pending(t) > 0);
	char alert[64];
	size_t n = cg_tls_take(t, alert, sizeof(alert));
	assert_true(n >= 7);
	assert_int_equal(alert[0], 0x15); /* an alert record */
	assert_int_equal(cg_tls_pending(t), 0);
	cg_tls_free(t);
	cg_tls_ctx_destroy(ctx);
	free(cert);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
