/*
 * engine.c — the dream engine: a VGG-style network's forward pass, the
 * gradient of the dream objective w.r.t. the input pixels, the multi-scale
 * patch prior, and the pixel optimiser (the backend adam op: the 2015 reference's
 * "seed" update by default, textbook Adam as an option). Everything runs through the
 * backend op table (backend.h), so the same code drives the CPU and CUDA backends.
 *
 * Activation storage (per layer output):
 *   after a 3x3/pad-1 conv or a pool: padded (h+2, w+2, c), zero border
 *   after a valid conv (fc6, fc7, fc8): compact (h, w, c)
 * 3x3 convs with cin >= 8 are the backend's fused conv3x3 op over the padded
 * buffers (the CPU reference runs it as 9 "shifted" GEMMs: with Wp = w+2, output
 * row r = i*Wp + j reads input rows r + kh*Wp + kw, M = h*Wp - 2, no im2col copy;
 * CUDA may use an implicit gemm). Its gradient also applies the ReLU of the layer
 * below when that is a padded conv, and a max-pool's gradient the ReLU of the conv
 * below it, on the pooled side (the `masked` flag in backward()).
 * Other convs (cin = 3, fc6 7x7) use im2col + gemm.
 *
 * Objective (pixels x in 0..255):
 *   L = - sum_s mean_{R_s} logit[c_s] + w_o mean(logit) + S/npools * sum_p L_p(x)
 * (s over dream_params_subjects: one subject A with the seed layout is [A, A], lower + upper half)
 * L_p: x mean-pooled p x p, minus 128, 8x8x3 patches through 192 filters,
 * Student-t (or Gaussian) penalty on each response (backend prior_act).
 * A scale with no complete 8x8 patch contributes 0 (the divisor stays npools).
 */
#include "engine.h"
#include "config.h"
#include "layout.h"
#include "rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXL DREAM_MAX_LAYERS
#define PRIOR_CHUNK_POSITIONS 65536   /* prior work is chunked to bound memory */

typedef struct geom {
    int h, w, c;        /* input dims of the layer */
    int sp;             /* input storage pad (0 or 1) */
    int oh, ow, oc;     /* output dims */
    int osp;            /* output storage pad */
    int shifted;        /* 3x3 conv via the backend's conv3x3 op */
} geom_t;

struct dream_engine {
    const dream_model_t *m;
    const dream_prior_t *prior;
    dream_backend_t *be;
    const dream_backend_i *op;
    void *ctx;
    float *w[MAXL], *b[MAXL];           /* device weights */
    float *pw;                          /* prior filters (k*k*3, nfilt) */
    float *pmu;                         /* prior offsets mean + 128 * sum(w) */
    float *loss;                        /* [0] net, [1] prior */
    /* arena for the current image size */
    int H, W;
    geom_t g[MAXL];
    float *act[MAXL + 1];               /* act[0]: network input, act[l+1]: output of layer l */
    uint8_t *pidx[MAXL];
    float *gbuf[2];                     /* ping-pong gradients, max activation size */
    float *col;                         /* im2col scratch */
    size_t col_floats;
    float *x, *dx, *am, *av, *xr, *gr;  /* image, grad, Adam state, jitter scratch (H, W, 3) */
    float *pd, *pdd, *pcol, *pz, *pdz;  /* prior scratch */
    uint8_t *masks;
    size_t masks_bytes;
    int nsubj, cls[DREAM_MAX_SUBJECTS]; /* the objective's subjects (dream_params_subjects) */
    int gh, gw;
    /* bytes allocated behind each arena pointer: the arena only grows, so a worker whose
     * tiles change size by a few pixels every keyframe does not reallocate every job */
    struct {
        size_t act[MAXL + 1], pidx[MAXL], gbuf[2], col, img[6], pd, pdd, pcol, pz, pdz, masks;
    } cap;
};

/* ------------------------------------------------------------------ params */

void dream_params_default(dream_params_t *p) {
    memset(p, 0, sizeof *p);
    p->nsubj = 1;
    p->cls[0] = 0;
    p->layout = DREAM_LAYOUT_SEED;
    p->mean_weight = 1.f;
    p->prior_strength = 10.f;
    p->prior_kind = DREAM_PRIOR_STUDENT;
    p->prior_nu = 0.665248f;
    p->npools = 5;
    const int pools[5] = {1, 4, 8, 16, 32};
    memcpy(p->pools, pools, sizeof pools);
    p->optim = DREAM_OPTIM_SEED;
    p->steps = 10;
    p->lr = 5.f;
    p->beta1 = 0.9f;
    p->beta2 = 0.999f;
    p->eps = 1e-8f;
    p->jitter = 0;
    p->seed = 1;
}

