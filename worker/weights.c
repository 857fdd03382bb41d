/*
 * weights.c — loads a VGG from a .safetensors file (memory-mapped, F32/F16/BF16)
 * into the engine layout, inferring the architecture from the tensors found:
 *
 *   torchvision  features.N.weight (cout, cin, 3, 3) + .bias; a max-pool follows
 *                conv N when the next conv is N+3 (conv, relu, pool) and after the
 *                last conv; classifier.0.weight (4096, C*7*7) -> fc6 7x7 conv (torch
 *                flattens (c, h, w)), classifier.3 (4096, 4096) -> fc7 1x1,
 *                classifier.6 (1000, 4096) -> fc8 1x1, no ReLU.
 *   timm         features.N.* as above, pre_logits.fc1.weight (4096, C, 7, 7),
 *                pre_logits.fc2.weight (4096, 4096, 1, 1), head.fc.weight (1000, 4096).
 *
 * torch (cout, cin, kh, kw) is transposed to (kh, kw, cin, cout). 13 convs ->
 * "vgg16", 16 -> "vgg19", else "custom". Input normalisation: ImageNet RGB
 * (torchvision/timm) unless __metadata__ "input_norm" is "caffe_bgr".
 * Also: dream_weights_inspect() for `dream inspect FILE`.
 */
#include "weights.h"
#include "safetensors.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MOD "weights"
#define MAX_FEATURE_INDEX 4096

typedef struct src_layer {
    const st_tensor_t *w, *b;
    int ncol_k;              /* spatial side the (out, in) rows are flattened with */
} src_layer_t;

/* "features.N.weight" -> N, else -1. */
static int feature_index(const char *name) {
    if (strncmp(name, "features.", 9) != 0) return -1;
    const char *p = name + 9;
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '.')) return -1;
    int v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > MAX_FEATURE_INDEX) return -1;
    }
    return strcmp(p, ".weight") == 0 ? v : -1;
}

static int cmp_int(const void *a, const void *b) {
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void shape_of(const st_tensor_t *t, char *s, size_t n) { st_shape_str(t, s, n); }

static int need_shape(const char *path, const st_tensor_t *t, int ndim, const int64_t *want,
                      dream_err_t *err) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || t->shape[i] == want[i];
    if (ok) return 0;
    char got[160], exp[160];
    shape_of(t, got, sizeof got);
    size_t o = 0;
    o += (size_t)snprintf(exp + o, sizeof exp - o, "(");
    for (int i = 0; i < ndim && o < sizeof exp; i++) {
        if (want[i] < 0) o += (size_t)snprintf(exp + o, sizeof exp - o, "%s*", i ? ", " : "");
        else o += (size_t)snprintf(exp + o, sizeof exp - o, "%s%lld", i ? ", " : "",
                                   (long long)want[i]);
    }
    if (o < sizeof exp) snprintf(exp + o, sizeof exp - o, ndim == 1 ? ",)" : ")");
    return dream_err_set(err, "%s: tensor '%s' has shape %s, expected %s", path, t->name, got,
                         exp);
}

/* (cout, cin*k*k) row-major torch rows -> (k, k, cin, cout). Converts blocks of rows. */
static int transpose_into(const st_file_t *f, const st_tensor_t *t, int k, int cin, int cout,
                          float *dst, dream_err_t *err) {
    const size_t R = (size_t)cin * k * k, kk = (size_t)k * k;
    if (t->nelem != R * (size_t)cout)
        return dream_err_set(err, "%s: tensor '%s': %zu elements, expected %zu", st_path(f),
                             t->name, t->nelem, R * (size_t)cout);
    size_t B = R >= 65536 ? 16 : 64;
    float *tmp = malloc(B * R * sizeof(float));
    if (!tmp) return dream_err_set(err, "%s: out of memory", st_path(f));
    for (size_t o0 = 0; o0 < (size_t)cout; o0 += B) {
        size_t nb = (size_t)cout - o0 < B ? (size_t)cout - o0 : B;
        if (st_to_f32_range(f, t, o0 * R, nb * R, tmp, err) != 0) { free(tmp); return -1; }
        for (size_t r = 0; r < R; r++) {
            size_t c = r / kk, hw = r % kk;
            float *d = dst + (hw * (size_t)cin + c) * (size_t)cout + o0;
            const float *s = tmp + r;
            for (size_t j = 0; j < nb; j++) d[j] = s[j * R];
        }
    }
    free(tmp);
    return 0;
}

static int isqrt_exact(int64_t v) {
    for (int64_t k = 1; k * k <= v && k <= 64; k++)
        if (k * k == v) return (int)k;
    return -1;
}

