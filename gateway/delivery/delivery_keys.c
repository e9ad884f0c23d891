/* delivery_keys.c: the keys delivery reads (datadog.*: where the Case API is and how to talk to it; queue.*: the engine's pace and retries) as key-table rows. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ddclient.h"
#include "keys.h"

#define DD_AT(field) CG_KEY_AT(struct cg_config, field)

/* An http:// or https:// URL, kept without trailing slashes. */
static int url_check(const struct cg_keyarg *a)
{
	char **u = cg_key_field(a), b[80];
	if ((strncmp(*u, "http://", 7) != 0 || !(*u)[7]) && (strncmp(*u, "https://", 8) != 0 || !(*u)[8])) {
		cg_cfg_err(a->c, a->node, "%s: expected an http:// or https:// URL, got '%s'", a->label,
			   cg_cfg_disp(*u, b, sizeof(b)));
		free(*u);
		*u = NULL;
		return -1;
	}
	size_t l = strlen(*u);
	while (l > 8 && (*u)[l - 1] == '/')
		(*u)[--l] = '\0';
	return 0;
}

/* A custom attribute key (a-z, 0-9, _); "" turns the marker attribute off. */
static int marker_check(const struct cg_keyarg *a)
{
	char **m = cg_key_field(a);
	int ok = strlen(*m) < 100;
	for (const char *p = *m; *p && ok; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (!ok) {
		cg_cfg_err(a->c, a->node, "%s: a custom attribute key (a-z, 0-9, _), or \"\" for none", a->label);
		return -1;
	}
	if (!**m) {
		free(*m);
		*m = NULL;
	}
	return 0;
}

/*
 * The API base URL: url as given, else the site's (datadoghq.com by default) when both keys are
 * set. No keys and no url: dd_url stays NULL and the run command starts the local simulator.
 */
static void datadog_check(const struct cg_keyarg *a)
{
	struct cg_config *cfg = a->base;
	struct yaml_node_s *site = cg_keymap_node(a->map, "site"), *url = cg_keymap_node(a->map, "url");
	char u[256], b[80];

	if (cg_keymap_failed(a->map, "site") || cg_keymap_failed(a->map, "url") ||
	    cg_keymap_failed(a->map, "api_key") || cg_keymap_failed(a->map, "app_key"))
		return;
	if (site && url) {
		cg_cfg_err(a->c, url, "%s: give site or url, not both", a->owner);
		return;
	}
	if (cfg->dd_url)
		return;
	if (!cfg->dd_site && !(cfg->dd_site = strdup("datadoghq.com"))) {
		cg_cfg_nomem(a->c);
		return;
	}
	struct yaml_node_s *at = site ? site : a->node ? a->node : a->at;
	if (cg_dd_site_url(cfg->dd_site, u, sizeof(u)) != 0) {
		cg_cfg_err(a->c, at,
			   "%s.site: unknown Datadog site '%s' (e.g. datadoghq.com, us3.datadoghq.com, datadoghq.eu, "
			   "ap1.datadoghq.com, ddog-gov.com)",
			   a->owner, cg_cfg_disp(cfg->dd_site, b, sizeof(b)));
		return;
	}
	if (!cfg->dd_api_key && !cfg->dd_app_key)
		return;
	if (!cfg->dd_api_key || !cfg->dd_app_key) {
		cg_cfg_err(a->c, at, "%s: %s is set but %s is not: give both (or neither, to use the local simulator)",
			   a->owner, cfg->dd_api_key ? "api_key" : "app_key", cfg->dd_api_key ? "app_key" : "api_key");
		return;
	}
	if (!(cfg->dd_url = strdup(u)))
		cg_cfg_nomem(a->c);
}

static const struct cg_key datadog_rows[] = {
	{.key = "site", .type = CG_KEY_NAME, DD_AT(dd_site), .doc = "the Datadog site (datadoghq.com when neither is given); not with url"},
	{.key = "url", .type = CG_KEY_NAME, DD_AT(dd_url), .check = url_check,
	 .doc = "an explicit API base URL (simulator, proxy); not with site"},
	{.key = "api_key", .type = CG_KEY_SECRET, DD_AT(dd_api_key), .doc = "DD-API-KEY"},
	{.key = "app_key", .type = CG_KEY_SECRET, DD_AT(dd_app_key),
	 .doc = "DD-APPLICATION-KEY (cases_read, cases_write); both keys or neither"},
	{.key = "timeout", .type = CG_KEY_DURATION, DD_AT(dd_timeout_ms), .def = "15s", .min = 1, .max = CG_MS_HOUR,
	 .doc = "whole-request timeout"},
	{.key = "ca_file", .type = CG_KEY_PATH, DD_AT(dd_ca_file), .doc = "CA bundle (e.g. for a TLS-inspecting proxy)"},
	{.key = "proxy", .type = CG_KEY_NAME, DD_AT(dd_proxy), .doc = "HTTPS proxy (the *_proxy variables are ignored)"},
	{.key = "search_settle", .type = CG_KEY_DURATION, DD_AT(dd_search_settle_ms), .def = "2m", .max = CG_MS_HOUR,
	 .doc = "an unanswered create is not \"not found\" in search until this long after it was sent"},
	{.key = "case_refresh", .type = CG_KEY_DURATION, DD_AT(dd_case_refresh_ms), .def = "5m", .max = 24 * CG_MS_HOUR,
	 .doc = "re-read a case from Datadog before acting when it was last confirmed longer ago"},
	{.key = "marker_attribute", .type = CG_KEY_STR, DD_AT(dd_marker_attr), .def = "casegate_ref", .check = marker_check,
	 .doc = "the TEXT custom attribute that carries the marker, where the case type has it"},
	{.key = "circuit_threshold", .type = CG_KEY_UINT, DD_AT(dd_circuit_threshold), .def = "10", .min = 1, .max = 1000,
	 .doc = "transport errors or 5xx in a row that open the Case API circuit"},
};

const struct cg_keys cg_datadog_keys = {
	.name = "delivery: datadog", .keys = datadog_rows, .n = CG_KEYS_N(datadog_rows), .check = datadog_check};

static void queue_check(const struct cg_keyarg *a)
{
	const struct cg_config *cfg = a->base;
	struct yaml_node_s *base = cg_keymap_node(a->map, "retry_base"), *cap = cg_keymap_node(a->map, "retry_cap");
	if (cg_keymap_failed(a->map, "retry_base") || cg_keymap_failed(a->map, "retry_cap"))
		return;
	if (cfg->retry_base_ms > cfg->retry_cap_ms)
		cg_cfg_err(a->c, cap ? cap : base ? base : a->node, "%s: retry_base must not exceed retry_cap", a->owner);
}

static const struct cg_key queue_rows[] = {
	{.key = "max_inflight", .type = CG_KEY_UINT, DD_AT(max_inflight), .def = "16", .min = 1, .max = 1024,
	 .doc = "case operations in progress at once"},
	{.key = "retry_base", .type = CG_KEY_DURATION, DD_AT(retry_base_ms), .def = "1s", .min = 1, .max = CG_MS_HOUR,
	 .doc = "first retry delay"},
	{.key = "retry_cap", .type = CG_KEY_DURATION, DD_AT(retry_cap_ms), .def = "5m", .min = 1, .max = 7 * CG_MS_DAY,
	 .doc = "longest retry delay"},
	{.key = "max_attempts", .type = CG_KEY_UINT, DD_AT(max_attempts), .def = "0", .max = 1000000,
	 .doc = "0: retry transient errors forever"},
};

const struct cg_keys cg_queue_delivery_keys = {
	.name = "delivery: queue", .keys = queue_rows, .n = CG_KEYS_N(queue_rows), .check = queue_check};
