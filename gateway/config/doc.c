/* doc.c: reads the YAML document: diagnostics as file:line:col, ${VAR} expansion, secrets from files, the entry points. */
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

#define MAX_SECRET_FILE (64 * 1024)
#define MAX_CONFIG_FILE (4 * 1024 * 1024)

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

__attribute__((format(printf, 3, 4))) void cg_cfg_err_mark(struct cg_cfg *c, yaml_mark_t m, const char *fmt, ...)
{
	c->nerrs++;
	if (c->nerrs > CG_CFG_MAX_ERRORS) {
		if (c->nerrs == CG_CFG_MAX_ERRORS + 1 && cg_cfgbuf_printf(&c->errs, "%s: too many errors, stopping here\n", c->name))
			c->oom = 1;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, &c->errs, m, "", fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) void cg_cfg_err(struct cg_cfg *c, const yaml_node_t *n, const char *fmt, ...)
{
	c->nerrs++;
	if (c->nerrs > CG_CFG_MAX_ERRORS) {
		if (c->nerrs == CG_CFG_MAX_ERRORS + 1 && cg_cfgbuf_printf(&c->errs, "%s: too many errors, stopping here\n", c->name))
			c->oom = 1;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, &c->errs, n->start_mark, "", fmt, ap);
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

/*
 * Expands ${VAR}, ${VAR:-default} (default when unset or empty) and $${ (a literal ${)
 * in s. Returns malloc'd text, or NULL (reported, or c->oom). *literal is set when
 * any byte of the result came from the file rather than the environment.
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
			*literal = 1;
			i += 3;
			continue;
		}
		if (!(s[i] == '$' && i + 1 < len && s[i + 1] == '{')) {
			if (cg_cfgbuf_append(&b, s + i, 1))
				goto oom;
			*literal = 1;
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
				*literal = 1;
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
		c->inline_secret = 1;
		c->inline_mark = n->start_mark;
	}
	return s;
}

/* Reads a secret from the file named by n: whole content, one trailing newline cut. */
int cg_cfg_secret_file(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst)
{
	char *path = NULL, *buf = NULL;
	char pb[160];
	struct stat st;
	int fd = -1, rc = -1;

	if (cg_cfg_path(c, n, label, &path))
		return -1;
	/* O_NONBLOCK: a FIFO must not hang the loader; it fails the regular-file check below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		cg_cfg_err(c, n, "%s: cannot read '%s': %s", label, cg_cfg_disp(path, pb, sizeof(pb)), strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_SECRET_FILE) {
		cg_cfg_err(c, n, "%s: '%s' is not a regular file of at most 64 KiB", label, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	if (st.st_mode & S_IROTH)
		cg_cfg_warn_mark(c, n->start_mark, "%s: '%s' is readable by every user (chmod o-r)", label,
			  cg_cfg_disp(path, pb, sizeof(pb)));
	size_t cap = (size_t)st.st_size, len = 0;
	buf = malloc(cap + 1);
	if (!buf) {
		c->oom = 1;
		goto out;
	}
	while (len < cap) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cg_cfg_err(c, n, "%s: cannot read '%s': %s", label, cg_cfg_disp(path, pb, sizeof(pb)), strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (memchr(buf, 0, len)) {
		cg_cfg_err(c, n, "%s: '%s' contains a NUL byte", label, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	if (len == 0) {
		cg_cfg_err(c, n, "%s: '%s' is empty", label, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	*dst = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf) {
		OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* A secret given inline (key) or from a file (key_file): not both. */
int cg_cfg_secret(struct cg_cfg *c, yaml_node_t *val, yaml_node_t *file, const char *label, const char *file_label,
		      char **dst)
{
	if (val && file) {
		cg_cfg_err(c, file, "%s: give %s or %s, not both", file_label, label, file_label);
		return -1;
	}
	if (val) {
		char *s = cg_cfg_scalar(c, val, label, "a string", 1);
		if (!s)
			return -1;
		if (!*s) {
			/* Empty after expansion (${DD_API_KEY:-}) means "not given". */
			free(s);
			return 0;
		}
		*dst = s;
		return 0;
	}
	if (file)
		return cg_cfg_secret_file(c, file, file_label, dst);
	return 0;
}

void cg_cfg_syntax_error(struct cg_cfg *c, const yaml_parser_t *p, const char *text, size_t len)
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

static char *strip_nl(struct cg_cfgbuf *b)
{
	if (b->p && b->len && b->p[b->len - 1] == '\n')
		b->p[--b->len] = '\0';
	return b->p;
}

static int parse_text(const char *name, const char *dir, const char *text, size_t len, int world_readable,
		      struct cg_config **out, char **errs)
{
	struct cg_cfg c = {0};
	yaml_parser_t parser;
	yaml_document_t doc, doc2;
	int have_doc = 0;
	struct cg_config *cfg = NULL;
	int rc = CG_EINVAL;

	if (errs)
		*errs = NULL;
	c.name = name;
	c.dir = dir;
	if (!yaml_parser_initialize(&parser))
		return CG_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		cg_cfg_syntax_error(&c, &parser, text, len);
		goto done;
	}
	have_doc = 1;
	c.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		cg_cfg_err_mark(&c, parser.mark, "the configuration is empty (at least `sources:` is required)");
		goto done;
	}
	if (!yaml_parser_load(&parser, &doc2)) {
		cg_cfg_syntax_error(&c, &parser, text, len);
	} else {
		yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
		if (r2)
			cg_cfg_err(&c, r2, "only one YAML document is allowed");
		doc_wipe(&doc2);
		yaml_document_delete(&doc2);
	}
	c.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
	if (!(c.seen = calloc(c.nnodes ? c.nnodes : 1, 1)) || !(cfg = cg_cfg_config_new())) {
		c.oom = 1;
		goto done;
	}
	c.seen[0] = 1; /* the root */
	if (!(cfg->path = strdup(name)) || !(cfg->state_dir = cg_cfg_path_join(&c, "var"))) {
		c.oom = 1;
		goto done;
	}
	cg_cfg_parse_root(&c, root, cfg);
	if (!c.nerrs && !c.oom && world_readable && c.inline_secret)
		cg_cfg_warn_mark(&c, c.inline_mark,
			  "%s is readable by every user and holds a secret: chmod o-r it, or use ${VAR} or *_file", name);
done:
	if (c.oom) {
		rc = CG_ENOMEM;
	} else if (c.nerrs) {
		rc = CG_EINVAL;
	} else {
		rc = 0;
		cfg->warnings = strip_nl(&c.warns);
		c.warns.p = NULL;
		*out = cfg;
		cfg = NULL;
	}
	if (rc && errs && !c.oom) {
		*errs = strip_nl(&c.errs);
		c.errs.p = NULL;
	}
	cg_config_free(cfg);
	free(c.seen);
	free(c.errs.p);
	free(c.warns.p);
	if (have_doc) {
		doc_wipe(&doc);
		yaml_document_delete(&doc);
	}
	parser_wipe(&parser);
	yaml_parser_delete(&parser);
	return rc;
}

/* Directory part of path ("." when none). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int cg_config_parse(const char *name, const char *text, size_t len, struct cg_config **out, char **errs)
{
	char *dir = dir_of(name);
	if (!dir) {
		if (errs)
			*errs = NULL;
		return CG_ENOMEM;
	}
	int rc = parse_text(name, dir, text, len, 0, out, errs);
	free(dir);
	return rc;
}

int cg_config_load(const char *path, struct cg_config **out, char **errs)
{
	struct cg_cfgbuf e = {0};
	struct stat st;
	char *buf = NULL, *dir = NULL, *real = NULL;
	size_t len = 0;
	int rc = CG_EIO;

	if (errs)
		*errs = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		cg_cfgbuf_printf(&e, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_CONFIG_FILE) {
		cg_cfgbuf_printf(&e, "%s: not a regular file of at most 4 MiB", path);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		rc = CG_ENOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cg_cfgbuf_printf(&e, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (!(dir = dir_of(path))) {
		rc = CG_ENOMEM;
		goto out;
	}
	/* An absolute base keeps state_dir and *_file paths valid whatever the working directory. */
	real = realpath(dir, NULL);
	rc = parse_text(path, real ? real : dir, buf, len, (st.st_mode & S_IROTH) != 0, out, errs);
out:
	if (fd >= 0)
		close(fd);
	if (buf) {
		OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	free(dir);
	free(real);
	if (e.p) {
		if (errs)
			*errs = e.p;
		else
			free(e.p);
	}
	return rc;
}