/* What dream_model_load found: layer specs and the tensors that fill them. */
typedef struct load_plan {
    dream_layer_spec_t sp[DREAM_MAX_LAYERS];
    src_layer_t src[DREAM_MAX_LAYERS];
    int n;                      /* layers so far */
    int nconv;                  /* features.N convs */
    int cin;                    /* channels into the next layer */
    int timm;                   /* 1 = timm names, 0 = torchvision */
} load_plan_t;

/* features.N convs (+ the pools between them) -> p->sp / p->src */
static int plan_convs(st_file_t *f, const char *path, load_plan_t *p, dream_err_t *err) {
    int idx[DREAM_MAX_LAYERS];
    p->nconv = 0;
    for (int i = 0; i < st_count(f); i++) {
        int v = feature_index(st_get(f, i)->name);
        if (v < 0) continue;
        if (p->nconv >= DREAM_MAX_LAYERS) {
            dream_err_set(err, "%s: too many features.N convs (max %d layers)", path,
                          DREAM_MAX_LAYERS);
            return -1;
        }
        idx[p->nconv++] = v;
    }
    if (p->nconv == 0) {
        dream_err_set(err, "%s: missing tensor 'features.0.weight' (no conv layers)", path);
        return -1;
    }
    qsort(idx, (size_t)p->nconv, sizeof *idx, cmp_int);
    p->n = 0;
    p->cin = 3;
    char nm[96];
    for (int i = 0; i < p->nconv; i++) {
        snprintf(nm, sizeof nm, "features.%d.weight", idx[i]);
        const st_tensor_t *w = st_find(f, nm);
        if (w->ndim == 1) {
            dream_err_set(err, "%s: tensor '%s' is 1-D: batch-norm VGG (vgg*_bn) is not "
                          "supported", path, nm);
            return -1;
        }
        if (need_shape(path, w, 4, (const int64_t[]){-1, p->cin, -1, -1}, err) != 0) return -1;
        if (w->shape[2] != w->shape[3] || w->shape[2] % 2 == 0 || w->shape[2] > 7 ||
            w->shape[0] < 1 || w->shape[0] > 65536) {
            char s[160];
            shape_of(w, s, sizeof s);
            dream_err_set(err, "%s: tensor '%s' has shape %s: need an odd square kernel "
                          "(cout, %d, k, k)", path, nm, s, p->cin);
            return -1;
        }
        snprintf(nm, sizeof nm, "features.%d.bias", idx[i]);
        const st_tensor_t *b = st_require(f, nm, err);
        if (!b || need_shape(path, b, 1, (const int64_t[]){w->shape[0]}, err) != 0) return -1;
        int next = i + 1 < p->nconv ? idx[i + 1] : -1;
        int pool = next < 0 || next - idx[i] == 3;
        if (next >= 0 && next - idx[i] != 2 && next - idx[i] != 3) {
            dream_err_set(err, "%s: features.%d -> features.%d: unexpected layer spacing "
                          "(expected conv, relu[, pool])", path, idx[i], next);
            return -1;
        }
        if (p->n + 1 + pool + 3 > DREAM_MAX_LAYERS) {
            dream_err_set(err, "%s: too many layers (max %d)", path, DREAM_MAX_LAYERS);
            return -1;
        }
        dream_layer_spec_t *s = &p->sp[p->n];
        s->kind = DREAM_LAYER_CONV;
        s->k = (int)w->shape[2];
        s->pad = s->k / 2;
        s->cin = p->cin;
        s->cout = (int)w->shape[0];
        s->relu = 1;
        snprintf(s->name, sizeof s->name, "features.%d", idx[i]);
        p->src[p->n].w = w;
        p->src[p->n].b = b;
        p->src[p->n].ncol_k = s->k;
        p->n++;
        if (pool) {
            p->sp[p->n].kind = DREAM_LAYER_POOL;
            snprintf(p->sp[p->n].name, sizeof p->sp[p->n].name, "features.%d", idx[i] + 2);
            p->n++;
        }
        p->cin = (int)w->shape[0];
    }
    return 0;
}

