/*
 * admin.c — the operator's commands (one table; see admin.h), the admin socket's access
 * rules (ipc 0600 / loopback / CURVE with admin and read-only key lists), and the durable
 * operator state: queue, current subject + remaining hold, bans, live config, pause, canvas.
 *
 * Shape: admin_run(line) -> longest table match on the leading words -> handler(ctx, args);
 *        handlers reply through out()/fail() into the reply buffer.
 */
#define _GNU_SOURCE
#include "admin.h"
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zmq.h>
#include "classes.h"
#include "config.h"
#include "frameclock.h"
#include "metrics.h"
#include "requests.h"
#include "state.h"
#include "stream.h"
#include "wire.h"
#include "zap.h"

#define MOD "admin"
#define CANVAS_EVERY_KF 3       /* save the canvas at most every this many keyframes */
#define CANVAS_MIN_S 5.0        /* ... and at most every this many seconds (and on pause) */

typedef struct actx {
    coord_t *c;
    char *r;
    size_t n, len;
} actx_t;

static int out(actx_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int out(actx_t *a, const char *fmt, ...) {
    if (a->len >= a->n) return 0;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(a->r + a->len, a->n - a->len, fmt, ap);
    va_end(ap);
    if (w > 0) a->len = a->len + (size_t)w < a->n ? a->len + (size_t)w : a->n - 1;
    return 0;
}

/* replaces the reply with one "ERR ..." line */
static int fail(actx_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(actx_t *a, const char *fmt, ...) {
    int w = snprintf(a->r, a->n, "ERR ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->r + w, a->n - (size_t)w, fmt, ap);
    va_end(ap);
    for (char *p = a->r; *p; p++) if (*p == '\n' || *p == '\r') *p = ' ';
    a->len = strlen(a->r);
    if (a->len + 1 < a->n) { a->r[a->len++] = '\n'; a->r[a->len] = 0; }
    return -1;
}

/* A log value: bare when safe, else "quoted" with \\ \" and \xNN escapes (operator- and
 * peer-supplied text must not forge log fields or lines). A small static helper until
 * common/dlog.c has a shared one. */
static const char *kv(const char *in, char *out, size_t n) {
    int bare = *in != 0;
    for (const char *p = in; *p && bare; p++)
        bare = (unsigned char)*p > 0x20 && *p != '"' && *p != '=' && *p != '\\' && (unsigned char)*p < 0x7f;
    size_t k = 0;
    if (!bare && k + 1 < n) out[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)in; *p && k + 5 < n; p++) {
        if (bare) out[k++] = (char)*p;
        else if (*p == '"' || *p == '\\') { out[k++] = '\\'; out[k++] = (char)*p; }
        else if (*p < 0x20 || *p == 0x7f) k += (size_t)snprintf(out + k, n - k, "\\x%02x", *p);
        else out[k++] = (char)*p;
    }
    if (!bare && k + 1 < n) out[k++] = '"';
    out[k < n ? k : n - 1] = 0;
    return out;
}

typedef int (*admin_fn)(actx_t *a, const char *arg);

typedef struct admin_cmd {
    const char *name;       /* one or more words: "queue push" */
    const char *args;       /* usage of the arguments, "" = none */
    int readonly;           /* 1 = allowed to read-only keys */
    int hidden;             /* not listed by `help` (aliases, machine use) */
    admin_fn fn;
    const char *help;
} admin_cmd_t;

/* ---------- helpers ---------- */

static struct requests *need_queue(actx_t *a) {
    stream_t *s = coord_stream(a->c);
    if (!s || !stream_requests(s)) {
        fail(a, "no viewers' queue: dreamd runs without the live page (--http-port 0)");
        return NULL;
    }
    return stream_requests(s);
}

static const dream_classes_t *classes_of(actx_t *a) {
    stream_t *s = coord_stream(a->c);
    return s ? stream_classes(s) : NULL;
}

static void strip_quotes(const char *in, char *o, size_t n) {
    snprintf(o, n, "%s", in);
    size_t l = strlen(o);
    while (l && isspace((unsigned char)o[l - 1])) o[--l] = 0;
    if (l >= 2 && ((o[0] == '"' && o[l - 1] == '"') || (o[0] == '\'' && o[l - 1] == '\''))) {
        o[l - 1] = 0;
        memmove(o, o + 1, l - 1);
    }
}

static int parse_pos(const char *s, int *v) {
    char *end = NULL;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < 1 || x > 1000000) return -1;
    *v = (int)x;
    return 0;
}

/* durable state: the queue snapshot and settings are saved by admin_tick; these mark them */
static struct {
    coord_t *owner;
    int restored;
    uint64_t saved_version;
    double saved_at, metrics_at, canvas_at;
    unsigned long long canvas_kf;
} g_st;

static void save_queue(coord_t *c, struct requests *q);
/* an admin change of the queue is saved before the reply acknowledges it */
static void queue_changed(actx_t *a) {
    stream_t *s = coord_stream(a->c);
    if (s && stream_requests(s)) save_queue(a->c, stream_requests(s));
}

/* ---------- status / workers ---------- */

static const char *const k_sections[] = {"server", "workers", "keyframes", "timing", "stream", NULL};

static void stream_section(actx_t *a) {
    stream_t *s = coord_stream(a->c);
    out(a, "# Stream\n");
    if (!s) { out(a, "live_page:off\n"); return; }
    stream_stats_t ss;
    stream_get_stats(s, &ss);
    char rec[512];
    int recording = stream_recording(s, rec, sizeof rec);
    struct requests *q = stream_requests(s);
    out(a, "live_page:on\nport:%d\nviewers:%d\nviewers_total:%llu\nframes_encoded:%llu\nframes_dropped:%llu\n"
           "bytes_sent:%llu\nencode_ms_avg:%.2f\nbitrate_kbps:%d\nencoder_speed:%d\nrequests_accepted:%llu\n"
           "requests_refused:%llu\nqueue_length:%d\nhold_remaining_s:%.1f\nrecording:%s\n",
        stream_port(s), ss.viewers, (unsigned long long)ss.viewers_total, (unsigned long long)ss.frames_encoded,
        (unsigned long long)ss.frames_dropped, (unsigned long long)ss.bytes_sent, ss.encode_ms_avg,
        coord_config(a->c)->stream.enc.bitrate_kbps, coord_config(a->c)->stream.enc.cpu_used,
        (unsigned long long)ss.requests_accepted, (unsigned long long)ss.requests_refused,
        q ? requests_queue_len(q) : 0, q ? requests_remaining_s(q) : 0.0, recording ? rec : "off");
}

static int h_status(actx_t *a, const char *arg) {
    char *buf = malloc(a->n);
    if (!buf) return fail(a, "out of memory");
    coord_status_text(a->c, buf, a->n);
    if (!*arg) {
        out(a, "%s", buf);
        stream_section(a);
        free(buf);
        return 0;
    }
    int known = 0;
    for (int i = 0; k_sections[i]; i++) known |= !strcasecmp(arg, k_sections[i]);
    if (!known) {
        free(buf);
        return fail(a, "status: unknown section '%.60s' (server, workers, keyframes, timing, stream)", arg);
    }
    if (!strcasecmp(arg, "stream")) stream_section(a);
    else {
        /* the "# Name" block of the status text */
        int on = 0;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            if (line[0] == '#') on = !strcasecmp(line + 2, arg);
            if (on) out(a, "%s\n", line);
        }
    }
    free(buf);
    return 0;
}

