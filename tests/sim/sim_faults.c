/* sim_faults.c: casegate-sim's fault settings: named rate-limit buckets, and parsing of the command line's and POST /_sim/faults' values. */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static const char *const match_names[] = {[CG_SIM_MATCH_ALL] = "all",
					  [CG_SIM_MATCH_READ] = "read",
					  [CG_SIM_MATCH_WRITE] = "write"};

static const char *const outage_names[] = {[CG_SIM_OUTAGE_NONE] = "none",
					   [CG_SIM_OUTAGE_503] = "503",
					   [CG_SIM_OUTAGE_RESET] = "reset",
					   [CG_SIM_OUTAGE_REFUSE] = "refuse"};

static int parse_match(const char *v, enum cg_sim_match *out)
{
	for (size_t i = 0; i < sizeof(match_names) / sizeof(match_names[0]); i++) {
		if (strcmp(v, match_names[i]) == 0) {
			*out = (enum cg_sim_match)i;
			return 0;
		}
	}
	return CG_EINVAL;
}

int cg_sim_parse_outage(const char *v, enum cg_sim_outage *out)
{
	for (size_t i = 0; i < sizeof(outage_names) / sizeof(outage_names[0]); i++) {
		if (strcmp(v, outage_names[i]) == 0) {
			*out = (enum cg_sim_outage)i;
			return 0;
		}
	}
	return CG_EINVAL;
}

const char *cg_sim_outage_name(enum cg_sim_outage o)
{
	return (size_t)o < sizeof(outage_names) / sizeof(outage_names[0]) ? outage_names[o] : "?";
}

/* Bucket names go into a response header: keep them to a safe, short alphabet. */
static int valid_bucket_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len >= sizeof(((struct cg_sim_bucket *)0)->name))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '-' && n[i] != '.')
			return 0;
	return 1;
}

static struct cg_sim_bucket *find_bucket(struct cg_sim_faults *f, const char *name)
{
	for (size_t i = 0; i < f->nbuckets; i++)
		if (strcmp(f->buckets[i].name, name) == 0)
			return &f->buckets[i];
	return NULL;
}

/*
 * Adds or redefines a bucket. A redefinition with the same period keeps the window's count:
 * the calendar window is the same one, so posting the same settings again does not refill it.
 */
static int put_bucket(struct cg_sim_faults *f, const char *name, unsigned limit, unsigned period,
		      enum cg_sim_match match)
{
	if (!valid_bucket_name(name))
		return CG_EINVAL;
	struct cg_sim_bucket *b = find_bucket(f, name);
	if (!b) {
		if (f->nbuckets == CG_SIM_MAX_BUCKETS)
			return CG_E2BIG;
		b = &f->buckets[f->nbuckets++];
		memset(b, 0, sizeof(*b));
		snprintf(b->name, sizeof(b->name), "%s", name);
	} else if (b->period != period) {
		b->window = 0;
		b->count = b->win_429 = 0;
	}
	b->limit = limit;
	b->period = period;
	b->match = match;
	return 0;
}

static void del_bucket(struct cg_sim_faults *f, const char *name)
{
	struct cg_sim_bucket *b = find_bucket(f, name);
	if (!b)
		return;
	size_t i = (size_t)(b - f->buckets);
	memmove(b, b + 1, (f->nbuckets - i - 1) * sizeof(*b));
	f->nbuckets--;
}

int cg_sim_set_rate_limit(struct cg_sim_faults *f, unsigned limit, unsigned period)
{
	if (period)
		f->rate_period = period;
	if (!limit) {
		del_bucket(f, CG_SIM_LEGACY_BUCKET);
		return 0;
	}
	return put_bucket(f, CG_SIM_LEGACY_BUCKET, limit, f->rate_period, CG_SIM_MATCH_ALL);
}

static unsigned legacy_limit(const struct cg_sim_faults *f)
{
	for (size_t i = 0; i < f->nbuckets; i++)
		if (strcmp(f->buckets[i].name, CG_SIM_LEGACY_BUCKET) == 0)
			return f->buckets[i].limit;
	return 0;
}

static int parse_u(const char *s, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return (int)(end - s);
}

