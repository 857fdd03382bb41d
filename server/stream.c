/*
 * stream.c — encoder thread + one libwebsockets service thread (HTTP, API, websocket viewers).
 *
 * Data flow:
 *   any thread --stream_push_frame--> frame ring (2 slots, drop oldest) --> encoder thread
 *   encoder thread: resize if needed, RGB->I420, VP9 encode, record, snapshot copy,
 *                   packet ring (mutex) + lws_cancel_service()
 *   service thread (LWS_CALLBACK_EVENT_WAIT_CANCELLED): packets -> GOP cache and every
 *                   viewer's bounded queue -> lws_callback_on_writable();
 *                   writes happen ONLY in LWS_CALLBACK_SERVER_WRITEABLE / HTTP_WRITEABLE.
 *   a 250 ms timer in the service thread advances the request queue and broadcasts
 *   subject / queue / status events (text JSON) when they change.
 */
#include "stream.h"
#include "encoder.h"
#include "metrics.h"
#include "recorder.h"
#include "gop.h"
#include "requests.h"
#include "http.h"
#include "ws_webm.h"
#include "classes.h"
#include "paths.h"
#include <libwebsockets.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <strings.h>
#include <unistd.h>
#include <limits.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/socket.h>

#define MOD "stream"
#define FRAME_SLOTS 2
#define PKT_RING 128
#define TICK_US (250 * LWS_US_PER_MS)
#define WS_RX_MAX 1024

typedef struct viewer {
    struct lws *wsi;
    struct viewer *next;
    gop_queue_t *q;
    unsigned need_hello : 1, need_subject : 1, need_queue : 1, need_status : 1, need_init : 1;
    unsigned webm : 1;          /* /ws/webm: MSE viewer, WebM byte stream instead of raw VP9 frames */
    unsigned novideo : 1;       /* /ws/events: events only (snapshot viewers) */
    char ip[64];
} viewer_t;

/* per-connection data for both protocols (HTTP and viewers) */
typedef struct pss {
    int kind;                   /* 0 none, 1 http, 2 viewer */
    /* http */
    char *body;                 /* POST body, HTTP_BODY_MAX + 1 */
    size_t body_len;
    int body_overflow;
    char ctype[96];
    uint8_t *resp;              /* LWS_PRE + resp_len */
    size_t resp_len, resp_sent;
    int close_after;
    /* viewer */
    viewer_t *v;
} pss_t;

/* the address key (requests_rate_key) and local port each accepted fd had: an fd's entry is
 * counted only while getsockname/getpeername still match it, so no close hook is needed */
typedef struct conn_ent {
    char key[48];
    uint16_t lport;
} conn_ent_t;

struct stream {
    stream_config_t cfg;
    conn_ent_t *conns;          /* indexed by fd, nconns entries */
    int nconns;
    uint64_t conns_refused, viewers_refused;
    double parse_tokens, parse_at;  /* global request-parsing budget (service thread only) */
    char *web_root, *tls_cert, *tls_key, *record_path;
    dream_classes_t *classes;
    requests_t *req;
    char *classes_json;
    size_t classes_json_len;
    char codec[32];
    int kf_frames;

    /* encoder thread */
    pthread_t enc_thread;
    int enc_started;
    encoder_t *enc;
    recorder_t *rec;
    pthread_mutex_t fmu;
    pthread_cond_t fcond;
    uint8_t *slot[FRAME_SLOTS];
    size_t slot_cap[FRAME_SLOTS];
    int slot_w[FRAME_SLOTS], slot_h[FRAME_SLOTS];
    int slot_head, slot_count;
    int force_key;
    int enc_stop;
    uint8_t *work;              /* encoder's current frame */
    size_t work_cap;
    uint8_t *scaled;            /* cfg size */
    uint32_t seq;

    /* snapshot */
    pthread_mutex_t snap_mu;
    uint8_t *snap;
    uint64_t snap_seq;
    uint8_t *png;
    size_t png_len;
    uint64_t png_seq;           /* png is service-thread only */
    double png_time;

    /* encoder -> service */
    pthread_mutex_t pmu;
    struct { gop_packet_t *raw, *webm; } pring[PKT_RING];
    int64_t webm_cluster_ms;    /* encoder thread */
    int phead, pcount;

    /* service thread */
    pthread_t svc_thread;
    int svc_started;
    atomic_int svc_stop;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int port;
    struct lws_protocols protocols[3];
    struct lws_http_mount mounts[3];
    lws_sorted_usec_list_t sul;
    gop_cache_t *gop, *gop_webm;
    gop_packet_t *webm_init;    /* type-2 message: the WebM init segment */
    viewer_t *viewers;
    int64_t last_seq;
    uint64_t req_version;
    char *ev_hello, *ev_subject, *ev_queue, *ev_status;
    uint8_t *scratch;
    size_t scratch_cap;
    double last_status_t, last_subject_t;
    uint64_t last_frames_in;
    double fps_measured;

    /* shared */
    pthread_mutex_t smu;        /* status + stats */
    stream_status_t status;
    stream_stats_t stats;
    double enc_ms_total;
    /* operator controls (dreamctl): applied by the encoder thread; rec guarded by rmu */
    int want_bitrate, want_cpu_used;    /* under fmu; 0 = no change */
    pthread_mutex_t rmu;
    int rec_wait_key;                   /* a new recording starts at a keyframe */
};

/* ---------------------------------------------------------------- config */

void stream_config_defaults(stream_config_t *c) {
    memset(c, 0, sizeof *c);
    c->http_port = 8080;
    c->max_viewers = STREAM_DEFAULT_MAX_VIEWERS;
    c->max_conns_per_ip = STREAM_DEFAULT_CONNS_PER_IP;
    c->parse_per_s = STREAM_DEFAULT_PARSE_PER_S;
    c->width = 1024;
    c->height = 576;
    c->fps = 25;
    c->bitrate_kbps = STREAM_DEFAULT_BITRATE_KBPS;
    c->cpu_used = STREAM_DEFAULT_CPU_USED;
    c->keyframe_max_s = 2.0;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n < 1 ? 1 : n > 8 ? 8 : (int)n;
    c->viewer_queue_max = 0;    /* 3 * fps */
    c->hold_s = STREAM_DEFAULT_HOLD_S;
    c->min_hold_s = STREAM_DEFAULT_MIN_HOLD_S;
    c->queue_max = STREAM_DEFAULT_QUEUE_MAX;
    c->rate_per_min = STREAM_DEFAULT_RATE_PER_MIN;
    c->rate_burst = STREAM_DEFAULT_RATE_BURST;
    c->drift = 0;
    c->initial_subject = -1;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

static int file_readable(const char *p) { return p && access(p, R_OK) == 0; }

/* ---------------------------------------------------------------- events */

static char *event_with_type(const char *type, cJSON *obj) {
    cJSON_AddStringToObject(obj, "type", type);
    char *s = cJSON_PrintUnformatted(obj);
    return s;
}

static void mark_viewers(stream_t *s, int subject, int queue, int status) {
    for (viewer_t *v = s->viewers; v; v = v->next) {
        v->need_subject |= subject;
        v->need_queue |= queue;
        v->need_status |= status;
        lws_callback_on_writable(v->wsi);
    }
}

/* subject + queue events from the request queue state (service thread) */
static void rebuild_request_events(stream_t *s) {
    char *js = requests_state_json(s->req);
    cJSON *st = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!st) return;
    cJSON *cur = cJSON_DetachItemFromObject(st, "current");
    cJSON *queue = cJSON_DetachItemFromObject(st, "queue");
    cJSON *ev = cJSON_CreateObject();
    if (cur) {
        /* names for the overlay */
        cJSON *names = cJSON_CreateArray();
        cJSON *id;
        cJSON_ArrayForEach(id, cJSON_GetObjectItem(cur, "ids")) {
            const char *n = dream_classes_name(s->classes, id->valueint);
            cJSON_AddItemToArray(names, cJSON_CreateString(n ? n : "?"));
        }
        cJSON_AddItemToObject(cur, "names", names);
        cJSON_AddItemToObject(ev, "current", cur);
    }
    char *sub = event_with_type("subject", ev);
    cJSON_Delete(ev);
    ev = cJSON_CreateObject();
    if (queue) cJSON_AddItemToObject(ev, "queue", queue);
    char *q = event_with_type("queue", ev);
    cJSON_Delete(ev);
    cJSON_Delete(st);
    int sub_changed = !s->ev_subject || !sub || strcmp(s->ev_subject, sub) != 0;
    int q_changed = !s->ev_queue || !q || strcmp(s->ev_queue, q) != 0;
    free(s->ev_subject);
    free(s->ev_queue);
    s->ev_subject = sub;
    s->ev_queue = q;
    mark_viewers(s, sub_changed, q_changed, 0);
}