static const char *const layout_names[] = {"single", "seed", "bands", "quadrants"};

int dream_layout_parse(const char *s, dream_layout_t *out) {
    int i = s ? dream_name_index(layout_names, 4, s) : -1;
    if (i < 0) return -1;
    *out = (dream_layout_t)i;
    return 0;
}

const char *dream_layout_name(dream_layout_t l) { return dream_name_of(layout_names, 4, (int)l); }

int dream_params_subjects(const dream_params_t *p, int cls[DREAM_MAX_SUBJECTS]) {
    if (p->nsubj < 1 || p->nsubj > DREAM_MAX_SUBJECTS) return p->nsubj;
    memcpy(cls, p->cls, sizeof(int) * (size_t)p->nsubj);
    if (p->nsubj == 1 && p->layout == DREAM_LAYOUT_SEED && !p->masks) {
        cls[1] = cls[0];        /* [A, A]: lower half, then upper half */
        return 2;
    }
    return p->nsubj;
}

int dream_regions_build(dream_layout_t layout, int nsubj, int gh, int gw, uint8_t *masks,
                        dream_err_t *err) {
    if (nsubj < 1 || nsubj > DREAM_MAX_SUBJECTS)
        return dream_err_set(err, "need 1..%d subjects, got %d", DREAM_MAX_SUBJECTS, nsubj);
    dream_rect_t r[DREAM_MAX_SUBJECTS];
    for (int s = 0; s < nsubj; s++)     /* the rule and its checks: common/layout.h */
        if (dream_layout_rect(layout, s, nsubj, gw, gh, &r[s], err) != 0) return -1;
    const size_t n = (size_t)gh * gw;
    memset(masks, 0, n * nsubj);
    for (int s = 0; s < nsubj; s++) {
        uint8_t *m = masks + (size_t)s * n;
        for (int i = r[s].y; i < r[s].y + r[s].h; i++) memset(m + (size_t)i * gw + r[s].x, 1, (size_t)r[s].w);
    }
    return 0;
}

/* ------------------------------------------------------------------ helpers */

static int be_fail(dream_engine_t *e, dream_err_t *err, const char *what) {
    const char *why = e->op->last_error ? e->op->last_error(e->ctx) : "";
    return dream_err_set(err, "%s backend: %s failed: %s", e->be->name, what, why && *why ? why : "?");
}
#define CK(call, what) do { if ((call) != 0) return be_fail(e, err, what); } while (0)

static void *dalloc(dream_engine_t *e, size_t bytes, dream_err_t *err, const char *what) {
    void *p = e->op->alloc(e->ctx, bytes ? bytes : 4);
    if (!p) {
        const char *why = e->op->last_error ? e->op->last_error(e->ctx) : "";
        dream_err_set(err, "%s backend: cannot allocate %zu bytes for %s: %s", e->be->name, bytes, what,
                      why);
    }
    return p;
}

static void dfree(dream_engine_t *e, void *pp) {
    void **p = pp;
    if (*p) e->op->free(e->ctx, *p);
    *p = NULL;
}

static size_t act_floats(int h, int w, int c, int sp) {
    return (size_t)(h + 2 * sp) * (w + 2 * sp) * c;
}

/* ------------------------------------------------------------------ lifetime */

