/* cmd_map.c: `casegate map`: what a payload would become (case events, Case API requests), offline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "builder.h"
#include "commands.h"
#include "config.h"
#include "engine.h"
#include "err.h"
#include "event.h"
#include "lifecycle.h"
#include "mail.h"
#include "pagingapi.h"
#include "store.h"
#include "tmpl.h"

/* Which alert of the payload the warnings are about ("" when it holds one). */
struct map_watch {
	char alert[32];
};

/* A template asked for something the payload does not have: say so, the output stays as rendered. */
static void map_var(const char *field, const struct cg_tmpl_var *v, void *ud)
{
	const struct map_watch *mw = ud;
	char name[84];
	size_t n = v->name_len < sizeof(name) - 1 ? v->name_len : sizeof(name) - 1;
	if (v->fallback || (v->found && v->text_len))
		return; /* a fallback: the operator planned for it */
	for (size_t i = 0; i < n; i++) /* one warning, one line */
		name[i] = (unsigned char)v->name[i] < 0x20 || v->name[i] == 0x7f ? '?' : v->name[i];
	name[n] = '\0';
	if (!v->found)
		fprintf(stderr, "warning: %s%s: {{%s}} is not in the payload (rendered empty)\n", mw->alert, field, name);
	else
		fprintf(stderr, "warning: %s%s: {{%s}} rendered empty\n", mw->alert, field, name);
}

/* `casegate map`: dry run: the case events a payload yields and the requests they would send on
 * empty state; no network, no store. */
