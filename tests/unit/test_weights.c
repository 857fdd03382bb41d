/*
 * test_weights.c — VGG loading from safetensors in both namings (torchvision,
 * timm) and all dtypes (F32/F16/BF16): layer shapes, pool placement, every
 * weight at its transposed (kh, kw, cin, cout) index including the
 * classifier.0 -> 7x7 reshape, vgg16/vgg19 detection, clear errors for missing
 * or mis-shaped tensors, random-init determinism (pinned hashes), the cheap
 * random-init identity hash and dream_model_identify (dreamd's view), geometry,
 * input normalisation, `inspect` output and the prior loader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine.h"
#include "model.h"
#include "safetensors.h"
#include "weights.h"
#include "paths.h"

static char g_dir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* Every weight value: small multiples of 1/64, exact in F16 and BF16. */
static float val(int tensor, size_t i) {
    return (float)((int)((tensor * 131u + i * 7u + (i / 5) * 3u) % 97u) - 48) / 64.0f;
}

/* A VGG-shaped net: pattern lists conv channels, 0 = pool (as dream_arch_t.convs). */
typedef struct tiny {
    int n;
    int pat[24];
    int fc_k, f6, f7, ncls;
} tiny_t;

static const tiny_t TINY = {5, {4, 5, 0, 6, 0}, 2, 5, 7, 3};
static const tiny_t TINY16 = {18, {2, 2, 0, 3, 3, 0, 3, 3, 3, 0, 4, 4, 4, 0, 4, 4, 4, 0},
                              7, 6, 5, 4};
static const tiny_t TINY19 = {21, {2, 2, 0, 2, 2, 0, 2, 2, 2, 2, 0, 3, 3, 3, 3, 0,
                                   3, 3, 3, 3, 0}, 7, 4, 4, 3};

/* Writes the net; omit (if not NULL) names a tensor to leave out; reshape names a
 * tensor whose first dim gets +1 (mis-shaped). Returns 0/-1. */
static int write_net(const char *path, const tiny_t *a, int timm, st_dtype_t dt,
                     const char *omit, const char *reshape, const char *const *md) {
    st_entry_t e[64];
    float *bufs[64];
    int ne = 0, idx = 0, cin = 3, tid = 0;
    char names[64][64];
    for (int i = 0; i < a->n; i++) {
        if (a->pat[i] == 0) { idx += 1; continue; }
        int co = a->pat[i];
        for (int wb = 0; wb < 2; wb++) {
            snprintf(names[ne], 64, "features.%d.%s", idx, wb ? "bias" : "weight");
            e[ne] = (st_entry_t){.name = names[ne], .dtype = dt};
            if (wb) { e[ne].ndim = 1; e[ne].shape[0] = co; }
            else {
                e[ne].ndim = 4;
                e[ne].shape[0] = co; e[ne].shape[1] = cin; e[ne].shape[2] = 3; e[ne].shape[3] = 3;
            }
            ne++;
        }
        idx += 2;
        cin = co;
    }
    const int fo[3] = {a->f6, a->f7, a->ncls};
    const char *tv[3] = {"classifier.0", "classifier.3", "classifier.6"};
    const char *tm[3] = {"pre_logits.fc1", "pre_logits.fc2", "head.fc"};
    for (int j = 0; j < 3; j++) {
        int k = j == 0 ? a->fc_k : 1;
        for (int wb = 0; wb < 2; wb++) {
            snprintf(names[ne], 64, "%s.%s", timm ? tm[j] : tv[j], wb ? "bias" : "weight");
            e[ne] = (st_entry_t){.name = names[ne], .dtype = dt};
            if (wb) { e[ne].ndim = 1; e[ne].shape[0] = fo[j]; }
            else if (timm && j < 2) {
                e[ne].ndim = 4;
                e[ne].shape[0] = fo[j]; e[ne].shape[1] = cin; e[ne].shape[2] = k; e[ne].shape[3] = k;
            } else {
                e[ne].ndim = 2;
                e[ne].shape[0] = fo[j]; e[ne].shape[1] = (int64_t)cin * k * k;
            }
            ne++;
        }
        cin = fo[j];
    }
    int out = 0;
    for (int i = 0; i < ne; i++) {
        if (omit && strcmp(e[i].name, omit) == 0) continue;
        if (reshape && strcmp(e[i].name, reshape) == 0) e[i].shape[0] += 1;
        size_t n = 1;
        for (int d = 0; d < e[i].ndim; d++) n *= (size_t)e[i].shape[d];
        bufs[out] = malloc(n * sizeof(float));
        for (size_t q = 0; q < n; q++) bufs[out][q] = val(tid, q);
        tid++;
        e[i].data = bufs[out];
        e[out++] = e[i];
    }
    dream_err_t err = {{0}};
    int rc = st_write(path, e, out, md, &err);
    if (rc) print_error("st_write: %s\n", err.msg);
    for (int i = 0; i < out; i++) free(bufs[i]);
    return rc;
}

