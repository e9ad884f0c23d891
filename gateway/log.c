/* log.c: one line per record to stderr, plain text or one JSON object. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "err.h"

static enum cg_log_level cur_level = CG_LOG_LEVEL_INFO;
static enum cg_log_format cur_format = CG_LOG_TEXT;
static FILE *cur_out;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cg_log_setup(enum cg_log_level level, enum cg_log_format format)
{
	cur_level = level;
	cur_format = format;
}

void cg_log_set_output(FILE *f)
{
	cur_out = f;
}

int cg_log_level_parse(const char *s, enum cg_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum cg_log_level)i;
			return 0;
		}
	}
	return CG_EINVAL;
}

int cg_log_enabled(enum cg_log_level level)
{
	return level <= cur_level;
}

static void emit(enum cg_log_level level, const char *component, const char *source, const char *dedup_key,
		 const char *case_key, const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void emit(enum cg_log_level level, const char *component, const char *source, const char *dedup_key,
		 const char *case_key, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	FILE *out = cur_out ? cur_out : stderr;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[96];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

	if (cur_format == CG_LOG_JSON) {
		cJSON *o = cJSON_CreateObject();
		int ok = o && cJSON_AddStringToObject(o, "ts", when) &&
			 cJSON_AddStringToObject(o, "level", level_names[level]) &&
			 cJSON_AddStringToObject(o, "component", component);
		if (ok && source)
			ok = cJSON_AddStringToObject(o, "source", source) != NULL;
		if (ok && dedup_key)
			ok = cJSON_AddStringToObject(o, "dedup_key", dedup_key) != NULL;
		if (ok && case_key)
			ok = cJSON_AddStringToObject(o, "case", case_key) != NULL;
		if (ok && cJSON_AddStringToObject(o, "msg", msg)) {
			char *line = cJSON_PrintUnformatted(o);
			if (line) {
				/* One write per record: lines from the store thread never interleave. */
				fprintf(out, "%s\n", line);
				cJSON_free(line);
			}
		}
		cJSON_Delete(o);
		return;
	}
	char ctx[1024] = "";
	size_t n = 0;
	if (source)
		n += (size_t)snprintf(ctx + n, sizeof(ctx) - n, "source=%s ", source);
	if (dedup_key && n < sizeof(ctx))
		n += (size_t)snprintf(ctx + n, sizeof(ctx) - n, "key=%s ", dedup_key);
	if (case_key && n < sizeof(ctx))
		snprintf(ctx + n, sizeof(ctx) - n, "case=%s ", case_key);
	fprintf(out, "%s %-5s [%s] %s%s\n", when, level_names[level], component, ctx, msg);
}

void cg_log_write(enum cg_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, component, NULL, NULL, NULL, fmt, ap);
	va_end(ap);
}

void cg_log_event(enum cg_log_level level, const char *component, const char *source, const char *dedup_key,
		  const char *case_key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, component, source, dedup_key, case_key, fmt, ap);
	va_end(ap);
}