static int h_workers(actx_t *a, const char *arg) {
    a->len = coord_workers_text(a->c, a->r, a->n);
    return 0;
}

static int worker_op(actx_t *a, const char *op, const char *arg) {
    if (!*arg) return fail(a, "usage: worker %s NAME", op);
    int rc = coord_worker_ctl(a->c, op, arg, a->r, a->n);
    a->len = strlen(a->r);
    char ev[300];
    if (rc == 0) dlog_info(MOD, "event=worker_%s worker=%s source=operator", op, kv(arg, ev, sizeof ev));
    return rc;
}
static int h_drain(actx_t *a, const char *arg) { return worker_op(a, "drain", arg); }
static int h_kick(actx_t *a, const char *arg) { return worker_op(a, "kick", arg); }
static int h_release(actx_t *a, const char *arg) { return worker_op(a, "release", arg); }

/* ---------- queue / subject ---------- */

static int h_queue(actx_t *a, const char *arg) {
    if (*arg) return fail(a, "queue: unknown subcommand '%.60s' (queue, queue push TEXT, queue skip, queue remove N, queue clear)", arg);
    struct requests *q = need_queue(a);
    if (!q) return -1;
    const dream_classes_t *cl = classes_of(a);
    int ids[DREAM_MAX_SUBJECTS], votes = 0;
    char what[256];
    int n = requests_current(q, ids, DREAM_MAX_SUBJECTS);
    requests_format(cl, ids, n, what, sizeof what);
    char who[REQUESTS_MAX_NAME + 1];
    out(a, "# Queue\ncurrent:%s\n", what);
    if (requests_queue_name(q, -1, who, sizeof who) == 0 && who[0]) out(a, "current_by:%s\n", who);
    out(a, "remaining_s:%.0f\nlength:%d\n", requests_remaining_s(q), requests_queue_len(q));
    for (int i = 0;; i++) {
        n = requests_queue_get(q, i, ids, DREAM_MAX_SUBJECTS, &votes);
        if (n < 0) break;
        requests_format(cl, ids, n, what, sizeof what);
        requests_queue_name(q, i, who, sizeof who);
        out(a, "%d:%s votes=%d%s%s\n", i + 1, what, votes, who[0] ? " by=" : "", who);
    }
    return 0;
}

static int h_queue_push(actx_t *a, const char *arg) {
    if (!need_queue(a)) return -1;
    char text[256];
    strip_quotes(arg, text, sizeof text);
    if (!*text) return fail(a, "usage: queue push TEXT (e.g. queue push tree frog + volcano)");
    dream_err_t err = {{0}};
    int pos = stream_request(coord_stream(a->c), text, "admin", &err);
    if (pos < 0) return fail(a, "queue push '%.80s': %s", text, err.msg);
    queue_changed(a);
    return out(a, "OK queued \"%s\" at position %d%s\n", text, pos, pos == 0 ? " (now)" : "");
}

static int h_queue_skip(actx_t *a, const char *arg) {
    struct requests *q = need_queue(a);
    if (!q) return -1;
    requests_skip(q);
    queue_changed(a);
    int ids[DREAM_MAX_SUBJECTS];
    char what[256];
    int n = requests_current(q, ids, DREAM_MAX_SUBJECTS);
    requests_format(classes_of(a), ids, n, what, sizeof what);
    return out(a, "OK now dreaming of %s\n", what);
}

static int h_queue_remove(actx_t *a, const char *arg) {
    struct requests *q = need_queue(a);
    if (!q) return -1;
    int pos;
    if (parse_pos(arg, &pos) != 0) return fail(a, "queue remove: '%.40s' is not a position (1..%d)", arg, requests_queue_len(q));
    if (requests_remove(q, pos) != 0)
        return fail(a, "queue remove: no entry at position %d (the queue holds %d)", pos, requests_queue_len(q));
    queue_changed(a);
    return out(a, "OK removed position %d\n", pos);
}

static int h_queue_clear(actx_t *a, const char *arg) {
    struct requests *q = need_queue(a);
    if (!q) return -1;
    int n = requests_clear(q);
    queue_changed(a);
    return out(a, "OK cleared %d waiting requests\n", n);
}

static int h_subject(actx_t *a, const char *arg) {
    char text[256];
    strip_quotes(arg, text, sizeof text);
    if (!*text) return fail(a, "usage: subject TEXT (e.g. subject tree frog + volcano)");
    dream_err_t err = {{0}};
    stream_t *s = coord_stream(a->c);
    if (s) {    /* through the viewers' queue, so the page shows it too: first in line, then now */
        struct requests *q = stream_requests(s);
        int pos = stream_request(s, text, "admin", &err);
        if (pos < 0) return fail(a, "subject '%.80s': %s", text, err.msg);
        if (pos > 0) {
            requests_move_to_front(q, pos);
            requests_skip(q);
        }
        queue_changed(a);
        int ids[DREAM_MAX_SUBJECTS];
        char what[256];
        int n = requests_current(q, ids, DREAM_MAX_SUBJECTS);
        requests_format(stream_classes(s), ids, n, what, sizeof what);
        return out(a, "OK subjects now: %s\n", what);
    }
    if (coord_set_subjects(a->c, text, "admin", &err) != 0) return fail(a, "subject '%.80s': %s", text, err.msg);
    return out(a, "OK subjects now: %s\n", coord_subjects_text(a->c));
}