static cJSON *status_object(stream_t *s) {
    stream_status_t st;
    stream_stats_t stats;
    pthread_mutex_lock(&s->smu);
    st = s->status;
    stats = s->stats;
    pthread_mutex_unlock(&s->smu);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "workers", st.workers);
    cJSON_AddNumberToObject(o, "keyframe_rate", (double)(long)(st.keyframe_rate * 100 + 0.5) / 100.0);
    double fps = st.fps > 0 ? st.fps : s->fps_measured;
    cJSON_AddNumberToObject(o, "fps", (double)(long)(fps * 10 + 0.5) / 10.0);
    cJSON_AddBoolToObject(o, "untrained", st.untrained);
    cJSON_AddStringToObject(o, "model", st.model);
    cJSON_AddNumberToObject(o, "viewers", stats.viewers);
    cJSON_AddNumberToObject(o, "width", s->cfg.width);
    cJSON_AddNumberToObject(o, "height", s->cfg.height);
    cJSON_AddNumberToObject(o, "bitrate_kbps", s->cfg.bitrate_kbps);
    cJSON_AddStringToObject(o, "codec", s->codec);
    return o;
}

static void rebuild_status_event(stream_t *s) {
    cJSON *o = status_object(s);
    char *ev = event_with_type("status", o);
    cJSON_Delete(o);
    if (!ev) return;
    int changed = !s->ev_status || strcmp(s->ev_status, ev) != 0;
    free(s->ev_status);
    s->ev_status = ev;
    if (changed) mark_viewers(s, 0, 0, 1);
}

static void tick_cb(lws_sorted_usec_list_t *sul) {
    stream_t *s = lws_container_of(sul, stream_t, sul);
    requests_tick(s->req);
    uint64_t ver = requests_version(s->req);
    if (ver != s->req_version) {
        s->req_version = ver;
        rebuild_request_events(s);
    }
    double t = dream_now_s();
    if (t - s->last_status_t >= 1.0) {
        pthread_mutex_lock(&s->smu);
        uint64_t fin = s->stats.frames_in;
        pthread_mutex_unlock(&s->smu);
        if (s->last_status_t > 0) {
            double inst = (double)(fin - s->last_frames_in) / (t - s->last_status_t);
            s->fps_measured = s->fps_measured > 0 ? 0.5 * s->fps_measured + 0.5 * inst : inst;
        }
        s->last_frames_in = fin;
        s->last_status_t = t;
        rebuild_status_event(s);
        /* the remaining time changes every second: resend the subject every 5 s */
        if (t - s->last_subject_t >= 5.0) {
            s->last_subject_t = t;
            rebuild_request_events(s);
        }
    }
    lws_sul_schedule(s->ctx, 0, &s->sul, tick_cb, TICK_US);
}

/* ---------------------------------------------------------------- encoder thread */

static void on_packet(const encoder_packet_t *p, void *ud) {
    stream_t *s = ud;
    pthread_mutex_lock(&s->rmu);
    if (s->rec && s->rec_wait_key && p->keyframe) s->rec_wait_key = 0;
    if (s->rec && !s->rec_wait_key) {
        dream_err_t err = {{0}};
        if (recorder_write(s->rec, p->data, p->len, p->keyframe, p->pts, &err) < 0) {
            dlog_error(MOD, "%s; recording stopped", err.msg);
            recorder_close(&s->rec, NULL);
        }
    }
    pthread_mutex_unlock(&s->rmu);
    gop_packet_t *gp = gop_packet_new(NULL, STREAM_WS_HEADER_BYTES + p->len, LWS_PRE, p->keyframe, (uint32_t)p->pts);
    if (!gp) { dlog_error(MOD, "out of memory for a %zu byte packet", p->len); return; }
    uint8_t *h = gp->payload;
    h[0] = 1;                                   /* message type: video */
    h[1] = p->keyframe ? 1 : 0;                 /* flags */
    h[2] = (uint8_t)(s->cfg.width >> 8); h[3] = (uint8_t)s->cfg.width;
    h[4] = (uint8_t)(s->cfg.height >> 8); h[5] = (uint8_t)s->cfg.height;
    h[6] = (uint8_t)(s->cfg.fps >> 8); h[7] = (uint8_t)s->cfg.fps;
    uint32_t seq = (uint32_t)p->pts;
    h[8] = (uint8_t)(seq >> 24); h[9] = (uint8_t)(seq >> 16); h[10] = (uint8_t)(seq >> 8); h[11] = (uint8_t)seq;
    uint32_t ms = (uint32_t)(uint64_t)dream_now_ms();
    h[12] = (uint8_t)(ms >> 24); h[13] = (uint8_t)(ms >> 16); h[14] = (uint8_t)(ms >> 8); h[15] = (uint8_t)ms;
    memcpy(h + STREAM_WS_HEADER_BYTES, p->data, p->len);
    /* the same frame for MSE viewers: header (type 3) + WebM cluster/SimpleBlock */
    gop_packet_t *wp = gop_packet_new(NULL, STREAM_WS_HEADER_BYTES + p->len + WS_WEBM_FRAME_OVERHEAD, LWS_PRE,
                                      p->keyframe, (uint32_t)p->pts);
    if (!wp) { gop_packet_unref(&gp); dlog_error(MOD, "out of memory for a %zu byte packet", p->len); return; }
    memcpy(wp->payload, h, STREAM_WS_HEADER_BYTES);
    wp->payload[0] = 3;
    size_t wn = ws_webm_frame(wp->payload + STREAM_WS_HEADER_BYTES, p->len + WS_WEBM_FRAME_OVERHEAD, p->data, p->len,
                              p->keyframe, p->pts * 1000 / s->cfg.fps, &s->webm_cluster_ms);
    wp->len = STREAM_WS_HEADER_BYTES + wn;

    pthread_mutex_lock(&s->smu);
    s->stats.frames_encoded++;
    s->stats.keyframes += p->keyframe ? 1 : 0;
    s->stats.bytes_encoded += p->len;
    pthread_mutex_unlock(&s->smu);

    pthread_mutex_lock(&s->pmu);
    if (s->pcount >= PKT_RING) {
        /* the service thread is stalled: drop; it sees the gap and resyncs on a keyframe */
        pthread_mutex_unlock(&s->pmu);
        gop_packet_unref(&gp);
        gop_packet_unref(&wp);
        pthread_mutex_lock(&s->fmu);
        s->force_key = 1;
        pthread_mutex_unlock(&s->fmu);
        return;
    }
    s->pring[(s->phead + s->pcount) % PKT_RING].raw = gp;
    s->pring[(s->phead + s->pcount) % PKT_RING].webm = wp;
    s->pcount++;
    pthread_mutex_unlock(&s->pmu);
    lws_cancel_service(s->ctx);
}