int cg_sim_parse_bucket(struct cg_sim_faults *f, const char *spec, char *err, size_t errlen)
{
	char name[64];
	const char *eq = strchr(spec, '=');
	if (!eq || (size_t)(eq - spec) >= sizeof(name)) {
		snprintf(err, errlen, "want NAME=LIMIT/PERIOD[:read|write|all]");
		return CG_EINVAL;
	}
	memcpy(name, spec, (size_t)(eq - spec));
	name[eq - spec] = '\0';
	if (!valid_bucket_name(name)) {
		snprintf(err, errlen, "bucket name must be 1 to 47 letters, digits, '_', '-' or '.'");
		return CG_EINVAL;
	}
	unsigned limit, period;
	const char *p = eq + 1;
	int n = parse_u(p, 1, 1000000000UL, &limit);
	if (n < 0 || p[n] != '/') {
		snprintf(err, errlen, "LIMIT must be a whole number from 1 to 1000000000, followed by /PERIOD");
		return CG_EINVAL;
	}
	p += n + 1;
	n = parse_u(p, 1, 86400, &period);
	if (n < 0 || (p[n] != '\0' && p[n] != ':')) {
		snprintf(err, errlen, "PERIOD must be a whole number of seconds from 1 to 86400");
		return CG_EINVAL;
	}
	p += n;
	enum cg_sim_match m = CG_SIM_MATCH_ALL;
	if (*p == ':' && parse_match(p + 1, &m) != 0) {
		snprintf(err, errlen, "the match must be read, write or all");
		return CG_EINVAL;
	}
	if (find_bucket(f, name)) {
		snprintf(err, errlen, "bucket %s is given twice", name);
		return CG_EEXIST;
	}
	if (put_bucket(f, name, limit, period, m) != 0) {
		snprintf(err, errlen, "at most %d buckets", CG_SIM_MAX_BUCKETS);
		return CG_E2BIG;
	}
	return 0;
}

struct cg_sim_bucket *cg_sim_bucket_for(struct cg_sim_faults *f, const char *method)
{
	enum cg_sim_match want =
		strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? CG_SIM_MATCH_READ : CG_SIM_MATCH_WRITE;
	for (size_t i = 0; i < f->nbuckets; i++)
		if (f->buckets[i].match == want)
			return &f->buckets[i];
	for (size_t i = 0; i < f->nbuckets; i++)
		if (f->buckets[i].match == CG_SIM_MATCH_ALL)
			return &f->buckets[i];
	return NULL;
}

/* ---- /_sim/faults ---- */

static int want_uint(const cJSON *e, double lo, double hi, unsigned *out, char *err, size_t errlen)
{
	if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < lo ||
	    e->valuedouble > hi) {
		snprintf(err, errlen, "%s must be a whole number from %.0f to %.0f", e->string, lo, hi);
		return -1;
	}
	*out = (unsigned)e->valuedouble;
	return 0;
}

static int want_ratio(const cJSON *e, double *out, char *err, size_t errlen)
{
	if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1)) {
		snprintf(err, errlen, "%s must be a number from 0 to 1", e->string);
		return -1;
	}
	*out = e->valuedouble;
	return 0;
}

static int want_bool(const cJSON *e, int *out, char *err, size_t errlen)
{
	if (!cJSON_IsBool(e)) {
		snprintf(err, errlen, "%s must be true or false", e->string);
		return -1;
	}
	*out = cJSON_IsTrue(e);
	return 0;
}

