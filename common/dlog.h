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
/* Line format: text (above; the default) or logfmt, one event as key=value pairs:
 *   ts=2026-11-26T15:52:04.123Z level=info component=engine msg="message"
 * where a message that is itself key=value (starts with event=) follows as it is. */
typedef enum { DLOG_FORMAT_TEXT = 0, DLOG_FORMAT_LOGFMT } dlog_format_t;
void dlog_set_format(dlog_format_t f);
/* Parses "text|logfmt"; returns -1 on unknown. */
int dlog_parse_format(const char *s, dlog_format_t *out);

#define dlog_debug(mod, ...) dlog_write(DLOG_DEBUG, mod, __VA_ARGS__)
#define dlog_info(mod, ...)  dlog_write(DLOG_INFO, mod, __VA_ARGS__)
#define dlog_warn(mod, ...)  dlog_write(DLOG_WARN, mod, __VA_ARGS__)
#define dlog_error(mod, ...) dlog_write(DLOG_ERROR, mod, __VA_ARGS__)

/* Peer strings in logs and console output: copies in to out (size n > 0, always
 * NUL-terminated), every byte outside printable ASCII 0x20..0x7e and the backslash written
 * as \xNN / \\ so a name or message cannot start a new log line or forge one; truncated
 * to fit. Returns out. in may be NULL (""). */
char *dlog_escape(const char *in, char *out, size_t n);

/* Per-key log rate limiter for peer-triggered lines: a token bucket per key (e.g.
 * "peer:kind"), in a bounded table (the least recently used key is evicted), plus one
 * global bucket shared by all keys so many peers cannot flood either. Not thread-safe
 * (one per event loop). */
typedef struct dlog_rl dlog_rl_t;
/* slots: keys tracked (1..65536); per_s/burst: each key's bucket; global_per_s/global_burst:
 * the shared bucket. NULL on bad arguments / no memory. */
dlog_rl_t *dlog_rl_new(int slots, double per_s, double burst, double global_per_s, double global_burst);
void dlog_rl_destroy(dlog_rl_t **rl);
/* 1 = log this line (a token was taken from the key's and the global bucket), 0 = drop it.
 * *suppressed (may be NULL) gets the lines this key dropped since its last allowed one
 * (then reset), so the allowed line can say "(N similar suppressed)". */
int dlog_rl_allow(dlog_rl_t *rl, const char *key, double now_ms, unsigned long *suppressed);
/* lines dropped in total */
unsigned long dlog_rl_dropped(const dlog_rl_t *rl);

/* Programs: SIGINT and SIGTERM call handler (no SA_RESTART), SIGPIPE is ignored. */
void dream_signals_install(void (*handler)(int));

/* Monotonic clock in seconds / milliseconds. */
double dream_now_s(void);
double dream_now_ms(void);

#endif