static void *enc_main(void *arg) {
    stream_t *s = arg;
    const int W = s->cfg.width, H = s->cfg.height;
    for (;;) {
        pthread_mutex_lock(&s->fmu);
        while (!s->enc_stop && s->slot_count == 0) pthread_cond_wait(&s->fcond, &s->fmu);
        if (s->enc_stop) { pthread_mutex_unlock(&s->fmu); break; }
        int k = s->slot_head;
        /* swap the slot's buffer with ours: encode without holding the lock */
        uint8_t *buf = s->slot[k];
        size_t cap = s->slot_cap[k];
        s->slot[k] = s->work;
        s->slot_cap[k] = s->work_cap;
        s->work = buf;
        s->work_cap = cap;
        int w = s->slot_w[k], h = s->slot_h[k];
        s->slot_head = (s->slot_head + 1) % FRAME_SLOTS;
        s->slot_count--;
        int force = s->force_key;
        s->force_key = 0;
        int want_br = s->want_bitrate, want_cpu = s->want_cpu_used;
        s->want_bitrate = s->want_cpu_used = 0;
        pthread_mutex_unlock(&s->fmu);
        if (want_br > 0) {
            dream_err_t rerr = {{0}};
            if (encoder_set_rate(s->enc, want_br, want_cpu, &rerr) < 0) dlog_error(MOD, "%s", rerr.msg);
            else dlog_info(MOD, "encoder now %d kbps, speed %d", want_br, want_cpu);
        }

        const uint8_t *rgb = s->work;
        if (w != W || h != H) {
            encoder_resize_rgb(s->work, w, h, s->scaled, W, H);
            rgb = s->scaled;
        }
        double t0 = dream_now_ms();
        dream_err_t err = {{0}};
        if (encoder_encode_rgb(s->enc, rgb, force, on_packet, s, &err) < 0) dlog_error(MOD, "%s", err.msg);
        double dt = dream_now_ms() - t0;
        pthread_mutex_lock(&s->smu);
        s->enc_ms_total += dt;
        pthread_mutex_unlock(&s->smu);

        pthread_mutex_lock(&s->snap_mu);
        memcpy(s->snap, rgb, (size_t)W * H * 3);
        s->snap_seq++;
        pthread_mutex_unlock(&s->snap_mu);
    }
    return NULL;
}

/* ---------------------------------------------------------------- HTTP */

static void pss_free_http(pss_t *p) {
    free(p->body);
    p->body = NULL;
    free(p->resp);
    p->resp = NULL;
}

/* The security headers of every answer (files and API). Like lws' "best practices" set, plus
 * media-src blob: for the MSE player. */
static const struct { const char *name, *value; } k_sec_headers[] = {
    {"content-security-policy:", "default-src 'none'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                 "script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
                                 "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
    {"x-content-type-options:", "nosniff"},
    {"x-frame-options:", "deny"},
    {"referrer-policy:", "no-referrer"},
};

static int add_security_headers(struct lws *wsi, uint8_t **p, uint8_t *end) {
    for (size_t i = 0; i < sizeof k_sec_headers / sizeof k_sec_headers[0]; i++)
        if (lws_add_http_header_by_name(wsi, (const uint8_t *)k_sec_headers[i].name, (const uint8_t *)k_sec_headers[i].value,
                                        (int)strlen(k_sec_headers[i].value), p, end))
            return -1;
    return 0;
}

/* Sends headers now and queues the body (copied) for HTTP_WRITEABLE. Returns 0 or -1 (close). */
static int http_respond(struct lws *wsi, pss_t *p, int status, const char *ctype, const void *body,
                        size_t len, int close_after) {
    uint8_t hb[LWS_PRE + 1024];
    uint8_t *start = hb + LWS_PRE, *ptr = start, *end = hb + sizeof hb - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &ptr, end)) return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const uint8_t *)"no-store", 8, &ptr, end)) return -1;
    if (add_security_headers(wsi, &ptr, end)) return -1;
    if (close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &ptr, end)) return -1;
    if (lws_finalize_write_http_header(wsi, start, &ptr, end)) return -1;
    free(p->resp);
    p->resp = malloc(LWS_PRE + len + 1);
    if (!p->resp) return -1;
    if (len) memcpy(p->resp + LWS_PRE, body, len);
    p->resp_len = len;
    p->resp_sent = 0;
    p->close_after = close_after;
    lws_callback_on_writable(wsi);
    return 0;
}

static int http_json(struct lws *wsi, pss_t *p, int status, char *json_owned, int close_after) {
    if (!json_owned) return -1;
    int rc = http_respond(wsi, p, status, "application/json", json_owned, strlen(json_owned), close_after);
    free(json_owned);
    return rc;
}

static int http_error(struct lws *wsi, pss_t *p, int status, const char *msg, int close_after) {
    return http_json(wsi, p, status, http_error_json(msg), close_after);
}

static char *status_json(stream_t *s) {
    cJSON *o = status_object(s);
    stream_stats_t st;
    stream_get_stats(s, &st);
    cJSON_AddNumberToObject(o, "viewers_total", (double)st.viewers_total);
    cJSON_AddNumberToObject(o, "viewer_fallbacks", (double)st.viewer_fallbacks);
    cJSON_AddNumberToObject(o, "frames_in", (double)st.frames_in);
    cJSON_AddNumberToObject(o, "frames_dropped", (double)st.frames_dropped);
    cJSON_AddNumberToObject(o, "frames_encoded", (double)st.frames_encoded);
    cJSON_AddNumberToObject(o, "keyframes", (double)st.keyframes);
    cJSON_AddNumberToObject(o, "bytes_encoded", (double)st.bytes_encoded);
    cJSON_AddNumberToObject(o, "bytes_sent", (double)st.bytes_sent);
    cJSON_AddNumberToObject(o, "encode_ms_avg", (double)(long)(st.encode_ms_avg * 100) / 100.0);
    cJSON_AddNumberToObject(o, "requests_accepted", (double)st.requests_accepted);
    cJSON_AddNumberToObject(o, "requests_refused", (double)st.requests_refused);
    char *rj = requests_state_json(s->req);
    cJSON *r = rj ? cJSON_Parse(rj) : NULL;
    free(rj);
    if (r) {
        cJSON *cur = cJSON_DetachItemFromObject(r, "current");
        cJSON *q = cJSON_DetachItemFromObject(r, "queue");
        if (cur) cJSON_AddItemToObject(o, "current", cur);
        if (q) cJSON_AddItemToObject(o, "queue", q);
        cJSON_Delete(r);
    }
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

/* The newest frame as PNG; re-encoded at most once a second (PNG costs ~20 ms a frame, and
 * the service thread must stay free for the viewers). */
/* GET /metrics (Prometheus text; server/metrics.h) */
static int http_metrics(stream_t *s, struct lws *wsi, pss_t *p) {
    size_t len = 0;
    char *txt = metrics_render(s, &len);
    if (!txt) return http_error(wsi, p, 500, "out of memory", 1);
    int rc = http_respond(wsi, p, 200, "text/plain; version=0.0.4; charset=utf-8", txt, len, 0);
    free(txt);
    return rc;
}

static int http_snapshot(stream_t *s, struct lws *wsi, pss_t *p) {
    size_t bytes = (size_t)s->cfg.width * s->cfg.height * 3;
    double t = dream_now_s();
    pthread_mutex_lock(&s->snap_mu);
    uint64_t seq = s->snap_seq;
    int stale = seq != s->png_seq && (!s->png || t - s->png_time >= 1.0);
    uint8_t *copy = NULL;
    if (seq && stale) {
        copy = malloc(bytes);
        if (copy) memcpy(copy, s->snap, bytes);
    }
    pthread_mutex_unlock(&s->snap_mu);
    if (seq == 0) return http_error(wsi, p, 503, "no frame yet", 0);
    if (copy) {
        uint8_t *png = NULL;
        size_t len = 0;
        dream_err_t err = {{0}};
        int rc = http_png_rgb(copy, s->cfg.width, s->cfg.height, &png, &len, &err);
        free(copy);
        if (rc < 0) return http_error(wsi, p, 500, err.msg, 0);
        free(s->png);
        s->png = png;
        s->png_len = len;
        s->png_seq = seq;
        s->png_time = t;
    }
    if (!s->png) return http_error(wsi, p, 500, "out of memory", 0);
    return http_respond(wsi, p, 200, "image/png", s->png, s->png_len, 0);
}

/* The client's address: the peer, or (trust_forwarded_for) the last X-Forwarded-For entry. */
static void client_ip(stream_t *s, struct lws *wsi, char *ip, size_t n) {
    ip[0] = 0;
    if (s->cfg.trust_forwarded_for) {
        char xff[256];
        if (lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) > 0) {
            char *last = strrchr(xff, ',');
            last = last ? last + 1 : xff;
            while (*last == ' ') last++;
            size_t len = strcspn(last, " \t");
            last[len] = 0;
            if (len > 0 && len < n && strspn(last, "0123456789abcdefABCDEF:.") == len) {
                memcpy(ip, last, len + 1);
                return;
            }
        }
    }
    lws_get_peer_simple(wsi, ip, n);
}

