/*
 * stream.c — the stream's lifecycle, encoder thread and libwebsockets service thread.
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
 * The HTTP side is stream_http.c, the viewers and events stream_ws.c, the counters
 * stream_stats.c, the request/operator controls stream_ctl.c; the shared struct is
 * stream_internal.h.
 */
#include "stream_internal.h"
#include "http.h"
#include "ws_webm.h"
#include "paths.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <limits.h>
#include <errno.h>
#include <sys/stat.h>

#define MOD STREAM_MOD

/* ---------------------------------------------------------------- config */

/* the fields that are not options */
static void stream_init(void *base) {
    stream_config_t *c = base;
    memset(c, 0, sizeof *c);
    c->viewer_queue_max = 0;    /* 3 * fps */
    c->classes_path = NULL;
}

/* after the encoder's own defaults: the live stream encodes with up to 8 threads */
static void stream_init_threads(void *base) {
    stream_config_t *c = base;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->enc.threads = n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

const cfg_opt_t stream_cfg_opts[] = {
    CFG_INIT(stream_init),
    CFG_INT(stream_config_t, http_port, "http-port", "8080", 0, 65535, "HTTP/WebSocket port of the live page (0 = off)"),
    CFG_STR(stream_config_t, bind_addr, "http-bind", "", "address the live page listens on (empty = all)"),
    CFG_SUB(stream_config_t, enc, encoder_cfg_opts),
    CFG_INIT(stream_init_threads),
    CFG_STR(stream_config_t, record_path, "record", "", "also record the stream to FILE (.webm or IVF)"),
    CFG_STR(stream_config_t, tls_cert, "tls-cert", "", "PEM certificate: serve the page over HTTPS/WSS (with --tls-key)"),
    CFG_STR(stream_config_t, tls_key, "tls-key", "", "PEM private key for --tls-cert"),
    CFG_STR(stream_config_t, web_root, "web-root", "", "directory of the viewer page (empty = the repository's web/)"),
    CFG_INT(stream_config_t, max_viewers, "max-viewers", "1000", 1, 100000, "websocket viewers accepted at once"),
    CFG_SUB(stream_config_t, req, requests_cfg_opts),
    CFG_STR(stream_config_t, ban_file, "ban-file", "", "banned words and IPs: lines 'word X' / 'ip A.B.C.D'"),
    CFG_BOOL(stream_config_t, trust_forwarded_for, "trust-forwarded-for", "false", "behind a reverse proxy: rate-limit by X-Forwarded-For"),
    CFG_INT(stream_config_t, max_conns_per_ip, "viewer-conns-per-ip", "16", 0, 100000, "open HTTP/websocket connections per viewer IPv4 address or IPv6 /64 (0 = no cap)"),
    CFG_DOUBLE(stream_config_t, parse_per_s, "viewer-parse-per-s", "100", 0, 1e6, "viewers' request bodies parsed per second, all together (beyond: 503; 0 = no cap)"),
    CFG_END};

void stream_config_defaults(stream_config_t *c) {
    cfg_defaults(stream_cfg_opts, c, NULL);
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

static int file_readable(const char *p) { return p && access(p, R_OK) == 0; }
/* ---------------------------------------------------------------- encoder thread */

static void put16(uint8_t *b, unsigned v) { b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v; }
static void put32(uint8_t *b, uint32_t v) { b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); put16(b + 2, v & 0xffff); }

/* the STREAM_WS_HEADER_BYTES header of a binary message (stream.h) */
static void stream_header_write(uint8_t *h, int type, int flags, int w, int hgt, int fps, uint32_t seq, uint32_t ms) {
    h[STREAM_HDR_TYPE] = (uint8_t)type;
    h[STREAM_HDR_FLAGS] = (uint8_t)flags;
    put16(h + STREAM_HDR_WIDTH, (unsigned)w);
    put16(h + STREAM_HDR_HEIGHT, (unsigned)hgt);
    put16(h + STREAM_HDR_FPS, (unsigned)fps);
    put32(h + STREAM_HDR_SEQ, seq);
    put32(h + STREAM_HDR_CLOCK_MS, ms);
}

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
    stream_header_write(h, STREAM_MSG_VIDEO, p->keyframe ? STREAM_FLAG_KEYFRAME : 0, s->cfg.enc.width, s->cfg.enc.height,
                        s->cfg.enc.fps, (uint32_t)p->pts, (uint32_t)(uint64_t)dream_now_ms());
    memcpy(h + STREAM_WS_HEADER_BYTES, p->data, p->len);
    /* the same frame for MSE viewers: header (STREAM_MSG_WEBM_MEDIA) + WebM cluster/SimpleBlock */
    gop_packet_t *wp = gop_packet_new(NULL, STREAM_WS_HEADER_BYTES + p->len + WS_WEBM_FRAME_OVERHEAD, LWS_PRE,
                                      p->keyframe, (uint32_t)p->pts);
    if (!wp) { gop_packet_unref(&gp); dlog_error(MOD, "out of memory for a %zu byte packet", p->len); return; }
    memcpy(wp->payload, h, STREAM_WS_HEADER_BYTES);
    wp->payload[STREAM_HDR_TYPE] = STREAM_MSG_WEBM_MEDIA;
    size_t wn = ws_webm_frame(wp->payload + STREAM_WS_HEADER_BYTES, p->len + WS_WEBM_FRAME_OVERHEAD, p->data, p->len,
                              p->keyframe, p->pts * 1000 / s->cfg.enc.fps, &s->webm_cluster_ms);
    wp->len = STREAM_WS_HEADER_BYTES + wn;

    stream_stat_encoded(s, p->keyframe, p->len);

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
    const int W = s->cfg.enc.width, H = s->cfg.enc.height;
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
        stream_stat_encode_ms(s, dt);

        pthread_mutex_lock(&s->snap_mu);
        memcpy(s->snap, rgb, (size_t)W * H * 3);
        s->snap_seq++;
        pthread_mutex_unlock(&s->snap_mu);
    }
    return NULL;
}
/* ---------------------------------------------------------------- service thread */

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
        return stream_conn_admit(s, (int)(intptr_t)in);
    case LWS_CALLBACK_PROTOCOL_INIT:
        if (is_http_protocol(wsi))
            lws_sul_schedule(s->ctx ? s->ctx : ctx, 0, &s->sul, stream_tick_cb, TICK_US);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (!is_http_protocol(wsi)) return 0;
        stream_ws_drain_packets(s);
        if (s->nwaiting && atomic_load(&s->durable_version) != s->durable_seen) {
            s->durable_seen = atomic_load(&s->durable_version);
            stream_http_wake_waiting(s);
        }
        if (requests_version(s->req) != s->req_version) {
            s->req_version = requests_version(s->req);
            stream_events_rebuild_requests(s);
        }
        return 0;
    case LWS_CALLBACK_ADD_HEADERS: {   /* files served by the mount */
        struct lws_process_html_args *a = in;
        return stream_http_security_headers(wsi, (uint8_t **)&a->p, (uint8_t *)a->p + a->max_len) ? 1 : 0;
    }
    case LWS_CALLBACK_HTTP:
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    case LWS_CALLBACK_HTTP_WRITEABLE:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (!p) return 0;
        return stream_http_cb(s, wsi, reason, p, in, len);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_RECEIVE:
        if (!p && reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION) return 0;
        return stream_ws_cb(s, wsi, reason, p, in, len);
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
    if (c->enc.width < 16 || c->enc.height < 16 || c->enc.width > STREAM_MAX_WIDTH || c->enc.height > STREAM_MAX_HEIGHT)
        return dream_err_set(err, "stream: size %dx%d out of range 16x16..%dx%d", c->enc.width, c->enc.height, STREAM_MAX_WIDTH, STREAM_MAX_HEIGHT);
    if ((c->enc.width | c->enc.height) & 1) return dream_err_set(err, "stream: size %dx%d must be even", c->enc.width, c->enc.height);
    if (c->max_viewers < 1 || c->max_viewers > 100000) return dream_err_set(err, "stream: max viewers %d out of range 1..100000", c->max_viewers);
    if (c->viewer_queue_max < 0 || c->viewer_queue_max > 10000) return dream_err_set(err, "stream: viewer queue %d out of range", c->viewer_queue_max);
    if (!c->tls_cert[0] != !c->tls_key[0]) return dream_err_set(err, "stream: HTTPS needs both --tls-cert and --tls-key");
    if (c->tls_cert[0] && !file_readable(c->tls_cert)) return dream_err_set(err, "stream: cannot read TLS certificate %s", c->tls_cert);
    if (c->tls_key[0] && !file_readable(c->tls_key)) return dream_err_set(err, "stream: cannot read TLS key %s", c->tls_key);
    return 0;
}

