/*
 * test_engine.c — the dream engine on the CPU backend, against finite differences.
 *
 * A small VGG-shaped net (3x3 convs incl. the shifted-GEMM path, pools, a valid
 * "fc6" conv and 1x1 convs) with random weights and a random patch prior: the
 * analytic gradient of the whole objective (net + prior + layouts) must match
 * central differences along random directions, at several (odd) sizes. Adam
 * must make each subject's class win its region. Region layouts are exact; one subject with
 * the default seed layout is the 2015 reference's [A, A].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "tilesplit.h"
#include "ref_net.h"

static const dream_arch_t TINY = {"tiny", 5, {8, 8, 0, 8, 0}, 3, 16, 16, 10};

static uint64_t rng_state = 42;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static dream_prior_t *random_prior(int nfilt) {
    dream_prior_t *p = calloc(1, sizeof *p);
    p->kind = DREAM_PRIOR_STUDENT;
    p->k = 8;
    p->nfilt = nfilt;
    p->w = malloc(sizeof(float) * 8 * 8 * 3 * nfilt);
    p->mean = malloc(sizeof(float) * nfilt);
    for (int i = 0; i < 8 * 8 * 3 * nfilt; i++) p->w[i] = (float)((urand() - 0.5) * 0.02);
    for (int i = 0; i < nfilt; i++) p->mean[i] = (float)((urand() - 0.5) * 0.5);
    return p;
}

typedef struct fixture {
    dream_model_t *m;
    dream_prior_t *prior;
    dream_backend_t *be;
    dream_engine_t *e;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    dream_err_t err = {{0}};
    f->m = dream_model_random(&TINY, 7, &err);
    assert_non_null(f->m);
    f->prior = random_prior(12);
    f->be = dream_backend_new("cpu", 0, 2, DREAM_PREC_FP32, &err);
    assert_non_null(f->be);
    f->e = dream_engine_new(f->m, f->prior, f->be, &err);
    assert_non_null(f->e);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    dream_engine_destroy(&f->e);
    assert_null(f->e);
    dream_engine_destroy(&f->e);  /* NULL-safe */
    dream_backend_destroy(&f->be);
    dream_prior_destroy(&f->prior);
    dream_model_destroy(&f->m);
    free(f);
    return 0;
}

/* The engine's loss must match the double-precision reference, and its gradient the
 * reference's central differences (h = 1e-3 pixel) on a random sample of pixels,
 * plus a directional derivative over all pixels. */
static void check_fd(fixture_t *f, int H, int W, const dream_params_t *p) {
    const size_t n = (size_t)H * W * 3;
    float *x = malloc(n * 4), *g = malloc(n * 4);
    double *xd = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) { x[i] = (float)(30 + 195 * urand()); xd[i] = x[i]; }
    dream_losses_t l;
    dream_err_t err = {{0}};
    assert_int_equal(dream_engine_grad(f->e, x, H, W, p, g, &l, &err), 0);
    double rnet, rprior;
    double ref = ref_net_loss(f->m, f->prior, xd, H, W, p, &rnet, &rprior);
    if (fabs(l.total - ref) > 1e-4 * (1 + fabs(ref)) || fabs(l.net - rnet) > 1e-4 * (1 + fabs(rnet)))
        fail_msg("%dx%d: loss %.8g (net %.8g) vs reference %.8g (net %.8g)", W, H, l.total, l.net, ref, rnet);
    const double h = 1e-3;
    double num = 0, den = 0;
    const int samples = n < 96 ? (int)n : 96;
    for (int t = 0; t < samples; t++) {
        size_t i = samples == (int)n ? (size_t)t : (size_t)(urand() * n);
        double keep = xd[i];
        xd[i] = keep + h;
        double lp = ref_net_loss(f->m, f->prior, xd, H, W, p, NULL, NULL);
        xd[i] = keep - h;
        double lm = ref_net_loss(f->m, f->prior, xd, H, W, p, NULL, NULL);
        xd[i] = keep;
        double fd = (lp - lm) / (2 * h);
        num += (fd - g[i]) * (fd - g[i]);
        den += fd * fd;
    }
    double rel = sqrt(num / (den + 1e-30));
    if (getenv("FD_VERBOSE")) fprintf(stderr, "fd %dx%d %s: rel %.3g\n", W, H, dream_layout_name(p->layout), rel);
    if (rel > 1e-4)
        fail_msg("%dx%d layout %s nsubj %d: gradient rel. L2 error %.3g vs finite differences", W, H,
                 dream_layout_name(p->layout), p->nsubj, rel);
    free(x); free(g); free(xd);
}

