/*
 * requests.c — viewers' request queue: parsing, merging, rate limits, bans, hold times
 * (see requests.h).
 */
#include "requests.h"
#include <stdio.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <pthread.h>
#include <cjson/cJSON.h>

#define MAX_BANS 1000
#define MAX_BUCKETS 4096
#define BAN_FILE_MAX (1u << 20)

typedef struct entry {
    int ids[DREAM_MAX_SUBJECTS];     /* typed order: ids[0] is the first subject typed */
    int n;
    int votes;
    char name[REQUESTS_MAX_NAME + 1];   /* who asked first ("" = anonymous / nobody) */
} entry_t;

typedef struct bucket {
    char ip[64];
    double tokens, last;
} bucket_t;

struct requests {
    requests_config_t cfg;
    const dream_classes_t *classes;
    pthread_mutex_t mu;
    requests_clock_fn clock;
    void *clock_ud;
    uint64_t rng;
    /* current */
    entry_t cur;
    int cur_requested;
    double cur_start;
    uint64_t serial, version;
    /* queue (FIFO, array) */
    entry_t *queue;
    int qlen;
    /* bans */
    char *ban_words[MAX_BANS];
    int n_ban_words;
    char *ban_ips[MAX_BANS];
    int n_ban_ips;
    /* rate limit */
    bucket_t *buckets;
    int n_buckets;
};

static double default_clock(void *ud) { (void)ud; return dream_now_s(); }
static double now(requests_t *q) { return q->clock(q->clock_ud); }

static uint64_t rng_next(requests_t *q) {
    uint64_t x = q->rng;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return q->rng = x;
}

static void requests_init(void *base) {
    requests_config_t *cfg = base;
    memset(cfg, 0, sizeof *cfg);
    cfg->initial_subject = -1;
}

const cfg_opt_t requests_cfg_opts[] = {
    CFG_INIT(requests_init),
    CFG_DOUBLE(requests_config_t, hold_s, "hold-s", "60", 1, 86400, "how long a viewer's request holds the screen"),
    CFG_DOUBLE(requests_config_t, min_hold_s, "min-hold-s", "60", 1, 86400,
               "shortest hold when the queue is long (= hold-s: a fixed 60 s as in 2015)"),
    CFG_INT(requests_config_t, queue_max, "queue-max", "50", 1, 10000, "pending viewer requests"),
    CFG_DOUBLE(requests_config_t, rate_per_min, "rate-per-min", "3", 0.01, 1e6, "requests per minute per viewer IP (token bucket)"),
    CFG_INT(requests_config_t, rate_burst, "rate-burst", "3", 1, 10000, "token bucket size per viewer IP"),
    CFG_BOOL(requests_config_t, drift, "drift", "false", "with an empty queue, drift to a random class after a hold (off: the subject stays until the next request, as in 2015)"),
    CFG_END};

void requests_config_defaults(requests_config_t *cfg) {
    cfg_defaults(requests_cfg_opts, cfg, NULL);
}

requests_t *requests_new(const requests_config_t *cfg, const dream_classes_t *classes, dream_err_t *err) {
    requests_config_t d;
    if (!cfg) { requests_config_defaults(&d); cfg = &d; }
    if (!classes || dream_classes_count(classes) < 1) { dream_err_set(err, "requests: no classes"); return NULL; }
    if (!(cfg->hold_s > 0) || cfg->hold_s > 86400) { dream_err_set(err, "requests: hold time %.3g s out of range (0, 86400]", cfg->hold_s); return NULL; }
    if (cfg->min_hold_s < 0 || cfg->min_hold_s > cfg->hold_s) { dream_err_set(err, "requests: min hold %.3g s must be in [0, hold %.3g s]", cfg->min_hold_s, cfg->hold_s); return NULL; }
    if (cfg->queue_max < 1 || cfg->queue_max > 10000) { dream_err_set(err, "requests: queue size %d out of range 1..10000", cfg->queue_max); return NULL; }
    if (cfg->rate_per_min < 0 || cfg->rate_burst < 1) { dream_err_set(err, "requests: rate %.3g/min burst %d invalid", cfg->rate_per_min, cfg->rate_burst); return NULL; }
    int nclass = dream_classes_count(classes);
    if (cfg->initial_subject >= nclass) { dream_err_set(err, "requests: initial subject %d out of range 0..%d", cfg->initial_subject, nclass - 1); return NULL; }
    requests_t *q = calloc(1, sizeof *q);
    if (!q) { dream_err_set(err, "requests: out of memory"); return NULL; }
    q->cfg = *cfg;
    q->classes = classes;
    q->queue = calloc((size_t)cfg->queue_max, sizeof *q->queue);
    q->buckets = calloc(MAX_BUCKETS, sizeof *q->buckets);
    if (!q->queue || !q->buckets) { dream_err_set(err, "requests: out of memory"); requests_destroy(&q); return NULL; }
    pthread_mutex_init(&q->mu, NULL);
    q->clock = default_clock;
    q->rng = cfg->seed ? cfg->seed : (uint64_t)(dream_now_ms() * 1000.0) | 1;
    q->cur.n = 1;
    q->cur.ids[0] = cfg->initial_subject >= 0 ? cfg->initial_subject : (int)(rng_next(q) % (uint64_t)nclass);
    q->cur.votes = 0;
    q->cur_requested = 0;
    q->cur_start = now(q);
    q->serial = 1;
    q->version = 1;
    return q;
}

