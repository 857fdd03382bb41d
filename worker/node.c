/*
 * node.c — dream-worker's connection to the coordinator and its compute
 * thread; see node.h.
 *
 *   network thread (node_run): a short loop of named steps over a node_loop_t:
 *     check_stop -> connect_step (backoff, hello) -> wait_events -> collect_job (result out)
 *     -> receive_messages (on_message: welcome, refusal, bye, job) -> heartbeat_and_liveness
 *   compute thread (compute_main): one job at a time through the compute seam (compute.h),
 *     with the resident canvas, pixel conversion and timing that every compute shares.
 */
#define _GNU_SOURCE
#include "node.h"
#include "parfor.h"
#include "px88.h"
#include "tilesplit.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include "compute.h"
#include "px88.h"
#include "image.h"
#include "wire.h"

#define MOD "worker"
#define NODE_VERSION "dream-worker 0.1"

const cfg_opt_t node_cfg_opts[] = {
    CFG_STR(node_cfg_t, connect, "connect", "tcp://127.0.0.1:5555", "coordinator endpoint"),
    CFG_STR(node_cfg_t, backend, "backend", "auto", "auto|cpu|cuda|sim (sim: simulated compute, tests/bench only)"),
    CFG_INT(node_cfg_t, threads, "threads", "0", 0, 1024, "CPU threads (0 = all cores)"),
    CFG_INT(node_cfg_t, device, "device", "0", 0, 64, "CUDA device ordinal"),
    CFG_STR(node_cfg_t, prec, "precision", "bf16", "gemm precision fp32|tf32|bf16 (cuda; the cpu backend always computes fp32)"),
    CFG_STR(node_cfg_t, weights, "weights", "random", "model weights FILE or 'random'"),
    CFG_STR(node_cfg_t, prior, "prior", "auto", "patch prior FILE, 'auto' (data/prior.safetensors if present) or 'none'"),
    CFG_STR(node_cfg_t, name, "name", "", "worker name, a label in logs and dreamctl workers (default host:pid)"),
    CFG_INT(node_cfg_t, heartbeat_ms, "heartbeat-ms", "1000", 50, 60000, "heartbeat interval until the coordinator says"),
    CFG_INT(node_cfg_t, liveness, "liveness", "3", 1, 100, "missed heartbeats before reconnecting"),
    CFG_INT(node_cfg_t, backoff_max_s, "backoff-max-s", "32", 1, 3600, "reconnect backoff cap (starts at 1 s, doubles)"),
    CFG_DOUBLE(node_cfg_t, sim_ms_per_mpix_step, "sim-ms-per-mpix-step", "50", 0, 1e6, "sim backend: sleep per megapixel-step"),
    CFG_BOOL(node_cfg_t, sim_device_warp, "sim-device-warp", "false", "sim backend: a tile-resident job's warp is the modelled device's (a nearest-sample stand-in on the host, its time inside the model), as on a GPU worker on its own machine (benchmarks; docs/farm.md)"),
    CFG_BOOL(node_cfg_t, sim_device_thread, "sim-device-thread", "false", "sim backend: the modelled device's pixel work (the stand-in pattern; the warp with --sim-device-warp) runs on a thread of its own at low priority (nice 10), so that simulated GPUs sharing one machine give way to the host work of the coordinator and the other workers (benchmarks; docs/farm.md)"),
    CFG_DOUBLE(node_cfg_t, sim_link_mbps, "sim-link-mbps", "0", 0, 1e7, "sim backend: model this worker's link (Mbit/s): a job waits its bytes' transfer time before and after computing (0 = loopback speed; benchmarks)"),
    CFG_DOUBLE(node_cfg_t, speed_ms, "speed-ms", "0", 0, 1e9, "claimed ms per megapixel-step (0 = measure at start)"),
    CFG_INT(node_cfg_t, max_tile_pixels, "max-tile-pixels", "0", 0, 1 << 26, "largest tile accepted (0 = from memory)"),
    CFG_STR(node_cfg_t, log_level, "log-level", "info", "debug|info|warn|error"),
    CFG_STR(node_cfg_t, log_format, "log-format", "logfmt", "log lines: logfmt (one event as key=value) | text"),
    CFG_DOUBLE(node_cfg_t, run_seconds, "run-seconds", "0", 0, 1e9, "stop after this many seconds (0 = never)"),
    CFG_STR(node_cfg_t, curve_server_key, "curve-server-key", "", "CURVE: coordinator public key (Z85); empty = off"),
    CFG_STR(node_cfg_t, curve_key_file, "curve-key-file", "", "CURVE: this worker's key file (dreamctl keygen)"),
    CFG_END};

int node_cfg_finish(node_cfg_t *cfg, dream_err_t *err) {
    dlog_level_t lvl;
    if (dlog_parse_level(cfg->log_level, &lvl)) return dream_err_set(err, "option 'log-level': bad level '%s'", cfg->log_level);
    dlog_set_level(lvl);
    dlog_format_t lf;
    if (dlog_parse_format(cfg->log_format, &lf)) return dream_err_set(err, "option 'log-format': '%s' is not logfmt or text", cfg->log_format);
    dlog_set_format(lf);
    if (!dream_compute_known(cfg->backend)) {
        char names[64];
        return dream_err_set(err, "option 'backend': '%s' is not %s", cfg->backend, dream_compute_names(names, sizeof names));
    }
    if (!cfg->name[0]) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = 0;
        snprintf(cfg->name, sizeof cfg->name, "%s:%d", host, (int)getpid());
    }
    if (cfg->curve_server_key[0] && strlen(cfg->curve_server_key) != 40)
        return dream_err_set(err, "option 'curve-server-key': not a 40-character Z85 key");
    if (cfg->curve_server_key[0] && !cfg->curve_key_file[0])
        return dream_err_set(err, "CURVE needs --curve-key-file too");
    return 0;
}

typedef struct node_job {
    Dreamfarm__Envelope *env;   /* the Job */
    uint8_t *px;                /* in: tile pixels; out: result pixels */
    size_t len;
    double compute_ms;
    dream_losses_t losses;
    int failed;
    int lost;                   /* the backend died with it (CUDA sticky error): leave the farm */
    char err[256];
    int code;                   /* Error code when failed (0 = 1, a failure) */
    int resident;
    int hashed;                 /* resident and window jobs: input_hash goes back in the Result */
    uint64_t input_hash;        /* hash of the 8-bit input (a result_fixed job: of the 8.8 window) */
    int fixed;                  /* result_fixed: img_buf holds the input as float, the result goes
                                 * back in 8.8 and is kept (tile-resident, docs/farm.md) */
    int u8;                     /* ... with result_u8: back rounded to 8 bits, and kept so */
    int shared;                 /* px is a shared_* buffer (the kept tile too): shared_release */
    /* Job.rest: px holds the result in split order (tilesplit.h); len covers the first part, the
     * rest (rest_len bytes after it, one more reference of the buffer) goes out later */
    tilesplit_rect_t rest;
    size_t rest_len;
    unsigned gen;               /* connection generation it came from */
} node_job_t;

/* A result frame that is also the worker's kept tile (tile-resident, 8.8): ZeroMQ sends it
 * without a copy while the compute thread reads it for the next job's held part; whichever lets
 * go last frees it (release runs on ZeroMQ's I/O thread). A header before the bytes holds the
 * count. */
