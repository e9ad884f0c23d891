/* envfile.c: reading a systemd EnvironmentFile (KEY=VALUE lines), so a command sees the daemon's environment. */
#include "envfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgint.h"
#include "err.h"

#define MAX_ENV_FILE (1u << 20)
#define MAX_ENV_ERRORS 20

static int is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static int valid_name(const char *s, size_t n)
{
	if (n == 0 || n > 255 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
			return 0;
	}
	return 1;
}

struct envparse {
	const char *name;
	struct cg_cfgbuf errs;
	size_t nerrs;
	int oom;
};

__attribute__((format(printf, 3, 4))) static void perr(struct envparse *p, size_t line, const char *fmt, ...)
{
	if (++p->nerrs > MAX_ENV_ERRORS) {
		if (p->nerrs == MAX_ENV_ERRORS + 1 && cg_cfgbuf_printf(&p->errs, "%s: too many errors, stopping here\n", p->name))
			p->oom = 1;
		return;
	}
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cg_cfgbuf_printf(&p->errs, "%s:%zu: %s\n", p->name, line, msg))
		p->oom = 1;
}

/* Index of the end of the line at i (its '\n', or len). */
static size_t line_end(const char *t, size_t len, size_t i)
{
	const char *nl = memchr(t + i, '\n', len - i);
	return nl ? (size_t)(nl - t) : len;
}

int cg_envfile_parse(const char *name, const char *text, size_t len, cg_envfile_set_fn set, void *arg, char **errs)
{
	struct envparse p = {.name = name};
	struct cg_cfgbuf v = {0};
	size_t i = 0, line = 1;
	int rc = 0;

	*errs = NULL;
	if (memchr(text, 0, len)) {
		perr(&p, 1, "contains a NUL byte (an environment file is text)");
		goto out;
	}
	while (i < len && !p.oom && rc == 0) {
		size_t at = line;
		while (i < len && is_ws(text[i]))
			i++;
		if (i >= len)
			break;
		if (text[i] == '\n' || text[i] == '#' || text[i] == ';') {
			i = line_end(text, len, i) + 1;
			line++;
			continue;
		}
		size_t k0 = i, eol = line_end(text, len, i);
		const char *eq = memchr(text + i, '=', eol - i);
		if (!eq) {
			perr(&p, at, "no '=' (each line is KEY=VALUE; # or ; starts a comment)");
			i = eol + 1;
			line++;
			continue;
		}
		size_t k1 = (size_t)(eq - text);
		while (k1 > k0 && is_ws(text[k1 - 1]))
			k1--;
		/* Shell files often say `export KEY=...`; the name is what follows. */
		if (k1 - k0 > 7 && memcmp(text + k0, "export", 6) == 0 && is_ws(text[k0 + 6])) {
			k0 += 7;
			while (k0 < k1 && is_ws(text[k0]))
				k0++;
		}
		int ok = valid_name(text + k0, k1 - k0);
		if (!ok)
			perr(&p, at, "'%.*s' is not a variable name (letters, digits and _, not starting with a digit)",
			     (int)(k1 - k0 > 64 ? 64 : k1 - k0), text + k0);
		i = (size_t)(eq - text) + 1;
		while (i < len && is_ws(text[i]))
			i++;
		v.len = 0;
		if (cg_cfgbuf_append(&v, "", 0)) {
			p.oom = 1;
			break;
		}
		if (i < len && (text[i] == '\'' || text[i] == '"')) {
			char q = text[i++];
			int closed = 0;
			while (i < len) {
				char ch = text[i];
				if (ch == q) {
					closed = 1;
					i++;
					break;
				}
				if (q == '"' && ch == '\\' && i + 1 < len) {
					char nx = text[i + 1];
					if (nx == '\n') {
						line++;
						i += 2;
						continue;
					}
					if (nx == '"' || nx == '\\' || nx == '`' || nx == '$') {
						if (cg_cfgbuf_append(&v, &nx, 1))
							p.oom = 1;
						i += 2;
						continue;
					}
				}
				if (ch == '\n')
					line++;
				if (cg_cfgbuf_append(&v, &ch, 1))
					p.oom = 1;
				i++;
			}
			if (!closed) {
				perr(&p, at, "the %s quote opened here is never closed", q == '"' ? "double" : "single");
				break;
			}
			while (i < len && is_ws(text[i]))
				i++;
			if (i < len && text[i] != '\n') {
				perr(&p, line, "text after the closing quote (quote the whole value)");
				ok = 0;
				i = line_end(text, len, i);
			}
		} else {
			size_t keep = 0; /* the value's length up to its last non-blank or escaped character */
			while (i < len && text[i] != '\n') {
				if (text[i] == '\\' && i + 1 < len) {
					if (text[i + 1] == '\n') {
						line++;
						i += 2;
						continue;
					}
					if (cg_cfgbuf_append(&v, text + i + 1, 1))
						p.oom = 1;
					keep = v.len;
					i += 2;
					continue;
				}
				if (text[i] == '\\') { /* a backslash ending the file continues nothing */
					i++;
					continue;
				}
				if (cg_cfgbuf_append(&v, text + i, 1))
					p.oom = 1;
				if (!is_ws(text[i]))
					keep = v.len;
				i++;
			}
			if (v.p) {
				v.len = keep;
				v.p[keep] = '\0';
			}
		}
		if (i < len && text[i] == '\n') {
			i++;
			line++;
		}
		if (ok && !p.oom && !p.nerrs) {
			char key[256];
			memcpy(key, text + k0, k1 - k0);
			key[k1 - k0] = '\0';
			if (set(arg, key, v.p ? v.p : ""))
				rc = CG_ENOMEM;
		}
	}
out:
	cg_cfgbuf_wipe(&v);
	if (p.oom || rc == CG_ENOMEM) {
		free(p.errs.p);
		return CG_ENOMEM;
	}
	if (p.nerrs) {
		if (p.errs.len && p.errs.p[p.errs.len - 1] == '\n')
			p.errs.p[--p.errs.len] = '\0';
		*errs = p.errs.p;
		return CG_EINVAL;
	}
	free(p.errs.p);
	return 0;
}