/* "buckets": {NAME: {"limit": N, "period": S, "match": "read"|"write"|"all"}} replaces them all. */
static int apply_buckets(struct cg_sim_faults *f, const cJSON *in, char *err, size_t errlen)
{
	if (!cJSON_IsObject(in)) {
		snprintf(err, errlen, "buckets must be an object: name -> {\"limit\",\"period\",\"match\"}");
		return -1;
	}
	struct cg_sim_faults old = *f;
	f->nbuckets = 0;
	const cJSON *b;
	cJSON_ArrayForEach(b, in)
	{
		if (!valid_bucket_name(b->string)) {
			snprintf(err, errlen, "buckets: name \"%.60s\" must be 1 to 47 letters, digits, '_', '-' or '.'",
				 b->string);
			return -1;
		}
		if (!cJSON_IsObject(b)) {
			snprintf(err, errlen, "buckets.%s must be an object {\"limit\",\"period\",\"match\"}", b->string);
			return -1;
		}
		if (find_bucket(f, b->string)) {
			snprintf(err, errlen, "buckets.%s is given twice", b->string);
			return -1;
		}
		unsigned limit = 0, period = 0;
		enum cg_sim_match m = CG_SIM_MATCH_ALL;
		const cJSON *x;
		cJSON_ArrayForEach(x, b)
		{
			int bad = 0;
			if (strcmp(x->string, "limit") == 0)
				bad = !cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 1 ||
				      x->valuedouble > 1e9;
			else if (strcmp(x->string, "period") == 0)
				bad = !cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 1 ||
				      x->valuedouble > 86400;
			else if (strcmp(x->string, "match") == 0)
				bad = !cJSON_IsString(x) || parse_match(x->valuestring, &m) != 0;
			else {
				snprintf(err, errlen, "buckets.%s: unknown field %.60s (limit, period, match)", b->string,
					 x->string);
				return -1;
			}
			if (bad) {
				snprintf(err, errlen, "buckets.%s.%s must be %s", b->string, x->string,
					 strcmp(x->string, "limit") == 0    ? "a whole number from 1 to 1000000000"
					 : strcmp(x->string, "period") == 0 ? "a whole number of seconds from 1 to 86400"
									    : "\"read\", \"write\" or \"all\"");
				return -1;
			}
			if (strcmp(x->string, "limit") == 0)
				limit = (unsigned)x->valuedouble;
			else if (strcmp(x->string, "period") == 0)
				period = (unsigned)x->valuedouble;
		}
		if (!limit || !period) {
			snprintf(err, errlen, "buckets.%s needs limit and period", b->string);
			return -1;
		}
		/* A bucket kept under the same name and period keeps its window (see put_bucket). */
		struct cg_sim_bucket *prev = find_bucket(&old, b->string);
		if (f->nbuckets == CG_SIM_MAX_BUCKETS) {
			snprintf(err, errlen, "buckets: at most %d", CG_SIM_MAX_BUCKETS);
			return -1;
		}
		struct cg_sim_bucket *nb = &f->buckets[f->nbuckets++];
		memset(nb, 0, sizeof(*nb));
		if (prev && prev->period == period)
			*nb = *prev;
		snprintf(nb->name, sizeof(nb->name), "%s", b->string);
		nb->limit = limit;
		nb->period = period;
		nb->match = m;
	}
	return 0;
}

int cg_sim_faults_apply(struct cg_sim_faults *f, const cJSON *in, char *err, size_t errlen)
{
	if (!cJSON_IsObject(in)) {
		snprintf(err, errlen, "body must be a JSON object");
		return CG_EINVAL;
	}
	struct cg_sim_faults n = *f;
	/* buckets first, then rate_limit / rate_period on top, whatever the order in the body */
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(in, "buckets");
	if (b && apply_buckets(&n, b, err, errlen) != 0)
		return CG_EINVAL;
	unsigned limit = legacy_limit(&n), period = 0;
	int rate_given = 0, spent = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, in)
	{
		const char *k = e->string;
		int rc = 0;
		if (strcmp(k, "buckets") == 0)
			continue;
		else if (strcmp(k, "error_ratio") == 0)
			rc = want_ratio(e, &n.error_ratio, err, errlen);
		else if (strcmp(k, "drop_ratio") == 0)
			rc = want_ratio(e, &n.drop_ratio, err, errlen);
		else if (strcmp(k, "header_drop_ratio") == 0)
			rc = want_ratio(e, &n.header_drop_ratio, err, errlen);
		else if (strcmp(k, "latency_ms") == 0)
			rc = want_uint(e, 0, 600000, &n.latency_ms, err, errlen);
		else if (strcmp(k, "rate_limit") == 0) {
			rc = want_uint(e, 0, 1e9, &limit, err, errlen);
			rate_given = 1;
		} else if (strcmp(k, "rate_period") == 0) {
			rc = want_uint(e, 1, 86400, &period, err, errlen);
			rate_given = 1;
		} else if (strcmp(k, "rate_spent") == 0)
			rc = want_bool(e, &spent, err, errlen);
		else if (strcmp(k, "search_lag_ms") == 0)
			rc = want_uint(e, 0, 3600000, &n.search_lag_ms, err, errlen);
		else if (strcmp(k, "retry_after_s") == 0)
			rc = want_uint(e, 0, 86400, &n.retry_after_s, err, errlen);
		else if (strcmp(k, "outage_ms") == 0)
			rc = want_uint(e, 0, 86400000, &n.outage_ms, err, errlen);
		else if (strcmp(k, "search_archived") == 0)
			rc = want_bool(e, &n.search_archived, err, errlen);
		else if (strcmp(k, "search_text") == 0) {
			static const char *const modes[] = {"substring", "tokens", "none"};
			rc = -1;
			for (int m = 0; m < 3 && cJSON_IsString(e); m++)
				if (strcmp(e->valuestring, modes[m]) == 0) {
					n.search_text = m;
					rc = 0;
				}
			if (rc)
				snprintf(err, errlen, "search_text must be \"substring\", \"tokens\" or \"none\"");
		}
		else if (strcmp(k, "plain_errors") == 0)
			rc = want_bool(e, &n.plain_errors, err, errlen);
		else if (strcmp(k, "strict_case_types") == 0)
			rc = want_bool(e, &n.strict_case_types, err, errlen);
		else if (strcmp(k, "auth_fail") == 0) {
			if (!cJSON_IsNumber(e) || (e->valuedouble != 0 && e->valuedouble != 401 && e->valuedouble != 403)) {
				snprintf(err, errlen, "auth_fail must be 0, 401 or 403");
				rc = -1;
			} else {
				n.auth_fail = (int)e->valuedouble;
			}
		} else if (strcmp(k, "outage") == 0) {
			if (!cJSON_IsString(e) || cg_sim_parse_outage(e->valuestring, &n.outage) != 0) {
				snprintf(err, errlen, "outage must be \"none\", \"503\", \"reset\" or \"refuse\"");
				rc = -1;
			}
		} else {
			snprintf(err, errlen, "unknown field %.80s", k);
			rc = -1;
		}
		if (rc)
			return CG_EINVAL;
	}
	if (rate_given && cg_sim_set_rate_limit(&n, limit, period) != 0) {
		snprintf(err, errlen, "rate_limit: at most %d buckets in all", CG_SIM_MAX_BUCKETS);
		return CG_EINVAL;
	}
	if (spent) {
		/* Another client of the organisation spends the next window of the bucket `cases` as
		 * soon as it begins: casegate's first request in it meets a 429 it could not foresee
		 * (the next window, so that nothing casegate sent in the current one has told it
		 * otherwise). */
		struct cg_sim_bucket *lb = find_bucket(&n, CG_SIM_LEGACY_BUCKET);
		if (!lb) {
			snprintf(err, errlen, "rate_spent needs rate_limit (the bucket cases)");
			return CG_EINVAL;
		}
		lb->spent_window = cg_sim_wall_ms() / ((uint64_t)lb->period * 1000u) + 1;
	}
	*f = n;
	return 0;
}