/* the three classifier layers (fc6 as a k x k conv, fc7, fc8) */
static int plan_classifier(st_file_t *f, const char *path, load_plan_t *p, dream_err_t *err) {
    char nm[96];
    static const char *tvn[3] = {"classifier.0", "classifier.3", "classifier.6"};
    static const char *tmn[3] = {"pre_logits.fc1", "pre_logits.fc2", "head.fc"};
    for (int j = 0; j < 3; j++) {
        snprintf(nm, sizeof nm, "%s.weight", p->timm ? tmn[j] : tvn[j]);
        const st_tensor_t *w = st_require(f, nm, err);
        if (!w) return -1;
        int k = 1, cout;
        if (!p->timm || j == 2) {                          /* linear (out, in) */
            if (need_shape(path, w, 2, (const int64_t[]){-1, -1}, err) != 0) return -1;
            if (j == 0) {
                k = w->shape[1] % p->cin == 0 ? isqrt_exact(w->shape[1] / p->cin) : -1;
                if (k < 1) {
                    dream_err_set(err, "%s: tensor '%s' has %lld inputs: not %d channels x k x k "
                                  "(the last conv has %d channels)", path, nm,
                                  (long long)w->shape[1], p->cin, p->cin);
                    return -1;
                }
            } else if (need_shape(path, w, 2, (const int64_t[]){-1, p->cin}, err) != 0) return -1;
        } else {                                        /* timm conv (out, in, k, k) */
            if (need_shape(path, w, 4, (const int64_t[]){-1, p->cin, -1, -1}, err) != 0) return -1;
            k = (int)w->shape[2];
            if (w->shape[3] != k || k > 64 || (j == 1 && k != 1)) {
                char s[160];
                shape_of(w, s, sizeof s);
                dream_err_set(err, "%s: tensor '%s' has shape %s: need a square kernel%s", path,
                              nm, s, j == 1 ? " of 1" : "");
                return -1;
            }
        }
        if (w->shape[0] < 1 || w->shape[0] > 65536) {
            dream_err_set(err, "%s: tensor '%s': %lld outputs out of range", path, nm,
                          (long long)w->shape[0]);
            return -1;
        }
        cout = (int)w->shape[0];
        snprintf(nm, sizeof nm, "%s.bias", p->timm ? tmn[j] : tvn[j]);
        const st_tensor_t *b = st_require(f, nm, err);
        if (!b || need_shape(path, b, 1, (const int64_t[]){cout}, err) != 0) return -1;
        dream_layer_spec_t *s = &p->sp[p->n];
        s->kind = DREAM_LAYER_CONV;
        s->k = k;
        s->pad = 0;
        s->cin = p->cin;
        s->cout = cout;
        s->relu = j < 2;
        snprintf(s->name, sizeof s->name, "fc%d", 6 + j);
        p->src[p->n].w = w;
        p->src[p->n].b = b;
        p->n++;
        p->cin = cout;
    }
    return 0;
}

/* the planned tensors -> m's layers (transposed, converted to f32) */
static int fill_layers(st_file_t *f, const char *path, const load_plan_t *p, dream_model_t *m, dream_err_t *err) {
    int used = 0;
    for (int i = 0; i < p->n; i++) {
        dream_layer_t *l = &m->layers[i];
        if (l->kind != DREAM_LAYER_CONV) continue;
        if (transpose_into(f, p->src[i].w, l->k, l->cin, l->cout, l->w, err) != 0) return -1;
        if (st_to_f32(f, p->src[i].b, l->b, (size_t)l->cout, err) != 0) return -1;
        used += 2;
    }
    if (used < st_count(f))
        dlog_warn(MOD, "%s: %d tensors not used by the %s VGG layout were ignored", path,
                  st_count(f) - used, p->timm ? "timm" : "torchvision");
    return 0;
}

/* __metadata__ input_norm: imagenet (default) or caffe_bgr */
static int apply_input_norm(st_file_t *f, const char *path, dream_model_t *m, dream_err_t *err) {
    dream_model_set_imagenet_norm(m);
    const char *norm = st_meta(f, "input_norm");
    if (norm && strcmp(norm, "caffe_bgr") == 0) {
        static const float mp[3] = {103.939f, 116.779f, 123.68f};   /* B, G, R */
        for (int c = 0; c < 3; c++) {
            m->in_perm[c] = 2 - c;
            m->in_scale[c] = 1.0f;
            m->in_shift[c] = -mp[c];
        }
    } else if (norm && strcmp(norm, "imagenet") != 0) {
        dream_err_set(err, "%s: __metadata__ input_norm '%.64s' unknown (imagenet | caffe_bgr)",
                      path, norm);
        return -1;
    }
    return 0;
}

