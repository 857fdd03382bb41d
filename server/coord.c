/*
 * coord.c — the dreamd coordinator: registry, heartbeats, keyframe loop,
 * tiles, requeue, quarantine, admin commands; see coord.h.
 */
#define _GNU_SOURCE
#include "coord.h"
#include "overlay.h"
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zmq.h>
#include "canvas.h"
#include "layout.h"
#include "rng.h"
#include "admin.h"
#include "blend.h"
#include "px88.h"
#include "classes.h"
#include "engine.h"
#include "frameclock.h"
#include "metrics.h"
#include "model.h"
#include "motion.h"
#include "state.h"
#include "stream.h"
#include "tiles.h"
#include "wire.h"

#define MOD "coord"
#define COORD_VERSION "dreamd 0.1"

/* dreamd's job rows take the engine's defaults (dream_params_default), the ones `dream` uses */
static void coord_job_init(void *base) {
    coord_cfg_t *cfg = base;
    dream_params_t p;
    dream_params_default(&p);
    cfg->steps = p.steps;
    cfg->lr = p.lr;
    cfg->mean_weight = p.mean_weight;
    cfg->prior_strength = p.prior_strength;
    cfg->jitter = p.jitter;
    snprintf(cfg->optimizer, sizeof cfg->optimizer, "%s", dream_optim_name(p.optim));
}

const cfg_opt_t coord_cfg_opts[] = {
    CFG_STR(coord_cfg_t, worker_bind, "worker-bind", "tcp://*:5555", "ZeroMQ endpoint workers connect to"),
    CFG_STR(coord_cfg_t, admin_bind, "admin-bind", "tcp://127.0.0.1:5556", "admin (dreamctl) endpoint"),
    /* the live page: http-port, http-bind, bitrate-kbps, encoder-speed, record, tls-*, web-root,
     * max-viewers, hold-s ... drift, ban-file, viewer-* (server/stream.h, their one table) */
    CFG_SUB(coord_cfg_t, stream, stream_cfg_opts),
    CFG_STR(coord_cfg_t, weights, "weights", "random", "the farm's model: FILE or 'random' (workers must load the same; its hash is pinned), 'any' = the first worker's"),
    CFG_STR(coord_cfg_t, size, "size", DREAM_CANVAS_SIZE, "canvas (dream) size WxH; frames are upscaled to the stream size in the frame clock's warp"),
    CFG_INT(coord_cfg_t, fps, "fps", DREAM_XSTR(DREAM_FPS), 1, 120, "output frame rate"),
    CFG_STR(coord_cfg_t, frames_out, "frames-out", "", "write every output frame as PNG into DIR"),
    CFG_INT(coord_cfg_t, frames_every, "frames-every", "1", 1, 100000, "with --frames-out: keep every Nth frame"),
    CFG_STR(coord_cfg_t, keyframes_out, "keyframes-out", "", "write every keyframe as PNG into DIR"),
    CFG_INIT(coord_job_init),      /* steps .. jitter, optimizer: the engine's defaults */
    CFG_INT(coord_cfg_t, steps, "steps", NULL, 0, 1000, "optimiser steps per keyframe"),
    CFG_DOUBLE(coord_cfg_t, lr, "lr", NULL, 0, 1000, "optimiser learning rate (pixel units)"),
    CFG_DOUBLE(coord_cfg_t, mean_weight, "mean-weight", NULL, -100, 100, "weight of the mean-logit term"),
    CFG_DOUBLE(coord_cfg_t, prior_strength, "prior-strength", NULL, 0, 10000, "patch prior strength"),
    CFG_INT(coord_cfg_t, jitter, "jitter", NULL, 0, 64, "max jitter roll per step (pixels)"),
    CFG_STR(coord_cfg_t, subjects, "subjects", "volcano", "initial subjects (1-4), e.g. \"tree frog + volcano\" or class ids"),
    CFG_STR(coord_cfg_t, layout, "layout", "auto", "subject layout: auto|single|seed|bands|quadrants (auto: seed for 1-2 subjects, 1 = the 2015 [A, A])"),
    CFG_STR(coord_cfg_t, optimizer, "optimizer", NULL, "pixel optimiser: seed (the 2015 reference's update) | adam (textbook Adam)"),
    CFG_DOUBLE(coord_cfg_t, zoom_per_sec, "zoom-per-sec", DREAM_XSTR(DREAM_ZOOM_PER_SEC), 0.5, 2, "zoom factor per second of video (--motion wallclock: of real time)"),
    CFG_DOUBLE(coord_cfg_t, rotate_deg_per_sec, "rotate-deg-per-sec", DREAM_XSTR(DREAM_ROTATE_DEG_PER_SEC), -90, 90, "rotation per second of video (degrees, ccw; the reference turns -0.25, clockwise)"),
    CFG_DOUBLE(coord_cfg_t, max_kf_dt, "max-keyframe-dt", "5", 0.05, 60, "--motion wallclock: cap on the elapsed time one keyframe's warp covers (s)"),
    CFG_INT(coord_cfg_t, halo, "halo", "64", 64, 1024, "tile halo (px)"),
    CFG_INT(coord_cfg_t, min_side, "min-side", "224", 32, 4096, "engine minimum tile side (px)"),
    CFG_INT(coord_cfg_t, max_tiles, "max-tiles", "64", 1, 64, "most tiles per keyframe"),
    CFG_INT(coord_cfg_t, seam_jitter, "seam-jitter", "32", 0, 1024, "most px the inner tile grid lines move per keyframe (0 = fixed grid)"),
    CFG_DOUBLE(coord_cfg_t, job_overhead_ms, "job-overhead-ms", "20", 0, 10000, "assumed fixed cost per job when planning"),
    CFG_INT(coord_cfg_t, heartbeat_ms, "heartbeat-ms", "1000", 50, 60000, "heartbeat interval (both ways)"),
    CFG_INT(coord_cfg_t, liveness, "liveness", "3", 1, 100, "missed heartbeats before a peer is dead"),
    CFG_DOUBLE(coord_cfg_t, deadline_factor, "deadline-factor", "3", 1, 100, "job deadline = estimate x factor + deadline-min-ms"),
    CFG_INT(coord_cfg_t, deadline_min_ms, "deadline-min-ms", "2000", 10, 600000, "slack added to every job deadline"),
    CFG_INT(coord_cfg_t, max_failures, "max-failures", "3", 1, 1000, "failures before a worker is quarantined"),
    CFG_INT(coord_cfg_t, max_workers, "max-workers", "256", 1, 4096, "most connected workers"),
    CFG_INT(coord_cfg_t, io_threads, "io-threads", "1", 1, 16, "ZeroMQ I/O threads (the worker socket's transfers; ZeroMQ's rule of thumb: one per GB/s, e.g. 2 for 8 workers at 4K)"),
    CFG_STR(coord_cfg_t, state, "state", "dreamd-state.sqlite", "SQLite file for durable state (':memory:' = none)"),
    CFG_INT(coord_cfg_t, seed, "seed", "1", 0, 2147483647, "seed of the initial canvas and tile offsets"),
    CFG_STR(coord_cfg_t, model_hash, "model-hash", "", "required worker model hash (`dream inspect FILE`); overrides --weights"),
    CFG_STR(coord_cfg_t, log_level, "log-level", "info", "debug|info|warn|error"),
    CFG_STR(coord_cfg_t, log_format, "log-format", "logfmt", "log lines: logfmt (one event as key=value: ts level component msg or event fields) | text"),
    CFG_DOUBLE(coord_cfg_t, run_seconds, "run-seconds", "0", 0, 1e9, "stop after this many seconds (0 = never)"),
    CFG_INT(coord_cfg_t, max_keyframes, "max-keyframes", "0", 0, 2147483647, "stop after this many keyframes (0 = never)"),
    CFG_INT(coord_cfg_t, stream_width, "stream-width", "1024", 0, 1920, "frame/stream width: keyframes are upscaled to it (0 = canvas, capped at 1920x1080)"),
    CFG_INT(coord_cfg_t, stream_height, "stream-height", "576", 0, 1080, "frame/stream height (0 = canvas, capped)"),
    CFG_STR(coord_cfg_t, curve_secret_file, "curve-secret-file", "", "CURVE: coordinator key file (from dreamctl keygen); empty = off"),
    CFG_STR(coord_cfg_t, curve_allow_file, "curve-allow-file", "", "CURVE: file of allowed worker public keys (z85, one a line)"),
    CFG_BOOL(coord_cfg_t, burn_in, "burn-in", "true", "burn the subject text (\"@name: term\") into the stream, recording and frames, as in 2015"),
    CFG_STR(coord_cfg_t, overlay_font, "overlay-font", OVERLAY_DEFAULT_FONT, "TrueType font of the burned-in text (missing = a warning, no burn-in)"),
    CFG_INT(coord_cfg_t, overlay_px, "overlay-px", STREAM_STR(OVERLAY_DEFAULT_PX), 8, 128, "size of the burned-in text (pixels)"),
    CFG_STR(coord_cfg_t, irc_server, "irc-server", "", "IRC chat bridge: HOST:PORT (empty = off; port 6697 = TLS)"),
    CFG_STR(coord_cfg_t, irc_channel, "irc-channel", "", "IRC channel whose messages are requests, e.g. '#dreamfarm'"),
    CFG_STR(coord_cfg_t, irc_nick, "irc-nick", "dreamfarm", "the bot's IRC nick (a suffix is added when taken)"),
    CFG_STR(coord_cfg_t, irc_password_file, "irc-password-file", "", "file whose first line is the IRC server password (PASS)"),
    CFG_BOOL(coord_cfg_t, irc_tls, "irc-tls", "false", "IRC over TLS (always on for port 6697)"),
    CFG_BOOL(coord_cfg_t, irc_tls_verify, "irc-tls-verify", "true", "check the IRC server's TLS certificate and name"),
    CFG_STR(coord_cfg_t, admin_secret_file, "admin-secret-file", "", "CURVE key file of the admin socket (required when --admin-bind is not ipc:// or loopback TCP)"),
    CFG_STR(coord_cfg_t, admin_allow_file, "admin-allow-file", "", "admin public keys allowed every command (z85, one a line)"),
    CFG_STR(coord_cfg_t, admin_readonly_file, "admin-readonly-file", "", "admin public keys allowed only read-only commands"),
    CFG_STR(coord_cfg_t, metrics_bind, "metrics-bind", "", "serve GET /metrics on HOST:PORT instead of the public page's port"),
    CFG_STR(coord_cfg_t, motion, "motion", "video", "video: fixed speed per second of video, N = ceil(fps / keyframe rate) frames per keyframe (reference); wallclock: warp by the real time between keyframes (old)"),
    CFG_INT(coord_cfg_t, frames_per_kf, "frames-per-keyframe", "0", 0, 100000, "output frames each keyframe covers (0 = ceil(fps / EMA keyframe rate), the reference)"),
    CFG_STR(coord_cfg_t, kf_warp, "keyframe-warp", "bicubic", "kernel of the keyframe warp on the float canvas: bicubic (reference) | bilinear"),
    CFG_BOOL(coord_cfg_t, canvas8, "canvas-8bit", "false", "the canvas becomes the workers' 8-bit results (old); default: float canvas + the 8-bit change"),
    CFG_STR(coord_cfg_t, start_image, "start-image", "", "PNG/JPEG the dream starts from, resized to the canvas (empty = synthetic)"),
    CFG_BOOL(coord_cfg_t, allow_sim, "allow-sim", "false", "TESTS ONLY: accept sim workers (model hash \"sim\": simulated compute, no model check)"),
    CFG_INT(coord_cfg_t, max_unproven, "max-unproven", "16", 1, 4096, "most connected workers that have not yet delivered a tile"),
    CFG_DOUBLE(coord_cfg_t, hellos_per_s, "hellos-per-s", "20", 0.01, 100000, "new worker connections admitted per second (burst: as many)"),
    CFG_DOUBLE(coord_cfg_t, unproven_timeout_s, "unproven-timeout-s", "60", 1, 86400, "drop a worker that delivered no tile within this many seconds"),
    CFG_DOUBLE(coord_cfg_t, quarantine_s, "quarantine-s", "86400", 1, 1e9, "a quarantine (kept by CURVE key) expires after this many seconds"),
    CFG_INT(coord_cfg_t, quarantine_max, "quarantine-max", "1024", 1, 1000000, "most quarantined keys kept (the oldest go first)"),
    CFG_DOUBLE(coord_cfg_t, min_ms_mpix, "min-ms-per-mpix-step", "0.05", 0, 1e6, "a result faster than this (ms per MPx-step, wall clock) is implausible: a failure (0 = off)"),
    CFG_BOOL(coord_cfg_t, resident, "resident-canvas", "true", "a worker that holds the whole canvas keeps it (float) and gets only the warp of the next keyframe (docs/farm.md)"),
    CFG_STR(coord_cfg_t, tile_warp, "tile-warp", "resident", "who warps the tiles of a tiled keyframe: coordinator (8-bit tiles) | worker (a window of the canvas in 8.8 fixed point, 2x the bytes; the warp leaves the coordinator's critical path) | resident (workers keep their tiles: a job carries only the window's part the worker lacks, results come back in 8.8 and the coordinator does not warp; docs/farm.md)"),
    CFG_BOOL(coord_cfg_t, result_rest, "result-rest", "true", "a tile-resident result comes in two parts: the rim at once, the bulk of the tile (which only its worker reads again) once the next keyframe's jobs are out (docs/farm.md)"),
    CFG_STR(coord_cfg_t, tile_result, "tile-result", "8.8", "precision of a tile-resident worker's result: 8.8 (fixed point, the float chain of the 2015 reference; 2.4x a canvas in at 1080p/4) | 8 (rounded to 8 bits and kept so by the worker: 1.2x, for 1 GbE links; docs/farm.md)"),
    CFG_END};

int coord_cfg_finish(coord_cfg_t *cfg, dream_err_t *err) {
    int w = 0, h = 0;
    if (dream_parse_size(cfg->size, &w, &h) != 0 || w > DREAM_IMAGE_MAX_SIDE || h > DREAM_IMAGE_MAX_SIDE)
        return dream_err_set(err, "option 'size': '%s' is not WxH (e.g. 1280x720)", cfg->size);
    if (w < cfg->min_side || h < cfg->min_side)
        return dream_err_set(err, "option 'size': %dx%d is smaller than the engine minimum %d", w, h, cfg->min_side);
    cfg->W = w;
    cfg->H = h;
    /* the stream (frame clock) size: given, or the canvas scaled down into 1920x1080, even sides */
    double k = 1.0;
    if (w > STREAM_MAX_WIDTH) k = (double)STREAM_MAX_WIDTH / w;
    if (h * k > STREAM_MAX_HEIGHT) k = (double)STREAM_MAX_HEIGHT / h;
    cfg->SW = cfg->stream_width > 0 ? cfg->stream_width : ((int)(w * k) & ~1);
    cfg->SH = cfg->stream_height > 0 ? cfg->stream_height : ((int)(h * k) & ~1);
    if (cfg->SW < 16 || cfg->SH < 16)
        return dream_err_set(err, "option 'stream-width/height': %dx%d is too small", cfg->SW, cfg->SH);
    if (strcmp(cfg->motion, "video") && strcmp(cfg->motion, "wallclock"))
        return dream_err_set(err, "option 'motion': '%s' is not video or wallclock", cfg->motion);
    if (strcmp(cfg->kf_warp, "bicubic") && strcmp(cfg->kf_warp, "bilinear"))
        return dream_err_set(err, "option 'keyframe-warp': '%s' is not bicubic or bilinear", cfg->kf_warp);
    if (strcmp(cfg->tile_warp, "coordinator") && strcmp(cfg->tile_warp, "worker") && strcmp(cfg->tile_warp, "resident"))
        return dream_err_set(err, "option 'tile-warp': '%s' is not coordinator, worker or resident", cfg->tile_warp);
    if (strcmp(cfg->tile_result, "8.8") && strcmp(cfg->tile_result, "8"))
        return dream_err_set(err, "option 'tile-result': '%s' is not 8.8 or 8", cfg->tile_result);
    cfg->tile_result8 = !strcmp(cfg->tile_result, "8");
    cfg->tile_resident = !strcmp(cfg->tile_warp, "resident");
    cfg->tile_warp_worker = cfg->tile_resident || !strcmp(cfg->tile_warp, "worker");
    cfg->model_known = 0;       /* coord_cfg_model() comes after */
    cfg->model_pin[0] = cfg->model_src[0] = 0;
    cfg->model_untrained = 0;
    dlog_level_t lvl;
    if (dlog_parse_level(cfg->log_level, &lvl)) return dream_err_set(err, "option 'log-level': bad level '%s'", cfg->log_level);
    dlog_format_t lf;
    if (dlog_parse_format(cfg->log_format, &lf)) return dream_err_set(err, "option 'log-format': '%s' is not logfmt or text", cfg->log_format);
    dlog_set_format(lf);
    dream_optim_t optim;
    if (dream_optim_parse(cfg->optimizer, &optim))
        return dream_err_set(err, "option 'optimizer': '%s' is not seed or adam", cfg->optimizer);
    dlog_set_level(lvl);
    return 0;
}

int coord_cfg_model(coord_cfg_t *cfg, dream_err_t *err) {
    const char *wts = cfg->weights;
    dream_model_id_t id;
    cfg->model_pin[0] = 0;
    cfg->model_untrained = 0;
    if (cfg->model_hash[0]) {
        snprintf(cfg->model_pin, sizeof cfg->model_pin, "%s", cfg->model_hash);
        /* the default random init has a known hash: then the page can say so at once */
        int rnd = dream_model_identify("random", &id, NULL) == 0 && !strcmp(id.hash, cfg->model_pin);
        cfg->model_untrained = rnd;
        snprintf(cfg->model_src, sizeof cfg->model_src, "dreamd --model-hash%s",
                 rnd ? ", UNTRAINED random init" : "");
        dlog_info(MOD, "farm model: workers must have model hash %s (from --model-hash%s)",
                  cfg->model_pin, rnd ? ", the UNTRAINED random init" : "");
    } else if (!strcmp(wts, "any")) {
        snprintf(cfg->model_src, sizeof cfg->model_src, "dreamd --weights any, the first worker's");
        dlog_info(MOD, "farm model: the first worker to join decides (--weights any)");
    } else {
        if (!wts[0]) return dream_err_set(err, "option 'weights': empty (a FILE, 'random' or 'any')");
        if (dream_model_identify(wts, &id, err) != 0) {
            dream_err_prefix(err, "option 'weights': cannot load the farm's model");
            return -1;
        }
        int rnd = !strcmp(wts, "random");
        snprintf(cfg->model_pin, sizeof cfg->model_pin, "%s", id.hash);
        cfg->model_untrained = !id.trained;
        snprintf(cfg->model_src, sizeof cfg->model_src, "dreamd --weights %.512s, %s", wts,
                 id.trained ? "trained" : "UNTRAINED random init");
        dlog_info(MOD, "farm model: %s", id.desc);
        dlog_info(MOD, "farm requires model hash %s (%s)", cfg->model_pin,
                  rnd ? "random init, --weights random" : "from --weights FILE");
    }
    cfg->model_known = 1;
    return 0;
}

