/*
 * engine.h — the dream engine: VGG forward + gradient of the dream objective
 * w.r.t. the input pixels, and optimiser steps on the pixels (the 2015 reference's "seed"
 * update by default, textbook Adam as an option), on any backend.
 *
 * Objective, pixels x (H, W, 3) in 0..255 RGB:
 *   L = - sum_s mean_{(i,j) in R_s} logit[c_s, i, j]      (s over dream_params_subjects())
 *       + w_o * mean_{c,i,j} logit
 *       + S * (1/npools) * sum_p L_p(x)            (patch prior: engine.c, its filters prior_io.c)
 * Regions R_s live on the score grid (gh, gw); see dream_regions_build() (the layout
 * rules: common/layout.h).
 */
#ifndef DREAM_ENGINE_H
#define DREAM_ENGINE_H
#include <stdint.h>
#include <stddef.h>
#include "dlog.h"
#include "classes.h"
#include "layout.h"
#include "backend.h"
#include "model.h"

/* DREAM_MAX_SUBJECTS: common/classes.h */
#define DREAM_MAX_POOLS 8

/* dream_layout_t (DREAM_LAYOUT_*): common/layout.h */

int dream_layout_parse(const char *s, dream_layout_t *out);
const char *dream_layout_name(dream_layout_t l);

/* The learned patch prior (filters in cross-correlation form). */
typedef struct dream_prior {
    int kind;               /* DREAM_PRIOR_STUDENT | DREAM_PRIOR_GAUSS */
    int k;                  /* patch side, 8 */
    int nfilt;              /* 192 */
    float *w;               /* (k, k, 3, nfilt): cross-correlation filters (already flipped) */
    float *mean;            /* (nfilt) */
} dream_prior_t;

/* Loads data/prior.safetensors style files (tensors "<kind>.filters" (8,8,3,192) and
 * "<kind>.mean" (192), kind "student" | "gauss"). */
dream_prior_t *dream_prior_load(const char *path, int kind, dream_err_t *err);
void dream_prior_destroy(dream_prior_t **p);

typedef struct dream_params {
    int nsubj;
    int cls[DREAM_MAX_SUBJECTS];
    dream_layout_t layout;
    /* Optional explicit masks (nsubj x gh x gw bytes) instead of layout, e.g. a farm tile's
     * slice of the global target map; NULL = build from layout. */
    const uint8_t *masks;
    float mean_weight;      /* w_o, default 1 */
    float prior_strength;   /* S, default 10 */
    int prior_kind;         /* DREAM_PRIOR_STUDENT default */
    float prior_nu;         /* 0.665248 */
    int npools;
    int pools[DREAM_MAX_POOLS]; /* default {1,4,8,16,32} */
    /* pixel optimiser (backend adam op; t and its state reset every run = keyframe) */
    dream_optim_t optim;    /* DREAM_OPTIM_SEED (the 2015 reference's, default) | DREAM_OPTIM_ADAM */
    int steps;              /* default 10 */
    float lr, beta1, beta2, eps;  /* 5, 0.9, 0.999, 1e-8 */
    int jitter;             /* max roll in pixels per step, 0 = off */
    uint64_t seed;          /* jitter RNG */
} dream_params_t;

void dream_params_default(dream_params_t *p);

/* The subjects the objective uses: p's own, except that ONE subject A with the 'seed' layout
 * and no explicit masks is the 2015 reference's [A, A]: A on the lower half of the grid plus A
 * on the upper half (about twice the weight of a whole-grid mean; each half its own mean).
 * Writes cls and returns the count (p->nsubj unchanged when it is out of 1..DREAM_MAX_SUBJECTS). */
int dream_params_subjects(const dream_params_t *p, int cls[DREAM_MAX_SUBJECTS]);

/* Builds masks (nsubj x gh x gw) for a layout; an empty region falls back to the whole grid.
 * (Takes the expanded count: seed with nsubj 1 here is one whole-grid mask.) */
int dream_regions_build(dream_layout_t layout, int nsubj, int gh, int gw, uint8_t *masks,
                        dream_err_t *err);

typedef struct dream_losses {
    double total, net, prior;
    int gh, gw;
} dream_losses_t;

typedef struct dream_engine dream_engine_t;

/* Uploads the model's weights to the backend. The prior may be NULL (prior off).
 * Neither model nor prior nor backend is owned; they must outlive the engine. */
dream_engine_t *dream_engine_new(const dream_model_t *m, const dream_prior_t *prior,
                                 dream_backend_t *be, dream_err_t *err);
void dream_engine_destroy(dream_engine_t **e);

/* Loss and dL/dx (H, W, 3) in pixel units for one image (host memory). grad may be NULL. */
int dream_engine_grad(dream_engine_t *e, const float *img, int H, int W,
                      const dream_params_t *p, float *grad, dream_losses_t *out, dream_err_t *err);

/* p->steps optimiser steps (p->optim, t = 1.. with zeroed state) on img (host, in/out, clipped to [0,255]); the image goes to the
 * device once and comes back once. out gets the losses of the last step. */
int dream_engine_run(dream_engine_t *e, float *img, int H, int W, const dream_params_t *p,
                     dream_losses_t *out, dream_err_t *err);

/* dream_engine_run, the result as a tile-resident job sends it: out88 (H * W * 3 values, 8.8 LE)
 * in split order around the hole (hx, hy, hw, hh, tile pixels; hw 0: raster order), made on the
 * device (backend result88) and downloaded at half the floats' bytes; img is then not written.
 * Returns 1 when the backend has no result88 (img holds the floats, out88 is not written: the
 * caller converts), 0 done, -1 error. */
int dream_engine_run88(dream_engine_t *e, float *img, int H, int W, const dream_params_t *p, int hx, int hy, int hw,
                       int hh, uint8_t *out88, dream_losses_t *out, dream_err_t *err);

/* Class scores (gh, gw, ncls) for img (forward only); scores must hold gh*gw*ncls. */
int dream_engine_scores(dream_engine_t *e, const float *img, int H, int W, float *scores,
                        int *gh, int *gw, dream_err_t *err);

/* Floating point operations of one step (forward + input gradient + prior) at H x W. */
double dream_engine_step_flops(const dream_model_t *m, int H, int W, const dream_params_t *p);

#endif
