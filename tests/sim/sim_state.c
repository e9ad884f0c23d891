/* sim_state.c: casegate-sim --state FILE: the model saved as JSON after changes, loaded at start. */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CG_LOG_COMPONENT "sim"
#include "err.h"
#include "log.h"

#define STATE_VERSION 1
#define STATE_MAX_BYTES (256u << 20) /* a simulator's state; a larger file is not one of ours */

static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CG_EINVAL;
}

static const char *sget(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- save ---- */

static cJSON *state_json(const struct cg_sim *s)
{
	char rng[24];
	cJSON *o = cJSON_CreateObject(), *projects = NULL, *cases = NULL, *v = NULL;
	snprintf(rng, sizeof(rng), "%016" PRIx64, s->id_rng);
	if (!o || !cJSON_AddNumberToObject(o, "casegate_sim_state", STATE_VERSION) ||
	    !cJSON_AddNumberToObject(o, "next_seq", (double)s->next_seq) || !cJSON_AddStringToObject(o, "id_rng", rng) ||
	    !(projects = cJSON_AddArrayToObject(o, "projects")) || !(cases = cJSON_AddArrayToObject(o, "cases")))
		goto fail;
	for (size_t i = 0; i < s->nprojects; i++) {
		const struct cg_sim_project *p = &s->projects[i];
		cJSON *j = cJSON_CreateObject();
		if (!j)
			goto fail;
		cJSON_AddItemToArray(projects, j);
		if (!cJSON_AddStringToObject(j, "id", p->id) || !cJSON_AddStringToObject(j, "key", p->key) ||
		    !cJSON_AddStringToObject(j, "name", p->name) ||
		    !cJSON_AddNumberToObject(j, "next_number", (double)p->next_number))
			goto fail;
	}
	for (size_t i = 0; i < s->ncases; i++) {
		const struct cg_sim_case *c = &s->cases[i];
		cJSON *j = cJSON_CreateObject();
		if (!j)
			goto fail;
		cJSON_AddItemToArray(cases, j);
		if (!(v = cJSON_Duplicate(c->data, 1)))
			goto fail;
		cJSON_AddItemToObject(j, "data", v);
		if (!(v = cJSON_Duplicate(c->comments, 1)))
			goto fail;
		cJSON_AddItemToObject(j, "comments", v);
		if (!(v = cJSON_Duplicate(c->events, 1)))
			goto fail;
		cJSON_AddItemToObject(j, "events", v);
		if (!cJSON_AddNumberToObject(j, "seq", (double)c->seq) || !cJSON_AddBoolToObject(j, "deleted", c->deleted))
			goto fail;
	}
	if (!(v = cJSON_Duplicate(s->case_types, 1)))
		goto fail;
	cJSON_AddItemToObject(o, "case_types", v);
	if (!(v = cJSON_Duplicate(s->ca_configs, 1)))
		goto fail;
	cJSON_AddItemToObject(o, "custom_attributes", v);
	if (!(v = cg_sim_extra_save(s)))
		goto fail;
	cJSON_AddItemToObject(o, "extra", v);
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* Makes a rename in path's directory durable. */
static int sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int cg_sim_state_save(struct cg_sim *s, char *err, size_t errlen)
{
	cJSON *o = state_json(s);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return CG_ENOMEM;
	}
	size_t tn = strlen(s->state_path) + sizeof(".tmp");
	char *tmp = malloc(tn);
	int fd = -1, rc = CG_EIO;
	if (!tmp) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return CG_ENOMEM;
	}
	snprintf(tmp, tn, "%s.tmp", s->state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "cannot fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	int cr = close(fd);
	fd = -1;
	if (cr != 0 || rename(tmp, s->state_path) != 0) {
		snprintf(err, errlen, "cannot replace %s: %s", s->state_path, strerror(errno));
		goto out;
	}
	if (sync_dir(s->state_path) != 0) {
		snprintf(err, errlen, "cannot fsync the directory of %s: %s", s->state_path, strerror(errno));
		goto out;
	}
	s->state_dirty = 0;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(text);
	return rc;
}

static void save_now(struct cg_sim *s)
{
	char err[512];
	if (cg_sim_state_save(s, err, sizeof(err)) != 0)
		CG_LOG_WARN("state not saved (kept in memory, retried after the next change): %s", err);
}

static void state_timer_cb(uv_timer_t *t)
{
	save_now(t->data);
}

void cg_sim_state_changed(struct cg_sim *s)
{
	if (!s->state_timer_live)
		return;
	s->state_dirty = 1;
	if (!uv_is_active((uv_handle_t *)&s->state_timer))
		uv_timer_start(&s->state_timer, state_timer_cb, CG_SIM_STATE_DEBOUNCE_MS, 0);
}

void cg_sim_state_close(struct cg_sim *s)
{
	if (!s->state_timer_live)
		return;
	uv_timer_stop(&s->state_timer);
	uv_close((uv_handle_t *)&s->state_timer, NULL);
	s->state_timer_live = 0;
	if (s->state_dirty)
		save_now(s);
}

/* ---- load ---- */

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? 1 : bad(err, errlen, "cannot read %s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *nb = ncap > STATE_MAX_BYTES + 4097u ? NULL : realloc(buf, ncap);
			if (!nb) {
				rc = bad(err, errlen, "%s: larger than %u MiB or out of memory", path, STATE_MAX_BYTES >> 20);
				break;
			}
			buf = nb;
			cap = ncap;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				rc = bad(err, errlen, "cannot read %s: %s", path, strerror(errno));
			break;
		}
	}
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int whole_number(const cJSON *v, double max)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= max &&
	       v->valuedouble == (double)(uint64_t)v->valuedouble;
}