/* Checks every layer and every weight against the torch-layout values. */
static void check_net(const dream_model_t *m, const tiny_t *a) {
    int li = 0, idx = 0, cin = 3, tid = 0, npool = 0;
    for (int i = 0; i < a->n; i++) {
        const dream_layer_t *l = &m->layers[li++];
        char nm[48];
        snprintf(nm, sizeof nm, "features.%d", idx);
        assert_string_equal(l->name, nm);
        if (a->pat[i] == 0) {
            assert_int_equal(l->kind, DREAM_LAYER_POOL);
            idx += 1;
            npool++;
            continue;
        }
        int co = a->pat[i];
        assert_int_equal(l->kind, DREAM_LAYER_CONV);
        assert_int_equal(l->k, 3);
        assert_int_equal(l->pad, 1);
        assert_int_equal(l->cin, cin);
        assert_int_equal(l->cout, co);
        assert_int_equal(l->relu, 1);
        for (int o = 0; o < co; o++)
            for (int c = 0; c < cin; c++)
                for (int h = 0; h < 3; h++)
                    for (int w = 0; w < 3; w++) {
                        float want = val(tid, (size_t)((o * cin + c) * 3 + h) * 3 + w);
                        float got = l->w[((size_t)(h * 3 + w) * cin + c) * co + o];
                        if (got != want)
                            fail_msg("%s w[o=%d c=%d h=%d w=%d] = %g, want %g", nm, o, c, h, w,
                                     got, want);
                    }
        tid++;
        for (int o = 0; o < co; o++) assert_true(l->b[o] == val(tid, (size_t)o));
        tid++;
        idx += 2;
        cin = co;
    }
    const int fo[3] = {a->f6, a->f7, a->ncls};
    for (int j = 0; j < 3; j++) {
        const dream_layer_t *l = &m->layers[li++];
        int k = j == 0 ? a->fc_k : 1;
        char nm[16];
        snprintf(nm, sizeof nm, "fc%d", 6 + j);
        assert_string_equal(l->name, nm);
        assert_int_equal(l->kind, DREAM_LAYER_CONV);
        assert_int_equal(l->k, k);
        assert_int_equal(l->pad, 0);
        assert_int_equal(l->cin, cin);
        assert_int_equal(l->cout, fo[j]);
        assert_int_equal(l->relu, j < 2);
        for (int o = 0; o < fo[j]; o++)
            for (int c = 0; c < cin; c++)
                for (int h = 0; h < k; h++)
                    for (int w = 0; w < k; w++) {
                        /* torch flattening of the fc input: (c, h, w) */
                        float want = val(tid, (size_t)o * cin * k * k + (size_t)(c * k + h) * k + w);
                        float got = l->w[((size_t)(h * k + w) * cin + c) * fo[j] + o];
                        if (got != want)
                            fail_msg("%s w[o=%d c=%d h=%d w=%d] = %g, want %g", nm, o, c, h, w,
                                     got, want);
                    }
        tid++;
        for (int o = 0; o < fo[j]; o++) assert_true(l->b[o] == val(tid, (size_t)o));
        tid++;
        cin = fo[j];
    }
    assert_int_equal(m->nlayers, li);
    assert_int_equal(dream_model_npools(m), npool);
    assert_int_equal(m->nclasses, a->ncls);
    assert_int_equal(m->trained, 1);
}

