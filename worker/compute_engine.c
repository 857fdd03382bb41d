/*
 * compute_engine.c — the real compute of dream-worker (`--backend auto|cpu|cuda`): the dream
 * engine (engine.h) on a backend from backend.h's op table, with the job's subjects turned
 * into score-grid masks; at start it opens the weights and the patch prior and measures (or
 * takes --speed-ms) the speed the Hello claims. See compute.h.
 */
#define _GNU_SOURCE
#include "compute.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "backend.h"
#include "model.h"
#include "paths.h"

#define MOD "worker"

typedef struct engine_ctx {
    dream_backend_t *be;
    dream_model_t *model;
    dream_prior_t *prior;
    dream_engine_t *engine;
    /* a device's tile warp (engine_warp_window): the window and the tile on the device, kept */
    void *dwin, *dout;
    size_t dwin_cap, dout_cap;
} engine_ctx_t;

static void engine_destroy(void *vctx) {
    engine_ctx_t *e = vctx;
    if (!e) return;
    dream_engine_destroy(&e->engine);
    if (e->be && e->dwin) e->be->iface->free(e->be->ctx, e->dwin);
    if (e->be && e->dout) e->be->iface->free(e->be->ctx, e->dout);
    dream_prior_destroy(&e->prior);
    dream_backend_destroy(&e->be);
    dream_model_destroy(&e->model);
    free(e);
}

/* the job's subjects as nsubj x (gh x gw) masks over the model's score grid: a subject's
 * mask (scaled), else its rectangle, else the whole tile; a region smaller than a cell
 * takes the cell under its centre. *masks_out is NULL when the job has no subjects. */
static int build_masks(const dream_model_t *model, const Dreamfarm__Job *job, int W, int H, uint8_t **masks_out,
                       int *cls, int *nsubj, dream_err_t *err) {
    int ns = (int)job->n_subjects;
    *nsubj = ns;
    *masks_out = NULL;
    if (ns == 0) return 0;
    int gh, gw;
    if (dream_model_grid(model, H, W, &gh, &gw, err) != 0) return -1;
    uint8_t *m = calloc((size_t)ns * gh * gw, 1);
    if (!m) return dream_err_set(err, "out of memory");
    for (int s = 0; s < ns; s++) {
        const Dreamfarm__Subject *sj = job->subjects[s];
        cls[s] = sj->class_id;
        uint8_t *ms = m + (size_t)s * gh * gw;
        int any = 0;
        for (int i = 0; i < gh; i++)
            for (int j = 0; j < gw; j++) {
                double py = (i + 0.5) * H / gh, px = (j + 0.5) * W / gw;
                int in = 1;
                if (sj->has_mask) {
                    int my = (int)(py * sj->mask_h / H), mx = (int)(px * sj->mask_w / W);
                    in = sj->mask.data[(size_t)my * sj->mask_w + mx] != 0;
                } else if (sj->rect) {
                    const Dreamfarm__Rect *r = sj->rect;
                    in = py >= r->y && py < r->y + r->h && px >= r->x && px < r->x + r->w;
                }
                ms[i * gw + j] = (uint8_t)in;
                any |= in;
            }
        if (!any) {     /* a region smaller than a cell: take the cell under its centre */
            double cy = sj->rect ? sj->rect->y + sj->rect->h / 2.0 : H / 2.0;
            double cx = sj->rect ? sj->rect->x + sj->rect->w / 2.0 : W / 2.0;
            int i = (int)(cy * gh / H), j = (int)(cx * gw / W);
            if (i >= gh) i = gh - 1;
            if (j >= gw) j = gw - 1;
            ms[i * gw + j] = 1;
        }
    }
    *masks_out = m;
    return 0;
}

/* the job's dream parameters (masks: freed by the caller) */
static int job_params(engine_ctx_t *e, const Dreamfarm__Job *job, dream_params_t *p, uint8_t **masks, dream_err_t *err) {
    dream_err_t ierr = {{0}};
    int cls[DREAM_MAX_SUBJECTS] = {0}, ns = 0;
    dream_params_default(p);
    if (build_masks(e->model, job, job->tile->w, job->tile->h, masks, cls, &ns, &ierr) != 0)
        return dream_err_set(err, "%.200s", ierr.msg);
    p->nsubj = ns;
    memcpy(p->cls, cls, sizeof cls);
    p->masks = *masks;
    p->steps = job->steps;
    p->lr = job->lr;
    p->mean_weight = job->mean_weight;
    p->prior_strength = e->prior ? job->prior_strength : 0;
    p->jitter = job->jitter;
    p->seed = job->seed;
    /* absent = the proto default OPTIM_SEED; other values were refused by wire_validate */
    p->optim = job->optimizer == DREAMFARM__OPTIMIZER__OPTIM_ADAM ? DREAM_OPTIM_ADAM : DREAM_OPTIM_SEED;
    return 0;
}