static int load_projects(struct cg_sim *s, const cJSON *arr, char *err, size_t errlen)
{
	const cJSON *j;
	size_t i = 0;
	cJSON_ArrayForEach(j, arr)
	{
		const char *id = sget(j, "id"), *key = sget(j, "key"), *name = sget(j, "name");
		const cJSON *nn = cJSON_GetObjectItemCaseSensitive(j, "next_number");
		if (!id || !key || !name || !whole_number(nn, 9007199254740992.0) || nn->valuedouble < 1)
			return bad(err, errlen, "projects[%zu]: want id, key, name (strings) and next_number (>= 1)", i);
		struct cg_sim_project *p = cg_sim_find_project(s, id);
		if (!p) { /* a --project given at this start is there already; others come from the file */
			int rc = cg_sim_add_project(s, key, id, name);
			if (rc == CG_EEXIST)
				return bad(err, errlen, "projects[%zu]: key %s is another project's (a --project?)", i, key);
			if (rc)
				return bad(err, errlen, "projects[%zu]: not a valid project (key A-Z0-9, UUID id)", i);
			p = cg_sim_find_project(s, id);
		} else if (strcmp(p->key, key) != 0) {
			return bad(err, errlen, "projects[%zu]: %s has key %s here, %s in the file", i, id, p->key, key);
		}
		p->next_number = (unsigned long)nn->valuedouble;
		i++;
	}
	return 0;
}

/* Where to put a saved case type or custom attribute: the item of dst it replaces, or NULL. */
static cJSON *same_type(cJSON *dst, const cJSON *item)
{
	cJSON *t;
	cJSON_ArrayForEach(t, dst)
	{
		const char *a = sget(t, "id"), *b = sget(item, "id");
		if (a && b && strcasecmp(a, b) == 0)
			return t;
	}
	return NULL;
}

static cJSON *same_config(cJSON *dst, const cJSON *item)
{
	const cJSON *ia = cJSON_GetObjectItemCaseSensitive(item, "attributes");
	const char *tid = sget(ia, "case_type_id"), *key = sget(ia, "key");
	cJSON *c;
	cJSON_ArrayForEach(c, dst)
	{
		const cJSON *ca = cJSON_GetObjectItemCaseSensitive(c, "attributes");
		const char *t = sget(ca, "case_type_id"), *k = sget(ca, "key");
		if (t && k && tid && key && strcasecmp(t, tid) == 0 && strcmp(k, key) == 0)
			return c;
	}
	return NULL;
}

/* The file's items win over the ones this start made (built-ins, command line): a deleted type
 * stays deleted, a custom attribute keeps its id. */
static int merge(cJSON *dst, const cJSON *src, cJSON *(*same)(cJSON *, const cJSON *), const char *what, char *err,
		 size_t errlen)
{
	const cJSON *item;
	size_t i = 0;
	cJSON_ArrayForEach(item, src)
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, "attributes");
		if (!sget(item, "id") || !cJSON_IsObject(a))
			return bad(err, errlen, "%s[%zu]: want an object with id and attributes", what, i);
		i++;
	}
	cJSON_ArrayForEach(item, src)
	{
		cJSON *copy = cJSON_Duplicate(item, 1), *old = same(dst, item);
		if (!copy)
			return bad(err, errlen, "out of memory");
		if (old)
			cJSON_ReplaceItemViaPointer(dst, old, copy);
		else
			cJSON_AddItemToArray(dst, copy);
	}
	return 0;
}

