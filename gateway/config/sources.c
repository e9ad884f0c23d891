/* sources.c: the `sources:` list: each source's keys, its priority map and custom attributes. */

#include "cfgint.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "mailrules.h"

/*
 * Pair i of mapping m whose key must be a non-empty string without NUL bytes (the keys of
 * priority.map, custom_attributes, attributes). 1 with *k and *v set; 0 when the pair is to be
 * skipped (an error was reported for a bad key).
 */
static int map_pair(struct cg_cfg *c, yaml_node_t *m, size_t i, const char *sp, const char *what, yaml_node_t **k,
		    yaml_node_t **v)
{
	yaml_node_pair_t *p = &m->data.mapping.pairs.start[i];
	*k = yaml_document_get_node(c->doc, p->key);
	*v = cg_cfg_node(c, p->value);
	if (!*k || !*v)
		return 0;
	if ((*k)->type != YAML_SCALAR_NODE || !(*k)->data.scalar.length ||
	    memchr((*k)->data.scalar.value, 0, (*k)->data.scalar.length)) {
		cg_cfg_err(c, *k, "%s: %s: keys must be non-empty strings", sp, what);
		return 0;
	}
	return 1;
}

static void parse_priority(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	enum { P_FROM, P_MAP, P_DEFAULT, P_N };
	struct cg_cfg_field f[P_N] = {[P_FROM] = {"from", NULL}, [P_MAP] = {"map", NULL}, [P_DEFAULT] = {"default", NULL}};
	char lb[256], where[256], b[80], kb[80];

	if (n->type == YAML_SCALAR_NODE) {
		/* `priority: P2`: a fixed priority; "from" renders empty so the default always applies. */
		snprintf(lb, sizeof(lb), "%s: priority", sp);
		char *v = cg_cfg_scalar(c, n, lb, "a priority", 0);
		if (!v)
			return;
		if (cg_priority_parse(v, &s->prio_default)) {
			cg_cfg_err(c, n, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb, cg_cfg_disp(v, b, sizeof(b)));
		} else {
			s->prio_default_set = 1;
			if (!(s->priority_from = strdup("")))
				c->oom = 1;
		}
		free(v);
		return;
	}
	snprintf(lb, sizeof(lb), "%s: priority", sp);
	snprintf(where, sizeof(where), "%s priority", sp);
	if (cg_cfg_fields(c, n, lb, where, f, P_N))
		return;
	if (f[P_FROM].val) {
		snprintf(lb, sizeof(lb), "%s: priority.from", sp);
		cg_cfg_tmpl(c, f[P_FROM].val, lb, &s->priority_from);
	}
	if (f[P_DEFAULT].val) {
		snprintf(lb, sizeof(lb), "%s: priority.default", sp);
		char *v = cg_cfg_scalar(c, f[P_DEFAULT].val, lb, "a priority", 0);
		if (v && cg_priority_parse(v, &s->prio_default))
			cg_cfg_err(c, f[P_DEFAULT].val, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb,
			       cg_cfg_disp(v, b, sizeof(b)));
		else if (v)
			s->prio_default_set = 1;
		free(v);
	}
	yaml_node_t *m = f[P_MAP].val;
	if (!m)
		return;
	if (m->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, m, "%s: priority.map: expected a mapping (word: P1), got %s", sp, cg_cfg_kind_name(m));
		return;
	}
	size_t np = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->prio_map = calloc(np, sizeof(*s->prio_map)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, m, i, sp, "priority.map", &k, &v))
			continue;
		const char *word = (const char *)k->data.scalar.value;
		snprintf(lb, sizeof(lb), "%s: priority.map.%s", sp, cg_cfg_disp(word, kb, sizeof(kb)));
		int dup = 0;
		for (size_t j = 0; j < s->nprio; j++)
			dup |= strcasecmp(s->prio_map[j].word, word) == 0;
		if (dup) {
			cg_cfg_err(c, k, "%s: duplicate word (words are compared case-insensitively)", lb);
			continue;
		}
		char *pv = cg_cfg_scalar(c, v, lb, "a priority", 0);
		int prio;
		if (!pv)
			continue;
		if (cg_priority_parse(pv, &prio)) {
			cg_cfg_err(c, v, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb, cg_cfg_disp(pv, b, sizeof(b)));
			free(pv);
			continue;
		}
		free(pv);
		if (!(s->prio_map[s->nprio].word = strdup(word))) {
			c->oom = 1;
			return;
		}
		s->prio_map[s->nprio++].prio = prio;
	}
}