#define SHARED_HDR 64
typedef struct { atomic_int refs; } shared_hdr_t;

static uint8_t *shared_new(size_t n, int refs) {
    uint8_t *p = malloc(SHARED_HDR + (n ? n : 1));
    if (!p) return NULL;
    atomic_init(&((shared_hdr_t *)p)->refs, refs);
    return p + SHARED_HDR;
}

/* data: the buffer (from shared_new), or a part of it with the buffer as hint */
static void shared_release(void *data, void *hint) {
    uint8_t *base = hint ? hint : data;
    if (!base) return;
    shared_hdr_t *h = (shared_hdr_t *)(base - SHARED_HDR);
    if (atomic_fetch_sub(&h->refs, 1) == 1) free(h);
}

struct node {
    node_cfg_t cfg;
    void *zctx;
    void *pair_net, *pair_cmp;
    pthread_t th;
    int th_started;
    dream_compute_t *cmp;       /* what computes the jobs (compute.h: engine or sim) */
    char curve_pub[41], curve_sec[41];
    /* resident canvas (compute thread only): the float canvas after the last whole-canvas job
     * that came as float pixels or from this canvas, == the coordinator's canvas bit for bit */
    dream_image_t *rc_canvas, *rc_base;
    uint64_t rc_kf;             /* keyframe it is the result of (0 = none) */
    float *img_buf;             /* compute thread: the job's float pixels, reused */
    size_t img_cap;
    float *win_buf;             /* compute thread: a tile-warp job's window as floats, reused */
    size_t win_cap;
    /* the resident canvas's update after a job, done once its result is on its way
     * (resident_update): the 8-bit result kept here, for keyframe rc_pending_kf */
    uint8_t *rc_res;
    size_t rc_res_cap;
    uint64_t rc_pending_kf;
    /* tile-resident (compute thread only): the last result_fixed job's result as sent (8.8 LE,
     * (h, w, 3)), its tile and keyframe: what a later job's held part is taken from */
    uint8_t *tk_px;
    size_t tk_cap;              /* 0 with tk_shared: the result frame itself (shared_*) */
    int tk_shared;
    tilesplit_rect_t tk_hole;   /* the kept tile is in split order around this (w 0: raster) */
    int tk_rect[4];
    uint64_t tk_kf;
    uint8_t *wq_buf;            /* a held job's whole window, 8.8 LE, rebuilt here */
    size_t wq_cap;
    int test_corrupt_kept;      /* DREAM_TEST_CORRUPT_KEPT (tests only), read once */
    int test_no_rest;           /* DREAM_TEST_NO_REST (tests only): never sends a result's rest */
    int test_rest_on_ask;       /* DREAM_TEST_REST_ON_ASK (tests only): a rest goes only when asked
                                 * or before the next result (no timer) */
};

/* ---------- compute ---------- */

/* the per-pixel passes of a job over the cores (parfor.h), at least this many values a thread */
#define PX_PER_THREAD (512 * 1024)

typedef struct { const float *f; uint8_t *u; } px_pair_t;

/* buf (cap elements of elem bytes) grown to hold n: the compute thread's buffers are kept
 * across jobs (a fresh one per job paid its page faults every time: 7 MB of floats per 1080p
 * quarter tile). Returns the buffer, or NULL with *cap = 0 when memory ran out. */
static void *reserve(void *buf, size_t *cap, size_t n, size_t elem) {
    if (buf && *cap >= n) return buf;
    free(buf);
    buf = malloc(n * elem);
    *cap = buf ? n : 0;
    return buf;
}

/* u = f rounded to 8 bits, clipped */
static void round_part(void *arg, size_t begin, size_t end) {
    const px_pair_t *p = arg;
    px_round_u8(p->f + begin, p->u + begin, end - begin);     /* = dream_u8_from_float, vectorised */
}

/* a self-warping job's kernel: Job.warp_interp 0 = bilinear, else (and absent) bicubic */
static dream_interp_t job_interp(const Dreamfarm__Job *job) {
    return job->has_warp_interp && job->warp_interp == 0 ? DREAM_INTERP_BILINEAR : DREAM_INTERP_BICUBIC;
}

/* The last resident job's change, applied when the next one starts (resident_input): the
 * coordinator's canvas, warped + (result - round(warped)) clipped to 0..255, becomes the kept
 * canvas (round(warped) is that job's 8-bit input, recomputed). Off the result's path; like
 * the warp it is the device's work (a modelled device counts it in its time). */
static void update_part(void *arg, size_t begin, size_t end) {
    const node_t *n = arg;
    const float *b = n->rc_base->px;
    float *cv = n->rc_canvas->px;
    for (size_t i = begin; i < end; i++) {
        float c = b[i] + (float)((int)n->rc_res[i] - (int)dream_u8_from_float(b[i]));
        cv[i] = c < 0.0f ? 0.0f : c > 255.0f ? 255.0f : c;
    }
}

static void resident_update(node_t *n) {
    if (!n->rc_pending_kf) return;
    dream_parallel_range((size_t)n->rc_base->w * n->rc_base->h * 3, PX_PER_THREAD, update_part, n);
    n->rc_kf = n->rc_pending_kf;
    n->rc_pending_kf = 0;
}

/* the job's float input as the coordinator has it (resident canvas, docs/farm.md): from_resident
 * warps the kept canvas; float_pixels brings it. Fills rc_base and nj->px = round(rc_base).
 * Returns 1 when the job is a resident one, 0 when not, -1 on failure (nj->err, nj->code) */
