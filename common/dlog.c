/*
 * dlog.c — error formatting, leveled logging to stderr, monotonic clocks, signal setup.
 */
#include "dlog.h"
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>

static atomic_int g_level = DLOG_INFO;
static atomic_int g_format = DLOG_FORMAT_TEXT;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

int dream_err_set(dream_err_t *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int dream_err_prefix(dream_err_t *err, const char *fmt, ...) {
    if (!err) return -1;
    char pre[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    size_t lp = strlen(pre);
    if (lp > sizeof err->msg - 3) lp = sizeof err->msg - 3;
    memcpy(err->msg, pre, lp);
    memcpy(err->msg + lp, ": ", 2);
    size_t lo = strlen(old), room = sizeof err->msg - lp - 3;
    if (lo > room) lo = room;
    memcpy(err->msg + lp + 2, old, lo);
    err->msg[lp + 2 + lo] = 0;
    return -1;
}

void dlog_set_level(dlog_level_t lvl) { atomic_store(&g_level, (int)lvl); }
dlog_level_t dlog_get_level(void) { return (dlog_level_t)atomic_load(&g_level); }

void dlog_set_format(dlog_format_t f) { atomic_store(&g_format, (int)f); }

int dlog_parse_format(const char *s, dlog_format_t *out) {
    if (s && !strcasecmp(s, "text")) *out = DLOG_FORMAT_TEXT;
    else if (s && !strcasecmp(s, "logfmt")) *out = DLOG_FORMAT_LOGFMT;
    else return -1;
    return 0;
}

/* msg as a logfmt value: quoted, with \ \" \n \t and \xNN for other control bytes */
static void logfmt_quote(const char *msg, char *out, size_t n) {
    size_t o = 0;
    if (n < 3) { if (n) out[0] = 0; return; }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 6 < n; p++) {
        unsigned char ch = *p;
        if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
        else if (ch == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (ch == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
        else out[o++] = (char)ch;
    }
    out[o++] = '"';
    out[o] = 0;
}

int dlog_parse_level(const char *s, dlog_level_t *out) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (s && strcasecmp(s, names[i]) == 0) { *out = (dlog_level_t)i; return 0; }
    return -1;
}

void dlog_write(dlog_level_t lvl, const char *mod, const char *fmt, ...) {
    if ((int)lvl < atomic_load(&g_level)) return;
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n;
    if (atomic_load(&g_format) == DLOG_FORMAT_LOGFMT) {
        /* one event, key=value: ts level component, then the message's own key=value pairs
         * (the lines that start with event=) or msg="..." */
        static const char *names[] = {"debug", "info", "warn", "error"};
        char msg[1536], q[2048 - 96];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        int kv = !strncmp(msg, "event=", 6) && !strpbrk(msg, "\n\r");
        if (!kv) logfmt_quote(msg, q, sizeof q);
        snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s component=%s %s%s",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, names[lvl], mod ? mod : "-", kv ? "" : "msg=", kv ? msg : q);
    } else {
        n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, tags[lvl], mod ? mod : "-");
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&g_log_mu);
    fprintf(stderr, "%s\n", line);
    pthread_mutex_unlock(&g_log_mu);
}

double dream_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
double dream_now_ms(void) { return dream_now_s() * 1000.0; }

void dream_signals_install(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

char *dlog_escape(const char *in, char *out, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!n) return out;
    for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p; p++) {
        char e[5];
        size_t el;
        if (*p == '\\') { e[0] = '\\'; e[1] = '\\'; el = 2; }
        else if (*p >= 0x20 && *p < 0x7f) { e[0] = (char)*p; el = 1; }
        else { e[0] = '\\'; e[1] = 'x'; e[2] = hex[*p >> 4]; e[3] = hex[*p & 15]; el = 4; }
        if (o + el >= n) break;
        memcpy(out + o, e, el);
        o += el;
    }
    out[o] = 0;
    return out;
}

typedef struct rl_slot {
    uint64_t key;       /* FNV-1a of the key string; 0 = free */
    double tokens, at, used;
    unsigned long suppressed;
} rl_slot_t;

struct dlog_rl {
    int n;
    double per_s, burst, g_per_s, g_burst, g_tokens, g_at;
    unsigned long dropped;
    rl_slot_t *s;
};

dlog_rl_t *dlog_rl_new(int slots, double per_s, double burst, double global_per_s, double global_burst) {
    if (slots < 1 || slots > 65536 || !(per_s > 0) || !(burst >= 1) || !(global_per_s > 0) || !(global_burst >= 1))
        return NULL;
    dlog_rl_t *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    rl->s = calloc((size_t)slots, sizeof *rl->s);
    if (!rl->s) { free(rl); return NULL; }
    rl->n = slots;
    rl->per_s = per_s;
    rl->burst = burst;
    rl->g_per_s = global_per_s;
    rl->g_burst = rl->g_tokens = global_burst;
    rl->g_at = -1;
    return rl;
}

void dlog_rl_destroy(dlog_rl_t **rl) {
    if (!rl || !*rl) return;
    free((*rl)->s);
    free(*rl);
    *rl = NULL;
}

static void refill(double *tokens, double *at, double per_s, double burst, double now_ms) {
    if (*at >= 0 && now_ms > *at) {
        *tokens += (now_ms - *at) / 1000.0 * per_s;
        if (*tokens > burst) *tokens = burst;
    }
    *at = now_ms;
}

int dlog_rl_allow(dlog_rl_t *rl, const char *key, double now_ms, unsigned long *suppressed) {
    if (suppressed) *suppressed = 0;
    if (!rl) return 1;
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)(key ? key : ""); *p; p++) h = (h ^ *p) * 1099511628211ull;
    if (!h) h = 1;
    rl_slot_t *slot = NULL, *lru = &rl->s[0];
    for (int i = 0; i < rl->n; i++) {
        rl_slot_t *e = &rl->s[i];
        if (e->key == h) { slot = e; break; }
        if (lru->key && (!e->key || e->used < lru->used)) lru = e;
    }
    if (!slot) {    /* a new key takes a free slot or the least recently used one */
        slot = lru;
        memset(slot, 0, sizeof *slot);
        slot->key = h;
        slot->tokens = rl->burst;
        slot->at = now_ms;
    }
    slot->used = now_ms;
    refill(&slot->tokens, &slot->at, rl->per_s, rl->burst, now_ms);
    refill(&rl->g_tokens, &rl->g_at, rl->g_per_s, rl->g_burst, now_ms);
    if (slot->tokens < 1 || rl->g_tokens < 1) {
        slot->suppressed++;
        rl->dropped++;
        return 0;
    }
    slot->tokens -= 1;
    rl->g_tokens -= 1;
    if (suppressed) *suppressed = slot->suppressed;
    slot->suppressed = 0;
    return 1;
}

unsigned long dlog_rl_dropped(const dlog_rl_t *rl) { return rl ? rl->dropped : 0; }