/* ---------- pause ---------- */

static void save_canvas(coord_t *c);

static int h_pause(actx_t *a, const char *arg) {
    if (coord_paused(a->c)) return out(a, "OK already paused\n");
    coord_set_paused(a->c, 1);
    save_canvas(a->c);      /* the picture that stays up is the one a restart brings back */
    g_st.canvas_at = dream_now_ms();
    dream_state_kv_set(coord_state(a->c), "paused", "1", 1);
    dlog_info(MOD, "event=pause source=operator");
    return out(a, "OK paused: no new keyframes; the stream keeps showing the last frames\n");
}

static int h_resume(actx_t *a, const char *arg) {
    if (!coord_paused(a->c)) return out(a, "OK not paused\n");
    coord_set_paused(a->c, 0);
    dream_state_kv_del(coord_state(a->c), "paused");
    dlog_info(MOD, "event=resume source=operator");
    return out(a, "OK resumed\n");
}

/* ---------- config ---------- */

/* keys that change a running dreamd; everything else needs a restart */
static const char *const k_live[] = {
    "steps", "lr", "mean-weight", "prior-strength", "jitter", "zoom-per-sec", "rotate-deg-per-sec",
    "max-keyframe-dt", "layout", "seam-jitter", "job-overhead-ms", "deadline-factor", "deadline-min-ms",
    "max-failures", "log-level", "hold-s", "min-hold-s", "rate-per-min", "rate-burst", "drift",
    "bitrate-kbps", "encoder-speed", NULL};

static const cfg_opt_t *live_opt(const char *key) {
    const cfg_opt_t *o = cfg_find(coord_cfg_opts, key);
    if (!o) return NULL;
    for (int i = 0; k_live[i]; i++)
        if (!strcmp(o->name, k_live[i])) return o;
    return NULL;
}

static void live_list(char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; k_live[i] && len < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", k_live[i]);
        if (w > 0) len += (size_t)w;
    }
}

/* validates through the config table, applies live, persists (save = 1); 0 or -1 + err */
static int config_apply(coord_t *c, const char *key, const char *value, int save, dream_err_t *err) {
    const cfg_opt_t *o = cfg_find(coord_cfg_opts, key);
    if (!o) return dream_err_set(err, "unknown key '%.60s' (see `config` for the keys)", key);
    if (!live_opt(key)) {
        char live[512];
        live_list(live, sizeof live);
        return dream_err_set(err, "%s: restart needed (not a live setting; live: %s)", o->name, live);
    }
    coord_cfg_t *cfg = coord_config(c);
    coord_cfg_t tmp = *cfg;
    if (cfg_set(coord_cfg_opts, &tmp, o->name, value, err) != 0) return -1;
    const char *k = o->name;
    stream_t *s = coord_stream(c);
    if (!strcmp(k, "layout")) {
        if (coord_apply_layout(c, tmp.layout, err) != 0) return -1;
    } else if (!strcmp(k, "log-level")) {
        dlog_level_t lvl;
        if (dlog_parse_level(tmp.log_level, &lvl))
            return dream_err_set(err, "option 'log-level': '%s' is not a level (debug, info, warn, error)", value);
        dlog_set_level(lvl);
    } else if (!strcmp(k, "hold-s") || !strcmp(k, "min-hold-s") || !strcmp(k, "rate-per-min") ||
               !strcmp(k, "rate-burst") || !strcmp(k, "drift")) {
        if (tmp.stream.req.min_hold_s > tmp.stream.req.hold_s)
            return dream_err_set(err, "option '%s': min-hold-s %g must not exceed hold-s %g", k, tmp.stream.req.min_hold_s, tmp.stream.req.hold_s);
        if (s && requests_set_live(stream_requests(s), tmp.stream.req.hold_s, tmp.stream.req.min_hold_s, tmp.stream.req.rate_per_min, tmp.stream.req.rate_burst,
                                   tmp.stream.req.drift, err) != 0)
            return -1;
    } else if (!strcmp(k, "bitrate-kbps") || !strcmp(k, "encoder-speed")) {
        if (s && stream_set_encoder(s, tmp.stream.enc.bitrate_kbps, tmp.stream.enc.cpu_used, err) != 0) return -1;
    }
    *cfg = tmp;
    if (save) {
        char skey[96], v[512];
        snprintf(skey, sizeof skey, "config:%s", k);
        cfg_format(coord_cfg_opts, cfg, k, v, sizeof v);
        dream_state_kv_set(coord_state(c), skey, v, strlen(v));
    }
    return 0;
}

static int h_config(actx_t *a, const char *arg) {
    if (*arg) return fail(a, "config: unknown subcommand '%.60s' (config, config get KEY, config set KEY VALUE)", arg);
    a->len = cfg_info(coord_cfg_opts, coord_config(a->c), a->r, a->n);
    return 0;
}

static int h_config_get(actx_t *a, const char *arg) {
    const cfg_opt_t *o = *arg ? cfg_find(coord_cfg_opts, arg) : NULL;
    if (!o) return fail(a, "config get: unknown key '%.60s' (see `config` for the keys)", arg);
    char v[600];
    cfg_format(coord_cfg_opts, coord_config(a->c), o->name, v, sizeof v);
    return out(a, "%s:%s\n", o->name, v);
}

static int h_config_set(actx_t *a, const char *arg) {
    char key[64] = "", value[512];
    size_t kl = strcspn(arg, " \t");
    if (!*arg || kl >= sizeof key) return fail(a, "usage: config set KEY VALUE");
    memcpy(key, arg, kl);
    key[kl] = 0;
    const char *v = arg + kl;
    while (*v == ' ' || *v == '\t') v++;
    strip_quotes(v, value, sizeof value);
    if (!*v) return fail(a, "config set %s: a value is needed (config set KEY VALUE)", key);
    dream_err_t err = {{0}};
    if (config_apply(a->c, key, value, 1, &err) != 0) return fail(a, "config set %s '%.80s': %s", key, value, err.msg);
    char now[600];
    cfg_format(coord_cfg_opts, coord_config(a->c), key, now, sizeof now);
    char ev[700];
    dlog_info(MOD, "event=config_set key=%s value=%s source=operator", cfg_find(coord_cfg_opts, key)->name, kv(now, ev, sizeof ev));
    return out(a, "OK %s:%s\n", cfg_find(coord_cfg_opts, key)->name, now);
}

