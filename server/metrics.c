/*
 * metrics.c — Prometheus text exposition of dreamd (see metrics.h): the coordinator's block,
 * published once a second, two duration histograms, the stream's live counters, and an
 * optional tiny HTTP server of its own for --metrics-bind.
 *
 * Shape: static registry { mutex; coord text; histograms[2]; request outcome counts }
 *        -> metrics_render() = build info + coord text + histograms + stream block.
 */
#define _GNU_SOURCE
#include "metrics.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "coord.h"
#include "frameclock.h"
#include "requests.h"
#include "stream.h"

#ifndef DREAM_VERSION
#define DREAM_VERSION "0.1"
#endif

#define NBUCKETS 12
static const double k_bounds_s[NBUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

typedef struct hist {
    unsigned long long b[NBUCKETS], count;
    double sum;
} hist_t;

static struct {
    pthread_mutex_t mu;
    char *coord;                /* the coordinator's block */
    hist_t kf, tile;
    unsigned long long req[6];  /* accepted, bad_request, banned, rate_limited, full, other */
    int off_public;
    /* --metrics-bind server */
    int lfd;
    pthread_t th;
    int running;
    struct stream *s;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .lfd = -1};

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void bprintf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf_t *b, const char *fmt, ...) {
    for (;;) {
        if (b->cap - b->len < 256 || !b->p) {
            size_t nc = b->cap ? b->cap * 2 : 8192;
            char *np = realloc(b->p, nc);
            if (!np) return;
            b->p = np;
            b->cap = nc;
        }
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (w < 0) return;
        if ((size_t)w < b->cap - b->len) { b->len += (size_t)w; return; }
        size_t nc = b->cap + (size_t)w + 256;
        char *np = realloc(b->p, nc);
        if (!np) return;
        b->p = np;
        b->cap = nc;
    }
}

void metrics_escape_label(const char *in, char *out, size_t n) {
    size_t k = 0;
    for (; in && *in && k + 3 < n; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '\\' || c == '"') { out[k++] = '\\'; out[k++] = (char)c; }
        else if (c == '\n') { out[k++] = '\\'; out[k++] = 'n'; }
        else if (c < 0x20 || c == 0x7f) out[k++] = '?';
        else out[k++] = (char)c;
    }
    if (n) out[k < n ? k : n - 1] = 0;
}

static void observe(hist_t *h, double ms) {
    if (!(ms >= 0) || ms > 1e9) return;
    double s = ms / 1000.0;
    pthread_mutex_lock(&g.mu);
    for (int i = 0; i < NBUCKETS; i++)
        if (s <= k_bounds_s[i]) h->b[i]++;
    h->count++;
    h->sum += s;
    pthread_mutex_unlock(&g.mu);
}

void metrics_observe_keyframe_ms(double ms) { observe(&g.kf, ms); }
void metrics_observe_tile_ms(double ms) { observe(&g.tile, ms); }

void metrics_count_request(int st) {
    int k = st == 202 || st == 200 ? 0 : st == 400 || st == 413 || st == 415 ? 1 : st == 403 ? 2 : st == 429 ? 3 : st == 503 ? 4 : 5;
    pthread_mutex_lock(&g.mu);
    g.req[k]++;
    pthread_mutex_unlock(&g.mu);
}

static void hist_text(buf_t *b, const char *name, const char *help, const hist_t *h) {
    bprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < NBUCKETS; i++) bprintf(b, "%s_bucket{le=\"%g\"} %llu\n", name, k_bounds_s[i], h->b[i]);
    bprintf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, h->count, name, h->sum, name, h->count);
}

#define METRIC(b, type, name, help) bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type)

