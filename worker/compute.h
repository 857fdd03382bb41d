/*
 * compute.h — the one seam between dream-worker's farm node (node.c) and what computes a
 * job: a small table of functions plus an opaque ctx (like backend.h one level up), chosen
 * by name from one registry (compute.c) that `--backend auto|cpu|cuda|sim` selects from.
 *
 *   engine  (compute_engine.c, names auto|cpu|cuda): the dream engine on a dream_backend_t
 *           (backend.h's op table), masks from the job's subjects; what every real worker runs.
 *   sim     (sim.c, name sim): simulated compute for tests and benchmarks only, never a
 *           default; dreamd refuses it unless --allow-sim.
 *
 * The per-op backend table is the wrong level for the sim: it models a whole job's time
 * (and its link), not VGG's ops. The node keeps everything common to both: the resident
 * canvas, the 8-bit <-> float pixels, compute_ms, the wire.
 */
#ifndef DREAM_COMPUTE_H
#define DREAM_COMPUTE_H
#include <stddef.h>
#include <stdint.h>
#include "dlog.h"
#include "engine.h"             /* dream_losses_t */
#include "node.h"               /* node_cfg_t */
#include "dreamfarm.pb-c.h"     /* Dreamfarm__Job */

typedef struct dream_compute_i {
    void (*destroy)(void *ctx);
    /* Runs the (validated) job on img (h, w, 3) floats 0..255, in place, and fills losses.
     * spent_ms: ms of this job's device work already done by the node (the resident canvas's
     * warp; a modelled device counts it in its time). 0, or -1 with err (the text the
     * coordinator gets in the Error). */
    int (*run)(void *ctx, const Dreamfarm__Job *job, float *img, double spent_ms, dream_losses_t *losses,
               dream_err_t *err);
    /* 1 when it can never succeed again (a CUDA context after a sticky error): the worker
     * leaves the farm and exits non-zero. NULL = never. */
    int (*lost)(void *ctx);
    /* ms a modelled link takes to move `bytes` (the sim's --sim-link-mbps); the node waits it
     * before and after the job, outside compute_ms. NULL = a real link (0). */
    double (*link_ms)(void *ctx, size_t bytes);
    /* A tile-resident job's warp on the device (Job.result_fixed): out (th, tw, 3) floats = the
     * tile (tx, ty, tw, th) of the canvas (cw x ch) warped by zoom / angle, sampled from win88,
     * the job's window (sx, sy, sw, sh) as 8.8 LE bytes (Job.warp_source). NULL = the node
     * warps on its host CPU (dream_warp_window, bicubic/bilinear as the job says). The engine
     * on a CUDA backend: the backend's warp_window kernel (window up, tile down). The sim's
     * --sim-device-warp: a nearest-sample stand-in whose time the sim's model covers. */
    int (*warp_window)(void *ctx, const uint8_t *win88, const int src[4], int cw, int ch, double zoom,
                       double angle_deg, int bicubic, const int tile[4], float *out, dream_err_t *err);
    /* run for a tile-resident job whose result goes back in 8.8 (Job.result_fixed): the result
     * made where the image is, into out88 (tile w * h * 3 values, 8.8 LE) in split order around
     * hole (tile pixels, w 0: raster order; common/tilesplit.h), as the node's own
     * conversion makes it. The engine: on its backend (result88: on a GPU, half the bytes down
     * and no host pass); the sim: inside its modelled time, as a GPU's. Returns 0 done, 1 when
     * it could not (a backend without result88: img holds the floats, the node converts), -1
     * with err. NULL = run, then the node converts. */
    int (*run88)(void *ctx, const Dreamfarm__Job *job, float *img, double spent_ms, const int hole[4], uint8_t *out88,
                 dream_losses_t *losses, dream_err_t *err);
} dream_compute_i;

typedef struct dream_compute {
    const dream_compute_i *iface;
    void *ctx;
    /* what the Hello announces */
    char name[16];              /* backend: "cpu" | "cuda" | "sim" */
    char device[128];           /* human readable device description */
    char hash[64];              /* model hash ("sim" for the sim) */
    size_t mem_total;           /* bytes of device memory (0 = host / unknown) */
    double ms_mpix;             /* claimed ms per megapixel-step */
    uint64_t max_px;            /* largest tile accepted */
    int min_side;               /* smallest tile side */
    int untrained;              /* random weights */
    char weights[600];          /* for the model-refusal log: the --weights it runs ("-, sim backend") */
} dream_compute_t;

/* The registry: the compute for cfg->backend, set up (weights, backend, measured speed) and
 * logged. NULL with err on failure. */
dream_compute_t *dream_compute_new(const node_cfg_t *cfg, dream_err_t *err);
void dream_compute_destroy(dream_compute_t **c);
/* 1 when name is in the registry */
int dream_compute_known(const char *name);
/* the registry's names as "auto|cpu|cuda|sim" in buf (for option errors); returns buf */
const char *dream_compute_names(char *buf, size_t n);

static inline int dream_compute_lost(const dream_compute_t *c) {
    return c && c->iface && c->iface->lost ? c->iface->lost(c->ctx) : 0;
}
static inline double dream_compute_link_ms(const dream_compute_t *c, size_t bytes) {
    return c && c->iface && c->iface->link_ms ? c->iface->link_ms(c->ctx, bytes) : 0;
}

/* implementations (fill *c and return 0, or -1 with err; c->ctx is freed by iface->destroy) */
int dream_compute_engine_init(dream_compute_t *c, const node_cfg_t *cfg, dream_err_t *err);
int dream_compute_sim_init(dream_compute_t *c, const node_cfg_t *cfg, dream_err_t *err);

#endif