static char *default_web_root(void) {
    char buf[PATH_MAX + 16];
    snprintf(buf, sizeof buf, "%s/../web", dream_data_dir());
    char real[PATH_MAX];
    if (realpath(buf, real)) return strdup(real);
    return strdup(buf);
}

/* classes, the viewers' request queue and its bans, /api/classes */
static int stream_open_requests(stream_t *s, const stream_config_t *cfg, dream_err_t *err) {
    s->classes = cfg->classes_path ? dream_classes_load(cfg->classes_path, err) : dream_classes_load_default(err);
    if (!s->classes) { dream_err_prefix(err, "stream"); return -1; }
    requests_config_t rc = cfg->req;
    if (rc.min_hold_s > rc.hold_s) rc.min_hold_s = rc.hold_s;
    s->req = requests_new(&rc, s->classes, err);
    if (!s->req) { dream_err_prefix(err, "stream"); return -1; }
    if (cfg->ban_file[0] && requests_load_bans(s->req, cfg->ban_file, err) < 0) return -1;
    s->classes_json = http_classes_json(s->classes);
    if (!s->classes_json) { dream_err_set(err, "stream: out of memory"); return -1; }
    s->classes_json_len = strlen(s->classes_json);
    return 0;
}

/* encoder, recorder, frame/snapshot buffers, GOP caches, the WebM init message */
static int stream_open_encoder(stream_t *s, dream_err_t *err) {
    const stream_config_t *cfg = &s->cfg;
    s->enc = encoder_new(&cfg->enc, err);
    if (!s->enc) return -1;
    s->kf_frames = (int)(cfg->enc.keyframe_max_s * cfg->enc.fps + 0.5);
    encoder_codec_string(cfg->enc.width, cfg->enc.height, cfg->enc.fps, s->codec, sizeof s->codec);
    size_t fbytes = (size_t)cfg->enc.width * cfg->enc.height * 3;
    s->scaled = malloc(fbytes);
    s->snap = calloc(1, fbytes);
    s->gop = gop_cache_new(s->kf_frames * 2 + 8);
    s->gop_webm = gop_cache_new(s->kf_frames * 2 + 8);
    s->webm_cluster_ms = -1;
    s->webm_init = gop_packet_new(NULL, STREAM_WS_HEADER_BYTES + WS_WEBM_INIT_MAX, LWS_PRE, 0, 0);
    if (s->webm_init) {
        memset(s->webm_init->payload, 0, STREAM_WS_HEADER_BYTES);
        s->webm_init->payload[STREAM_HDR_TYPE] = STREAM_MSG_WEBM_INIT;
        s->webm_init->len = STREAM_WS_HEADER_BYTES +
            ws_webm_init_segment(s->webm_init->payload + STREAM_WS_HEADER_BYTES, WS_WEBM_INIT_MAX, cfg->enc.width, cfg->enc.height);
    }
    s->scratch_cap = LWS_PRE + 65536;
    s->scratch = malloc(s->scratch_cap);
    if (!s->scaled || !s->snap || !s->gop || !s->gop_webm || !s->webm_init || !s->scratch) { dream_err_set(err, "stream: out of memory"); return -1; }
    if (s->record_path) {
        s->rec = recorder_open(s->record_path, cfg->enc.width, cfg->enc.height, cfg->enc.fps, err);
        if (!s->rec) return -1;
        dlog_info(MOD, "recording to %s (%s)", s->record_path, recorder_is_webm(s->record_path) ? "WebM" : "IVF");
    }
    return 0;
}