void metrics_publish_coord(struct coord *c) {
    buf_t b = {0};
    coord_stats_t st;
    coord_get_stats(c, &st);
    frameclock_stats_t fs;
    coord_frame_stats(c, &fs);
    const coord_cfg_t *cfg = coord_config(c);
    METRIC(&b, "counter", "dreamfarm_keyframes_total", "Keyframes finished.");
    bprintf(&b, "dreamfarm_keyframes_total %llu\n", (unsigned long long)st.keyframes);
    METRIC(&b, "gauge", "dreamfarm_keyframe_interval_seconds", "Time between keyframes (moving average).");
    bprintf(&b, "dreamfarm_keyframe_interval_seconds %.6f\n", st.kf_interval_ms / 1000.0);
    METRIC(&b, "counter", "dreamfarm_jobs_sent_total", "Tile jobs sent to workers.");
    bprintf(&b, "dreamfarm_jobs_sent_total %llu\n", (unsigned long long)st.jobs_sent);
    METRIC(&b, "counter", "dreamfarm_tiles_done_total", "Tile results accepted.");
    bprintf(&b, "dreamfarm_tiles_done_total %llu\n", (unsigned long long)st.results_ok);
    METRIC(&b, "counter", "dreamfarm_requeues_total", "Tile jobs requeued (deadline, worker lost, errors).");
    bprintf(&b, "dreamfarm_requeues_total %llu\n", (unsigned long long)st.requeued);
    METRIC(&b, "counter", "dreamfarm_tiles_missed_total", "Tiles filled from the previous keyframe at the deadline.");
    bprintf(&b, "dreamfarm_tiles_missed_total %llu\n", (unsigned long long)st.tiles_missed);
    METRIC(&b, "counter", "dreamfarm_worker_failures_total", "Worker failures (all workers).");
    bprintf(&b, "dreamfarm_worker_failures_total %llu\n", (unsigned long long)st.failures);
    METRIC(&b, "counter", "dreamfarm_malformed_messages_total", "Malformed worker messages dropped.");
    bprintf(&b, "dreamfarm_malformed_messages_total %llu\n", (unsigned long long)st.malformed);
    METRIC(&b, "counter", "dreamfarm_worker_bytes_total", "Bytes exchanged with workers.");
    bprintf(&b, "dreamfarm_worker_bytes_total{direction=\"in\"} %llu\n", (unsigned long long)st.bytes_in);
    bprintf(&b, "dreamfarm_worker_bytes_total{direction=\"out\"} %llu\n", (unsigned long long)st.bytes_out);
    METRIC(&b, "counter", "dreamfarm_frames_total", "Frames emitted by the frame clock.");
    bprintf(&b, "dreamfarm_frames_total %llu\n", (unsigned long long)fs.frames);
    METRIC(&b, "counter", "dreamfarm_frames_skipped_total", "Frame clock ticks skipped (late).");
    bprintf(&b, "dreamfarm_frames_skipped_total %llu\n", (unsigned long long)fs.skipped_ticks);
    METRIC(&b, "gauge", "dreamfarm_paused", "1 while the operator paused the dream.");
    bprintf(&b, "dreamfarm_paused %d\n", coord_paused(c));
    METRIC(&b, "gauge", "dreamfarm_untrained", "1 when the farm's model is an untrained random init.");
    bprintf(&b, "dreamfarm_untrained %d\n", cfg->model_untrained);
    METRIC(&b, "gauge", "dreamfarm_steps", "Adam steps per keyframe (live setting).");
    bprintf(&b, "dreamfarm_steps %d\n", cfg->steps);
    /* workers by state, then one series per worker */
    static const char *const states[] = {"idle", "busy", "draining", "quarantined"};
    int by[4] = {0};
    coord_worker_info_t wi;
    buf_t wb = {0};
    bprintf(&wb, "# HELP dreamfarm_worker_tiles_total Tiles finished by a worker.\n# TYPE dreamfarm_worker_tiles_total counter\n");
    buf_t fb = {0}, sb = {0};
    bprintf(&fb, "# HELP dreamfarm_worker_failures Current failure count of a worker (heals with good work).\n# TYPE dreamfarm_worker_failures gauge\n");
    bprintf(&sb, "# HELP dreamfarm_worker_ms_per_mpix_step Measured speed of a worker (ms per megapixel-step).\n# TYPE dreamfarm_worker_ms_per_mpix_step gauge\n");
    for (int i = 0;; i++) {
        int r = coord_worker_info(c, i, &wi);
        if (r < 0) break;
        if (r == 0) continue;
        for (int k = 0; k < 4; k++) by[k] += !strcmp(wi.state, states[k]);
        char nm[300], be[40];
        metrics_escape_label(wi.name, nm, sizeof nm);
        metrics_escape_label(wi.backend, be, sizeof be);
        bprintf(&wb, "dreamfarm_worker_tiles_total{worker=\"%s\",backend=\"%s\"} %llu\n", nm, be, wi.jobs_done);
        bprintf(&fb, "dreamfarm_worker_failures{worker=\"%s\"} %d\n", nm, wi.failures);
        bprintf(&sb, "dreamfarm_worker_ms_per_mpix_step{worker=\"%s\"} %.4f\n", nm, wi.ms_mpix);
    }
    METRIC(&b, "gauge", "dreamfarm_workers", "Connected workers by state.");
    for (int k = 0; k < 4; k++) bprintf(&b, "dreamfarm_workers{state=\"%s\"} %d\n", states[k], by[k]);
    if (wb.p) bprintf(&b, "%s", wb.p);
    if (fb.p) bprintf(&b, "%s", fb.p);
    if (sb.p) bprintf(&b, "%s", sb.p);
    free(wb.p);
    free(fb.p);
    free(sb.p);
    char model[80];
    metrics_escape_label(cfg->model_pin[0] ? cfg->model_pin : "-", model, sizeof model);
    METRIC(&b, "gauge", "dreamfarm_build_info", "Build and model information (always 1).");
    bprintf(&b, "dreamfarm_build_info{version=\"%s\",model_hash=\"%s\"} 1\n", DREAM_VERSION, model);
    METRIC(&b, "gauge", "dreamfarm_uptime_seconds", "Seconds since the coordinator started.");
    bprintf(&b, "dreamfarm_uptime_seconds %.1f\n", st.uptime_s);
    pthread_mutex_lock(&g.mu);
    free(g.coord);
    g.coord = b.p;
    pthread_mutex_unlock(&g.mu);
}