static int resident_input(node_t *n, node_job_t *nj) {
    const Dreamfarm__Job *job = nj->env->job;
    int W = job->tile->w, H = job->tile->h;
    int from = job->has_from_resident && job->from_resident, fl = job->has_float_pixels && job->float_pixels;
    if (!from && !fl) {
        n->rc_kf = n->rc_pending_kf = 0;    /* any other job: the kept canvas is no longer the coordinator's */
        return 0;
    }
    if (fl) n->rc_pending_kf = 0;           /* seeded again: the pending update is moot */
    else resident_update(n);                /* the last job's change, then its warp: device work */
    size_t np = (size_t)W * H * 3;
    dream_err_t err = {{0}};
    if (!n->rc_base || n->rc_base->w != W || n->rc_base->h != H) {
        dream_image_destroy(&n->rc_base);
        dream_image_destroy(&n->rc_canvas);
        n->rc_kf = 0;
        n->rc_base = dream_image_new(W, H, 3, &err);
        n->rc_canvas = dream_image_new(W, H, 3, &err);
        if (!n->rc_base || !n->rc_canvas) {
            dream_image_destroy(&n->rc_base);
            dream_image_destroy(&n->rc_canvas);
            snprintf(nj->err, sizeof nj->err, "resident canvas: %.200s", err.msg);
            nj->code = DREAMFARM__ERROR_CODE__ERR_BAD_JOB;
            return -1;
        }
    }
    if (from) {
        if (!n->rc_kf || n->rc_kf != job->resident_keyframe_id) {
            snprintf(nj->err, sizeof nj->err, "no resident canvas of keyframe %llu (have %llu)",
                     (unsigned long long)job->resident_keyframe_id, (unsigned long long)n->rc_kf);
            nj->code = DREAMFARM__ERROR_CODE__ERR_NO_RESIDENT;
            return -1;
        }
        dream_interp_t ip = job_interp(job);
        if (dream_warp(n->rc_canvas, n->rc_base, job->warp_zoom, job->warp_angle, ip, &err) != 0) {
            snprintf(nj->err, sizeof nj->err, "resident canvas: %.200s", err.msg);
            nj->code = DREAMFARM__ERROR_CODE__ERR_NO_RESIDENT;
            n->rc_kf = 0;
            return -1;
        }
        free(nj->px);
        nj->px = malloc(np);
        nj->len = np;
        if (!nj->px) {
            snprintf(nj->err, sizeof nj->err, "out of memory for a %dx%d tile", W, H);
            nj->code = DREAMFARM__ERROR_CODE__ERR_BAD_JOB;
            return -1;
        }
    } else {
        memcpy(n->rc_base->px, nj->px, np * sizeof(float));     /* validated: np floats */
        uint8_t *u = malloc(np);
        if (!u) {
            snprintf(nj->err, sizeof nj->err, "out of memory for a %dx%d tile", W, H);
            nj->code = DREAMFARM__ERROR_CODE__ERR_BAD_JOB;
            return -1;
        }
        free(nj->px);
        nj->px = u;
        nj->len = np;
    }
    n->rc_kf = 0;
    for (size_t i = 0; i < np; i++) nj->px[i] = dream_u8_from_float(n->rc_base->px[i]);
    nj->resident = 1;
    nj->hashed = 1;
    nj->input_hash = wire_hash64(nj->px, np);
    return 1;
}

/* a tile-resident job's whole window (8.8 LE) into wq_buf: the frame's rows outside the held
 * rect, the held rect from the kept result (tk_px). 0, or -1 (nj->err, nj->code) */
static int held_window(node_t *n, node_job_t *nj) {
    const Dreamfarm__Job *job = nj->env->job;
    const Dreamfarm__Rect *src = job->warp_source, *hd = job->held;
    if (!n->tk_kf || n->tk_kf != job->resident_keyframe_id || hd->x < n->tk_rect[0] || hd->y < n->tk_rect[1] ||
        hd->x + hd->w > n->tk_rect[0] + n->tk_rect[2] || hd->y + hd->h > n->tk_rect[1] + n->tk_rect[3]) {
        snprintf(nj->err, sizeof nj->err, "no kept tile of keyframe %llu covering %dx%d+%d+%d (have %llu)",
                 (unsigned long long)job->resident_keyframe_id, hd->w, hd->h, hd->x, hd->y,
                 (unsigned long long)n->tk_kf);
        nj->code = DREAMFARM__ERROR_CODE__ERR_NO_RESIDENT;
        n->tk_kf = 0;
        return -1;
    }
    size_t row = (size_t)src->w * 6;
    n->wq_buf = reserve(n->wq_buf, &n->wq_cap, row * src->h, 1);
    if (!n->wq_buf) {
        snprintf(nj->err, sizeof nj->err, "out of memory for a %dx%d window", src->w, src->h);
        nj->code = DREAMFARM__ERROR_CODE__ERR_BAD_JOB;
        return -1;
    }
    static const uint8_t none[1];
    const uint8_t *f = nj->px ? nj->px : none;  /* validated: (window - held) * 6 bytes (may be 0) */
    const tilesplit_rect_t kt = {n->tk_rect[0], n->tk_rect[1], n->tk_rect[2], n->tk_rect[3]};
    size_t left = (size_t)(hd->x - src->x) * 6, mid = (size_t)hd->w * 6, right = row - left - mid;
    for (int y = 0; y < src->h; y++) {
        uint8_t *o = n->wq_buf + (size_t)y * row;
        int gy = src->y + y;
        if (gy < hd->y || gy >= hd->y + hd->h) {
            memcpy(o, f, row);
            f += row;
            continue;
        }
        memcpy(o, f, left);
        f += left;
        /* the held run from the kept tile (split order: up to three contiguous pieces) */
        int xs[4], np = tilesplit_pieces(&n->tk_hole, gy, hd->x, hd->x + hd->w, xs);
        for (int k = 0; k < np; k++)
            memcpy(o + left + (size_t)(xs[k] - hd->x) * 6, n->tk_px + tilesplit_index(&kt, &n->tk_hole, xs[k], gy) * 6,
                   (size_t)(xs[k + 1] - xs[k]) * 6);
        memcpy(o + left + mid, f, right);
        f += right;
    }
    return 0;
}

/* a tile-warp job (Job.warp_source, --tile-warp worker|resident): the pixel frame is a window
 * of the canvas in 8.8 fixed point (a tile-resident job's without its held part, rebuilt by
 * held_window); the tile is its warp (dream_warp_window: what the coordinator's warp of the
 * whole canvas gives there, bit for bit), rounded to 8 bits into nj->px, or with result_fixed
 * clipped in img_buf (nj->fixed). Returns 1 for such a job, 0 for another, -1 on failure
 * (nj->err, nj->code) */
static int window_input(node_t *n, node_job_t *nj) {
    const Dreamfarm__Job *job = nj->env->job;
    const Dreamfarm__Rect *src = job->warp_source, *t = job->tile;
    if (!src) return 0;
    int fixed = job->has_result_fixed && job->result_fixed;
    size_t nw = (size_t)src->w * src->h * 3, np = (size_t)t->w * t->h * 3;     /* validated sizes */
    if (job->held && held_window(n, nj) != 0) return -1;
    const int device = fixed && n->cmp->iface->warp_window;    /* the warp is the device's */
    if (!device) n->win_buf = reserve(n->win_buf, &n->win_cap, nw, sizeof(float));
    n->img_buf = reserve(n->img_buf, &n->img_cap, np, sizeof(float));
    uint8_t *u = fixed ? NULL : malloc(np);
    if ((!device && !n->win_buf) || !n->img_buf || (!fixed && !u)) {
        free(u);
        snprintf(nj->err, sizeof nj->err, "out of memory for a %dx%d window", src->w, src->h);
        nj->code = DREAMFARM__ERROR_CODE__ERR_BAD_JOB;
        return -1;
    }
    const uint8_t *q = job->held ? n->wq_buf : nj->px;   /* (h, w, 3) uint16 little-endian, value * 256 */
    dream_err_t err = {{0}};
    if (device) {
        /* the device's warp (compute.h): from the 8.8 window as it came */
        const int sr[4] = {src->x, src->y, src->w, src->h}, tr[4] = {t->x, t->y, t->w, t->h};
        if (n->cmp->iface->warp_window(n->cmp->ctx, q, sr, job->canvas_w, job->canvas_h, job->warp_zoom,
                                       job->warp_angle, job_interp(job) == DREAM_INTERP_BICUBIC, tr, n->img_buf,
                                       &err) != 0) {
            snprintf(nj->err, sizeof nj->err, "tile warp: %.200s", err.msg);
            nj->code = DREAMFARM__ERROR_CODE__ERR_BAD_JOB;
            return -1;
        }
    } else {
        px88_to_float(q, n->win_buf, nw);
        dream_interp_t ip = job_interp(job);
        if (dream_warp_window(n->win_buf, src->x, src->y, src->w, src->h, job->canvas_w, job->canvas_h, job->warp_zoom,
                              job->warp_angle, ip, t->x, t->y, t->w, t->h, n->img_buf, &err) != 0) {
            free(u);
            snprintf(nj->err, sizeof nj->err, "tile warp: %.200s", err.msg);
            nj->code = DREAMFARM__ERROR_CODE__ERR_BAD_JOB;
            return -1;
        }
    }
    if (fixed) {
        /* computed on the float warp itself: the canvas it continues is 8.8, not 8 bits */
        px88_clip255(n->img_buf, np);
        nj->fixed = 1;
        nj->u8 = job->has_result_u8 && job->result_u8;
        nj->hashed = 1;
        nj->input_hash = wire_hash64(q, nw * 2);
        return 1;
    }
    for (size_t i = 0; i < np; i++) u[i] = dream_u8_from_float(n->img_buf[i]);
    free(nj->px);
    nj->px = u;
    nj->len = np;
    nj->hashed = 1;
    nj->input_hash = wire_hash64(u, np);
    return 1;
}

