/*
 * model.c — VGG model objects: the VGG-16/19 architecture tables, allocation in
 * one float arena, deterministic He-normal random init (own splitmix64 +
 * xoshiro256** + Box-Muller, never rand()), geometry (pools, minimum side, score
 * grid), the FNV-1a hashes (of the weight values for loaded files; of a canonical
 * identity string for random inits, so that dreamd knows it without generating 138 M
 * numbers), dream_model_identify() for dreamd, the one-line description and the
 * ImageNet input normalisation. The safetensors loader lives in weights.c.
 *
 * dream_arch_t.nconv is the number of entries used in convs[] INCLUDING the 0
 * entries that mark a POOL (VGG-16: 13 convs + 5 pools = 18 entries).
 */
#include "model.h"
#include "weights.h"
#include "rng.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const dream_arch_t DREAM_ARCH_VGG16 = {
    "vgg16", 18,
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0},
    7, 4096, 4096, 1000};

const dream_arch_t DREAM_ARCH_VGG19 = {
    "vgg19", 21,
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
     512, 512, 512, 512, 0},
    7, 4096, 4096, 1000};

#define MOD "model"

/* ---------------------------------------------------------------- alloc */

/* Fills m's layer table from specs (names, kinds, geometry, nclasses = the last conv's
 * outputs); with an arena, points each conv's w and b into it, in layer order. */
static void layers_from_specs(dream_model_t *m, const dream_layer_spec_t *specs, int n, float *arena) {
    size_t off = 0;
    m->nlayers = n;
    for (int i = 0; i < n; i++) {
        const dream_layer_spec_t *s = &specs[i];
        dream_layer_t *l = &m->layers[i];
        l->kind = s->kind;
        snprintf(l->name, sizeof l->name, "%s", s->name);
        if (s->kind == DREAM_LAYER_POOL) {
            l->k = 2;
            continue;
        }
        l->k = s->k;
        l->pad = s->pad;
        l->cin = s->cin;
        l->cout = s->cout;
        l->relu = s->relu;
        m->nclasses = s->cout;
        if (!arena) continue;
        l->w = arena + off;
        off += (size_t)s->k * s->k * s->cin * s->cout;
        l->b = arena + off;
        off += (size_t)s->cout;
    }
}

dream_model_t *dream_model_alloc(const dream_layer_spec_t *specs, int n, dream_err_t *err) {
    if (n < 1 || n > DREAM_MAX_LAYERS) {
        dream_err_set(err, "model: %d layers (must be 1..%d)", n, DREAM_MAX_LAYERS);
        return NULL;
    }
    size_t total = 0;
    int lastconv = -1;
    for (int i = 0; i < n; i++) {
        const dream_layer_spec_t *s = &specs[i];
        if (s->kind == DREAM_LAYER_POOL) continue;
        if (s->kind != DREAM_LAYER_CONV || s->k < 1 || s->k > 64 || s->cin < 1 || s->cout < 1 ||
            s->cin > (1 << 20) || s->cout > (1 << 20) || s->pad < 0 || s->pad > s->k / 2) {
            dream_err_set(err, "model: layer %d (%s): bad geometry k=%d pad=%d cin=%d cout=%d", i,
                          s->name, s->k, s->pad, s->cin, s->cout);
            return NULL;
        }
        size_t nw = (size_t)s->k * s->k * s->cin * s->cout + (size_t)s->cout;
        if (total + nw > ((size_t)1 << 34)) {
            dream_err_set(err, "model: more than 2^34 parameters");
            return NULL;
        }
        total += nw;
        lastconv = i;
    }
    if (lastconv < 0) {
        dream_err_set(err, "model: no conv layer");
        return NULL;
    }
    dream_model_t *m = calloc(1, sizeof *m);
    float *arena = calloc(total, sizeof(float));
    if (!m || !arena) {
        free(m);
        free(arena);
        dream_err_set(err, "model: out of memory for %zu parameters", total);
        return NULL;
    }
    m->arena = arena;
    m->arena_floats = total;
    layers_from_specs(m, specs, n, arena);
    snprintf(m->arch, sizeof m->arch, "custom");
    dream_model_set_imagenet_norm(m);
    return m;
}

