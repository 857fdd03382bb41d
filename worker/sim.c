/*
 * sim.c — the simulated compute of dream-worker (`--backend sim`), for tests and benchmarks
 * only, never a default (dreamd refuses it unless --allow-sim); one row of the compute
 * registry (compute.h) like the engine. A job takes a fixed time per megapixel-step
 * (--sim-ms-per-mpix-step; it sleeps for what its pattern does not use) and (cheaply) smooths
 * and tints the tile with a pattern that is a function of CANVAS coordinates (so a correct
 * blend shows no seams) and of the keyframe and subjects (so results are visibly different).
 *
 * Models, for the farm's tests and benchmarks:
 *   --sim-link-mbps        the worker's link: a job's bytes take their transfer time before
 *                          and after it (bench/farm_bench.sh LINK_MBPS)
 *   --sim-device-warp      a tile-resident job's warp is the modelled device's (sim_warp_window)
 *   --sim-device-thread    the modelled device's pixel work (pattern, device warp) runs on a
 *                          thread of its own at low priority (nice 10): several simulated GPUs
 *                          on one machine then give way to the coordinator's and the other
 *                          workers' host work, as GPUs on their own machines take none of it;
 *                          the time model (sleep to the modelled end) is unchanged
 *   DREAM_SIM_LOSE_AFTER=N a device lost for good (a CUDA context after a sticky error) on
 *                          job N+1 (tests/integration/farm_lost_backend.sh)
 */
#define _GNU_SOURCE
#include "compute.h"
#include "tilesplit.h"
#include "image.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MOD "worker"

#define DEVICE_NICE 10

/* --sim-device-thread: the modelled device, one call at a time (the compute thread hands it a
 * call and waits for it: a queue of one) */
typedef struct sim_device {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*fn)(void *);         /* the call in hand (NULL: none) */
    void *arg;
    int stop;
} sim_device_t;

typedef struct sim_ctx {
    double ms_per_mpix_step;
    double link_mbps;           /* 0 = no link model */
    int lose;                   /* DREAM_SIM_LOSE_AFTER is set */
    char lose_after[32];        /* its value */
    unsigned jobs;              /* jobs started (counted while lose_after is set) */
    int lost;
    sim_device_t *dev;          /* --sim-device-thread, else NULL (the calls run here) */
} sim_ctx_t;