static int load_cases(struct cg_sim *s, const cJSON *arr, char *err, size_t errlen)
{
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	const cJSON *j;
	cJSON_ArrayForEach(j, arr)
	{
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
		const cJSON *at = cJSON_GetObjectItemCaseSensitive(data, "attributes");
		if (!cJSON_IsObject(data) || !sget(data, "id") || !cJSON_IsObject(at) || !sget(at, "key") ||
		    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "comments")) ||
		    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "events")) ||
		    !whole_number(cJSON_GetObjectItemCaseSensitive(j, "seq"), 9007199254740992.0) ||
		    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "deleted")))
			return bad(err, errlen,
				   "cases[%zu]: want data (a case with id and attributes.key), comments, events, seq, "
				   "deleted",
				   i);
		i++;
	}
	if (n > s->cap_cases) {
		struct cg_sim_case *nc = realloc(s->cases, n * sizeof(*nc));
		if (!nc)
			return bad(err, errlen, "out of memory");
		s->cases = nc;
		s->cap_cases = n;
	}
	cJSON_ArrayForEach(j, arr)
	{
		struct cg_sim_case c = {
			.data = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "data"), 1),
			.comments = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "comments"), 1),
			.events = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "events"), 1),
			.seq = (uint64_t)cJSON_GetObjectItemCaseSensitive(j, "seq")->valuedouble,
			.created_ms = 0, /* created long ago: the search index has it */
			.deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "deleted")),
		};
		if (!c.data || !c.comments || !c.events) {
			cJSON_Delete(c.data);
			cJSON_Delete(c.comments);
			cJSON_Delete(c.events);
			return bad(err, errlen, "out of memory");
		}
		s->cases[s->ncases++] = c;
	}
	return 0;
}

static int load(struct cg_sim *s, const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	char why[400] = "";
	int rc = CG_EINVAL;
	cJSON *o = cJSON_ParseWithLength(text, len);
	if (!o) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
		return bad(err, errlen, "%s is not JSON (near byte %zu): delete it to start empty", path, off);
	}
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "casegate_sim_state");
	const char *rng = sget(o, "id_rng");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "next_seq");
	const cJSON *projects = cJSON_GetObjectItemCaseSensitive(o, "projects");
	const cJSON *cases = cJSON_GetObjectItemCaseSensitive(o, "cases");
	const cJSON *types = cJSON_GetObjectItemCaseSensitive(o, "case_types");
	const cJSON *cas = cJSON_GetObjectItemCaseSensitive(o, "custom_attributes");
	char *end = NULL;
	uint64_t id_rng = rng ? strtoull(rng, &end, 16) : 0;
	if (!cJSON_IsObject(o) || !cJSON_IsNumber(ver)) {
		snprintf(why, sizeof(why), "not a casegate-sim state file (no casegate_sim_state)");
	} else if (ver->valueint != STATE_VERSION) {
		snprintf(why, sizeof(why), "casegate_sim_state %d, this casegate-sim reads %d", ver->valueint,
			 STATE_VERSION);
	} else if (!rng || !end || *end || end == rng) {
		snprintf(why, sizeof(why), "id_rng: want a hex string");
	} else if (!whole_number(seq, 9007199254740992.0)) {
		snprintf(why, sizeof(why), "next_seq: want a whole number >= 0");
	} else if (!cJSON_IsArray(projects) || !cJSON_IsArray(cases) || !cJSON_IsArray(types) ||
		   !cJSON_IsArray(cas)) {
		snprintf(why, sizeof(why), "want the arrays projects, cases, case_types and custom_attributes");
	} else if (load_projects(s, projects, why, sizeof(why)) == 0 &&
		   merge(s->case_types, types, same_type, "case_types", why, sizeof(why)) == 0 &&
		   merge(s->ca_configs, cas, same_config, "custom_attributes", why, sizeof(why)) == 0 &&
		   load_cases(s, cases, why, sizeof(why)) == 0 &&
		   cg_sim_extra_load(s, cJSON_GetObjectItemCaseSensitive(o, "extra"), why, sizeof(why)) == 0) {
		s->id_rng = id_rng;
		s->next_seq = (uint64_t)seq->valuedouble;
		rc = 0;
	}
	cJSON_Delete(o);
	if (rc)
		return bad(err, errlen, "%s: %s", path, why);
	return 0;
}

int cg_sim_state_open(struct cg_sim *s, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	s->state_path = strdup(path);
	if (!s->state_path)
		return bad(err, errlen, "out of memory");
	int rc = read_file(path, &text, &len, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		rc = load(s, path, text, len, err, errlen);
		free(text);
		if (rc)
			return rc;
		CG_LOG_INFO("state loaded from %s: %zu case(s)", path, s->ncases);
	} else {
		CG_LOG_INFO("no state in %s yet: starting empty", path);
	}
	rc = cg_sim_state_save(s, err, errlen);
	if (rc)
		return rc;
	uv_timer_init(s->loop, &s->state_timer);
	s->state_timer.data = s;
	s->state_timer_live = 1;
	return 0;
}