size_t dream_model_params(const dream_model_t *m) {
    size_t n = 0;
    for (int i = 0; m && i < m->nlayers; i++) {
        const dream_layer_t *l = &m->layers[i];
        if (l->kind == DREAM_LAYER_CONV) n += (size_t)l->k * l->k * l->cin * l->cout + l->cout;
    }
    return n;
}

void dream_model_destroy(dream_model_t **mp) {
    if (!mp || !*mp) return;
    dream_model_t *m = *mp;
    if (m->arena) {
        free(m->arena);
    } else {    /* not arena-owned: each conv owns its buffers */
        for (int i = 0; i < m->nlayers; i++) {
            free(m->layers[i].w);
            free(m->layers[i].b);
        }
    }
    free(m);
    *mp = NULL;
}

/* ---------------------------------------------------------------- random init */

/* dream_rng_t (common/rng.h): xoshiro256** seeded by splitmix64, Box-Muller normals */

/* Layer specs of an architecture; returns the count or -1. */
static int arch_specs(const dream_arch_t *a, dream_layer_spec_t *sp, dream_err_t *err) {
    if (!a || a->nconv < 1 || a->nconv > 32 || a->fc_k < 1 || a->fc6 < 1 || a->fc7 < 1 ||
        a->ncls < 1)
        return dream_err_set(err, "model: bad architecture description");
    int n = 0, cin = 3, idx = 0;
    for (int i = 0; i < a->nconv; i++) {
        if (n + 3 >= DREAM_MAX_LAYERS) return dream_err_set(err, "model: too many layers");
        dream_layer_spec_t *s = &sp[n++];
        memset(s, 0, sizeof *s);
        if (a->convs[i] == 0) {           /* pool: follows conv (idx-2), relu (idx-1) */
            s->kind = DREAM_LAYER_POOL;
            snprintf(s->name, sizeof s->name, "features.%d", idx);
            idx += 1;
            continue;
        }
        if (a->convs[i] < 0) return dream_err_set(err, "model: bad channel count in arch");
        s->kind = DREAM_LAYER_CONV;
        s->k = 3; s->pad = 1; s->cin = cin; s->cout = a->convs[i]; s->relu = 1;
        snprintf(s->name, sizeof s->name, "features.%d", idx);
        idx += 2;
        cin = a->convs[i];
    }
    const int fk[3] = {a->fc_k, 1, 1}, fo[3] = {a->fc6, a->fc7, a->ncls};
    for (int j = 0; j < 3; j++) {
        dream_layer_spec_t *s = &sp[n++];
        memset(s, 0, sizeof *s);
        s->kind = DREAM_LAYER_CONV;
        s->k = fk[j]; s->pad = 0; s->cin = cin; s->cout = fo[j]; s->relu = j < 2;
        snprintf(s->name, sizeof s->name, "fc%d", 6 + j);
        cin = fo[j];
    }
    return n;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV1A_INIT 0xcbf29ce484222325ull

/* The canonical identity string of dream_model_random(arch, seed) with its layer specs.
 * THE WEIGHTS ARE A PURE FUNCTION OF THIS STRING: the algorithm (He-normal from
 * xoshiro256** seeded by splitmix64, Box-Muller using both values, layers in order, each
 * w in (k, k, cin, cout) order, zero biases), the arch name, the seed and every layer's
 * shape. Any change to how dream_model_random draws its numbers must bump "v1", so that
 * workers of both kinds get different hashes and never share a farm.
 * Returns the length, or -1 if buf is too small. */
static int random_identity(const char *arch_name, uint64_t seed, const dream_layer_spec_t *sp,
                           int n, char *buf, size_t cap) {
    size_t len = 0;
    int w = snprintf(buf, cap, "random-init v1 he-normal xoshiro256** splitmix64 box-muller "
                     "zero-bias arch %s seed %" PRIu64 " layers %d", arch_name, seed, n);
    if (w < 0 || (size_t)w >= cap) return -1;
    len = (size_t)w;
    for (int i = 0; i < n; i++) {
        const dream_layer_spec_t *s = &sp[i];
        if (s->kind == DREAM_LAYER_POOL)
            w = snprintf(buf + len, cap - len, "; %s pool2", s->name);
        else
            w = snprintf(buf + len, cap - len, "; %s conv k%d p%d %d>%d%s", s->name, s->k, s->pad,
                         s->cin, s->cout, s->relu ? " relu" : "");
        if (w < 0 || (size_t)w >= cap - len) return -1;
        len += (size_t)w;
    }
    return (int)len;
}

static int random_hash_specs(const char *arch_name, uint64_t seed, const dream_layer_spec_t *sp,
                             int n, char hash[17], dream_err_t *err) {
    char id[8192];      /* 48 layers x < 80 characters */
    int len = random_identity(arch_name, seed, sp, n, id, sizeof id);
    if (len < 0) return dream_err_set(err, "model: random-init identity too long");
    snprintf(hash, 17, "%016" PRIx64, fnv1a(FNV1A_INIT, id, (size_t)len));
    return 0;
}

int dream_model_random_hash(const dream_arch_t *arch, uint64_t seed, char hash[17], dream_err_t *err) {
    dream_layer_spec_t sp[DREAM_MAX_LAYERS];
    int n = arch_specs(arch, sp, err);
    if (n < 0) return -1;
    return random_hash_specs(arch->name ? arch->name : "custom", seed, sp, n, hash, err);
}

dream_model_t *dream_model_random(const dream_arch_t *arch, uint64_t seed, dream_err_t *err) {
    dream_layer_spec_t sp[DREAM_MAX_LAYERS];
    int n = arch_specs(arch, sp, err);
    if (n < 0) return NULL;
    char hash[17];
    if (random_hash_specs(arch->name ? arch->name : "custom", seed, sp, n, hash, err) != 0) return NULL;
    dream_model_t *m = dream_model_alloc(sp, n, err);
    if (!m) return NULL;
    dream_rng_t r;
    dream_rng_seed(&r, seed);
    for (int i = 0; i < m->nlayers; i++) {
        dream_layer_t *l = &m->layers[i];
        if (l->kind != DREAM_LAYER_CONV) continue;
        double sd = sqrt(2.0 / ((double)l->k * l->k * l->cin));
        size_t nw = (size_t)l->k * l->k * l->cin * l->cout;
        for (size_t j = 0; j < nw; j++) l->w[j] = (float)(sd * dream_rng_normal(&r));
        /* biases stay 0 */
    }
    snprintf(m->arch, sizeof m->arch, "%s", arch->name ? arch->name : "custom");
    snprintf(m->naming, sizeof m->naming, "random");
    snprintf(m->source, sizeof m->source, "random(seed=%" PRIu64 ")", seed);
    m->trained = 0;
    snprintf(m->hash, sizeof m->hash, "%s", hash);   /* the identity hash, not the values' */
    return m;
}

dream_model_t *dream_model_open(const char *path_or_random, dream_err_t *err) {
    if (!path_or_random || strcmp(path_or_random, "random") == 0) {
        dlog_warn(MOD, "*************************************************************");
        dlog_warn(MOD, "* NO WEIGHTS: using an UNTRAINED random init of VGG-16 (seed %d).",
                  DREAM_RANDOM_SEED);
        dlog_warn(MOD, "* Dreams will be noise, not objects. Run `make weights` or pass");
        dlog_warn(MOD, "* a .safetensors VGG-16 (see docs/weights.md).");
        dlog_warn(MOD, "*************************************************************");
        return dream_model_random(&DREAM_ARCH_VGG16, DREAM_RANDOM_SEED, err);
    }
    return dream_model_load(path_or_random, err);
}

int dream_model_identify(const char *path_or_random, dream_model_id_t *id, dream_err_t *err) {
    if (!id) return dream_err_set(err, "model: no id to fill");
    memset(id, 0, sizeof *id);
    if (!path_or_random || strcmp(path_or_random, "random") == 0) {
        /* the model dream_model_open("random") builds, less its weights: shapes, names, hash */
        const dream_arch_t *a = &DREAM_ARCH_VGG16;
        dream_layer_spec_t sp[DREAM_MAX_LAYERS];
        int n = arch_specs(a, sp, err);
        if (n < 0) return -1;
        dream_model_t *m = calloc(1, sizeof *m);
        if (!m) return dream_err_set(err, "model: out of memory");
        layers_from_specs(m, sp, n, NULL);
        snprintf(m->arch, sizeof m->arch, "%s", a->name);
        snprintf(m->naming, sizeof m->naming, "random");
        snprintf(m->source, sizeof m->source, "random(seed=%d)", DREAM_RANDOM_SEED);
        if (random_hash_specs(a->name, DREAM_RANDOM_SEED, sp, n, m->hash, err) != 0) {
            free(m);
            return -1;
        }
        snprintf(id->hash, sizeof id->hash, "%s", m->hash);
        id->trained = 0;
        dream_model_describe(m, id->desc, sizeof id->desc);
        free(m);
        return 0;
    }
    dream_model_t *m = dream_model_load(path_or_random, err);
    if (!m) return -1;
    snprintf(id->hash, sizeof id->hash, "%s", m->hash);
    id->trained = m->trained;
    dream_model_describe(m, id->desc, sizeof id->desc);
    dream_model_destroy(&m);
    return 0;
}

/* ---------------------------------------------------------------- geometry */

int dream_model_npools(const dream_model_t *m) {
    int n = 0;
    for (int i = 0; m && i < m->nlayers; i++) n += m->layers[i].kind == DREAM_LAYER_POOL;
    return n;
}

static int fc_kernel(const dream_model_t *m) {
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].kind == DREAM_LAYER_CONV && m->layers[i].pad == 0) return m->layers[i].k;
    return 1;
}