char *metrics_render(struct stream *s, size_t *len) {
    buf_t b = {0};
    bprintf(&b, "%s", "");
    pthread_mutex_lock(&g.mu);
    if (g.coord) bprintf(&b, "%s", g.coord);
    hist_t kf = g.kf, tile = g.tile;
    unsigned long long req[6];
    memcpy(req, g.req, sizeof req);
    pthread_mutex_unlock(&g.mu);
    hist_text(&b, "dreamfarm_keyframe_duration_seconds", "Time from a keyframe's start to its finish.", &kf);
    hist_text(&b, "dreamfarm_tile_duration_seconds", "Worker compute time of one tile.", &tile);
    static const char *const outcome[] = {"accepted", "bad_request", "banned", "rate_limited", "queue_full", "other"};
    METRIC(&b, "counter", "dreamfarm_requests_total", "Viewer requests (POST /api/request) by outcome.");
    for (int i = 0; i < 6; i++) bprintf(&b, "dreamfarm_requests_total{outcome=\"%s\"} %llu\n", outcome[i], req[i]);
    if (s) {
        stream_stats_t ss;
        stream_get_stats(s, &ss);
        METRIC(&b, "gauge", "dreamfarm_viewers", "Websocket viewers connected now.");
        bprintf(&b, "dreamfarm_viewers %d\n", ss.viewers);
        METRIC(&b, "counter", "dreamfarm_viewers_total", "Websocket viewers ever connected.");
        bprintf(&b, "dreamfarm_viewers_total %llu\n", (unsigned long long)ss.viewers_total);
        METRIC(&b, "counter", "dreamfarm_encoder_frames_total", "Frames encoded (VP9).");
        bprintf(&b, "dreamfarm_encoder_frames_total %llu\n", (unsigned long long)ss.frames_encoded);
        METRIC(&b, "counter", "dreamfarm_encoder_frames_dropped_total", "Frames dropped because the encoder was behind.");
        bprintf(&b, "dreamfarm_encoder_frames_dropped_total %llu\n", (unsigned long long)ss.frames_dropped);
        METRIC(&b, "counter", "dreamfarm_encoder_bytes_total", "Encoded video bytes (bitrate = rate of this).");
        bprintf(&b, "dreamfarm_encoder_bytes_total %llu\n", (unsigned long long)ss.bytes_encoded);
        METRIC(&b, "gauge", "dreamfarm_encoder_frame_seconds", "Mean encode time per frame (1 / this bounds the encoder fps).");
        bprintf(&b, "dreamfarm_encoder_frame_seconds %.6f\n", ss.encode_ms_avg / 1000.0);
        METRIC(&b, "counter", "dreamfarm_sent_bytes_total", "Bytes written to viewers.");
        bprintf(&b, "dreamfarm_sent_bytes_total %llu\n", (unsigned long long)ss.bytes_sent);
        METRIC(&b, "counter", "dreamfarm_viewer_fallbacks_total", "Times a lagging viewer skipped to the next keyframe.");
        bprintf(&b, "dreamfarm_viewer_fallbacks_total %llu\n", (unsigned long long)ss.viewer_fallbacks);
        struct requests *q = stream_requests(s);
        METRIC(&b, "gauge", "dreamfarm_queue_length", "Viewer requests waiting.");
        bprintf(&b, "dreamfarm_queue_length %d\n", q ? requests_queue_len(q) : 0);
    }
    if (len) *len = b.len;
    return b.p;
}

