/* crash_common.h: what the crash and soak tests share: the source, payloads and the sim-side checks. */
#ifndef CG_CRASH_COMMON_H
#define CG_CRASH_COMMON_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

/* One source; one case per alertname; a resolved case reopens on the next firing (1 h window). */
static const char *const cg_crash_sources = "  - name: crash\n"
					    "    type: generic\n"
					    "    auth: { bearer: tok }\n"
					    "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
					    "    case_type: 00000000-0000-0000-0000-000000000001\n"
					    "    title: \"crash {{labels.alertname}}\"\n"
					    "    dedup_key: \"{{labels.alertname}}\"\n";

static inline char *cg_crash_payload(const char *name, int firing, int seq)
{
	return cg_h_fmt("{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\",\"severity\":\"warning\"},"
			"\"annotations\":{\"summary\":\"%s #%d\"}}",
			firing ? "firing" : "resolved", name, name, seq);
}

/* A webhook's answer as a test reads it: status (0: none came), Retry-After ("" when absent) and
 * the body (malloc'd, may be NULL). */
struct cg_crash_answer {
	long status;
	char retry_after[32];
	char *body;
};

/* Posts the crash source's firing alert `name` to the daemon at gw_url (bearer tok). */
static inline void cg_crash_post(const char *gw_url, const char *name, struct cg_crash_answer *a)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/hooks/crash", gw_url);
	const char *headers[] = {"Content-Type: application/json", "Authorization: Bearer tok", NULL};
	char *body = cg_crash_payload(name, 1, 0);
	struct cg_h_resp r;
	memset(a, 0, sizeof(*a));
	if (cg_h_http("POST", url, headers, body, strlen(body), &r) == 0) {
		a->status = r.status;
		if (cg_h_resp_header(&r, "Retry-After", a->retry_after, sizeof(a->retry_after)) != 0)
			a->retry_after[0] = '\0';
		a->body = r.body;
		r.body = NULL;
	}
	cg_h_resp_free(&r);
	free(body);
}

static inline uint64_t cg_crash_rand(uint64_t *s)
{
	/* xorshift64*: reproducible from the printed seed. */
	uint64_t x = *s ? *s : 0x2545f4914f6cdd1dULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/*
 * One dedup key. exp is the case's expected history as states, O (open) and C (closed), with
 * repeats collapsed: a firing creates or reopens (O), a resolution closes (C); a firing on an
 * open case or a resolution of a closed or absent one changes nothing. Because repeats collapse,
 * an event stored twice (its 202 lost in a crash, then resent) expects the same history.
 */
#define CG_CRASH_EXP_MAX 64
struct cg_crash_key {
	char *name;
	int *plan; /* 1 firing, 0 resolved (the crash test's sequence) */
	int next;  /* plan entries acknowledged */
	char exp[CG_CRASH_EXP_MAX + 1];
	int nexp;
};

static inline void cg_crash_expect(struct cg_crash_key *k, int firing)
{
	char s = firing ? 'O' : 'C';
	if (k->nexp == 0 && s == 'C')
		return; /* a resolution never creates a case */
	if (k->nexp > 0 && k->exp[k->nexp - 1] == s)
		return;
	if (k->nexp < CG_CRASH_EXP_MAX)
		k->exp[k->nexp++] = s;
	k->exp[k->nexp] = '\0';
}

static inline void cg_crash_key_free(struct cg_crash_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(k[i].name);
		free(k[i].plan);
	}
}

struct cg_crash_check {
	struct itest *t;
	struct cg_crash_key *keys;
	size_t nkeys;
	/* results of the last call */
	int lost;       /* keys whose case history differs from the acknowledged events */
	int duplicates; /* cases beyond one per key */
	int ncases;
	char first_mismatch[256];
};

/* The case's history from the sim's per-case event list, same alphabet as cg_crash_key.exp. */
static inline void cg_crash_history(const cJSON *c, char *out, size_t cap)
{
	size_t n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "events"))
	{
		if (!cJSON_IsString(e))
			continue;
		const char *v = e->valuestring;
		char s = 0;
		if (strcmp(v, "create") == 0)
			s = 'O';
		else if (strncmp(v, "status:", 7) == 0)
			s = strstr(v, "losed") || strstr(v, "LOSED") ? 'C' : 'O';
		if (!s || (n > 0 && out[n - 1] == s) || n + 1 >= cap)
			continue;
		out[n++] = s;
	}
	out[n] = '\0';
}

/* cg_h_poll callback: 1 when every key's case history matches and no key has two cases. */
static inline int cg_crash_all_match(void *ud)
{
	struct cg_crash_check *k = ud;
	cJSON *doc = itest_cases(k->t);
	if (!doc)
		return 0;
	k->lost = k->duplicates = k->ncases = 0;
	k->first_mismatch[0] = '\0';
	const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
	k->ncases = cJSON_GetArraySize(cases);
	for (size_t i = 0; i < k->nkeys; i++) {
		char title[96];
		snprintf(title, sizeof(title), "crash %s", k->keys[i].name);
		int found = 0;
		char hist[CG_CRASH_EXP_MAX + 1] = "";
		const cJSON *c;
		cJSON_ArrayForEach(c, cases)
		{
			const char *ti = itest_case_attr(c, "title");
			if (!ti || strcmp(ti, title) != 0)
				continue;
			if (found++ == 0) {
				cg_crash_history(c, hist, sizeof(hist));
				/* A create for the same marker twice would show up here too. */
				int creates = 0;
				const cJSON *e;
				cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "events"))
					creates += cJSON_IsString(e) && strcmp(e->valuestring, "create") == 0;
				k->duplicates += creates > 1 ? creates - 1 : 0;
			}
		}
		if (found > 1)
			k->duplicates += found - 1;
		if (strcmp(hist, k->keys[i].exp) != 0) {
			k->lost++;
			if (!k->first_mismatch[0])
				snprintf(k->first_mismatch, sizeof(k->first_mismatch),
					 "key %s: case history got '%s', want '%s'", k->keys[i].name, hist,
					 k->keys[i].exp);
		}
	}
	cJSON_Delete(doc);
	return k->lost == 0 && k->duplicates == 0;
}

/* cg_h_poll for heavy checks (a whole /_sim/cases document): every 100 ms, so the check does not
 * take the CPU from the daemon it waits for (2 cores; sanitizer builds). */
static inline int cg_crash_poll(int (*fn)(void *ud), void *ud, unsigned deadline_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t end = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + deadline_ms;
	for (;;) {
		if (fn(ud))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 >= end)
			return 0;
		struct timespec nap = {0, 100 * 1000000L};
		nanosleep(&nap, NULL);
	}
}

/* Lines containing needle in every casegate.*.log of dir (all the runs of the daemon). */
static inline int cg_crash_count_logs(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "casegate.", 9) != 0 || !strstr(de->d_name, ".log"))
			continue;
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		char *text = cg_h_read_file(path, NULL);
		for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p++)
			n++;
		free(text);
	}
	closedir(d);
	return n;
}

#endif