/* ---------- bans ---------- */

static int ban_op(actx_t *a, int ip, int add, const char *arg) {
    struct requests *q = need_queue(a);
    if (!q) return -1;
    char v[128];
    strip_quotes(arg, v, sizeof v);
    const char *kind = ip ? "ip" : "word";
    if (!*v) return fail(a, "usage: ban %s %s %s", kind, add ? "add" : "remove", ip ? "ADDRESS" : "WORD");
    if (ip && strspn(v, "0123456789abcdefABCDEF.:") != strlen(v))
        return fail(a, "ban ip: '%.60s' is not an IPv4 or IPv6 address", v);
    const char *set = ip ? "ban_ip" : "ban_word";
    if (add) {
        if (ip) requests_unban_ip(q, v);   /* no duplicates: add = remove + add */
        else requests_unban_word(q, v);
        if ((ip ? requests_ban_ip(q, v) : requests_ban_word(q, v)) != 0) return fail(a, "ban %s add: too many bans (1000)", kind);
        dream_state_set_add(coord_state(a->c), set, v);
        char ev[300];
        dlog_info(MOD, "event=ban_add kind=%s value=%s source=operator", kind, kv(v, ev, sizeof ev));
        return out(a, "OK banned %s '%s'\n", kind, v);
    }
    int n = ip ? requests_unban_ip(q, v) : requests_unban_word(q, v);
    dream_state_set_remove(coord_state(a->c), set, v);
    if (n <= 0) return fail(a, "ban %s remove: '%.60s' is not banned", kind, v);
    char ev[300];
    dlog_info(MOD, "event=ban_remove kind=%s value=%s source=operator", kind, kv(v, ev, sizeof ev));
    return out(a, "OK unbanned %s '%s'\n", kind, v);
}
static int h_ban_word_add(actx_t *a, const char *arg) { return ban_op(a, 0, 1, arg); }
static int h_ban_word_remove(actx_t *a, const char *arg) { return ban_op(a, 0, 0, arg); }
static int h_ban_ip_add(actx_t *a, const char *arg) { return ban_op(a, 1, 1, arg); }
static int h_ban_ip_remove(actx_t *a, const char *arg) { return ban_op(a, 1, 0, arg); }
static int ban_list(actx_t *a, int words, int ips) {
    struct requests *q = need_queue(a);
    if (!q) return -1;
    char *buf = malloc(128 * 1024);
    if (!buf) return fail(a, "out of memory");
    int n = requests_bans_text(q, words, ips, buf, 128 * 1024);
    out(a, "# Bans\ncount:%d\n%s", n, buf);
    free(buf);
    return 0;
}
static int h_ban_list(actx_t *a, const char *arg) { return ban_list(a, 1, 1); }
static int h_ban_word_list(actx_t *a, const char *arg) { return ban_list(a, 1, 0); }
static int h_ban_ip_list(actx_t *a, const char *arg) { return ban_list(a, 0, 1); }

/* ---------- snapshot / record / log / shutdown ---------- */

static int h_snapshot(actx_t *a, const char *arg) {
    char path[512];
    strip_quotes(arg, path, sizeof path);
    size_t l = strlen(path);
    if (!l || !(l > 4 && (!strcasecmp(path + l - 4, ".png") || !strcasecmp(path + l - 4, ".jpg") ||
                          (l > 5 && !strcasecmp(path + l - 5, ".jpeg")))))
        return fail(a, "usage: snapshot FILE.png|FILE.jpg (got '%.100s')", path);
    dream_err_t err = {{0}};
    const dream_image_t *im = coord_canvas(a->c);
    if (dream_image_save(im, path, &err) != 0) return fail(a, "snapshot: %s", err.msg);
    return out(a, "OK wrote %dx%d canvas to %s\n", im->w, im->h, path);
}

static int h_record_start(actx_t *a, const char *arg) {
    stream_t *s = coord_stream(a->c);
    if (!s) return fail(a, "record: no live stream (dreamd runs with --http-port 0)");
    char path[512];
    strip_quotes(arg, path, sizeof path);
    if (!*path) return fail(a, "usage: record start FILE (.webm = WebM, else IVF)");
    dream_err_t err = {{0}};
    if (stream_record_start(s, path, &err) != 0) return fail(a, "record start: %s", err.msg);
    return out(a, "OK recording to %s from the next keyframe\n", path);
}

static int h_record_stop(actx_t *a, const char *arg) {
    stream_t *s = coord_stream(a->c);
    if (!s) return fail(a, "record: no live stream (dreamd runs with --http-port 0)");
    char what[700];
    dream_err_t err = {{0}};
    if (stream_record_stop(s, what, sizeof what, &err) != 0) return fail(a, "record stop: %s", err.msg);
    return out(a, "OK recorded %s\n", what);
}

static int h_log_level(actx_t *a, const char *arg) {
    dlog_level_t lvl;
    if (!*arg || dlog_parse_level(arg, &lvl)) return fail(a, "log level: '%.40s' is not a level (debug, info, warn, error)", arg);
    dream_err_t err = {{0}};
    if (config_apply(a->c, "log-level", arg, 1, &err) != 0) return fail(a, "log level: %s", err.msg);
    return out(a, "OK log level %s\n", arg);
}

static int h_shutdown(actx_t *a, const char *arg) {
    coord_request_stop(a->c);
    return out(a, "OK stopping\n");
}

static int h_ping(actx_t *a, const char *arg) { return out(a, "PONG\n"); }

/* ---------- help / table / completion words ---------- */

static const admin_cmd_t k_cmds[];

static int h_help(actx_t *a, const char *arg) {
    int found = 0;
    size_t al = strlen(arg);
    for (const admin_cmd_t *t = k_cmds; t->name; t++) {
        if (t->hidden && !*arg) continue;
        /* "help queue" lists queue, queue push, ...; "help queue push" just that one */
        if (*arg && (strncasecmp(t->name, arg, al) != 0 || (t->name[al] && t->name[al] != ' '))) continue;
        char usage[96];
        snprintf(usage, sizeof usage, "%s%s%s", t->name, *t->args ? " " : "", t->args);
        out(a, "%-28s %s%s\n", usage, t->help, t->readonly ? "" : " [admin]");
        found++;
    }
    if (!found) return fail(a, "help: no command '%.60s' (help lists them)", arg);
    return 0;
}