static void parse_one_ca(struct cg_cfg *c, yaml_node_t *n, const char *sp, const char *key, struct cg_ca_spec *ca)
{
	enum { C_TYPE, C_MULTI, C_IS_MULTI, C_VALUE, C_VALUES, C_N };
	struct cg_cfg_field f[C_N] = {[C_TYPE] = {"type", NULL},
			       [C_MULTI] = {"multi", NULL},
			       [C_IS_MULTI] = {"is_multi", NULL},
			       [C_VALUE] = {"value", NULL},
			       [C_VALUES] = {"values", NULL}};
	char lb[256], where[256], b[80];

	ca->type = CG_CA_TEXT;
	snprintf(lb, sizeof(lb), "%s: custom_attributes.%s", sp, key);
	if (n->type == YAML_SCALAR_NODE) {
		/* `key: "{{tmpl}}"` is a single TEXT attribute. */
		cg_cfg_strs(c, n, lb, 1, &ca->values, &ca->nvalues);
		return;
	}
	snprintf(where, sizeof(where), "%s custom attribute '%s'", sp, key);
	if (cg_cfg_fields(c, n, lb, where, f, C_N))
		return;
	if (f[C_TYPE].val) {
		char tl[300];
		snprintf(tl, sizeof(tl), "%s.type", lb);
		char *t = cg_cfg_scalar(c, f[C_TYPE].val, tl, "a string", 0);
		if (t && cg_ca_type_parse(t, &ca->type))
			cg_cfg_err(c, f[C_TYPE].val, "%s: unknown type '%s' (use TEXT, URL, NUMBER or SELECT)", tl,
			       cg_cfg_disp(t, b, sizeof(b)));
		free(t);
	}
	if (f[C_MULTI].val && f[C_IS_MULTI].val) {
		cg_cfg_err(c, f[C_IS_MULTI].val, "%s: give multi or is_multi, not both", lb);
		return;
	}
	yaml_node_t *mn = f[C_MULTI].val ? f[C_MULTI].val : f[C_IS_MULTI].val;
	if (mn) {
		char ml[300];
		snprintf(ml, sizeof(ml), "%s.%s", lb, f[C_MULTI].val ? "multi" : "is_multi");
		if (cg_cfg_bool(c, mn, ml, &ca->is_multi))
			return;
	}
	yaml_node_t *vn = f[C_VALUE].val, *vsn = f[C_VALUES].val;
	if (vn && vsn) {
		cg_cfg_err(c, vsn, "%s: give value or values, not both", lb);
		return;
	}
	if (!vn && !vsn) {
		cg_cfg_err(c, n, "%s: %s is required", lb, ca->is_multi ? "values" : "value");
		return;
	}
	if (!ca->is_multi && vsn) {
		cg_cfg_err(c, vsn, "%s: values needs multi: true (use value: for a single value)", lb);
		return;
	}
	if (!ca->is_multi && vn->type != YAML_SCALAR_NODE) {
		cg_cfg_err(c, vn, "%s: value: expected one template string, got %s (set multi: true for a list)", lb,
		       cg_cfg_kind_name(vn));
		return;
	}
	char vl[300];
	snprintf(vl, sizeof(vl), "%s.%s", lb, vsn ? "values" : "value");
	cg_cfg_strs(c, vsn ? vsn : vn, vl, 1, &ca->values, &ca->nvalues);
}

static void parse_cas(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char kb[80];
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: custom_attributes: expected a mapping, got %s", sp, cg_cfg_kind_name(n));
		return;
	}
	size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->cas = calloc(np, sizeof(*s->cas)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, n, i, sp, "custom_attributes", &k, &v))
			continue;
		const char *key = cg_cfg_disp((const char *)k->data.scalar.value, kb, sizeof(kb));
		int dup = 0;
		for (size_t j = 0; j < s->ncas; j++)
			dup |= strcmp(s->cas[j].key, (const char *)k->data.scalar.value) == 0;
		if (dup) {
			cg_cfg_err(c, k, "%s: custom_attributes: duplicate key '%s'", sp, key);
			continue;
		}
		struct cg_ca_spec *ca = &s->cas[s->ncas++];
		if (!(ca->key = strdup((const char *)k->data.scalar.value))) {
			c->oom = 1;
			return;
		}
		parse_one_ca(c, v, sp, key, ca);
	}
}