dream_engine_t *dream_engine_new(const dream_model_t *m, const dream_prior_t *prior, dream_backend_t *be,
                                 dream_err_t *err) {
    if (!m || !be) { dream_err_set(err, "engine: model and backend are required"); return NULL; }
    if (m->nlayers < 1 || m->nlayers > MAXL) { dream_err_set(err, "engine: bad layer count %d", m->nlayers); return NULL; }
    dream_engine_t *e = calloc(1, sizeof *e);
    if (!e) { dream_err_set(err, "out of memory"); return NULL; }
    e->m = m; e->prior = prior; e->be = be; e->op = be->iface; e->ctx = be->ctx;
    for (int l = 0; l < m->nlayers; l++) {
        const dream_layer_t *L = &m->layers[l];
        if (L->kind != DREAM_LAYER_CONV) continue;
        size_t nw = (size_t)L->k * L->k * L->cin * L->cout;
        if (!(e->w[l] = dalloc(e, nw * 4, err, L->name)) || !(e->b[l] = dalloc(e, (size_t)L->cout * 4, err, L->name)))
            goto fail;
        if (e->op->upload(e->ctx, e->w[l], L->w, nw * 4) || e->op->upload(e->ctx, e->b[l], L->b, (size_t)L->cout * 4)) {
            be_fail(e, err, "weight upload");
            goto fail;
        }
    }
    if (prior) {
        const int K = prior->k * prior->k * 3, F = prior->nfilt;
        float *mu = malloc(sizeof(float) * F);
        if (!mu) { dream_err_set(err, "out of memory"); goto fail; }
        for (int f = 0; f < F; f++) {
            double s = 0;
            for (int q = 0; q < K; q++) s += prior->w[(size_t)q * F + f];
            mu[f] = (float)(prior->mean[f] + 128.0 * s);
        }
        e->pw = dalloc(e, sizeof(float) * K * F, err, "prior filters");
        e->pmu = dalloc(e, sizeof(float) * F, err, "prior offsets");
        int bad = !e->pw || !e->pmu || e->op->upload(e->ctx, e->pw, prior->w, sizeof(float) * K * F) ||
                  e->op->upload(e->ctx, e->pmu, mu, sizeof(float) * F);
        free(mu);
        if (bad) { if (e->pw && e->pmu) be_fail(e, err, "prior upload"); goto fail; }
    }
    if (!(e->loss = dalloc(e, 4 * sizeof(float), err, "loss"))) goto fail;
    return e;
fail:
    dream_engine_destroy(&e);
    return NULL;
}

static void arena_free(dream_engine_t *e) {
    for (int l = 0; l <= MAXL; l++) dfree(e, &e->act[l]);
    for (int l = 0; l < MAXL; l++) dfree(e, &e->pidx[l]);
    dfree(e, &e->gbuf[0]); dfree(e, &e->gbuf[1]); dfree(e, &e->col);
    dfree(e, &e->x); dfree(e, &e->dx); dfree(e, &e->am); dfree(e, &e->av); dfree(e, &e->xr); dfree(e, &e->gr);
    dfree(e, &e->pd); dfree(e, &e->pdd); dfree(e, &e->pcol); dfree(e, &e->pz); dfree(e, &e->pdz);
    dfree(e, &e->masks);
    memset(&e->cap, 0, sizeof e->cap);
    e->H = e->W = 0;
}

void dream_engine_destroy(dream_engine_t **pe) {
    if (!pe || !*pe) return;
    dream_engine_t *e = *pe;
    arena_free(e);
    for (int l = 0; l < MAXL; l++) { dfree(e, &e->w[l]); dfree(e, &e->b[l]); }
    dfree(e, &e->pw); dfree(e, &e->pmu); dfree(e, &e->loss);
    free(e);
    *pe = NULL;
}

/* Computes per-layer geometry for an H x W input; fills g[] and returns 0. */
static int plan(const dream_model_t *m, int H, int W, geom_t *g, int *gh, int *gw, dream_err_t *err) {
    int h = H, w = W, c = 3, sp = 1;
    for (int l = 0; l < m->nlayers; l++) {
        const dream_layer_t *L = &m->layers[l];
        geom_t *G = &g[l];
        G->h = h; G->w = w; G->c = c; G->sp = sp;
        if (L->kind == DREAM_LAYER_POOL) {
            if (sp != 1) return dream_err_set(err, "layer %s: pool needs a padded input", L->name);
            G->oh = h / 2; G->ow = w / 2; G->oc = c; G->osp = 1; G->shifted = 0;
        } else {
            if (L->cin != c) return dream_err_set(err, "layer %s: expects %d channels, gets %d", L->name, L->cin, c);
            if (L->pad > sp) return dream_err_set(err, "layer %s: pad %d needs a padded input", L->name, L->pad);
            G->oh = h + 2 * L->pad - L->k + 1;
            G->ow = w + 2 * L->pad - L->k + 1;
            G->oc = L->cout;
            G->osp = L->pad == 1 ? 1 : 0;
            G->shifted = (L->k == 3 && L->pad == 1 && sp == 1 && c >= 8);
            if (L->pad == 1 && L->k != 3)
                return dream_err_set(err, "layer %s: only 3x3 convs may be padded", L->name);
        }
        if (G->oh < 1 || G->ow < 1)
            return dream_err_set(err, "image %dx%d is too small for this network (minimum %dx%d)", W, H,
                                 dream_model_min_side(m), dream_model_min_side(m));
        h = G->oh; w = G->ow; c = G->oc; sp = G->osp;
    }
    *gh = h; *gw = w;
    return 0;
}

/* makes *pp (capacity *cap bytes) hold at least `bytes`; contents are not kept when it grows */
static int grow(dream_engine_t *e, void *pp, size_t *cap, size_t bytes, dream_err_t *err, const char *what) {
    void **p = pp;
    if (*p && *cap >= bytes) return 0;
    dfree(e, p);
    *cap = 0;
    if (!(*p = dalloc(e, bytes ? bytes : 1, err, what))) return -1;
    *cap = bytes;
    return 0;
}