static void base_params(dream_params_t *p) {
    dream_params_default(p);
    p->npools = 3;
    p->pools[0] = 1; p->pools[1] = 2; p->pools[2] = 4;
    p->prior_strength = 10.f;
}

static void test_fd_sizes_and_layouts(void **state) {
    fixture_t *f = *state;
    const int sizes[][2] = {{12, 12}, {13, 17}, {24, 31}, {29, 20}, {33, 33}};
    const dream_layout_t layouts[] = {DREAM_LAYOUT_SINGLE, DREAM_LAYOUT_SEED, DREAM_LAYOUT_BANDS,
                                      DREAM_LAYOUT_QUADRANTS};
    const int nsubj[] = {1, 2, 3, 4};
    int quick = getenv("DREAM_TEST_QUICK") != NULL;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int li = 0; li < 4; li++) {
            if (quick && li != (int)(s % 4)) continue;
            dream_params_t p;
            base_params(&p);
            p.layout = layouts[li];
            p.nsubj = nsubj[li];
            for (int k = 0; k < p.nsubj; k++) p.cls[k] = (3 * k + 1) % 10;
            check_fd(f, sizes[s][0], sizes[s][1], &p);
        }
    }
}

static void test_fd_net_only_and_gauss(void **state) {
    fixture_t *f = *state;
    dream_params_t p;
    base_params(&p);
    p.prior_strength = 0.f;
    p.cls[0] = 4;
    check_fd(f, 21, 27, &p);
    base_params(&p);
    p.mean_weight = 0.f;
    p.prior_kind = DREAM_PRIOR_GAUSS;
    check_fd(f, 16, 23, &p);
    /* (both above: one subject, default layout = [A, A]); one whole-grid mean */
    base_params(&p);
    p.layout = DREAM_LAYOUT_SINGLE;
    p.cls[0] = 8;
    check_fd(f, 26, 19, &p);
}

/* One subject with the default (seed) layout is the 2015 reference's [A, A]: the class's mean
 * over the lower half of the score grid plus its mean over the upper half; 'single' keeps the
 * one whole-grid mean. With an even grid height that is exactly twice the single term (and
 * twice its gradient); with an odd one it is the two half means of the scores. */
