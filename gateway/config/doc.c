/* doc.c: the YAML document under the walker: diagnostics as file:line:col, ${VAR} expansion, scalars, files and secrets from files, opening and wiping documents. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include "cfgint.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "err.h"


static int sb_reserve(struct cg_cfgbuf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		return CG_ENOMEM;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	/* Buffers may hold expanded secrets: never let realloc leave a copy behind. */
	char *p = malloc(cap);
	if (!p)
		return CG_ENOMEM;
	if (b->p) {
		memcpy(p, b->p, b->len + 1);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int cg_cfgbuf_append(struct cg_cfgbuf *b, const char *s, size_t n)
{
	if (sb_reserve(b, n))
		return CG_ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

__attribute__((format(printf, 2, 0))) static int sb_vprintf(struct cg_cfgbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return CG_EINVAL;
	if (sb_reserve(b, (size_t)n))
		return CG_ENOMEM;
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

__attribute__((format(printf, 2, 3))) int cg_cfgbuf_printf(struct cg_cfgbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = sb_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void cg_cfgbuf_wipe(struct cg_cfgbuf *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

void cg_cfg_secret_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void cg_cfg_strv_free(char **v, size_t n, int secret)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		if (secret)
			cg_cfg_secret_free(v[i]);
		else
			free(v[i]);
	}
	free(v);
}

__attribute__((format(printf, 5, 0))) static void vdiag(struct cg_cfg *c, struct cg_cfgbuf *b, yaml_mark_t m, const char *kind,
							 const char *fmt, va_list ap)
{
	if (cg_cfgbuf_printf(b, "%s:%zu:%zu: %s", c->name, m.line + 1, m.column + 1, kind) || sb_vprintf(b, fmt, ap) ||
	    cg_cfgbuf_append(b, "\n", 1))
		c->oom = 1;
}

/* An error at m; past the cap only a note that the rest was left out. */
__attribute__((format(printf, 3, 0))) static void verr(struct cg_cfg *c, yaml_mark_t m, const char *fmt, va_list ap)
{
	c->nerrs++;
	if (c->nerrs > CG_CFG_MAX_ERRORS) {
		if (c->nerrs == CG_CFG_MAX_ERRORS + 1 && cg_cfgbuf_printf(&c->errs, "%s: too many errors, stopping here\n", c->name))
			c->oom = 1;
		return;
	}
	vdiag(c, &c->errs, m, "", fmt, ap);
}

__attribute__((format(printf, 3, 4))) void cg_cfg_err_mark(struct cg_cfg *c, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(c, m, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) void cg_cfg_err(struct cg_cfg *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(c, n->start_mark, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) void cg_cfg_warn_mark(struct cg_cfg *c, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, &c->warns, m, "warning: ", fmt, ap);
	va_end(ap);
}

/* A printable, bounded copy of user text for messages (one error per line must stay one line). */
const char *cg_cfg_disp(const char *s, char *buf, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; s[i] && j + 4 < len; i++)
		buf[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (j + 4 >= len && s[j]) {
		buf[j++] = '.';
		buf[j++] = '.';
		buf[j++] = '.';
	}
	buf[j] = '\0';
	return buf;
}

const char *cg_cfg_kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a string";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* `key:` with no value, `~` and `null` mean "not given". */
int cg_cfg_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *s = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

yaml_node_t *cg_cfg_node(struct cg_cfg *c, int id)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, id);
	if (!n)
		return NULL;
	size_t i = (size_t)(id - 1);
	if (c->seen[i]) {
		/* Aliases could make the walk loop forever or explode; plain YAML is enough for a config. */
		cg_cfg_err(c, n, "YAML aliases are not supported here");
		return NULL;
	}
	c->seen[i] = 1;
	return n;
}

/* Records a ${name} left as written at n (CG_CONFIG_ENV_LENIENT); CG_ENOMEM or 0. */
static int unset_add(struct cg_cfg *c, const yaml_node_t *n, const char *label, const char *name)
{
	struct cg_cfg_unsets *u = c->unset;
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 4;
		struct cg_config_unset *v = realloc(u->v, cap * sizeof(*v));
		if (!v)
			return CG_ENOMEM;
		u->v = v;
		u->cap = cap;
	}
	struct cg_cfgbuf where = {0};
	if (cg_cfgbuf_printf(&where, "%s:%zu:%zu", c->name, n->start_mark.line + 1, n->start_mark.column + 1)) {
		free(where.p);
		return CG_ENOMEM;
	}
	struct cg_config_unset *e = &u->v[u->n];
	e->where = where.p;
	e->label = strdup(label);
	e->var = strdup(name);
	u->n++; /* counted even half-made: cg_config_free frees what is there */
	return e->label && e->var ? 0 : CG_ENOMEM;
}

/*
 * Expands ${VAR}, ${VAR:-default} (default when unset or empty) and $${ (a literal ${)
 * in s. Returns malloc'd text, or NULL (reported, or c->oom). *literal gets bit 1 when
 * some of the result is the file's own text, bit 2 when some is a ${VAR:-default} in use.
 */
static char *expand(struct cg_cfg *c, const yaml_node_t *n, const char *label, const char *s, size_t len, int *literal)
{
	struct cg_cfgbuf b = {0};

	if (sb_reserve(&b, len))
		goto oom;
	b.p[0] = '\0';
	for (size_t i = 0; i < len;) {
		if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
			if (cg_cfgbuf_append(&b, "${", 2))
				goto oom;
			*literal |= 1;
			i += 3;
			continue;
		}
		if (!(s[i] == '$' && i + 1 < len && s[i + 1] == '{')) {
			if (cg_cfgbuf_append(&b, s + i, 1))
				goto oom;
			*literal |= 1;
			i++;
			continue;
		}
		size_t j = i + 2, name0 = j;
		while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_'))
			j++;
		size_t namelen = j - name0;
		const char *def = NULL;
		size_t deflen = 0;
		if (j + 1 < len && s[j] == ':' && s[j + 1] == '-') {
			def = s + j + 2;
			const char *end = memchr(def, '}', len - (j + 2));
			if (end) {
				deflen = (size_t)(end - def);
				j = (size_t)(end - s);
			} else {
				j = len;
			}
		}
		if (namelen == 0 || isdigit((unsigned char)s[name0]) || j >= len || s[j] != '}') {
			cg_cfg_err(c, n, "%s: bad variable reference (write ${NAME} or ${NAME:-default}; $${ gives a literal ${)",
			       label);
			goto fail;
		}
		char name[128];
		if (namelen >= sizeof(name)) {
			cg_cfg_err(c, n, "%s: variable name too long", label);
			goto fail;
		}
		memcpy(name, s + name0, namelen);
		name[namelen] = '\0';
		const char *v = getenv(name);
		if (def && (!v || !*v)) {
			if (cg_cfgbuf_append(&b, def, deflen))
				goto oom;
			if (deflen)
				*literal |= 2; /* the file's text, as a default */
		} else if (!v && c->env_lenient && c->unset) {
			/* A command that needs no secret runs on: the reference stays as written. */
			if (cg_cfgbuf_append(&b, s + i, j + 1 - i) || unset_add(c, n, label, name))
				goto oom;
		} else if (!v) {
			cg_cfg_err(c, n, "%s: environment variable %s is not set (write ${%s:-default} to give a default)", label,
			       name, name);
			goto fail;
		} else if (cg_cfgbuf_append(&b, v, strlen(v))) {
			goto oom;
		}
		i = j + 1;
	}
	return b.p;
oom:
	c->oom = 1;
fail:
	cg_cfgbuf_wipe(&b);
	return NULL;
}