static void parse_attrs(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char lb[256], kb[80];
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: attributes: expected a mapping (key: template or list), got %s", sp, cg_cfg_kind_name(n));
		return;
	}
	s->attrs_set = 1;
	size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->attrs = calloc(np, sizeof(*s->attrs)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, n, i, sp, "attributes", &k, &v))
			continue;
		const char *key = (const char *)k->data.scalar.value;
		int dup = 0;
		for (size_t j = 0; j < s->nattrs; j++)
			dup |= strcmp(s->attrs[j].key, key) == 0;
		snprintf(lb, sizeof(lb), "%s: attributes.%s", sp, cg_cfg_disp(key, kb, sizeof(kb)));
		if (dup) {
			cg_cfg_err(c, k, "%s: duplicate key", lb);
			continue;
		}
		struct cg_attr_spec *a = &s->attrs[s->nattrs++];
		if (!(a->key = strdup(key))) {
			c->oom = 1;
			return;
		}
		cg_cfg_strs(c, v, lb, 1, &a->values, &a->nvalues);
	}
}

/* A project: its UUID, or its key (resolved through GET /cases/projects when casegate starts). */
static int is_project_key(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31 || strcmp(s, "CASE") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
			return 0;
	return isupper((unsigned char)s[0]);
}

static int valid_source_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static void known_mappers(struct cg_cfgbuf *b)
{
	const struct cg_mapper *const *all = cg_mapper_all();
	for (size_t i = 0; all[i]; i++)
		if (cg_cfgbuf_printf(b, "%s%s", i ? ", " : "", all[i]->name))
			return;
	cg_cfgbuf_printf(b, ", datadog_case_events");
}

