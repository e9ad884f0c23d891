/* pfserver.c: starts a private Postfix for a test (its own main.cf/master.cf, queue and maillog under the test dir). */
#include "pfserver.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The services every test's Postfix needs; an smtpd line goes in front when it listens. */
#define MASTER_CF                                                                                                      \
	"pickup unix n - n 60 1 pickup\n"                                                                              \
	"cleanup unix n - n - 0 cleanup\n"                                                                             \
	"qmgr unix n - n 300 1 qmgr\n"                                                                                 \
	"rewrite unix - - n - - trivial-rewrite\n"                                                                     \
	"bounce unix - - n - 0 bounce\n"                                                                               \
	"defer unix - - n - 0 bounce\n"                                                                                \
	"trace unix - - n - 0 bounce\n"                                                                                \
	"verify unix - - n - 1 verify\n"                                                                               \
	"proxymap unix - - n - - proxymap\n"                                                                           \
	"smtp unix - - n - - smtp\n"                                                                                   \
	"error unix - - n - - error\n"                                                                                 \
	"retry unix - - n - - error\n"                                                                                 \
	"discard unix - - n - - discard\n"                                                                             \
	"lmtp unix - - n - - lmtp\n"                                                                                   \
	"anvil unix - - n - 1 anvil\n"                                                                                 \
	"scache unix - - n - 1 scache\n"                                                                               \
	"postlog unix-dgram n - n - 1 postlogd\n"

char *cg_h_pf_maillog(const struct cg_h_pf *pf)
{
	char *ml = pf->dir ? cg_h_fmt("%s/maillog", pf->dir) : NULL;
	char *text = ml ? cg_h_read_file(ml, NULL) : NULL;
	free(ml);
	return text ? text : strdup("(none)");
}

void cg_h_pf_stop(struct cg_h_pf *pf)
{
	if (pf->running)
		cg_h_run_cmd((char *const[]){CG_H_POSTFIX, "-c", pf->conf, "stop", NULL}, pf->log, NULL);
	pf->running = 0;
}

void cg_h_pf_free(struct cg_h_pf *pf)
{
	cg_h_pf_stop(pf);
	free(pf->dir);
	free(pf->conf);
	free(pf->log);
	memset(pf, 0, sizeof(*pf));
}

void cg_h_pf_start(struct cg_h_pf *pf, const char *parent, const char *name, const struct cg_h_pf_opts *opts)
{
	if (access(CG_H_POSTFIX, X_OK) != 0)
		cg_h_skip("postfix", "%s missing (apt-get install postfix)", CG_H_POSTFIX);
	if (geteuid() != 0)
		cg_h_skip("root", "Postfix needs root (postfix start)");
	pf->dir = cg_h_fmt("%s/%s", parent, name);
	pf->conf = cg_h_fmt("%s/conf", pf->dir);
	pf->log = cg_h_fmt("%s/postfix.out", pf->dir);
	char *queue = cg_h_fmt("%s/queue", pf->dir), *data = cg_h_fmt("%s/data", pf->dir);
	/* Postfix's own user must reach its queue and own its data directory. */
	assert_int_equal(chmod(parent, 0755), 0);
	assert_int_equal(mkdir(pf->dir, 0755), 0);
	assert_int_equal(mkdir(pf->conf, 0755), 0);
	assert_int_equal(mkdir(queue, 0755), 0);
	assert_int_equal(mkdir(data, 0755), 0);
	if (cg_h_run_cmd((char *const[]){"/bin/chown", "postfix", data, NULL}, pf->log, NULL) != 0)
		fail_msg("chown postfix %s failed", data);
	pf->port = 0;
	char smtpd[64] = "";
	if (opts->smtpd) {
		pf->port = cg_h_free_port();
		assert_true(pf->port > 0);
		snprintf(smtpd, sizeof(smtpd), "%d inet n - n - - smtpd\n", pf->port);
	}
	/* Loopback only (inet_protocols ipv4: 127.0.0.1), nothing delivered locally (mydestination
	 * empty), its log in its own file rather than syslog. */
	char *main_cf = cg_h_fmt("compatibility_level = 3.6\n"
	                         "queue_directory = %s\n"
	                         "data_directory = %s\n"
	                         "mail_owner = postfix\n"
	                         "setgid_group = postdrop\n"
	                         "inet_interfaces = 127.0.0.1\n"
	                         "inet_protocols = ipv4\n"
	                         "myhostname = mx.casegate.test\n"
	                         "mydestination =\n"
	                         "mynetworks = 127.0.0.0/8\n"
	                         "maillog_file = %s/maillog\n"
	                         "maillog_file_prefixes = %s\n"
	                         "smtputf8_enable = no\n"
	                         "biff = no\n"
	                         "%s",
	                         queue, data, pf->dir, pf->dir, opts->main_extra ? opts->main_extra : "");
	char *master = cg_h_fmt("%s" MASTER_CF "%s", smtpd, opts->master_extra ? opts->master_extra : "");
	char *p1 = cg_h_fmt("%s/main.cf", pf->conf), *p2 = cg_h_fmt("%s/master.cf", pf->conf);
	assert_int_equal(cg_h_write_file(p1, main_cf, strlen(main_cf)), 0);
	assert_int_equal(cg_h_write_file(p2, master, strlen(master)), 0);
	free(queue);
	free(data);
	free(main_cf);
	free(master);
	free(p1);
	free(p2);
	int rc = cg_h_run_cmd((char *const[]){CG_H_POSTFIX, "-c", pf->conf, "start", NULL}, pf->log, NULL);
	if (rc != 0) {
		char *ml = cg_h_pf_maillog(pf), *out = cg_h_read_file(pf->log, NULL);
		fail_msg("postfix start: exit %d; output:\n%s\nmaillog:\n%s", rc, out ? out : "", ml);
	}
	pf->running = 1;
}