int dream_model_min_side(const dream_model_t *m) {
    if (!m) return 0;
    return fc_kernel(m) << dream_model_npools(m);
}

/* Output side of the layer stack for an input side s (< 1 = too small). */
static int out_side(const dream_model_t *m, int s) {
    for (int i = 0; i < m->nlayers && s >= 1; i++) {
        const dream_layer_t *l = &m->layers[i];
        s = l->kind == DREAM_LAYER_POOL ? s / 2 : s + 2 * l->pad - l->k + 1;
    }
    return s;
}

int dream_model_grid(const dream_model_t *m, int H, int W, int *gh, int *gw, dream_err_t *err) {
    if (!m) return dream_err_set(err, "model: no model");
    int ms = dream_model_min_side(m);
    if (H < ms || W < ms)
        return dream_err_set(err, "input %dx%d is below the minimum side %d of %s (%d pools, "
                             "%dx%d fc6)", W, H, ms, m->arch, dream_model_npools(m),
                             fc_kernel(m), fc_kernel(m));
    int h = out_side(m, H), w = out_side(m, W);
    if (h < 1 || w < 1)
        return dream_err_set(err, "input %dx%d gives an empty score grid for %s", W, H, m->arch);
    if (gh) *gh = h;
    if (gw) *gw = w;
    return 0;
}