typedef struct { const float *f; uint8_t *o, *keep; int u8; } fixed_out_t;

/* values [begin, end) of a result_fixed job's result: 8.8 LE (px88_from_float, as the
 * coordinator's q88), or rounded to 8 bits (result_u8: dream_u8_from_float), into o; the 8.8 the
 * worker keeps (the 8-bit value * 256) into keep (NULL: none) */
static void fixed_part(void *arg, size_t begin, size_t end) {
    const fixed_out_t *p = arg;
    size_t n = end - begin;
    if (p->u8) {
        px_round_u8(p->f + begin, p->o + begin, n);
        if (p->keep)
            for (size_t i = begin; i < end; i++) { p->keep[2 * i] = 0; p->keep[2 * i + 1] = p->o[i]; }
    } else {
        px88_from_float(p->f + begin, p->o + 2 * begin, n);
        if (p->keep) memcpy(p->keep + 2 * begin, p->o + 2 * begin, n * 2);
    }
}

/* the kept tile goes (a shared one is released: ZeroMQ may still be sending it) */
static void kept_tile_drop(node_t *n) {
    n->tk_kf = 0;
    if (!n->tk_shared) return;
    shared_release(n->tk_px, NULL);
    n->tk_px = NULL;
    n->tk_cap = 0;
    n->tk_shared = 0;
}

/* rows [begin, end) of a result_fixed job's result in split order (Job.rest): each row's runs
 * (cut at the hole's edges) through fixed_part's conversions, to their places in the buffer */
typedef struct { const fixed_out_t *fo; tilesplit_rect_t tile, hole; } split_out_t;
static void split_rows(void *arg, size_t begin, size_t end) {
    const split_out_t *p = arg;
    const size_t bpp = p->fo->u8 ? 1 : 2;      /* bytes a value */
    for (size_t r = begin; r < end; r++) {
        int y = p->tile.y + (int)r, xs[4];
        int np = tilesplit_pieces(&p->hole, y, p->tile.x, p->tile.x + p->tile.w, xs);
        for (int k = 0; k < np; k++) {
            size_t src = (r * (size_t)p->tile.w + (size_t)(xs[k] - p->tile.x)) * 3;
            size_t dst = tilesplit_index(&p->tile, &p->hole, xs[k], y) * 3, nv = (size_t)(xs[k + 1] - xs[k]) * 3;
            fixed_out_t fo = {p->fo->f + src, p->fo->o + dst * bpp, p->fo->keep ? p->fo->keep + dst * 2 : NULL, p->fo->u8};
            fixed_part(&fo, 0, nv);
        }
    }
}

/* a result_fixed job's rest rect (Job.rest, validated; w 0: none) */
static tilesplit_rect_t job_hole(const Dreamfarm__Job *job) {
    tilesplit_rect_t hole = {0, 0, 0, 0};
    if (job->rest) hole = (tilesplit_rect_t){job->rest->x, job->rest->y, job->rest->w, job->rest->h};
    return hole;
}

/* the references a result_fixed job's result buffer starts with: the frame, the kept tile when
 * it is that buffer (keep_shared), the rest */
static int fixed_refs(const node_job_t *nj, int keep_shared) {
    tilesplit_rect_t hole = job_hole(nj->env->job);
    return 1 + keep_shared + tilesplit_has_hole(&hole);
}

/* an 8.8 result frame that is its own kept tile (result_fixed, not u8): the shared buffer with
 * its references, or NULL */
static uint8_t *fixed_buffer(const node_job_t *nj, size_t np) { return shared_new(np * 2, fixed_refs(nj, 1)); }

/* fixed_buffer's buffer unused: every reference goes */
static void fixed_buffer_drop(uint8_t *pre, const node_job_t *nj) {
    for (int k = fixed_refs(nj, 1); k > 0; k--) shared_release(pre, NULL);
}

/* a result_fixed job's result: img (np values) in 8.8 LE into nj->px (result_u8: rounded to 8
 * bits), and kept (tk_*, 8.8: the rounded value * 256 for result_u8) for the held part of a later
 * job; no kept tile when memory runs out (that job is answered code 5). The result frame is a
 * shared buffer; an 8.8 one is its own kept tile (no copy on the result's path). With Job.rest
 * it is in split order (tilesplit.h): the first part goes at once, the rest later. pre: that
 * buffer from fixed_buffer (8.8 only), made: its bytes already hold the result (run88: made on
 * the device), else NULL */
static void fixed_result(node_t *n, node_job_t *nj, const float *img, size_t np, uint8_t *pre, int made) {
    const Dreamfarm__Job *job = nj->env->job;
    const Dreamfarm__Rect *t = job->tile;
    kept_tile_drop(n);
    const int keep_shared = !nj->u8 && !n->test_corrupt_kept;
    const tilesplit_rect_t tile = {t->x, t->y, t->w, t->h}, hole = job_hole(job);
    const size_t bpp = nj->u8 ? 1 : 2, total = np * bpp;
    uint8_t *o = pre && keep_shared ? pre : shared_new(total, fixed_refs(nj, keep_shared));
    if (pre && o != pre) {      /* (not reached: pre is only made for a shared 8.8 result) */
        fixed_buffer_drop(pre, nj);
        made = 0;
    }
    if (!o) {
        nj->failed = 1;
        snprintf(nj->err, sizeof nj->err, "out of memory for a %dx%d result", t->w, t->h);
        return;
    }
    if (keep_shared) {
        free(n->tk_px);
        n->tk_px = o;
        n->tk_cap = 0;
        n->tk_shared = 1;
    } else {
        n->tk_px = reserve(n->tk_px, &n->tk_cap, np * 2, 1);
    }
    /* the result to send (and an 8-bit one's 8.8 tile to keep) in one pass over the cores */
    fixed_out_t fo = {img, o, keep_shared ? NULL : n->tk_px, nj->u8};
    if (made) {
        /* (made on the device: nothing to convert) */
    } else if (tilesplit_has_hole(&hole)) {
        split_out_t so = {&fo, tile, hole};
        dream_parallel_range((size_t)t->h, PX_PER_THREAD / 2 / ((size_t)t->w * 3) + 1, split_rows, &so);
    } else {
        dream_parallel_range(np, PX_PER_THREAD / 2, fixed_part, &fo);
    }
    free(nj->px);
    nj->px = o;
    nj->shared = 1;
    nj->rest = hole;
    nj->rest_len = tilesplit_has_hole(&hole) ? (size_t)hole.w * hole.h * 3 * bpp : 0;
    nj->len = total - nj->rest_len;
    n->tk_hole = hole;
    if (!n->tk_px) return;
    /* tests only (tests/integration/farm_tile_resident.sh): keep a result that differs from the
     * one sent, as a buggy or lying worker would; the coordinator's window check must see it */
    if (n->test_corrupt_kept)   /* its centre */
        n->tk_px[tilesplit_index(&tile, &hole, t->x + t->w / 2, t->y + t->h / 2) * 6] ^= 0x5a;
    n->tk_rect[0] = t->x;
    n->tk_rect[1] = t->y;
    n->tk_rect[2] = t->w;
    n->tk_rect[3] = t->h;
    n->tk_kf = job->keyframe_id;
}