static int http_handle_request_body(stream_t *s, struct lws *wsi, pss_t *p) {
    char subject[REQUESTS_MAX_TEXT * 2 + 8];
    int status = 400;
    dream_err_t err = {{0}};
    if (http_parse_subject(p->body ? p->body : "", p->body_len, p->ctype, subject, sizeof subject, &status, &err) < 0) {
        pthread_mutex_lock(&s->smu);
        s->stats.requests_refused++;
        pthread_mutex_unlock(&s->smu);
        return http_error(wsi, p, status, err.msg, 0);
    }
    char ip[64] = "";
    client_ip(s, wsi, ip, sizeof ip);
    char name[REQUESTS_MAX_NAME * 4 + 1] = "";   /* optional; sanitised and cut by requests */
    http_parse_optional_field(p->body ? p->body : "", p->body_len, p->ctype, "name", name, sizeof name);
    requests_result_t r;
    int rc = requests_submit_named(s->req, subject, ip[0] ? ip : "unknown", name, &r);
    pthread_mutex_lock(&s->smu);
    if (rc == 0) s->stats.requests_accepted++;
    else s->stats.requests_refused++;
    pthread_mutex_unlock(&s->smu);
    metrics_count_request(r.http_status);
    /* refusals at debug level: a spammer must not flood the log */
    dlog_write(rc == 0 ? DLOG_INFO : DLOG_DEBUG, MOD, "request '%.80s' from %s: %d %s", subject, ip, r.http_status, r.message);
    if (rc == 0) lws_cancel_service(s->ctx);   /* broadcast the queue soon */
    return http_json(wsi, p, r.http_status, http_request_reply(&r, s->classes), 0);
}

