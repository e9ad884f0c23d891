/* pfserver.h: a throwaway Postfix for tests (its own config, queue and maillog in a temp dir; loopback only). */
#ifndef CG_PFSERVER_H
#define CG_PFSERVER_H

#define CG_H_POSTFIX "/usr/sbin/postfix"

/* What differs between the tests' Postfixes; the rest of main.cf and master.cf is the harness's. */
struct cg_h_pf_opts {
	int smtpd;                /* 1: an smtpd listener on 127.0.0.1 and a free port (cg_h_pf.port) */
	const char *main_extra;   /* main.cf lines appended (relay_domains, transport_maps, myorigin, ...); NULL: none */
	const char *master_extra; /* master.cf lines appended after the stock services; NULL: none */
};

struct cg_h_pf {
	char *dir;  /* <parent>/<name>: queue/, data/, maillog, postfix.out */
	char *conf; /* <dir>/conf: main.cf and master.cf (postfix -c, MAIL_CONFIG for sendmail) */
	char *log;  /* <dir>/postfix.out: what the postfix commands printed */
	int port;   /* its SMTP port on 127.0.0.1 when opts.smtpd; 0 otherwise */
	int running;
};

/*
 * Skips the case (cg_h_skip "postfix" / "root") without /usr/sbin/postfix or root; otherwise
 * writes the config to <parent>/<name> (parent made 0755 so Postfix's own user reaches its
 * queue) and runs `postfix start`, or fails the case (its output and maillog printed).
 */
void cg_h_pf_start(struct cg_h_pf *pf, const char *parent, const char *name, const struct cg_h_pf_opts *opts);
/* Its maillog (malloc'd; "(none)" when it cannot be read). */
char *cg_h_pf_maillog(const struct cg_h_pf *pf);
/* `postfix stop` when it runs. */
void cg_h_pf_stop(struct cg_h_pf *pf);
/* Stops it and frees the paths (the files stay: the test dir's teardown removes them). */
void cg_h_pf_free(struct cg_h_pf *pf);

#endif
