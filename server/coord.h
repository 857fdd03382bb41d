/*
 * coord.h — the dreamd coordinator: worker registry, heartbeats, keyframe loop
 * (warp, tile, dispatch, blend), requeue/quarantine, admin socket.
 *
 * Single-threaded around one zmq_poll loop (coord_step); the frame clock runs
 * in its own thread (frameclock.h) and gets finished keyframes over inproc.
 * Workers talk to a ROUTER socket (ZMQ_ROUTER_MANDATORY) with the protocol of
 * proto/dreamfarm.proto; dreamctl talks to a REP socket with one-line text
 * commands (status, workers, config, release NAME, subject TEXT, quit).
 */
#ifndef DREAM_COORD_H
#define DREAM_COORD_H
#include <signal.h>
#include <stdint.h>
#include "config.h"
#include "dlog.h"
#include "image.h"
#include "sinks.h"
#include "stream.h"

typedef struct coord_cfg {
    char worker_bind[256];
    char admin_bind[256];
    char weights[512];
    char size[32];
    int fps;
    char frames_out[512];
    int frames_every;
    char keyframes_out[512];
    int steps;
    double lr, mean_weight, prior_strength;
    int jitter;
    char subjects[256];
    char layout[16];
    char optimizer[16];         /* "seed" (the 2015 reference's update) | "adam" (textbook) */
    double zoom_per_sec, rotate_deg_per_sec, max_kf_dt;
    int halo, min_side, max_tiles, seam_jitter;
    double job_overhead_ms;
    int heartbeat_ms, liveness;
    double deadline_factor;
    int deadline_min_ms;
    int max_failures;
    int max_workers;
    int io_threads;             /* ZeroMQ I/O threads of dreamd's context */
    char state[512];
    int seed;
    char model_hash[64];
    char log_level[16];
    char log_format[16];        /* logfmt | text */
    double run_seconds;
    int max_keyframes;
    int stream_width, stream_height;
    /* the live page / stream: its settings and their table (server/stream.h; rows included
     * in coord_cfg_opts); dreamd sets stream.enc's size and rate from the frame clock */
    stream_config_t stream;
    char curve_secret_file[512];
    char curve_allow_file[512];
    /* admin access (server/admin.h) and metrics (server/metrics.h) */
    char admin_secret_file[512];
    char admin_allow_file[512];
    char admin_readonly_file[512];
    char metrics_bind[256];
    /* hostile peers (docs/security.md) */
    int allow_sim;              /* accept "sim" workers (tests/benchmarks only) */
    int max_unproven;           /* connected workers that never delivered a tile */
    double hellos_per_s;        /* new worker connections admitted per second */
    double unproven_timeout_s;  /* a worker without a delivered tile is dropped after this */
    double quarantine_s;        /* a persisted (CURVE key) quarantine expires after this */
    int quarantine_max;         /* rows kept in the persisted quarantine */
    double min_ms_mpix;         /* results faster than this per MPx-step are implausible */
    /* derived */
    int W, H;
    /* derived by coord_cfg_model() (cleared by coord_cfg_finish()) */
    int model_known;            /* 1 once coord_cfg_model() ran */
    char model_pin[64];         /* the hash every (non-sim) worker must have; "" = the first worker's */
    char model_src[640];        /* where it comes from, e.g. "dreamd --weights random, UNTRAINED random init" */
    int model_untrained;        /* what dreamd knows: 1 = random init (the page shows a banner) */
    /* text overlay burned into the frames (server/overlay.h) */
    int burn_in;
    char overlay_font[512];
    int overlay_px;
    /* IRC chat bridge (server/irc.h) */
    char irc_server[256];
    char irc_channel[64];
    char irc_nick[32];
    char irc_password_file[512];
    int irc_tls;
    int irc_tls_verify;
    /* motion, keyframe warp, start image (issue 9: the 2015 stream by default) */
    char motion[16];            /* "video" (reference: fixed speed in video time) | "wallclock" (old adaptive) */
    int frames_per_kf;          /* > 0: fixed output frames per keyframe; 0 = ceil(fps / EMA rate) */
    char kf_warp[16];           /* keyframe warp kernel: "bicubic" (reference) | "bilinear" */
    int canvas8;                /* 1: the canvas becomes the workers' 8-bit result (old); 0: float delta */
    char start_image[512];      /* PNG/JPEG resized to the canvas; "" = the synthetic start */
    int SW, SH;                 /* derived: the stream / frame-clock size */
    int resident;               /* whole-canvas jobs from the worker's kept float canvas (issue 14) */
    int tile_warp_worker;       /* --tile-warp worker|resident: workers warp their tiles from a window (issue 14) */
    int tile_resident;          /* --tile-warp resident: ... and keep their tiles; 8.8 results (issue 14) */
    char tile_warp[16];         /* "coordinator" | "worker" | "resident" */
    char tile_result[8];        /* "8.8" | "8": a tile-resident result's precision (docs/farm.md) */
    int tile_result8;           /* --tile-result 8: results rounded to 8 bits (1.2x a canvas in, not 2.4x) */
    int result_rest;            /* --result-rest: tile-resident results in two parts (Job.rest) */
} coord_cfg_t;

extern const cfg_opt_t coord_cfg_opts[];