dream_model_t *dream_model_load(const char *path, dream_err_t *err) {
    double t0 = dream_now_ms();
    st_file_t *f = st_open(path, err);
    if (!f) return NULL;
    dream_model_t *m = NULL;
    load_plan_t *p = calloc(1, sizeof *p);
    if (!p) { dream_err_set(err, "%s: out of memory", path); goto fail; }
    if (st_find(f, "classifier.0.weight")) p->timm = 0;
    else if (st_find(f, "pre_logits.fc1.weight")) p->timm = 1;
    else {
        dream_err_set(err, "%s: not a VGG: no 'classifier.0.weight' (torchvision) or "
                      "'pre_logits.fc1.weight' (timm) tensor", path);
        goto fail;
    }
    if (plan_convs(f, path, p, err) != 0 || plan_classifier(f, path, p, err) != 0) goto fail;
    m = dream_model_alloc(p->sp, p->n, err);
    if (!m) { dream_err_prefix(err, "%s", path); goto fail; }
    if (fill_layers(f, path, p, m, err) != 0) goto fail;
    snprintf(m->arch, sizeof m->arch, "%s", p->nconv == 13 ? "vgg16" : p->nconv == 16 ? "vgg19" : "custom");
    snprintf(m->naming, sizeof m->naming, "%s", p->timm ? "timm" : "torchvision");
    snprintf(m->source, sizeof m->source, "%s", path);
    m->trained = 1;
    if (apply_input_norm(f, path, m, err) != 0) goto fail;
    dream_model_compute_hash(m);
    dlog_info(MOD, "loaded %s (%s, %d convs + 3 fc, %zu params) from %s in %.0f ms", m->arch,
              m->naming, p->nconv, dream_model_params(m), path, dream_now_ms() - t0);
    free(p);
    st_close(&f);
    return m;
fail:
    free(p);
    dream_model_destroy(&m);
    st_close(&f);
    return NULL;
}

/* ---------------------------------------------------------------- inspect */

static void dtype_summary(const st_file_t *f, char *buf, size_t n) {
    int cnt[ST_NDTYPES] = {0};
    for (int i = 0; i < st_count(f); i++) cnt[st_get(f, i)->dtype]++;
    size_t o = 0;
    buf[0] = 0;
    int k = 0;
    for (int d = 0; d < ST_NDTYPES; d++) {
        if (!cnt[d] || o >= n) continue;
        o += (size_t)snprintf(buf + o, n - o, "%s%s", k++ ? "," : "", st_dtype_name((st_dtype_t)d));
    }
    if (!k) snprintf(buf, n, "none");
}

/* Prints a value with newlines/colons made harmless for key:value output. */
static void put_clean(FILE *out, const char *s) {
    for (int i = 0; s[i] && i < 400; i++) fputc(s[i] == '\n' || s[i] == '\r' ? ' ' : s[i], out);
}

int dream_weights_inspect(const char *path, FILE *out, dream_err_t *err) {
    st_file_t *f = st_open(path, err);
    if (!f) return -1;
    struct stat st;
    long long size = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    char dt[128];
    dtype_summary(f, dt, sizeof dt);
    int is_vgg = st_find(f, "classifier.0.weight") || st_find(f, "pre_logits.fc1.weight");
    dream_model_t *m = NULL;
    if (is_vgg) {
        m = dream_model_load(path, err);
        if (!m) { st_close(&f); return -1; }
    }
    fprintf(out, "# Weights\n");
    fprintf(out, "file:%s\n", path);
    fprintf(out, "size_bytes:%lld\n", size);
    fprintf(out, "tensors:%d\n", st_count(f));
    fprintf(out, "dtype:%s\n", dt);
    if (m) {
        int nconv = 0;
        for (int i = 0; i < m->nlayers; i++) nconv += m->layers[i].kind == DREAM_LAYER_CONV;
        fprintf(out, "naming:%s\n", m->naming);
        fprintf(out, "arch:%s\n", m->arch);
        fprintf(out, "layers:%d\n", m->nlayers);
        fprintf(out, "convs:%d\n", nconv - 3);
        fprintf(out, "fc:3\n");
        fprintf(out, "pools:%d\n", dream_model_npools(m));
        fprintf(out, "params:%zu\n", dream_model_params(m));
        fprintf(out, "classes:%d\n", m->nclasses);
        fprintf(out, "min_side:%d\n", dream_model_min_side(m));
        fprintf(out, "input_norm:perm=%d,%d,%d scale=%.6g,%.6g,%.6g shift=%.6g,%.6g,%.6g\n",
                m->in_perm[0], m->in_perm[1], m->in_perm[2], m->in_scale[0], m->in_scale[1],
                m->in_scale[2], m->in_shift[0], m->in_shift[1], m->in_shift[2]);
        fprintf(out, "trained:%s\n", m->trained ? "yes" : "no");
        fprintf(out, "hash:%s\n", m->hash);
    } else {
        fprintf(out, "naming:none\n");
        for (int i = 0; i < st_count(f); i++) {
            const st_tensor_t *t = st_get(f, i);
            char s[160];
            st_shape_str(t, s, sizeof s);
            fprintf(out, "tensor.");
            put_clean(out, t->name);
            fprintf(out, ":%s %s\n", st_dtype_name(t->dtype), s);
        }
    }
    for (int i = 0; i < st_meta_count(f); i++) {
        const char *k, *v;
        st_meta_get(f, i, &k, &v);
        fprintf(out, "meta.");
        put_clean(out, k);
        fputc(':', out);
        put_clean(out, v);
        fputc('\n', out);
    }
    dream_model_destroy(&m);
    st_close(&f);
    return 0;
}