/* Lays the arena out for an H x W image. Buffers are reused when they are big enough (every
 * op overwrites what it reads later, borders included, and the per-run state is zeroed by
 * dream_engine_run), so only a bigger image allocates. */
static int arena_ensure(dream_engine_t *e, int H, int W, dream_err_t *err) {
    if (e->H == H && e->W == W) return 0;
    int ms = dream_model_min_side(e->m);
    if (H < ms || W < ms)
        return dream_err_set(err, "image %dx%d is below the network's minimum of %dx%d", W, H, ms, ms);
    geom_t g[MAXL];
    int gh, gw;
    if (plan(e->m, H, W, g, &gh, &gw, err)) return -1;
    e->H = e->W = 0;                                    /* not usable until everything fits */
    memcpy(e->g, g, sizeof g);
    const dream_model_t *m = e->m;
    size_t maxact = act_floats(H, W, 3, 1), colmax = 0;
    if (grow(e, &e->act[0], &e->cap.act[0], maxact * 4, err, "input")) goto fail;
    for (int l = 0; l < m->nlayers; l++) {
        const geom_t *G = &g[l];
        const dream_layer_t *L = &m->layers[l];
        size_t n = act_floats(G->oh, G->ow, G->oc, G->osp);
        if (n > maxact) maxact = n;
        if (grow(e, &e->act[l + 1], &e->cap.act[l + 1], n * 4, err, L->name)) goto fail;
        if (L->kind == DREAM_LAYER_POOL) {
            if (grow(e, &e->pidx[l], &e->cap.pidx[l], (size_t)G->oh * G->ow * G->oc, err, "pool index")) goto fail;
        } else if (!G->shifted && !(L->k == 1 && G->sp == 0)) {
            size_t rows = G->osp ? (size_t)G->h * (G->w + 2) : (size_t)G->oh * G->ow;
            size_t cf = rows * L->k * L->k * L->cin;
            if (cf > colmax) colmax = cf;
        }
    }
    for (int i = 0; i < 2; i++)
        if (grow(e, &e->gbuf[i], &e->cap.gbuf[i], maxact * 4, err, "gradient")) goto fail;
    e->col_floats = colmax;
    if (colmax && grow(e, &e->col, &e->cap.col, colmax * 4, err, "im2col")) goto fail;
    size_t img = (size_t)H * W * 3 * 4;
    float **imgs[6] = {&e->x, &e->dx, &e->am, &e->av, &e->xr, &e->gr};
    static const char *img_names[6] = {"image", "image gradient", "adam m", "adam v", "jitter", "jitter"};
    for (int i = 0; i < 6; i++)
        if (grow(e, imgs[i], &e->cap.img[i], img, err, img_names[i])) goto fail;
    if (e->prior) {
        const int K = e->prior->k * e->prior->k * 3, F = e->prior->nfilt;
        if (grow(e, &e->pd, &e->cap.pd, img, err, "prior pool") ||
            grow(e, &e->pdd, &e->cap.pdd, img, err, "prior pool grad") ||
            grow(e, &e->pcol, &e->cap.pcol, (size_t)PRIOR_CHUNK_POSITIONS * K * 4, err, "prior im2col") ||
            grow(e, &e->pz, &e->cap.pz, (size_t)PRIOR_CHUNK_POSITIONS * F * 4, err, "prior responses") ||
            grow(e, &e->pdz, &e->cap.pdz, (size_t)PRIOR_CHUNK_POSITIONS * F * 4, err, "prior grads"))
            goto fail;
    }
    e->masks_bytes = (size_t)DREAM_MAX_SUBJECTS * gh * gw;
    if (grow(e, &e->masks, &e->cap.masks, e->masks_bytes, err, "masks")) goto fail;
    e->H = H; e->W = W; e->gh = gh; e->gw = gw;
    return 0;
fail:
    arena_free(e);
    return -1;
}

/* ------------------------------------------------------------------ network */