static void compute(node_t *n, node_job_t *nj) {
    const Dreamfarm__Job *job = nj->env->job;
    int W = job->tile->w, H = job->tile->h;
    size_t np = (size_t)W * H * 3;
    double t_in = dream_now_ms();
    int resident = resident_input(n, nj), window = resident == 0 ? window_input(n, nj) : 0;
    if (resident < 0 || window < 0) {
        nj->failed = 1;
        return;
    }
    float *img = n->img_buf = reserve(n->img_buf, &n->img_cap, np, sizeof(float));
    if (!img) {
        nj->failed = 1;
        snprintf(nj->err, sizeof nj->err, "out of memory for a %dx%d tile", W, H);
        return;
    }
    if (!nj->fixed)
        for (size_t i = 0; i < np; i++) img[i] = nj->px[i];
    double t0 = dream_now_ms();
    dream_err_t err = {{0}};
    /* an 8.8 result the compute can make where the image is (run88: a GPU's, the sim modelling
     * one): its frame is allocated first and filled there; else the node converts the floats */
    uint8_t *pre = nj->fixed && !nj->u8 && !n->test_corrupt_kept && n->cmp->iface->run88 ? fixed_buffer(nj, np) : NULL;
    int made = 0, rc;
    /* the warp (kept canvas or window) is device work: a modelled device counts it in its time */
    int warped = resident || window;
    double spent = warped ? dream_now_ms() - t_in : 0;
    if (pre) {
        const tilesplit_rect_t h = job_hole(job);     /* (in tile pixels for the compute) */
        const int has = tilesplit_has_hole(&h), hole[4] = {has ? h.x - job->tile->x : 0, has ? h.y - job->tile->y : 0,
                                                           has ? h.w : 0, has ? h.h : 0};
        rc = n->cmp->iface->run88(n->cmp->ctx, job, img, spent, hole, pre, &nj->losses, &err);
        made = rc == 0;
        if (rc == 1) rc = 0;    /* (a backend without result88: img holds the floats) */
    } else {
        rc = n->cmp->iface->run(n->cmp->ctx, job, img, spent, &nj->losses, &err);
    }
    if (rc != 0) {
        nj->failed = 1;
        nj->lost = dream_compute_lost(n->cmp);
        snprintf(nj->err, sizeof nj->err, "%.250s", err.msg);
    }
    nj->compute_ms = dream_now_ms() - (warped ? t_in : t0);
    if (nj->failed) {
        if (pre) fixed_buffer_drop(pre, nj);
        return;
    }
    if (nj->fixed) {
        fixed_result(n, nj, img, np, pre, made);
        return;
    }
    px_pair_t rp = {img, nj->px};
    dream_parallel_range(np, PX_PER_THREAD, round_part, &rp);
    if (resident) {
        /* the kept canvas's update waits until the result is on its way (resident_update) */
        n->rc_res = reserve(n->rc_res, &n->rc_res_cap, np, 1);
        if (n->rc_res) {
            memcpy(n->rc_res, nj->px, np);
            n->rc_pending_kf = job->keyframe_id;
        }   /* else no kept canvas: the next resident job is answered "no resident canvas" */
    }
}


static void *compute_main(void *arg) {
    node_t *n = arg;
    for (;;) {
        node_job_t *nj = NULL;
        int rc = zmq_recv(n->pair_cmp, &nj, sizeof nj, 0);
        if (rc < 0 && zmq_errno() == EINTR) continue;
        if (rc != (int)sizeof nj || !nj) break;
        /* a modelled link (the sim's, bench/farm_bench.sh LINK_MBPS): the job's pixels arrive,
         * and the result leaves, at its speed (outside compute_ms, like a real transfer) */
        double link_in = dream_compute_link_ms(n->cmp, nj->len);
        if (link_in > 0) usleep((useconds_t)(link_in * 1000.0));
        compute(n, nj);
        double link_out = nj->failed ? 0 : dream_compute_link_ms(n->cmp, nj->len);
        if (link_out > 0) usleep((useconds_t)(link_out * 1000.0));
        zmq_send(n->pair_cmp, &nj, sizeof nj, 0);
    }
    return NULL;
}

static void job_free(node_job_t **pj) {
    if (!pj || !*pj) return;
    if ((*pj)->env) dreamfarm__envelope__free_unpacked((*pj)->env, NULL);
    if ((*pj)->shared) {
        shared_release((*pj)->px, NULL);
        if ((*pj)->px && (*pj)->rest_len) shared_release((*pj)->px, NULL);    /* the rest's reference */
    } else {
        free((*pj)->px);
    }
    free(*pj);
    *pj = NULL;
}

/* ---------- setup ---------- */

node_t *node_new(const node_cfg_t *cfg, dream_err_t *err) {
    node_t *n = calloc(1, sizeof *n);
    if (!n) { dream_err_set(err, "out of memory"); return NULL; }
    n->cfg = *cfg;
    n->test_corrupt_kept = getenv("DREAM_TEST_CORRUPT_KEPT") != NULL;
    n->test_no_rest = getenv("DREAM_TEST_NO_REST") != NULL;
    n->test_rest_on_ask = getenv("DREAM_TEST_REST_ON_ASK") && *getenv("DREAM_TEST_REST_ON_ASK");
    n->cmp = dream_compute_new(cfg, err);
    if (!n->cmp) {
        node_destroy(&n);
        return NULL;
    }
    if (cfg->curve_server_key[0]) {
        if (wire_curve_read_keyfile(cfg->curve_key_file, n->curve_pub, n->curve_sec, err) != 0) {
            node_destroy(&n);
            return NULL;
        }
    }
    n->zctx = zmq_ctx_new();
    n->pair_net = zmq_socket(n->zctx, ZMQ_PAIR);
    n->pair_cmp = zmq_socket(n->zctx, ZMQ_PAIR);
    if (!n->pair_net || !n->pair_cmp || zmq_bind(n->pair_net, "inproc://compute") != 0 ||
        zmq_connect(n->pair_cmp, "inproc://compute") != 0 || pthread_create(&n->th, NULL, compute_main, n) != 0) {
        dream_err_set(err, "worker: cannot start the compute thread");
        node_destroy(&n);
        return NULL;
    }
    n->th_started = 1;
    return n;
}

