/* log.h -- one line per event on stderr, with time, level and component */
#ifndef TELEWIRE_LOG_H
#define TELEWIRE_LOG_H

enum tw_log_level { TW_LOG_DEBUG, TW_LOG_INFO, TW_LOG_WARN, TW_LOG_ERROR };

/* Sets the component name shown on every line ("hub", "ingest") and the
 * lowest level printed. Call once at start-up, before other threads run. */
void tw_log_init(const char *component, enum tw_log_level min_level);

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int tw_log_level_parse(const char *name);

/* Thread-safe: one call prints one whole line. */
void tw_log(enum tw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define tw_debug(...) tw_log(TW_LOG_DEBUG, __VA_ARGS__)
#define tw_info(...) tw_log(TW_LOG_INFO, __VA_ARGS__)
#define tw_warn(...) tw_log(TW_LOG_WARN, __VA_ARGS__)
#define tw_error(...) tw_log(TW_LOG_ERROR, __VA_ARGS__)

#endif