static void parse_source(struct cg_cfg *c, yaml_node_t *n, size_t idx, struct cg_source_config *s)
{
	enum {
		S_NAME, S_TYPE, S_AUTH, S_GROUP_BY, S_PROJECT, S_CASE_TYPE, S_TITLE, S_DESCRIPTION, S_DEDUP_KEY,
		S_PRIORITY, S_CUSTOM_ATTRIBUTES, S_ATTRIBUTES, S_ON_REPEAT, S_DIGEST_INTERVAL, S_ON_RESOLVE,
		S_STATUS_NAME, S_REOPEN_STATUS_NAME, S_REOPEN_WINDOW, S_RAISE_PRIORITY, S_LOWER_PRIORITY, S_ACTIONS, S_RULES,
		S_VERIFY, S_ALLOW_IPS, S_RATE_LIMIT, S_REPLY_SENDERS, S_REPLY_TO_CLOSED, S_N
	};
	struct cg_cfg_field f[S_N] = {[S_NAME] = {"name", NULL},
			       [S_TYPE] = {"type", NULL},
			       [S_AUTH] = {"auth", NULL},
			       [S_GROUP_BY] = {"group_by", NULL},
			       [S_PROJECT] = {"project", NULL},
			       [S_CASE_TYPE] = {"case_type", NULL},
			       [S_TITLE] = {"title", NULL},
			       [S_DESCRIPTION] = {"description", NULL},
			       [S_DEDUP_KEY] = {"dedup_key", NULL},
			       [S_PRIORITY] = {"priority", NULL},
			       [S_CUSTOM_ATTRIBUTES] = {"custom_attributes", NULL},
			       [S_ATTRIBUTES] = {"attributes", NULL},
			       [S_ON_REPEAT] = {"on_repeat", NULL},
			       [S_DIGEST_INTERVAL] = {"digest_interval", NULL},
			       [S_ON_RESOLVE] = {"on_resolve", NULL},
			       [S_STATUS_NAME] = {"status_name", NULL},
			       [S_REOPEN_STATUS_NAME] = {"reopen_status_name", NULL},
			       [S_REOPEN_WINDOW] = {"reopen_window", NULL},
			       [S_RAISE_PRIORITY] = {"raise_priority", NULL},
			       [S_LOWER_PRIORITY] = {"lower_priority", NULL},
			       [S_ACTIONS] = {"actions", NULL},
			       [S_RULES] = {"rules", NULL},
			       [S_VERIFY] = {"verify", NULL},
			       [S_ALLOW_IPS] = {"allow_ips", NULL},
			       [S_RATE_LIMIT] = {"rate_limit", NULL},
			       [S_REPLY_SENDERS] = {"reply_senders", NULL},
			       [S_REPLY_TO_CLOSED] = {"reply_to_closed", NULL}};
	static const char *const group_by_names[] = {"alert", "group", NULL};
	static const char *const repeat_names[] = {"digest", "comment", "ignore", NULL};
	static const char *const resolve_names[] = {"comment_and_close", "comment", "close", "ignore", NULL};
	char sp[128], lb[256], b[80];
	int e;

	s->line = (int)n->start_mark.line + 1;
	s->digest_interval_ms = 15 * CG_MS_MINUTE;
	s->reopen_window_ms = CG_MS_HOUR;
	s->raise_priority = 1;
	s->lower_priority = 0;
	s->actions.bulk = 0; /* opt-in: the bulk endpoint is a preview with an undocumented payload */

	snprintf(sp, sizeof(sp), "source #%zu", idx + 1);
	/* Peek at the name so that even unknown-key messages can say which source they are about. */
	if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
			if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k->data.scalar.value, "name") == 0 &&
			    valid_source_name((const char *)v->data.scalar.value))
				snprintf(sp, sizeof(sp), "source '%s'", (const char *)v->data.scalar.value);
		}
	}
	if (cg_cfg_fields(c, n, sp, sp, f, S_N))
		return;
	if (!f[S_NAME].val) {
		cg_cfg_err(c, n, "%s: name is required", sp);
	} else {
		snprintf(lb, sizeof(lb), "%s: name", sp);
		char *name = cg_cfg_scalar(c, f[S_NAME].val, lb, "a string", 0);
		if (name && !valid_source_name(name)) {
			cg_cfg_err(c, f[S_NAME].val, "%s: '%s' is not a valid name (use 1 to 64 of a-z, 0-9, _ and -)", lb,
			       cg_cfg_disp(name, b, sizeof(b)));
			free(name);
		} else if (name) {
			s->name = name;
			snprintf(sp, sizeof(sp), "source '%s'", name);
		}
	}
	if (!f[S_TYPE].val) {
		struct cg_cfgbuf kn = {0};
		known_mappers(&kn);
		cg_cfg_err(c, n, "%s: type is required (known: %s)", sp, kn.p ? kn.p : "");
		free(kn.p);
	} else {
		snprintf(lb, sizeof(lb), "%s: type", sp);
		if (!cg_cfg_str(c, f[S_TYPE].val, lb, &s->type) && !(s->mapper = cg_mapper_find(s->type)) &&
		    strcmp(s->type, "datadog_case_events") != 0) {
			struct cg_cfgbuf kn = {0};
			known_mappers(&kn);
			cg_cfg_err(c, f[S_TYPE].val, "%s: unknown mapper '%s' (known: %s)", lb, cg_cfg_disp(s->type, b, sizeof(b)),
			       kn.p ? kn.p : "");
			free(kn.p);
		}
	}

	if (f[S_RATE_LIMIT].val) {
		snprintf(lb, sizeof(lb), "%s: rate_limit", sp);
		cg_cfg_parse_rate_limit(c, f[S_RATE_LIMIT].val, lb, &s->rl_rps, &s->rl_burst);
	}

	int is_email = s->type && strcmp(s->type, "email") == 0;
	if (f[S_VERIFY].val)
		cg_cfg_parse_verify(c, f[S_VERIFY].val, sp, s);
	if (f[S_ALLOW_IPS].val) {
		snprintf(lb, sizeof(lb), "%s: allow_ips", sp);
		cg_cfg_cidrs(c, f[S_ALLOW_IPS].val, lb, &s->allow_ips, &s->nallow_ips);
	}
	if (!f[S_AUTH].val && f[S_VERIFY].val)
		s->auth.kind = CG_AUTH_NONE; /* the signature is the credential */
	else if (!f[S_AUTH].val && !is_email) /* mail comes through the mail listener, not HTTP */
		cg_cfg_err(c, n, "%s: auth is required (write `auth: none` to accept unauthenticated requests)", sp);
	else if (f[S_AUTH].val)
		cg_cfg_parse_auth(c, f[S_AUTH].val, sp, &s->auth);
	if (f[S_RULES].val && !is_email)
		cg_cfg_err(c, f[S_RULES].val, "%s: rules: only `type: email` sources have rules", sp);
	else if (f[S_RULES].val)
		cg_cfg_parse_mail_rules(c, f[S_RULES].val, sp, s);
	static const struct {
		int idx;
		const char *key;
	} mail_only[] = {{S_REPLY_SENDERS, "reply_senders"}, {S_REPLY_TO_CLOSED, "reply_to_closed"}};
	for (size_t i = 0; i < 2; i++)
		if (f[mail_only[i].idx].val && !is_email)
			cg_cfg_err(c, f[mail_only[i].idx].val, "%s: %s: only `type: email` sources take replies", sp,
			       mail_only[i].key);
	if (f[S_REPLY_SENDERS].val && is_email) {
		snprintf(lb, sizeof(lb), "%s: reply_senders", sp);
		if (!cg_cfg_strs(c, f[S_REPLY_SENDERS].val, lb, 0, &s->reply_senders, &s->nreply_senders))
			for (size_t i = 0; i < s->nreply_senders; i++)
				for (char *p = s->reply_senders[i]; *p; p++)
					*p = (char)tolower((unsigned char)*p);
	}
	if (f[S_REPLY_TO_CLOSED].val && is_email) {
		snprintf(lb, sizeof(lb), "%s: reply_to_closed", sp);
		cg_cfg_bool(c, f[S_REPLY_TO_CLOSED].val, lb, &s->reply_to_closed);
	}

	if (f[S_GROUP_BY].val) {
		snprintf(lb, sizeof(lb), "%s: group_by", sp);
		if (!cg_cfg_enum(c, f[S_GROUP_BY].val, lb, group_by_names, &e)) {
			s->group_by = (enum cg_group_by)e;
			if (s->group_by == CG_GROUP_GROUP && s->mapper && !s->mapper->supports_group_by)
				cg_cfg_err(c, f[S_GROUP_BY].val, "%s: mapper '%s' cannot group alerts (use group_by: alert)", lb,
				       s->mapper->name);
		}
	}

	static const struct {
		int idx;
		const char *key, *what;
	} uuids[] = {{S_PROJECT, "project", "the Datadog project"}, {S_CASE_TYPE, "case_type", "the case type"}};
	for (size_t i = 0; i < 2; i++) {
		yaml_node_t *v = f[uuids[i].idx].val;
		char **dst = uuids[i].idx == S_PROJECT ? &s->project : &s->case_type;
		if (!v) {
			/* A case-events source makes no case: it needs neither. */
			if (!(s->type && strcmp(s->type, "datadog_case_events") == 0))
				cg_cfg_err(c, n, "%s: %s is required (the UUID of %s)", sp, uuids[i].key, uuids[i].what);
			continue;
		}
		snprintf(lb, sizeof(lb), "%s: %s", sp, uuids[i].key);
		if (cg_cfg_str(c, v, lb, dst))
			continue;
		if (!cg_cfg_is_uuid(*dst) && !(uuids[i].idx == S_PROJECT && is_project_key(*dst))) {
			cg_cfg_err(c, v, "%s: '%s' is not a UUID%s", lb, cg_cfg_disp(*dst, b, sizeof(b)),
			       uuids[i].idx == S_PROJECT ? " or a project key (upper-case letters and digits)" : "");
			free(*dst);
			*dst = NULL;
		}
	}

	static const struct {
		int idx;
		const char *key;
	} tmpls[] = {{S_TITLE, "title"}, {S_DESCRIPTION, "description"}, {S_DEDUP_KEY, "dedup_key"}};
	for (size_t i = 0; i < 3; i++) {
		yaml_node_t *v = f[tmpls[i].idx].val;
		char **dst = tmpls[i].idx == S_TITLE ? &s->title : tmpls[i].idx == S_DESCRIPTION ? &s->description
												     : &s->dedup_key;
		if (!v)
			continue;
		snprintf(lb, sizeof(lb), "%s: %s", sp, tmpls[i].key);
		cg_cfg_tmpl(c, v, lb, dst);
	}

	if (f[S_PRIORITY].val)
		parse_priority(c, f[S_PRIORITY].val, sp, s);
	if (f[S_CUSTOM_ATTRIBUTES].val)
		parse_cas(c, f[S_CUSTOM_ATTRIBUTES].val, sp, s);
	if (f[S_ATTRIBUTES].val)
		parse_attrs(c, f[S_ATTRIBUTES].val, sp, s);

	if (f[S_ON_REPEAT].val) {
		snprintf(lb, sizeof(lb), "%s: on_repeat", sp);
		if (!cg_cfg_enum(c, f[S_ON_REPEAT].val, lb, repeat_names, &e))
			s->on_repeat = (enum cg_on_repeat)e;
	}
	if (f[S_DIGEST_INTERVAL].val) {
		snprintf(lb, sizeof(lb), "%s: digest_interval", sp);
		cg_cfg_duration(c, f[S_DIGEST_INTERVAL].val, lb, CG_MS_SECOND, 30 * CG_MS_DAY, &s->digest_interval_ms);
	}
	if (f[S_ON_RESOLVE].val) {
		snprintf(lb, sizeof(lb), "%s: on_resolve", sp);
		if (!cg_cfg_enum(c, f[S_ON_RESOLVE].val, lb, resolve_names, &e))
			s->on_resolve = (enum cg_on_resolve)e;
	}
	if (f[S_STATUS_NAME].val) {
		snprintf(lb, sizeof(lb), "%s: status_name", sp);
		cg_cfg_name(c, f[S_STATUS_NAME].val, lb, &s->status_name);
	}
	if (f[S_REOPEN_STATUS_NAME].val) {
		snprintf(lb, sizeof(lb), "%s: reopen_status_name", sp);
		cg_cfg_name(c, f[S_REOPEN_STATUS_NAME].val, lb, &s->reopen_status_name);
	}
	if (f[S_REOPEN_WINDOW].val) {
		snprintf(lb, sizeof(lb), "%s: reopen_window", sp);
		cg_cfg_duration(c, f[S_REOPEN_WINDOW].val, lb, 0, 365 * CG_MS_DAY, &s->reopen_window_ms);
	}
	if (f[S_RAISE_PRIORITY].val) {
		snprintf(lb, sizeof(lb), "%s: raise_priority", sp);
		cg_cfg_bool(c, f[S_RAISE_PRIORITY].val, lb, &s->raise_priority);
	}
	if (f[S_LOWER_PRIORITY].val) {
		snprintf(lb, sizeof(lb), "%s: lower_priority", sp);
		cg_cfg_bool(c, f[S_LOWER_PRIORITY].val, lb, &s->lower_priority);
	}
	if (f[S_ACTIONS].val)
		cg_cfg_parse_actions(c, f[S_ACTIONS].val, sp, s);
}