/* Parses size "WxH" etc. into the derived fields; checks cross-field rules. */
int coord_cfg_finish(coord_cfg_t *cfg, dream_err_t *err);
/* The farm's model, pinned before any worker joins (derived model_* fields; logs it):
 * --model-hash; else --weights "random" (the identity hash of the workers' default random
 * init, nothing generated), FILE (loaded once with the worker's loader, hash + trained flag
 * kept, freed; a missing or bad file is an error naming it), or "any" (the first non-sim
 * worker's hash, the old behaviour). Sim workers (hash "sim") are never checked.
 * coord_new() calls it unless the caller did (dreamd does, to fail before binding). */
int coord_cfg_model(coord_cfg_t *cfg, dream_err_t *err);

typedef struct coord_stats {
    int workers, busy, quarantined, unproven;
    uint64_t keyframes, jobs_sent, results_ok, requeued, tiles_missed, late_discarded, malformed,
        failures, bytes_in, bytes_out, refused;
    uint64_t refused_rate, refused_unproven, dropped_idle, implausible, log_suppressed;
    double kf_interval_ms;      /* EMA */
    double coord_ms_per_kf;     /* coordinator's own work per keyframe (warp, blend, hand-off; overlapped part too) */
    double uptime_s;
} coord_stats_t;

typedef struct coord coord_t;

/* zctx: a ZeroMQ context (not owned). frames: sinks for the frame clock (not owned;
 * may be NULL). With cfg->fps <= 0 no frame clock runs (tests). */
coord_t *coord_new(const coord_cfg_t *cfg, void *zctx, dream_sinks_t *frames, dream_err_t *err);
void coord_destroy(coord_t **c);
/* One iteration: poll up to timeout_ms, handle messages and timers, dispatch.
 * Returns 1 while running, 0 once stopped (quit command / limits), -1 on fatal error. */
int coord_step(coord_t *c, int timeout_ms);
/* Runs until *stop (signal flag) or coord_step returns <= 0; says bye to workers. */
int coord_run(coord_t *c, volatile sig_atomic_t *stop);
void coord_request_stop(coord_t *c);
void coord_get_stats(coord_t *c, coord_stats_t *st);
/* Sets the subjects from text ("tree frog + volcano" or class ids); source for history. */
int coord_set_subjects(coord_t *c, const char *text, const char *source, dream_err_t *err);
/* Runs one admin command and writes the reply (used by the REP socket and by tests). */
void coord_admin(coord_t *c, const char *cmd, char *reply, size_t n);
/* Connects the live stream (stream.h; not owned): subjects follow the viewers' request
 * queue, status goes to the page. NULL detaches. */
struct stream;
void coord_set_stream(coord_t *c, struct stream *s);
/* CURVE on the worker socket (server/coord_curve.c): the server key pair from secret_file and
 * a ZAP handler thread admitting only the worker public keys listed in allow_file.
 * coord_curve_destroy() stops and joins that thread (call it before zmq_ctx_term of zctx). */
typedef struct coord_curve coord_curve_t;
coord_curve_t *coord_curve_new(void *zctx, void *router, const char *secret_file, const char *allow_file,
                               dream_err_t *err);
void coord_curve_destroy(coord_curve_t **cc);
/* The current canvas (read-only; valid until the next coord_step). */
const dream_image_t *coord_canvas(coord_t *c);
/* 0 while the last keyframe still waits for the rests of its results (Job.rest, a few ms after
 * the next keyframe's jobs are out): coord_canvas then has older pixels there */
int coord_canvas_settled(const coord_t *c);

/* For the admin commands (server/admin.c); coordinator thread only. */
size_t coord_status_text(coord_t *c, char *r, size_t n);     /* "# Server" ... "# Timing" */
size_t coord_workers_text(coord_t *c, char *r, size_t n);    /* worker lines + "# Quarantine" */
/* op: "release" | "drain" | "kick"; writes "OK ..." / "ERR ..." into r; 0 or -1 */
int coord_worker_ctl(coord_t *c, const char *op, const char *name, char *r, size_t n);
int coord_worker_names(coord_t *c, char *buf, size_t n);     /* "name\n" lines; returns count */
coord_cfg_t *coord_config(coord_t *c);                       /* live: admin `config set` writes it */
int coord_apply_layout(coord_t *c, const char *name, dream_err_t *err);
struct dream_state *coord_state(coord_t *c);
struct stream *coord_stream(coord_t *c);
const char *coord_subjects_text(coord_t *c);
void coord_set_paused(coord_t *c, int on);                   /* no new keyframes while paused */
int coord_paused(coord_t *c);
typedef struct coord_worker_info {
    char name[129], backend[16];
    const char *state;          /* "idle" | "busy" | "draining" | "quarantined" */
    int failures;
    unsigned long long jobs_done;
    double ms_mpix;             /* measured ms per MPx-step (EMA) */
} coord_worker_info_t;
/* slot i: 1 filled, 0 empty slot, -1 past the last slot */
int coord_worker_info(coord_t *c, int i, coord_worker_info_t *out);
struct frameclock_stats;
void coord_frame_stats(coord_t *c, struct frameclock_stats *out);   /* zeros without a clock */

#endif
