/* log.c: one line per record to stderr, plain text or one JSON object. */
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "mdsafe.h" /* cg_utf8_decode, cg_md_hidden */

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

/* Appends s to buf (cap bytes, *len used, kept NUL-terminated) as long as it fits whole. */
static int put_raw(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 1 > cap)
		return -1;
	memcpy(buf + *len, s, n + 1);
	*len += n;
	return 0;
}

/* Line and paragraph separators end a line in some viewers. */
static int breaks_line(uint32_t cp)
{
	return cp == 0x2028 || cp == 0x2029 || cp == 0x85;
}

/*
 * Appends a logged value to a text record: nothing in it can end the line, move the cursor or
 * reorder what a terminal shows. Backslash, CR, LF and tab get C escapes; other control bytes,
 * DEL and bytes that are not UTF-8 become \xHH; C1, bidi, zero-width characters and line
 * separators \uHHHH. quote: a key=value field (logfmt): quoted when empty or holding a space,
 * '=' or '"', so that a value cannot pose as another field. A value that does not fit is cut
 * between two characters and ends in "...".
 */
static void put_esc(char *buf, size_t cap, size_t *len, const char *s, int quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	int q = quote && (!n || strpbrk(s, " =\""));
	if (q && put_raw(buf, cap, len, "\""))
		return;
	for (size_t i = 0; i < n;) {
		char tmp[16];
		uint32_t cp = 0;
		size_t step = 1;
		if (p[i] == '\\')
			snprintf(tmp, sizeof(tmp), "\\\\");
		else if (p[i] == '"' && q)
			snprintf(tmp, sizeof(tmp), "\\\"");
		else if (p[i] == '\n')
			snprintf(tmp, sizeof(tmp), "\\n");
		else if (p[i] == '\r')
			snprintf(tmp, sizeof(tmp), "\\r");
		else if (p[i] == '\t')
			snprintf(tmp, sizeof(tmp), "\\t");
		else if (p[i] < 0x20 || p[i] == 0x7F)
			snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
		else if (p[i] < 0x80) {
			tmp[0] = (char)p[i];
			tmp[1] = '\0';
		} else if (!(step = cg_utf8_decode(p + i, n - i, &cp))) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
			step = 1;
		} else if (cg_md_hidden(cp) || breaks_line(cp)) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned)cp);
		} else {
			memcpy(tmp, p + i, step);
			tmp[step] = '\0';
		}
		/* Room for this piece, and for "..." and the closing quote after it. */
		if (*len + strlen(tmp) + 5 > cap) {
			put_raw(buf, cap, len, "...");
			break;
		}
		put_raw(buf, cap, len, tmp);
		i += step;
	}
	if (q)
		put_raw(buf, cap, len, "\"");
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
	/* Text: every value is escaped so that one record stays one line and shows what it holds. */
	char line[16384]; /* a 2 KiB message escaped at worst 6 bytes for one */
	int head = snprintf(line, sizeof(line), "%s %-5s [", when, level_names[level]);
	size_t n = head > 0 ? (size_t)head : 0;
	put_esc(line, sizeof(line), &n, component, 0);
	put_raw(line, sizeof(line), &n, "] ");
	static const char *const names[] = {"source=", "key=", "case="};
	const char *vals[] = {source, dedup_key, case_key};
	for (int i = 0; i < 3; i++) {
		if (!vals[i])
			continue;
		put_raw(line, sizeof(line), &n, names[i]);
		put_esc(line, sizeof(line), &n, vals[i], 1);
		put_raw(line, sizeof(line), &n, " ");
	}
	put_esc(line, sizeof(line), &n, msg, 0);
	fprintf(out, "%s\n", line);
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