static int h_commands(actx_t *a, const char *arg) {
    for (const admin_cmd_t *t = k_cmds; t->name; t++)
        if (!t->hidden) out(a, "%s\t%s\t%s\t%s\n", t->name, t->args, t->readonly ? "ro" : "rw", t->help);
    return 0;
}

static void name_row(const cfg_opt_t *o, size_t off, void *ud) {
    (void)off;
    out(ud, "%s\n", o->name);
}

static int h_names(actx_t *a, const char *arg) {
    if (!strcmp(arg, "workers")) {
        a->len = 0;
        coord_worker_names(a->c, a->r, a->n);
        a->len = strlen(a->r);
    } else if (!strcmp(arg, "config")) {
        cfg_each(coord_cfg_opts, name_row, a);
    } else if (!strcmp(arg, "live")) {
        for (int i = 0; k_live[i]; i++) out(a, "%s\n", k_live[i]);
    } else if (!strcmp(arg, "sections")) {
        for (int i = 0; k_sections[i]; i++) out(a, "%s\n", k_sections[i]);
    } else if (!strcmp(arg, "classes")) {
        dream_err_t err = {{0}};
        dream_classes_t *own = NULL;
        const dream_classes_t *cl = classes_of(a);
        if (!cl) cl = own = dream_classes_load_default(&err);
        if (!cl) return fail(a, "names classes: %s", err.msg);
        for (int i = 0; i < dream_classes_count(cl); i++) out(a, "%s\n", dream_classes_name(cl, i));
        dream_classes_destroy(&own);
    } else return fail(a, "names: '%.40s' is not one of workers, config, live, sections, classes", arg);
    return 0;
}

static const admin_cmd_t k_cmds[] = {
    {"status", "[SECTION]", 1, 0, h_status, "INFO-style state; SECTION: server, workers, keyframes, timing, stream"},
    {"workers", "", 1, 0, h_workers, "one line per worker, then the quarantine list"},
    {"worker drain", "NAME", 0, 0, h_drain, "the worker finishes its job and gets no new one"},
    {"worker kick", "NAME", 0, 0, h_kick, "disconnect a worker now (its tile is requeued)"},
    {"worker release", "NAME", 0, 0, h_release, "release a quarantined worker"},
    {"queue", "", 1, 0, h_queue, "the viewers' queue: current subject, hold left, waiting requests"},
    {"queue push", "TEXT", 0, 0, h_queue_push, "add a request at the end of the queue (no rate limit)"},
    {"queue skip", "", 0, 0, h_queue_skip, "end the current subject's hold now"},
    {"queue remove", "N", 0, 0, h_queue_remove, "drop the request at position N"},
    {"queue clear", "", 0, 0, h_queue_clear, "drop every waiting request"},
    {"subject", "TEXT", 0, 0, h_subject, "dream of TEXT now, e.g. subject tree frog + volcano"},
    {"pause", "", 0, 0, h_pause, "stop making keyframes; the stream keeps showing the last frames"},
    {"resume", "", 0, 0, h_resume, "make keyframes again"},
    {"config", "", 1, 0, h_config, "the whole configuration (# Config, key:value)"},
    {"config get", "KEY", 1, 0, h_config_get, "one setting"},
    {"config set", "KEY VALUE", 0, 0, h_config_set, "change a live setting (checked like the command line)"},
    {"ban list", "", 1, 0, h_ban_list, "banned words and addresses"},
    {"ban word add", "WORD", 0, 0, h_ban_word_add, "refuse requests containing WORD"},
    {"ban word remove", "WORD", 0, 0, h_ban_word_remove, "lift a word ban"},
    {"ban word list", "", 1, 0, h_ban_word_list, "banned words"},
    {"ban ip add", "ADDRESS", 0, 0, h_ban_ip_add, "refuse requests from ADDRESS"},
    {"ban ip remove", "ADDRESS", 0, 0, h_ban_ip_remove, "lift an address ban"},
    {"ban ip list", "", 1, 0, h_ban_ip_list, "banned addresses"},
    {"snapshot", "FILE", 0, 0, h_snapshot, "write the current canvas as PNG or JPEG (path on dreamd's host)"},
    {"record start", "FILE", 0, 0, h_record_start, "record the stream from the next keyframe (.webm or IVF)"},
    {"record stop", "", 0, 0, h_record_stop, "finish the recording"},
    {"log level", "LEVEL", 0, 0, h_log_level, "debug, info, warn or error"},
    {"shutdown", "", 0, 0, h_shutdown, "stop dreamd gracefully"},
    {"help", "[COMMAND]", 1, 0, h_help, "this list, or one command"},
    /* aliases and machine use */
    {"quit", "", 0, 1, h_shutdown, "= shutdown"},
    {"release", "NAME", 0, 1, h_release, "= worker release"},
    {"info", "[SECTION]", 1, 1, h_status, "= status"},
    {"subjects", "TEXT", 0, 1, h_subject, "= subject"},
    {"ping", "", 1, 1, h_ping, "PONG"},
    {"commands", "", 1, 1, h_commands, "the command table, tab-separated"},
    {"names", "WHAT", 1, 1, h_names, "completion words: workers, config, live, sections, classes"},
    {NULL, NULL, 0, 0, NULL, NULL}};

/* number of leading words of line that equal name's words (0 = no match) */
static size_t match_len(const char *name, const char *line) {
    size_t nl = strlen(name);
    if (strncasecmp(line, name, nl) != 0) return 0;
    if (line[nl] && line[nl] != ' ' && line[nl] != '\t') return 0;
    return nl;
}

