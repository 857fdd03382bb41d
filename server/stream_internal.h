/*
 * stream_internal.h — the stream_t shared by the stream_*.c files (not a public header:
 * only server/stream*.c include it; everyone else uses stream.h).
 *
 *   stream.c        lifecycle (stream_new/destroy), the encoder thread, the lws dispatch
 *                   (stream_cb) and service thread, the public API of stream.h
 *   stream_http.c   HTTP routing (/api/..., /snapshot.png, /metrics), security headers,
 *                   per-address connection admission, the client address
 *   stream_ws.c     websocket viewers (join/leave/write), packet fan-out, JSON events + tick
 *   stream_stats.c  the counters (stream_stat_* helpers, stream_get_stats, status object)
 *   stream_ctl.c    requests and operator controls from other threads (queue, encoder, recording)
 *
 * Locks: fmu (frame ring, encoder controls), pmu (packet ring), snap_mu (snapshot),
 * smu (status + stats: only through stream_stat_* / stream_get_stats), rmu (recorder).
 * Everything under "service thread" is touched only by the lws service thread.
 */
#ifndef DREAM_STREAM_INTERNAL_H
#define DREAM_STREAM_INTERNAL_H
#include "stream.h"
#include "encoder.h"
#include "recorder.h"
#include "gop.h"
#include "requests.h"
#include "classes.h"
#include <libwebsockets.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

#define STREAM_MOD "stream"
#define FRAME_SLOTS 2
#define PKT_RING 128
#define TICK_US (250 * LWS_US_PER_MS)
#define STREAM_WAIT_MAX 256      /* parked 202s; beyond, answers go at once */
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

enum { PSS_NONE = 0, PSS_HTTP = 1, PSS_VIEWER = 2 };

/* per-connection data for both protocols (HTTP and viewers) */
typedef struct pss {
    int kind;                   /* PSS_* */
    /* http */
    char *body;                 /* POST body, HTTP_BODY_MAX + 1 */
    size_t body_len;
    int body_overflow;
    char ctype[96];
    uint8_t *resp;              /* LWS_PRE + resp_len */
    size_t resp_len, resp_sent;
    int close_after;
    char *wait_json;            /* a 202 parked until the queue version wait_version is durable */
    int wait_status;
    uint64_t wait_version;
    double wait_deadline_ms;
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
    gop_packet_t *webm_init;    /* STREAM_MSG_WEBM_INIT message: the WebM init segment */
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
    /* durable requests (stream_set_durable): set by the persister, read by the service thread */
    atomic_int durable_on;
    _Atomic uint64_t durable_version;
    /* service thread only: the connections whose 202 is parked (pss_t.wait_json) */
    struct lws *waiting[STREAM_WAIT_MAX];
    int nwaiting;
    uint64_t durable_seen;
};

/* ---- stream_stats.c: every counter change goes through these (they take smu) */
/* *counter (a field of s->stats) += n */
void stream_stat_add(stream_t *s, uint64_t *counter, uint64_t n);
/* one request answered: requests_accepted or requests_refused */
void stream_stat_request(stream_t *s, int accepted);
/* a viewer joined (+1: viewers, viewers_total) or left (-1) */
void stream_stat_viewer(stream_t *s, int delta);
/* one frame encoded: frames_encoded, keyframes, bytes_encoded */
void stream_stat_encoded(stream_t *s, int keyframe, size_t bytes);
/* encode time of one frame (encode_ms_avg) */
void stream_stat_encode_ms(stream_t *s, double ms);
int stream_stat_viewers_now(stream_t *s);
uint64_t stream_stat_frames_in(stream_t *s);
/* the fields of the "status" event (and the base of /api/status); caller cJSON_Delete()s */
cJSON *stream_status_object(stream_t *s);

/* ---- stream_ws.c (service thread) */
/* obj + "type": type, printed; caller frees */
char *stream_event_json(const char *type, cJSON *obj);
void stream_events_rebuild_requests(stream_t *s);   /* subject + queue events */
void stream_events_rebuild_status(stream_t *s);
void stream_tick_cb(lws_sorted_usec_list_t *sul);   /* every TICK_US */
void stream_ws_drain_packets(stream_t *s);          /* encoder's packets -> viewers */
int stream_ws_cb(stream_t *s, struct lws *wsi, enum lws_callback_reasons reason, pss_t *p, void *in, size_t len);

/* ---- stream_http.c (service thread) */
int stream_http_cb(stream_t *s, struct lws *wsi, enum lws_callback_reasons reason, pss_t *p, void *in, size_t len);
int stream_http_security_headers(struct lws *wsi, uint8_t **p, uint8_t *end);
/* the client's address: the peer, or (trust_forwarded_for) the last X-Forwarded-For entry */
void stream_client_ip(stream_t *s, struct lws *wsi, char *ip, size_t n);
/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: 1 = refuse (max_conns_per_ip reached) */
int stream_conn_admit(stream_t *s, int fd);
/* parked 202s (durable requests): wake the ones whose version is durable or whose wait is over */
void stream_http_wake_waiting(stream_t *s);

#endif
