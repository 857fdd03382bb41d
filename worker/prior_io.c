/*
 * prior_io.c — loads the learned patch prior (data/prior.safetensors, made by
 * tools/convert_prior.py) for the engine: tensors "<kind>.filters" (k, k, 3, nfilt)
 * = (kh, kw, c, filter) already in CROSS-CORRELATION form (the reference's
 * true-convolution kernels flipped in kh and kw) and "<kind>.mean" (nfilt),
 * kind "student" | "gauss". See docs/weights.md.
 */
#include "engine.h"
#include <stdio.h>
#include "safetensors.h"
#include <stdlib.h>
#include <string.h>

dream_prior_t *dream_prior_load(const char *path, int kind, dream_err_t *err) {
    const char *kn = kind == DREAM_PRIOR_STUDENT ? "student" : kind == DREAM_PRIOR_GAUSS ? "gauss"
                                                                                       : NULL;
    if (!kn) {
        dream_err_set(err, "prior: unknown kind %d (student=%d, gauss=%d)", kind,
                      DREAM_PRIOR_STUDENT, DREAM_PRIOR_GAUSS);
        return NULL;
    }
    st_file_t *f = st_open(path, err);
    if (!f) return NULL;
    dream_prior_t *p = NULL;
    char nm[64], s[160];
    snprintf(nm, sizeof nm, "%s.filters", kn);
    const st_tensor_t *w = st_require(f, nm, err);
    if (!w) goto fail;
    if (w->ndim != 4 || w->shape[0] != w->shape[1] || w->shape[0] < 1 || w->shape[0] > 64 ||
        w->shape[2] != 3 || w->shape[3] < 1 || w->shape[3] > 4096) {
        st_shape_str(w, s, sizeof s);
        dream_err_set(err, "%s: tensor '%s' has shape %s, expected (k, k, 3, nfilt) with "
                      "k <= 64, nfilt <= 4096", path, nm, s);
        goto fail;
    }
    snprintf(nm, sizeof nm, "%s.mean", kn);
    const st_tensor_t *mu = st_require(f, nm, err);
    if (!mu) goto fail;
    if (mu->ndim != 1 || mu->shape[0] != w->shape[3]) {
        st_shape_str(mu, s, sizeof s);
        dream_err_set(err, "%s: tensor '%s' has shape %s, expected (%lld,)", path, nm, s,
                      (long long)w->shape[3]);
        goto fail;
    }
    p = calloc(1, sizeof *p);
    if (!p) { dream_err_set(err, "%s: out of memory", path); goto fail; }
    p->kind = kind;
    p->k = (int)w->shape[0];
    p->nfilt = (int)w->shape[3];
    p->w = malloc(w->nelem * sizeof(float));
    p->mean = malloc(mu->nelem * sizeof(float));
    if (!p->w || !p->mean) { dream_err_set(err, "%s: out of memory", path); goto fail; }
    if (st_to_f32(f, w, p->w, w->nelem, err) != 0 ||
        st_to_f32(f, mu, p->mean, mu->nelem, err) != 0)
        goto fail;
    st_close(&f);
    return p;
fail:
    dream_prior_destroy(&p);
    st_close(&f);
    return NULL;
}

void dream_prior_destroy(dream_prior_t **pp) {
    if (!pp || !*pp) return;
    free((*pp)->w);
    free((*pp)->mean);
    free(*pp);
    *pp = NULL;
}