static int forward(dream_engine_t *e, const float *x, dream_err_t *err) {
    const dream_model_t *m = e->m;
    CK(e->op->input_fwd(e->ctx, x, e->H, e->W, m->in_scale, m->in_shift, m->in_perm, e->act[0]), "input");
    for (int l = 0; l < m->nlayers; l++) {
        const dream_layer_t *L = &m->layers[l];
        const geom_t *G = &e->g[l];
        const float *in = e->act[l];
        float *out = e->act[l + 1];
        if (L->kind == DREAM_LAYER_POOL) {
            CK(e->op->maxpool2_fwd(e->ctx, in, G->h, G->w, G->c, out, e->pidx[l]), "maxpool");
            continue;
        }
        const int cin = L->cin, cout = L->cout, k = L->k;
        if (G->shifted) {                                   /* fused: bias, ReLU and border inside */
            CK(e->op->conv3x3_fwd(e->ctx, in, G->h, G->w, cin, cout, e->w[l], e->b[l], L->relu, out), "conv3x3");
            continue;
        }
        if (k == 1 && G->sp == 0) {
            CK(e->op->gemm(e->ctx, 0, 0, G->oh * G->ow, cout, cin, 1.f, in, cin, e->w[l], cout, 0.f, out,
                           cout, DREAM_GEMM_B_CONST), "1x1 conv gemm");
        } else {
            const int rs = (G->w + 2 * G->sp) * cin;
            const float *origin = in + (size_t)(G->sp - L->pad) * rs + (size_t)(G->sp - L->pad) * cin;
            int M, ow;
            float *o;
            if (G->osp) { ow = G->w + 2; M = G->h * ow - 2; o = out + (size_t)(ow + 1) * cout; }
            else { ow = G->ow; M = G->oh * G->ow; o = out; }
            const int KK = k * k * cin;
            CK(e->op->im2col(e->ctx, origin, rs, cin, k, M, ow, e->col), "im2col");
            CK(e->op->gemm(e->ctx, 0, 0, M, cout, KK, 1.f, e->col, KK, e->w[l], cout, 0.f, o, cout,
                           DREAM_GEMM_B_CONST), "conv gemm");
        }
        if (G->osp) {
            CK(e->op->bias_act(e->ctx, out, (G->oh + 2) * (G->ow + 2), cout, cout, e->b[l], L->relu), "bias");
            CK(e->op->zero_border(e->ctx, out, G->oh, G->ow, cout), "zero border");
        } else {
            CK(e->op->bias_act(e->ctx, out, G->oh * G->ow, cout, cout, e->b[l], L->relu), "bias");
        }
    }
    return 0;
}

/* dlogits must already be in gbuf[0]; accumulates dL/dx into dx. */
static int backward(dream_engine_t *e, float *dx, dream_err_t *err) {
    const dream_model_t *m = e->m;
    int cur = 0, masked = 0;          /* masked: dout already went through this layer's ReLU */
    for (int l = m->nlayers - 1; l >= 0; l--) {
        const dream_layer_t *L = &m->layers[l];
        const geom_t *G = &e->g[l];
        float *dout = e->gbuf[cur], *din = e->gbuf[1 - cur];
        const size_t nin = act_floats(G->h, G->w, G->c, G->sp);
        if (L->kind == DREAM_LAYER_POOL) {
            /* The ReLU of the conv below, applied before the routing on a 4x smaller tensor: each
             * pooled gradient goes to its window's winner, whose value is the pooled output y, so
             * masking by y > 0 is that ReLU's mask at every routed position (the rest get 0). */
            const dream_layer_t *B = l > 0 ? &m->layers[l - 1] : NULL;
            const int fuse = B && B->kind == DREAM_LAYER_CONV && B->relu;
            if (fuse)
                CK(e->op->relu_bwd(e->ctx, dout, e->act[l + 1], act_floats(G->oh, G->ow, G->oc, G->osp)), "relu bwd");
            CK(e->op->maxpool2_bwd(e->ctx, dout, e->pidx[l], G->h, G->w, G->c, din), "maxpool bwd");
            masked = fuse;
        } else {
            const int cin = L->cin, cout = L->cout, k = L->k;
            if (L->relu && !masked)
                CK(e->op->relu_bwd(e->ctx, dout, e->act[l + 1], act_floats(G->oh, G->ow, cout, G->osp)), "relu bwd");
            masked = 0;
            if (G->shifted) {
                /* the layer below's ReLU (its output is this conv's padded input act[l]) is fused */
                const dream_layer_t *B = l > 0 ? &m->layers[l - 1] : NULL;
                const float *mask = B && B->kind == DREAM_LAYER_CONV && B->relu && e->g[l - 1].osp ? e->act[l] : NULL;
                CK(e->op->conv3x3_bwd(e->ctx, dout, G->h, G->w, cin, cout, e->w[l], mask, din), "conv3x3 bwd");
                masked = mask != NULL;
            } else if (k == 1 && G->sp == 0) {
                CK(e->op->gemm(e->ctx, 0, 1, G->oh * G->ow, cin, cout, 1.f, dout, cout, e->w[l], cout, 0.f, din,
                               cin, DREAM_GEMM_B_CONST), "1x1 conv bwd gemm");
            } else {
                const int rs = (G->w + 2 * G->sp) * cin;
                const size_t off = (size_t)(G->sp - L->pad) * rs + (size_t)(G->sp - L->pad) * cin;
                int M, ow;
                const float *d;
                if (G->osp) { ow = G->w + 2; M = G->h * ow - 2; d = dout + (size_t)(ow + 1) * cout; }
                else { ow = G->ow; M = G->oh * G->ow; d = dout; }
                const int KK = k * k * cin;
                CK(e->op->gemm(e->ctx, 0, 1, M, KK, cout, 1.f, d, cout, e->w[l], cout, 0.f, e->col, KK,
                               DREAM_GEMM_B_CONST), "conv bwd gemm");
                CK(e->op->zero(e->ctx, din, nin * 4), "zero");
                CK(e->op->col2im_add(e->ctx, e->col, rs, cin, k, M, ow, din + off), "col2im");
            }
        }
        cur = 1 - cur;
    }
    /* gbuf[cur] holds the gradient w.r.t. the padded network input */
    CK(e->op->input_bwd_add(e->ctx, e->gbuf[cur], e->H, e->W, m->in_scale, m->in_perm, dx), "input bwd");
    return 0;
}