static void *device_main(void *arg) {
    sim_device_t *d = arg;
    /* a low priority (nice 10: about a ninth of a normal thread's share when the cores are
     * busy): a GPU on another machine takes none of this host's CPU, so the host work of the
     * coordinator and the workers goes first; not SCHED_IDLE, which starved eight simulated
     * 4K devices on two busy cores past their modelled time */
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice0 = getpriority(PRIO_PROCESS, tid);     /* relative to the worker's own niceness */
    if (errno == 0) setpriority(PRIO_PROCESS, tid, nice0 + DEVICE_NICE > 19 ? 19 : nice0 + DEVICE_NICE);
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->stop && !d->fn) pthread_cond_wait(&d->cv, &d->mu);
        if (d->stop) break;     /* (device_destroy runs after the compute thread is joined: no call waits) */
        pthread_mutex_unlock(&d->mu);
        d->fn(d->arg);
        pthread_mutex_lock(&d->mu);
        d->fn = NULL;
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static sim_device_t *device_new(void) {
    sim_device_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    if (pthread_create(&d->th, NULL, device_main, d) != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

static void device_destroy(sim_device_t **pd) {
    if (!pd || !*pd) return;
    sim_device_t *d = *pd;
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->th, NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    *pd = NULL;
}

/* fn(arg) on the modelled device (its thread), waiting for it; here without one */
static void device_call(sim_ctx_t *s, void (*fn)(void *), void *arg) {
    sim_device_t *d = s->dev;
    if (!d) {
        fn(arg);
        return;
    }
    pthread_mutex_lock(&d->mu);
    d->fn = fn;
    d->arg = arg;
    pthread_cond_broadcast(&d->cv);
    while (d->fn) pthread_cond_wait(&d->cv, &d->mu);
    pthread_mutex_unlock(&d->mu);
}

/* the monotonic clock ms from now */
static struct timespec deadline_in(double ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0) ms = 0;
    long long ns = (long long)ts.tv_nsec + (long long)(ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

static void sleep_until(const struct timespec *ts) {
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts, NULL) == EINTR) {}
}

typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));
static inline v4f load4f(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* img (h, w, 3) in/out, 0..255: pulled towards a pattern in canvas coordinates (origin gx,
 * gy), from the keyframe and the subjects' classes; returns the mean absolute change */
static double sim_pattern(float *img, const Dreamfarm__Job *job) {
    /* cheap on purpose (the farm is what is measured): pull each pixel towards a pattern in
     * canvas coordinates, a light horizontal smoothing, then clip */
    const int w = job->tile->w, h = job->tile->h, gx = job->tile->x, gy = job->tile->y;
    double phase = job->keyframe_id * 0.3;
    for (size_t s = 0; s < job->n_subjects; s++) phase += job->subjects[s]->class_id * 0.01;
    /* per pixel the same float arithmetic as ever; the change is summed per row in four
     * float partial sums (a single double chain was latency-bound: ~10 ms of CPU per 1080p
     * job, which a GPU worker does not spend on its host) */
    double change = 0;
    float *row = malloc((size_t)w * sizeof(float)), *cx = malloc((size_t)w * sizeof(float));
    if (!row || !cx) {
        free(row);
        free(cx);
        return 0;
    }
    for (int x = 0; x < w; x++) cx[x] = (float)sin((gx + x) * 0.07 + phase);
    /* x in [4, vend) goes four at a time as one vector whose lane k is part[k] (x & 3 == k):
     * every lane sums its pixels in the same order as the scalar loop, so the result is the
     * same bit for bit (the scalar loop covers the edges) */
    int vend = w >= 9 ? 4 + (w - 5) / 4 * 4 : 4;
    if (vend > w - 1) vend = 4;
    for (int y = 0; y < h; y++) {
        float cy = (float)(10 * cos((gy + y) * 0.05 - phase));
        float *p = img + (size_t)y * w * 3;
        float part[4] = {0, 0, 0, 0};
        for (int c = 0; c < 3; c++) {
            float gain = c == 0 ? 1.0f : c == 1 ? -0.5f : 0.3f;
            for (int x = 0; x < w; x++) row[x] = p[3 * x + c];
            for (int x = 0; x < w; x++) {
                if (x == 4 && vend > 4) {
                    v4f acc;
                    memcpy(&acc, part, sizeof acc);
                    for (; x < vend; x += 4) {
                        v4f l = load4f(row + x - 1), m = load4f(row + x), r = load4f(row + x + 1);
                        v4f v = 0.25f * l + 0.5f * m + 0.25f * r + load4f(cx + x) * cy * gain;
                        v4i lo = v < 0.0f, hi = v > 255.0f;
                        v = (v4f)(((v4i)v & ~lo & ~hi) | ((v4i)(v4f){255.0f, 255.0f, 255.0f, 255.0f} & hi));
                        acc += (v4f)((v4i)(v - m) & 0x7fffffff);
                        for (int k = 0; k < 4; k++) p[3 * (x + k) + c] = v[k];
                    }
                    memcpy(part, &acc, sizeof acc);
                    if (x >= w) break;
                }
                float l = row[x > 0 ? x - 1 : x], r = row[x + 1 < w ? x + 1 : x];
                float v = 0.25f * l + 0.5f * row[x] + 0.25f * r + cx[x] * cy * gain;
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                part[x & 3] += fabsf(v - row[x]);
                p[3 * x + c] = v;
            }
        }
        change += (double)part[0] + part[1] + part[2] + part[3];
    }
    free(row);
    free(cx);
    return change / ((double)w * h * 3);
}

typedef struct {
    float *img;
    const Dreamfarm__Job *job;
    double change;
    uint8_t *out88;             /* run88: the result in 8.8 split order around hole, else NULL */
    tilesplit_rect_t hole;      /* (tile pixels) */
} pattern_call_t;
static void pattern_fn(void *arg) {
    pattern_call_t *p = arg;
    p->change = sim_pattern(p->img, p->job);
    if (p->out88) tilesplit_rows88(p->img, p->job->tile->w, p->job->tile->h, &p->hole, 0, p->job->tile->h, p->out88);
}

/* a job (run88: out88 non-NULL, the 8.8 result around hole, tile pixels, made on the device
 * too, inside the modelled time, as the CUDA engine's result88 does) */
static int sim_job(sim_ctx_t *s, const Dreamfarm__Job *job, float *img, double spent_ms, const int *hole, uint8_t *out88,
                   dream_losses_t *losses, dream_err_t *err) {
    if (s->lose && ++s->jobs > (unsigned)atoi(s->lose_after)) {
        s->lost = 1;
        return dream_err_set(err, "sim: device lost (DREAM_SIM_LOSE_AFTER=%.20s)", s->lose_after);
    }
    /* the modelled time covers the whole job: the pattern's own CPU time is part of it (a
     * real engine's cost is all compute), and so is device work before it (spent_ms: the
     * resident warp, which a GPU does in well under a ms), so the sim takes exactly the model
     * unless the CPU is so loaded that the pattern alone takes longer */
    struct timespec end =
        deadline_in(s->ms_per_mpix_step * ((double)job->tile->w * job->tile->h / 1e6) * job->steps - spent_ms);
    pattern_call_t pc = {img, job, 0, out88, {0, 0, 0, 0}};
    if (hole) pc.hole = (tilesplit_rect_t){hole[0], hole[1], hole[2], hole[3]};
    device_call(s, pattern_fn, &pc);
    sleep_until(&end);
    losses->total = losses->net = pc.change;
    return 0;
}

static int sim_run(void *vctx, const Dreamfarm__Job *job, float *img, double spent_ms, dream_losses_t *losses,
                   dream_err_t *err) {
    return sim_job(vctx, job, img, spent_ms, NULL, NULL, losses, err);
}

/* --sim-device-warp (a GPU worker, modelled): its result in 8.8 from the device as well */
static int sim_run88(void *vctx, const Dreamfarm__Job *job, float *img, double spent_ms, const int hole[4],
                     uint8_t *out88, dream_losses_t *losses, dream_err_t *err) {
    return sim_job(vctx, job, img, spent_ms, hole, out88, losses, err);
}

/* --sim-device-warp: a tile-resident job's warp as a device does it, modelled: the sim's
 * time model covers it (the node passes it as spent_ms), and the host only takes the nearest
 * sample (the same geometry as common/warp.c: s = c + R(angle) (p - c) / zoom), so the four
 * simulated GPUs of a benchmark do not spend the coordinator's cores on bicubic warps that
 * real workers run on their own machines. The pixels are a stand-in, as the sim's are. */
typedef struct {
    const uint8_t *win88;
    const int *src, *tile;
    double cx, cy, a, b;
    float *out;
} nearest_call_t;
static void nearest_fn(void *arg);

static int sim_warp_window(void *vctx, const uint8_t *win88, const int src[4], int cw, int ch, double zoom,
                           double angle_deg, int bicubic, const int tile[4], float *out, dream_err_t *err) {
    (void)bicubic;      /* a stand-in: the nearest sample either way */
    nearest_call_t nc = {win88, src, tile, 0, 0, 0, 0, out};
    if (dream_warp_coeffs(cw, ch, zoom, angle_deg, &nc.cx, &nc.cy, &nc.a, &nc.b, err) != 0) return -1;
    device_call(vctx, nearest_fn, &nc);
    return 0;
}

static void nearest_fn(void *arg) {
    const nearest_call_t *nc = arg;
    const uint8_t *win88 = nc->win88;
    const int *src = nc->src, *tile = nc->tile;
    const double cx = nc->cx, cy = nc->cy, a = nc->a, b = nc->b;
    float *out = nc->out;
    /* the sample positions in 32.32 fixed point, stepped per pixel (a stand-in: the nearest
     * sample of about the same geometry, cheap, so that simulated devices sharing one machine
     * take little of it) */
    const double one = 4294967296.0;
    const int64_t sa = (int64_t)llround(a * one), sb = (int64_t)llround(b * one);
    const int64_t xmax = (int64_t)(src[2] - 1), ymax = (int64_t)(src[3] - 1);
    for (int y = 0; y < tile[3]; y++) {
        double dy = tile[1] + y - cy, dx0 = tile[0] - cx;
        /* window coordinates + 0.5 (so truncation rounds; clamped below before any use) */
        double fx = cx + a * dx0 - b * dy - src[0] + 0.5, fy = cy + b * dx0 + a * dy - src[1] + 0.5;
        int64_t qx = (int64_t)llround(fx * one), qy = (int64_t)llround(fy * one);
        float *o = out + (size_t)y * tile[2] * 3;
        for (int x = 0; x < tile[2]; x++, qx += sa, qy += sb) {
            int64_t sx = qx >> 32, sy = qy >> 32;
            sx = sx < 0 ? 0 : sx > xmax ? xmax : sx;
            sy = sy < 0 ? 0 : sy > ymax ? ymax : sy;
            const uint8_t *q = win88 + ((size_t)sy * (size_t)src[2] + (size_t)sx) * 6;
            o[3 * x] = (float)(q[0] | (q[1] << 8)) * (1.0f / 256.0f);
            o[3 * x + 1] = (float)(q[2] | (q[3] << 8)) * (1.0f / 256.0f);
            o[3 * x + 2] = (float)(q[4] | (q[5] << 8)) * (1.0f / 256.0f);
        }
    }
}

static int sim_lost(void *vctx) { return ((sim_ctx_t *)vctx)->lost; }

static double sim_link_ms(void *vctx, size_t bytes) {
    const sim_ctx_t *s = vctx;
    return s->link_mbps > 0 ? bytes * 8.0 / (s->link_mbps * 1e3) : 0;   /* Mbit/s = 1e3 bits per ms */
}

static void sim_destroy(void *vctx) {
    sim_ctx_t *s = vctx;
    if (s) device_destroy(&s->dev);
    free(s);
}

static const dream_compute_i sim_iface = {
    .destroy = sim_destroy,
    .run = sim_run,
    .lost = sim_lost,
    .link_ms = sim_link_ms,
};

static const dream_compute_i sim_device_warp_iface = {
    .destroy = sim_destroy,
    .run = sim_run,
    .lost = sim_lost,
    .link_ms = sim_link_ms,
    .warp_window = sim_warp_window,
    .run88 = sim_run88,
};

int dream_compute_sim_init(dream_compute_t *c, const node_cfg_t *cfg, dream_err_t *err) {
    sim_ctx_t *s = calloc(1, sizeof *s);
    if (!s) return dream_err_set(err, "out of memory");
    s->ms_per_mpix_step = cfg->sim_ms_per_mpix_step;
    s->link_mbps = cfg->sim_link_mbps;
    const char *lose = getenv("DREAM_SIM_LOSE_AFTER");
    if (lose) {
        s->lose = 1;
        snprintf(s->lose_after, sizeof s->lose_after, "%s", lose);
    }
    if (cfg->sim_device_thread && !(s->dev = device_new())) {
        free(s);
        return dream_err_set(err, "sim: cannot start the device thread");
    }
    c->iface = cfg->sim_device_warp ? &sim_device_warp_iface : &sim_iface;
    c->ctx = s;
    snprintf(c->name, sizeof c->name, "sim");
    snprintf(c->hash, sizeof c->hash, "sim");
    snprintf(c->device, sizeof c->device, "simulated (%.1f ms/MPx-step)", cfg->sim_ms_per_mpix_step);
    snprintf(c->weights, sizeof c->weights, "-, sim backend");
    c->mem_total = 0;
    c->untrained = 1;
    c->ms_mpix = cfg->speed_ms > 0 ? cfg->speed_ms : cfg->sim_ms_per_mpix_step > 0 ? cfg->sim_ms_per_mpix_step : 0.01;
    c->max_px = cfg->max_tile_pixels > 0 ? (uint64_t)cfg->max_tile_pixels : 16u * 1024u * 1024u;
    c->min_side = 224;
    dlog_warn(MOD, "SIM backend: simulated compute for tests/benchmarks, not a dream");
    return 0;
}
