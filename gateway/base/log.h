/* log.h: leveled logging to stderr, text or JSON lines; never given secrets. */
#ifndef CG_LOG_H
#define CG_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum cg_log_level { CG_LOG_LEVEL_ERR = 0, CG_LOG_LEVEL_WARN, CG_LOG_LEVEL_INFO, CG_LOG_LEVEL_DEBUG };
enum cg_log_format { CG_LOG_TEXT = 0, CG_LOG_JSON };

void cg_log_setup(enum cg_log_level level, enum cg_log_format format);
/* Where records go (NULL: stderr); for tests. */
void cg_log_set_output(FILE *f);
/* Parses "error|warn|info|debug"; returns 0 or CG_EINVAL. */
int cg_log_level_parse(const char *s, enum cg_log_level *out);
int cg_log_enabled(enum cg_log_level level);
void cg_log_write(enum cg_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * A record about one alert. source, dedup_key and case_key (each may be NULL: left out)
 * become the JSON fields "source", "dedup_key" and "case", or are written as
 * "source=.. key=.. case=.." before the message in text format.
 */
void cg_log_event(enum cg_log_level level, const char *component, const char *source, const char *dedup_key,
		  const char *case_key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Each .c file that logs defines CG_LOG_COMPONENT "name" before including this header. */
#ifndef CG_LOG_COMPONENT
#define CG_LOG_COMPONENT "casegate"
#endif

#define CG_LOG_(lvl, ...)                                                  \
	do {                                                               \
		if (cg_log_enabled(lvl))                                   \
			cg_log_write(lvl, CG_LOG_COMPONENT, __VA_ARGS__);  \
	} while (0)
#define CG_LOG_ERR(...) CG_LOG_(CG_LOG_LEVEL_ERR, __VA_ARGS__)
#define CG_LOG_WARN(...) CG_LOG_(CG_LOG_LEVEL_WARN, __VA_ARGS__)
#define CG_LOG_INFO(...) CG_LOG_(CG_LOG_LEVEL_INFO, __VA_ARGS__)
#define CG_LOG_DEBUG(...) CG_LOG_(CG_LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Structured record about one alert: CG_LOG_EV(CG_LOG_LEVEL_INFO, src, key, case_key, fmt, ...). */
#define CG_LOG_EV(lvl, source, key, case_key, ...)                                             \
	do {                                                                                    \
		if (cg_log_enabled(lvl))                                                        \
			cg_log_event(lvl, CG_LOG_COMPONENT, source, key, case_key, __VA_ARGS__); \
	} while (0)

#endif