static int http_cb(stream_t *s, struct lws *wsi, enum lws_callback_reasons reason, pss_t *p, void *in, size_t len) {
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        p->kind = 1;
        char uri[256] = "";
        int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
        if (is_post) lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_POST_URI);
        else if (is_get) lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        else return http_error(wsi, p, 405, "only GET and POST", 1) ? -1 : 0;
        uri[strcspn(uri, "?")] = 0;
        if (is_post) {
            if (strcmp(uri, "/api/request") != 0) return http_error(wsi, p, 405, "POST only to /api/request", 1) ? -1 : 0;
            char cl[32] = "";
            /* lws 4.1 does not de-chunk request bodies: a length is required */
            if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
                return http_error(wsi, p, 411, "Content-Length required (no chunked bodies)", 1) ? -1 : 0;
            /* both framings at once is request smuggling's recipe: refused */
            if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
                return http_error(wsi, p, 400, "Content-Length with Transfer-Encoding is not accepted", 1) ? -1 : 0;
            char *end = NULL;
            long long n = strtoll(cl, &end, 10);
            if (end == cl || *end || n < 0) return http_error(wsi, p, 400, "bad Content-Length", 1) ? -1 : 0;
            if (n > HTTP_BODY_MAX) {
                char msg[96];
                snprintf(msg, sizeof msg, "request body larger than %d bytes", HTTP_BODY_MAX);
                return http_error(wsi, p, 413, msg, 1) ? -1 : 0;
            }
            if (n == 0) return http_error(wsi, p, 400, "empty body: send subject=...", 0) ? -1 : 0;
            if (s->cfg.parse_per_s > 0) {   /* all viewers together: parsing is not free */
                double now = dream_now_ms(), burst = s->cfg.parse_per_s > 1 ? s->cfg.parse_per_s : 1;
                if (s->parse_at > 0) s->parse_tokens += (now - s->parse_at) / 1000.0 * s->cfg.parse_per_s;
                else s->parse_tokens = burst;
                if (s->parse_tokens > burst) s->parse_tokens = burst;
                s->parse_at = now;
                if (s->parse_tokens < 1) {
                    pthread_mutex_lock(&s->smu);
                    s->stats.requests_refused++;
                    pthread_mutex_unlock(&s->smu);
                    return http_error(wsi, p, 503, "too many requests right now: try again in a second", 1) ? -1 : 0;
                }
                s->parse_tokens -= 1;
            }
            p->ctype[0] = 0;
            lws_hdr_copy(wsi, p->ctype, sizeof p->ctype, WSI_TOKEN_HTTP_CONTENT_TYPE);
            p->body = malloc(HTTP_BODY_MAX + 1);
            if (!p->body) return -1;
            p->body_len = 0;
            p->body_overflow = 0;
            return 0;   /* wait for the body */
        }
        if (strcmp(uri, "/api/status") == 0) return http_json(wsi, p, 200, status_json(s), 0) ? -1 : 0;
        if (strcmp(uri, "/metrics") == 0 && metrics_on_public_port()) return http_metrics(s, wsi, p) ? -1 : 0;
        if (strcmp(uri, "/api/classes") == 0)
            return http_respond(wsi, p, 200, "application/json", s->classes_json, s->classes_json_len, 0) ? -1 : 0;
        if (strcmp(uri, "/snapshot.png") == 0) return http_snapshot(s, wsi, p) ? -1 : 0;
        if (strcmp(uri, "/api/request") == 0) return http_error(wsi, p, 405, "use POST for /api/request", 0) ? -1 : 0;
        return http_error(wsi, p, 404, "no such API", 0) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!p->body) return -1;
        if (p->body_overflow || p->body_len + len > HTTP_BODY_MAX) {
            p->body_overflow = 1;
            return 0;   /* discard; answered at completion */
        }
        memcpy(p->body + p->body_len, in, len);
        p->body_len += len;
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p->body) return -1;
        if (p->body_overflow) {
            char msg[96];
            snprintf(msg, sizeof msg, "request body larger than %d bytes", HTTP_BODY_MAX);
            return http_error(wsi, p, 413, msg, 1) ? -1 : 0;
        }
        p->body[p->body_len] = 0;
        return http_handle_request_body(s, wsi, p) ? -1 : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!p->resp) return 0;
        size_t left = p->resp_len - p->resp_sent;
        size_t chunk = left > 32768 ? 32768 : left;
        int final = chunk == left;
        uint8_t *ptr = p->resp + LWS_PRE + p->resp_sent;
        if (chunk > 0 || final) {
            if (lws_write(wsi, ptr, chunk, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk) return -1;
        }
        p->resp_sent += chunk;
        pthread_mutex_lock(&s->smu);
        s->stats.bytes_sent += chunk;
        pthread_mutex_unlock(&s->smu);
        if (!final) { lws_callback_on_writable(wsi); return 0; }
        free(p->resp);
        p->resp = NULL;
        free(p->body);
        p->body = NULL;
        if (p->close_after) return -1;
        if (lws_http_transaction_completed(wsi)) return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        pss_free_http(p);
        return 0;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------- websocket viewers */

static int ws_send_text(stream_t *s, struct lws *wsi, const char *txt) {
    size_t n = strlen(txt);
    if (LWS_PRE + n > s->scratch_cap) {
        uint8_t *nb = realloc(s->scratch, LWS_PRE + n + 1024);
        if (!nb) return -1;
        s->scratch = nb;
        s->scratch_cap = LWS_PRE + n + 1024;
    }
    memcpy(s->scratch + LWS_PRE, txt, n);
    if (lws_write(wsi, s->scratch + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n) return -1;
    pthread_mutex_lock(&s->smu);
    s->stats.bytes_sent += n;
    pthread_mutex_unlock(&s->smu);
    return 0;
}

static void drain_packets(stream_t *s) {
    for (;;) {
        pthread_mutex_lock(&s->pmu);
        if (s->pcount == 0) { pthread_mutex_unlock(&s->pmu); break; }
        gop_packet_t *p = s->pring[s->phead].raw, *wp = s->pring[s->phead].webm;
        s->pring[s->phead].raw = s->pring[s->phead].webm = NULL;
        s->phead = (s->phead + 1) % PKT_RING;
        s->pcount--;
        pthread_mutex_unlock(&s->pmu);

        if (s->last_seq >= 0 && p->seq != (uint32_t)(s->last_seq + 1) && !p->keyframe) {
            /* a packet was lost between threads: everyone resyncs on the next keyframe */
            dlog_warn(MOD, "packet gap %lld -> %u: viewers wait for a keyframe", (long long)s->last_seq, p->seq);
            gop_cache_destroy(&s->gop);
            gop_cache_destroy(&s->gop_webm);
            s->gop = gop_cache_new(s->kf_frames * 2 + 8);
            s->gop_webm = gop_cache_new(s->kf_frames * 2 + 8);
            for (viewer_t *v = s->viewers; v; v = v->next) gop_queue_join(v->q, NULL);
        }
        s->last_seq = p->seq;
        gop_cache_push(s->gop, p);
        gop_cache_push(s->gop_webm, wp);
        uint64_t fell = 0;
        for (viewer_t *v = s->viewers; v; v = v->next) {
            if (v->novideo) continue;
            fell += (uint64_t)gop_queue_push(v->q, v->webm ? wp : p);
            if (gop_queue_count(v->q) > 0) lws_callback_on_writable(v->wsi);
        }
        if (fell) {
            pthread_mutex_lock(&s->smu);
            s->stats.viewer_fallbacks += fell;
            pthread_mutex_unlock(&s->smu);
        }
        gop_packet_unref(&p);
        gop_packet_unref(&wp);
    }
}

static int ws_cb(stream_t *s, struct lws *wsi, enum lws_callback_reasons reason, pss_t *p, void *in, size_t len) {
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char wuri[64] = "";     /* websocket upgrades only on the stream paths */
        if (lws_hdr_copy(wsi, wuri, sizeof wuri, WSI_TOKEN_GET_URI) <= 0) return 1;
        wuri[strcspn(wuri, "?")] = 0;
        if (strcmp(wuri, "/ws") && strcmp(wuri, "/ws/webm") && strcmp(wuri, "/ws/events")) return 1;
        pthread_mutex_lock(&s->smu);
        int n = s->stats.viewers;
        pthread_mutex_unlock(&s->smu);
        if (n >= s->cfg.max_viewers) {
            s->viewers_refused++;   /* logged at the 1st, 2nd, 4th, 8th ... (a client can retry in a loop) */
            if ((s->viewers_refused & (s->viewers_refused - 1)) == 0)
                dlog_warn(MOD, "viewer refused: %d viewers already (%llu refused so far)", n,
                          (unsigned long long)s->viewers_refused);
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        viewer_t *v = calloc(1, sizeof *v);
        if (!v) return -1;
        v->q = gop_queue_new(s->cfg.viewer_queue_max);
        if (!v->q) { free(v); return -1; }
        v->wsi = wsi;
        char uri[128] = "";
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        v->webm = strstr(uri, "webm") != NULL;
        v->novideo = strstr(uri, "events") != NULL;
        if (!v->novideo) gop_queue_join(v->q, v->webm ? s->gop_webm : s->gop);
        v->need_hello = v->need_subject = v->need_queue = v->need_status = 1;
        v->need_init = v->webm;
        client_ip(s, wsi, v->ip, sizeof v->ip);
        /* bound the kernel's send buffer (autotuning would let a stalled viewer park megabytes
         * there, and hide that it lags): about half a second of video, at least 64 KB */
        int sndbuf = s->cfg.bitrate_kbps * 1000 / 8 / 2;
        if (sndbuf < 65536) sndbuf = 65536;
        lws_sockfd_type fd = lws_get_socket_fd(wsi);
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        v->next = s->viewers;
        s->viewers = v;
        p->kind = 2;
        p->v = v;
        pthread_mutex_lock(&s->smu);
        s->stats.viewers++;
        s->stats.viewers_total++;
        pthread_mutex_unlock(&s->smu);
        dlog_debug(MOD, "viewer %s joined (%d cached packets)", v->ip, gop_queue_count(v->q));
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED: {
        viewer_t *v = p->v;
        if (!v) return 0;
        for (viewer_t **pp = &s->viewers; *pp; pp = &(*pp)->next)
            if (*pp == v) { *pp = v->next; break; }
        gop_queue_destroy(&v->q);
        free(v);
        p->v = NULL;
        pthread_mutex_lock(&s->smu);
        s->stats.viewers--;
        pthread_mutex_unlock(&s->smu);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        viewer_t *v = p->v;
        if (!v) return 0;
        if (v->need_hello) {
            v->need_hello = 0;
            if (ws_send_text(s, wsi, s->ev_hello) < 0) return -1;
        } else if (v->need_init) {
            v->need_init = 0;
            if (lws_write(wsi, s->webm_init->payload, s->webm_init->len, LWS_WRITE_BINARY) < (int)s->webm_init->len) return -1;
        } else if (v->need_subject && s->ev_subject) {
            v->need_subject = 0;
            if (ws_send_text(s, wsi, s->ev_subject) < 0) return -1;
        } else if (v->need_queue && s->ev_queue) {
            v->need_queue = 0;
            if (ws_send_text(s, wsi, s->ev_queue) < 0) return -1;
        } else if (v->need_status && s->ev_status) {
            v->need_status = 0;
            if (ws_send_text(s, wsi, s->ev_status) < 0) return -1;
        } else {
            v->need_subject = v->need_queue = v->need_status = 0;
            gop_packet_t *pk = gop_queue_peek(v->q);
            if (!pk) return 0;
            if (lws_write(wsi, pk->payload, pk->len, LWS_WRITE_BINARY) < (int)pk->len) return -1;
            pthread_mutex_lock(&s->smu);
            s->stats.bytes_sent += pk->len;
            pthread_mutex_unlock(&s->smu);
            gop_queue_pop(v->q);
        }
        if (v->need_subject || v->need_queue || v->need_status || gop_queue_count(v->q) > 0)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        /* viewers only listen: any data message is refused (control frames - ping, pong,
         * close - are answered by lws itself). This also closes on frames lws tolerates,
         * such as unmasked client frames. */
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"viewers only listen", 19);
        return -1;
    default:
        return 0;
    }
}

static int sock_key(int fd, int peer, char *key, size_t n, uint16_t *port) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) : getsockname(fd, (struct sockaddr *)&ss, &sl)) != 0) return -1;
    char ip[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        if (port) *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        if (port) *port = ntohs(a->sin6_port);
    } else return -1;
    if (key) requests_rate_key(ip, key, n);
    return 0;
}

/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: at most max_conns_per_ip open connections from
 * one address (/64): slowloris or a viewer-slot grab from one client stays with that client */
static int conn_admit(stream_t *s, int fd) {
    if (s->cfg.max_conns_per_ip <= 0 || !s->conns || fd < 0 || fd >= s->nconns) return 0;
    char key[48];
    uint16_t lport = 0;
    if (sock_key(fd, 1, key, sizeof key, NULL) != 0 || sock_key(fd, 0, NULL, 0, &lport) != 0) return 0;
    int open_n = 0;
    for (int i = 0; i < s->nconns; i++) {
        if (i == fd || s->conns[i].key[0] != key[0] || strcmp(s->conns[i].key, key)) continue;
        char k2[48];
        uint16_t lp2 = 0;
        if (sock_key(i, 1, k2, sizeof k2, NULL) == 0 && sock_key(i, 0, NULL, 0, &lp2) == 0 && lp2 == s->conns[i].lport &&
            !strcmp(k2, key))
            open_n++;
        else s->conns[i].key[0] = 0;     /* closed (or reused by something else) */
    }
    if (open_n >= s->cfg.max_conns_per_ip) {
        s->conns_refused++;
        if ((s->conns_refused & (s->conns_refused - 1)) == 0)   /* 1, 2, 4, 8 ...: a flood logs ~log2(n) lines */
            dlog_warn(MOD, "connection from %s refused: %d already open (%llu refused so far)", key, open_n,
                      (unsigned long long)s->conns_refused);
        return 1;
    }
    snprintf(s->conns[fd].key, sizeof s->conns[fd].key, "%s", key);
    s->conns[fd].lport = lport;
    return 0;
}