enum { JOB_PENDING = 0, JOB_RUNNING, JOB_DONE };

typedef struct kf_job {
    int state;
    uint64_t job_id;        /* current dispatch id (0 = none) */
    int worker;             /* slot, -1 */
    int attempts;
} kf_job_t;

/* a received pixel frame kept past its message (kept_take): the ZeroMQ frame itself, moved out
 * of the message (no copy), or the pixels as malloc'd by the receive */
typedef struct kept_px {
    zmq_msg_t msg;
    int live;                   /* msg holds a frame */
    uint8_t *own;               /* or these pixels */
} kept_px_t;

typedef struct worker {
    int used;
    uint8_t id[DREAM_WIRE_MAX_IDENTITY];
    size_t idlen;
    char name[129];
    char backend[16];
    char device[128];
    char hash[64];
    uint64_t mem, max_px;
    int min_side;
    double ms_mpix;         /* measured (EMA), starts at the hello's claim */
    double last_seen, last_sent;
    int failures;
    int quarantined;
    int draining;           /* stopping: finishes its job, gets no new one */
    int stale_busy;         /* answered "busy": still computing a job given up on (deadline);
                             * no new job until a heartbeat says it is free or a result comes */
    uint64_t job_id;        /* job the worker is computing (0 idle) */
    uint64_t job_kf;
    double job_sent, job_deadline;
    uint64_t jobs_done;
    uint64_t seq;
    /* trust (docs/security.md): the connection (and CURVE key) is the identity, name a label */
    char key[41];           /* CURVE public key (Z85) or "" */
    int sim;                /* sim backend (only with --allow-sim) */
    int measured;           /* ms_mpix comes from delivered results, not the hello's claim */
    /* a measured worker the plans leave out is never measured again: its estimate goes stale
     * (one slow tile, and it could sit idle for good). idle_kf = keyframes it sat out since its
     * last job; sched_ms relaxes its estimate towards the others' median as they pass (a probe),
     * more slowly after each probe that found it as slow as measured (slow_probes) */
    int idle_kf, slow_probes, probing;
    uint64_t last_job_kf;   /* the keyframe of its last job (0 none) */
    double probe_est;       /* the estimate its probe was planned with */
    double claim_ms_mpix;   /* what the hello said */
    double joined_at;
    char tag[48];           /* rate-limit key: connection id (hex) */
    /* resident canvas (docs/farm.md): the hello offers it; resident_kf = the keyframe whose
     * float canvas the worker holds (0 none); job_resident: its job came as float/warp */
    int resident, job_resident;
    uint64_t resident_kf;
    /* tile warp (--tile-warp worker): the hello offers it; job_window: its job came as a window
     * of the canvas (its result's input_hash is checked like a resident one's) */
    int tile_warp, job_window;
    /* tile-resident (--tile-warp resident): the hello offers it; tk_kf = the keyframe whose tile
     * it keeps (its 8.8 result), tk_alone = where the canvas of that keyframe is that result
     * (blend_alone_rect); job_fixed: its job asked for an 8.8 result (job_u8: rounded to 8 bits,
     * --tile-result 8) */
    int tile_res, job_fixed, job_u8;
    int tres_revoked;       /* its window once differed from ours: no tile-resident job again, and
                             * it does not hold the farm back from tile-resident keyframes */
    int job_held;           /* its job may be answered "no kept canvas/tile" (code 5): it carried
                             * Job.held or from_resident; code 5 on any other job is a failure */
    uint64_t tk_kf;
    tile_rect_t tk_alone;
    /* results in two parts (Job.rest, --result-rest): the hello offers it; job_rest = the rest
     * rect its job asked for (w 0: none) */
    int result_rest;
    tile_rect_t job_rest;
} worker_t;

/* A rest still to come (Job.rest): the hole of tile `tile`'s result of keyframe kf, owed by the
 * worker in slot `slot` for job `job`. It is written into that keyframe's canvas when it comes
 * (next88 while kf is being blended, canvas88 once it is the canvas); a rest that does not come
 * is warped from the keyframe before (rest_fill): its window of that canvas is saved here (src)
 * before the next keyframe's first result overwrites it (next88) */
#define REST_MAX (2 * TILE_MAX)   /* two keyframes' worth: a finished one's and the active one's */
typedef struct rest {
    int used;
    uint64_t kf, job;
    int slot, u8;
    int asked;                  /* its worker was asked for it (rest_ask) */
    tile_rect_t tile, hole;
    double zoom, angle, deadline;
    dream_interp_t interp;
    float *src;                 /* the saved window of the keyframe before (floats), or NULL */
    int src_rect[4];
} rest_t;

struct coord {
    coord_cfg_t cfg;
    void *zctx, *router, *admin;
    dream_state_t *state;
    frameclock_t *fc;
    dream_sinks_t kf_sinks;
    worker_t *w;
    int nslots;
    dream_image_t *canvas;
    /* subjects */
    int nsubj, cls[DREAM_MAX_SUBJECTS];
    dream_layout_t layout;
    char subj_text[256];
    dream_classes_t *classes;
    int classes_tried;
    /* keyframe in flight */
    int kf_active;
    uint64_t kf_id;
    dream_image_t *base;
    tile_plan_t plan;
    /* the plan seeds of the keyframe to start and of the one after it, drawn a keyframe early
     * (advanced only when a keyframe starts: a failed start retries with the same one), and the
     * grid the one after gives if it keeps this layout (next_grid.n 0: none): where its grid lines
     * will be (rest_rect) */
    uint64_t seed_kf, seed_next;
    int seed_kf_ok, seed_next_ok;
    tile_plan_t next_grid;
    kf_job_t jobs[TILE_MAX];
    int njobs_done;
    blend_t *blend;
    double kf_start, kf_deadline, kf_zoom, kf_angle;
    uint64_t kf_bytes;
    double last_kf_start, last_kf_end;
    uint64_t rng;
    uint64_t next_job_id, next_worker_seq;
    char pinned_hash[64];
    char model_src[640];    /* where pinned_hash comes from, for refusals and status */
    int stopping;
    double t0;
    double last_hb;
    coord_stats_t st;
    uint64_t bytes_at_kf_start;
    uint64_t kf_bytes_total;
    double log_malformed_at;
    /* live stream */
    stream_t *stream;
    double stream_poll_at, stream_status_at;
    int untrained;
    double coord_ms_acc;
    double kf_retry_at;
    /* per-keyframe time breakdown (totals over all keyframes, ms; see the status "# Timing") */
    double kf_t_prepped, kf_t_sent, kf_t_last_result, kf_compute_max;
    double tm_overlapped;
    double tm_prep, tm_send, tm_work, tm_compute, tm_blend_add, tm_finish, tm_gap, tm_transfer;
    double tile_mpx_total;
    uint64_t tm_results;
    /* pipelining: the finished keyframe is handed on, and the blend cleared, only after the
     * next keyframe's jobs are out */
    int need_reset, kf_direct, base_ready;
    uint8_t *tile_px[TILE_MAX];     /* this keyframe's tiles as sent (rgb8, (h, w, 3)) */
    size_t tile_cap[TILE_MAX];
    int pub_pending;
    uint64_t pub_id;
    double pub_zoom, pub_angle, pub_interval_s;
    int paused;             /* admin pause: no new keyframes (the frame clock keeps showing the last) */
    /* motion in video time (motion.h): keyframe positions in output frames */
    motion_t motion;
    int64_t canvas_pos, kf_pos, pub_pos;
    dream_interp_t kf_interp;
    dream_image_t *next;        /* float canvas: the keyframe being blended (swapped in by kf_finish) */
    uint64_t canvas_kf;         /* the keyframe the float canvas is the result of (0: none) */
    uint64_t resident_jobs, resident_seeds, resident_mismatch;
    /* --tile-warp worker: this keyframe's tiles go out as windows of the canvas (kf_wwarp); the
     * canvas is rounded to 8.8 fixed point after the hand-out (canvas_quantized) */
    int kf_wwarp, canvas_quantized;
    uint8_t *win_px[TILE_MAX];      /* a tile's window as sent (8.8 LE, (h, w, 3)), its rect */
    size_t win_cap[TILE_MAX];
    int win_rect[TILE_MAX][4];
    uint8_t win_ready[TILE_MAX], win_rect_ok[TILE_MAX];
    uint64_t window_jobs, window_mismatch;
    /* --tile-warp resident: this keyframe's tiles go to workers that keep their tiles (kf_tres);
     * the canvas is exactly 8.8 after such a keyframe (canvas_exact); a job's strips (the window
     * less its held part) are cut into job_px; win_hv: the whole window's hash (win_hv_ok) */
    int kf_tres, canvas_exact;
    uint8_t *canvas88, *next88;     /* --tile-warp resident: canvas and next as 8.8 LE (H, W, 3)
                                     * uint16, valid while canvas_exact: cuts and hashes read them */
    int float_stale;                /* the float canvas is still to be made from canvas88
                                     * (canvas_sync_float, by whatever reads it: the display takes
                                     * its copy from canvas88 directly, frameclock_push_88) */
    uint8_t *job_px[TILE_MAX];
    size_t job_cap[TILE_MAX];
    uint64_t win_hv[TILE_MAX];
    uint8_t win_hv_ok[TILE_MAX];
    uint64_t tres_jobs, tres_mismatch, tres_window_px, tres_held_px;
    uint64_t tile_hv[TILE_MAX];     /* wire_hash64 of tile_px (hv_ok): what a resident or window
                                     * job's input_hash must be; made after a deferred hand-out */
    uint8_t hv_ok[TILE_MAX];
    uint64_t kf_not_shown;      /* --motion wallclock: keyframes not handed to a full frame clock */
    /* a whole-canvas result waits here for its blend until the next keyframe's job is out
     * (pend_blend; canvas_blend_pending()): the worker does not wait for the coordinator's
     * 2-MPx blend. pend_tile is its tile, pend_px its pixels (kept in pend) */
    int pend_blend;
    tile_t pend_tile;
    const uint8_t *pend_px;
    kept_px_t pend;
    /* a tile-resident keyframe's results, kept as received until kf_finish: the blend reads the
     * overlaps from them once the last tile covering a pixel is in (blend_add_fixed_plan) */
    kept_px_t res[TILE_MAX];
    /* ... and the part of each that alone covers the canvas, copied in after the next keyframe's
     * jobs are out (late_flush): the critical path blends only the overlaps and the rim */
    const uint8_t *late_px[TILE_MAX];   /* the kept result (NULL: nothing pending) */
    tile_rect_t late_rect[TILE_MAX], late_tile[TILE_MAX];
    uint8_t late_u8[TILE_MAX];
    uint64_t late_kf;                   /* the keyframe they belong to */
    int late_n;                         /* pending */
    /* results in two parts (Job.rest): late_hole = the part a result's first frame lacks (w 0:
     * none; the deferred copy leaves it out), and the rests still to come (rest_t) */
    tile_rect_t late_hole[TILE_MAX];
    rest_t rests[REST_MAX];
    int rest_pending;                   /* rests[] in use */
    int shape[4];                       /* the last plan's layout: nx, ny, weighted, workers (tile_plan_params_t) */
    double med_ms;                      /* the proven workers' (lower) median ms per MPx-step (kf_start; 0 none) */
    int shape_cand[3], shape_cand_n;    /* the layout that won the last plans instead, how many in a row */
    uint64_t rest_parts, rest_waits, rest_filled, rest_asks;
    int rest_wanted;            /* a job or a hash waits for a rest: ask for them all now (rest_ask) */
    double after_due;                   /* kf_after_dispatch's own work waits until then (0: none) */
    /* hostile peers */
    dlog_rl_t *logrl;               /* peer-triggered log lines, per peer and kind */
    coord_curve_t *curve;           /* CURVE on the worker socket (its ZAP thread), or NULL */
    double hello_tokens, hello_at;  /* admission of new worker connections */
};

/* ---------- helpers ---------- */

/* The start canvas (common/canvas.h): --start-image resized to the canvas, or the
 * deterministic synthetic image of --seed. */
static int init_canvas(dream_image_t *im, const coord_cfg_t *cfg, dream_err_t *err) {
    if (dream_canvas_init(im, cfg->start_image, (uint64_t)cfg->seed, err) == 0) return 0;
    dream_err_prefix(err, "option 'start-image'");
    return -1;
}

static int layout_for(const coord_t *c) {
    if (strcasecmp(c->cfg.layout, "auto") == 0) {
        switch (c->nsubj) {
        case 0: case 1: case 2: return DREAM_LAYOUT_SEED;   /* one subject: the 2015 [A, A] */
        case 3: return DREAM_LAYOUT_BANDS;
        default: return DREAM_LAYOUT_QUADRANTS;
        }
    }
    return c->layout;
}

/* global region of subject s in canvas pixels: the one layout rule (common/layout.h); a
 * layout that cannot hold n subjects (seed with more than two) puts each on the whole canvas */
static tile_rect_t subject_region(int layout, int s, int n, int W, int H) {
    dream_rect_t r;
    if (dream_layout_rect((dream_layout_t)layout, s, n, W, H, &r, NULL) != 0) return (tile_rect_t){0, 0, W, H};
    return (tile_rect_t){r.x, r.y, r.w, r.h};
}

static worker_t *find_worker(coord_t *c, const uint8_t *id, size_t idlen) {
    for (int i = 0; i < c->nslots; i++)
        if (c->w[i].used && c->w[i].idlen == idlen && memcmp(c->w[i].id, id, idlen) == 0) return &c->w[i];
    return NULL;
}

/* hex of a connection's routing id: the rate-limit key of a peer that has no entry yet */
static void id_tag(const uint8_t *id, size_t idlen, char *out, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < idlen && o + 3 <= n; i++) {
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o < n ? o : n - 1] = 0;
}

/* a peer-triggered log line: at most a few per peer and kind (and all peers together)
 * per second (dlog_rl); peer strings in fmt's arguments must be escaped already */