void requests_destroy(requests_t **pq) {
    if (!pq || !*pq) return;
    requests_t *q = *pq;
    for (int i = 0; i < q->n_ban_words; i++) free(q->ban_words[i]);
    for (int i = 0; i < q->n_ban_ips; i++) free(q->ban_ips[i]);
    if (q->queue) pthread_mutex_destroy(&q->mu);
    free(q->queue);
    free(q->buckets);
    free(q);
    *pq = NULL;
}

void requests_set_clock(requests_t *q, requests_clock_fn fn, void *ud) {
    pthread_mutex_lock(&q->mu);
    q->clock = fn ? fn : default_clock;
    q->clock_ud = fn ? ud : NULL;
    q->cur_start = now(q);
    for (int i = 0; i < q->n_buckets; i++) q->buckets[i].last = q->cur_start;
    pthread_mutex_unlock(&q->mu);
}

/* lower case, '-' '_' and whitespace runs -> one space, trimmed */
static void normalise(const char *s, char *o, size_t n) {
    size_t k = 0;
    int sp = 1;
    for (; *s && k + 1 < n; s++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*s);
        if (c == '-' || c == '_' || isspace(c)) {
            if (!sp) { o[k++] = ' '; sp = 1; }
            continue;
        }
        o[k++] = (char)c;
        sp = 0;
    }
    while (k > 0 && o[k - 1] == ' ') k--;
    o[k] = 0;
}

static int add_ban(char **list, int *n, const char *s, int lower) {
    if (*n >= MAX_BANS || !s || !*s) return -1;
    char buf[128];
    if (lower) normalise(s, buf, sizeof buf);
    else snprintf(buf, sizeof buf, "%s", s);
    if (!*buf) return -1;
    list[*n] = strdup(buf);
    if (!list[*n]) return -1;
    (*n)++;
    return 0;
}

int requests_ban_word(requests_t *q, const char *word) {
    pthread_mutex_lock(&q->mu);
    int rc = add_ban(q->ban_words, &q->n_ban_words, word, 1);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int requests_ban_ip(requests_t *q, const char *ip) {
    pthread_mutex_lock(&q->mu);
    int rc = add_ban(q->ban_ips, &q->n_ban_ips, ip, 0);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int requests_load_bans(requests_t *q, const char *path, dream_err_t *err) {
    FILE *f = fopen(path, "r");
    if (!f) return dream_err_set(err, "ban list %s: cannot open", path);
    char line[512];
    int lineno = 0, rc = 0;
    long total = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        total += (long)strlen(line);
        if (total > (long)BAN_FILE_MAX) { rc = dream_err_set(err, "ban list %s: larger than 1 MB", path); break; }
        line[strcspn(line, "\r\n")] = 0;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') continue;
        if (strncmp(p, "word ", 5) == 0) {
            if (requests_ban_word(q, p + 5) < 0) { rc = dream_err_set(err, "ban list %s:%d: empty word or too many bans", path, lineno); break; }
        } else if (strncmp(p, "ip ", 3) == 0) {
            char *ip = p + 3;
            while (isspace((unsigned char)*ip)) ip++;
            ip[strcspn(ip, " \t")] = 0;
            if (requests_ban_ip(q, ip) < 0) { rc = dream_err_set(err, "ban list %s:%d: empty address or too many bans", path, lineno); break; }
        } else {
            rc = dream_err_set(err, "ban list %s:%d: expected 'word X' or 'ip ADDRESS', got '%.40s'", path, lineno, p);
            break;
        }
    }
    fclose(f);
    return rc;
}

void requests_format(const dream_classes_t *c, const int *ids, int n, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < len; i++) {
        const char *name = dream_classes_name(c, ids[i]);
        int w = snprintf(buf + k, len - k, "%s%s", i ? " + " : "", name ? name : "?");
        if (w < 0) break;
        k += (size_t)w;
    }
}