/* ---------------------------------------------------------------- hash, text */

void dream_model_compute_hash(dream_model_t *m) {
    if (!m) return;
    uint64_t h = FNV1A_INIT;
    for (int i = 0; i < m->nlayers; i++) {
        const dream_layer_t *l = &m->layers[i];
        if (l->kind != DREAM_LAYER_CONV) continue;
        h = fnv1a(h, l->w, sizeof(float) * (size_t)l->k * l->k * l->cin * l->cout);
        h = fnv1a(h, l->b, sizeof(float) * (size_t)l->cout);
    }
    snprintf(m->hash, sizeof m->hash, "%016" PRIx64, h);
}

void dream_model_describe(const dream_model_t *m, char *buf, size_t n) {
    if (!buf || !n) return;
    if (!m) { snprintf(buf, n, "(no model)"); return; }
    if (m->trained)
        snprintf(buf, n, "%s (%s, trained) from %s, %zu params, %d classes, hash %s", m->arch,
                 m->naming, m->source, dream_model_params(m), m->nclasses, m->hash);
    else
        snprintf(buf, n, "%s (%s, UNTRAINED random init) from %s, %zu params, hash %s", m->arch,
                 m->naming, m->source, dream_model_params(m), m->hash);
}

void dream_model_set_imagenet_norm(dream_model_t *m) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    if (!m) return;
    for (int c = 0; c < 3; c++) {
        m->in_perm[c] = c;
        m->in_scale[c] = (float)(1.0 / (255.0 * (double)sd[c]));
        m->in_shift[c] = (float)(-(double)mean[c] / (double)sd[c]);
    }
}