static int setup(void **state) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_weights_XXXXXX");
    dlog_set_level(DLOG_ERROR);
    return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_torchvision_f32(void **state) {
    const char *p = tpath("tv32.safetensors");
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, NULL, NULL, NULL), 0);
    dream_err_t err = {{0}};
    dream_model_t *m = dream_model_load(p, &err);
    if (!m) fail_msg("%s", err.msg);
    check_net(m, &TINY);
    assert_string_equal(m->arch, "custom");
    assert_string_equal(m->naming, "torchvision");
    assert_string_equal(m->source, p);
    /* layer list: conv, conv, pool, conv, pool, fc6, fc7, fc8 */
    assert_int_equal(m->nlayers, 8);
    assert_int_equal(m->layers[2].kind, DREAM_LAYER_POOL);
    assert_int_equal(m->layers[4].kind, DREAM_LAYER_POOL);
    /* spot check with literal indices: features.0.weight (4, 3, 3, 3) element
     * [o=2][c=1][h=0][w=2] is flat torch index ((2*3+1)*3+0)*3+2 = 65 (tensor 0);
     * engine (kh, kw, cin, cout) index ((0*3+2)*3+1)*4+2 = 30 */
    assert_true(m->layers[0].w[30] == val(0, 65));
    /* classifier.0.weight (5, 6*2*2) is tensor 6: element [o=1][c=3][h=1][w=0] is flat
     * 1*24 + 3*4 + 1*2 + 0 = 38; engine fc6 (2, 2, 6, 5) index ((1*2+0)*6+3)*5+1 = 76 */
    assert_true(m->layers[5].w[76] == val(6, 38));
    assert_true(val(6, 38) != val(6, 76));
    /* geometry: 2 pools, fc k=2 -> min side 8; grid = (H >> 2) - 2 + 1 */
    assert_int_equal(dream_model_min_side(m), 8);
    int gh = 0, gw = 0;
    assert_int_equal(dream_model_grid(m, 8, 8, &gh, &gw, &err), 0);
    assert_int_equal(gh, 1);
    assert_int_equal(gw, 1);
    assert_int_equal(dream_model_grid(m, 23, 40, &gh, &gw, &err), 0);
    assert_int_equal(gh, 4);
    assert_int_equal(gw, 9);
    assert_int_equal(dream_model_grid(m, 7, 40, &gh, &gw, &err), -1);
    assert_non_null(strstr(err.msg, "minimum side 8"));
    char d[600];
    dream_model_describe(m, d, sizeof d);
    assert_non_null(strstr(d, "trained"));
    assert_null(strstr(d, "UNTRAINED"));
    assert_non_null(strstr(d, p));
    dream_model_destroy(&m);
    assert_null(m);
    dream_model_destroy(&m);
}

static void test_timm_and_dtypes(void **state) {
    dream_err_t err = {{0}};
    char ref[17] = "";
    struct { int timm; st_dtype_t dt; } cases[] = {
        {0, ST_F32}, {1, ST_F32}, {0, ST_F16}, {1, ST_F16}, {0, ST_BF16}, {1, ST_BF16}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "net%zu.safetensors", i);
        const char *p = tpath(nm);
        assert_int_equal(write_net(p, &TINY, cases[i].timm, cases[i].dt, NULL, NULL, NULL), 0);
        dream_model_t *m = dream_model_load(p, &err);
        if (!m) fail_msg("%s", err.msg);
        check_net(m, &TINY);
        assert_string_equal(m->naming, cases[i].timm ? "timm" : "torchvision");
        /* identical weights in every naming and dtype -> identical hash */
        if (i == 0) memcpy(ref, m->hash, sizeof ref);
        else assert_string_equal(m->hash, ref);
        dream_model_destroy(&m);
    }
    assert_int_equal(strlen(ref), 16);
}