static int prior_grad(dream_engine_t *e, const float *x, float *dx, const dream_params_t *p, dream_err_t *err) {
    const dream_prior_t *pr = e->prior;
    if (!pr || p->prior_strength == 0.f || p->npools <= 0) return 0;
    const int k = pr->k, F = pr->nfilt, K = k * k * 3;
    const float scale = p->prior_strength / (float)p->npools;
    for (int s = 0; s < p->npools; s++) {
        const int ps = p->pools[s];
        if (ps < 1) return dream_err_set(err, "bad prior pool size %d", ps);
        const int hp = e->H / ps, wp = e->W / ps;
        if (hp < k || wp < k) continue;                  /* no complete patch at this scale */
        const int oh = hp - k + 1, ow = wp - k + 1;
        const size_t Mtot = (size_t)oh * ow;
        const float *d = x;
        if (ps > 1) {
            CK(e->op->meanpool_fwd(e->ctx, x, e->H, e->W, 3, ps, e->pd), "meanpool");
            d = e->pd;
            CK(e->op->zero(e->ctx, e->pdd, (size_t)hp * wp * 3 * 4), "zero");
        }
        float *dd = ps > 1 ? e->pdd : dx;
        const int rows_per_chunk = PRIOR_CHUNK_POSITIONS / ow > 0 ? PRIOR_CHUNK_POSITIONS / ow : 1;
        if ((size_t)rows_per_chunk * ow > PRIOR_CHUNK_POSITIONS)
            return dream_err_set(err, "image too wide for the prior chunk (%d positions per row)", ow);
        for (int r0 = 0; r0 < oh; r0 += rows_per_chunk) {
            const int nr = oh - r0 < rows_per_chunk ? oh - r0 : rows_per_chunk;
            const int M = nr * ow;
            const size_t off = (size_t)r0 * wp * 3;
            CK(e->op->im2col(e->ctx, d + off, wp * 3, 3, k, M, ow, e->pcol), "prior im2col");
            CK(e->op->gemm(e->ctx, 0, 0, M, F, K, 1.f, e->pcol, K, e->pw, F, 0.f, e->pz, F, DREAM_GEMM_B_CONST),
               "prior gemm");
            CK(e->op->prior_act(e->ctx, e->pz, M, F, e->pmu, p->prior_kind, p->prior_nu,
                                scale * (float)M / (float)Mtot, e->pdz, e->loss + 1), "prior");
            CK(e->op->gemm(e->ctx, 0, 1, M, K, F, 1.f, e->pdz, F, e->pw, F, 0.f, e->pcol, K, DREAM_GEMM_B_CONST),
               "prior bwd gemm");
            CK(e->op->col2im_add(e->ctx, e->pcol, wp * 3, 3, k, M, ow, dd + off), "prior col2im");
        }
        if (ps > 1) CK(e->op->meanpool_bwd_add(e->ctx, e->pdd, e->H, e->W, 3, ps, dx), "meanpool bwd");
    }
    return 0;
}

/* Builds and uploads the masks of the objective's subjects (dream_params_subjects: one
 * subject with the seed layout is [A, A]); their count and classes go to e->nsubj / e->cls. */
