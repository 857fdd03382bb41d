/*
 * stream.h — what viewers see: the public face of dreamfarm.
 *
 * One stream_t owns
 *   - a VP9 encoder thread (libvpx, realtime CBR; encodes ONCE for all viewers),
 *   - one libwebsockets 4.1 service thread serving HTTP(S) + websockets:
 *       GET  /                 the web page (web/index.html, app.js, style.css)
 *       GET  /api/status       JSON status (workers, fps, viewers, subjects, ...)
 *       GET  /api/classes      JSON list of the 1000 class names
 *       POST /api/request      field `subject` (form-encoded or JSON), optional `name`
 *                              -> 202 / 400 / 413 / 429
 *       GET  /snapshot.png     the newest frame
 *       GET  /metrics          Prometheus text (server/metrics.h), unless --metrics-bind moved it
 *       ws subprotocol "dreamfarm.v1": binary = 16-byte header + VP9 frame, text = JSON events,
 *   - the viewers' request queue (server/requests.h): which ImageNet class(es) to dream of,
 *   - an optional recorder (--record FILE: IVF, or WebM when FILE ends in .webm).
 *
 * Threading: every function here may be called from any thread (e.g. the coordinator's frame
 * clock). stream_push_frame() copies the frame into a small ring and returns at once; if the
 * encoder is behind, the oldest waiting frame is dropped (counted in stats.frames_dropped).
 * Nothing here ever blocks on a viewer.
 *
 * Typical use by the coordinator:
 *   stream_config_t cfg; stream_config_defaults(&cfg);
 *   cfg.http_port = 8080; cfg.enc.width = 1024; cfg.enc.height = 576; cfg.enc.fps = 25;
 *   stream_t *s = stream_new(&cfg, &err);            // starts both threads
 *   ...each frame tick:
 *     int ids[DREAM_MAX_SUBJECTS];
 *     int n = stream_current_subjects(s, ids, DREAM_MAX_SUBJECTS);   // what to dream of now
 *     ... render ...
 *     stream_push_frame(s, rgb, w, h);               // (h, w, 3) uint8 RGB
 *   ...now and then:
 *     stream_status_t st = { .workers = 3, .keyframe_rate = 1.5, .fps = 25, .untrained = 0 };
 *     snprintf(st.model, sizeof st.model, "VGG-16 (ImageNet), conv5_1");
 *     stream_set_status(s, &st);
 *   stream_destroy(&s);
 */
#ifndef DREAM_STREAM_H
#define DREAM_STREAM_H
#include <stdint.h>
#include <stddef.h>
#include "dlog.h"
#include "classes.h"
#include "config.h"
#include "encoder.h"
#include "requests.h"

#define STREAM_MAX_SUBJECTS DREAM_MAX_SUBJECTS   /* "a + b + c + d" (common/classes.h) */
#define STREAM_MAX_WIDTH 1920
#define STREAM_MAX_HEIGHT 1080
#define STREAM_SUBPROTOCOL "dreamfarm.v1"
#define STREAM_WS_HEADER_BYTES 16   /* see docs/streaming.md for the layout */
/* The binary message header: byte offsets of its big-endian fields (docs/streaming.md) */
#define STREAM_HDR_TYPE 0           /* 1 byte: STREAM_MSG_* */
#define STREAM_HDR_FLAGS 1          /* 1 byte: STREAM_FLAG_* */
#define STREAM_HDR_WIDTH 2          /* 2 bytes */
#define STREAM_HDR_HEIGHT 4         /* 2 bytes */
#define STREAM_HDR_FPS 6            /* 2 bytes */
#define STREAM_HDR_SEQ 8            /* 4 bytes: frame number */
#define STREAM_HDR_CLOCK_MS 12      /* 4 bytes: server clock, ms (low 32 bits) */
#define STREAM_MSG_VIDEO 1          /* /ws: one raw VP9 frame */
#define STREAM_MSG_WEBM_INIT 2      /* /ws/webm: the WebM init segment (once, after hello) */
#define STREAM_MSG_WEBM_MEDIA 3     /* /ws/webm: SimpleBlock (+ Cluster at keyframes) */
#define STREAM_FLAG_KEYFRAME 0x01