static int set_env(void *arg, const char *key, const char *value)
{
	(void)arg;
	return setenv(key, value, 1) != 0;
}

/* A variable is set only when the whole file is good: a bad file changes nothing. */
struct pending {
	struct cg_cfgbuf kv; /* "KEY\0VALUE\0" pairs */
};

static int collect(void *arg, const char *key, const char *value)
{
	struct pending *pd = arg;
	return cg_cfgbuf_append(&pd->kv, key, strlen(key) + 1) || cg_cfgbuf_append(&pd->kv, value, strlen(value) + 1);
}

int cg_envfile_apply(const char *path, char **errs)
{
	struct cg_cfg_file f;
	struct pending pd = {{0}};
	*errs = NULL;
	int rc = cg_cfg_read_file(path, MAX_ENV_FILE, &f);
	if (rc == CG_ENOMEM)
		return rc;
	if (rc) {
		struct cg_cfgbuf e = {0};
		if (rc == CG_E2BIG)
			rc = cg_cfgbuf_printf(&e, "%s: not a regular file of at most 1 MiB", path);
		else
			rc = cg_cfgbuf_printf(&e, "%s: cannot read: %s", path, strerror(errno));
		if (rc) {
			free(e.p);
			return CG_ENOMEM;
		}
		*errs = e.p;
		return CG_EIO;
	}
	rc = cg_envfile_parse(path, f.b.p ? f.b.p : "", f.b.len, collect, &pd, errs);
	for (size_t i = 0; rc == 0 && i < pd.kv.len;) {
		const char *k = pd.kv.p + i, *val = k + strlen(k) + 1;
		if (set_env(NULL, k, val))
			rc = CG_ENOMEM;
		i = (size_t)(val - pd.kv.p) + strlen(val) + 1;
	}
	cg_cfgbuf_wipe(&pd.kv);
	cg_cfgbuf_wipe(&f.b);
	return rc;
}