/* a job on the engine; out88 non-NULL: its result as 8.8 in split order around hole (tile
 * pixels) from the backend (dream_engine_run88: 1 when the backend has no result88) */
static int engine_job(engine_ctx_t *e, const Dreamfarm__Job *job, float *img, const int *hole, uint8_t *out88,
                      dream_losses_t *losses, dream_err_t *err) {
    dream_err_t ierr = {{0}};
    dream_params_t p;
    uint8_t *masks = NULL;
    if (job_params(e, job, &p, &masks, err) != 0) return -1;
    int H = job->tile->h, W = job->tile->w;
    int rc = out88 ? dream_engine_run88(e->engine, img, H, W, &p, hole[0], hole[1], hole[2], hole[3], out88, losses, &ierr)
                   : dream_engine_run(e->engine, img, H, W, &p, losses, &ierr);
    if (rc < 0) rc = dream_err_set(err, "engine: %.200s", ierr.msg);
    free(masks);
    return rc;
}

static int engine_run(void *vctx, const Dreamfarm__Job *job, float *img, double spent_ms, dream_losses_t *losses,
                      dream_err_t *err) {
    (void)spent_ms;     /* real time: the node measures it */
    return engine_job(vctx, job, img, NULL, NULL, losses, err);
}

static int engine_run88(void *vctx, const Dreamfarm__Job *job, float *img, double spent_ms, const int hole[4],
                        uint8_t *out88, dream_losses_t *losses, dream_err_t *err) {
    (void)spent_ms;
    return engine_job(vctx, job, img, hole, out88, losses, err);
}

static int engine_lost(void *vctx) { return dream_backend_lost(((engine_ctx_t *)vctx)->be); }

/* a device buffer of the backend grown to `bytes` (kept across jobs); 0 or -1 */
static int dev_reserve(engine_ctx_t *e, void **p, size_t *cap, size_t bytes) {
    if (*p && *cap >= bytes) return 0;
    if (*p) e->be->iface->free(e->be->ctx, *p);
    *p = e->be->iface->alloc(e->be->ctx, bytes);
    *cap = *p ? bytes : 0;
    return *p ? 0 : -1;
}

/* a tile-resident job's warp on the device (compute.h): the 8.8 window up, the backend's
 * warp_window kernel, the float tile down (the engine takes host pixels) */
static int engine_warp_window(void *vctx, const uint8_t *win88, const int src[4], int cw, int ch, double zoom,
                              double angle_deg, int bicubic, const int tile[4], float *out, dream_err_t *err) {
    engine_ctx_t *e = vctx;
    const dream_backend_i *op = e->be->iface;
    void *bctx = e->be->ctx;
    size_t wb = (size_t)src[2] * src[3] * 6, ob = (size_t)tile[2] * tile[3] * 3 * sizeof(float);
    if (dev_reserve(e, &e->dwin, &e->dwin_cap, wb) != 0 || dev_reserve(e, &e->dout, &e->dout_cap, ob) != 0 ||
        op->upload(bctx, e->dwin, win88, wb) != 0 ||
        op->warp_window(bctx, (const uint16_t *)e->dwin, src[0], src[1], src[2], src[3], cw, ch, zoom, angle_deg,
                        bicubic, tile[0], tile[1], tile[2], tile[3], (float *)e->dout) != 0 ||
        op->download(bctx, out, e->dout, ob) != 0)
        return dream_err_set(err, "%s warp: %.200s", e->be->name, op->last_error(bctx));
    return 0;
}

static const dream_compute_i engine_iface = {
    .destroy = engine_destroy,
    .run = engine_run,
    .lost = engine_lost,
    .link_ms = NULL,
};

/* on a device backend the tile warp is the device's too (the CPU engine's would be the node's
 * own host warp: the same dream_warp_window, without the copies) */
static const dream_compute_i engine_dev_iface = {
    .destroy = engine_destroy,
    .run = engine_run,
    .lost = engine_lost,
    .link_ms = NULL,
    .warp_window = engine_warp_window,
    .run88 = engine_run88,
};