static int upload_masks(dream_engine_t *e, const dream_params_t *p, dream_err_t *err) {
    const size_t n = (size_t)e->gh * e->gw;
    if (p->nsubj < 1 || p->nsubj > DREAM_MAX_SUBJECTS)
        return dream_err_set(err, "need 1..%d subjects, got %d", DREAM_MAX_SUBJECTS, p->nsubj);
    for (int s = 0; s < p->nsubj; s++)
        if (p->cls[s] < 0 || p->cls[s] >= e->m->nclasses)
            return dream_err_set(err, "class %d out of range 0..%d", p->cls[s], e->m->nclasses - 1);
    if (p->optim != DREAM_OPTIM_SEED && p->optim != DREAM_OPTIM_ADAM)
        return dream_err_set(err, "unknown optimiser %d", (int)p->optim);
    const int ns = dream_params_subjects(p, e->cls);
    uint8_t host[DREAM_MAX_SUBJECTS * 4096];
    uint8_t *masks = n * ns <= sizeof host ? host : malloc(n * ns);
    if (!masks) return dream_err_set(err, "out of memory");
    int rc = 0;
    if (p->masks) {
        memcpy(masks, p->masks, n * ns);
        for (int s = 0; s < ns && !rc; s++) {
            size_t cnt = 0;
            for (size_t i = 0; i < n; i++) cnt += masks[s * n + i] != 0;
            if (!cnt) rc = dream_err_set(err, "subject %d has an empty region", s);
        }
    } else {
        rc = dream_regions_build(p->layout, ns, e->gh, e->gw, masks, err);
    }
    if (!rc && e->op->upload(e->ctx, e->masks, masks, n * ns)) rc = be_fail(e, err, "mask upload");
    if (masks != host) free(masks);
    e->nsubj = rc ? 0 : ns;
    return rc;
}

/* Loss and gradient at device image x into device dx (overwritten). Losses land in e->loss. */
static int grad_dev(dream_engine_t *e, const float *x, float *dx, const dream_params_t *p, dream_err_t *err) {
    const dream_model_t *m = e->m;
    const int L = m->nlayers;
    CK(e->op->zero(e->ctx, e->loss, 4 * sizeof(float)), "zero");
    CK(e->op->zero(e->ctx, dx, (size_t)e->H * e->W * 3 * 4), "zero");
    if (forward(e, x, err)) return -1;
    CK(e->op->objective(e->ctx, e->act[L], e->gh * e->gw, m->nclasses, e->nsubj, e->cls, e->masks,
                        p->mean_weight, e->gbuf[0], e->loss), "objective");
    if (backward(e, dx, err)) return -1;
    return prior_grad(e, x, dx, p, err);
}

static int read_losses(dream_engine_t *e, dream_losses_t *out, dream_err_t *err) {
    float l[4];
    CK(e->op->download(e->ctx, l, e->loss, sizeof l), "download");
    if (out) {
        out->net = l[0];
        out->prior = l[1];
        out->total = (double)l[0] + l[1];
        out->gh = e->gh;
        out->gw = e->gw;
    }
    if (!isfinite(l[0]) || !isfinite(l[1])) return dream_err_set(err, "loss is not finite (net %g, prior %g)", l[0], l[1]);
    return 0;
}

static int check_image(dream_engine_t *e, const float *img, int H, int W, dream_err_t *err) {
    if (!img) return dream_err_set(err, "no image");
    if (H <= 0 || W <= 0 || H > 16384 || W > 16384) return dream_err_set(err, "bad image size %dx%d", W, H);
    return arena_ensure(e, H, W, err);
}

int dream_engine_grad(dream_engine_t *e, const float *img, int H, int W, const dream_params_t *p, float *grad,
                      dream_losses_t *out, dream_err_t *err) {
    if (check_image(e, img, H, W, err) || upload_masks(e, p, err)) return -1;
    const size_t bytes = (size_t)H * W * 3 * 4;
    CK(e->op->upload(e->ctx, e->x, img, bytes), "upload");
    if (grad_dev(e, e->x, e->dx, p, err)) return -1;
    if (grad) CK(e->op->download(e->ctx, grad, e->dx, bytes), "download");
    return read_losses(e, out, err);
}

static int run_impl(dream_engine_t *e, float *img, int H, int W, const dream_params_t *p, const int *hole88,
                    uint8_t *out88, dream_losses_t *out, dream_err_t *err);

int dream_engine_run(dream_engine_t *e, float *img, int H, int W, const dream_params_t *p, dream_losses_t *out,
                     dream_err_t *err) {
    return run_impl(e, img, H, W, p, NULL, NULL, out, err);
}