int metrics_on_public_port(void) {
    pthread_mutex_lock(&g.mu);
    int off = g.off_public;
    pthread_mutex_unlock(&g.mu);
    return !off;
}

/* ---------- --metrics-bind: a minimal HTTP/1.0 responder ---------- */

static void serve_one(int fd) {
    char req[2048];
    size_t n = 0;
    struct pollfd p = {fd, POLLIN, 0};
    /* read until the end of the headers (bounded: 2 KB, 2 s) */
    while (n < sizeof req - 1 && poll(&p, 1, 2000) > 0) {
        ssize_t r = read(fd, req + n, sizeof req - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[n] = 0;
    const char *status = "404 Not Found", *ctype = "text/plain";
    char *body = NULL;
    size_t blen = 0;
    if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) {
        body = metrics_render(g.s, &blen);
        status = "200 OK";
        ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strncmp(req, "GET ", 4)) status = "405 Method Not Allowed";
    char head[256];
    int hl = snprintf(head, sizeof head, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, ctype, blen);
    if (write(fd, head, (size_t)hl) == hl && body) {
        size_t off = 0;
        while (off < blen) {
            ssize_t w = write(fd, body + off, blen - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
    }
    free(body);
}

static void *serve_main(void *arg) {
    (void)arg;
    for (;;) {
        struct pollfd p = {g.lfd, POLLIN, 0};
        int r = poll(&p, 1, 200);
        pthread_mutex_lock(&g.mu);
        int run = g.running;
        pthread_mutex_unlock(&g.mu);
        if (!run) break;
        if (r <= 0) continue;
        int fd = accept(g.lfd, NULL, NULL);
        if (fd < 0) continue;
        serve_one(fd);
        close(fd);
    }
    return NULL;
}

int metrics_serve_start(const char *bind_addr, struct stream *s, dream_err_t *err) {
    char host[256];
    const char *colon = bind_addr ? strrchr(bind_addr, ':') : NULL;
    if (!colon || colon == bind_addr || (size_t)(colon - bind_addr) >= sizeof host)
        return dream_err_set(err, "option 'metrics-bind': '%s' is not HOST:PORT (e.g. 127.0.0.1:9100)", bind_addr ? bind_addr : "");
    memcpy(host, bind_addr, (size_t)(colon - bind_addr));
    host[colon - bind_addr] = 0;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { memmove(host, host + 1, strlen(host)); host[strlen(host) - 1] = 0; }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0) return dream_err_set(err, "option 'metrics-bind': %s: %s", bind_addr, gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return dream_err_set(err, "option 'metrics-bind': %s: %s", bind_addr, strerror(e));
    }
    freeaddrinfo(ai);
    pthread_mutex_lock(&g.mu);
    g.lfd = fd;
    g.s = s;
    g.running = 1;
    g.off_public = 1;
    pthread_mutex_unlock(&g.mu);
    if (pthread_create(&g.th, NULL, serve_main, NULL) != 0) {
        close(fd);
        g.lfd = -1;
        g.running = 0;
        return dream_err_set(err, "metrics: cannot start thread");
    }
    dlog_info("metrics", "GET /metrics on %s (not on the public page)", bind_addr);
    return 0;
}

void metrics_serve_stop(void) {
    pthread_mutex_lock(&g.mu);
    int was = g.running;
    g.running = 0;
    pthread_mutex_unlock(&g.mu);
    if (!was) return;
    pthread_join(g.th, NULL);
    close(g.lfd);
    g.lfd = -1;
}