static void test_vgg16_vgg19_detection(void **state) {
    dream_err_t err = {{0}};
    const char *p = tpath("v16.safetensors");
    assert_int_equal(write_net(p, &TINY16, 1, ST_BF16, NULL, NULL, NULL), 0);
    dream_model_t *m = dream_model_load(p, &err);
    if (!m) fail_msg("%s", err.msg);
    check_net(m, &TINY16);
    assert_string_equal(m->arch, "vgg16");
    assert_int_equal(m->nlayers, 13 + 5 + 3);
    assert_int_equal(dream_model_npools(m), 5);
    assert_int_equal(dream_model_min_side(m), 224);
    int gh, gw;
    assert_int_equal(dream_model_grid(m, 224, 224, &gh, &gw, &err), 0);
    assert_int_equal(gh, 1);
    assert_int_equal(gw, 1);
    assert_int_equal(dream_model_grid(m, 480, 640, &gh, &gw, &err), 0);
    assert_int_equal(gh, (480 >> 5) - 7 + 1);
    assert_int_equal(gw, (640 >> 5) - 7 + 1);
    assert_int_equal(dream_model_grid(m, 223, 640, &gh, &gw, &err), -1);
    assert_non_null(strstr(err.msg, "224"));
    dream_model_destroy(&m);

    p = tpath("v19.safetensors");
    assert_int_equal(write_net(p, &TINY19, 0, ST_F16, NULL, NULL, NULL), 0);
    m = dream_model_load(p, &err);
    if (!m) fail_msg("%s", err.msg);
    check_net(m, &TINY19);
    assert_string_equal(m->arch, "vgg19");
    assert_int_equal(m->nlayers, 16 + 5 + 3);
    /* torchvision vgg19 indices: the last conv is features.34, its pool features.36 */
    assert_string_equal(m->layers[m->nlayers - 5].name, "features.34");
    assert_string_equal(m->layers[m->nlayers - 4].name, "features.36");
    dream_model_destroy(&m);
}

static void expect_load_fail(const char *p, const char *s1, const char *s2) {
    dream_err_t err = {{0}};
    dream_model_t *m = dream_model_load(p, &err);
    if (m) { dream_model_destroy(&m); fail_msg("%s loaded, expected '%s'", p, s1); }
    if (!strstr(err.msg, p) || !strstr(err.msg, s1) || (s2 && !strstr(err.msg, s2)))
        fail_msg("error '%s' lacks '%s' / '%s' / '%s'", err.msg, p, s1, s2 ? s2 : "");
}

static void test_missing_and_misshaped(void **state) {
    const char *p = tpath("bad.safetensors");
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, "features.2.bias", NULL, NULL), 0);
    expect_load_fail(p, "missing tensor 'features.2.bias'", NULL);
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, "classifier.6.weight", NULL, NULL), 0);
    expect_load_fail(p, "missing tensor 'classifier.6.weight'", NULL);
    assert_int_equal(write_net(p, &TINY, 1, ST_F32, "head.fc.bias", NULL, NULL), 0);
    expect_load_fail(p, "missing tensor 'head.fc.bias'", NULL);
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, "classifier.0.weight", NULL, NULL), 0);
    expect_load_fail(p, "not a VGG", NULL);
    /* mis-shaped: cout of features.2 one larger -> its bias and the next conv disagree */
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, NULL, "features.2.weight", NULL), 0);
    expect_load_fail(p, "'features.2.bias'", "expected (6,)");
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, NULL, "classifier.3.bias", NULL), 0);
    expect_load_fail(p, "'classifier.3.bias'", "shape (8,)");
    assert_int_equal(write_net(p, &TINY, 1, ST_F32, NULL, "pre_logits.fc1.weight", NULL), 0);
    expect_load_fail(p, "'pre_logits.fc1.bias'", NULL);
    /* a missing middle conv breaks the conv, relu[, pool] spacing */
    assert_int_equal(write_net(p, &TINY16, 0, ST_F32, "features.7.weight", NULL, NULL), 0);
    expect_load_fail(p, "unexpected layer spacing", NULL);
    /* classifier input not C*k*k */
    st_entry_t e[2];
    float z[64] = {0};
    e[0] = (st_entry_t){.name = "classifier.0.weight", .dtype = ST_F32, .ndim = 2,
                        .shape = {2, 5}, .data = z};
    e[1] = (st_entry_t){.name = "features.0.weight", .dtype = ST_F32, .ndim = 4,
                        .shape = {2, 3, 3, 3}, .data = z};
    dream_err_t err;
    assert_int_equal(st_write(p, e, 2, NULL, &err), 0);
    expect_load_fail(p, "missing tensor 'features.0.bias'", NULL);
    /* batch-norm VGG: features.1.weight is 1-D */
    e[1] = (st_entry_t){.name = "features.1.weight", .dtype = ST_F32, .ndim = 1,
                        .shape = {4}, .data = z};
    assert_int_equal(st_write(p, e, 2, NULL, &err), 0);
    expect_load_fail(p, "batch-norm", "features.1.weight");
    expect_load_fail(tpath("nonexistent.safetensors"), "cannot open", NULL);
}