static void test_one_subject_is_AA(void **state) {
    fixture_t *f = *state;
    dream_err_t err = {{0}};
    int checked_even = 0, checked_odd = 0;
    for (int H = 12; H <= 40 && !(checked_even && checked_odd); H++) {
        const int W = 17;
        int gh, gw;
        assert_int_equal(dream_model_grid(f->m, H, W, &gh, &gw, &err), 0);
        if (gh < 2 || (gh % 2 ? checked_odd : checked_even)) continue;
        dream_params_t p, q;
        base_params(&p);
        p.prior_strength = 0.f;
        p.mean_weight = 0.f;
        p.cls[0] = 6;
        q = p;
        q.layout = DREAM_LAYOUT_SINGLE;
        assert_int_equal(p.layout, DREAM_LAYOUT_SEED);      /* the default */
        int cls[DREAM_MAX_SUBJECTS];
        assert_int_equal(dream_params_subjects(&p, cls), 2);
        assert_int_equal(cls[0], 6);
        assert_int_equal(cls[1], 6);
        assert_int_equal(dream_params_subjects(&q, cls), 1);
        const size_t n = (size_t)H * W * 3;
        float *x = malloc(n * 4), *gp = malloc(n * 4), *gq = malloc(n * 4);
        float *sc = malloc(sizeof(float) * gh * gw * 10);
        for (size_t i = 0; i < n; i++) x[i] = (float)(255 * urand());
        dream_losses_t lp, lq;
        assert_int_equal(dream_engine_grad(f->e, x, H, W, &p, gp, &lp, &err), 0);
        assert_int_equal(dream_engine_grad(f->e, x, H, W, &q, gq, &lq, &err), 0);
        assert_int_equal(dream_engine_scores(f->e, x, H, W, sc, &gh, &gw, &err), 0);
        double lo = 0, up = 0, all = 0;
        for (int i = 0; i < gh; i++)
            for (int j = 0; j < gw; j++) {
                double v = sc[(i * gw + j) * 10 + 6];
                if (i >= gh / 2) lo += v; else up += v;
                all += v;
            }
        lo /= (double)(gh - gh / 2) * gw;
        up /= (double)(gh / 2) * gw;
        all /= (double)gh * gw;
        if (fabs(lp.net + lo + up) > 1e-5 * (1 + fabs(lo + up)))
            fail_msg("gh %d: [A, A] loss %.9g, expected -(lower %.9g + upper %.9g)", gh, lp.net, lo, up);
        if (fabs(lq.net + all) > 1e-5 * (1 + fabs(all)))
            fail_msg("gh %d: single loss %.9g, expected -%.9g", gh, lq.net, all);
        if (gh % 2 == 0) {
            assert_true(fabs(lp.net - 2 * lq.net) <= 1e-5 * (1 + fabs(lq.net)));
            double d = 0, r = 0;
            for (size_t i = 0; i < n; i++) { d += pow(gp[i] - 2.0 * gq[i], 2); r += pow(2.0 * gq[i], 2); }
            if (!(sqrt(d / r) < 1e-5)) fail_msg("gh %d: [A, A] gradient is not twice the single one (rel %.3g)", gh, sqrt(d / r));
            checked_even = 1;
        } else {
            checked_odd = 1;
        }
        free(x); free(gp); free(gq); free(sc);
    }
    assert_true(checked_even && checked_odd);
    /* explicit masks (a farm tile) are taken as given: no expansion */
    dream_params_t p;
    base_params(&p);
    uint8_t mask[1] = {1};
    p.masks = mask;
    int cls[DREAM_MAX_SUBJECTS];
    assert_int_equal(dream_params_subjects(&p, cls), 1);
}

static void test_regions_layouts(void **state) {
    (void)state;
    uint8_t m[4 * 7 * 5];
    dream_err_t err = {{0}};
    /* seed: first subject on rows [gh/2, gh) = [3,7), second on [0,3) */
    assert_int_equal(dream_regions_build(DREAM_LAYOUT_SEED, 2, 7, 5, m, &err), 0);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 5; j++) {
            assert_int_equal(m[i * 5 + j], i >= 3);
            assert_int_equal(m[35 + i * 5 + j], i < 3);
        }
    /* bands, k = 3 on 7 rows: [0,2) [2,4) [4,7) */
    assert_int_equal(dream_regions_build(DREAM_LAYOUT_BANDS, 3, 7, 5, m, &err), 0);
    const int b0[] = {0, 2, 4}, b1[] = {2, 4, 7};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 7; i++) assert_int_equal(m[s * 35 + i * 5], i >= b0[s] && i < b1[s]);
    /* quadrants on a 1x1 grid: empty regions fall back to the whole grid */
    assert_int_equal(dream_regions_build(DREAM_LAYOUT_QUADRANTS, 4, 1, 1, m, &err), 0);
    for (int s = 0; s < 4; s++) assert_int_equal(m[s], 1);
    /* quadrants 4x4: subject 1 is top-right */
    assert_int_equal(dream_regions_build(DREAM_LAYOUT_QUADRANTS, 4, 4, 4, m, &err), 0);
    assert_int_equal(m[16 + 0 * 4 + 3], 1);
    assert_int_equal(m[16 + 0 * 4 + 0], 0);
    assert_int_equal(m[16 + 3 * 4 + 3], 0);
    /* errors */
    assert_int_equal(dream_regions_build(DREAM_LAYOUT_SEED, 3, 4, 4, m, &err), -1);
    assert_non_null(strstr(err.msg, "seed"));
    assert_int_equal(dream_regions_build(DREAM_LAYOUT_BANDS, 5, 4, 4, m, &err), -1);
}