static int is_http_protocol(struct lws *wsi) {
    const struct lws_protocols *pr = lws_get_protocol(wsi);
    return pr && pr->name && strcmp(pr->name, "http") == 0;
}

static int stream_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    struct lws_context *ctx = lws_get_context(wsi);
    stream_t *s = ctx ? lws_context_user(ctx) : NULL;
    pss_t *p = user;
    if (!s) return 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return conn_admit(s, (int)(intptr_t)in);
    case LWS_CALLBACK_PROTOCOL_INIT:
        if (is_http_protocol(wsi))
            lws_sul_schedule(s->ctx ? s->ctx : ctx, 0, &s->sul, tick_cb, TICK_US);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (!is_http_protocol(wsi)) return 0;
        drain_packets(s);
        if (requests_version(s->req) != s->req_version) {
            s->req_version = requests_version(s->req);
            rebuild_request_events(s);
        }
        return 0;
    case LWS_CALLBACK_ADD_HEADERS: {   /* files served by the mount */
        struct lws_process_html_args *a = in;
        return add_security_headers(wsi, (uint8_t **)&a->p, (uint8_t *)a->p + a->max_len) ? 1 : 0;
    }
    case LWS_CALLBACK_HTTP:
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    case LWS_CALLBACK_HTTP_WRITEABLE:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (!p) return 0;
        return http_cb(s, wsi, reason, p, in, len);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_RECEIVE:
        if (!p && reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION) return 0;
        return ws_cb(s, wsi, reason, p, in, len);
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void *svc_main(void *arg) {
    stream_t *s = arg;
    while (!atomic_load(&s->svc_stop))
        if (lws_service(s->ctx, 0) < 0) break;
    return NULL;
}

static void lws_log_to_dlog(int level, const char *line) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", line);
    buf[strcspn(buf, "\r\n")] = 0;
    if (level & LLL_ERR) dlog_error("lws", "%s", buf);
    else if (level & LLL_WARN) dlog_warn("lws", "%s", buf);
    else dlog_debug("lws", "%s", buf);
}

/* ---------------------------------------------------------------- lifecycle */

static int check_config(const stream_config_t *c, dream_err_t *err) {
    if (c->http_port < 0 || c->http_port > 65535) return dream_err_set(err, "stream: port %d out of range 0..65535", c->http_port);
    if (c->width < 16 || c->height < 16 || c->width > STREAM_MAX_WIDTH || c->height > STREAM_MAX_HEIGHT)
        return dream_err_set(err, "stream: size %dx%d out of range 16x16..%dx%d", c->width, c->height, STREAM_MAX_WIDTH, STREAM_MAX_HEIGHT);
    if ((c->width | c->height) & 1) return dream_err_set(err, "stream: size %dx%d must be even", c->width, c->height);
    if (c->max_viewers < 1 || c->max_viewers > 100000) return dream_err_set(err, "stream: max viewers %d out of range 1..100000", c->max_viewers);
    if (c->viewer_queue_max < 0 || c->viewer_queue_max > 10000) return dream_err_set(err, "stream: viewer queue %d out of range", c->viewer_queue_max);
    if ((c->tls_cert && *c->tls_cert) != (c->tls_key && *c->tls_key)) return dream_err_set(err, "stream: HTTPS needs both --tls-cert and --tls-key");
    if (c->tls_cert && *c->tls_cert && !file_readable(c->tls_cert)) return dream_err_set(err, "stream: cannot read TLS certificate %s", c->tls_cert);
    if (c->tls_key && *c->tls_key && !file_readable(c->tls_key)) return dream_err_set(err, "stream: cannot read TLS key %s", c->tls_key);
    return 0;
}

static char *default_web_root(void) {
    char buf[PATH_MAX + 16];
    snprintf(buf, sizeof buf, "%s/../web", dream_data_dir());
    char real[PATH_MAX];
    if (realpath(buf, real)) return strdup(real);
    return strdup(buf);
}