/* The stream's settings: one table (stream_cfg_opts) holds every default; dreamd's own table
 * includes it (CFG_SUB), so its flags, config file, `dreamctl config` and `config set` are
 * these rows. The encoder's and the request queue's settings are their structs and tables,
 * embedded here (enc, req). */
typedef struct stream_config {
    /* network */
    int http_port;              /* 8080; 0 = let the OS pick (see stream_port()) */
    char bind_addr[64];         /* "" = all interfaces; e.g. "127.0.0.1" (--http-bind) */
    char web_root[512];         /* "" = <dream_data_dir()>/../web */
    char tls_cert[512];         /* both set = HTTPS/WSS only; PEM files */
    char tls_key[512];
    int max_viewers;            /* websocket viewers accepted at once */
    int max_conns_per_ip;       /* open TCP connections (HTTP + websocket) per IPv4 address /
                                 * IPv6 /64 (docs/security.md) */
    double parse_per_s;         /* request bodies parsed per second, all viewers together (burst:
                                 * as many); beyond it 503 before the body is read; 0 = no cap */
    /* video: enc.width/height = the encoded size (even, up to 1920x1080; pushed frames of
     * another size are rescaled, bilinear), enc.fps, enc.bitrate_kbps (CBR), enc.cpu_used
     * (libvpx speed 5..9), enc.keyframe_max_s, enc.threads (default = online CPUs, max 8) */
    encoder_config_t enc;
    int viewer_queue_max;       /* packets queued per viewer before it skips to the next
                                   keyframe; 0 = 3 * fps */
    char record_path[512];      /* "" = no recording; "*.webm" = WebM, else IVF */
    /* requests: req.hold_s, min_hold_s, queue_max, rate_per_min, rate_burst, drift,
     * initial_subject (-1 = random), seed (0 = from the clock); server/requests.h */
    const char *classes_path;   /* not an option: NULL = <dream_data_dir()>/imagenet_classes.txt */
    requests_config_t req;
    char ban_file[512];         /* "" or a file: lines "word X" / "ip A.B.C.D" / "# comment" */
    int trust_forwarded_for;    /* 1 = behind a reverse proxy: the client address for rate
                                   limits and bans is the last X-Forwarded-For entry */
} stream_config_t;

extern const cfg_opt_t stream_cfg_opts[];
#define STREAM_STR_(x) #x       /* a numeric macro as a table's default text */
#define STREAM_STR(x) STREAM_STR_(x)
/* Fills every default (= cfg_defaults(stream_cfg_opts)). */
void stream_config_defaults(stream_config_t *cfg);

/* What the coordinator knows and viewers see in the #status line. */
typedef struct stream_status {
    int workers;                /* connected workers */
    double keyframe_rate;       /* dream keyframes per second produced by the farm */
    double fps;                 /* frames per second pushed (0 = let the stream measure it) */
    int untrained;              /* 1 = weights are random/untrained: the page shows a banner */
    char model[128];            /* e.g. "VGG-16 (ImageNet) conv4_2, octaves 3" */
} stream_status_t;

/* Counters (for tests, benchmarks and /api/status). */
typedef struct stream_stats {
    uint64_t frames_in;         /* frames given to stream_push_frame */
    uint64_t frames_dropped;    /* frames dropped because the encoder was behind */
    uint64_t frames_encoded;
    uint64_t keyframes;
    uint64_t bytes_encoded;
    uint64_t bytes_sent;        /* websocket video + event bytes written to viewers */
    int viewers;                /* websocket viewers now connected */
    uint64_t viewers_total;     /* ever connected */
    uint64_t viewer_fallbacks;  /* times a lagging viewer skipped to the next keyframe */
    uint64_t requests_accepted;
    uint64_t requests_refused;
    double encode_ms_avg;       /* mean encode time per frame */
} stream_stats_t;

typedef struct stream stream_t;