static void peer_log(coord_t *c, dlog_level_t lvl, const char *peer, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void peer_log(coord_t *c, dlog_level_t lvl, const char *peer, const char *kind, const char *fmt, ...) {
    if ((int)lvl < (int)dlog_get_level()) return;
    char key[96], line[1024];
    snprintf(key, sizeof key, "%s:%s", peer, kind);
    unsigned long sup = 0;
    if (!dlog_rl_allow(c->logrl, key, dream_now_ms(), &sup)) {
        c->st.log_suppressed++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (sup) dlog_write(lvl, MOD, "%s (%lu similar suppressed)", line, sup);
    else dlog_write(lvl, MOD, "%s", line);
}

static long send_to(coord_t *c, worker_t *w, Dreamfarm__Envelope *env, const void *px, size_t pxlen) {
    dream_err_t err = {{0}};
    long n = wire_send(c->router, w->id, w->idlen, env, px, pxlen, ZMQ_DONTWAIT, &err);
    if (n < 0) {
        peer_log(c, DLOG_WARN, w->tag, "send", "worker %s: %s", w->name, err.msg);
        return -1;
    }
    c->st.bytes_out += (uint64_t)n;
    w->last_sent = dream_now_ms();
    return n;
}

/* a Heartbeat to worker w (its next sequence number); rest_job non-zero: it asks for that job's
 * rest (Heartbeat.send_rest_job). send_to's result */
static long send_heartbeat(coord_t *c, worker_t *w, uint64_t rest_job) {
    Dreamfarm__Envelope env;
    Dreamfarm__Heartbeat hb = DREAMFARM__HEARTBEAT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
    env.body_case = DREAMFARM__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    hb.has_seq = 1;
    hb.seq = ++w->seq;
    hb.has_send_rest_job = rest_job != 0;
    hb.send_rest_job = rest_job;
    return send_to(c, w, &env, NULL, 0);
}

static void send_refusal(coord_t *c, const uint8_t *id, size_t idlen, Dreamfarm__RefusalCode code,
                         const char *why) {
    wire_send_refusal(c->router, id, idlen, code, why);
    c->st.refused++;
}

/* puts the job a worker holds back into the pending pool */
/* tile i of the keyframe in flight goes back to pending (no worker has it), one requeue */
static void tile_pending(coord_t *c, int i) {
    c->jobs[i].state = JOB_PENDING;
    c->jobs[i].job_id = 0;
    c->jobs[i].worker = -1;
    c->st.requeued++;
}

static void requeue_worker_job(coord_t *c, worker_t *w, const char *why) {
    if (!w->job_id) return;
    if (c->kf_active && w->job_kf == c->kf_id) {
        for (int i = 0; i < c->plan.n; i++) {
            kf_job_t *j = &c->jobs[i];
            if (j->state == JOB_RUNNING && j->job_id == w->job_id) {
                tile_pending(c, i);
                peer_log(c, DLOG_INFO, w->tag, "requeue", "keyframe %llu tile %d requeued (%s on %s)",
                         (unsigned long long)c->kf_id, i, why, w->name);
            }
        }
    }
}

/* why may come from the peer: it is escaped here */
static void worker_fail(coord_t *c, worker_t *w, const char *why) {
    char ewhy[256];
    dlog_escape(why, ewhy, sizeof ewhy);
    w->failures++;
    c->st.failures++;
    dream_state_counter_add(c->state, "worker_failures", 1);
    peer_log(c, DLOG_WARN, w->tag, "failure", "worker %s failure %d/%d: %s", w->name, w->failures,
             c->cfg.max_failures, ewhy);
    if (w->failures >= c->cfg.max_failures && !w->quarantined) {
        /* the quarantine is this connection's; with CURVE it is kept by key (bounded, expiring),
         * never by name: a name is a label anyone can claim */
        w->quarantined = 1;
        if (w->key[0]) {
            char reason[512];
            snprintf(reason, sizeof reason, "%s (worker %s)", ewhy, w->name);
            dream_state_quarantine_prune(c->state, c->cfg.quarantine_max - 1, c->cfg.quarantine_s);
            dream_state_quarantine_add(c->state, w->key, reason, NULL);
        }
        dream_state_counter_add(c->state, "quarantined", 1);
        dlog_warn(MOD, "worker %s (%s) QUARANTINED after %d failures (release with: dreamctl release %s)", w->name,
                  w->key[0] ? w->key : "this connection", w->failures, w->key[0] ? w->key : w->name);
    }
}

static void rest_fill(coord_t *c, int i, const char *why, int fail);
static int window_rect(coord_t *c, int idx);
#define LAYOUT_SWITCH_KF 5      /* plans in a row another layout must win to replace the last one */

static void worker_remove(coord_t *c, worker_t *w, const char *why) {
    peer_log(c, DLOG_INFO, w->tag, "gone", "worker %s (%s) gone: %s", w->name, w->backend, why);
    requeue_worker_job(c, w, why);
    /* the rests it owed will not come: filled now (not a failure: it is gone) */
    for (int i = 0; i < REST_MAX && c->rest_pending; i++)
        if (c->rests[i].used && c->rests[i].slot == (int)(w - c->w)) rest_fill(c, i, "lost with its worker", 0);
    memset(w, 0, sizeof *w);
}

/* keyframes per halving of a sat-out worker's lead over the median (sched_ms), before any probe
 * found it slow; each such probe doubles it, up to SLOW_PROBES_MAX times */
#define IDLE_HALF_KF 4
#define SLOW_PROBES_MAX 6

/* the median measured speed of the proven workers other than w (ms per MPx-step), 0 if none;
 * *slowest_claim (may be NULL): the slowest claim of the unproven ones, at least w's own */
static double others_median(const coord_t *c, const worker_t *w, double *slowest_claim) {
    double v[512];
    int n = 0;
    if (slowest_claim) *slowest_claim = w->ms_mpix;
    for (int i = 0; i < c->nslots; i++) {
        const worker_t *o = &c->w[i];
        if (!o->used || o->quarantined || o == w) continue;
        if (o->measured && n < 512) v[n++] = o->ms_mpix;
        else if (!o->measured && slowest_claim && o->ms_mpix > *slowest_claim) *slowest_claim = o->ms_mpix;
    }
    if (n == 0) return 0;
    for (int i = 1; i < n; i++)     /* insertion sort: n is small */
        for (int k = i; k > 0 && v[k] < v[k - 1]; k--) { double t = v[k]; v[k] = v[k - 1]; v[k - 1] = t; }
    return v[n / 2];
}

/* the speed a worker is planned with: its measured throughput once it delivered tiles; until
 * then its claim, but never faster than the proven workers' median (or, with none proven, the
 * slowest claim): a claim alone cannot win it the tiles. A proven worker slower than the
 * median that the plans left out (idle_kf keyframes) drifts back towards the median, so it is
 * tried again (a probe) instead of staying idle on a stale measurement */
static double sched_ms(const coord_t *c, const worker_t *w) {
    if (w->measured) {
        if (w->idle_kf <= 0) return w->ms_mpix;
        double med = c->med_ms;     /* of the proven workers, once per keyframe (kf_start) */
        if (med <= 0 || w->ms_mpix <= med) return w->ms_mpix;
        double half = IDLE_HALF_KF * (double)(1 << w->slow_probes);
        return med + (w->ms_mpix - med) * pow(0.5, w->idle_kf / half);
    }
    double slowest_claim;
    double med = others_median(c, w, &slowest_claim);
    if (med <= 0) return slowest_claim;
    return w->ms_mpix > med ? w->ms_mpix : med;
}

/* ---------- worker messages ---------- */

static void on_hello(coord_t *c, wire_msg_t *m) {
    Dreamfarm__Hello *h = m->env->hello;
    worker_t *w = find_worker(c, m->identity, m->identity_len);
    char why[1024] = "", name[129], tag[48];
    /* the admission checks below set why only: their code is the default */
    Dreamfarm__RefusalCode why_code = DREAMFARM__REFUSAL_CODE__REFUSE_ADMISSION;
    double now = dream_now_ms();
    dlog_escape(h->name, name, sizeof name);
    id_tag(m->identity, m->identity_len, tag, sizeof tag);
    const char *hash = h->model_hash ? h->model_hash : "";
    char ehash[64];
    dlog_escape(hash, ehash, sizeof ehash);
    int sim = !strcmp(hash, "sim");     /* simulated compute (tests, benchmarks): no model */
    int min_side = h->has_min_side && h->min_side > 0 ? h->min_side : c->cfg.min_side;
    if (!w) {   /* admission of a new connection: bounded rate, bounded unproven workers */
        if (c->hello_at > 0) {
            double burst = c->cfg.hellos_per_s > 1 ? c->cfg.hellos_per_s : 1;
            c->hello_tokens += (now - c->hello_at) / 1000.0 * c->cfg.hellos_per_s;
            if (c->hello_tokens > burst) c->hello_tokens = burst;
        }
        c->hello_at = now;
        int unproven = 0;
        for (int i = 0; i < c->nslots; i++) unproven += c->w[i].used && !c->w[i].jobs_done;
        if (c->hello_tokens < 1) {
            c->st.refused_rate++;
            snprintf(why, sizeof why, "too many new workers (over %.0f a second); retry later", c->cfg.hellos_per_s);
        } else if (unproven >= c->cfg.max_unproven) {
            c->st.refused_unproven++;
            snprintf(why, sizeof why, "too many workers that have not delivered a tile yet (%d); retry later", unproven);
        }
        if (c->hello_tokens >= 1) c->hello_tokens -= 1;     /* a refused hello costs a token too */
    }
    if (why[0]) {
    } else if (h->max_tile_pixels < (uint64_t)c->cfg.min_side * c->cfg.min_side) {
        why_code = DREAMFARM__REFUSAL_CODE__REFUSE_CAPACITY;
        snprintf(why, sizeof why, "worker holds %llu pixels, less than one %dx%d tile",
                 (unsigned long long)h->max_tile_pixels, c->cfg.min_side, c->cfg.min_side);
    } else if (min_side > c->cfg.min_side) {
        why_code = DREAMFARM__REFUSAL_CODE__REFUSE_CAPACITY;
        snprintf(why, sizeof why, "worker's minimum side %d exceeds the farm's %d", min_side, c->cfg.min_side);
    } else if (sim && !c->cfg.allow_sim) {
        why_code = DREAMFARM__REFUSAL_CODE__REFUSE_SIM;
        snprintf(why, sizeof why, "sim backend refused: this farm takes real workers only (dreamd --allow-sim is for tests)");
    } else if (!sim && c->pinned_hash[0] && strcmp(hash, c->pinned_hash) != 0) {
        why_code = DREAMFARM__REFUSAL_CODE__REFUSE_MODEL;
        snprintf(why, sizeof why, "model hash %s differs from the farm's %s (%s)", *hash ? ehash : "(none)",
                 c->pinned_hash, c->model_src);
    }
    if (why[0]) {
        peer_log(c, DLOG_WARN, tag, "refused", "refusing worker %s: %s", name, why);
        send_refusal(c, m->identity, m->identity_len, why_code, why);
        if (w) worker_remove(c, w, "refused");
        return;
    }
    /* a second hello with a known name from another connection is a new worker with the same
     * label: it does not evict the first (a restarted worker's old entry times out) */
    if (!w) {
        for (int i = 0; i < c->nslots && !w; i++)
            if (!c->w[i].used) w = &c->w[i];
        if (!w) {
            send_refusal(c, m->identity, m->identity_len, DREAMFARM__REFUSAL_CODE__REFUSE_ADMISSION, "too many workers");
            return;
        }
        memset(w, 0, sizeof *w);
        w->used = 1;
        memcpy(w->id, m->identity, m->identity_len);
        w->idlen = m->identity_len;
        snprintf(w->tag, sizeof w->tag, "%s", tag);
        snprintf(w->key, sizeof w->key, "%s", m->peer_key);
        w->joined_at = now;
        w->seq = ++c->next_worker_seq;
    } else if (w->job_id) {
        /* hello again while holding a job: the job failed (no free restart of the deadline) */
        requeue_worker_job(c, w, "hello during a job");
        w->job_id = 0;
        worker_fail(c, w, "said hello again while holding a job");
    }
    /* failures, quarantine, delivered tiles and measured speed stay with the connection */
    snprintf(w->name, sizeof w->name, "%s", name);
    dlog_escape(h->backend, w->backend, sizeof w->backend);
    dlog_escape(h->device, w->device, sizeof w->device);
    snprintf(w->hash, sizeof w->hash, "%s", ehash);
    w->mem = h->memory_bytes;
    w->max_px = h->max_tile_pixels;
    w->min_side = min_side;
    w->sim = sim;
    w->resident = c->cfg.resident && !c->cfg.canvas8 && h->has_resident_canvas && h->resident_canvas;
    w->tile_warp = c->cfg.tile_warp_worker && !c->cfg.canvas8 && h->has_tile_warp && h->tile_warp;
    w->tile_res = w->tile_warp && c->cfg.tile_resident && h->has_tile_resident && h->tile_resident;
    w->result_rest = w->tile_res && c->cfg.result_rest && h->has_result_rest && h->result_rest;
    double claim = h->ms_per_mpix_step;
    w->claim_ms_mpix = isfinite(claim) && claim > 0 && claim < 1e8 ? claim : 1e4;
    if (!w->measured) w->ms_mpix = w->claim_ms_mpix;
    w->last_seen = now;
    if (w->key[0]) {
        dream_state_quarantine_prune(c->state, c->cfg.quarantine_max, c->cfg.quarantine_s);
        if (dream_state_is_quarantined(c->state, w->key)) w->quarantined = 1;
    }
    if (h->has_untrained && h->untrained) c->untrained = 1;
    if (sim) {
        peer_log(c, DLOG_INFO, w->tag, "sim", "worker %s: model check skipped (sim backend, --allow-sim)", w->name);
    } else if (!c->pinned_hash[0] && *hash) {
        snprintf(c->pinned_hash, sizeof c->pinned_hash, "%s", ehash);
        snprintf(c->model_src, sizeof c->model_src, "dreamd --weights any, pinned by the first worker %s",
                 w->name);
        dlog_info(MOD, "farm model hash pinned to %s (from %s, --weights any)", ehash, w->name);
    }
    Dreamfarm__Envelope env;
    Dreamfarm__Welcome wl = DREAMFARM__WELCOME__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_WELCOME);
    char wid[32];
    snprintf(wid, sizeof wid, "w%llu", (unsigned long long)w->seq);
    wl.worker_id = wid;
    wl.heartbeat_ms = (uint32_t)c->cfg.heartbeat_ms;
    wl.liveness = (uint32_t)c->cfg.liveness;
    wl.has_quarantined = 1;
    wl.quarantined = w->quarantined;
    env.body_case = DREAMFARM__ENVELOPE__BODY_WELCOME;
    env.welcome = &wl;
    send_to(c, w, &env, NULL, 0);
    peer_log(c, DLOG_INFO, w->tag, "joined", "worker %s joined: %s %s, claims %.1f ms/MPx-step, max %llu px%s%s%s",
             w->name, w->backend, w->device, w->claim_ms_mpix, (unsigned long long)w->max_px,
             w->key[0] ? ", key " : "", w->key, w->quarantined ? " (QUARANTINED)" : "");
}

static int whole_canvas(const coord_t *c, int idx);
static int ensure_base(coord_t *c);
static int window_hash(coord_t *c, int idx, uint64_t *hv);

/* the hash of tile idx as cut (tile_px), once per keyframe */
static uint64_t tile_hash(coord_t *c, int idx) {
    if (!c->hv_ok[idx]) {
        const tile_rect_t *r = &c->plan.tiles[idx].r;
        c->tile_hv[idx] = wire_hash64(c->tile_px[idx], (size_t)r->w * r->h * 3);
        c->hv_ok[idx] = 1;
    }
    return c->tile_hv[idx];
}

/* the next canvas is complete: swap the pixels in (coord_canvas() stays valid) */
static void swap_in_next(coord_t *c) {
    float *t = c->canvas->px;
    c->canvas->px = c->next->px;
    c->next->px = t;
    uint8_t *t88 = c->canvas88;
    c->canvas88 = c->next88;
    c->next88 = t88;
}

static void late_flush(coord_t *c, const int *rect, const tile_rect_t *hold);
static int rest_of(const coord_t *c, uint64_t kf);

/* a tile-resident keyframe blends into the 8.8 mirror only: the float canvas (the display's,
 * the base warp's) is made from it here, after the next hand-out or before any other reader */
static void canvas_sync_float(coord_t *c) {
    late_flush(c, NULL, NULL);
    if (!c->float_stale) return;
    int waiting = rest_of(c, c->canvas_kf) && !(c->kf_active && c->kf_id == c->canvas_kf);
    /* a rest still to come (Job.rest; the readers that need the keyframe whole wait for it:
     * publish, kf_start): made again once it is in */
    c->float_stale = waiting;
    px88_image_to_float(c->canvas88, c->canvas->px, c->cfg.W, c->cfg.H);
}

static void kept_drop(kept_px_t *k) {
    if (k->live) zmq_msg_close(&k->msg);
    free(k->own);
    k->live = 0;
    k->own = NULL;
}

/* m's pixels kept in k (what k held before is let go): the received frame changes hands, no
 * copy; pixels that point into someone else's buffer are copied. Returns them (valid until
 * kept_drop), or NULL when memory ran out */
static const uint8_t *kept_take(kept_px_t *k, wire_msg_t *m) {
    kept_drop(k);
    if (m->pxmsg_live) {
        zmq_msg_init(&k->msg);
        zmq_msg_move(&k->msg, &m->pxmsg);
        zmq_msg_close(&m->pxmsg);
        m->pxmsg_live = 0;
        m->pixels = NULL;
        m->pixels_len = 0;
        k->live = 1;
        return zmq_msg_data(&k->msg);
    }
    if (m->pixels_borrowed) {
        k->own = malloc(m->pixels_len ? m->pixels_len : 1);
        if (k->own) memcpy(k->own, m->pixels, m->pixels_len);
        return k->own;
    }
    k->own = m->pixels;     /* malloc'd: taken over */
    m->pixels = NULL;
    m->pixels_len = 0;
    return k->own;
}

static void pend_release(coord_t *c) {
    kept_drop(&c->pend);
    c->pend_px = NULL;
}

/* a tile-resident result's pixels kept for the blend until kf_finish (tile idx): the received
 * frame itself changes hands (no copy). Returns them (they stay valid until res_release) */
static const uint8_t *res_keep(coord_t *c, int idx, wire_msg_t *m) {
    if (c->late_px[idx]) late_flush(c, NULL, NULL);    /* not reached: flushed once the next jobs are out */
    return kept_take(&c->res[idx], m);
}

/* every kept result goes, the deferred copies with them (the caller has no use for them); the
 * rests of that keyframe too (it is not the canvas: they would be written into another) */
static void rest_drop(coord_t *c, int i);
static void res_release(coord_t *c) {
    memset(c->late_px, 0, sizeof c->late_px);
    memset(c->late_hole, 0, sizeof c->late_hole);
    c->late_n = 0;
    for (int k = 0; k < TILE_MAX; k++) kept_drop(&c->res[k]);
    for (int i = 0; i < REST_MAX; i++)
        if (c->rests[i].used && c->rests[i].kf == c->kf_id) rest_drop(c, i);
}

/* the deferred copies of a tile-resident keyframe's alone parts (on_result) into the canvas
 * that holds keyframe late_kf now (next88 while it is still being blended, canvas88 after its
 * finish): rect NULL, all of them (then done: a finished keyframe's result is let go); else only
 * where they meet rect (x, y, w, h), unless that lies inside hold (the part a job's worker
 * keeps): those pixels now, the rest later (copying a pixel twice writes the same value). A
 * result's hole (Job.rest) is left out: its rest writes it (on_rest) */
static void late_flush(coord_t *c, const int *rect, const tile_rect_t *hold) {
    if (!c->late_n) return;
    uint8_t *dst = c->kf_active && c->kf_id == c->late_kf ? c->next88 : c->canvas88;
    for (int k = 0; k < TILE_MAX && c->late_n; k++) {
        if (!c->late_px[k]) continue;
        tile_rect_t part = c->late_rect[k];     /* all of it, or where it meets rect */
        if (rect) {
            const tile_rect_t q = {rect[0], rect[1], rect[2], rect[3]};
            part = tile_rect_cut(&c->late_rect[k], &q);
            if (part.w == 0 || tile_rect_inside(&part, hold)) continue;     /* not in rect, or held */
        }
        dream_err_t err = {{0}};
        if (blend_copy_fixed_split(&c->late_tile[k], &c->late_hole[k], c->late_px[k], NULL, c->late_u8[k], &part, c->cfg.W,
                                   c->cfg.H, NULL, dst, &err) != 0)
            dlog_error(MOD, "blend: %s", err.msg);      /* checked when it was deferred: not reached */
        if (rect) continue;     /* the rest later */
        c->late_px[k] = NULL;
        c->late_n--;
        if (dst == c->canvas88) kept_drop(&c->res[k]);    /* its keyframe is finished: read no more */
    }
}

/* the canvas that holds rest i's keyframe (NULL: none does any more) */
static uint8_t *rest_dst(coord_t *c, const rest_t *r) {
    if (c->kf_active && r->kf == c->kf_id) return c->next88;
    return r->kf == c->canvas_kf ? c->canvas88 : NULL;
}

/* rest r is one of the canvas's keyframe (canvas_kf) still to come and meets rect (x, y, w, h)
 * outside hold (NULL: none; inside it the job's worker keeps those pixels itself, its own rest
 * typically): a reader of canvas88 there waits for it */
static int rest_meets(const coord_t *c, const rest_t *r, const int *rect, const tile_rect_t *hold) {
    if (!r->used || r->kf != c->canvas_kf || (c->kf_active && c->kf_id == c->canvas_kf)) return 0;
    const tile_rect_t q = {rect[0], rect[1], rect[2], rect[3]}, part = tile_rect_cut(&q, &r->hole);
    return part.w > 0 && !tile_rect_inside(&part, hold);
}

/* 1 when a rest meets rect outside hold (rest_meets) */
static int rest_blocks(const coord_t *c, const int *rect, const tile_rect_t *hold) {
    for (int i = 0; i < REST_MAX && c->rest_pending; i++)
        if (rest_meets(c, &c->rests[i], rect, hold)) return 1;
    return 0;
}

/* 1 when a rest of keyframe kf is still to come */
static int rest_of(const coord_t *c, uint64_t kf) {
    if (!c->rest_pending) return 0;
    for (int i = 0; i < REST_MAX; i++)
        if (c->rests[i].used && c->rests[i].kf == kf) return 1;
    return 0;
}

static void rest_drop(coord_t *c, int i) {
    rest_t *r = &c->rests[i];
    if (!r->used) return;
    free(r->src);
    memset(r, 0, sizeof *r);
    c->rest_pending--;
    if (!c->rest_pending) c->rest_wanted = 0;
}

/* the source a fill of rest i reads, the 8.8 canvas of the keyframe before its own (canvas88
 * while its keyframe is being blended, else next88 until the next keyframe's first result is
 * blended into it), saved as floats into r->src; 0, or -1 (no memory or bad warp: logged) */
static int rest_save_src(coord_t *c, rest_t *r) {
    if (r->src) return 0;
    const uint8_t *src88 = c->kf_active && r->kf == c->kf_id ? c->canvas88 : c->next88;
    dream_err_t err = {{0}};
    int *sr = r->src_rect;
    if (dream_warp_source_rect(c->cfg.W, c->cfg.H, r->zoom, r->angle, r->interp, r->hole.x, r->hole.y, r->hole.w, r->hole.h,
                               &sr[0], &sr[1], &sr[2], &sr[3], &err) != 0) {
        dlog_error(MOD, "rest fill: %s", err.msg);
        return -1;
    }
    r->src = malloc((size_t)sr[2] * sr[3] * 3 * sizeof(float));
    if (!r->src) {
        dlog_error(MOD, "rest fill: out of memory");
        return -1;
    }
    for (int y = 0; y < sr[3]; y++)
        px88_to_float(src88 + ((size_t)(sr[1] + y) * c->cfg.W + sr[0]) * 6, r->src + (size_t)y * sr[2] * 3, (size_t)sr[2] * 3);
    return 0;
}

/* the next keyframe's first result is about to be blended into next88: the fills' sources first */
static void rest_save_all(coord_t *c) {
    for (int i = 0; i < REST_MAX && c->rest_pending; i++)
        if (c->rests[i].used && c->rests[i].kf != c->kf_id) rest_save_src(c, &c->rests[i]);
}

/* rest i did not come: its hole warped from the keyframe before (as a missing tile is filled)
 * into its keyframe's canvas. why: logged; fail: a failure of its worker (still connected) */
static void rest_fill(coord_t *c, int i, const char *why, int fail) {
    rest_t *r = &c->rests[i];
    if (!r->used) return;
    uint8_t *dst = rest_dst(c, r);
    if (dst && rest_save_src(c, r) == 0) {
        const int *sr = r->src_rect;
        float *out = malloc((size_t)r->hole.w * r->hole.h * 3 * sizeof(float));
        dream_err_t err = {{0}};
        if (out && dream_warp_window(r->src, sr[0], sr[1], sr[2], sr[3], c->cfg.W, c->cfg.H, r->zoom, r->angle, r->interp,
                                     r->hole.x, r->hole.y, r->hole.w, r->hole.h, out, &err) == 0) {
            for (int y = 0; y < r->hole.h; y++)
                px88_from_float(out + (size_t)y * r->hole.w * 3, dst + ((size_t)(r->hole.y + y) * c->cfg.W + r->hole.x) * 6,
                                (size_t)r->hole.w * 3);
        } else {
            dlog_error(MOD, "rest fill: %s", out ? err.msg : "out of memory");   /* older pixels stay */
        }
        free(out);
    }
    c->rest_filled++;
    const uint64_t r_kf = r->kf;
    dlog_warn(MOD, "keyframe %llu: a tile's rest (%dx%d+%d+%d) %s: filled from the warped keyframe before",
              (unsigned long long)r->kf, r->hole.w, r->hole.h, r->hole.x, r->hole.y, why);
    int slot = r->slot;
    /* (the slot is still its connection's: a worker that leaves has its rests filled first) */
    worker_t *w = slot >= 0 && slot < c->nslots && c->w[slot].used ? &c->w[slot] : NULL;
    rest_drop(c, i);
    if (w) {
        /* its kept tile is not the canvas there any more: its next job carries the whole window */
        if (w->tk_kf == r_kf) w->tk_kf = 0;
        if (fail) worker_fail(c, w, "the rest of its result did not come");
    }
}

/* the rests still to come of keyframes up to kf (all: UINT64_MAX) are filled */
static void rest_fill_upto(coord_t *c, uint64_t kf, const char *why, int fail) {
    for (int i = 0; i < REST_MAX && c->rest_pending; i++)
        if (c->rests[i].used && c->rests[i].kf <= kf) rest_fill(c, i, why, fail);
}

/* the rests that block a reader of rect (rest_blocks) are filled */
static void rest_fill_meeting(coord_t *c, const int *rect, const char *why) {
    for (int i = 0; i < REST_MAX && c->rest_pending; i++)
        if (rest_meets(c, &c->rests[i], rect, NULL)) rest_fill(c, i, why, 1);
}

/* keeps a result's pixels for a deferred blend (kept_take). 0, or -1 (no memory: blend it now) */
static int keep_result(coord_t *c, wire_msg_t *m) {
    c->pend_px = kept_take(&c->pend, m);
    return c->pend_px ? 0 : -1;
}

/* The deferred whole-canvas blend (on_result): the next canvas = base + (result - sent),
 * then swapped in. Runs before anything reads the canvas or overwrites base and the tile as
 * sent (prep_tiles, the publication, coord_canvas), i.e. after the next job is out. */
static void canvas_blend_pending(coord_t *c) {
    if (!c->pend_blend) return;
    c->pend_blend = 0;
    dream_err_t err = {{0}};
    tile_plan_t one;
    memset(&one, 0, sizeof one);
    one.n = 1;
    one.nx = one.ny = 1;
    one.tiles[0] = c->pend_tile;
    /* one tile of weight 1 covers every pixel: written straight into next, no overlap to finish */
    int rc = blend_add_delta_plan(c->blend, &one, 0, c->pend_px, c->tile_px[0], c->base, c->next, &err);
    pend_release(c);
    if (rc != 0) {
        dlog_error(MOD, "blend: %s", err.msg);     /* the canvas keeps the previous keyframe */
        return;
    }
    swap_in_next(c);
}

static void on_rest(coord_t *c, worker_t *w, wire_msg_t *m);

static void on_result(coord_t *c, worker_t *w, wire_msg_t *m) {
    Dreamfarm__Result *r = m->env->result;
    if (r->has_rest_part && r->rest_part) {
        on_rest(c, w, m);
        return;
    }
    if (r->job_id != w->job_id || !w->job_id) {
        c->st.late_discarded++;
        peer_log(c, DLOG_DEBUG, w->tag, "stale", "discarding result %llu from %s (not its current job)", (unsigned long long)r->job_id, w->name);
        return;
    }
    uint64_t jid = w->job_id;
    w->job_id = 0;
    int idx = -1;
    if (c->kf_active && w->job_kf == c->kf_id)
        for (int i = 0; i < c->plan.n; i++)
            if (c->jobs[i].state == JOB_RUNNING && c->jobs[i].job_id == jid) idx = i;
    if (idx < 0) {      /* requeued after a deadline, or its keyframe is finished */
        c->st.late_discarded++;
        dream_state_counter_add(c->state, "late_discarded", 1);
        peer_log(c, DLOG_INFO, w->tag, "late", "late result %llu from %s discarded", (unsigned long long)jid, w->name);
        return;
    }
    tile_t *t = &c->plan.tiles[idx];
    double now = dream_now_ms(), mpix = (double)t->r.w * t->r.h / 1e6;
    double elapsed = w->job_sent > 0 ? now - w->job_sent : 0;
    if (c->cfg.min_ms_mpix > 0 && c->cfg.steps > 0 && elapsed < c->cfg.min_ms_mpix * mpix * c->cfg.steps) {
        /* faster than any real backend: pixels not computed by the model */
        tile_pending(c, idx);
        c->st.implausible++;
        char why[160];
        snprintf(why, sizeof why, "implausible result: %.2f ms for %.3f MPx x %d steps (floor %.3g ms/MPx-step)",
                 elapsed, mpix, c->cfg.steps, c->cfg.min_ms_mpix);
        worker_fail(c, w, why);
        return;
    }
    if (r->tile->x != t->r.x || r->tile->y != t->r.y || r->tile->w != t->r.w || r->tile->h != t->r.h) {
        tile_pending(c, idx);
        worker_fail(c, w, "result for a different rectangle");
        return;
    }
    /* a result in two parts: its first frame lacks the rest its job asked for (or it came whole) */
    tile_rect_t hole = {0, 0, 0, 0};
    if (r->rest) {
        const tile_rect_t *jr = &w->job_rest;
        if (!w->job_fixed || r->rest->x != jr->x || r->rest->y != jr->y || r->rest->w != jr->w || r->rest->h != jr->h ||
            jr->w <= 0) {
            tile_pending(c, idx);
            worker_fail(c, w, "result less a part its job did not name");
            return;
        }
        hole = *jr;
    }
    int fixed_px = r->has_fixed_pixels && r->fixed_pixels;
    if (fixed_px != (w->job_fixed && !w->job_u8)) {
        tile_pending(c, idx);
        worker_fail(c, w, fixed_px ? "8.8 result for an 8-bit job" : "8-bit result for an 8.8 tile-resident job");
        return;
    }
    if (fixed_px && !px88_in_range(m->pixels, m->pixels_len / 2)) {
        tile_pending(c, idx);
        worker_fail(c, w, "8.8 result with values above 255");
        return;
    }
    if (w->job_fixed) {
        /* the previous keyframe's rests that have not come: filled now, before its canvas is read
         * for this check and before anything of this keyframe is blended (the fill's source, the
         * keyframe before that, is in next88 until then) */
        if (c->rest_pending) {
            rest_save_all(c);   /* the fills' source, before this keyframe's blends reach next88 */
            /* (its own rest came before this result on its connection; another's its strips
             * needed waited for: a rest its window still lacks broke that order) */
            if (window_rect(c, idx) == 0)
                rest_fill_meeting(c, c->win_rect[idx], "did not come before a result that needs it");
        }
        /* tile-resident: its window, rebuilt from what it kept and what it was sent, must be
         * our canvas's bit for bit (no float arithmetic is involved: this is about the data) */
        uint64_t hv = 0;
        if (window_hash(c, idx, &hv) != 0 || !r->has_input_hash || r->input_hash != hv) {
            tile_pending(c, idx);
            c->tres_mismatch++;
            w->tile_res = 0;
            w->tres_revoked = 1;
            w->tk_kf = 0;
            peer_log(c, DLOG_WARN, w->tag, "tileres", "worker %s: its window differs from the coordinator's (input "
                     "hash %016llx, want %016llx): tile requeued, no tile-resident jobs for it from now on",
                     w->name, (unsigned long long)r->input_hash, (unsigned long long)hv);
            /* no float arithmetic is involved: a bug or a lie, counted as a failure */
            worker_fail(c, w, "tile-resident window differs from the coordinator's");
            return;
        }
    } else if (w->job_window || w->job_resident) {
        /* the worker made its input itself, a warp of a window or of its kept canvas: it must be
         * our cut, bit for bit */
        /* the tiles as cut from the coordinator's own warp (made after the hand-out; now if a
         * result comes before kf_after_dispatch's deferred work has run) */
        if (ensure_base(c) != 0) c->base_ready = 1;   /* logged; the check then fails */
        uint64_t hv = tile_hash(c, idx);
        if (!r->has_input_hash || r->input_hash != hv) {
            tile_pending(c, idx);
            /* another float arithmetic (a worker built with FMA contraction, another CPU) or a
             * lie: either way this connection gets ordinary pixel jobs from now on (no
             * seed/mismatch loop, and no failure for an honest worker that rounds differently) */
            if (w->job_window) {
                c->window_mismatch++;
                w->tile_warp = 0;
            } else {
                c->resident_mismatch++;
                w->resident_kf = 0;
                w->resident = 0;
            }
            peer_log(c, DLOG_WARN, w->tag, w->job_window ? "window" : "resident", "worker %s: %s differs from the "
                     "coordinator's (input hash %016llx, want %016llx): tile requeued, pixel jobs only from now on",
                     w->name, w->job_window ? "its warp of the window" : "resident canvas",
                     (unsigned long long)r->input_hash, (unsigned long long)hv);
            return;
        }
    }
    dream_err_t err = {{0}};
    double tb0 = dream_now_ms();
    if (w->job_sent > 0 && r->compute_ms > 0) {
        c->tm_transfer += tb0 - w->job_sent - r->compute_ms;
        c->tm_results++;
    }
    if (w->job_fixed) {
        /* tile-resident: the 8.8 result is the keyframe where it alone covers, written now (an
         * 8-bit one, --tile-result 8, as value * 256: what the worker keeps) */
        const uint8_t *px = res_keep(c, idx, m);    /* read again for the overlaps: kept to kf_finish */
        /* what it alone covers (most of it: the part its next job need not carry) is copied in
         * once the next keyframe's jobs are out (late_flush): not on the critical path */
        tile_rect_t later = blend_alone_rect(&c->plan, idx);
        int rc = !px ? dream_err_set(&err, "out of memory for a result")
                     : blend_add_fixed_split(c->blend, &c->plan, idx, px, w->job_u8, &hole, &later, NULL, c->next88, &err);
        if (rc != 0) {
            dlog_error(MOD, "blend: %s", err.msg);
            return;
        }
        if (later.w > 0 && later.h > 0) {
            if (c->late_n && c->late_kf != c->kf_id) late_flush(c, NULL, NULL);   /* an older keyframe's: not reached */
            c->late_px[idx] = px;
            c->late_rect[idx] = later;
            c->late_tile[idx] = t->r;
            c->late_u8[idx] = (uint8_t)w->job_u8;
            c->late_kf = c->kf_id;
            c->late_hole[idx] = hole;
            c->late_n++;
            if (hole.w > 0) {   /* its rest comes when asked for (rest_ask) or before its next result */
                int f = 0;
                while (f < REST_MAX && c->rests[f].used) f++;
                if (f == REST_MAX) f = 0;   /* not reached (older keyframes' are filled at kf_finish) */
                if (c->rests[f].used) rest_fill(c, f, "was dropped (too many)", 0);
                rest_t *rs = &c->rests[f];
                *rs = (rest_t){.used = 1, .kf = c->kf_id, .job = jid, .slot = (int)(w - c->w), .u8 = w->job_u8,
                               .tile = t->r, .hole = hole, .zoom = c->kf_zoom, .angle = c->kf_angle,
                               .interp = c->kf_interp, .deadline = now + 250 + 2 * c->plan.est_ms};
                c->rest_pending++;
                c->rest_parts++;
            }
        }
    } else if (!c->cfg.canvas8 && whole_canvas(c, idx) && keep_result(c, m) == 0) {
        /* one tile, the whole canvas: its blend waits until the next keyframe's job is out
         * (canvas_blend_pending) */
        c->pend_blend = 1;
        c->pend_tile = *t;
    } else if (!c->cfg.canvas8) {
        /* float canvas: the warped canvas plus the blended 8-bit change (result - sent), so the
         * input's rounding cancels. What this tile alone covers is final now and written into
         * the next canvas at once; only the overlaps wait for kf_finish (no full-canvas pass) */
        if (blend_add_delta_plan(c->blend, &c->plan, idx, m->pixels, c->tile_px[idx], c->base, c->next, &err) != 0) {
            dlog_error(MOD, "blend: %s", err.msg);
            return;
        }
    } else if (c->plan.n == 1 && t->r.x == 0 && t->r.y == 0 && t->r.w == c->cfg.W && t->r.h == c->cfg.H) {
        /* one tile, the whole canvas, weight 1 everywhere: it is the keyframe */
        dream_image_from_rgb8(c->canvas, m->pixels);
        c->kf_direct = 1;
    } else if (blend_add_rgb8(c->blend, t, m->pixels, &err) != 0) {
        dlog_error(MOD, "blend: %s", err.msg);
        return;
    }
    c->kf_t_last_result = dream_now_ms();
    c->tm_blend_add += c->kf_t_last_result - tb0;
    if (isfinite(r->compute_ms) && r->compute_ms > c->kf_compute_max) c->kf_compute_max = r->compute_ms;
    c->jobs[idx].state = JOB_DONE;
    /* its float canvas is now the keyframe's (when kf_finish completes it) */
    w->resident_kf = w->job_resident ? c->kf_id : 0;
    /* its tile: the part the canvas will hold as it is, what its next job need not carry */
    w->tk_kf = w->job_fixed ? c->kf_id : 0;
    if (w->job_fixed) w->tk_alone = blend_alone_rect(&c->plan, idx);
    metrics_observe_tile_ms(r->compute_ms);
    c->njobs_done++;
    c->st.results_ok++;
    w->jobs_done++;
    /* measured throughput: the coordinator's own clock (the worker's compute_ms is a claim;
     * a larger one only slows it down), less the planner's fixed per-job overhead */
    double cms = isfinite(r->compute_ms) && r->compute_ms > 0 ? r->compute_ms : 0;
    double wall = elapsed - c->cfg.job_overhead_ms;
    double took = cms > wall ? cms : wall;
    if (c->cfg.steps > 0 && took > 0 && mpix > 0) {
        double s = took / (mpix * c->cfg.steps);
        if (s < 0.001) s = 0.001;
        if (s < 1e8) {
            if (w->probing) {
                /* a probe measures afresh; one that finds it as slow as before makes the next
                 * probe come later (a slow worker costs a slow keyframe per probe) */
                if (s > 1.25 * w->probe_est) {
                    if (w->slow_probes < SLOW_PROBES_MAX) w->slow_probes++;
                } else {
                    w->slow_probes = 0;
                }
                w->probing = 0;
                w->ms_mpix = s;
            } else {
                w->ms_mpix = w->measured ? 0.7 * w->ms_mpix + 0.3 * s : s;
            }
            w->measured = 1;
        }
    }
    /* good work slowly heals: one failure per 10 accepted tiles (a cheater mixing good and
     * bad answers still reaches the quarantine) */
    if (w->failures > 0 && !w->quarantined && w->jobs_done % 10 == 0) w->failures--;
}

/* the second part of a result (Job.rest): the rest's pixels, written into its keyframe's canvas
 * at once; anything amiss is a failure of the worker and the rest is filled */
static void on_rest(coord_t *c, worker_t *w, wire_msg_t *m) {
    Dreamfarm__Result *r = m->env->result;
    int k = -1;
    for (int i = 0; i < REST_MAX && k < 0; i++)
        if (c->rests[i].used && c->rests[i].job == r->job_id && c->rests[i].slot == (int)(w - c->w)) k = i;
    if (k < 0) {        /* filled already, its keyframe dropped, or never asked for */
        c->st.late_discarded++;
        peer_log(c, DLOG_DEBUG, w->tag, "stale", "discarding a rest of job %llu from %s", (unsigned long long)r->job_id,
                 w->name);
        return;
    }
    rest_t *rs = &c->rests[k];
    const tile_rect_t *h = &rs->hole, *t = &rs->tile;
    int fixed_px = r->has_fixed_pixels && r->fixed_pixels;
    const char *bad = NULL;
    if (!r->rest || r->rest->x != h->x || r->rest->y != h->y || r->rest->w != h->w || r->rest->h != h->h ||
        r->tile->x != t->x || r->tile->y != t->y || r->tile->w != t->w || r->tile->h != t->h)
        bad = "a rest for a different rectangle";
    else if (fixed_px == rs->u8)
        bad = "a rest of another precision than its first part";
    else if (fixed_px && !px88_in_range(m->pixels, m->pixels_len / 2))
        bad = "an 8.8 rest with values above 255";
    if (bad) {
        rest_fill(c, k, bad, 1);
        return;
    }
    uint8_t *dst = rest_dst(c, rs);
    dream_err_t err = {{0}};
    if (dst && blend_copy_fixed(h, m->pixels, rs->u8, h, c->cfg.W, c->cfg.H, NULL, dst, &err) != 0)
        dlog_error(MOD, "blend: %s", err.msg);      /* sizes checked: not reached */
    rest_drop(c, k);
}

static void handle_worker_msg(coord_t *c) {
    for (int k = 0; k < 256; k++) {
        wire_msg_t m;
        dream_err_t err = {{0}};
        int rc = wire_recv_zc(c->router, 1, ZMQ_DONTWAIT, &m, &err);     /* pixels: the frame itself */
        if (rc == 0 || rc == -2) return;
        if (rc < 0) {
            c->st.malformed++;
            double now = dream_now_ms();
            if (now - c->log_malformed_at > 1000) {
                dlog_warn(MOD, "dropped malformed message (%s); %llu so far", err.msg,
                          (unsigned long long)c->st.malformed);
                c->log_malformed_at = now;
            }
            if (m.identity_len && strncmp(err.msg, "protocol version", 16) == 0 &&
                !find_worker(c, m.identity, m.identity_len))
                send_refusal(c, m.identity, m.identity_len, DREAMFARM__REFUSAL_CODE__REFUSE_VERSION, err.msg);
            continue;
        }
        c->st.bytes_in += m.bytes;
        Dreamfarm__MsgType type = m.env->type;
        worker_t *w = find_worker(c, m.identity, m.identity_len);
        if (type == DREAMFARM__MSG_TYPE__MSG_HELLO) {
            on_hello(c, &m);
        } else if (!w) {
            if (type != DREAMFARM__MSG_TYPE__MSG_BYE)
                send_refusal(c, m.identity, m.identity_len, DREAMFARM__REFUSAL_CODE__REFUSE_UNKNOWN_WORKER,
                             "unknown worker: say hello first");
        } else {
            w->last_seen = dream_now_ms();
            switch (type) {
            case DREAMFARM__MSG_TYPE__MSG_RESULT:
                /* (a result's rest says nothing about the job in hand) */
                if (!(m.env->result->has_rest_part && m.env->result->rest_part)) w->stale_busy = 0;
                on_result(c, w, &m);
                break;
            case DREAMFARM__MSG_TYPE__MSG_ERROR: {
                Dreamfarm__Error *e = m.env->error;
                char emsg[256];
                dlog_escape(e->message, emsg, sizeof emsg);
                peer_log(c, DLOG_WARN, w->tag, "error", "worker %s error %d: %s", w->name, e->code, emsg);
                if (w->job_id && (!e->has_job_id || e->job_id == w->job_id)) {
                    requeue_worker_job(c, w, "worker error");
                    w->job_id = 0;
                    if (e->code == DREAMFARM__ERROR_CODE__ERR_STOPPING) w->draining = 1;   /* stopping: not a failure */
                    else if (e->code == DREAMFARM__ERROR_CODE__ERR_NO_RESIDENT && w->job_held) {
                        w->resident_kf = 0;     /* lost its canvas or tile: seeded again / a whole window */
                        w->tk_kf = 0;           /* (so its next job carries no held part: no second code 5) */
                    } else if (e->code == DREAMFARM__ERROR_CODE__ERR_NO_RESIDENT) {
                        worker_fail(c, w, "no kept canvas or tile claimed for a job that needs none");
                    }
                    else if (e->code != DREAMFARM__ERROR_CODE__ERR_BUSY) worker_fail(c, w, e->message);   /* 4 = busy: not one either */
                    else w->stale_busy = 1;     /* not again until it is free (no resend loop) */
                }
                break;
            }
            case DREAMFARM__MSG_TYPE__MSG_BYE: worker_remove(c, w, "said bye"); break;
            case DREAMFARM__MSG_TYPE__MSG_HEARTBEAT:
                if (m.env->heartbeat->has_busy_job_id && m.env->heartbeat->busy_job_id == 0) w->stale_busy = 0;
                if (m.env->heartbeat->has_draining && m.env->heartbeat->draining && !w->draining) {
                    w->draining = 1;
                    peer_log(c, DLOG_INFO, w->tag, "draining", "worker %s is stopping: no new jobs", w->name);
                }
                break;
            default: break;
            }
        }
        wire_msg_clear(&m);
    }
}

/* ---------- keyframes ---------- */

/* may get a job now */
static int worker_free(const worker_t *w) {
    return w->used && !w->quarantined && !w->draining && !w->job_id && !w->stale_busy;
}

static int usable_workers(coord_t *c, tile_worker_t *tw, int max) {
    int n = 0;
    for (int i = 0; i < c->nslots && n < max; i++)
        if (c->w[i].used && !c->w[i].quarantined && !c->w[i].draining)
            tw[n++] = (tile_worker_t){sched_ms(c, &c->w[i]), c->w[i].max_px};
    return n;
}

/* the fastest free worker that holds px pixels (dispatch_jobs' choice), or NULL */
static worker_t *best_free_worker(coord_t *c, uint64_t px) {
    worker_t *bw = NULL;
    for (int k = 0; k < c->nslots; k++) {
        worker_t *w = &c->w[k];
        if (!worker_free(w) || w->max_px < px) continue;
        if (!bw || sched_ms(c, w) < sched_ms(c, bw)) bw = w;
    }
    return bw;
}

static int whole_canvas(const coord_t *c, int idx) {
    const tile_rect_t *r = &c->plan.tiles[idx].r;
    return c->plan.n == 1 && r->x == 0 && r->y == 0 && r->w == c->cfg.W && r->h == c->cfg.H;
}


/* the canvas rounded to 8.8 in place, once per keyframe with windows (after their hand-out,
 * before the coordinator's own warp: base = the warp the workers do, bit for bit) */
static void quantize_canvas(coord_t *c) {
    if (!c->kf_wwarp || c->canvas_quantized) return;
    long n = (long)c->cfg.W * c->cfg.H * 3;
    float *p = c->canvas->px;
    #pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) p[i] = (float)px88_q(p[i]) * (1.0f / 256.0f);     /* q <= 65280: exact */
    c->canvas_quantized = 1;
}

/* tile idx's window of the canvas (dream_warp_source_rect: what its warp reads) into win_rect */
static int window_rect(coord_t *c, int idx) {
    if (c->win_rect_ok[idx]) return 0;
    const tile_rect_t *r = &c->plan.tiles[idx].r;
    dream_err_t err = {{0}};
    int *wr = c->win_rect[idx];
    if (dream_warp_source_rect(c->cfg.W, c->cfg.H, c->kf_zoom, c->kf_angle, c->kf_interp, r->x, r->y, r->w, r->h,
                               &wr[0], &wr[1], &wr[2], &wr[3], &err) != 0) {
        dlog_error(MOD, "tile window: %s", err.msg);
        return -1;
    }
    c->win_rect_ok[idx] = 1;
    return 0;
}

/* canvas row y, columns x0..x1-1, as 8.8 little-endian into o: from the 8.8 mirror while the
 * canvas is exact (tile-resident), else the float canvas rounded (px88_q) */
static void cut_row88(const coord_t *c, int y, int x0, int x1, uint8_t *o) {
    if (c->canvas_exact && c->canvas88) {
        memcpy(o, c->canvas88 + ((size_t)y * c->cfg.W + x0) * 6, (size_t)(x1 - x0) * 6);
        return;
    }
    px88_from_float(c->canvas->px + ((size_t)y * c->cfg.W + x0) * 3, o, (size_t)(x1 - x0) * 3);
}

/* a kept per-tile byte buffer grown to len (its contents are rewritten): 0, or -1 (no memory,
 * the buffer is gone) */
static int grow(uint8_t **p, size_t *cap, size_t len) {
    if (*p && *cap >= len) return 0;
    free(*p);
    *p = malloc(len ? len : 1);
    *cap = *p ? len : 0;
    return *p ? 0 : -1;
}

/* tile idx's window of the canvas, 8.8 little-endian, into win_px */
static int cut_window(coord_t *c, int idx) {
    if (c->win_ready[idx]) return 0;
    if (window_rect(c, idx) != 0) return -1;
    late_flush(c, c->win_rect[idx], NULL);
    int sx = c->win_rect[idx][0], sy = c->win_rect[idx][1], sw = c->win_rect[idx][2], sh = c->win_rect[idx][3];
    if (grow(&c->win_px[idx], &c->win_cap[idx], (size_t)sw * sh * 3 * 2) != 0) return -1;
    #pragma omp parallel for schedule(static) if ((long)sw * sh > 65536)
    for (int y = 0; y < sh; y++) cut_row88(c, sy + y, sx, sx + sw, c->win_px[idx] + (size_t)y * sw * 6);
    c->win_ready[idx] = 1;
    return 0;
}

/* --tile-warp resident: the part of tile idx's window that worker w keeps (the alone rect of
 * the tile it computed, while the canvas is still that keyframe's), or an empty rect */
static tile_rect_t held_part(coord_t *c, const worker_t *w, int idx) {
    tile_rect_t e = {0, 0, 0, 0};
    if (!w->tile_res || !w->tk_kf || w->tk_kf != c->canvas_kf || !c->canvas_exact || window_rect(c, idx) != 0) return e;
    const int *wr = c->win_rect[idx];
    const tile_rect_t win = {wr[0], wr[1], wr[2], wr[3]};
    return tile_rect_cut(&w->tk_alone, &win);
}

/* a tile-resident job's pixels: tile idx's window less hd (inside it; w = 0: nothing held), its
 * rows in raster order, 8.8 LE, into job_px[idx]. The byte count, or -1 (no memory) */
static long cut_strips(coord_t *c, int idx, const tile_rect_t *hd) {
    if (rest_blocks(c, c->win_rect[idx], hd)) return -2;   /* a rest the strips need is still to come */
    late_flush(c, c->win_rect[idx], hd);    /* a deferred alone part the strips reach */
    int sx = c->win_rect[idx][0], sy = c->win_rect[idx][1], sw = c->win_rect[idx][2], sh = c->win_rect[idx][3];
    size_t len = ((size_t)sw * sh - (size_t)hd->w * hd->h) * 6;
    if (grow(&c->job_px[idx], &c->job_cap[idx], len) != 0) return -1;
    uint8_t *o = c->job_px[idx];
    for (int y = sy; y < sy + sh; y++) {
        if (hd->w == 0 || y < hd->y || y >= hd->y + hd->h) {
            cut_row88(c, y, sx, sx + sw, o);
            o += (size_t)sw * 6;
        } else {
            cut_row88(c, y, sx, hd->x, o);
            o += (size_t)(hd->x - sx) * 6;
            cut_row88(c, y, hd->x + hd->w, sx + sw, o);
            o += (size_t)(sx + sw - hd->x - hd->w) * 6;
        }
    }
    return (long)len;
}

/* what a tile-resident job's input_hash must be: the hash of its whole window as 8.8 bytes,
 * row by row from the 8.8 canvas (a tile-resident keyframe's canvas is always exact: kf_start) */
static int window_hash(coord_t *c, int idx, uint64_t *hv) {
    if (!c->win_hv_ok[idx]) {
        if (!c->canvas_exact || !c->canvas88 || window_rect(c, idx) != 0) return -1;
        const int *wr = c->win_rect[idx];
        if (rest_blocks(c, wr, NULL)) {     /* a rest it covers is still to come: later */
            c->rest_wanted = 1;
            return -1;
        }
        late_flush(c, wr, NULL);
        wire_hash_t hs;
        wire_hash_init(&hs);
        for (int y = wr[1]; y < wr[1] + wr[3]; y++)
            wire_hash_update(&hs, c->canvas88 + ((size_t)y * c->cfg.W + wr[0]) * 6, (size_t)wr[2] * 6);
        c->win_hv[idx] = wire_hash_final(&hs);
        c->win_hv_ok[idx] = 1;
    }
    *hv = c->win_hv[idx];
    return 0;
}

static int prep_tiles(coord_t *c);

/* the coordinator's warp and tile cut, when not done yet (a deferred keyframe) */
static int ensure_base(coord_t *c) {
    if (c->base_ready) return 0;
    canvas_sync_float(c);   /* a tile-resident canvas's floats (already 8.8 values), before quantizing */
    quantize_canvas(c);
    return prep_tiles(c);
}

/* the keyframe's inputs: one float warp of the whole canvas (both cores; the fill for missing
 * tiles and the float canvas's base), then every tile is cut from it and rounded: bit-identical
 * to warping each tile to 8 bits (test_coord_warp), without warping the halos twice and without
 * a second whole-canvas warp after the hand-out */
static int prep_tiles(coord_t *c) {
    dream_err_t err = {{0}};
    canvas_blend_pending(c);
    canvas_sync_float(c);
    if (dream_warp(c->canvas, c->base, c->kf_zoom, c->kf_angle, c->kf_interp, &err) != 0) {
        dlog_error(MOD, "warp: %s", err.msg);
        return -1;
    }
    #pragma omp parallel for schedule(dynamic, 16)
    for (int k = 0; k < c->plan.n * 64; k++) {     /* 64 row bands per tile */
        const tile_rect_t *r = &c->plan.tiles[k / 64].r;
        int b = k % 64, y0 = (int)((long)r->h * b / 64), y1 = (int)((long)r->h * (b + 1) / 64);
        uint8_t *o = c->tile_px[k / 64] + (size_t)y0 * r->w * 3;
        for (int y = y0; y < y1; y++) {
            const float *src = c->base->px + ((size_t)(r->y + y) * c->cfg.W + r->x) * 3;
            for (int i = 0; i < r->w * 3; i++) *o++ = dream_u8_from_float(src[i]);
        }
    }
    c->base_ready = 1;
    memset(c->hv_ok, 0, sizeof c->hv_ok);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int kf_start(coord_t *c) {
    tile_worker_t tw[512];
    {   /* what a sat-out worker's estimate drifts towards (sched_ms): once per keyframe */
        double v[512];
        int n = 0;
        for (int i = 0; i < c->nslots && n < 512; i++)
            if (c->w[i].used && !c->w[i].quarantined && c->w[i].measured) v[n++] = c->w[i].ms_mpix;
        qsort(v, (size_t)n, sizeof v[0], cmp_double);
        c->med_ms = n ? v[(n - 1) / 2] : 0;     /* (the lower one: a worker is not its own reference) */
    }
    int nw = usable_workers(c, tw, 512);
    if (nw == 0) return 0;
    double now = dream_now_ms();
    if (now < c->kf_retry_at) return 0;     /* the last attempt failed: don't spin */
    if (c->rest_pending) {
        /* the canvas still lacks rests (Job.rest): only a tile-resident keyframe starts before
         * they are in (its jobs wait for a rest their strips need; the rests are asked for once
         * its jobs are out, rest_ask); any other waits (they come within ms, or are filled) */
        int all = nw >= 2 && c->cfg.tile_resident && !c->cfg.canvas8;
        for (int k = 0; k < c->nslots && all; k++) {
            const worker_t *w = &c->w[k];
            if (w->used && !w->quarantined && !w->draining) all = w->tile_res || w->tres_revoked;
        }
        if (!all) return 0;
    }
    /* motion in video time: the display's next frame decides the lag; a backlog waits */
    int64_t f_now = -1;
    if (c->fc) {
        int held = 0;
        frameclock_position(c->fc, &f_now, &held);
        /* --motion wallclock (benchmarks, the old mode): compute is never held back by the
         * display; kf_after_dispatch skips showing a keyframe while the clock is full */
        if ((!c->motion.cfg.wallclock && held >= FRAMECLOCK_MAX_KF - 2) || !motion_may_start(&c->motion, c->canvas_pos, f_now))
            return 0;
    }
    double dt = c->last_kf_start > 0 ? (now - c->last_kf_start) / 1000.0 : 1.0;
    motion_step_t ms;
    motion_next(&c->motion, c->canvas_pos, f_now, dt, &ms);
    c->kf_zoom = ms.zoom;
    c->kf_angle = ms.angle;
    c->kf_pos = ms.pos;
    dream_err_t err = {{0}};
    if (!isfinite(c->kf_zoom) || c->kf_zoom <= 1e-6 || !isfinite(c->kf_angle)) {
        dlog_error(MOD, "warp: bad zoom %g / angle %g", c->kf_zoom, c->kf_angle);
        c->kf_retry_at = now + 1000;
        return -1;
    }
    /* the canvas is warped once (prep_tiles, below), the tiles are cut from it and handed out
     * at once; with a resident worker the warp follows the hand-out (kf_after_dispatch) */
    c->base_ready = 0;
    tile_plan_params_t pp = {c->cfg.W, c->cfg.H, c->cfg.halo, c->cfg.min_side, c->cfg.steps,
                             c->cfg.job_overhead_ms, c->cfg.max_tiles, c->cfg.seam_jitter > 0 ? c->cfg.seam_jitter : -1,
                             0, 0, 0, 0, 0};
    if (!c->seed_kf_ok) c->seed_kf = dream_splitmix64(&c->rng);
    if (!c->seed_next_ok) c->seed_next = dream_splitmix64(&c->rng);
    c->seed_kf_ok = c->seed_next_ok = 1;
    uint64_t seed = c->seed_kf;
    if (tile_plan_make(&pp, tw, nw, seed, &c->plan, &err) != 0) {
        dlog_warn(MOD, "%s; retrying in 1 s", err.msg);
        c->kf_retry_at = now + 1000;
        c->plan.n = 0;
        return 0;
    }
    if (c->rest_pending && c->plan.n < 2 && !(c->shape[0] * c->shape[1] >= 2 && c->shape[3] == nw)) {
        c->plan.n = 0;      /* not tile-resident: the rests first (below); no layout vote either */
        return 0;
    }
    /* the layout stays (with as many workers) until another has been the best LAYOUT_SWITCH_KF
     * plans in a row, or is at once when another is faster by a quarter: the measured speeds are
     * noisy (a few % on GPUs, up to 30 % with workers sharing a loaded host), and four equal
     * workers flipped between 2x2 and four strips every few keyframes; a lasting or a large
     * difference (a slower worker, a better layout, a probe that found a worker slow) still wins */
    int fresh[3] = {c->plan.nx, c->plan.ny, c->plan.weighted};
    if (c->shape[0] && c->shape[3] == nw && memcmp(fresh, c->shape, sizeof fresh) != 0) {
        if (memcmp(fresh, c->shape_cand, sizeof fresh) == 0) c->shape_cand_n++;
        else {
            memcpy(c->shape_cand, fresh, sizeof fresh);
            c->shape_cand_n = 1;
        }
        tile_plan_t kept;
        pp.prev_nx = c->shape[0];
        pp.prev_ny = c->shape[1];
        pp.prev_weighted = c->shape[2];
        pp.prev_nw = nw;
        pp.prev_keep = 0;
        if (c->shape_cand_n < LAYOUT_SWITCH_KF && tile_plan_make(&pp, tw, nw, seed, &kept, NULL) == 0 &&
            kept.nx == c->shape[0] && kept.ny == c->shape[1] && kept.weighted == c->shape[2] &&
            !(c->plan.est_ms < 0.75 * kept.est_ms))
            c->plan = kept;
    } else {
        c->shape_cand_n = 0;
    }
    if (c->rest_pending && c->plan.n < 2) {     /* not tile-resident: the rests first (above) */
        c->plan.n = 0;
        return 0;
    }
    /* the next keyframe's grid, if it keeps this layout (its lines move by the seam jitter) */
    c->next_grid.n = 0;
    if (!c->plan.weighted && c->plan.n > 1) {
        int ox, oy;
        tile_plan_grid_offsets(&pp, c->plan.nx, c->plan.ny, c->seed_next, &ox, &oy);
        if (tile_plan_grid(&pp, c->plan.nx, c->plan.ny, ox, oy, &c->next_grid, NULL) != 0 || c->next_grid.n != c->plan.n)
            c->next_grid.n = 0;
    }
    c->shape[0] = c->plan.nx;   /* the layout the next plan keeps unless another is clearly faster */
    c->shape[1] = c->plan.ny;
    c->shape[2] = c->plan.weighted;
    c->shape[3] = nw;
    int bad = 0;
    for (int i = 0; i < c->plan.n; i++) {
        bad |= grow(&c->tile_px[i], &c->tile_cap[i], (size_t)c->plan.tiles[i].r.w * c->plan.tiles[i].r.h * 3) != 0;
    }
    /* resident canvas: the worker that gets a whole-canvas keyframe already holds the canvas
     * (float, bit for bit): its job (the warp parameters) goes out first, and the warp below
     * is done after the hand-out, while it computes */
    int defer = 0;
    if (!bad && c->plan.n == 1 && !c->cfg.canvas8 && c->canvas_kf) {
        worker_t *bw = best_free_worker(c, (uint64_t)c->plan.tiles[0].r.w * c->plan.tiles[0].r.h);
        defer = bw && whole_canvas(c, 0) && bw->resident && bw->resident_kf == c->canvas_kf;
    }
    /* --tile-warp worker: the tiles go out as windows of the canvas (cut_window, at hand-out)
     * to the workers that warp themselves; the coordinator's warp follows (kf_after_dispatch) */
    c->kf_wwarp = 0;
    c->kf_tres = 0;
    c->canvas_quantized = 0;
    memset(c->win_ready, 0, sizeof c->win_ready);
    memset(c->win_rect_ok, 0, sizeof c->win_rect_ok);
    memset(c->win_hv_ok, 0, sizeof c->win_hv_ok);
    /* --tile-warp resident: when every usable worker keeps its tile, each gets the window less
     * what it holds, returns 8.8, and the coordinator does not warp at all (the base is made
     * only to fill a tile missing at the deadline) */
    if (!bad && !defer && c->cfg.tile_resident && !c->cfg.canvas8 && c->plan.n > 1) {
        int any = 0, all = 1;
        for (int k = 0; k < c->nslots; k++) {
            const worker_t *w = &c->w[k];
            if (!w->used || w->quarantined || w->draining) continue;
            all &= w->tile_res || w->tres_revoked;      /* a revoked one just waits */
            any |= worker_free(w) && w->tile_res;
        }
        if (any && all) {
            c->kf_tres = c->kf_wwarp = defer = 1;
            canvas_blend_pending(c);
            if (!c->canvas_exact) {     /* once, after a float keyframe: exact 8.8 and its mirror */
                quantize_canvas(c);
                #pragma omp parallel for schedule(static)
                for (int y = 0; y < c->cfg.H; y++) cut_row88(c, y, 0, c->cfg.W, c->canvas88 + (size_t)y * c->cfg.W * 6);
                c->canvas_exact = 1;
            }
        }
    }
    if (!c->kf_tres) {
        /* (not reached but for a farm whose tile-resident workers are all busy or revoked while
         * rests are still to come: another keyframe reads the whole canvas) */
        if (c->rest_pending) rest_fill_upto(c, UINT64_MAX, "was needed by a keyframe of another kind", 0);
        canvas_sync_float(c);   /* the floats first, while the mirror is still the canvas's */
        c->canvas_exact = 0;    /* another keyframe makes a float canvas */
    }
    if (!bad && !defer && c->cfg.tile_warp_worker && !c->cfg.canvas8 && c->plan.n > 1) {
        for (int k = 0; k < c->nslots && !defer; k++) defer = worker_free(&c->w[k]) && c->w[k].tile_warp;
        c->kf_wwarp = defer;
        canvas_blend_pending(c);    /* the windows are cut from the canvas */
    }
    c->base_ready = 0;
    if (!bad && !defer) bad = prep_tiles(c) != 0;
    if (bad) {
        dlog_error(MOD, "keyframe tiles: out of memory or bad warp; retrying in 1 s");
        c->kf_retry_at = now + 1000;
        c->plan.n = 0;
        return -1;
    }
    c->need_reset = 1;      /* done after the hand-out (kf_after_dispatch), before any result */
    c->kf_direct = 0;
    double t_prep = dream_now_ms();
    c->coord_ms_acc += t_prep - now;
    c->tm_prep += t_prep - now;
    if (c->last_kf_end > 0) c->tm_gap += now - c->last_kf_end;
    c->kf_t_prepped = t_prep;
    c->kf_t_sent = 0;
    c->kf_t_last_result = 0;
    c->kf_compute_max = 0;
    for (int i = 0; i < c->plan.n; i++) c->tile_mpx_total += (double)c->plan.tiles[i].r.w * c->plan.tiles[i].r.h / 1e6;
    memset(c->jobs, 0, sizeof c->jobs);
    for (int i = 0; i < c->plan.n; i++) c->jobs[i].worker = -1;
    c->njobs_done = 0;
    c->kf_id++;
    c->kf_active = 1;
    c->seed_kf = c->seed_next;      /* the next keyframe's, as its rests were cut for */
    c->seed_next_ok = 0;
    c->kf_start = now;
    c->last_kf_start = now;
    c->bytes_at_kf_start = c->st.bytes_in + c->st.bytes_out;
    double slack = c->cfg.deadline_min_ms * 2.0 + (double)c->cfg.heartbeat_ms * c->cfg.liveness;
    c->kf_deadline = now + c->plan.est_ms * c->cfg.deadline_factor + slack;
    dlog_debug(MOD, "keyframe %llu: %dx%d grid (%d tiles, offset %d,%d), est %.0f ms, %lld frames (zoom %.4f angle %.3f)",
               (unsigned long long)c->kf_id, c->plan.nx, c->plan.ny, c->plan.n, c->plan.ox, c->plan.oy,
               c->plan.est_ms, (long long)ms.n, c->kf_zoom, c->kf_angle);
    return 1;
}

/* the keyframe's warp in a job the worker warps for itself (resident canvas or window) */
static void job_warp(const coord_t *c, Dreamfarm__Job *job) {
    job->has_warp_zoom = 1; job->warp_zoom = c->kf_zoom;
    job->has_warp_angle = 1; job->warp_angle = c->kf_angle;
    job->has_warp_interp = 1; job->warp_interp = c->kf_interp == DREAM_INTERP_BILINEAR ? 0 : 1;
}

/* Job.rest for tile idx (blend_rest_rect): the next keyframe's grid is known when it keeps this
 * layout (its seed is drawn a keyframe early); another layout after all (a worker came or went,
 * another won several plans) has its jobs wait for the rests their strips reach, asked for at
 * once (rest_ask) */
static tile_rect_t rest_rect(const coord_t *c, int idx) {
    return blend_rest_rect(&c->plan, idx, c->next_grid.n ? &c->next_grid : NULL, c->cfg.W, c->cfg.H,
                           c->kf_zoom > 0 ? c->kf_zoom : 1.0, c->kf_angle, c->kf_interp, c->cfg.seam_jitter);
}

static int send_job(coord_t *c, worker_t *w, int idx) {
    tile_t *t = &c->plan.tiles[idx];
    Dreamfarm__Envelope env;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_JOB);
    Dreamfarm__Job job = DREAMFARM__JOB__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT, core = DREAMFARM__RECT__INIT, dwin = DREAMFARM__RECT__INIT;
    Dreamfarm__Rect held = DREAMFARM__RECT__INIT, jrest = DREAMFARM__RECT__INIT;
    tile_rect_t rest = {0, 0, 0, 0};
    int window = 0, fixed = 0;
    tile.x = t->r.x; tile.y = t->r.y; tile.w = t->r.w; tile.h = t->r.h;
    core.x = t->core.x - t->r.x; core.y = t->core.y - t->r.y; core.w = t->core.w; core.h = t->core.h;
    Dreamfarm__Subject subj[DREAM_MAX_SUBJECTS], *sp[DREAM_MAX_SUBJECTS];
    Dreamfarm__Rect srect[DREAM_MAX_SUBJECTS];
    int ns = 0, layout = layout_for(c);
    /* one subject A with the seed layout is the 2015 reference's [A, A]: A on the lower half
     * and A on the upper half, each its own mean (as dream_params_subjects in the engine) */
    int nsub = c->nsubj, scls[DREAM_MAX_SUBJECTS];
    memcpy(scls, c->cls, sizeof scls);
    if (layout == DREAM_LAYOUT_SEED && nsub == 1) { scls[1] = scls[0]; nsub = 2; }
    for (int s = 0; s < nsub; s++) {
        tile_rect_t g = subject_region(layout, s, nsub, c->cfg.W, c->cfg.H);
        int x0 = g.x > t->r.x ? g.x : t->r.x, y0 = g.y > t->r.y ? g.y : t->r.y;
        int x1 = g.x + g.w < t->r.x + t->r.w ? g.x + g.w : t->r.x + t->r.w;
        int y1 = g.y + g.h < t->r.y + t->r.h ? g.y + g.h : t->r.y + t->r.h;
        if (x1 - x0 < 16 || y1 - y0 < 16) continue;  /* subject absent from this tile */
        dreamfarm__subject__init(&subj[ns]);
        dreamfarm__rect__init(&srect[ns]);
        srect[ns].x = x0 - t->r.x; srect[ns].y = y0 - t->r.y; srect[ns].w = x1 - x0; srect[ns].h = y1 - y0;
        subj[ns].class_id = scls[s];
        subj[ns].rect = &srect[ns];
        sp[ns] = &subj[ns];
        ns++;
    }
    if (ns == 0 && nsub > 0) {
        /* no subject region reaches this tile (e.g. 2 subjects in quadrants): the engine needs one,
         * so the tile dreams of the subject whose region is nearest, over the whole tile */
        double best = 1e300;
        int bs = 0;
        for (int s = 0; s < nsub; s++) {
            tile_rect_t g = subject_region(layout, s, nsub, c->cfg.W, c->cfg.H);
            double dx = (g.x + g.w / 2.0) - (t->r.x + t->r.w / 2.0), dy = (g.y + g.h / 2.0) - (t->r.y + t->r.h / 2.0);
            if (dx * dx + dy * dy < best) { best = dx * dx + dy * dy; bs = s; }
        }
        dreamfarm__subject__init(&subj[0]);
        subj[0].class_id = scls[bs];
        sp[0] = &subj[0];
        ns = 1;
    }
    job.keyframe_id = c->kf_id;
    job.job_id = ++c->next_job_id;
    job.tile = &tile;
    job.core = &core;
    job.n_subjects = (size_t)ns;
    job.subjects = sp;
    job.steps = c->cfg.steps;
    job.has_lr = 1; job.lr = (float)c->cfg.lr;
    job.has_mean_weight = 1; job.mean_weight = (float)c->cfg.mean_weight;
    job.has_prior_strength = 1; job.prior_strength = (float)c->cfg.prior_strength;
    job.has_jitter = 1; job.jitter = c->cfg.jitter;
    dream_optim_t optim = DREAM_OPTIM_SEED;
    dream_optim_parse(c->cfg.optimizer, &optim);        /* checked in coord_cfg_finish */
    job.has_optimizer = 1;
    job.optimizer = optim == DREAM_OPTIM_ADAM ? DREAMFARM__OPTIMIZER__OPTIM_ADAM : DREAMFARM__OPTIMIZER__OPTIM_SEED;
    job.has_seed = 1; job.seed = c->kf_id * 1000003u + (uint64_t)idx;
    /* the deadline from its own measurement (a probe's relaxed estimate would be too short) */
    double est = (double)t->r.w * t->r.h / 1e6 * c->cfg.steps * (w->measured ? w->ms_mpix : sched_ms(c, w));
    double dl = est * c->cfg.deadline_factor + c->cfg.deadline_min_ms;
    job.deadline_ms = (uint32_t)dl;
    job.has_canvas_w = 1; job.canvas_w = c->cfg.W;
    job.has_canvas_h = 1; job.canvas_h = c->cfg.H;
    env.body_case = DREAMFARM__ENVELOPE__BODY_JOB;
    env.job = &job;
    size_t len = (size_t)t->r.w * t->r.h * 3;
    const void *px = c->tile_px[idx];      /* warped in kf_start, kept for requeues */
    int resident = w->resident && whole_canvas(c, idx) && !c->cfg.canvas8;
    if (resident && w->resident_kf && w->resident_kf == c->canvas_kf) {
        /* the worker holds this canvas: the warp parameters only */
        job.has_from_resident = 1; job.from_resident = 1;
        job_warp(c, &job);
        job.has_resident_keyframe_id = 1; job.resident_keyframe_id = c->canvas_kf;
        px = NULL;
        len = 0;
        c->resident_jobs++;
    } else if (c->kf_tres && w->tile_res && !resident && window_rect(c, idx) == 0) {
        /* tile-resident: the window less the part the worker keeps; an 8.8 result back */
        tile_rect_t hd = held_part(c, w, idx);
        long n = cut_strips(c, idx, &hd);
        if (n == -2) {      /* the strips reach a rest that has not come yet: this job waits */
            c->rest_waits++;
            c->rest_wanted = 1;     /* asked for at once (rest_ask) */
            return 1;
        }
        if (n < 0) return -1;
        dwin.x = c->win_rect[idx][0]; dwin.y = c->win_rect[idx][1];
        dwin.w = c->win_rect[idx][2]; dwin.h = c->win_rect[idx][3];
        job.warp_source = &dwin;
        job_warp(c, &job);
        job.has_result_fixed = 1; job.result_fixed = 1;
        job.has_result_u8 = c->cfg.tile_result8; job.result_u8 = c->cfg.tile_result8;
        rest = rest_rect(c, idx);
        if (w->result_rest && rest.w > 0) {
            jrest.x = rest.x; jrest.y = rest.y; jrest.w = rest.w; jrest.h = rest.h;
            job.rest = &jrest;
        } else {
            rest = (tile_rect_t){0, 0, 0, 0};
        }
        if (hd.w > 0) {
            held.x = hd.x; held.y = hd.y; held.w = hd.w; held.h = hd.h;
            job.held = &held;
            job.has_resident_keyframe_id = 1; job.resident_keyframe_id = w->tk_kf;
        }
        px = c->job_px[idx];
        len = (size_t)n;
        window = fixed = 1;
        c->tres_jobs++;
        c->tres_window_px += (uint64_t)dwin.w * dwin.h;
        c->tres_held_px += (uint64_t)hd.w * hd.h;
    } else if (c->kf_wwarp && w->tile_warp && !resident && !c->kf_tres && cut_window(c, idx) == 0) {
        /* the worker warps its tile itself from this window of the canvas (8.8 fixed point) */
        dwin.x = c->win_rect[idx][0]; dwin.y = c->win_rect[idx][1];
        dwin.w = c->win_rect[idx][2]; dwin.h = c->win_rect[idx][3];
        job.warp_source = &dwin;
        job_warp(c, &job);
        px = c->win_px[idx];
        len = (size_t)dwin.w * dwin.h * 3 * 2;
        window = 1;
        c->window_jobs++;
    } else if (!c->base_ready) {
        return 1;       /* the tiles are not cut yet (a deferred warp): next step */
    } else if (resident) {
        /* seed the worker's canvas: the warped canvas as float (4 x the bytes, once) */
        job.has_float_pixels = 1; job.float_pixels = 1;
        px = c->base->px;
        len *= sizeof(float);
        c->resident_seeds++;
    }
    long n = send_to(c, w, &env, px, len);
    if (n < 0) {
        worker_remove(c, w, "unreachable");
        return -1;
    }
    double now = dream_now_ms();
    w->job_id = job.job_id;
    w->job_kf = c->kf_id;
    /* back after sitting out on a relaxed estimate: a probe */
    w->probe_est = sched_ms(c, w);
    w->probing = w->measured && w->idle_kf > 0 && w->probe_est < w->ms_mpix;
    w->idle_kf = 0;
    w->last_job_kf = c->kf_id;
    w->job_resident = resident;
    w->job_window = window;
    w->job_fixed = fixed;
    w->job_u8 = job.has_result_u8 && job.result_u8;
    w->job_rest = rest;
    w->job_held = job.held != NULL || (job.has_from_resident && job.from_resident);
    w->job_sent = now;
    w->job_deadline = now + dl;
    c->jobs[idx].state = JOB_RUNNING;
    c->jobs[idx].job_id = job.job_id;
    c->jobs[idx].worker = (int)(w - c->w);
    c->jobs[idx].attempts++;
    c->st.jobs_sent++;
    return 0;
}

/* --tile-warp resident: the free tile-resident worker that keeps the most of tile idx's window
 * (the one that computed that part last time), the fastest among equals, or NULL */
static worker_t *best_tres_worker(coord_t *c, int idx, uint64_t px) {
    worker_t *bw = NULL;
    uint64_t bheld = 0;
    for (int k = 0; k < c->nslots; k++) {
        worker_t *w = &c->w[k];
        if (!worker_free(w) || !w->tile_res || w->max_px < px) continue;
        tile_rect_t hd = held_part(c, w, idx);
        uint64_t h = (uint64_t)hd.w * hd.h;
        if (!bw || h > bheld || (h == bheld && sched_ms(c, w) < sched_ms(c, bw))) {
            bw = w;
            bheld = h;
        }
    }
    return bw;
}

static void dispatch_jobs(coord_t *c) {
    uint64_t later = 0;     /* tiles whose job must wait this round (a rest their strips need) */
    for (;;) {
        /* largest pending tile first, to the fastest idle worker that holds it */
        int best = -1;
        uint64_t bpx = 0;
        for (int i = 0; i < c->plan.n; i++) {
            uint64_t px = (uint64_t)c->plan.tiles[i].r.w * c->plan.tiles[i].r.h;
            if (c->jobs[i].state == JOB_PENDING && px > bpx && !(later >> i & 1)) {
                /* skip tiles nobody idle can hold */
                int ok = 0;
                for (int k = 0; k < c->nslots && !ok; k++)
                    ok = worker_free(&c->w[k]) && c->w[k].max_px >= px && (!c->kf_tres || c->w[k].tile_res);
                if (ok) { best = i; bpx = px; }
            }
        }
        if (best < 0) return;
        worker_t *bw = c->kf_tres ? best_tres_worker(c, best, bpx) : best_free_worker(c, bpx);
        if (!bw) return;
        int rc = send_job(c, bw, best);
        if (rc == 1) {      /* not yet (a rest, or the tiles are not cut): the others go on */
            later |= 1ull << best;
            continue;
        }
        if (rc != 0 && bw->used) return;   /* no memory: try again next step */
    }
}

static void dispatch(coord_t *c) {
    if (!c->kf_active) return;
    uint64_t sent0 = c->st.jobs_sent;
    dispatch_jobs(c);
    if (c->kf_t_sent == 0 && c->st.jobs_sent > sent0) {    /* the keyframe's first hand-out is done */
        c->kf_t_sent = dream_now_ms();
        c->tm_send += c->kf_t_sent - c->kf_t_prepped;
    }
}

static void publish(coord_t *c);
static void rest_ask(coord_t *c, int all);
static int rest_ask_one(coord_t *c, rest_t *r);

/* The coordinator's work that need not delay the workers: runs after dispatch(), so it overlaps
 * with their compute. It waits a moment after the hand-out (a fifth of the keyframe's estimate,
 * at most 5 ms), so that on a machine the coordinator shares with its workers (make run, one box)
 * their receiving and starting the jobs goes first: a resident worker's start waited ~4 ms for
 * the coordinator's two-core warp on this 2-core machine. A result, or anything else, that needs
 * a part of it earlier does that part itself (ensure_base, window_hash, late_flush, kf_finish). */
static void kf_after_dispatch(coord_t *c) {
    double t0 = dream_now_ms();
    if (c->kf_active && c->kf_t_sent > 0) {
        double wait = 0.2 * c->plan.est_ms;
        double due = c->kf_t_sent + (wait < 5.0 ? wait : 5.0);
        if (t0 < due) {
            c->after_due = due;
            return;
        }
    }
    c->after_due = 0;
    if (c->rest_pending) rest_ask(c, 1);    /* the last keyframe's rests, now that the jobs are in */
    if (!(c->kf_active && c->kf_id == c->late_kf))
        late_flush(c, NULL, NULL);    /* a finished keyframe's alone parts, now that the next jobs are out */
    if (c->kf_active && c->kf_tres) {
        /* tile-resident jobs out: the hashes their inputs must have, while they compute */
        uint64_t hv;
        for (int i = 0; i < c->plan.n; i++)
            if (c->jobs[i].state == JOB_RUNNING) window_hash(c, i, &hv);
    } else if (c->kf_active && !c->base_ready) {
        /* a resident job or windows are out: the coordinator's own warp (base for the delta, the
         * fill and requeues) runs while the workers compute */
        if (ensure_base(c) != 0) c->base_ready = 1;  /* logged; the keyframe keeps the old pixels */
        /* the jobs out are resident or windows: their inputs' hashes, before their results come */
        for (int i = 0; i < c->plan.n; i++)
            if (c->jobs[i].state == JOB_RUNNING) tile_hash(c, i);
    }
    canvas_blend_pending(c);     /* no next keyframe started (paused, no worker): now */
    if (c->need_reset) {
        if (c->cfg.canvas8) blend_reset(c->blend);  /* the float path clears what it used in kf_finish */
        c->need_reset = 0;
    }
    publish(c);
    double dt = dream_now_ms() - t0;
    c->tm_overlapped += dt;
    c->coord_ms_acc += dt;
}

/* the finished keyframe to its sinks and the frame clock (once; kf_after_dispatch, or kf_finish
 * when the next keyframe finished first). A tile-resident keyframe's float canvas is made only
 * when something reads it (its keyframe sinks, the console, a keyframe of another kind); the
 * display's copy is made from the 8.8 canvas directly */
static void publish(coord_t *c) {
    if (c->pub_pending && rest_of(c, c->pub_id)) return;     /* its rests first */
    if (c->pub_pending) {
        late_flush(c, NULL, NULL);      /* its alone parts (no-op when done) */
        canvas_blend_pending(c);        /* a whole-canvas result blended after the hand-out */
        c->pub_pending = 0;
        dream_err_t err = {{0}};
        if (c->kf_sinks.n) {
            canvas_sync_float(c);
            dream_sinks_push(&c->kf_sinks, c->canvas, c->pub_id);
        }
        int held = 0;
        if (c->fc && c->motion.cfg.wallclock) frameclock_position(c->fc, NULL, &held);
        if (c->fc && held >= FRAMECLOCK_MAX_KF - 2) {
            c->kf_not_shown++;      /* wallclock: the display is behind the compute */
        } else if (c->fc) {
            int rc = c->float_stale ? frameclock_push_88(c->fc, c->canvas88, c->cfg.W, c->cfg.H, c->pub_pos, &err)
                                    : frameclock_push_copy(c->fc, c->canvas, c->pub_pos, &err);
            if (rc != 0)
                dlog_warn(MOD, "keyframe %llu not shown: %s", (unsigned long long)c->pub_id, err.msg);
        }
    }
}

static void kf_finish(coord_t *c) {
    /* the previous keyframe's rests (its own come after this keyframe's jobs are out) */
    if (c->rest_pending) rest_fill_upto(c, c->kf_id - 1, "did not come before the next keyframe finished", 1);
    publish(c);     /* the previous keyframe, when kf_after_dispatch's deferred work has not run */
    double now = dream_now_ms();
    double t_fin0 = now;
    if (c->kf_t_sent > 0) {
        double last = c->kf_t_last_result > 0 ? c->kf_t_last_result : now;
        c->tm_work += last - c->kf_t_sent;
        c->tm_finish += now - last;     /* loop latency to notice, then the finishing below */
        c->tm_compute += c->kf_compute_max;
    }
    int missing = c->plan.n - c->njobs_done;
    if (missing > 0) {
        c->st.tiles_missed += (uint64_t)missing;
        dream_state_counter_add(c->state, "tiles_missed", missing);
        dlog_warn(MOD, "keyframe %llu: %d of %d tiles missing at the deadline, filled from the warped previous keyframe",
                  (unsigned long long)c->kf_id, missing, c->plan.n);
    }
    dream_err_t err = {{0}};
    if (c->pend_blend) {
        c->canvas_kf = c->kf_id;    /* once canvas_blend_pending has run */
    } else if (!c->kf_direct) {
        /* float canvas: base + blended (result - sent). The tiles went out as round(base); the
         * blend is linear with the same weights, so blending the change (result - sent) onto
         * base cancels that rounding: the warp chain stays float. One accumulator, one pass */
        if (c->kf_tres) {
            /* tile-resident: the overlaps (no base unless a tile is missing: then it is warped now) */
            uint8_t done[TILE_MAX];
            int all = 1;
            for (int i = 0; i < c->plan.n; i++) all &= (done[i] = c->jobs[i].state == JOB_DONE);
            if (!all && ensure_base(c) != 0) c->base_ready = 1;     /* logged: the fill is the old base */
            /* the float canvas is not made here: float_stale (set again below) says it is to be
             * made from canvas88 whenever something reads it; canvas88 stays the exact canvas
             * until the swap (the finish writes next88 only) */
            if (blend_finish_fixed_plan(c->blend, &c->plan, done, all ? NULL : c->base, NULL, c->next88, &err) != 0) {
                res_release(c);     /* no swap: the deferred copies belong to no canvas */
                dlog_error(MOD, "blend: %s", err.msg);
            } else {
                for (int i = 0; i < TILE_MAX; i++)  /* in the canvas, except the deferred copies */
                    if (!c->late_px[i]) kept_drop(&c->res[i]);
                swap_in_next(c);
                c->canvas_kf = c->kf_id;
                c->canvas_exact = 1;
                c->float_stale = 1;     /* made from canvas88 when something reads it */
            }
        } else if (c->cfg.canvas8) {
            if (blend_finish(c->blend, c->base, c->canvas, &err) != 0) dlog_error(MOD, "blend: %s", err.msg);
        } else {
            uint8_t done[TILE_MAX];
            for (int i = 0; i < c->plan.n; i++) done[i] = c->jobs[i].state == JOB_DONE;
            if (blend_finish_delta_plan(c->blend, &c->plan, done, c->base, c->next, &err) != 0) {
                dlog_error(MOD, "blend: %s", err.msg);
            } else {
                swap_in_next(c);
                c->canvas_kf = c->kf_id;
            }
        }
    }
    c->kf_active = 0;
    c->st.keyframes++;
    metrics_observe_keyframe_ms(now - c->kf_start);
    uint64_t bytes = c->st.bytes_in + c->st.bytes_out - c->bytes_at_kf_start;
    c->kf_bytes_total += bytes;
    double interval = c->last_kf_end > 0 ? now - c->last_kf_end : now - c->kf_start;
    c->last_kf_end = now;
    c->st.kf_interval_ms = c->st.kf_interval_ms > 0 ? 0.8 * c->st.kf_interval_ms + 0.2 * interval : interval;
    dlog_debug(MOD, "keyframe %llu done in %.0f ms (%d tiles, %llu bytes)", (unsigned long long)c->kf_id,
               now - c->kf_start, c->plan.n, (unsigned long long)bytes);
    /* handed to the sinks and the frame clock by kf_after_dispatch, once the next keyframe's
     * jobs are out (the canvas stays as it is until the next kf_finish) */
    c->pub_pending = 1;
    c->pub_id = c->kf_id;
    c->pub_zoom = c->kf_zoom;
    c->pub_angle = c->kf_angle;
    c->pub_interval_s = c->st.kf_interval_ms / 1000.0;
    c->pub_pos = c->canvas_pos = c->kf_pos;
    motion_observe(&c->motion, (now - c->kf_start) / 1000.0);
    for (int i = 0; i < c->nslots; i++) {
        worker_t *w = &c->w[i];
        if (!w->used) continue;
        if (w->job_id && w->job_kf == c->kf_id) w->job_kf = 0;    /* its job is now stale */
        /* a proven worker this keyframe left out: its measurement ages (sched_ms) */
        if (w->measured && !w->quarantined && !w->draining && w->last_job_kf != c->kf_id && w->idle_kf < 1000000)
            w->idle_kf++;
    }
    c->last_kf_end = dream_now_ms();
    c->tm_finish += c->last_kf_end - t_fin0;
    c->coord_ms_acc += c->last_kf_end - t_fin0;
    c->st.coord_ms_per_kf = c->coord_ms_acc / (double)c->st.keyframes;
}

/* ---------- timers ---------- */

static void timers(coord_t *c) {
    for (int i = 0; i < REST_MAX && c->rest_pending; i++) {
        rest_t *r = &c->rests[i];
        if (!r->used || dream_now_ms() <= r->deadline) continue;
        /* never asked for (its keyframe stalled: a dead worker's tile waits for the heartbeat's
         * timeout): asked now, with a fresh deadline; else it did not come */
        if (!r->asked && rest_ask_one(c, r) == 0) r->deadline = dream_now_ms() + 250 + 2 * c->plan.est_ms;
        else rest_fill(c, i, "did not come in time", 1);
    }
    double now = dream_now_ms();
    double dead_after = (double)c->cfg.heartbeat_ms * c->cfg.liveness;
    for (int i = 0; i < c->nslots; i++) {
        worker_t *w = &c->w[i];
        if (!w->used) continue;
        if (now - w->last_seen > dead_after) {
            worker_remove(c, w, "heartbeat lost");
            continue;
        }
        if (!w->jobs_done && !w->job_id && now - w->joined_at > c->cfg.unproven_timeout_s * 1000) {
            /* an idle connection that never delivered a tile gives its slot back (it may
             * reconnect: the worker's backoff) */
            c->st.dropped_idle++;
            send_refusal(c, w->id, w->idlen, DREAMFARM__REFUSAL_CODE__REFUSE_IDLE, "no tile delivered in time: slot freed, reconnect later");
            worker_remove(c, w, "no tile delivered within --unproven-timeout-s");
            continue;
        }
        if (w->job_id && now > w->job_deadline && w->job_kf == c->kf_id && c->kf_active) {
            requeue_worker_job(c, w, "deadline");
            w->job_kf = 0;  /* its result will be discarded */
            worker_fail(c, w, "missed a job deadline");
        }
        /* a worker stuck far past its deadline is taken as idle again (its result is stale) */
        if (w->job_id && now > w->job_deadline + (w->job_deadline - w->job_sent)) w->job_id = 0;
    }
    if (now - c->last_hb >= c->cfg.heartbeat_ms) {
        c->last_hb = now;
        for (int i = 0; i < c->nslots; i++) {
            worker_t *w = &c->w[i];
            if (w->used && send_heartbeat(c, w, 0) < 0 && zmq_errno() == EHOSTUNREACH) worker_remove(c, w, "unreachable");
        }
    }
    if (c->kf_active && (c->njobs_done == c->plan.n || now > c->kf_deadline)) kf_finish(c);
}

/* ---------- admin ---------- */

static size_t appendf(char *buf, size_t n, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t appendf(char *buf, size_t n, size_t len, const char *fmt, ...) {
    if (len >= n) return len;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
    if (w < 0) return len;
    len += (size_t)w;
    return len < n ? len : n - 1;
}

void coord_get_stats(coord_t *c, coord_stats_t *st) {
    *st = c->st;
    st->workers = st->busy = st->quarantined = st->unproven = 0;
    for (int i = 0; i < c->nslots; i++) {
        if (!c->w[i].used) continue;
        st->workers++;
        if (c->w[i].job_id) st->busy++;
        if (c->w[i].quarantined) st->quarantined++;
        if (!c->w[i].jobs_done) st->unproven++;
    }
    st->uptime_s = (dream_now_ms() - c->t0) / 1000.0;
}

static int load_classes(coord_t *c, dream_err_t *err) {
    if (c->classes) return 0;
    if (c->classes_tried) return dream_err_set(err, "class list unavailable");
    c->classes_tried = 1;
    c->classes = dream_classes_load_default(err);
    return c->classes ? 0 : -1;
}

int coord_set_subjects(coord_t *c, const char *text, const char *source, dream_err_t *err) {
    int ids[DREAM_MAX_SUBJECTS], n;
    if (strlen(text) >= sizeof c->subj_text) return dream_err_set(err, "subject text too long");
    if (load_classes(c, err) != 0) return dream_err_prefix(err, "subjects");
    n = dream_classes_parse(c->classes, text, ids, DREAM_MAX_SUBJECTS, err);
    if (n < 0) return -1;
    c->nsubj = n;
    memcpy(c->cls, ids, sizeof(int) * (size_t)n);
    snprintf(c->subj_text, sizeof c->subj_text, "%s", text);
    dream_state_request_add(c->state, source, text, ids, n, NULL);
    dlog_info(MOD, "subjects now \"%s\" (%d classes) from %s", text, n, source);
    return 0;
}

static void workers_text(coord_t *c, char *r, size_t n, size_t *len) {
    double now = dream_now_ms();
    for (int i = 0; i < c->nslots; i++) {
        worker_t *w = &c->w[i];
        if (!w->used) continue;
        *len = appendf(r, n, *len,
                       "worker:%s backend=%s device=%s speed_ms_per_mpix_step=%.2f max_tile_px=%llu state=%s "
                       "failures=%d jobs_done=%llu last_seen_ms=%.0f measured=%d key=%s\n",
                       w->name, w->backend, w->device[0] ? w->device : "-", w->ms_mpix,
                       (unsigned long long)w->max_px, w->quarantined ? "quarantined" : w->draining ? "draining" : w->job_id ? "busy" : "idle",
                       w->failures, (unsigned long long)w->jobs_done, now - w->last_seen, w->measured,
                       w->key[0] ? w->key : "-");
    }
}

/* INFO-style "# Server" / "# Workers" / "# Keyframes" / "# Timing" text (admin `status`). */
size_t coord_status_text(coord_t *c, char *r, size_t n) {
    size_t len = 0;
    r[0] = 0;
    {
        coord_stats_t st;
        coord_get_stats(c, &st);
        frameclock_stats_t fs = {0};
        if (c->fc) frameclock_get_stats(c->fc, &fs);
        len = appendf(r, n, len, "# Server\nversion:%s\nprotocol:%d\nuptime_s:%.1f\ncanvas:%dx%d\nfps:%d\n"
                      "subjects:%s\nlayout:%s\nmodel_hash:%s\nmodel_source:%s\nuntrained:%d\npaused:%d\n",
                      COORD_VERSION, DREAM_WIRE_VERSION, st.uptime_s, c->cfg.W, c->cfg.H, c->cfg.fps,
                      c->subj_text[0] ? c->subj_text : "(none)",
                      dream_layout_name((dream_layout_t)layout_for(c)), c->pinned_hash[0] ? c->pinned_hash : "-",
                      c->model_src, c->untrained, c->paused);
        len = appendf(r, n, len, "# Workers\nconnected:%d\nbusy:%d\nquarantined:%d\nquarantine_list:%d\n"
                      "failures:%llu\nrefused:%llu\nmalformed_dropped:%llu\n",
                      st.workers, st.busy, st.quarantined, dream_state_quarantine_count(c->state),
                      (unsigned long long)st.failures, (unsigned long long)st.refused,
                      (unsigned long long)st.malformed);
        len = appendf(r, n, len, "unproven:%d\nrefused_rate:%llu\nrefused_unproven:%llu\ndropped_idle:%llu\n"
                      "implausible_results:%llu\nlog_suppressed:%llu\n", st.unproven,
                      (unsigned long long)st.refused_rate, (unsigned long long)st.refused_unproven,
                      (unsigned long long)st.dropped_idle, (unsigned long long)st.implausible,
                      (unsigned long long)st.log_suppressed);
        len = appendf(r, n, len, "# Keyframes\nkeyframes:%llu\nkeyframe_interval_ms:%.1f\nin_flight:%d\n"
                      "tiles_last:%d\njobs_sent:%llu\nresults_ok:%llu\nrequeued:%llu\ntiles_missed:%llu\n"
                      "late_discarded:%llu\nbytes_in:%llu\nbytes_out:%llu\nbytes_per_keyframe:%.0f\n"
                      "frames:%llu\nframe_max_gap_ms:%.1f\nframes_skipped:%llu\ncoord_ms_per_keyframe:%.1f\n",
                      (unsigned long long)st.keyframes, st.kf_interval_ms, c->kf_active, c->plan.n,
                      (unsigned long long)st.jobs_sent, (unsigned long long)st.results_ok,
                      (unsigned long long)st.requeued, (unsigned long long)st.tiles_missed,
                      (unsigned long long)st.late_discarded, (unsigned long long)st.bytes_in,
                      (unsigned long long)st.bytes_out,
                      st.keyframes ? (double)c->kf_bytes_total / st.keyframes : 0.0,
                      (unsigned long long)fs.frames, fs.max_gap_ms, (unsigned long long)fs.skipped_ticks,
                      st.coord_ms_per_kf);
        /* totals since start (ms); a benchmark takes differences over a window / keyframes */
        len = appendf(r, n, len, "# Timing\nt_prep_ms:%.1f\nt_send_ms:%.1f\nt_work_ms:%.1f\nt_compute_ms:%.1f\n"
                      "t_blend_add_ms:%.1f\nt_finish_ms:%.1f\nt_gap_ms:%.1f\nt_transfer_ms:%.1f\nresults_timed:%llu\nt_overlapped_ms:%.1f\n"
                      "tile_mpx:%.3f\ncanvas_mpx:%.3f\n",
                      c->tm_prep, c->tm_send, c->tm_work, c->tm_compute, c->tm_blend_add, c->tm_finish, c->tm_gap,
                      c->tm_transfer, (unsigned long long)c->tm_results, c->tm_overlapped, c->tile_mpx_total,
                      (double)c->cfg.W * c->cfg.H / 1e6);
        len = appendf(r, n, len, "window_jobs:%llu\nwindow_mismatch:%llu\n", (unsigned long long)c->window_jobs,
                      (unsigned long long)c->window_mismatch);
        len = appendf(r, n, len, "result_rest_parts:%llu\nresult_rest_waits:%llu\nresult_rest_filled:%llu\nresult_rest_asks:%llu\n",
                      (unsigned long long)c->rest_parts, (unsigned long long)c->rest_waits, (unsigned long long)c->rest_filled,
                      (unsigned long long)c->rest_asks);
        len = appendf(r, n, len, "tile_resident_jobs:%llu\ntile_resident_mismatch:%llu\ntile_resident_held_pct:%.1f\n",
                      (unsigned long long)c->tres_jobs, (unsigned long long)c->tres_mismatch,
                      c->tres_window_px ? 100.0 * (double)c->tres_held_px / (double)c->tres_window_px : 0.0);
        len = appendf(r, n, len, "resident_jobs:%llu\nresident_seeds:%llu\nresident_mismatch:%llu\nkf_not_shown:%llu\nkf_reused:%llu\n",
                      (unsigned long long)c->resident_jobs, (unsigned long long)c->resident_seeds,
                      (unsigned long long)c->resident_mismatch,
                      (unsigned long long)c->kf_not_shown, (unsigned long long)fs.reused_kf);
    }
    return len;
}

/* One line per worker, then the quarantine list (admin `workers`). */
size_t coord_workers_text(coord_t *c, char *r, size_t n) {
    size_t len = 0;
    r[0] = 0;
    {
        len = appendf(r, n, len, "# Workers\n");
        workers_text(c, r, n, &len);
        char *q = malloc(64 * 1024);
        int nq = q ? dream_state_quarantine_list(c->state, q, 64 * 1024) : 0;
        len = appendf(r, n, len, "# Quarantine\ncount:%d\n%s", nq, q ? q : "");
        free(q);
    }
    return len;
}

/* Admin worker control by name: op "release" (from quarantine), "drain" (no new jobs),
 * "kick" (bye + forget; its job is requeued). Reply "OK ..."/"ERR ..." in r; 0 or -1. */
int coord_worker_ctl(coord_t *c, const char *op, const char *arg, char *r, size_t n) {
    if (!strcmp(op, "drain") || !strcmp(op, "kick")) {
        for (int i = 0; i < c->nslots; i++) {
            worker_t *w = &c->w[i];
            if (!w->used || strcmp(w->name, arg)) continue;
            if (op[0] == 'd') {
                w->draining = 1;
                snprintf(r, n, "OK %s drains: it finishes its job and gets no new one\n", arg);
            } else {
                long b = wire_send_bye(c->router, w->id, w->idlen, "kicked by the operator");
                if (b > 0) c->st.bytes_out += (uint64_t)b;
                worker_remove(c, w, "kicked by admin");
                snprintf(r, n, "OK kicked %s\n", arg);
            }
            return 0;
        }
        snprintf(r, n, "ERR no connected worker named '%s'\n", arg);
        return -1;
    }
    {
        int removed = dream_state_quarantine_remove(c->state, arg, NULL);
        int live = 0;
        for (int i = 0; i < c->nslots; i++)
            if (c->w[i].used && (!strcmp(c->w[i].name, arg) || !strcmp(c->w[i].key, arg))) {
                if (c->w[i].key[0]) removed += dream_state_quarantine_remove(c->state, c->w[i].key, NULL) > 0;
                live += c->w[i].quarantined;
                c->w[i].quarantined = 0;
                c->w[i].failures = 0;
            }
        if (removed > 0 || live > 0) {
            dlog_info(MOD, "worker %s released from quarantine by admin", arg);
            dream_state_counter_add(c->state, "released", 1);
            snprintf(r, n, "OK released %s\n", arg);
            return 0;
        } else snprintf(r, n, "ERR %s is not quarantined\n", arg);
        return -1;
    }
}

void coord_admin(coord_t *c, const char *cmd, char *r, size_t n) { admin_run(c, cmd, 0, r, n); }

coord_cfg_t *coord_config(coord_t *c) { return &c->cfg; }
struct dream_state *coord_state(coord_t *c) { return c->state; }
struct stream *coord_stream(coord_t *c) { return c->stream; }
const char *coord_subjects_text(coord_t *c) { return c->subj_text; }
void coord_set_paused(coord_t *c, int on) {
    c->paused = on;
    frameclock_set_paused(c->fc, on);
}
int coord_paused(coord_t *c) { return c->paused; }
int coord_apply_layout(coord_t *c, const char *name, dream_err_t *err) {
    dream_layout_t l;
    if (dream_layout_parse(strcasecmp(name, "auto") ? name : "single", &l) != 0)
        return dream_err_set(err, "option 'layout': unknown layout '%s' (auto|single|seed|bands|quadrants)", name);
    c->layout = l;
    return 0;
}
int coord_worker_info(coord_t *c, int i, coord_worker_info_t *out) {
    if (i < 0 || i >= c->nslots) return -1;
    worker_t *w = &c->w[i];
    if (!w->used) return 0;
    snprintf(out->name, sizeof out->name, "%s", w->name);
    snprintf(out->backend, sizeof out->backend, "%s", w->backend);
    out->state = w->quarantined ? "quarantined" : w->draining ? "draining" : w->job_id ? "busy" : "idle";
    out->failures = w->failures;
    out->jobs_done = (unsigned long long)w->jobs_done;
    out->ms_mpix = w->ms_mpix;
    return 1;
}
void coord_frame_stats(coord_t *c, frameclock_stats_t *out) {
    memset(out, 0, sizeof *out);
    if (c->fc) frameclock_get_stats(c->fc, out);
}
int coord_worker_names(coord_t *c, char *buf, size_t n) {
    size_t len = 0;
    int k = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < c->nslots; i++)
        if (c->w[i].used) { len = appendf(buf, n, len, "%s\n", c->w[i].name); k++; }
    return k;
}

static void handle_admin(coord_t *c) { admin_serve(c, c->admin); }

/* ---------- lifecycle ---------- */

const dream_image_t *coord_canvas(coord_t *c) {
    canvas_blend_pending(c);
    canvas_sync_float(c);
    return c->canvas;
}
void coord_request_stop(coord_t *c) { c->stopping = 1; }
int coord_canvas_settled(const coord_t *c) { return !rest_of(c, c->canvas_kf); }

coord_t *coord_new(const coord_cfg_t *cfg, void *zctx, dream_sinks_t *frames, dream_err_t *err) {
    coord_t *c = calloc(1, sizeof *c);
    if (!c) { dream_err_set(err, "out of memory"); return NULL; }
    c->cfg = *cfg;
    c->zctx = zctx;
    c->t0 = dream_now_ms();
    c->rng = (uint64_t)cfg->seed * 0x9E3779B97F4A7C15ull + 1;
    c->nslots = cfg->max_workers;
    c->hello_tokens = cfg->hellos_per_s > 1 ? cfg->hellos_per_s : 1;
    /* peer-triggered log lines: 2 a second (burst 5) per peer and kind, 50 a second in all */
    c->logrl = dlog_rl_new(1024, 2, 5, 50, 100);
    if (!c->logrl) { dream_err_set(err, "out of memory"); goto fail; }
    c->w = calloc((size_t)c->nslots, sizeof *c->w);
    if (!c->w) { dream_err_set(err, "out of memory"); goto fail; }
    if (dream_layout_parse(strcasecmp(cfg->layout, "auto") ? cfg->layout : "single", &c->layout) != 0) {
        dream_err_set(err, "option 'layout': unknown layout '%s' (auto|single|seed|bands|quadrants)", cfg->layout);
        goto fail;
    }
    if (!c->cfg.model_known && coord_cfg_model(&c->cfg, err) != 0) goto fail;
    snprintf(c->pinned_hash, sizeof c->pinned_hash, "%s", c->cfg.model_pin);
    snprintf(c->model_src, sizeof c->model_src, "%s", c->cfg.model_src);
    c->untrained = c->cfg.model_untrained;
    c->state = dream_state_open(cfg->state, err);
    if (!c->state) goto fail;
    c->canvas = dream_image_new(cfg->W, cfg->H, 3, err);
    c->base = dream_image_new(cfg->W, cfg->H, 3, err);
    c->blend = blend_new(cfg->W, cfg->H, err);
    if (!c->canvas || !c->base || !c->blend) goto fail;
    if (!cfg->canvas8 && !(c->next = dream_image_new(cfg->W, cfg->H, 3, err))) goto fail;
    if (cfg->tile_resident && !cfg->canvas8) {
        c->canvas88 = malloc((size_t)cfg->W * cfg->H * 6);
        c->next88 = malloc((size_t)cfg->W * cfg->H * 6);
        if (!c->canvas88 || !c->next88) {
            dream_err_set(err, "out of memory for the 8.8 canvas (--tile-warp resident)");
            goto fail;
        }
    }
    if (init_canvas(c->canvas, cfg, err) != 0) goto fail;
    admin_restore_canvas(c->state, c->canvas);     /* the dream continues after a restart */
    c->kf_interp = strcmp(cfg->kf_warp, "bilinear") ? DREAM_INTERP_BICUBIC : DREAM_INTERP_BILINEAR;
    motion_cfg_t mc;
    motion_cfg_reference(&mc);
    mc.fps = cfg->fps > 0 ? cfg->fps : 25;
    mc.zoom_per_s = cfg->zoom_per_sec;
    mc.deg_per_s = cfg->rotate_deg_per_sec;
    mc.frames_per_kf = cfg->frames_per_kf;
    mc.wallclock = !strcmp(cfg->motion, "wallclock");
    mc.max_dt = cfg->max_kf_dt;
    motion_init(&c->motion, &mc);
    if (!cfg->subjects[0]) {
        dream_err_set(err, "option 'subjects': at least one subject is needed (e.g. --subjects volcano)");
        goto fail;
    }
    if (coord_set_subjects(c, cfg->subjects, "config", err) != 0) goto fail;
    if (cfg->keyframes_out[0]) {
        dream_sink_t *s = dream_sink_png_new(cfg->keyframes_out, "keyframe_", 1, err);
        if (!s || dream_sinks_add(&c->kf_sinks, s, err) != 0) { dream_sink_destroy(&s); goto fail; }
    }
    c->router = zmq_socket(zctx, ZMQ_ROUTER);
    if (!c->router) { dream_err_set(err, "zmq_socket: %s", zmq_strerror(zmq_errno())); goto fail; }
    int one = 1;
    size_t maxframe = DREAM_WIRE_MAX_PIXEL_BYTES;
    /* results: 8-bit tiles, or 8.8 ones with --tile-warp resident */
    size_t canvas_bytes = (size_t)cfg->W * cfg->H * 3 * (cfg->tile_resident ? 2 : 1);
    if (canvas_bytes < maxframe) maxframe = canvas_bytes + 4096;
    if (wire_socket_setup(c->router, (int64_t)maxframe, err) != 0) goto fail;
    zmq_setsockopt(c->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (cfg->curve_secret_file[0]) {
        c->curve = coord_curve_new(zctx, c->router, cfg->curve_secret_file, cfg->curve_allow_file, err);
        if (!c->curve) goto fail;
    }
    if (zmq_bind(c->router, cfg->worker_bind) != 0) {
        dream_err_set(err, "bind %s: %s", cfg->worker_bind, zmq_strerror(zmq_errno()));
        goto fail;
    }
    c->admin = admin_socket_open(zctx, cfg, err);   /* access rules: admin.h */
    if (!c->admin) goto fail;
    if (cfg->fps > 0) {
        c->fc = frameclock_new(zctx, c->canvas, cfg->SW, cfg->SH, &mc, frames, err);
        if (!c->fc) goto fail;
    }
    dlog_info(MOD, "%s: canvas %dx%d, frames %dx%d, workers on %s, admin on %s, %d fps", COORD_VERSION, cfg->W,
              cfg->H, cfg->SW, cfg->SH, cfg->worker_bind, cfg->admin_bind, cfg->fps);
    return c;
fail:
    coord_destroy(&c);
    return NULL;
}

void coord_destroy(coord_t **pc) {
    if (!pc || !*pc) return;
    coord_t *c = *pc;
    frameclock_destroy(&c->fc);
    if (c->router) zmq_close(c->router);
    coord_curve_destroy(&c->curve);     /* stops and joins its ZAP thread (before zmq_ctx_term) */
    admin_socket_close(c->admin);
    dream_sinks_clear(&c->kf_sinks);
    blend_destroy(&c->blend);
    dream_image_destroy(&c->canvas);
    dream_image_destroy(&c->next);
    pend_release(c);
    res_release(c);
    for (int i = 0; i < REST_MAX; i++) rest_drop(c, i);
    dream_image_destroy(&c->base);
    free(c->w);
    dlog_rl_destroy(&c->logrl);
    for (int i = 0; i < TILE_MAX; i++) free(c->tile_px[i]);
    for (int i = 0; i < TILE_MAX; i++) free(c->win_px[i]);
    for (int i = 0; i < TILE_MAX; i++) free(c->job_px[i]);
    free(c->canvas88);
    free(c->next88);
    dream_classes_destroy(&c->classes);
    dream_state_destroy(&c->state);
    free(c);
    *pc = NULL;
}

void coord_set_stream(coord_t *c, struct stream *s) {
    c->stream = s;
    c->stream_poll_at = c->stream_status_at = 0;
}

static void stream_poll(coord_t *c) {
    double now = dream_now_ms();
    if (now >= c->stream_poll_at) {
        c->stream_poll_at = now + 200;
        int ids[DREAM_MAX_SUBJECTS];
        int n = stream_current_subjects(c->stream, ids, DREAM_MAX_SUBJECTS);
        if (n > DREAM_MAX_SUBJECTS) n = DREAM_MAX_SUBJECTS;
        if (n >= 1 && (n != c->nsubj || memcmp(ids, c->cls, sizeof(int) * (size_t)n) != 0)) {
            char text[256] = "";
            size_t len = 0;
            dream_err_t err = {{0}};
            load_classes(c, &err);
            for (int i = 0; i < n; i++) {
                const char *nm = c->classes ? dream_classes_name(c->classes, ids[i]) : NULL;
                if (nm) len = appendf(text, sizeof text, len, "%s%s", i ? " + " : "", nm);
                else len = appendf(text, sizeof text, len, "%s%d", i ? " + " : "", ids[i]);
            }
            c->nsubj = n;
            memcpy(c->cls, ids, sizeof(int) * (size_t)n);
            snprintf(c->subj_text, sizeof c->subj_text, "%s", text);
            dream_state_request_add(c->state, "viewers", text, ids, n, NULL);
            dlog_info(MOD, "subjects now \"%s\" (from the viewers' queue)", text);
        }
    }
    if (now >= c->stream_status_at) {
        c->stream_status_at = now + 1000;
        coord_stats_t st;
        coord_get_stats(c, &st);
        stream_status_t ss;
        memset(&ss, 0, sizeof ss);
        ss.workers = st.workers - st.quarantined;
        ss.keyframe_rate = st.kf_interval_ms > 0 ? 1000.0 / st.kf_interval_ms : 0;
        ss.fps = c->cfg.fps;
        ss.untrained = c->untrained;
        snprintf(ss.model, sizeof ss.model, "VGG-16 dream, %d steps/keyframe, %d tiles%s%.16s", c->cfg.steps,
                 c->plan.n, c->pinned_hash[0] ? ", model " : "", c->pinned_hash);
        stream_set_status(c->stream, &ss);
    }
}

/* The rests (Job.rest) are asked for (Heartbeat.send_rest_job), once each: a worker holds its
 * rest until asked, or until its next result (which its rest precedes), or its own timer. Not
 * while a keyframe's results or jobs cross the link: an early worker's rest would come in the
 * middle of the others' results, and each rest sent on a job's arrival (the first design) crossed
 * loopback while the later jobs of the same hand-out were still on their way (both on the critical
 * path). So: after the hand-out of the keyframe after the rest's, with the post-hand-out work
 * (kf_after_dispatch: all = 1); at once when something waits for one (rest_wanted: a job's strips,
 * a window hash; even with no job of the hand-out out yet), or when its worker has no job (sat
 * out, no keyframe running: paused, stopping, the display holding the next one back) */
static int rest_ask_one(coord_t *c, rest_t *r) {
    worker_t *w = &c->w[r->slot];
    if (!w->used || send_heartbeat(c, w, r->job) < 0) return -1;   /* (not marked: asked again) */
    r->asked = 1;
    c->rest_asks++;
    return 0;
}

static void rest_ask(coord_t *c, int all) {
    all |= c->rest_wanted;
    c->rest_wanted = 0;
    for (int i = 0; i < REST_MAX && c->rest_pending; i++) {
        rest_t *r = &c->rests[i];
        if (!r->used || r->asked || (c->kf_active && r->kf >= c->kf_id)) continue;   /* (the running keyframe's own) */
        const worker_t *w = &c->w[r->slot];
        if (!w->used || (w->job_id && !all)) continue;
        rest_ask_one(c, r);
    }
}

int coord_step(coord_t *c, int timeout_ms) {
    zmq_pollitem_t items[2] = {{c->router, 0, ZMQ_POLLIN, 0}, {c->admin, 0, ZMQ_POLLIN, 0}};
    if (c->after_due > 0) {     /* kf_after_dispatch's deferred work is due then */
        double left = c->after_due - dream_now_ms();
        int ms = left <= 0 ? 0 : (int)ceil(left);
        if (ms < timeout_ms || timeout_ms < 0) timeout_ms = ms;
    }
    int rc = zmq_poll(items, 2, timeout_ms);
    if (rc < 0) {
        if (zmq_errno() == EINTR) return c->stopping ? 0 : 1;
        return -1;
    }
    if (items[0].revents & ZMQ_POLLIN) handle_worker_msg(c);
    if (items[1].revents & ZMQ_POLLIN) handle_admin(c);
    if (c->stream) stream_poll(c);
    timers(c);
    admin_tick(c);      /* metrics, durable state (server/admin.c) */
    if (!c->kf_active && !c->stopping && !c->paused) {
        if (!(c->cfg.max_keyframes > 0 && c->st.keyframes >= (uint64_t)c->cfg.max_keyframes)) kf_start(c);
    }
    dispatch(c);
    if (c->rest_pending) rest_ask(c, 0);
    kf_after_dispatch(c);
    if (c->cfg.max_keyframes > 0 && c->st.keyframes >= (uint64_t)c->cfg.max_keyframes) c->stopping = 1;
    if (c->cfg.run_seconds > 0 && dream_now_ms() - c->t0 > c->cfg.run_seconds * 1000) c->stopping = 1;
    return c->stopping ? 0 : 1;
}

int coord_run(coord_t *c, volatile sig_atomic_t *stop) {
    int rc = 1;
    while (!(stop && *stop) && (rc = coord_step(c, 20)) > 0) {}
    /* the last keyframe's rests (Job.rest) come a few ms after its finish: then it is published
     * (a stop does not wait for them long) */
    double until = dream_now_ms() + 300;
    while (rc >= 0 && c->rest_pending && dream_now_ms() < until) coord_step(c, 5);
    if (c->rest_pending) rest_fill_upto(c, UINT64_MAX, "did not come before the shutdown", 0);
    if (rc >= 0) publish(c);
    /* say bye to every worker */
    for (int i = 0; i < c->nslots; i++) {
        long b = c->w[i].used ? wire_send_bye(c->router, c->w[i].id, c->w[i].idlen, "coordinator shutting down") : 0;
        if (b > 0) c->st.bytes_out += (uint64_t)b;
    }
    coord_stats_t st;
    coord_get_stats(c, &st);
    frameclock_stats_t fs = {0};
    if (c->fc) frameclock_get_stats(c->fc, &fs);
    dream_state_counter_add(c->state, "keyframes", (int64_t)st.keyframes);
    dlog_info(MOD, "summary: keyframes=%llu elapsed_s=%.2f kf_per_s=%.3f bytes_per_keyframe=%.0f frames=%llu "
              "frame_max_gap_ms=%.1f frames_extrapolated=%llu frames_held=%llu requeued=%llu tiles_missed=%llu "
              "late_discarded=%llu malformed=%llu coord_ms_per_kf=%.1f",
              (unsigned long long)st.keyframes, st.uptime_s, st.uptime_s > 0 ? st.keyframes / st.uptime_s : 0,
              st.keyframes ? (double)c->kf_bytes_total / st.keyframes : 0.0, (unsigned long long)fs.frames,
              fs.max_gap_ms, (unsigned long long)fs.extrapolated, (unsigned long long)fs.held_frames,
              (unsigned long long)st.requeued, (unsigned long long)st.tiles_missed,
              (unsigned long long)st.late_discarded, (unsigned long long)st.malformed, st.coord_ms_per_kf);
    return rc < 0 ? -1 : 0;
}
