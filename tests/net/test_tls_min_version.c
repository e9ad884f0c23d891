/* test_tls_min_version.c: casegate's own TLS listener refuses TLS 1.1 and 1.0 clients (protocol_version alert) and takes TLS 1.2 and 1.3, even where the system's OpenSSL policy would allow the old versions. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "itest.h"

/* An OpenSSL policy that allows everything back to TLS 1.0 at security level 0, for both the
 * daemon (OPENSSL_CONF) and this client: a refusal can then only come from casegate's own
 * minimum, not from Debian's defaults (MinProtocol TLSv1.2, SECLEVEL=2). */
static const char *const permissive_conf = "openssl_conf = default_conf\n"
                                           "[default_conf]\n"
                                           "ssl_conf = ssl_sect\n"
                                           "[ssl_sect]\n"
                                           "system_default = system_default_sect\n"
                                           "[system_default_sect]\n"
                                           "MinProtocol = TLSv1\n"
                                           "CipherString = DEFAULT@SECLEVEL=0\n";

static void start_gw_env(struct itest *t, char *const env[])
{
	char log[600], bin[512];
	snprintf(log, sizeof(log), "%s/casegate.log", t->dir);
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	char *const argv[] = {bin, "run", "-c", t->cfg_path, "--datadog-url", t->sim_url, NULL};
	assert_int_equal(cg_h_spawn(&t->gw, argv, env, log), 0);
	t->gw_port = cg_h_log_port(&t->gw, "listening on 127.0.0.1:", 15000);
	if (t->gw_port <= 0) {
		cg_h_dump_log(&t->gw);
		fail_msg("casegate did not start");
	}
	t->gw_running = 1;
}

/* Handshakes with exactly one protocol version; 1 when it succeeded. *alert_version is set when
 * the server's answer was a protocol_version alert. */
static int handshake(int port, int version, int *alert_version, char *why, size_t whylen)
{
	*alert_version = 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	SSL_CTX_set_security_level(ctx, 0);
	assert_int_equal(SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0"), 1);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, version), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, version), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = {.tv_sec = 15};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL *ssl = SSL_new(ctx);
	assert_non_null(ssl);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	ERR_clear_error();
	int ok = SSL_connect(ssl) == 1;
	unsigned long e;
	why[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		if (ERR_GET_REASON(e) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
			*alert_version = 1;
		ERR_error_string_n(e, why, whylen);
	}
	if (ok && SSL_version(ssl) != version)
		fail_msg("negotiated 0x%x, asked for exactly 0x%x", SSL_version(ssl), version);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return ok;
}

static void test_tls_minimum_is_1_2(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-tlsmin"), 0);
	char *cmd = cg_h_fmt("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout srv.key -out srv.pem -days 2 "
			     "-subj /CN=localhost 2>/dev/null && chmod 600 srv.key",
			     t.dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	char *conf = cg_h_fmt("%s/openssl.cnf", t.dir);
	assert_int_equal(cg_h_write_file(conf, permissive_conf, strlen(permissive_conf)), 0);
	/* This process's client contexts read the same policy (loaded at OpenSSL's first init). */
	setenv("OPENSSL_CONF", conf, 1);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	char *top = cg_h_fmt("tls: {cert_file: %s/srv.pem, key_file: %s/srv.key}\n", t.dir, t.dir);
	assert_int_equal(itest_write_config(&t, top,
					    "  - name: open\n    type: generic\n    auth: none\n"
					    "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
					    "    case_type: 00000000-0000-0000-0000-000000000001\n"),
			 0);
	free(top);
	char *env_conf = cg_h_fmt("OPENSSL_CONF=%s", conf);
	char *const env[] = {env_conf, NULL};
	start_gw_env(&t, env);

	char why[256];
	int alert = 0;
	/* What the listener takes. */
	if (!handshake(t.gw_port, TLS1_2_VERSION, &alert, why, sizeof(why)))
		fail_msg("TLS 1.2 handshake refused: %s", why);
	if (!handshake(t.gw_port, TLS1_3_VERSION, &alert, why, sizeof(why)))
		fail_msg("TLS 1.3 handshake refused: %s", why);
	/* What it refuses, and that the refusal is the server's: a protocol_version alert, not a
	 * client that could not offer the version. */
	const int old[] = {TLS1_1_VERSION, TLS1_VERSION};
	const char *names[] = {"TLS 1.1", "TLS 1.0"};
	for (int i = 0; i < 2; i++) {
		if (handshake(t.gw_port, old[i], &alert, why, sizeof(why)))
			fail_msg("%s handshake succeeded: want it refused (TLS 1.2 minimum)", names[i]);
		if (!alert)
			fail_msg("%s refused without the server's protocol_version alert: %s", names[i], why);
	}
	/* The listener is still up and serving after the refusals. */
	if (!handshake(t.gw_port, TLS1_2_VERSION, &alert, why, sizeof(why)))
		fail_msg("TLS 1.2 after the refusals: %s", why);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	unsetenv("OPENSSL_CONF");
	free(env_conf);
	free(conf);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_minimum_is_1_2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