static void test_input_norm(void **state) {
    dream_err_t err = {{0}};
    const char *p = tpath("norm.safetensors");
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, NULL, NULL, NULL), 0);
    dream_model_t *m = dream_model_load(p, &err);
    assert_non_null(m);
    /* ImageNet: x/255 - mean over std */
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; c++) {
        assert_int_equal(m->in_perm[c], c);
        float x = 200.0f, net = x * m->in_scale[c] + m->in_shift[c];
        assert_float_equal(net, (x / 255.0f - mean[c]) / sd[c], 1e-5);
    }
    dream_model_destroy(&m);
    const char *md[] = {"input_norm", "caffe_bgr", NULL};
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, NULL, NULL, md), 0);
    m = dream_model_load(p, &err);
    assert_non_null(m);
    assert_int_equal(m->in_perm[0], 2);
    assert_int_equal(m->in_perm[2], 0);
    assert_float_equal(m->in_scale[1], 1.0, 0);
    assert_float_equal(m->in_shift[0], -103.939, 1e-4);
    dream_model_destroy(&m);
    const char *bad[] = {"input_norm", "yuv", NULL};
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, NULL, NULL, bad), 0);
    expect_load_fail(p, "input_norm", "yuv");
}

static const dream_arch_t ARCH_SMALL = {"small", 5, {8, 0, 16, 16, 0}, 3, 12, 10, 7};

static void test_random_determinism(void **state) {
    dream_err_t err = {{0}};
    dream_model_t *a = dream_model_random(&ARCH_SMALL, 7, &err);
    dream_model_t *b = dream_model_random(&ARCH_SMALL, 7, &err);
    dream_model_t *c = dream_model_random(&ARCH_SMALL, 8, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_string_equal(a->hash, b->hash);
    assert_string_not_equal(a->hash, c->hash);
    assert_memory_equal(a->arena, b->arena, a->arena_floats * sizeof(float));
    /* a random model's hash is the cheap identity hash (test_random_hash_cheap); pinned here:
     * the values it stands for, the same numbers on every run and machine (own RNG, not
     * rand()) — if this changes, random_identity()'s "v1" must change with it */
    dream_model_compute_hash(b);
    assert_string_equal(b->hash, "c2edb7215d265fa3");
    assert_string_not_equal(b->hash, a->hash);
    assert_int_equal(a->trained, 0);
    assert_string_equal(a->naming, "random");
    assert_string_equal(a->source, "random(seed=7)");
    assert_string_equal(a->arch, "small");
    /* conv, pool, conv, conv, pool, fc6 (k=3), fc7, fc8 */
    assert_int_equal(a->nlayers, 8);
    assert_int_equal(a->layers[1].kind, DREAM_LAYER_POOL);
    assert_int_equal(a->layers[3].cin, 16);
    assert_int_equal(a->layers[5].k, 3);
    assert_int_equal(a->layers[5].pad, 0);
    assert_int_equal(a->layers[5].cout, 12);
    assert_int_equal(a->layers[7].relu, 0);
    assert_int_equal(a->nclasses, 7);
    assert_int_equal(dream_model_min_side(a), 12);
    /* He-normal: std sqrt(2 / (k*k*cin)), biases 0 */
    for (int li = 0; li < a->nlayers; li++) {
        const dream_layer_t *l = &a->layers[li];
        if (l->kind != DREAM_LAYER_CONV) continue;
        size_t n = (size_t)l->k * l->k * l->cin * l->cout;
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) { s += l->w[i]; s2 += (double)l->w[i] * l->w[i]; }
        double want = sqrt(2.0 / (l->k * l->k * l->cin)), sd = sqrt(s2 / n - (s / n) * (s / n));
        if (n >= 1000) assert_float_equal(sd / want, 1.0, 0.1);
        for (int o = 0; o < l->cout; o++) assert_true(l->b[o] == 0.0f);
    }
    char d[600];
    dream_model_describe(a, d, sizeof d);
    assert_non_null(strstr(d, "UNTRAINED"));
    /* changing one weight changes the hash */
    char h[17];
    dream_model_compute_hash(a);
    memcpy(h, a->hash, 17);
    a->layers[0].w[0] += 1.0f;
    dream_model_compute_hash(a);
    assert_string_not_equal(h, a->hash);
    dream_model_destroy(&a);
    dream_model_destroy(&b);
    dream_model_destroy(&c);
    /* bad arch */
    dream_arch_t bad = ARCH_SMALL;
    bad.nconv = 0;
    assert_null(dream_model_random(&bad, 1, &err));
}