void admin_run(coord_t *c, const char *line, int readonly, char *reply, size_t n) {
    actx_t a = {c, reply, n, 0};
    reply[0] = 0;
    char buf[1024];
    /* collapse runs of blanks, trim */
    size_t k = 0;
    int sp = 1;
    for (const char *p = line; *p && k + 1 < sizeof buf; p++) {
        char ch = *p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p;
        if (ch == ' ') { if (!sp) buf[k++] = ' '; sp = 1; continue; }
        buf[k++] = ch;
        sp = 0;
    }
    while (k && buf[k - 1] == ' ') k--;
    buf[k] = 0;
    if (!buf[0]) { fail(&a, "empty command (help lists the commands)"); return; }
    const admin_cmd_t *best = NULL;
    size_t bl = 0;
    for (const admin_cmd_t *t = k_cmds; t->name; t++) {
        size_t m = match_len(t->name, buf);
        if (m > bl) { best = t; bl = m; }
    }
    if (!best) {
        char verb[40];
        size_t vl = strcspn(buf, " ");
        snprintf(verb, sizeof verb, "%.*s", (int)(vl < 39 ? vl : 39), buf);
        /* a group with subcommands ("worker", "ban word"): say which */
        char subs[300] = "";
        size_t sl = 0;
        for (const admin_cmd_t *t = k_cmds; t->name; t++)
            if (!t->hidden && !strncasecmp(t->name, verb, vl) && t->name[vl] == ' ' && sl < sizeof subs) {
                int w = snprintf(subs + sl, sizeof subs - sl, "%s%s", sl ? ", " : "", t->name);
                if (w > 0) sl += (size_t)w;
            }
        if (sl) fail(&a, "'%.80s': incomplete command (%s)", buf, subs);
        else fail(&a, "unknown command '%s' (help lists the commands)", verb);
        return;
    }
    const char *arg = buf + bl;
    while (*arg == ' ') arg++;
    if (readonly && !best->readonly) {
        fail(&a, "'%s' is not allowed with a read-only admin key", best->name);
        return;
    }
    int rc = best->fn(&a, arg);
    if (rc == 0 && a.len == 0) out(&a, "OK\n");
    if (rc == 0 && !readonly) dlog_debug(MOD, "event=command name=\"%s\" ok=1", best->name);
}

/* ---------- socket and access ---------- */

int admin_endpoint_is_local(const char *ep) {
    if (!strncmp(ep, "ipc://", 6)) return 1;
    if (strncmp(ep, "tcp://", 6)) return 0;
    const char *h = ep + 6;
    if (!strncmp(h, "127.", 4) || !strncmp(h, "localhost:", 10) || !strncmp(h, "[::1]:", 6)) return 1;
    return 0;
}

typedef struct admin_zap {
    void *ctx;                  /* its own context (one ZAP handler per context) */
    zap_t *zap;                 /* server/zap.c */
    void *sock;                 /* the admin socket it guards (admin_socket_close) */
    int nrw, nro;
    uint8_t (*rw)[32], (*ro)[32];
} admin_zap_t;

/* the admin sockets with a ZAP handler (dreamd has one): admin_socket_close finds theirs */
#define ADMIN_ZAPS 4
static admin_zap_t *g_zaps[ADMIN_ZAPS];
static pthread_mutex_t g_zaps_mu = PTHREAD_MUTEX_INITIALIZER;

static int read_keys(const char *path, uint8_t (**keys)[32], int *n, dream_err_t *err) {
    *keys = NULL;
    *n = 0;
    if (!path || !*path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return dream_err_set(err, "admin key list %s: cannot open", path);
    *keys = calloc(1024, 32);
    if (!*keys) { fclose(f); return dream_err_set(err, "out of memory"); }
    char line[256];
    int lineno = 0;
    while (fgets(line, sizeof line, f) && *n < 1024) {
        lineno++;
        char v[64];
        if (line[0] == '#' || sscanf(line, " %63s", v) != 1) continue;
        if (!strncmp(v, "public", 6)) {     /* a `dreamctl keygen` file: take the public line */
            char *eq = strchr(line, '=');
            if (!eq || sscanf(eq + 1, " %63s", v) != 1) continue;
        } else if (!strncmp(v, "secret", 6)) continue;
        if (strlen(v) != 40 || !zmq_z85_decode((*keys)[*n], v)) {
            fclose(f);
            return dream_err_set(err, "%s:%d: not a 40-character Z85 public key", path, lineno);
        }
        (*n)++;
    }
    fclose(f);
    return 0;
}

/* ZAP check: a key of the admin list -> User-Id "admin", of the read-only list -> "readonly" */
static int admin_key_ok(const uint8_t key[32], char *user, size_t n, void *ud) {
    admin_zap_t *z = ud;
    const char *who = NULL;
    for (int i = 0; i < z->nrw && !who; i++) if (!memcmp(z->rw[i], key, 32)) who = "admin";
    for (int i = 0; i < z->nro && !who; i++) if (!memcmp(z->ro[i], key, 32)) who = "readonly";
    if (who) snprintf(user, n, "%s", who);
    return who != NULL;
}

static void admin_key_refused(void *ud) {
    (void)ud;
    dlog_warn(MOD, "event=admin_refused reason=\"key not in the admin lists\"");
}

static void admin_zap_free(admin_zap_t *z) {
    if (!z) return;
    zap_destroy(&z->zap);       /* stops and joins its thread, closes its socket */
    if (z->ctx) zmq_ctx_term(z->ctx);
    free(z->rw);
    free(z->ro);
    free(z);
}

void admin_socket_close(void *sock) {
    if (!sock) return;
    admin_zap_t *z = NULL;
    pthread_mutex_lock(&g_zaps_mu);
    for (int i = 0; i < ADMIN_ZAPS; i++)
        if (g_zaps[i] && g_zaps[i]->sock == sock) { z = g_zaps[i]; g_zaps[i] = NULL; break; }
    pthread_mutex_unlock(&g_zaps_mu);
    zmq_close(sock);
    admin_zap_free(z);
}

void *admin_socket_open(void *zctx, const coord_cfg_t *cfg, dream_err_t *err) {
    const char *ep = cfg->admin_bind;
    int curve = cfg->admin_secret_file[0] != 0;
    if (ep[0] && !admin_endpoint_is_local(ep) && !curve) {
        dream_err_set(err, "option 'admin-bind': %s is reachable from other hosts; give --admin-secret-file and "
                      "--admin-allow-file (CURVE keys from `dreamctl keygen`), or bind ipc://PATH or tcp://127.0.0.1:PORT", ep);
        return NULL;
    }
    void *ctx = zctx;
    admin_zap_t *z = NULL;
    char pub[41], sec[41];
    if (curve) {
        if (wire_curve_read_keyfile(cfg->admin_secret_file, pub, sec, err) != 0) return NULL;
        z = calloc(1, sizeof *z);
        if (!z) { dream_err_set(err, "out of memory"); return NULL; }
        if (read_keys(cfg->admin_allow_file, &z->rw, &z->nrw, err) != 0 ||
            read_keys(cfg->admin_readonly_file, &z->ro, &z->nro, err) != 0)
            goto zfail;
        if (z->nrw + z->nro == 0) {
            dream_err_set(err, "option 'admin-secret-file': CURVE needs admin public keys (--admin-allow-file / --admin-readonly-file)");
            goto zfail;
        }
        /* its own context: its ZAP handler must not meet the worker socket's */
        z->ctx = zmq_ctx_new();
        if (!z->ctx) { dream_err_set(err, "admin ZAP handler: %s", zmq_strerror(zmq_errno())); goto zfail; }
        z->zap = zap_new(z->ctx, admin_key_ok, admin_key_refused, z, err);
        if (!z->zap) { dream_err_prefix(err, "admin"); goto zfail; }
        ctx = z->ctx;
    }
    void *s = zmq_socket(ctx, ZMQ_REP);
    if (!s) { dream_err_set(err, "zmq_socket: %s", zmq_strerror(zmq_errno())); goto zfail; }
    int64_t amax = 4096;
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &amax, sizeof amax);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (curve) {
        int one = 1;
        if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 || zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40) != 0 ||
            zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "admin", 5) != 0) {
            dream_err_set(err, "admin CURVE: %s (libzmq built without CURVE?)", zmq_strerror(zmq_errno()));
            zmq_close(s);
            goto zfail;
        }
    }
    if (ep[0]) {
        mode_t old = umask(0077);   /* an ipc:// socket file is created 0600 */
        int rc = zmq_bind(s, ep);
        umask(old);
        if (rc != 0) {
            dream_err_set(err, "bind %s: %s", ep, zmq_strerror(zmq_errno()));
            zmq_close(s);
            goto zfail;
        }
        if (!strncmp(ep, "ipc://", 6)) chmod(ep + 6, 0600);
        char ev[300];
        dlog_info(MOD, "event=admin_listen endpoint=%s access=%s", kv(ep, ev, sizeof ev), curve ? "curve" : "local");
    }
    if (z) {
        z->sock = s;
        pthread_mutex_lock(&g_zaps_mu);
        for (int i = 0; i < ADMIN_ZAPS && z; i++)
            if (!g_zaps[i]) { g_zaps[i] = z; z = NULL; }
        pthread_mutex_unlock(&g_zaps_mu);
        /* (more than ADMIN_ZAPS sockets: that handler stays until the process ends) */
    }
    return s;