int cg_cmd_map(struct cg_cli *c)
{
	const struct cg_cli_args *a = &c->a;
	if (!a->source) {
		fprintf(stderr, "casegate map: --source NAME is required\n");
		return 2;
	}
	if (a->npos > 1) {
		/* A second file would be ignored: say so rather than map only the first. */
		fprintf(stderr, "casegate map: one PAYLOAD file (or -), got %d: %s ...\n", a->npos, a->pos[1]);
		return 2;
	}
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	int rc = 1;
	char *text = NULL;
	cJSON *payload = NULL;
	struct cg_builder *b = NULL;
	struct cg_event_list events;
	cg_event_list_init(&events);
	const struct cg_source_config *src = cg_config_source(cfg, a->source);
	if (!src) {
		fprintf(stderr, "casegate map: no source named '%s' in %s\n", a->source, a->config);
		goto out;
	}
	const char *file = a->npos > 0 ? a->pos[0] : "-";
	size_t len = 0;
	if (file[0] == '{' || file[0] == '[') {
		/* The payload itself on the command line (no file name starts with a brace here). */
		text = strdup(file);
		len = text ? strlen(text) : 0;
	} else {
		FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
		if (!f) {
			fprintf(stderr, "casegate map: cannot open %s (PAYLOAD is a file, - for stdin, or JSON "
					"starting with { or [)\n",
				file);
			goto out;
		}
		text = cg_cli_read_all(f, &len);
		if (f != stdin)
			fclose(f);
	}
	if (!text)
		goto out;
	const char *end = NULL;
	int is_email = src->type && strcmp(src->type, "email") == 0;
	if (is_email) {
		/* An email source maps a message (.eml): parse it as the listener would. */
		char perr[256] = "";
		struct cg_mail_limits lim;
		cg_mail_limits_default(&lim);
		lim.max_parts = cfg->mail.max_parts;
		int prc = cg_mail_parse(text, len, &lim, &payload, perr, sizeof(perr));
		if (prc) {
			fprintf(stderr, "casegate map: %s\n", prc == CG_EINVAL || prc == CG_E2BIG ? perr : cg_strerror(prc));
			goto out;
		}
	} else {
		payload = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	}
	if (!payload) {
		fprintf(stderr, "casegate map: invalid JSON near byte %td\n", end ? end - text : 0);
		goto out;
	}
	if (!src->mapper) {
		fprintf(stderr, "casegate map: source '%s' (type %s) takes Datadog's case events, not alerts\n", src->name,
			src->type);
		goto out;
	}
	enum cg_paging_api api = cg_paging_source_api(src);
	if (api != CG_PAGING_NONE && cJSON_IsObject(payload) &&
	    (api == CG_PAGING_PD || !cJSON_GetObjectItemCaseSensitive(payload, "action"))) {
		/* As the route hands it over: PagerDuty's event without its routing key; an Opsgenie body
		 * (not already an envelope {action, identifier, request}) is a create, POST /v2/alerts. */
		struct cg_paging_route r = {.api = api, .action = "create"};
		if (!(payload = cg_paging_envelope(&r, payload))) {
			fprintf(stderr, "casegate map: out of memory\n");
			goto out;
		}
	}
	struct cg_case_spec spec;
	cg_config_case_spec(src, &spec);
	char err[512] = "";
	if (cg_builder_create(&spec, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "casegate map: source '%s': %s\n", src->name, err);
		goto out;
	}
	struct cg_map_opts opts = {.group_by = src->group_by, .mail_rules = src->mail_rules};
	int mrc = src->mapper->map(payload, &opts, &events, err, sizeof(err));
	if (mrc) {
		fprintf(stderr, "casegate map: %s payload not understood: %s\n", src->type,
			mrc == CG_EINVAL ? err : cg_strerror(mrc));
		goto out;
	}
	if (events.n == 0) {
		fprintf(stderr, "casegate map: ignored: %s\n", events.ignored_reason[0] ? events.ignored_reason : "no alerts");
		rc = 0;
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < events.n; i++) {
		struct cg_case_draft d;
		struct map_watch mw = {""};
		if (events.n > 1)
			snprintf(mw.alert, sizeof(mw.alert), "alert %zu: ", i);
		struct cg_field_watch w = {map_var, &mw};
		if (cg_builder_build_watch(b, &events.v[i], &w, &d, err, sizeof(err)) != 0) {
			fprintf(stderr, "casegate map: alert %zu skipped: %s\n", i, err);
			rc = 1;
			continue;
		}
		struct cg_store_case none = {.state = CG_CASE_NONE};
		enum cg_action act = cg_lifecycle_decide((int)d.status, d.priority, &none, src, 0);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "source", src->name);
		cJSON_AddStringToObject(o, "dedup_key", d.dedup_key);
		cJSON_AddStringToObject(o, "status", d.status == CG_STATUS_RESOLVED  ? "resolved"
						     : d.status == CG_STATUS_COMMENT ? "comment"
										     : "firing");
		cJSON_AddStringToObject(o, "priority", cg_priority_name(d.priority));
		/* The event's labels: what a comment or a resolution (no request below) was read as. */
		const cJSON *lab = events.v[i].labels;
		cJSON_AddItemToObject(o, "labels", lab ? cJSON_Duplicate(lab, 1) : cJSON_CreateObject());
		cJSON_AddStringToObject(o, "action", cg_action_name(act));
		if (act == CG_ACT_CREATE) {
			char marker[40];
			cJSON *req = cJSON_AddObjectToObject(o, "request");
			cJSON_AddStringToObject(req, "method", "POST");
			cJSON_AddStringToObject(req, "path", "/api/v2/cases");
			cJSON *body = cg_engine_create_body(d.create, d.dedup_key, 1, NULL, marker);
			if (body)
				cJSON_AddItemToObject(req, "body", body);
			if (d.attributes) {
				cJSON *then = cJSON_AddObjectToObject(o, "then");
				cJSON_AddStringToObject(then, "method", "POST");
				cJSON_AddStringToObject(then, "path", "/api/v2/cases/{case_id}/attributes");
				cJSON_AddItemToObject(then, "body", cg_body_attributes(d.attributes));
			}
		} else {
			cJSON_AddNullToObject(o, "request");
		}
		char *line = cJSON_PrintUnformatted(o);
		if (line)
			printf("%s\n", line);
		cJSON_free(line);
		cJSON_Delete(o);
		cg_case_draft_cleanup(&d);
	}
out:
	cg_event_list_cleanup(&events);
	cg_builder_destroy(b);
	cJSON_Delete(payload);
	free(text);
	cg_config_free(cfg);
	return rc;
}