static void test_open_random_vgg16(void **state) {
    if (getenv("DREAM_TEST_QUICK")) {
        printf("SKIP: full random VGG-16 (138M params) not run with DREAM_TEST_QUICK\n");
        skip();
    }
    dream_err_t err = {{0}};
    dream_model_t *m = dream_model_open("random", &err);
    assert_non_null(m);
    assert_string_equal(m->arch, "vgg16");
    assert_string_equal(m->source, "random(seed=1234)");
    assert_int_equal(m->trained, 0);
    assert_int_equal(dream_model_params(m), 138357544);
    assert_int_equal(m->nlayers, 21);
    assert_int_equal(m->nclasses, 1000);
    assert_int_equal(dream_model_min_side(m), 224);
    const dream_layer_t *fc6 = &m->layers[18];
    assert_int_equal(fc6->k, 7);
    assert_int_equal(fc6->cin, 512);
    assert_int_equal(fc6->cout, 4096);
    assert_string_equal(m->layers[17].name, "features.30");
    /* the identity hash dreamd pins for --weights random (pinned: workers and dreamd of
     * different builds must agree), and the values it stands for */
    char h[17];
    assert_int_equal(dream_model_random_hash(&DREAM_ARCH_VGG16, DREAM_RANDOM_SEED, h, &err), 0);
    assert_string_equal(m->hash, h);
    assert_string_equal(m->hash, "1ea8dc082e48d40c");
    dream_model_compute_hash(m);
    assert_string_equal(m->hash, "134961e59b94517a");
    dream_model_destroy(&m);
}

/* dream_model_random_hash: the hash of dream_model_random(arch, seed) without building it;
 * dream_model_identify: what dream_model_open would serve, for dreamd */