/* The expanded text of scalar n (malloc'd), or NULL (reported). what says what was expected. */
char *cg_cfg_scalar(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *what, int secret)
{
	if (n->type != YAML_SCALAR_NODE) {
		cg_cfg_err(c, n, "%s: expected %s, got %s", label, what, cg_cfg_kind_name(n));
		return NULL;
	}
	if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
		cg_cfg_err(c, n, "%s: contains a NUL byte", label);
		return NULL;
	}
	int literal = 0;
	char *s = expand(c, n, label, (const char *)n->data.scalar.value, n->data.scalar.length, &literal);
	if (s && secret && literal && *s && !c->inline_secret) {
		c->inline_secret = literal;
		c->inline_mark = n->start_mark;
	}
	return s;
}

int cg_cfg_read_file(const char *path, size_t max, struct cg_cfg_file *f)
{
	struct stat st;
	int rc = CG_EIO, err = 0;

	memset(f, 0, sizeof(*f));
	/* O_NONBLOCK: a FIFO must not hang the loader; it fails the regular-file check below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		rc = CG_E2BIG;
		goto out;
	}
	f->world_readable = (st.st_mode & S_IROTH) != 0;
	f->b.cap = (size_t)st.st_size + 1;
	if (!(f->b.p = malloc(f->b.cap))) {
		rc = CG_ENOMEM;
		goto out;
	}
	while (f->b.len < f->b.cap - 1) {
		ssize_t r = read(fd, f->b.p + f->b.len, f->b.cap - 1 - f->b.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno;
			goto out;
		}
		if (r == 0)
			break;
		f->b.len += (size_t)r;
	}
	f->b.p[f->b.len] = '\0';
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		cg_cfgbuf_wipe(&f->b);
	errno = err;
	return rc;
}

static void syntax_error(struct cg_cfg *c, const yaml_parser_t *p, const char *text, size_t len)
{
	yaml_mark_t m = p->problem_mark;
	if (p->error == YAML_MEMORY_ERROR) {
		c->oom = 1;
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors (bad encoding) carry a byte offset, not a mark. */
		m.line = m.column = 0;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (text[i] == '\n') {
				m.line++;
				m.column = 0;
			} else {
				m.column++;
			}
		}
	}
	/* Unquoted ${VAR} inside { } or [ ] is the classic trap: '{' and '}' end a flow scalar. */
	const char *hint = "";
	size_t start = 0, line = 0;
	for (size_t i = 0; i < len && line < m.line; i++)
		if (text[i] == '\n') {
			line++;
			start = i + 1;
		}
	const char *eol = start < len ? memchr(text + start, '\n', len - start) : NULL;
	size_t linelen = start < len ? (eol ? (size_t)(eol - text) : len) - start : 0;
	for (size_t i = 0; i + 1 < linelen; i++)
		if (text[start + i] == '$' && text[start + i + 1] == '{')
			hint = " (inside { } or [ ], quote values that use variables: \"${VAR}\")";
	/* A tab where YAML wants indentation reaches libyaml as many different problems ("found a
	 * tab character ...", "found character that cannot start any token", ...): a tab on the
	 * line before or at the error's column is the cause, said one way. */
	int tab = p->problem && strstr(p->problem, "tab character");
	for (size_t i = 0; i < linelen && i <= m.column; i++)
		if (text[start + i] == '\t')
			tab = 1;
	if (tab) {
		cg_cfg_err_mark(c, m, "YAML syntax error: a tab character in the indentation (YAML indents with spaces "
				      "only: replace the tab with spaces)");
		return;
	}
	cg_cfg_err_mark(c, m, "YAML syntax error: %s%s%s%s", p->problem ? p->problem : "unknown problem",
		 p->context ? " " : "", p->context ? p->context : "", hint);
}