int dream_engine_run88(dream_engine_t *e, float *img, int H, int W, const dream_params_t *p, int hx, int hy, int hw,
                       int hh, uint8_t *out88, dream_losses_t *out, dream_err_t *err) {
    if (!out88) return dream_err_set(err, "no result buffer");
    if (!e->op->result88) {
        int rc = run_impl(e, img, H, W, p, NULL, NULL, out, err);
        return rc < 0 ? rc : 1;
    }
    const int hole[4] = {hx, hy, hw, hh};
    return run_impl(e, img, H, W, p, hole, out88, out, err);
}

static int run_impl(dream_engine_t *e, float *img, int H, int W, const dream_params_t *p, const int *hole88,
                    uint8_t *out88, dream_losses_t *out, dream_err_t *err) {
    if (check_image(e, img, H, W, err) || upload_masks(e, p, err)) return -1;
    if (p->steps < 0 || p->steps > 100000) return dream_err_set(err, "bad step count %d", p->steps);
    const size_t n = (size_t)H * W * 3, bytes = n * 4;
    CK(e->op->upload(e->ctx, e->x, img, bytes), "upload");
    CK(e->op->zero(e->ctx, e->am, bytes), "zero");
    CK(e->op->zero(e->ctx, e->av, bytes), "zero");
    uint64_t rng = p->seed;
    for (int t = 1; t <= p->steps; t++) {
        if (p->jitter > 0) {
            const int span = 2 * p->jitter + 1;
            const int jy = (int)(dream_splitmix64(&rng) % (uint64_t)span) - p->jitter;
            const int jx = (int)(dream_splitmix64(&rng) % (uint64_t)span) - p->jitter;
            CK(e->op->roll(e->ctx, e->x, e->xr, H, W, 3, jy, jx), "roll");
            if (grad_dev(e, e->xr, e->gr, p, err)) return -1;
            CK(e->op->roll(e->ctx, e->gr, e->dx, H, W, 3, -jy, -jx), "roll");
        } else if (grad_dev(e, e->x, e->dx, p, err)) {
            return -1;
        }
        CK(e->op->adam(e->ctx, (int)p->optim, e->x, e->dx, e->am, e->av, n, p->lr, p->beta1, p->beta2, p->eps, t,
                       0.f, 255.f), "optimiser step");
    }
    if (out88) {
        /* the 8.8 result made on the device into dx (free now: twice the bytes it needs) */
        CK(e->op->result88(e->ctx, e->x, H, W, hole88[0], hole88[1], hole88[2], hole88[3], (uint16_t *)e->dx), "result88");
        CK(e->op->download(e->ctx, out88, e->dx, n * 2), "download");
    } else {
        CK(e->op->download(e->ctx, img, e->x, bytes), "download");
    }
    if (p->steps == 0) {
        if (out) memset(out, 0, sizeof *out);
        return 0;
    }
    return read_losses(e, out, err);
}

int dream_engine_scores(dream_engine_t *e, const float *img, int H, int W, float *scores, int *gh, int *gw,
                        dream_err_t *err) {
    if (check_image(e, img, H, W, err)) return -1;
    CK(e->op->upload(e->ctx, e->x, img, (size_t)H * W * 3 * 4), "upload");
    if (forward(e, e->x, err)) return -1;
    const size_t n = (size_t)e->gh * e->gw * e->m->nclasses;
    CK(e->op->download(e->ctx, scores, e->act[e->m->nlayers], n * 4), "download");
    if (gh) *gh = e->gh;
    if (gw) *gw = e->gw;
    return 0;
}

double dream_engine_step_flops(const dream_model_t *m, int H, int W, const dream_params_t *p) {
    geom_t g[MAXL];
    int gh, gw;
    if (plan(m, H, W, g, &gh, &gw, NULL)) return 0;
    double f = 0;
    for (int l = 0; l < m->nlayers; l++) {
        const dream_layer_t *L = &m->layers[l];
        if (L->kind != DREAM_LAYER_CONV) continue;
        /* forward + input gradient: 2 GEMMs of 2*M*K*N each */
        f += 2.0 * 2.0 * g[l].oh * g[l].ow * (double)L->k * L->k * L->cin * L->cout;
    }
    if (p && p->prior_strength != 0.f) {
        for (int s = 0; s < p->npools; s++) {
            const int ps = p->pools[s] > 0 ? p->pools[s] : 1;
            const int hp = H / ps, wp = W / ps;
            if (hp < 8 || wp < 8) continue;
            f += 2.0 * 2.0 * (hp - 7.0) * (wp - 7.0) * 192.0 * 192.0;
        }
    }
    return f;
}
