/* log.c: one line per record to stderr, plain text or one JSON object. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "err.h"

static enum cg_log_level cur_level = CG_LOG_LEVEL_INFO;
static enum cg_log_format cur_format = CG_LOG_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cg_log_setup(enum cg_log_level level, enum cg_log_format format)
{
	cur_level = level;
	cur_format = format;
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

void cg_log_write(enum cg_log_level level, const char *component, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[96];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

	if (cur_format == CG_LOG_JSON) {
		cJSON *o = cJSON_CreateObject();
		if (o && cJSON_AddStringToObject(o, "ts", when) &&
		    cJSON_AddStringToObject(o, "level", level_names[level]) &&
		    cJSON_AddStringToObject(o, "component", component) &&
		    cJSON_AddStringToObject(o, "msg", msg)) {
			char *line = cJSON_PrintUnformatted(o);
			if (line) {
				fprintf(stderr, "%s\n", line);
				cJSON_free(line);
			}
		}
		cJSON_Delete(o);
		return;
	}
	fprintf(stderr, "%s %-5s [%s] %s\n", when, level_names[level], component, msg);
}