/* Wipes every scalar of doc: any of them may be a secret. */
static void doc_wipe(yaml_document_t *doc)
{
	for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
			OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
}

static void parser_wipe(yaml_parser_t *p)
{
	if (p->buffer.start && p->buffer.end > p->buffer.start)
		OPENSSL_cleanse(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start && p->raw_buffer.end > p->raw_buffer.start)
		OPENSSL_cleanse(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

yaml_node_t *cg_cfg_doc_open(struct cg_cfg *c, struct cg_cfg_doc *d, const char *text, size_t len, const char *empty)
{
	yaml_document_t doc2;

	memset(d, 0, sizeof(*d));
	if (!yaml_parser_initialize(&d->parser)) {
		c->oom = 1;
		return NULL;
	}
	d->have_parser = 1;
	yaml_parser_set_input_string(&d->parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&d->parser, &d->doc)) {
		syntax_error(c, &d->parser, text, len);
		return NULL;
	}
	d->have_doc = 1;
	c->doc = &d->doc;
	yaml_node_t *root = yaml_document_get_root_node(&d->doc);
	if (!root) {
		cg_cfg_err_mark(c, d->parser.mark, "%s", empty);
		return NULL;
	}
	if (!yaml_parser_load(&d->parser, &doc2)) {
		syntax_error(c, &d->parser, text, len);
	} else {
		yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
		if (r2)
			cg_cfg_err(c, r2, "only one YAML document is allowed");
		doc_wipe(&doc2);
		yaml_document_delete(&doc2);
	}
	c->nnodes = (size_t)(d->doc.nodes.top - d->doc.nodes.start);
	if (!(c->seen = calloc(c->nnodes ? c->nnodes : 1, 1))) {
		c->oom = 1;
		return NULL;
	}
	c->seen[0] = 1; /* the root */
	return root;
}

void cg_cfg_doc_close(struct cg_cfg *c, struct cg_cfg_doc *d)
{
	free(c->seen);
	c->seen = NULL;
	if (d->have_doc) {
		doc_wipe(&d->doc);
		yaml_document_delete(&d->doc);
	}
	if (d->have_parser) {
		parser_wipe(&d->parser);
		yaml_parser_delete(&d->parser);
	}
}

struct cg_config *cg_cfg_config(struct cg_cfg *c)
{
	return c->cfg;
}

void cg_cfg_nomem(struct cg_cfg *c)
{
	c->oom = 1;
}
