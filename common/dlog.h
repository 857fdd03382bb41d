/*
 * dlog.h — error values and logging shared by every dreamfarm module.
 *
 * Library code never exits: it returns -1 (or NULL) and fills a dream_err_t
 * with a human readable message. Logging goes to stderr, one line per event:
 *   2026-11-26T15:52:04.123Z INFO  [engine] message
 */
#ifndef DREAM_DLOG_H
#define DREAM_DLOG_H
#include <stddef.h>
#include <stdarg.h>

typedef struct dream_err {
    char msg[512];
} dream_err_t;

/* Formats into err (if not NULL) and returns -1, so callers can `return dream_err_set(...)`. */
int dream_err_set(dream_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to an existing message (no-op if err is NULL). Returns -1. */
int dream_err_prefix(dream_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum { DLOG_DEBUG = 0, DLOG_INFO, DLOG_WARN, DLOG_ERROR } dlog_level_t;
void dlog_set_level(dlog_level_t lvl);
dlog_level_t dlog_get_level(void);
/* Parses "debug|info|warn|error"; returns -1 on unknown. */
int dlog_parse_level(const char *s, dlog_level_t *out);
void dlog_write(dlog_level_t lvl, const char *mod, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define dlog_debug(mod, ...) dlog_write(DLOG_DEBUG, mod, __VA_ARGS__)
#define dlog_info(mod, ...)  dlog_write(DLOG_INFO, mod, __VA_ARGS__)
#define dlog_warn(mod, ...)  dlog_write(DLOG_WARN, mod, __VA_ARGS__)
#define dlog_error(mod, ...) dlog_write(DLOG_ERROR, mod, __VA_ARGS__)

/* Programs: SIGINT and SIGTERM call handler (no SA_RESTART), SIGPIPE is ignored. */
void dream_signals_install(void (*handler)(int));

/* Monotonic clock in seconds / milliseconds. */
double dream_now_s(void);
double dream_now_ms(void);

#endif