cJSON *cg_sim_faults_json(const struct cg_sim_faults *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *bs = cJSON_AddObjectToObject(o, "buckets");
	if (!bs)
		goto fail;
	for (size_t i = 0; i < f->nbuckets; i++) {
		const struct cg_sim_bucket *b = &f->buckets[i];
		cJSON *x = cJSON_AddObjectToObject(bs, b->name);
		if (!x || !cJSON_AddNumberToObject(x, "limit", b->limit) || !cJSON_AddNumberToObject(x, "period", b->period) ||
		    !cJSON_AddStringToObject(x, "match", match_names[b->match]))
			goto fail;
	}
	unsigned legacy = legacy_limit(f);
	if (!cJSON_AddNumberToObject(o, "error_ratio", f->error_ratio) ||
	    !cJSON_AddNumberToObject(o, "latency_ms", f->latency_ms) ||
	    !cJSON_AddNumberToObject(o, "drop_ratio", f->drop_ratio) || !cJSON_AddNumberToObject(o, "rate_limit", legacy) ||
	    !cJSON_AddNumberToObject(o, "rate_period", f->rate_period) ||
	    !cJSON_AddNumberToObject(o, "header_drop_ratio", f->header_drop_ratio) ||
	    !cJSON_AddNumberToObject(o, "search_lag_ms", f->search_lag_ms) ||
	    !cJSON_AddBoolToObject(o, "search_archived", f->search_archived) ||
	    !cJSON_AddStringToObject(o, "search_text",
				     f->search_text == 1 ? "tokens" : f->search_text == 2 ? "none" : "substring") ||
	    !cJSON_AddBoolToObject(o, "plain_errors", f->plain_errors) ||
	    !cJSON_AddBoolToObject(o, "strict_case_types", f->strict_case_types) ||
	    !cJSON_AddNumberToObject(o, "auth_fail", f->auth_fail) ||
	    !cJSON_AddStringToObject(o, "outage", cg_sim_outage_name(f->outage)) ||
	    !cJSON_AddNumberToObject(o, "retry_after_s", f->retry_after_s) ||
	    !cJSON_AddNumberToObject(o, "outage_ms", f->outage_ms))
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}