/* Starts the encoder and the server (listening when this returns). NULL + err on failure
 * (bad config, port in use, missing cert, unreadable classes file, ...). */
stream_t *stream_new(const stream_config_t *cfg, dream_err_t *err);
/* Stops both threads, closes viewers, finishes the recording. NULL-safe; clears *s. */
void stream_destroy(stream_t **s);

/* The port actually listened on (useful with http_port = 0). */
int stream_port(const stream_t *s);

/* Queues one (h, w, 3) uint8 RGB frame for encoding; copies it. Any thread.
 * Returns 0, or -1 if w/h are out of range (1..4096) or rgb8 is NULL. */
int stream_push_frame(stream_t *s, const uint8_t *rgb8, int w, int h);
/* Asks the encoder for a keyframe at the next frame (e.g. after a scene cut). */
void stream_force_keyframe(stream_t *s);

/* Replaces the status shown to viewers (broadcast within a second). Any thread. */
void stream_set_status(stream_t *s, const stream_status_t *st);

/* The subject(s) to dream of now: fills up to max class ids, returns how many (>= 1 once the
 * classes are loaded). Advances the request queue by the clock (hold time), so calling it
 * every frame is how the coordinator follows the viewers. Any thread. */
int stream_current_subjects(stream_t *s, int *ids, int max);
/* Increases every time the current subject(s) change; cheap, for "did it change?" checks. */
uint64_t stream_subject_serial(stream_t *s);

/* Adds a request as if a viewer had posted it (for the coordinator's own console or tests).
 * Trusted: no rate limit or address ban (from_ip, may be NULL, is only logged); banned words,
 * unknown classes and a full queue are still refused.
 * Returns the queue position (0 = shown now, 1 = next...), or -1 with the refusal in err. */
int stream_request(stream_t *s, const char *text, const char *from_ip, dream_err_t *err);

/* Submits a request like a viewer from another source (the IRC bridge): the same queue, rate
 * limits and bans, keyed by `key` (e.g. "irc:nick"; an "ip irc:nick" ban line bans it); name
 * (sanitised) is shown in the overlay. Writes the playful answer or the refusal into reply.
 * *accepted = 1 when it was taken (not when it was already on screen). 0 accepted, -1 refused. */
int stream_submit_as(stream_t *s, const char *text, const char *key, const char *name,
                     int *accepted, char *reply, size_t n);
/* The overlay text of the current subject ("@name: term", "term1 & term2"); an
 * overlay_text_fn (overlay.h) with ud = the stream. */
void stream_overlay_label(void *ud, char *buf, size_t n);

void stream_get_stats(stream_t *s, stream_stats_t *out);

/* Operator controls (dreamctl; server/admin.c). Any thread. */
struct requests;
struct requests *stream_requests(stream_t *s);      /* the viewers' queue (borrowed) */
struct dream_classes;
const struct dream_classes *stream_classes(stream_t *s);
/* Live encoder settings: applied by the encoder thread before its next frame. */
int stream_set_encoder(stream_t *s, int bitrate_kbps, int cpu_used, dream_err_t *err);
/* Starts recording to path (.webm = WebM, else IVF) from the next keyframe; one at a time. */
int stream_record_start(stream_t *s, const char *path, dream_err_t *err);
/* Finishes the recording; what gets "N frames in FILE". */
int stream_record_stop(stream_t *s, char *what, size_t n, dream_err_t *err);
int stream_recording(stream_t *s, char *path, size_t n);   /* 1 while recording (path filled) */

/* Durable requests. With a persister on (dreamd with a --state file), a viewer's accepted
 * request is answered (202) only once stream_mark_durable() reports a saved queue version at
 * least the one that holds it, or after STREAM_DURABLE_WAIT_MS (a stuck disk must not hold
 * viewers); other answers go at once. The service thread parks the answer and goes on (the
 * frame clock and the lws loop never wait). Any thread. */
#define STREAM_DURABLE_WAIT_MS 2000
void stream_set_durable(stream_t *s, int on);
/* version: requests_version() of the queue snapshot just committed */
void stream_mark_durable(stream_t *s, uint64_t version);

#endif