/* the events known from the start: hello, subject, queue, status */
static void stream_first_events(stream_t *s) {
    const stream_config_t *cfg = &s->cfg;
    cJSON *hello = cJSON_CreateObject();
    cJSON_AddStringToObject(hello, "codec", s->codec);
    cJSON_AddNumberToObject(hello, "width", cfg->enc.width);
    cJSON_AddNumberToObject(hello, "height", cfg->enc.height);
    cJSON_AddNumberToObject(hello, "fps", cfg->enc.fps);
    cJSON_AddNumberToObject(hello, "header_bytes", STREAM_WS_HEADER_BYTES);
    cJSON_AddNumberToObject(hello, "version", 1);
    s->ev_hello = stream_event_json("hello", hello);
    cJSON_Delete(hello);
    s->req_version = requests_version(s->req);
    stream_events_rebuild_requests(s);
    stream_events_rebuild_status(s);
}

/* the lws protocols and mounts (files at /, the API at /api and /snapshot.png), and the
 * per-address connection table */
static int stream_setup_lws(stream_t *s, dream_err_t *err) {
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
        if (!s->conns) { dream_err_set(err, "stream: out of memory"); return -1; }
        s->nconns = (int)nfd;
    }
    return 0;
}

/* the listening lws context (bind_addr is the caller's: only valid during stream_new) */
static int stream_listen(stream_t *s, const stream_config_t *cfg, dream_err_t *err) {
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->http_port;
    info.iface = cfg->bind_addr[0] ? cfg->bind_addr : NULL;
    info.protocols = s->protocols;
    info.mounts = s->mounts;
    info.user = s;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;   /* security headers: stream_http_security_headers() */
    /* lws 4.1 binds an IPv6 socket to every address when given an IPv4 literal; an IPv4
     * bind address therefore needs an IPv4-only listener to stay on that address. */
    if (info.iface && strchr(info.iface, '.') && !strchr(info.iface, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = 20;
    info.max_http_header_data = 4096;
    info.fd_limit_per_thread = (unsigned)(cfg->max_viewers + 64);
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
                      info.iface ? info.iface : "*", cfg->http_port);
        return -1;
    }
    s->vh = lws_get_vhost_by_name(s->ctx, "default");
    s->port = s->vh ? lws_get_vhost_listen_port(s->vh) : cfg->http_port;
    if (s->port <= 0) {
        dream_err_set(err, "stream: web server is not listening on port %d", cfg->http_port);
        return -1;
    }
    return 0;
}