/* ms per megapixel-step: --speed-ms, else one step at the minimum side timed (after a warm-up) */
static int measure_speed(engine_ctx_t *e, const node_cfg_t *cfg, int S, double *ms_mpix, dream_err_t *err) {
    if (cfg->speed_ms > 0) {
        *ms_mpix = cfg->speed_ms;
        return 0;
    }
    float *img = malloc((size_t)S * S * 3 * sizeof(float));
    if (!img) return dream_err_set(err, "out of memory");
    for (int i = 0; i < S * S * 3; i++) img[i] = (float)(i * 37 % 256);
    dream_params_t p;
    dream_params_default(&p);
    p.steps = 1;
    dream_losses_t l;
    if (dream_engine_grad(e->engine, img, S, S, &p, NULL, &l, err) != 0) { free(img); return -1; }
    double t0 = dream_now_ms();
    int rc = dream_engine_grad(e->engine, img, S, S, &p, NULL, &l, err);
    double ms = dream_now_ms() - t0;
    free(img);
    if (rc != 0) return -1;
    *ms_mpix = ms / ((double)S * S / 1e6);
    dlog_info(MOD, "measured %.1f ms per megapixel-step (%dx%d step in %.1f ms)", *ms_mpix, S, S, ms);
    return 0;
}

/* largest tile: --max-tile-pixels, else from device memory, else from host memory */
static uint64_t max_tile_pixels(const node_cfg_t *cfg, const dream_backend_t *be, int min_side) {
    uint64_t max_px;
    if (cfg->max_tile_pixels > 0) max_px = (uint64_t)cfg->max_tile_pixels;
    else if (be->mem_total > 0) max_px = be->mem_total / 8192;   /* ~8 KB/px of VGG activations + grads */
    else {
        /* host memory: activations, gradients and im2col buffers take a few KB per pixel */
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        uint64_t ram = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : (uint64_t)8 << 30;
        max_px = ram / 8192;
        if (max_px > 16u * 1024u * 1024u) max_px = 16u * 1024u * 1024u;
    }
    if (max_px < (uint64_t)min_side * min_side) max_px = (uint64_t)min_side * min_side;
    return max_px;
}

int dream_compute_engine_init(dream_compute_t *c, const node_cfg_t *cfg, dream_err_t *err) {
    dream_prec_t prec;
    if (dream_prec_parse(cfg->prec, &prec) != 0) return dream_err_set(err, "option 'precision': bad '%s'", cfg->prec);
    engine_ctx_t *e = calloc(1, sizeof *e);
    if (!e) return dream_err_set(err, "out of memory");
    c->iface = &engine_iface;   /* from here on, dream_compute_destroy frees what is made */
    c->ctx = e;
    e->model = dream_model_open(cfg->weights, err);
    if (!e->model) return -1;
    e->be = dream_backend_new(cfg->backend, cfg->device, cfg->threads, prec, err);
    if (!e->be) return -1;
    char pp[1024] = "";
    if (!strcmp(cfg->prior, "auto")) {
        struct stat st;
        dream_data_path("prior.safetensors", pp, sizeof pp);
        if (stat(pp, &st) != 0) pp[0] = 0;
    } else if (strcmp(cfg->prior, "none") != 0) {
        snprintf(pp, sizeof pp, "%s", cfg->prior);
    }
    if (pp[0]) {
        e->prior = dream_prior_load(pp, DREAM_PRIOR_STUDENT, err);
        if (!e->prior) return -1;
    } else {
        dlog_warn(MOD, "no patch prior (data/prior.safetensors missing or --prior none): prior term off");
    }
    if (strcmp(e->be->name, "cpu") && e->be->iface->warp_window) c->iface = &engine_dev_iface;
    e->engine = dream_engine_new(e->model, e->prior, e->be, err);
    if (!e->engine) return -1;
    c->min_side = dream_model_min_side(e->model);
    snprintf(c->name, sizeof c->name, "%s", e->be->name);
    snprintf(c->hash, sizeof c->hash, "%s", e->model->hash);
    snprintf(c->device, sizeof c->device, "%s", e->be->device);
    c->mem_total = e->be->mem_total;
    c->untrained = !e->model->trained;
    snprintf(c->weights, sizeof c->weights, "%.512s%s", cfg->weights, c->untrained ? ", UNTRAINED" : "");
    char desc[700];
    dream_model_describe(e->model, desc, sizeof desc);
    dlog_info(MOD, "model: %s", desc);
    if (measure_speed(e, cfg, c->min_side, &c->ms_mpix, err) != 0) return -1;
    c->max_px = max_tile_pixels(cfg, e->be, c->min_side);
    return 0;
}