zfail:
    admin_zap_free(z);
    return NULL;
}

void admin_serve(coord_t *c, void *sock) {
    for (int k = 0; k < 16; k++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) { zmq_msg_close(&m); return; }
        const char *user = zmq_msg_gets(&m, "User-Id");
        int readonly = user && !strcmp(user, "readonly");
        char cmd[1024];
        size_t nb = zmq_msg_size(&m);
        if (nb > sizeof cmd - 1) nb = sizeof cmd - 1;
        memcpy(cmd, zmq_msg_data(&m), nb);
        cmd[nb] = 0;
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) {   /* drop extra frames */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, 0) < 0) { zmq_msg_close(&m); break; }
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        for (size_t i = 0; i < nb; i++) if (!cmd[i]) cmd[i] = ' ';
        size_t rn = 512 * 1024;
        char *reply = malloc(rn);
        if (!reply) return;
        admin_run(c, cmd, readonly, reply, rn);
        zmq_send(sock, reply, strlen(reply), 0);
        free(reply);
    }
}

/* ---------- durable state ---------- */

static void save_queue(coord_t *c, struct requests *q) {
    requests_snapshot_t *sn = malloc(sizeof *sn);
    if (!sn) return;
    requests_export(q, sn);
    size_t cap = 160 + (size_t)sn->n * (80 + REQUESTS_MAX_NAME), len = 0;
    char *t = malloc(cap);
    if (!t) { free(sn); return; }
    /* lines: "cur VOTES REQUESTED REMAINING [@NAME] IDS..." and "q VOTES [@NAME] IDS..." (names are
     * sanitised: no spaces, no '@') */
    len += (size_t)snprintf(t + len, cap - len, "cur %d %d %.3f", sn->cur_votes, sn->cur_requested, sn->cur_remaining_s);
    if (sn->cur_name[0]) len += (size_t)snprintf(t + len, cap - len, " @%s", sn->cur_name);
    for (int i = 0; i < sn->cur_n; i++) len += (size_t)snprintf(t + len, cap - len, " %d", sn->cur_ids[i]);
    len += (size_t)snprintf(t + len, cap - len, "\n");
    for (int k = 0; k < sn->n && len < cap; k++) {
        len += (size_t)snprintf(t + len, cap - len, "q %d", sn->q[k].votes);
        if (sn->q[k].name[0] && len < cap) len += (size_t)snprintf(t + len, cap - len, " @%s", sn->q[k].name);
        for (int i = 0; i < sn->q[k].n && len < cap; i++) len += (size_t)snprintf(t + len, cap - len, " %d", sn->q[k].ids[i]);
        if (len < cap) len += (size_t)snprintf(t + len, cap - len, "\n");
    }
    if (len >= cap) len = cap - 1;
    int saved = dream_state_kv_set(coord_state(c), "queue", t, len);
    g_st.saved_version = sn->version;
    /* committed (SQLite, WAL): the viewers' parked 202s up to this version may go (stream.h) */
    if (saved == 0) stream_mark_durable(coord_stream(c), sn->version);
    free(t);
    free(sn);
}

/* "[@NAME] ID ID ..." */
static int parse_ids(char *p, int *ids, int max, char *name, size_t name_n) {
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save)) {
        if (*tok == '@') snprintf(name, name_n, "%s", tok + 1);
        else ids[n++] = atoi(tok);
    }
    return n;
}