static void test_random_hash_cheap(void **state) {
    dream_err_t err = {{0}};
    static const dream_arch_t OTHER = {"small", 5, {8, 0, 16, 12, 0}, 3, 12, 10, 7};   /* one conv narrower */
    static const dream_arch_t RENAMED = {"small2", 5, {8, 0, 16, 16, 0}, 3, 12, 10, 7};
    const dream_arch_t *archs[3] = {&ARCH_SMALL, &OTHER, &RENAMED};
    char seen[6][17];
    int ns = 0;
    for (int ai = 0; ai < 3; ai++)
        for (uint64_t seed = 7; seed <= 8; seed++) {
            char h[17] = "";
            assert_int_equal(dream_model_random_hash(archs[ai], seed, h, &err), 0);
            assert_int_equal(strlen(h), 16);
            dream_model_t *m = dream_model_random(archs[ai], seed, &err);
            assert_non_null(m);
            assert_string_equal(m->hash, h);            /* what a worker built reports */
            dream_model_destroy(&m);
            for (int j = 0; j < ns; j++) assert_string_not_equal(seen[j], h);   /* seed, arch matter */
            memcpy(seen[ns++], h, 17);
        }
    /* a bad arch is an error, as for dream_model_random */
    dream_arch_t bad = ARCH_SMALL;
    bad.fc6 = 0;
    char h[17];
    err.msg[0] = 0;
    assert_int_equal(dream_model_random_hash(&bad, 1, h, &err), -1);
    assert_non_null(strstr(err.msg, "architecture"));
    assert_null(dream_model_random(&bad, 1, &err));

    /* identify("random"): VGG-16 with the workers' default seed, without 138 M numbers */
    dream_model_id_t id;
    assert_int_equal(dream_model_random_hash(&DREAM_ARCH_VGG16, DREAM_RANDOM_SEED, h, &err), 0);
    assert_string_equal(h, "1ea8dc082e48d40c");
    assert_int_equal(dream_model_identify("random", &id, &err), 0);
    assert_string_equal(id.hash, h);
    assert_int_equal(id.trained, 0);
    assert_non_null(strstr(id.desc, "UNTRAINED"));
    assert_non_null(strstr(id.desc, "138357544 params"));
    assert_non_null(strstr(id.desc, "random(seed=1234)"));
    assert_int_equal(dream_model_identify(NULL, &id, &err), 0);
    assert_string_equal(id.hash, h);
    assert_int_equal(dream_model_random_hash(&DREAM_ARCH_VGG19, DREAM_RANDOM_SEED, h, &err), 0);
    assert_string_not_equal(id.hash, h);

    /* identify(FILE): the loader's value hash and trained flag; errors name the file */
    const char *p = tpath("ident.safetensors");
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, NULL, NULL, NULL), 0);
    dream_model_t *m = dream_model_load(p, &err);
    assert_non_null(m);
    assert_int_equal(dream_model_identify(p, &id, &err), 0);
    assert_string_equal(id.hash, m->hash);
    assert_int_equal(id.trained, 1);
    assert_non_null(strstr(id.desc, "trained"));
    assert_null(strstr(id.desc, "UNTRAINED"));
    dream_model_destroy(&m);
    const char *missing = tpath("missing.safetensors");
    assert_int_equal(dream_model_identify(missing, &id, &err), -1);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_inspect(void **state) {
    dream_err_t err = {{0}};
    const char *p = tpath("insp.safetensors");
    const char *md[] = {"source", "unit\ntest", NULL};
    assert_int_equal(write_net(p, &TINY, 1, ST_F16, NULL, NULL, md), 0);
    dream_model_t *m = dream_model_load(p, &err);
    assert_non_null(m);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(dream_weights_inspect(p, out, &err), 0);
    fclose(out);
    char want[128];
    assert_true(strncmp(buf, "# Weights\n", 10) == 0);
    assert_non_null(strstr(buf, "\nnaming:timm\n"));
    assert_non_null(strstr(buf, "\narch:custom\n"));
    assert_non_null(strstr(buf, "\nconvs:3\n"));
    assert_non_null(strstr(buf, "\npools:2\n"));
    assert_non_null(strstr(buf, "\nmin_side:8\n"));
    assert_non_null(strstr(buf, "\ndtype:F16\n"));
    assert_non_null(strstr(buf, "\ntrained:yes\n"));
    assert_non_null(strstr(buf, "\nmeta.source:unit test\n"));
    snprintf(want, sizeof want, "\nhash:%s\n", m->hash);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof want, "\nparams:%zu\n", dream_model_params(m));
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof want, "\nfile:%s\n", p);
    assert_non_null(strstr(buf, want));
    free(buf);
    dream_model_destroy(&m);
    /* a non-VGG safetensors file: tensor listing */
    float z[4] = {0};
    st_entry_t e = {.name = "student.mean", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = z};
    p = tpath("other.safetensors");
    assert_int_equal(st_write(p, &e, 1, NULL, &err), 0);
    out = open_memstream(&buf, &len);
    assert_int_equal(dream_weights_inspect(p, out, &err), 0);
    fclose(out);
    assert_non_null(strstr(buf, "\nnaming:none\n"));
    assert_non_null(strstr(buf, "\ntensor.student.mean:F32 (4,)\n"));
    free(buf);
    /* a broken VGG: error */
    p = tpath("broken.safetensors");
    assert_int_equal(write_net(p, &TINY, 0, ST_F32, "classifier.3.weight", NULL, NULL), 0);
    out = open_memstream(&buf, &len);
    assert_int_equal(dream_weights_inspect(p, out, &err), -1);
    fclose(out);
    free(buf);
    assert_non_null(strstr(err.msg, "classifier.3.weight"));
}