stream_t *stream_new(const stream_config_t *cfg_in, dream_err_t *err) {
    stream_config_t cfg;
    if (cfg_in) cfg = *cfg_in;
    else stream_config_defaults(&cfg);
    if (check_config(&cfg, err) < 0) return NULL;
    if (cfg.viewer_queue_max == 0) cfg.viewer_queue_max = 3 * (cfg.fps > 0 ? cfg.fps : 25);

    stream_t *s = calloc(1, sizeof *s);
    if (!s) { dream_err_set(err, "stream: out of memory"); return NULL; }
    s->cfg = cfg;
    s->last_seq = -1;
    pthread_mutex_init(&s->fmu, NULL);
    pthread_cond_init(&s->fcond, NULL);
    pthread_mutex_init(&s->snap_mu, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_mutex_init(&s->smu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    s->web_root = cfg.web_root && *cfg.web_root ? strdup(cfg.web_root) : default_web_root();
    s->tls_cert = dup_or_null(cfg.tls_cert);
    s->tls_key = dup_or_null(cfg.tls_key);
    s->record_path = dup_or_null(cfg.record_path);
    /* the strings in s->cfg must not point at the caller's memory */
    s->cfg.web_root = s->web_root;
    s->cfg.tls_cert = s->tls_cert;
    s->cfg.tls_key = s->tls_key;
    s->cfg.record_path = s->record_path;
    s->cfg.bind_addr = NULL;
    s->cfg.classes_path = NULL;
    s->cfg.ban_file = NULL;
    snprintf(s->status.model, sizeof s->status.model, "%s", "starting");

    struct stat st;
    if (stat(s->web_root, &st) != 0 || !S_ISDIR(st.st_mode))
        dlog_warn(MOD, "web root %s is not a directory: the page will be missing", s->web_root);

    /* classes + requests */
    s->classes = cfg.classes_path ? dream_classes_load(cfg.classes_path, err) : dream_classes_load_default(err);
    if (!s->classes) { dream_err_prefix(err, "stream"); goto fail; }
    requests_config_t rc;
    requests_config_defaults(&rc);
    rc.hold_s = cfg.hold_s;
    rc.min_hold_s = cfg.min_hold_s < cfg.hold_s ? cfg.min_hold_s : cfg.hold_s;
    rc.queue_max = cfg.queue_max;
    rc.rate_per_min = cfg.rate_per_min;
    rc.rate_burst = cfg.rate_burst;
    rc.drift = cfg.drift;
    rc.initial_subject = cfg.initial_subject;
    rc.seed = cfg.seed;
    s->req = requests_new(&rc, s->classes, err);
    if (!s->req) { dream_err_prefix(err, "stream"); goto fail; }
    if (cfg.ban_file && requests_load_bans(s->req, cfg.ban_file, err) < 0) goto fail;
    s->classes_json = http_classes_json(s->classes);
    if (!s->classes_json) { dream_err_set(err, "stream: out of memory"); goto fail; }
    s->classes_json_len = strlen(s->classes_json);

    /* encoder, recorder, buffers */
    encoder_config_t ec;
    encoder_config_defaults(&ec);
    ec.width = cfg.width; ec.height = cfg.height; ec.fps = cfg.fps; ec.bitrate_kbps = cfg.bitrate_kbps;
    ec.cpu_used = cfg.cpu_used; ec.keyframe_max_s = cfg.keyframe_max_s; ec.threads = cfg.threads;
    s->enc = encoder_new(&ec, err);
    if (!s->enc) goto fail;
    s->kf_frames = (int)(cfg.keyframe_max_s * cfg.fps + 0.5);
    encoder_codec_string(cfg.width, cfg.height, cfg.fps, s->codec, sizeof s->codec);
    size_t fbytes = (size_t)cfg.width * cfg.height * 3;
    s->scaled = malloc(fbytes);
    s->snap = calloc(1, fbytes);
    s->gop = gop_cache_new(s->kf_frames * 2 + 8);
    s->gop_webm = gop_cache_new(s->kf_frames * 2 + 8);
    s->webm_cluster_ms = -1;
    s->webm_init = gop_packet_new(NULL, STREAM_WS_HEADER_BYTES + WS_WEBM_INIT_MAX, LWS_PRE, 0, 0);
    if (s->webm_init) {
        memset(s->webm_init->payload, 0, STREAM_WS_HEADER_BYTES);
        s->webm_init->payload[0] = 2;
        s->webm_init->len = STREAM_WS_HEADER_BYTES +
            ws_webm_init_segment(s->webm_init->payload + STREAM_WS_HEADER_BYTES, WS_WEBM_INIT_MAX, cfg.width, cfg.height);
    }
    s->scratch_cap = LWS_PRE + 65536;
    s->scratch = malloc(s->scratch_cap);
    if (!s->scaled || !s->snap || !s->gop || !s->gop_webm || !s->webm_init || !s->scratch) { dream_err_set(err, "stream: out of memory"); goto fail; }
    if (s->record_path) {
        s->rec = recorder_open(s->record_path, cfg.width, cfg.height, cfg.fps, err);
        if (!s->rec) goto fail;
        dlog_info(MOD, "recording to %s (%s)", s->record_path, recorder_is_webm(s->record_path) ? "WebM" : "IVF");
    }

    /* events known from the start */
    cJSON *hello = cJSON_CreateObject();
    cJSON_AddStringToObject(hello, "codec", s->codec);
    cJSON_AddNumberToObject(hello, "width", cfg.width);
    cJSON_AddNumberToObject(hello, "height", cfg.height);
    cJSON_AddNumberToObject(hello, "fps", cfg.fps);
    cJSON_AddNumberToObject(hello, "header_bytes", STREAM_WS_HEADER_BYTES);
    cJSON_AddNumberToObject(hello, "version", 1);
    s->ev_hello = event_with_type("hello", hello);
    cJSON_Delete(hello);
    s->req_version = requests_version(s->req);
    rebuild_request_events(s);
    rebuild_status_event(s);

    /* libwebsockets */
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_dlog);
    s->protocols[0] = (struct lws_protocols){"http", stream_cb, sizeof(pss_t), 0, 0, NULL, 0};
    s->protocols[1] = (struct lws_protocols){STREAM_SUBPROTOCOL, stream_cb, sizeof(pss_t), WS_RX_MAX, 0, NULL, 0};
    memset(&s->protocols[2], 0, sizeof s->protocols[2]);
    memset(s->mounts, 0, sizeof s->mounts);
    s->mounts[0].mountpoint = "/";
    s->mounts[0].origin = s->web_root;
    s->mounts[0].def = "index.html";
    s->mounts[0].protocol = "http";     /* its ADD_HEADERS callback adds the security headers */
    s->mounts[0].origin_protocol = LWSMPRO_FILE;
    s->mounts[0].mountpoint_len = 1;
    s->mounts[0].mount_next = &s->mounts[1];
    s->mounts[1].mountpoint = "/api";
    s->mounts[1].origin = "http";
    s->mounts[1].origin_protocol = LWSMPRO_CALLBACK;
    s->mounts[1].mountpoint_len = 4;
    s->mounts[1].mount_next = &s->mounts[2];
    s->mounts[2].mountpoint = "/snapshot.png";
    s->mounts[2].origin = "http";
    s->mounts[2].origin_protocol = LWSMPRO_CALLBACK;
    s->mounts[2].mountpoint_len = 13;

    {   /* per-address connection table, one entry per possible fd */
        struct rlimit rl;
        long nfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 65536;
        if (nfd > 65536) nfd = 65536;
        s->conns = calloc((size_t)nfd, sizeof *s->conns);
        if (!s->conns) { dream_err_set(err, "stream: out of memory"); goto fail; }
        s->nconns = (int)nfd;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg.http_port;
    info.iface = cfg.bind_addr && *cfg.bind_addr ? cfg.bind_addr : NULL;
    info.protocols = s->protocols;
    info.mounts = s->mounts;
    info.user = s;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;   /* security headers: add_security_headers() */
    /* lws 4.1 binds an IPv6 socket to every address when given an IPv4 literal; an IPv4
     * bind address therefore needs an IPv4-only listener to stay on that address. */
    if (info.iface && strchr(info.iface, '.') && !strchr(info.iface, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = 20;
    info.max_http_header_data = 4096;
    info.fd_limit_per_thread = (unsigned)(cfg.max_viewers + 64);
    info.count_threads = 1;
    if (s->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = s->tls_cert;
        info.ssl_private_key_filepath = s->tls_key;
        info.alpn = "http/1.1";
    }
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        dream_err_set(err, "stream: cannot start the web server on %s:%d (port in use, bad address or TLS files?)",
                      info.iface ? info.iface : "*", cfg.http_port);
        goto fail;
    }
    s->vh = lws_get_vhost_by_name(s->ctx, "default");
    s->port = s->vh ? lws_get_vhost_listen_port(s->vh) : cfg.http_port;
    if (s->port <= 0) {
        dream_err_set(err, "stream: web server is not listening on port %d", cfg.http_port);
        goto fail;
    }

    if (pthread_create(&s->enc_thread, NULL, enc_main, s) != 0) { dream_err_set(err, "stream: cannot start the encoder thread"); goto fail; }
    s->enc_started = 1;
    if (pthread_create(&s->svc_thread, NULL, svc_main, s) != 0) { dream_err_set(err, "stream: cannot start the server thread"); goto fail; }
    s->svc_started = 1;
    dlog_info(MOD, "serving %s on %s://%s:%d/ (%dx%d @ %d fps, %d kbps, %s)", s->web_root, s->tls_cert ? "https" : "http",
              info.iface ? info.iface : "0.0.0.0", s->port, cfg.width, cfg.height, cfg.fps, cfg.bitrate_kbps, s->codec);
    return s;
fail:
    stream_destroy(&s);
    return NULL;
}

void stream_destroy(stream_t **ps) {
    if (!ps || !*ps) return;
    stream_t *s = *ps;
    if (s->enc_started) {
        pthread_mutex_lock(&s->fmu);
        s->enc_stop = 1;
        pthread_cond_broadcast(&s->fcond);
        pthread_mutex_unlock(&s->fmu);
        pthread_join(s->enc_thread, NULL);
    }
    if (s->svc_started) {
        atomic_store(&s->svc_stop, 1);
        lws_cancel_service(s->ctx);
        pthread_join(s->svc_thread, NULL);
    }
    if (s->ctx) lws_context_destroy(s->ctx);   /* closes viewers: CLOSED frees them */
    while (s->viewers) {                        /* (should be none left) */
        viewer_t *v = s->viewers;
        s->viewers = v->next;
        gop_queue_destroy(&v->q);
        free(v);
    }
    for (int i = 0; i < s->pcount; i++) {
        gop_packet_unref(&s->pring[(s->phead + i) % PKT_RING].raw);
        gop_packet_unref(&s->pring[(s->phead + i) % PKT_RING].webm);
    }
    if (s->rec) {
        dream_err_t err = {{0}};
        uint64_t n = recorder_frames(s->rec);
        if (recorder_close(&s->rec, &err) < 0) dlog_error(MOD, "%s", err.msg);
        else dlog_info(MOD, "recording finished: %llu frames in %s", (unsigned long long)n, s->record_path);
    }
    gop_cache_destroy(&s->gop);
    gop_cache_destroy(&s->gop_webm);
    gop_packet_unref(&s->webm_init);
    encoder_destroy(&s->enc);
    requests_destroy(&s->req);
    free(s->conns);
    dream_classes_destroy(&s->classes);
    for (int i = 0; i < FRAME_SLOTS; i++) free(s->slot[i]);
    free(s->work);
    free(s->scaled);
    free(s->snap);
    free(s->png);
    free(s->scratch);
    free(s->classes_json);
    free(s->ev_hello);
    free(s->ev_subject);
    free(s->ev_queue);
    free(s->ev_status);
    free(s->web_root);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->record_path);
    pthread_mutex_destroy(&s->fmu);
    pthread_cond_destroy(&s->fcond);
    pthread_mutex_destroy(&s->snap_mu);
    pthread_mutex_destroy(&s->pmu);
    pthread_mutex_destroy(&s->smu);
    pthread_mutex_destroy(&s->rmu);
    free(s);
    *ps = NULL;
}

int stream_port(const stream_t *s) { return s ? s->port : -1; }

int stream_push_frame(stream_t *s, const uint8_t *rgb8, int w, int h) {
    if (!s || !rgb8 || w < 1 || h < 1 || w > 4096 || h > 4096) return -1;
    size_t bytes = (size_t)w * h * 3;
    pthread_mutex_lock(&s->fmu);
    int k;
    if (s->slot_count == FRAME_SLOTS) {
        /* encoder behind: replace the oldest waiting frame */
        k = s->slot_head;
        s->slot_head = (s->slot_head + 1) % FRAME_SLOTS;
        s->slot_count--;
        pthread_mutex_lock(&s->smu);
        s->stats.frames_dropped++;
        pthread_mutex_unlock(&s->smu);
    } else {
        k = (s->slot_head + s->slot_count) % FRAME_SLOTS;
    }
    if (s->slot_cap[k] < bytes) {
        uint8_t *nb = realloc(s->slot[k], bytes);
        if (!nb) { pthread_mutex_unlock(&s->fmu); return -1; }
        s->slot[k] = nb;
        s->slot_cap[k] = bytes;
    }
    memcpy(s->slot[k], rgb8, bytes);
    s->slot_w[k] = w;
    s->slot_h[k] = h;
    s->slot_count++;
    pthread_cond_signal(&s->fcond);
    pthread_mutex_unlock(&s->fmu);
    pthread_mutex_lock(&s->smu);
    s->stats.frames_in++;
    pthread_mutex_unlock(&s->smu);
    return 0;
}

void stream_force_keyframe(stream_t *s) {
    if (!s) return;
    pthread_mutex_lock(&s->fmu);
    s->force_key = 1;
    pthread_mutex_unlock(&s->fmu);
}

void stream_set_status(stream_t *s, const stream_status_t *st) {
    if (!s || !st) return;
    pthread_mutex_lock(&s->smu);
    s->status = *st;
    s->status.model[sizeof s->status.model - 1] = 0;
    pthread_mutex_unlock(&s->smu);
}

int stream_current_subjects(stream_t *s, int *ids, int max) {
    if (!s || !ids || max < 1) return 0;
    if (requests_tick(s->req)) lws_cancel_service(s->ctx);
    return requests_current(s->req, ids, max);
}

uint64_t stream_subject_serial(stream_t *s) { return s ? requests_serial(s->req) : 0; }

int stream_request(stream_t *s, const char *text, const char *from_ip, dream_err_t *err) {
    if (!s) return dream_err_set(err, "stream: none");
    requests_result_t r;
    /* the coordinator's own requests are trusted: no rate limit or address ban */
    int rc = requests_submit(s->req, text, NULL, &r);
    dlog_info(MOD, "request '%.80s' from %s: %d %s", text ? text : "", from_ip ? from_ip : "local", r.http_status, r.message);
    pthread_mutex_lock(&s->smu);
    if (rc == 0) s->stats.requests_accepted++;
    else s->stats.requests_refused++;
    pthread_mutex_unlock(&s->smu);
    if (rc < 0) return dream_err_set(err, "%s", r.message);
    lws_cancel_service(s->ctx);
    return r.position;
}

int stream_submit_as(stream_t *s, const char *text, const char *key, const char *name,
                     int *accepted, char *reply, size_t n) {
    if (accepted) *accepted = 0;
    if (reply && n) reply[0] = 0;
    if (!s) return -1;
    requests_result_t r;
    int rc = requests_submit_named(s->req, text, key && *key ? key : "unknown", name, &r);
    pthread_mutex_lock(&s->smu);
    if (rc == 0) s->stats.requests_accepted++;
    else s->stats.requests_refused++;
    pthread_mutex_unlock(&s->smu);
    dlog_write(rc == 0 ? DLOG_INFO : DLOG_DEBUG, MOD, "request '%.80s' from %s: %d %s", text ? text : "",
               key ? key : "?", r.http_status, r.message);
    if (rc == 0) lws_cancel_service(s->ctx);
    if (accepted) *accepted = rc == 0 && !r.already;
    if (reply && n) snprintf(reply, n, "%s", r.message);
    return rc;
}

void stream_overlay_label(void *ud, char *buf, size_t n) {
    stream_t *s = ud;
    if (!buf || n == 0) return;
    buf[0] = 0;
    if (s) requests_current_label(s->req, buf, n);
}

void stream_get_stats(stream_t *s, stream_stats_t *out) {
    if (!s || !out) return;
    pthread_mutex_lock(&s->smu);
    *out = s->stats;
    out->encode_ms_avg = s->stats.frames_encoded ? s->enc_ms_total / (double)s->stats.frames_encoded : 0;
    pthread_mutex_unlock(&s->smu);
}

/* ---------------------------------------------------------------- operator controls (dreamctl) */

struct requests *stream_requests(stream_t *s) { return s ? s->req : NULL; }
const dream_classes_t *stream_classes(stream_t *s) { return s ? s->classes : NULL; }

int stream_set_encoder(stream_t *s, int bitrate_kbps, int cpu_used, dream_err_t *err) {
    if (bitrate_kbps < 100 || bitrate_kbps > 50000)
        return dream_err_set(err, "bitrate %d kbps out of range 100..50000", bitrate_kbps);
    if (cpu_used < 5 || cpu_used > 9) return dream_err_set(err, "encoder speed %d out of range 5..9", cpu_used);
    pthread_mutex_lock(&s->fmu);
    s->want_bitrate = bitrate_kbps;
    s->want_cpu_used = cpu_used;
    pthread_mutex_unlock(&s->fmu);
    pthread_mutex_lock(&s->smu);
    s->cfg.bitrate_kbps = bitrate_kbps;
    s->cfg.cpu_used = cpu_used;
    pthread_mutex_unlock(&s->smu);
    return 0;
}

int stream_record_start(stream_t *s, const char *path, dream_err_t *err) {
    pthread_mutex_lock(&s->rmu);
    int busy = s->rec != NULL;
    pthread_mutex_unlock(&s->rmu);
    if (busy) return dream_err_set(err, "already recording to %s (record stop first)", s->record_path ? s->record_path : "?");
    recorder_t *r = recorder_open(path, s->cfg.width, s->cfg.height, s->cfg.fps, err);
    if (!r) return -1;
    char *dup = strdup(path);
    pthread_mutex_lock(&s->rmu);
    free(s->record_path);
    s->record_path = dup;
    s->cfg.record_path = dup;
    s->rec = r;
    s->rec_wait_key = 1;
    pthread_mutex_unlock(&s->rmu);
    stream_force_keyframe(s);
    dlog_info(MOD, "recording to %s (%s)", path, recorder_is_webm(path) ? "WebM" : "IVF");
    return 0;
}

int stream_record_stop(stream_t *s, char *what, size_t n, dream_err_t *err) {
    pthread_mutex_lock(&s->rmu);
    if (!s->rec) {
        pthread_mutex_unlock(&s->rmu);
        return dream_err_set(err, "not recording");
    }
    uint64_t frames = recorder_frames(s->rec);
    int rc = recorder_close(&s->rec, err);
    if (what) snprintf(what, n, "%llu frames in %s", (unsigned long long)frames, s->record_path ? s->record_path : "?");
    pthread_mutex_unlock(&s->rmu);
    if (rc == 0) dlog_info(MOD, "recording finished: %llu frames", (unsigned long long)frames);
    return rc;
}

int stream_recording(stream_t *s, char *path, size_t n) {
    pthread_mutex_lock(&s->rmu);
    int on = s->rec != NULL;
    if (path && n) snprintf(path, n, "%s", on && s->record_path ? s->record_path : "");
    pthread_mutex_unlock(&s->rmu);
    return on;
}
