/*
 * requests.h — what viewers ask the network to dream of.
 *
 * A request is text like "tree frog" or "volcano + broccoli" (up to 4 subjects joined with
 * '+'), resolved to ImageNet class ids through common/classes.h, as the 2015 stream did: a
 * whole class name first, else single words of class names ("frog" -> one of the frog classes);
 * a name several classes share picks one at random (seeded); parts that name nothing are
 * dropped when another part resolves. Typed order is kept end to end (ids[0] = the first
 * subject typed = the lower half of the engine's seed layout). The current subject holds
 * the screen for hold_s seconds (shorter when many requests wait, never below min_hold_s),
 * then the oldest waiting request takes over. With nothing waiting the current subject stays
 * (default), or (drift = 1) a random class takes over after each hold. A subject nobody asked for
 * (drift / initial) gives way at once to the first request.
 *
 * Queue rules: identical requests (same subjects, same order) merge (votes); a request for
 * what is on screen is answered as such and not queued; per-IP token-bucket rate limit; banned words
 * and IPs; bounded queue and text length. Every refusal has a clear message; every accepted
 * request gets a playful confirmation. Thread-safe (one internal mutex). The clock is
 * injectable for tests.
 */
#ifndef DREAM_REQUESTS_H
#define DREAM_REQUESTS_H
#include <stdint.h>
#include "config.h"
#include "dlog.h"
#include "classes.h"

#define REQUESTS_MAX_SUBJECTS DREAM_MAX_SUBJECTS   /* common/classes.h */
#define REQUESTS_MAX_TEXT 200
#define REQUESTS_MAX_CLOSEST 5
#define REQUESTS_MAX_NAME 24       /* bytes of a requester's name (web form name / IRC nick) */

/* Defaults: requests_cfg_opts (below), the one place they are written. */
typedef struct requests_config {
    double hold_s;              /* how long a request holds the screen */
    double min_hold_s;          /* shortest hold when the queue is long (<= hold_s) */
    int queue_max;              /* pending requests */
    double rate_per_min;        /* per key (IP) token bucket; 0 = no limit */
    int rate_burst;             /* bucket size */
    int drift;                  /* 1 = drift to a random class after a hold with an empty queue */
    int initial_subject;        /* not an option: -1 = random (default) */
    uint64_t seed;              /* not an option: 0 = from the clock */
} requests_config_t;

/* The queue's settings table (hold-s, min-hold-s, queue-max, rate-per-min, rate-burst, drift):
 * dreamd's options through the stream's table (server/stream.h). */
extern const cfg_opt_t requests_cfg_opts[];

typedef enum {
    REQ_OK = 0,
    REQ_EMPTY,                  /* 400 */
    REQ_INVALID,                /* 400: too long, control characters */
    REQ_UNKNOWN,                /* 400: unknown word (closest[] filled) */
    REQ_TOO_MANY,               /* 400: more than 4 subjects */
    REQ_BANNED,                 /* 403: banned word or address */
    REQ_RATE,                   /* 429 */
    REQ_FULL,                   /* 503 */
} requests_code_t;

typedef struct requests_result {
    requests_code_t code;
    int http_status;            /* 202 accepted, else 400/403/429/503 */
    int position;               /* 0 = on screen now, 1 = next, ... */
    int merged;                 /* joined an identical request (votes > 1) */
    int already;                /* it was already on screen: answered as such, not queued */
    int votes;
    int ids[DREAM_MAX_SUBJECTS];
    int n;
    int closest[REQUESTS_MAX_CLOSEST];
    int n_closest;
    double retry_after_s;       /* REQ_RATE: seconds until the next token */
    char message[320];          /* playful confirmation or the refusal, for people */
} requests_result_t;

typedef double (*requests_clock_fn)(void *ud);
typedef struct requests requests_t;

void requests_config_defaults(requests_config_t *cfg);   /* = cfg_defaults(requests_cfg_opts) */
/* classes is borrowed and must outlive the queue. */
requests_t *requests_new(const requests_config_t *cfg, const dream_classes_t *classes, dream_err_t *err);
void requests_destroy(requests_t **q);
/* Replaces the clock (seconds, monotonic); NULL restores dream_now_s. Resets the current hold. */
void requests_set_clock(requests_t *q, requests_clock_fn fn, void *ud);

/* Bans (case-insensitive substring of the normalised request; exact address). 0 or -1 if full. */
int requests_ban_word(requests_t *q, const char *word);
int requests_ban_ip(requests_t *q, const char *ip);
/* File lines: "word X", "ip A.B.C.D", blank or "# comment". Bounded: 1 MB, 1000 entries. */
int requests_load_bans(requests_t *q, const char *path, dream_err_t *err);