static void restore_queue(coord_t *c, struct requests *q) {
    void *data;
    size_t len;
    if (dream_state_kv_get(coord_state(c), "queue", &data, &len) != 1) return;
    requests_snapshot_t *sn = calloc(1, sizeof *sn);
    if (!sn) { free(data); return; }
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int votes = 0, req = 0, used = 0;
        double rem = 0;
        if (sscanf(line, "cur %d %d %lf %n", &votes, &req, &rem, &used) >= 3 && used > 0) {
            sn->cur_votes = votes;
            sn->cur_requested = req;
            sn->cur_remaining_s = rem;
            sn->cur_n = parse_ids(line + used, sn->cur_ids, DREAM_MAX_SUBJECTS, sn->cur_name, sizeof sn->cur_name);
        } else if (sscanf(line, "q %d %n", &votes, &used) >= 1 && used > 0 && sn->n < REQUESTS_SNAPSHOT_MAX) {
            requests_snapshot_entry_t *e = &sn->q[sn->n];
            e->votes = votes;
            e->n = parse_ids(line + used, e->ids, DREAM_MAX_SUBJECTS, e->name, sizeof e->name);
            if (e->n > 0) sn->n++;
        }
    }
    int n = requests_import(q, sn);
    dlog_info(MOD, "event=restore what=queue hold_left_s=%.0f waiting=%d", sn->cur_remaining_s, n);
    free(sn);
    free(data);
}

static void restore_ban(const char *v, void *ud) {
    struct { struct requests *q; int ip; int n; } *b = ud;
    if (b->ip) requests_unban_ip(b->q, v);      /* also listed in --ban-file: keep one */
    else requests_unban_word(b->q, v);
    if ((b->ip ? requests_ban_ip(b->q, v) : requests_ban_word(b->q, v)) == 0) b->n++;
}

static void restore_config(const char *key, const char *value, void *ud) {
    coord_t *c = ud;
    dream_err_t err = {{0}};
    char ek[100], ev[600], em[600];
    if (config_apply(c, key + 7, value ? value : "", 0, &err) != 0)
        dlog_warn(MOD, "event=restore_failed what=config key=%s error=%s", kv(key + 7, ek, sizeof ek), kv(err.msg, em, sizeof em));
    else dlog_info(MOD, "event=restore what=config key=%s value=%s", kv(key + 7, ek, sizeof ek), kv(value ? value : "", ev, sizeof ev));
}

static void restore_all(coord_t *c) {
    dream_state_t *st = coord_state(c);
    dream_state_kv_each(st, "config:", restore_config, c);
    void *data;
    size_t len;
    if (dream_state_kv_get(st, "paused", &data, &len) == 1) {
        coord_set_paused(c, 1);
        dlog_info(MOD, "event=restore what=paused hint=\"dreamctl resume\"");
        free(data);
    }
    stream_t *s = coord_stream(c);
    if (!s) return;
    struct requests *q = stream_requests(s);
    struct { struct requests *q; int ip; int n; } b = {q, 0, 0};
    dream_state_set_each(st, "ban_word", restore_ban, &b);
    b.ip = 1;
    dream_state_set_each(st, "ban_ip", restore_ban, &b);
    if (b.n) dlog_info(MOD, "event=restore what=bans count=%d", b.n);
    restore_queue(c, q);
}

int admin_restore_canvas(struct dream_state *st, dream_image_t *canvas) {
    void *data;
    size_t len;
    if (dream_state_kv_get(st, "canvas", &data, &len) != 1) return 0;
    int ok = 0;
    int w = 0, h = 0;
    /* "WxH\n" then (h, w, 3) bytes */
    const char *nl = memchr(data, '\n', len < 32 ? len : 32);
    char head[32] = "";
    if (nl) snprintf(head, sizeof head, "%.*s", (int)(nl - (const char *)data), (const char *)data);
    if (nl && dream_parse_size(head, &w, &h) == 0 && w == canvas->w && h == canvas->h &&
        len - (size_t)(nl + 1 - (char *)data) == (size_t)w * h * 3) {
        dream_image_from_rgb8(canvas, (const uint8_t *)nl + 1);
        ok = 1;
        dlog_info(MOD, "event=restore what=canvas size=%dx%d", w, h);
    } else dlog_info(MOD, "event=restore_skipped what=canvas saved=%dx%d canvas=%dx%d", w, h, canvas->w, canvas->h);
    free(data);
    return ok;
}

static void save_canvas(coord_t *c) {
    const dream_image_t *im = coord_canvas(c);
    char head[32];
    int hl = snprintf(head, sizeof head, "%dx%d\n", im->w, im->h);
    size_t n = (size_t)im->w * im->h * 3;
    uint8_t *buf = malloc((size_t)hl + n);
    if (!buf) return;
    memcpy(buf, head, (size_t)hl);
    dream_image_to_rgb8(im, buf + hl);
    dream_state_kv_set(coord_state(c), "canvas", buf, (size_t)hl + n);
    free(buf);
}

void admin_tick(coord_t *c) {
    if (g_st.owner != c) {
        memset(&g_st, 0, sizeof g_st);
        g_st.owner = c;
    }
    double now = dream_now_ms();
    if (!g_st.restored) {
        g_st.restored = 1;
        restore_all(c);
        g_st.saved_at = now;
    }
    if (now >= g_st.metrics_at) {
        g_st.metrics_at = now + 1000;
        metrics_publish_coord(c);
    }
    stream_t *s = coord_stream(c);
    if (s) {
        struct requests *q = stream_requests(s);
        /* a 202 waits for the queue that holds it to be saved, unless nothing is kept */
        const char *path = coord_config(c)->state;
        stream_set_durable(s, path[0] && strcmp(path, ":memory:") != 0);
        uint64_t v = requests_version(q);
        /* on every change of the queue at once; the remaining hold every few seconds */
        if (v != g_st.saved_version || now - g_st.saved_at > 3000) {
            g_st.saved_at = now;
            save_queue(c, q);
        }
    }
    coord_stats_t st;
    coord_get_stats(c, &st);
    /* paused: the keyframe that was in flight is the picture that stays up; keep that one */
    int settled = coord_paused(c) && st.keyframes != g_st.canvas_kf;
    if (coord_canvas_settled(c) &&
        (settled || (st.keyframes >= g_st.canvas_kf + CANVAS_EVERY_KF && now - g_st.canvas_at >= CANVAS_MIN_S * 1000))) {
        g_st.canvas_kf = st.keyframes;
        g_st.canvas_at = now;
        save_canvas(c);
    }
}