void cg_cfg_parse_sources(struct cg_cfg *c, yaml_node_t *root, yaml_node_t *n, struct cg_config *cfg)
{
	if (!n) {
		cg_cfg_err(c, root, "sources: at least one source is required");
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cg_cfg_err(c, n, "sources: expected a list of sources, got %s", cg_cfg_kind_name(n));
		return;
	}
	size_t ns = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (!ns) {
		cg_cfg_err(c, n, "sources: at least one source is required");
		return;
	}
	if (!(cfg->sources = calloc(ns, sizeof(*cfg->sources)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < ns; i++) {
		yaml_node_t *item = cg_cfg_node(c, n->data.sequence.items.start[i]);
		struct cg_source_config *s = &cfg->sources[cfg->nsources++];
		if (!item)
			continue;
		parse_source(c, item, i, s);
		for (size_t j = 0; j < i && s->name; j++) {
			if (cfg->sources[j].name && strcmp(cfg->sources[j].name, s->name) == 0) {
				cg_cfg_err(c, item, "duplicate source name '%s' (first declared at line %d)", s->name,
				       cfg->sources[j].line);
				break;
			}
		}
	}
}

void cg_cfg_source_cleanup(struct cg_source_config *s)
{
	free(s->name);
	free(s->type);
	cg_cfg_strv_free(s->auth.bearer, s->auth.nbearer, 1);
	for (size_t i = 0; i < s->auth.nbasic; i++) {
		free(s->auth.basic[i].user);
		cg_cfg_secret_free(s->auth.basic[i].password);
	}
	free(s->auth.basic);
	for (size_t i = 0; i < s->nverify; i++)
		cg_cfg_verify_cleanup(&s->verify[i]);
	free(s->verify);
	free(s->allow_ips);
	free(s->project);
	free(s->case_type);
	free(s->title);
	free(s->description);
	free(s->dedup_key);
	free(s->priority_from);
	for (size_t i = 0; i < s->nprio; i++)
		free(s->prio_map[i].word);
	free(s->prio_map);
	for (size_t i = 0; i < s->ncas; i++) {
		free(s->cas[i].key);
		cg_cfg_strv_free(s->cas[i].values, s->cas[i].nvalues, 0);
	}
	free(s->cas);
	for (size_t i = 0; i < s->nattrs; i++) {
		free(s->attrs[i].key);
		cg_cfg_strv_free(s->attrs[i].values, s->attrs[i].nvalues, 0);
	}
	free(s->attrs);
	free(s->status_name);
	free(s->reopen_status_name);
	cg_cfg_actions_cleanup(&s->actions);
	cg_mail_rules_destroy(s->mail_rules);
	cg_cfg_strv_free(s->reply_senders, s->nreply_senders, 0);
}