static void test_too_small_and_bad_class(void **state) {
    fixture_t *f = *state;
    dream_params_t p;
    base_params(&p);
    float x[11 * 40 * 3];
    memset(x, 0, sizeof x);
    dream_err_t err = {{0}};
    assert_int_equal(dream_engine_grad(f->e, x, 11, 40, &p, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "minimum"));
    float y[12 * 12 * 3];
    memset(y, 0, sizeof y);
    p.cls[0] = 10;
    assert_int_equal(dream_engine_grad(f->e, y, 12, 12, &p, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "class"));
}

/* After Adam steps each subject's class is the arg-max of the mean score over its region. */
static void test_adam_wins_regions(void **state) {
    (void)state;
    static const dream_arch_t ARCH = {"tiny2", 4, {32, 0, 32, 0}, 3, 256, 256, 10};
    dream_err_t err = {{0}};
    dream_model_t *m = dream_model_random(&ARCH, 11, &err);
    dream_backend_t *be = dream_backend_new("cpu", 0, 2, DREAM_PREC_FP32, &err);
    dream_prior_t *prior = random_prior(12);
    dream_engine_t *e = dream_engine_new(m, prior, be, &err);
    assert_non_null(e);
    const int H = 96, W = 24;
    dream_params_t p;
    base_params(&p);
    p.layout = DREAM_LAYOUT_SEED;
    p.nsubj = 2;
    p.cls[0] = 7;
    p.cls[1] = 3;   /* (in this random net class 2 is nearly collinear with 7: a poor pair) */
    p.steps = 100;
    p.lr = 2.f;
    p.prior_strength = 1.f;
    float *x = malloc(sizeof(float) * H * W * 3);
    for (int i = 0; i < H * W * 3; i++) x[i] = (float)(100 + 50 * urand());
    dream_losses_t l0, l1;
    assert_int_equal(dream_engine_grad(e, x, H, W, &p, NULL, &l0, &err), 0);
    assert_int_equal(dream_engine_run(e, x, H, W, &p, &l1, &err), 0);
    assert_true(l1.total < l0.total);
    for (int i = 0; i < H * W * 3; i++) assert_true(x[i] >= 0.f && x[i] <= 255.f);
    int gh, gw;
    assert_int_equal(dream_model_grid(m, H, W, &gh, &gw, &err), 0);
    float *sc = malloc(sizeof(float) * gh * gw * 10);
    uint8_t *masks = malloc(2 * gh * gw);
    assert_int_equal(dream_engine_scores(e, x, H, W, sc, &gh, &gw, &err), 0);
    assert_int_equal(dream_regions_build(DREAM_LAYOUT_SEED, 2, gh, gw, masks, &err), 0);
    for (int s = 0; s < 2; s++) {
        double mean[10] = {0};
        for (int c = 0; c < gh * gw; c++)
            if (masks[s * gh * gw + c])
                for (int k = 0; k < 10; k++) mean[k] += sc[c * 10 + k];
        int best = 0;
        for (int k = 1; k < 10; k++) if (mean[k] > mean[best]) best = k;
        if (best != p.cls[s]) fail_msg("region %d: class %d wins, expected %d", s, best, p.cls[s]);
    }
    free(masks); free(sc); free(x);
    dream_engine_destroy(&e);
    dream_prior_destroy(&prior);
    dream_backend_destroy(&be);
    dream_model_destroy(&m);
}

static void test_jitter_run_is_deterministic(void **state) {
    fixture_t *f = *state;
    const int H = 20, W = 20;
    dream_params_t p;
    base_params(&p);
    p.steps = 3;
    p.jitter = 4;
    p.seed = 99;
    float *a = malloc(sizeof(float) * H * W * 3), *b = malloc(sizeof(float) * H * W * 3);
    for (int i = 0; i < H * W * 3; i++) a[i] = b[i] = (float)(255 * urand());
    dream_err_t err = {{0}};
    assert_int_equal(dream_engine_run(f->e, a, H, W, &p, NULL, &err), 0);
    assert_int_equal(dream_engine_run(f->e, b, H, W, &p, NULL, &err), 0);
    assert_memory_equal(a, b, sizeof(float) * H * W * 3);
    free(a);
    free(b);
}