static void test_prior_load(void **state) {
    dream_err_t err = {{0}};
    float w[8 * 8 * 3 * 4], mu[4] = {0.5f, -1, 2, 3};
    for (int i = 0; i < 8 * 8 * 3 * 4; i++) w[i] = (float)i;
    st_entry_t e[2] = {
        {.name = "student.filters", .dtype = ST_F32, .ndim = 4, .shape = {8, 8, 3, 4}, .data = w},
        {.name = "student.mean", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = mu},
    };
    const char *p = tpath("prior.safetensors");
    assert_int_equal(st_write(p, e, 2, NULL, &err), 0);
    dream_prior_t *pr = dream_prior_load(p, DREAM_PRIOR_STUDENT, &err);
    assert_non_null(pr);
    assert_int_equal(pr->k, 8);
    assert_int_equal(pr->nfilt, 4);
    assert_int_equal(pr->kind, DREAM_PRIOR_STUDENT);
    assert_memory_equal(pr->w, w, sizeof w);
    assert_memory_equal(pr->mean, mu, sizeof mu);
    dream_prior_destroy(&pr);
    assert_null(pr);
    dream_prior_destroy(&pr);
    assert_null(dream_prior_load(p, DREAM_PRIOR_GAUSS, &err));
    assert_non_null(strstr(err.msg, "missing tensor 'gauss.filters'"));
    assert_null(dream_prior_load(p, 7, &err));
    e[1].shape[0] = 3;
    assert_int_equal(st_write(p, e, 2, NULL, &err), 0);
    assert_null(dream_prior_load(p, DREAM_PRIOR_STUDENT, &err));
    assert_non_null(strstr(err.msg, "'student.mean'"));

    /* the committed data file: found from the executable (dream_data_dir), whatever the
     * working directory; missing is a failure, not a skip (it is in the repository) */
    char path[1024];
    const char *root = getenv("DREAM_ROOT");
    if (root && *root) snprintf(path, sizeof path, "%s/data/prior.safetensors", root);
    else dream_data_path("prior.safetensors", path, sizeof path);
    if (access(path, R_OK) != 0) fail_msg("%s not found: data/prior.safetensors is part of the repository", path);
    for (int kind = 0; kind < 2; kind++) {
        pr = dream_prior_load(path, kind, &err);
        if (!pr) fail_msg("%s", err.msg);
        assert_int_equal(pr->k, 8);
        assert_int_equal(pr->nfilt, 192);
        double s = 0;
        for (int i = 0; i < 8 * 8 * 3 * 192; i++) s += fabs(pr->w[i]);
        assert_true(s > 0);
        dream_prior_destroy(&pr);
    }
}

/* Corrupted VGG files (bytes flipped in the header or the data): the loader either
 * loads a model or fails with a message; never a crash (run under ASan/UBSan too). */
static void test_load_mutations(void **state) {
    const char *good = tpath("mutsrc.safetensors"), *p = tpath("mut.safetensors");
    assert_int_equal(write_net(good, &TINY, 1, ST_BF16, NULL, NULL, NULL), 0);
    FILE *fp = fopen(good, "rb");
    static unsigned char buf[1 << 16], m[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    assert_true(n > 100 && n < sizeof buf);
    size_t hl = (size_t)buf[0] | (size_t)buf[1] << 8;
    int iters = getenv("DREAM_TEST_QUICK") ? 150 : 1500, loaded = 0;
    uint64_t s = 99;
    dream_err_t err;
    for (int it = 0; it < iters; it++) {
        memcpy(m, buf, n);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        /* mostly header bytes: digits and names are where the structure lives */
        size_t pos = 8 + (s >> 33) % (it % 3 ? hl : n - 8);
        const char repl[] = "0123456789,[]{}\".-e ";
        m[pos] = it % 2 ? (unsigned char)repl[(s >> 20) % (sizeof repl - 1)] : (unsigned char)(s >> 24);
        fp = fopen(p, "wb");
        assert_int_equal(fwrite(m, 1, n, fp), n);
        fclose(fp);
        err.msg[0] = 0;
        dream_model_t *mm = dream_model_load(p, &err);
        if (mm) loaded++;
        else assert_true(err.msg[0] != 0);
        dream_model_destroy(&mm);
    }
    assert_true(loaded > 0 && loaded < iters);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torchvision_f32),
        cmocka_unit_test(test_timm_and_dtypes),
        cmocka_unit_test(test_vgg16_vgg19_detection),
        cmocka_unit_test(test_missing_and_misshaped),
        cmocka_unit_test(test_input_norm),
        cmocka_unit_test(test_random_determinism),
        cmocka_unit_test(test_open_random_vgg16),
        cmocka_unit_test(test_random_hash_cheap),
        cmocka_unit_test(test_inspect),
        cmocka_unit_test(test_prior_load),
        cmocka_unit_test(test_load_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