stream_t *stream_new(const stream_config_t *cfg_in, dream_err_t *err) {
    stream_config_t cfg;
    if (cfg_in) cfg = *cfg_in;
    else stream_config_defaults(&cfg);
    if (check_config(&cfg, err) < 0) return NULL;
    if (cfg.viewer_queue_max == 0) cfg.viewer_queue_max = 3 * (cfg.enc.fps > 0 ? cfg.enc.fps : 25);

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
    s->web_root = cfg.web_root[0] ? strdup(cfg.web_root) : default_web_root();
    s->tls_cert = dup_or_null(cfg.tls_cert);
    s->tls_key = dup_or_null(cfg.tls_key);
    s->record_path = dup_or_null(cfg.record_path);
    /* the strings in s->cfg must not point at the caller's memory */
    s->cfg.classes_path = NULL;
    snprintf(s->status.model, sizeof s->status.model, "%s", "starting");

    struct stat st;
    if (stat(s->web_root, &st) != 0 || !S_ISDIR(st.st_mode))
        dlog_warn(MOD, "web root %s is not a directory: the page will be missing", s->web_root);

    if (stream_open_requests(s, &cfg, err) < 0) goto fail;
    if (stream_open_encoder(s, err) < 0) goto fail;
    stream_first_events(s);
    if (stream_setup_lws(s, err) < 0) goto fail;
    if (stream_listen(s, &cfg, err) < 0) goto fail;
    if (pthread_create(&s->enc_thread, NULL, enc_main, s) != 0) { dream_err_set(err, "stream: cannot start the encoder thread"); goto fail; }
    s->enc_started = 1;
    if (pthread_create(&s->svc_thread, NULL, svc_main, s) != 0) { dream_err_set(err, "stream: cannot start the server thread"); goto fail; }
    s->svc_started = 1;
    dlog_info(MOD, "serving %s on %s://%s:%d/ (%dx%d @ %d fps, %d kbps, %s)", s->web_root, s->tls_cert ? "https" : "http",
              cfg.bind_addr[0] ? cfg.bind_addr : "0.0.0.0", s->port, cfg.enc.width, cfg.enc.height, cfg.enc.fps, cfg.enc.bitrate_kbps, s->codec);
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
        stream_stat_add(s, &s->stats.frames_dropped, 1);
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
    stream_stat_add(s, &s->stats.frames_in, 1);
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