/* The arena only grows: an engine that ran bigger and smaller images in turn (buffers reused,
 * stale contents behind them) gives what a fresh engine gives at each size. */
static void test_arena_reuse_matches_fresh(void **state) {
    fixture_t *f = *state;
    static const int sizes[][2] = {{40, 36}, {24, 28}, {33, 40}, {40, 36}};
    dream_params_t p;
    base_params(&p);
    p.steps = 2;
    dream_err_t err = {{0}};
    for (int k = 0; k < 4; k++) {
        const int H = sizes[k][0], W = sizes[k][1];
        const size_t n = (size_t)H * W * 3;
        float *a = malloc(n * 4), *b = malloc(n * 4);
        for (size_t i = 0; i < n; i++) a[i] = b[i] = (float)(255 * urand());
        dream_losses_t la, lb;
        assert_int_equal(dream_engine_run(f->e, a, H, W, &p, &la, &err), 0);
        dream_engine_t *fresh = dream_engine_new(f->m, f->prior, f->be, &err);
        assert_non_null(fresh);
        assert_int_equal(dream_engine_run(fresh, b, H, W, &p, &lb, &err), 0);
        dream_engine_destroy(&fresh);
        double d = 0, r = 0;
        for (size_t i = 0; i < n; i++) { d += (double)(a[i] - b[i]) * (a[i] - b[i]); r += (double)b[i] * b[i]; }
        if (!(sqrt(d / r) <= 1e-6) || fabs(la.total - lb.total) > 1e-6 * (1 + fabs(lb.total)))
            fail_msg("%dx%d after other sizes: image rel %.3g, loss %.9g vs fresh %.9g", W, H, sqrt(d / r), la.total,
                     lb.total);
        free(a);
        free(b);
    }
}

/* dream_engine_run88: the same run (same seed: the same steps), its result made by the backend's
 * result88 in 8.8 split order around a hole, equals the floats of dream_engine_run converted on
 * the host (px88_q at tilesplit_index); without a hole raster order */
static void test_run88_matches_run(void **state) {
    fixture_t *f = *state;
    const int H = 24, W = 30;
    const size_t n = (size_t)H * W * 3;
    dream_params_t p;
    base_params(&p);
    p.steps = 2;
    p.seed = 7;
    static const int holes[2][4] = {{4, 3, 20, 15}, {0, 0, 0, 0}};
    for (int k = 0; k < 2; k++) {
        float *a = malloc(n * 4), *b = malloc(n * 4);
        uint8_t *o = malloc(n * 2);
        assert_non_null(a); assert_non_null(b); assert_non_null(o);
        for (size_t i = 0; i < n; i++) a[i] = b[i] = (float)(255 * urand());
        dream_err_t err = {{0}};
        dream_losses_t la, lb;
        assert_int_equal(dream_engine_run(f->e, a, H, W, &p, &la, &err), 0);
        const int *h = holes[k];
        assert_int_equal(dream_engine_run88(f->e, b, H, W, &p, h[0], h[1], h[2], h[3], o, &lb, &err), 0);
        assert_true(la.total == lb.total);
        const tilesplit_rect_t tile = {0, 0, W, H}, hole = {h[0], h[1], h[2], h[3]};
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) {
                    size_t j = tilesplit_index(&tile, &hole, x, y) * 3 + (size_t)c;
                    uint16_t got = (uint16_t)(o[2 * j] | o[2 * j + 1] << 8), want = px88_q(a[((size_t)y * W + x) * 3 + c]);
                    if (got != want) fail_msg("hole %d: (%d, %d, %d): %u != %u", k, x, y, c, got, want);
                }
        free(a); free(b); free(o);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regions_layouts),
        cmocka_unit_test_setup_teardown(test_fd_sizes_and_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_net_only_and_gauss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_subject_is_AA, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_small_and_bad_class, setup, teardown),
        cmocka_unit_test(test_adam_wins_regions),
        cmocka_unit_test_setup_teardown(test_jitter_run_is_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_reuse_matches_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run88_matches_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