static int same_entry(const entry_t *a, const int *ids, int n) {
    if (a->n != n) return 0;
    for (int i = 0; i < n; i++) if (a->ids[i] != ids[i]) return 0;
    return 1;
}

static double effective_hold(const requests_t *q) {
    if (q->qlen <= 1) return q->cfg.hold_s;
    double h = q->cfg.hold_s * 3.0 / (q->qlen + 2);
    return h < q->cfg.min_hold_s ? q->cfg.min_hold_s : h;
}

static void set_current(requests_t *q, const entry_t *e, int requested) {
    q->cur = *e;
    q->cur_requested = requested;
    q->cur_start = now(q);
    q->serial++;
    q->version++;
}

static void pop_front(requests_t *q) {
    entry_t e = q->queue[0];
    memmove(q->queue, q->queue + 1, (size_t)(q->qlen - 1) * sizeof *q->queue);
    q->qlen--;
    set_current(q, &e, 1);
}

/* The rate-limit key of an address: IPv4 (and IPv4-mapped IPv6) by address, IPv6 by its /64
 * (one host gets a whole /64: per-address keys would give it 2^64 buckets). */
void requests_rate_key(const char *ip, char *out, size_t n) {
    struct in6_addr a6;
    if (ip && strchr(ip, ':') && inet_pton(AF_INET6, ip, &a6) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a6.s6_addr, mapped, 12)) {
            snprintf(out, n, "%u.%u.%u.%u", a6.s6_addr[12], a6.s6_addr[13], a6.s6_addr[14], a6.s6_addr[15]);
            return;
        }
        const uint8_t *b = a6.s6_addr;
        snprintf(out, n, "%x:%x:%x:%x::/64", b[0] << 8 | b[1], b[2] << 8 | b[3], b[4] << 8 | b[5], b[6] << 8 | b[7]);
        return;
    }
    snprintf(out, n, "%s", ip ? ip : "");
}

/* Token bucket; returns 1 if a token is available (consumes it when take = 1). */
static int bucket_check(requests_t *q, const char *ip_addr, int take, double *retry) {
    if (!ip_addr || !*ip_addr || q->cfg.rate_per_min <= 0) return 1;   /* local, or no limit */
    char ip[64];
    requests_rate_key(ip_addr, ip, sizeof ip);
    double t = now(q), rate = q->cfg.rate_per_min / 60.0;
    bucket_t *b = NULL;
    for (int i = 0; i < q->n_buckets; i++)
        if (strcmp(q->buckets[i].ip, ip) == 0) { b = &q->buckets[i]; break; }
    if (!b) {
        if (q->n_buckets < MAX_BUCKETS) b = &q->buckets[q->n_buckets++];
        else {  /* evict the least recently used address */
            b = &q->buckets[0];
            for (int i = 1; i < q->n_buckets; i++) if (q->buckets[i].last < b->last) b = &q->buckets[i];
        }
        snprintf(b->ip, sizeof b->ip, "%s", ip);
        b->tokens = q->cfg.rate_burst;
        b->last = t;
    }
    b->tokens += (t - b->last) * rate;
    if (b->tokens > q->cfg.rate_burst) b->tokens = q->cfg.rate_burst;
    b->last = t;
    if (b->tokens >= 1.0) {
        if (take) b->tokens -= 1.0;
        return 1;
    }
    if (retry) *retry = (1.0 - b->tokens) / rate;
    return 0;
}