/* Submits text from ip (NULL = local). Returns 0 accepted (res->code REQ_OK) or -1 refused. */
int requests_submit(requests_t *q, const char *text, const char *ip, requests_result_t *res);

/* The same with the requester's name (NULL or "" = anonymous): sanitised with
 * requests_sanitise_name, kept with the entry and shown in the overlay label. */
int requests_submit_named(requests_t *q, const char *text, const char *ip, const char *name,
                          requests_result_t *res);
/* Keeps [A-Za-z0-9_-.[]|^], spaces become '_', a leading '@' is dropped, at most
 * REQUESTS_MAX_NAME bytes (and n - 1). */
void requests_sanitise_name(const char *in, char *out, size_t n);
/* The overlay text: "@name: term" / "term1 & term2" (no name: just the terms). */
void requests_label(const dream_classes_t *c, const int *ids, int n, const char *name, char *buf,
                    size_t len);
/* The current subject's label (as above), into buf; returns the subject count. */
int requests_current_label(requests_t *q, char *buf, size_t len);

/* Advances by the clock; returns 1 if the current subject changed. */
int requests_tick(requests_t *q);
/* Current subject ids (no tick); returns count (>= 1). */
int requests_current(requests_t *q, int *ids, int max);
/* Seconds left for the current subject (can be < 0 if overdue and nothing ticked). */
double requests_remaining_s(requests_t *q);
uint64_t requests_serial(requests_t *q);     /* bumps on every change of the current subject */
uint64_t requests_version(requests_t *q);    /* bumps on every change of current or queue */
int requests_queue_len(requests_t *q);
/* Queue entry i (0 = next): fills ids, returns count or -1 if out of range. */
int requests_queue_get(requests_t *q, int i, int *ids, int max, int *votes);
/* Who asked for queue entry i (0-based; -1 = the current subject) first, into name ("" =
 * anonymous); returns -1 if there is no such entry. */
int requests_queue_name(requests_t *q, int i, char *name, size_t n);

/* "tree frog + volcano" for ids (class first names), into buf. */
void requests_format(const dream_classes_t *c, const int *ids, int n, char *buf, size_t len);
/* JSON text of the state (malloc'd, caller frees):
 *   {"current":{"ids":[..],"text":"..","remaining_s":..,"requested":true},
 *    "queue":[{"position":1,"ids":[..],"text":"..","votes":1},..]} */
char *requests_state_json(requests_t *q);

/* Operator controls (dreamctl). skip: the current subject gives way now (returns 1 if it
 * changed); remove/move_to_front: queue position 1..len (0, or -1 if out of range);
 * clear: returns how many were dropped. */
int requests_skip(requests_t *q);
int requests_remove(requests_t *q, int position);
int requests_move_to_front(requests_t *q, int position);
int requests_clear(requests_t *q);
/* Returns how many bans were removed (0 = none matched). */
int requests_unban_word(requests_t *q, const char *word);
int requests_unban_ip(requests_t *q, const char *ip);
/* "word X\n" / "ip A\n" lines into buf; returns the count. */
int requests_bans_text(requests_t *q, int words, int ips, char *buf, size_t n);
/* Live settings: hold times, rate limit, drift (same checks as requests_new). */
int requests_set_live(requests_t *q, double hold_s, double min_hold_s, double rate_per_min, int rate_burst,
                      int drift, dream_err_t *err);

/* The queue as plain data, for durable state (server/state.h). */
#define REQUESTS_SNAPSHOT_MAX 10000
typedef struct requests_snapshot_entry {
    int ids[DREAM_MAX_SUBJECTS];
    int n, votes;
    char name[REQUESTS_MAX_NAME + 1];   /* who asked first ("" = anonymous) */
} requests_snapshot_entry_t;
typedef struct requests_snapshot {
    int cur_ids[DREAM_MAX_SUBJECTS];
    int cur_n, cur_votes, cur_requested;
    char cur_name[REQUESTS_MAX_NAME + 1];
    double cur_remaining_s;
    int n;
    requests_snapshot_entry_t q[REQUESTS_SNAPSHOT_MAX];
    uint64_t version;
} requests_snapshot_t;
int requests_export(requests_t *q, requests_snapshot_t *out);
/* Restores current (with its remaining hold) and the queue; bad entries are skipped.
 * Returns the number of queue entries restored. */
int requests_import(requests_t *q, const requests_snapshot_t *in);
/* The key viewers are rate-limited by: IPv4 address, IPv6 /64 ("2001:db8:1:2::/64"). */
void requests_rate_key(const char *ip, char *out, size_t n);

#endif