void node_destroy(node_t **pn) {
    if (!pn || !*pn) return;
    node_t *n = *pn;
    if (n->th_started) {
        node_job_t *nil = NULL;
        zmq_send(n->pair_net, &nil, sizeof nil, 0);
        pthread_join(n->th, NULL);
    }
    if (n->pair_net) zmq_close(n->pair_net);
    if (n->pair_cmp) zmq_close(n->pair_cmp);
    if (n->zctx) zmq_ctx_term(n->zctx);
    free(n->img_buf);
    free(n->win_buf);
    kept_tile_drop(n);
    free(n->tk_px);
    free(n->wq_buf);
    free(n->rc_res);
    dream_image_destroy(&n->rc_canvas);
    dream_image_destroy(&n->rc_base);
    dream_compute_destroy(&n->cmp);
    free(n);
    *pn = NULL;
}

/* ---------- network ---------- */

static void *open_socket(node_t *n) {
    void *s = zmq_socket(n->zctx, ZMQ_DEALER);
    if (!s) return NULL;
    int64_t maxf = (int64_t)n->cmp->max_px * 12 + 4096;     /* a whole canvas as float (resident seed) */
    if (maxf > (int64_t)DREAM_WIRE_MAX_PIXEL_BYTES) maxf = (int64_t)DREAM_WIRE_MAX_PIXEL_BYTES;
    wire_socket_setup(s, maxf, NULL);
    if (n->cfg.curve_server_key[0]) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, n->cfg.curve_server_key, 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, n->curve_pub, 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, n->curve_sec, 40);
    }
    if (zmq_connect(s, n->cfg.connect) != 0) {
        dlog_error(MOD, "connect %s: %s", n->cfg.connect, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void send_simple(void *s, Dreamfarm__Envelope *env) { wire_send(s, NULL, 0, env, NULL, 0, ZMQ_DONTWAIT, NULL); }

static void send_hello(node_t *n, void *s) {
    Dreamfarm__Envelope env;
    Dreamfarm__Hello h = DREAMFARM__HELLO__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HELLO);
    h.name = n->cfg.name;
    h.backend = n->cmp->name;
    h.device = n->cmp->device;
    h.has_memory_bytes = 1;
    h.memory_bytes = n->cmp->mem_total;
    h.max_tile_pixels = n->cmp->max_px;
    h.ms_per_mpix_step = n->cmp->ms_mpix;
    h.model_hash = n->cmp->hash;
    h.sw_version = NODE_VERSION;
    h.has_threads = 1;
    h.threads = n->cfg.threads;
    h.has_min_side = 1;
    h.min_side = n->cmp->min_side;
    h.has_untrained = 1;
    h.untrained = n->cmp->untrained;
    h.has_resident_canvas = 1;
    h.resident_canvas = 1;
    h.has_tile_warp = 1;
    h.tile_warp = 1;
    h.has_tile_resident = 1;
    h.tile_resident = 1;
    h.has_result_rest = 1;
    h.result_rest = 1;
    env.body_case = DREAMFARM__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    send_simple(s, &env);
}

static void send_heartbeat(void *s, uint64_t seq, uint64_t busy, int draining) {
    Dreamfarm__Envelope env;
    Dreamfarm__Heartbeat hb = DREAMFARM__HEARTBEAT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
    hb.has_seq = 1;
    hb.seq = seq;
    hb.has_busy_job_id = 1;
    hb.busy_job_id = busy;
    hb.has_draining = draining;
    hb.draining = draining;
    env.body_case = DREAMFARM__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    send_simple(s, &env);
}

static void send_bye(void *s, const char *why) { wire_send_bye(s, NULL, 0, why); }

static void send_error(void *s, uint64_t job_id, int code, const char *msg) {
    wire_send_error(s, NULL, 0, job_id, code, msg);
}

static void send_result(void *s, node_job_t *nj) {
    if (nj->failed) {
        send_error(s, nj->env->job->job_id, nj->code ? nj->code : DREAMFARM__ERROR_CODE__ERR_FAILED, nj->err);
        return;
    }
    Dreamfarm__Envelope env;
    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    r.keyframe_id = nj->env->job->keyframe_id;
    r.job_id = nj->env->job->job_id;
    r.tile = nj->env->job->tile;
    r.has_loss_total = 1; r.loss_total = nj->losses.total;
    r.has_loss_net = 1; r.loss_net = nj->losses.net;
    r.has_loss_prior = 1; r.loss_prior = nj->losses.prior;
    r.compute_ms = nj->compute_ms;
    r.has_input_hash = nj->hashed;
    r.input_hash = nj->input_hash;
    r.has_fixed_pixels = nj->fixed;
    r.fixed_pixels = nj->fixed && !nj->u8;
    Dreamfarm__Rect rest = DREAMFARM__RECT__INIT;
    if (tilesplit_has_hole(&nj->rest)) {    /* the frame is the tile less this; it follows later */
        rest.x = nj->rest.x; rest.y = nj->rest.y; rest.w = nj->rest.w; rest.h = nj->rest.h;
        r.rest = &rest;
    }
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    dream_err_t err = {{0}};
    /* the result's pixels go to ZeroMQ as they are (no 6-MB copy per 1080p result) */
    long sent = nj->shared ? wire_send_shared(s, NULL, 0, &env, nj->px, nj->len, shared_release, NULL, 0, &err)
                           : wire_send_owned(s, NULL, 0, &env, nj->px, nj->len, 0, &err);
    nj->px = NULL;
    nj->shared = 0;
    if (sent < 0) dlog_warn(MOD, "result: %s", err.msg);
}

/* logs a refusal. A model mismatch does not go away by itself: say so loudly, with what
 * this worker has; the reconnect backs off (1, 2, 4 ... backoff-max-s), so a dreamd
 * restarted with these weights picks the worker up. Decided on the code; the reason text
 * only when the code is absent (a coordinator older than issue 12 sends no code). */
static void log_refusal(const node_t *n, const Dreamfarm__Refusal *r) {
    int model = r->has_code ? r->code == DREAMFARM__REFUSAL_CODE__REFUSE_MODEL
                            : (r->reason && strstr(r->reason, "model hash") != NULL);
    if (model) {
        dlog_error(MOD, "REFUSED by the coordinator: %.800s", r->reason ? r->reason : "(no reason)");
        dlog_error(MOD, "this worker's model: hash %s (--weights %s); run it with the "
                   "farm's weights", n->cmp->hash, n->cmp->weights);
    } else {
        dlog_warn(MOD, "refused: %.800s", r->reason ? r->reason : "(no reason)");
    }
}

/* a job back from the compute thread: its result (or Error) goes out when the connection
 * it came on is still the current one (gen), else it is dropped. Returns 1 when sent. */
static int job_done(void *s, unsigned gen, uint64_t busy_id, node_job_t *nj) {
    if (s && nj->gen == gen) {
        send_result(s, nj);
        dlog_debug(MOD, "job %llu done in %.0f ms", (unsigned long long)busy_id, nj->compute_ms);
        return 1;
    }
    dlog_info(MOD, "job %llu finished after a reconnect: result dropped", (unsigned long long)busy_id);
    return 0;
}

static void interruptible_sleep(double ms, volatile sig_atomic_t *stop) {
    double end = dream_now_ms() + ms;
    while (!(stop && *stop) && dream_now_ms() < end) usleep(20000);
}


/* What node_run's steps share: the connection and its timers, the job in hand, the stop state.
 * Owned by node_run (the network thread); the compute thread never sees it. */
typedef struct node_loop {
    node_t *n;
    volatile sig_atomic_t *stop;
    void *s;                    /* DEALER to the coordinator; NULL between connections */
    unsigned gen;               /* connection generation: a job from an older one is dropped */
    int welcomed;               /* a Welcome came on this connection */
    int hb_ms, liveness;        /* heartbeat interval and misses allowed (the Welcome may set them) */
    double backoff_s;           /* next reconnect delay (1 s, doubling to backoff-max-s) */
    double last_recv, last_hb;  /* when the coordinator last spoke / we last beat (ms) */
    double t_start;             /* for --run-seconds */
    node_job_t *busy;           /* job in the compute thread, or NULL */
    uint64_t busy_id, seq, jobs;
    int reconnect;              /* the connection is to be (re)made */
    int delay_reconnect;        /* back off before the next connect */
    int stopping;               /* take no new job; leave once the one in hand is done */
    int lost;                   /* the backend is lost: exit non-zero */
    /* the rest of the last result (Job.rest): one reference of its buffer (rest_base), sent when
     * the coordinator asks, before the next result, or at rest_due, on the connection it came on
     * (rest_gen) */
    uint8_t *rest_base;
    size_t rest_off, rest_len;
    Dreamfarm__Rect rest_tile, rest_rect;
    uint64_t rest_job, rest_kf;
    int rest_fixed;
    unsigned rest_gen;
    double rest_due;
} node_loop_t;

/* sends the pending rest of the last result (a Result with rest_part), or lets it go when its
 * connection is gone */
static void send_rest(node_loop_t *L) {
    if (!L->rest_base) return;
    /* on the connection it came on while that is open, as job_done sends results: a rest never
     * stays behind its next result (test_no_rest, farm_tile_resident.sh: a worker that withholds
     * its rests, lost or lying) */
    if (L->s && L->rest_gen == L->gen && !L->n->test_no_rest) {
        Dreamfarm__Envelope env;
        Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
        wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
        r.keyframe_id = L->rest_kf;
        r.job_id = L->rest_job;
        r.tile = &L->rest_tile;
        r.rest = &L->rest_rect;
        r.has_rest_part = 1;
        r.rest_part = 1;
        r.has_fixed_pixels = 1;
        r.fixed_pixels = L->rest_fixed;
        env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
        env.result = &r;
        dream_err_t err = {{0}};
        if (wire_send_shared(L->s, NULL, 0, &env, L->rest_base + L->rest_off, L->rest_len, shared_release, L->rest_base, 0,
                             &err) < 0)
            dlog_warn(MOD, "result rest: %s", err.msg);
    } else {
        shared_release(L->rest_base, NULL);
    }
    L->rest_base = NULL;
}

/* a result with a rest about to go out on this connection: the rest's reference moves here */
static void keep_rest(node_loop_t *L, node_job_t *nj) {
    if (!nj->rest_len || nj->failed || !nj->px || !L->s || nj->gen != L->gen) return;
    send_rest(L);       /* an older one (not reached: collect_job sent it) */
    const Dreamfarm__Job *job = nj->env->job;
    L->rest_base = nj->px;
    L->rest_off = nj->len;
    L->rest_len = nj->rest_len;
    dreamfarm__rect__init(&L->rest_tile);
    L->rest_tile.x = job->tile->x; L->rest_tile.y = job->tile->y; L->rest_tile.w = job->tile->w; L->rest_tile.h = job->tile->h;
    dreamfarm__rect__init(&L->rest_rect);
    L->rest_rect.x = nj->rest.x; L->rest_rect.y = nj->rest.y; L->rest_rect.w = nj->rest.w; L->rest_rect.h = nj->rest.h;
    L->rest_job = job->job_id;
    L->rest_kf = job->keyframe_id;
    L->rest_fixed = !nj->u8;
    L->rest_gen = nj->gen;
    /* sent when the coordinator asks (Heartbeat.send_rest_job: once the next keyframe's jobs are
     * in), before the next result, or (a coordinator that does not ask, a lost ask) after twice its
     * compute time, 20-200 ms: not while the other workers' results or jobs are crossing */
    double wait = nj->compute_ms > 0 ? nj->compute_ms * 2 : 0;
    L->rest_due = dream_now_ms() + (wait < 20 ? 20 : wait > 200 ? 200 : wait);
    if (L->n->test_rest_on_ask) L->rest_due = dream_now_ms() + 1e9;    /* (tests: the coordinator must ask) */
    nj->rest_len = 0;
}

/* enters stopping on the signal or at --run-seconds, telling the coordinator (draining) */
static void check_stop(node_loop_t *L) {
    if (L->stopping) return;
    if (!((L->stop && *L->stop) ||
          (L->n->cfg.run_seconds > 0 && dream_now_ms() - L->t_start > L->n->cfg.run_seconds * 1000)))
        return;
    L->stopping = 1;
    dlog_info(MOD, "stopping%s", L->busy ? ": finishing the job in hand first" : "");
    if (L->s && !L->reconnect) send_heartbeat(L->s, ++L->seq, L->busy_id, 1);   /* no more jobs, please */
}

/* (re)connects: closes the old socket, waits the backoff (doubling, capped) unless this is the
 * first try, opens a fresh socket and says hello. Returns 0 when connected, 1 when the loop must
 * go round again first (stop during the wait, or the socket could not be made). */
static int connect_step(node_loop_t *L) {
    node_t *n = L->n;
    L->reconnect = 1;
    if (L->rest_base) shared_release(L->rest_base, NULL);   /* a rest of the old connection: let go */
    L->rest_base = NULL;
    if (L->s) zmq_close(L->s);
    L->s = NULL;
    if (L->delay_reconnect) {
        dlog_info(MOD, "reconnecting in %.0f s", L->backoff_s);
        interruptible_sleep(L->backoff_s * 1000, L->stop);
        L->backoff_s = L->backoff_s * 2 > n->cfg.backoff_max_s ? n->cfg.backoff_max_s : L->backoff_s * 2;
        if (L->stop && *L->stop) return 1;
    }
    L->s = open_socket(n);
    if (!L->s) { L->delay_reconnect = 1; return 1; }
    L->gen++;
    L->welcomed = 0;
    send_hello(n, L->s);
    L->last_recv = L->last_hb = dream_now_ms();
    L->reconnect = 0;
    L->delay_reconnect = 1;
    dlog_info(MOD, "%s: hello sent to %s", n->cfg.name, n->cfg.connect);
    return 0;
}

enum { EV_COMPUTE = 1, EV_COORD = 2 };

/* waits (at most 100 ms, less when a heartbeat is due) for the compute thread or the
 * coordinator. Returns EV_* bits, or -1 when polling failed for good. */
static int wait_events(node_loop_t *L) {
    zmq_pollitem_t it[2] = {{L->n->pair_net, 0, ZMQ_POLLIN, 0}, {L->s, 0, ZMQ_POLLIN, 0}};
    int nit = L->s ? 2 : 1;
    long wait = (long)(L->last_hb + L->hb_ms - dream_now_ms());
    if (L->rest_base) {     /* (as a double: rest_due may be far off) */
        double left = L->rest_due - dream_now_ms();
        if (left < (double)wait) wait = left <= 0 ? 0 : (long)left;
    }
    if (wait < 0) wait = 0;
    if (wait > 100) wait = 100;
    if (zmq_poll(it, nit, wait) < 0 && zmq_errno() != EINTR) return -1;
    return ((it[0].revents & ZMQ_POLLIN) ? EV_COMPUTE : 0) | (nit == 2 && (it[1].revents & ZMQ_POLLIN) ? EV_COORD : 0);
}

/* takes the finished job back from the compute thread and sends its result; a lost backend
 * turns the node to stopping (and the process's exit status to 1) */
static void collect_job(node_loop_t *L) {
    node_job_t *nj = NULL;
    if (zmq_recv(L->n->pair_net, &nj, sizeof nj, 0) != (int)sizeof nj || !nj) return;
    if (nj->lost && !L->lost) {
        /* a dead CUDA context fails every later job: leave the farm and exit
         * non-zero, so the supervisor (systemd, k8s) starts a fresh process */
        dlog_error(MOD, "backend lost (%.200s): leaving the farm, exit status 1 for a restart", nj->err);
        L->lost = L->stopping = 1;
    }
    send_rest(L);       /* a rest not asked for yet goes before the next result (the coordinator's order) */
    keep_rest(L, nj);
    L->jobs += (uint64_t)job_done(L->s, L->gen, L->busy_id, nj);
    job_free(&nj);
    L->busy = NULL;
    L->busy_id = 0;
}

/* a Job from the coordinator: handed to the compute thread (it takes m's envelope and
 * pixels), or answered with an Error when a job is in hand or the node is stopping */
static void accept_job(node_loop_t *L, wire_msg_t *m) {
    if (L->busy || L->stopping) {
        send_error(L->s, m->env->job->job_id, L->busy ? DREAMFARM__ERROR_CODE__ERR_BUSY : DREAMFARM__ERROR_CODE__ERR_STOPPING,
                   L->busy ? "busy" : "stopping");
        return;
    }
    node_job_t *nj = calloc(1, sizeof *nj);
    if (!nj) { send_error(L->s, m->env->job->job_id, DREAMFARM__ERROR_CODE__ERR_BAD_JOB, "out of memory"); return; }
    nj->env = m->env;
    nj->px = m->pixels;
    nj->len = m->pixels_len;
    nj->gen = L->gen;
    m->env = NULL;
    m->pixels = NULL;
    L->busy = nj;
    L->busy_id = nj->env->job->job_id;
    zmq_send(L->n->pair_net, &nj, sizeof nj, 0);
}

/* acts on one valid message from the coordinator, by type (others are ignored) */
static void on_message(node_loop_t *L, wire_msg_t *m) {
    switch (m->env->type) {
    case DREAMFARM__MSG_TYPE__MSG_WELCOME:
        L->welcomed = 1;
        L->backoff_s = 1;
        if (m->env->welcome->heartbeat_ms >= 50) L->hb_ms = (int)m->env->welcome->heartbeat_ms;
        if (m->env->welcome->liveness >= 1) L->liveness = (int)m->env->welcome->liveness;
        dlog_info(MOD, "welcomed as %s (heartbeat %d ms)%s", m->env->welcome->worker_id, L->hb_ms,
                  m->env->welcome->quarantined ? " — QUARANTINED, waiting for release" : "");
        break;
    case DREAMFARM__MSG_TYPE__MSG_REFUSAL:
        log_refusal(L->n, m->env->refusal);
        L->reconnect = 1;
        break;
    case DREAMFARM__MSG_TYPE__MSG_BYE:
        dlog_info(MOD, "coordinator said bye (%s)", m->env->bye->reason ? m->env->bye->reason : "");
        L->reconnect = 1;
        break;
    case DREAMFARM__MSG_TYPE__MSG_JOB:
        accept_job(L, m);
        break;
    case DREAMFARM__MSG_TYPE__MSG_HEARTBEAT:
        /* the coordinator wants the last result's rest now */
        if (m->env->heartbeat->has_send_rest_job && L->rest_base && m->env->heartbeat->send_rest_job == L->rest_job)
            send_rest(L);
        break;
    default: break;
    }
}

/* drains up to 64 waiting messages from the coordinator (malformed ones are logged and
 * dropped), stopping early when one of them asks for a reconnect */
static void receive_messages(node_loop_t *L) {
    for (int k = 0; k < 64; k++) {
        wire_msg_t m;
        dream_err_t err = {{0}};
        int rc = wire_recv(L->s, 0, ZMQ_DONTWAIT, &m, &err);
        if (rc == 0 || rc == -2) break;
        if (rc < 0) { dlog_warn(MOD, "dropped malformed message: %s", err.msg); continue; }
        L->last_recv = dream_now_ms();
        on_message(L, &m);
        wire_msg_clear(&m);
        if (L->reconnect) break;
    }
}

/* beats when the interval is up, and reconnects when the coordinator has been silent for
 * liveness intervals */
static void heartbeat_and_liveness(node_loop_t *L) {
    double now = dream_now_ms();
    if (L->s && !L->reconnect && now - L->last_hb >= L->hb_ms) {
        send_heartbeat(L->s, ++L->seq, L->busy_id, L->stopping);
        L->last_hb = now;
    }
    if (L->s && !L->reconnect && now - L->last_recv > (double)L->hb_ms * L->liveness) {
        dlog_warn(MOD, "coordinator silent for %.0f ms%s", now - L->last_recv, L->welcomed ? "" : " (no welcome)");
        L->reconnect = 1;
    }
}

/* says bye (why: stopping, or a lost backend) and closes, letting the last result leave */
static void leave_farm(node_loop_t *L) {
    send_rest(L);
    if (!L->s) return;
    send_bye(L->s, L->lost ? "backend lost (CUDA error): worker restarting" : "worker stopping");
    int linger = 1000;      /* let the last result and the bye leave */
    zmq_setsockopt(L->s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(L->s);
    L->s = NULL;
}

int node_run(node_t *n, volatile sig_atomic_t *stop) {
    node_loop_t L = {.n = n, .stop = stop, .hb_ms = n->cfg.heartbeat_ms, .liveness = n->cfg.liveness,
                     .backoff_s = 1, .t_start = dream_now_ms(), .reconnect = 1};
    for (;;) {
        check_stop(&L);
        if (L.stopping && !L.busy) break;
        if (L.reconnect && !L.stopping && connect_step(&L) != 0) continue;
        int ev = wait_events(&L);
        if (ev < 0) break;
        if (ev & EV_COMPUTE) collect_job(&L);
        if (ev & EV_COORD) receive_messages(&L);
        if (L.rest_base && dream_now_ms() >= L.rest_due) send_rest(&L);
        heartbeat_and_liveness(&L);
    }
    leave_farm(&L);
    dlog_info(MOD, "stopped after %llu jobs", (unsigned long long)L.jobs);
    return L.lost ? -1 : 0;
}