/* the playful answers, around the subject (and the position): literal formats only */
static const struct { const char *pre, *post; } k_accept_now[] = {
    {"The neurons light up: dreaming of ", " right now!"},
    {"Whoa. ", " is flooding the network's mind as we speak."},
    {"Granted! ", ", coming straight out of layer five."},
};
static const struct { const char *pre, *mid, *post; } k_accept_later[] = {
    {"Noted! The network will hallucinate ", " at position ", "."},
    {"The network squints... it will start seeing ", " everywhere soon (position ", ")."},
    {"", " queued for hallucination, position ", ". Stay trippy."},
    {"Your dream of ", " is in line at position ", ". The neurons are warming up."},
};
static const char *const k_merged = "Great minds dream alike: %.200s now has %d votes (position %d).";

static int refuse(requests_result_t *r, requests_code_t code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(requests_result_t *r, requests_code_t code, int status, const char *fmt, ...) {
    r->code = code;
    r->http_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return -1;
}

void requests_sanitise_name(const char *in, char *out, size_t n) {
    size_t k = 0;
    if (!out || n == 0) return;
    out[0] = 0;
    if (!in) return;
    while (*in == '@' || *in == ' ') in++;
    size_t cap = n - 1 < REQUESTS_MAX_NAME ? n - 1 : REQUESTS_MAX_NAME;
    for (size_t i = 0; in[i] && i < 256 && k < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        if (isalnum(c) || c == '_' || c == '-' || c == '.' || c == '[' || c == ']' || c == '|' || c == '^')
            out[k++] = (char)c;
        else if (c == ' ' && k > 0 && out[k - 1] != '_') out[k++] = '_';
    }
    while (k > 0 && out[k - 1] == '_') k--;
    out[k] = 0;
}

int requests_submit(requests_t *q, const char *text, const char *ip, requests_result_t *r) {
    return requests_submit_named(q, text, ip, NULL, r);
}

/* Refusals that need no lock: length, control characters, nothing typed. Fills norm. */
static int check_text(const char *text, char *norm, size_t n, requests_result_t *r) {
    size_t len = strnlen(text, REQUESTS_MAX_TEXT + 1);
    if (len > REQUESTS_MAX_TEXT)
        return refuse(r, REQ_INVALID, 400, "That's a long dream: keep it under %d characters.", REQUESTS_MAX_TEXT);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return refuse(r, REQ_INVALID, 400, "Control characters are not welcome in dreams.");
    normalise(text, norm, n);
    if (!*norm || strspn(norm, "+ ") == strlen(norm))
        return refuse(r, REQ_EMPTY, 400, "Type a subject, e.g. 'tree frog' or 'volcano + broccoli'.");
    return 0;
}

/* Rate limit and bans (q->mu held). Every request that gets this far costs a token, refused
 * or not (guessing names or hammering a full queue is not free). */
static int admit_locked(requests_t *q, const char *ip, const char *norm, requests_result_t *r) {
    if (!bucket_check(q, ip, 1, &r->retry_after_s))
        return refuse(r, REQ_RATE, 429, "Easy there! The network needs a moment: next request in %d s.", (int)(r->retry_after_s + 0.999));
    if (ip) for (int i = 0; i < q->n_ban_ips; i++)
        if (strcmp(q->ban_ips[i], ip) == 0) return refuse(r, REQ_BANNED, 403, "Requests from your address are not accepted.");
    for (int i = 0; i < q->n_ban_words; i++)
        if (strstr(norm, q->ban_words[i])) return refuse(r, REQ_BANNED, 403, "That subject is not allowed here.");
    return 0;
}

typedef struct resolve_ctx {
    requests_t *q;
    requests_result_t *r;
    char unknown[64];
    int n_unknown;      /* parts that name nothing: dropped when another part resolves */
} resolve_ctx_t;

/* one '+' part (dream_classes_split) -> r->ids, avoiding duplicates */
static int resolve_part(const char *part, size_t len, void *ud) {
    resolve_ctx_t *x = ud;
    requests_result_t *r = x->r;
    if (len == 0 || len > REQUESTS_MAX_TEXT) return 0;
    char t[REQUESTS_MAX_TEXT + 1];
    memcpy(t, part, len);
    t[len] = 0;
    int cand[64], by_word = 0;
    int nc = dream_classes_candidates(x->q->classes, t, cand, 64, &by_word);
    if (nc < 1) {
        if (x->n_unknown++ == 0) snprintf(x->unknown, sizeof x->unknown, "%.60s", t);
        return 0;
    }
    /* a name (or word) shared by several classes picks one at random; a class already
     * chosen in this request is avoided when another candidate exists */
    int id = cand[rng_next(x->q) % (uint64_t)nc];
    for (int tries = 0; tries < nc; tries++) {
        int dup = 0;
        for (int i = 0; i < r->n; i++) dup |= r->ids[i] == id;
        if (!dup) break;
        id = cand[(tries + 1) % nc];
    }
    int dup = 0;
    for (int i = 0; i < r->n; i++) dup |= r->ids[i] == id;
    if (!dup) r->ids[r->n++] = id;
    return 0;
}

/* The subjects of norm -> r->ids (q->mu held, for the random picks). */
static int resolve_locked(requests_t *q, const char *norm, requests_result_t *r) {
    size_t len = strlen(norm);
    if (dream_classes_count_subjects(norm, len) > DREAM_MAX_SUBJECTS)
        return refuse(r, REQ_TOO_MANY, 400, "One dream at a time! At most %d subjects joined with '+'.", DREAM_MAX_SUBJECTS);
    resolve_ctx_t x = {.q = q, .r = r};
    dream_classes_split(norm, len, resolve_part, &x);
    if (r->n == 0 && x.n_unknown > 0) {
        r->n_closest = dream_classes_suggest(q->classes, x.unknown, r->closest, 3);
        char sug[200] = "";
        requests_format(q->classes, r->closest, r->n_closest, sug, sizeof sug);
        for (char *s = sug; (s = strstr(s, " + ")) != NULL;) { s[0] = ','; memmove(s + 1, s + 2, strlen(s + 2) + 1); }
        return refuse(r, REQ_UNKNOWN, 400, "The network has never seen '%.60s'. Did you mean: %s?", x.unknown, sug);
    }
    if (r->n == 0) return refuse(r, REQ_EMPTY, 400, "Type a subject, e.g. 'tree frog' or 'volcano + broccoli'.");
    return 0;
}

/* The resolved request joins the screen or the queue, or merges with an equal one (q->mu held). */
static int enqueue_locked(requests_t *q, requests_result_t *r, const char *clean_name) {
    /* typed order is kept (no sorting): the first subject is the seed layout's lower half */
    char what[256];
    requests_format(q->classes, r->ids, r->n, what, sizeof what);

    /* merge with the current subject or a waiting one */
    int where = -1;
    if (same_entry(&q->cur, r->ids, r->n)) where = 0;
    else for (int i = 0; i < q->qlen; i++) if (same_entry(&q->queue[i], r->ids, r->n)) { where = i + 1; break; }
    if (where < 0 && q->qlen >= q->cfg.queue_max && q->cur_requested)
        return refuse(r, REQ_FULL, 503, "The queue is full (%d dreams waiting). Try again in a minute.", q->qlen);
    r->code = REQ_OK;
    r->http_status = 202;
    if (where == 0) {
        q->cur.votes++;
        if (!q->cur_requested) { q->cur_requested = 1; q->cur_start = now(q); }
        r->position = 0;
        r->votes = q->cur.votes;
        r->merged = r->votes > 1;
        snprintf(r->message, sizeof r->message, "%.200s is already on screen: the network is dreaming of it right now (your vote makes it %d).", what, r->votes);
        r->already = 1;
        q->version++;
    } else if (where > 0) {
        entry_t *e = &q->queue[where - 1];
        e->votes++;
        r->position = where;
        r->votes = e->votes;
        r->merged = 1;
        snprintf(r->message, sizeof r->message, k_merged, what, r->votes, where);
        q->version++;
    } else if (!q->cur_requested) {
        entry_t e = {.n = r->n, .votes = 1};
        memcpy(e.ids, r->ids, sizeof e.ids);
        snprintf(e.name, sizeof e.name, "%s", clean_name);
        set_current(q, &e, 1);
        r->position = 0;
        r->votes = 1;
        const int k = (int)(rng_next(q) % 3);
        snprintf(r->message, sizeof r->message, "%s%.200s%s", k_accept_now[k].pre, what, k_accept_now[k].post);
    } else {
        entry_t *e = &q->queue[q->qlen++];
        memset(e, 0, sizeof *e);
        e->n = r->n;
        e->votes = 1;
        memcpy(e->ids, r->ids, sizeof e->ids);
        snprintf(e->name, sizeof e->name, "%s", clean_name);
        r->position = q->qlen;
        r->votes = 1;
        const int k = (int)(rng_next(q) % 4);
        snprintf(r->message, sizeof r->message, "%s%.200s%s%d%s", k_accept_later[k].pre, what, k_accept_later[k].mid,
                 r->position, k_accept_later[k].post);
        q->version++;
    }
    /* capitalise the first letter of the message */
    r->message[0] = (char)toupper((unsigned char)r->message[0]);
    return 0;
}

int requests_submit_named(requests_t *q, const char *text, const char *ip, const char *name,
                          requests_result_t *r) {
    requests_result_t dummy;
    if (!r) r = &dummy;
    memset(r, 0, sizeof *r);
    char clean_name[REQUESTS_MAX_NAME + 1];
    requests_sanitise_name(name, clean_name, sizeof clean_name);
    r->position = -1;
    char norm[REQUESTS_MAX_TEXT + 1];
    if (check_text(text ? text : "", norm, sizeof norm, r) < 0) return -1;
    pthread_mutex_lock(&q->mu);
    int rc = -1;
    if (admit_locked(q, ip, norm, r) == 0 && resolve_locked(q, norm, r) == 0) rc = enqueue_locked(q, r, clean_name);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int requests_tick(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    int changed = 0;
    double t = now(q);
    if (t - q->cur_start >= effective_hold(q)) {
        if (q->qlen > 0) { pop_front(q); changed = 1; }
        else if (q->cfg.drift) {
            entry_t e = {.n = 1, .votes = 0};
            int nclass = dream_classes_count(q->classes);
            e.ids[0] = (int)(rng_next(q) % (uint64_t)nclass);
            if (nclass > 1 && e.ids[0] == q->cur.ids[0] && q->cur.n == 1) e.ids[0] = (e.ids[0] + 1) % nclass;
            set_current(q, &e, 0);
            changed = 1;
        } else {
            q->cur_start = t;   /* keep it; measure the next hold from now */
            q->cur_requested = 0;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return changed;
}

int requests_current(requests_t *q, int *ids, int max) {
    pthread_mutex_lock(&q->mu);
    int n = q->cur.n < max ? q->cur.n : max;
    for (int i = 0; i < n; i++) ids[i] = q->cur.ids[i];
    pthread_mutex_unlock(&q->mu);
    return n;
}

void requests_label(const dream_classes_t *c, const int *ids, int n, const char *name, char *buf,
                    size_t len) {
    if (!buf || len == 0) return;
    size_t k = 0;
    buf[0] = 0;
    if (name && *name) {
        int w = snprintf(buf, len, "@%s: ", name);
        k = w < 0 ? 0 : (size_t)w;
    }
    for (int i = 0; i < n && k < len; i++) {
        const char *nm = dream_classes_name(c, ids[i]);
        int w = snprintf(buf + k, len - k, "%s%s", i ? " & " : "", nm ? nm : "?");
        if (w < 0) break;
        k += (size_t)w;
    }
}

int requests_current_label(requests_t *q, char *buf, size_t len) {
    pthread_mutex_lock(&q->mu);
    requests_label(q->classes, q->cur.ids, q->cur.n, q->cur.name, buf, len);
    int n = q->cur.n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

double requests_remaining_s(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    double r = q->cur_start + effective_hold(q) - now(q);
    pthread_mutex_unlock(&q->mu);
    return r;
}

uint64_t requests_serial(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    uint64_t s = q->serial;
    pthread_mutex_unlock(&q->mu);
    return s;
}

uint64_t requests_version(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    uint64_t s = q->version;
    pthread_mutex_unlock(&q->mu);
    return s;
}

int requests_queue_len(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    int n = q->qlen;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int requests_queue_name(requests_t *q, int i, char *name, size_t n) {
    if (!name || n == 0) return -1;
    name[0] = 0;
    pthread_mutex_lock(&q->mu);
    const entry_t *e = i == -1 ? (q->cur.n > 0 ? &q->cur : NULL) : i >= 0 && i < q->qlen ? &q->queue[i] : NULL;
    if (e) snprintf(name, n, "%s", e->name);
    pthread_mutex_unlock(&q->mu);
    return e ? 0 : -1;
}

int requests_queue_get(requests_t *q, int i, int *ids, int max, int *votes) {
    pthread_mutex_lock(&q->mu);
    int n = -1;
    if (i >= 0 && i < q->qlen) {
        n = q->queue[i].n < max ? q->queue[i].n : max;
        for (int k = 0; k < n; k++) ids[k] = q->queue[i].ids[k];
        if (votes) *votes = q->queue[i].votes;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

static cJSON *entry_json(const requests_t *q, const entry_t *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(o, "ids");
    for (int i = 0; i < e->n; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(e->ids[i]));
    char what[256];
    requests_format(q->classes, e->ids, e->n, what, sizeof what);
    cJSON_AddStringToObject(o, "text", what);
    cJSON_AddNumberToObject(o, "votes", e->votes);
    if (e->name[0]) cJSON_AddStringToObject(o, "name", e->name);
    return o;
}

char *requests_state_json(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    cJSON *root = cJSON_CreateObject();
    cJSON *cur = entry_json(q, &q->cur);
    double rem = q->cur_start + effective_hold(q) - now(q);
    cJSON_AddNumberToObject(cur, "remaining_s", rem < 0 ? 0 : (double)(long)(rem + 0.5));
    cJSON_AddBoolToObject(cur, "requested", q->cur_requested);
    if (q->cur.name[0]) cJSON_AddStringToObject(cur, "name", q->cur.name);
    char label[REQUESTS_MAX_NAME + 300];
    requests_label(q->classes, q->cur.ids, q->cur.n, q->cur.name, label, sizeof label);
    cJSON_AddStringToObject(cur, "label", label);
    cJSON_AddItemToObject(root, "current", cur);
    cJSON *arr = cJSON_AddArrayToObject(root, "queue");
    for (int i = 0; i < q->qlen; i++) {
        cJSON *e = entry_json(q, &q->queue[i]);
        cJSON_AddNumberToObject(e, "position", i + 1);
        cJSON_AddItemToArray(arr, e);
    }
    pthread_mutex_unlock(&q->mu);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---------------------------------------------------------------- operator controls (dreamctl) */

int requests_skip(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    q->cur_start = now(q) - 1e9;    /* the hold is over: the next tick moves on */
    pthread_mutex_unlock(&q->mu);
    return requests_tick(q);
}

int requests_remove(requests_t *q, int position) {
    pthread_mutex_lock(&q->mu);
    int rc = -1;
    if (position >= 1 && position <= q->qlen) {
        memmove(q->queue + position - 1, q->queue + position, (size_t)(q->qlen - position) * sizeof *q->queue);
        q->qlen--;
        q->version++;
        rc = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int requests_clear(requests_t *q) {
    pthread_mutex_lock(&q->mu);
    int n = q->qlen;
    q->qlen = 0;
    q->version++;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int requests_move_to_front(requests_t *q, int position) {
    pthread_mutex_lock(&q->mu);
    int rc = -1;
    if (position >= 1 && position <= q->qlen) {
        entry_t e = q->queue[position - 1];
        memmove(q->queue + 1, q->queue, (size_t)(position - 1) * sizeof *q->queue);
        q->queue[0] = e;
        q->version++;
        rc = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static int del_ban(char **list, int *n, const char *s, int lower) {
    char buf[128];
    if (lower) normalise(s, buf, sizeof buf);
    else snprintf(buf, sizeof buf, "%s", s);
    int removed = 0;
    for (int i = 0; i < *n;)
        if (!strcmp(list[i], buf)) {
            free(list[i]);
            list[i] = list[--*n];
            removed++;
        } else i++;
    return removed;
}

int requests_unban_word(requests_t *q, const char *word) {
    pthread_mutex_lock(&q->mu);
    int rc = del_ban(q->ban_words, &q->n_ban_words, word, 1);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int requests_unban_ip(requests_t *q, const char *ip) {
    pthread_mutex_lock(&q->mu);
    int rc = del_ban(q->ban_ips, &q->n_ban_ips, ip, 0);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int requests_bans_text(requests_t *q, int words, int ips, char *buf, size_t n) {
    pthread_mutex_lock(&q->mu);
    size_t len = 0;
    int count = 0;
    if (n) buf[0] = 0;
    for (int k = 0; k < 2; k++) {
        if ((k == 0 && !words) || (k == 1 && !ips)) continue;
        char **list = k ? q->ban_ips : q->ban_words;
        int m = k ? q->n_ban_ips : q->n_ban_words;
        for (int i = 0; i < m; i++) {
            count++;
            if (len < n) {
                int w = snprintf(buf + len, n - len, "%s %s\n", k ? "ip" : "word", list[i]);
                if (w > 0) len += (size_t)w;
            }
        }
    }
    pthread_mutex_unlock(&q->mu);
    return count;
}

int requests_set_live(requests_t *q, double hold_s, double min_hold_s, double rate_per_min, int rate_burst,
                      int drift, dream_err_t *err) {
    if (!(hold_s > 0) || hold_s > 86400) return dream_err_set(err, "requests: hold time %.3g s out of range (0, 86400]", hold_s);
    if (min_hold_s < 0 || min_hold_s > hold_s)
        return dream_err_set(err, "requests: min hold %.3g s must be in [0, hold %.3g s]", min_hold_s, hold_s);
    if (rate_per_min < 0 || rate_burst < 1) return dream_err_set(err, "requests: rate %.3g/min burst %d invalid", rate_per_min, rate_burst);
    pthread_mutex_lock(&q->mu);
    q->cfg.hold_s = hold_s;
    q->cfg.min_hold_s = min_hold_s;
    q->cfg.rate_per_min = rate_per_min;
    q->cfg.rate_burst = rate_burst;
    q->cfg.drift = drift;
    q->version++;
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int requests_export(requests_t *q, requests_snapshot_t *out) {
    pthread_mutex_lock(&q->mu);
    memset(out, 0, sizeof *out);
    out->cur_n = q->cur.n;
    memcpy(out->cur_ids, q->cur.ids, sizeof out->cur_ids);
    out->cur_votes = q->cur.votes;
    out->cur_requested = q->cur_requested;
    memcpy(out->cur_name, q->cur.name, sizeof out->cur_name);
    double rem = q->cur_start + effective_hold(q) - now(q);
    out->cur_remaining_s = rem < 0 ? 0 : rem;
    out->n = q->qlen < REQUESTS_SNAPSHOT_MAX ? q->qlen : REQUESTS_SNAPSHOT_MAX;
    for (int i = 0; i < out->n; i++) {
        out->q[i].n = q->queue[i].n;
        out->q[i].votes = q->queue[i].votes;
        memcpy(out->q[i].ids, q->queue[i].ids, sizeof out->q[i].ids);
        memcpy(out->q[i].name, q->queue[i].name, sizeof out->q[i].name);
    }
    out->version = q->version;
    pthread_mutex_unlock(&q->mu);
    return out->n;
}

int requests_import(requests_t *q, const requests_snapshot_t *in) {
    int nclass = dream_classes_count(q->classes);
    pthread_mutex_lock(&q->mu);
    int ok = 0;
    if (in->cur_n >= 1 && in->cur_n <= DREAM_MAX_SUBJECTS) {
        entry_t e = {.n = in->cur_n, .votes = in->cur_votes};
        requests_sanitise_name(in->cur_name, e.name, sizeof e.name);
        int good = 1;
        for (int i = 0; i < in->cur_n; i++) good &= in->cur_ids[i] >= 0 && in->cur_ids[i] < nclass;
        if (good) {
            memcpy(e.ids, in->cur_ids, sizeof e.ids);
            set_current(q, &e, in->cur_requested);
            ok = -1;    /* marks: set the start below, once the queue (and so the hold) is back */
        }
    }
    int cur_set = ok == -1;
    ok = 0;
    q->qlen = 0;
    for (int i = 0; i < in->n && q->qlen < q->cfg.queue_max; i++) {
        const requests_snapshot_entry_t *s = &in->q[i];
        if (s->n < 1 || s->n > DREAM_MAX_SUBJECTS) continue;
        int good = 1;
        for (int k = 0; k < s->n; k++) good &= s->ids[k] >= 0 && s->ids[k] < nclass;
        if (!good) continue;
        entry_t *e = &q->queue[q->qlen++];
        memset(e, 0, sizeof *e);
        e->n = s->n;
        e->votes = s->votes;
        memcpy(e->ids, s->ids, sizeof e->ids);
        requests_sanitise_name(s->name, e->name, sizeof e->name);
        ok++;
    }
    if (cur_set) {   /* the hold left at the save: it started (hold - remaining) ago */
        double rem = in->cur_remaining_s > 0 ? in->cur_remaining_s : 0;
        q->cur_start = now(q) - (effective_hold(q) - rem);
    }
    q->version++;
    pthread_mutex_unlock(&q->mu);
    return ok;
}
