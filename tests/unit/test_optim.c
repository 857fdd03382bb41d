/*
 * test_optim.c — the pixel optimiser (backend adam op, both kinds) over whole trajectories.
 *
 * The CPU op runs 20 steps over deterministic gradients that change sign and magnitude
 * (1e-3 .. 1e3, a few exact zeros), with pixels near both bounds so the [0, 255] clip acts,
 * and a keyframe reset after step 10 (t back to 1, m and v zeroed). Every step's x, m and v
 * must match an independent double-precision implementation of each formula:
 *   seed: m = b1 g + (1-b1) m; v = b2 g^2 + (1-b2) v;
 *         x -= lr (m / (1 - (1-b1)^t)) / (sqrt(v / (1 - (1-b2)^t)) + eps)
 *   adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *         x -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)
 * Also: the seed update's first step moves each pixel by lr * sign(g) (the reference's
 * "vivid" behaviour), the two kinds differ from step 2 on, bad t / kind fail, and
 * dream_engine_run follows the same formula on top of the engine's own gradients.
 *
 * DREAM_OPTIM_TRACE=DIR additionally writes each kind's trajectory as DIR/seed.npy and
 * DIR/adam.npy, float32 (T+1, 5, n): rows g, x, m, v, t per step (step 0: the start), for
 * tests/python/test_optimizer.py's float64 NumPy check.
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
#include "backend.h"
#include "engine.h"
#include "npy.h"

#define N 64
#define T 20
#define RESET_AFTER 10
static const float LR = 5.f, B1 = 0.9f, B2 = 0.999f, EPS = 1e-8f;

/* deterministic gradient of element i at global step k (1..T) */
static float grad_at(int i, int k) {
    if ((i * 7 + k * 3) % 23 == 0) return 0.f;
    const double mag = pow(10.0, -3.0 + 6.0 * (double)((i * 37) % N) / (N - 1));   /* 1e-3 .. 1e3 */
    return (float)(mag * sin(0.9 * k + 1.7 * i + 0.3));
}

/* start pixels: a spread over 0..255 with some right at / next to the bounds */
static float x_start(int i) {
    if (i % 8 == 0) return 1.f;
    if (i % 8 == 1) return 254.f;
    if (i % 8 == 2) return 0.f;
    if (i % 8 == 3) return 255.f;
    return (float)(3 + (i * 97) % 250);
}

/* independent double-precision step, as the formulas in the header */
static void ref_step(int kind, double *x, double g, double *m, double *v, int t) {
    const double b1 = B1, b2 = B2, lr = LR, eps = EPS;
    if (kind == DREAM_OPTIM_SEED) {
        *m = b1 * g + (1 - b1) * *m;
        *v = b2 * g * g + (1 - b2) * *v;
        *x -= lr * (*m / (1 - pow(1 - b1, t))) / (sqrt(*v / (1 - pow(1 - b2, t))) + eps);
    } else {
        *m = b1 * *m + (1 - b1) * g;
        *v = b2 * *v + (1 - b2) * g * g;
        *x -= lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t)) * *m / (sqrt(*v) + eps);
    }
    if (*x < 0) *x = 0;
    if (*x > 255) *x = 255;
}

static void write_trace(const char *name, const float *tr) {
    const char *dir = getenv("DREAM_OPTIM_TRACE");
    if (!dir || !*dir) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    int64_t shape[3] = {T + 1, 5, N};
    dream_err_t err = {{0}};
    if (npy_save_f32(path, tr, 3, shape, &err)) fail_msg("trace %s: %s", path, err.msg);
}

/* Runs the op over the trajectory; checks every step against ref_step. Returns the final x. */
static void run_trajectory(dream_backend_t *be, int kind, float *x_final) {
    float x[N], m[N], v[N], g[N];
    double xr[N], mr[N], vr[N], gmax[N] = {0};
    static float tr[(T + 1) * 5 * N];
    for (int i = 0; i < N; i++) {
        x[i] = x_start(i); m[i] = v[i] = 0.f;
        xr[i] = x[i]; mr[i] = vr[i] = 0;
        tr[0 * N + i] = 0.f; tr[1 * N + i] = x[i]; tr[2 * N + i] = 0.f; tr[3 * N + i] = 0.f; tr[4 * N + i] = 0.f;
    }
    int clipped = 0, t = 0;
    for (int k = 1; k <= T; k++) {
        t++;
        if (k == RESET_AFTER + 1) {        /* a new keyframe: state and t reset */
            t = 1;
            for (int i = 0; i < N; i++) { m[i] = v[i] = 0.f; mr[i] = vr[i] = 0; }
        }
        for (int i = 0; i < N; i++) g[i] = grad_at(i, k);
        assert_int_equal(be->iface->adam(be->ctx, kind, x, g, m, v, N, LR, B1, B2, EPS, t, 0.f, 255.f), 0);
        for (int i = 0; i < N; i++) {
            ref_step(kind, &xr[i], g[i], &mr[i], &vr[i], t);
            /* float32 rounding of the terms: m and v relative to the gradients' scale (m may
             * cancel to ~0), x relative to its value */
            if (fabs(g[i]) > gmax[i]) gmax[i] = fabs(g[i]);
            if (fabs(x[i] - xr[i]) > 2e-4 * (1 + fabs(xr[i])) || fabs(m[i] - mr[i]) > 1e-6 * (fabs(mr[i]) + gmax[i]) ||
                fabs(v[i] - vr[i]) > 1e-6 * (fabs(vr[i]) + gmax[i] * gmax[i]))
                fail_msg("%s step %d (t=%d) element %d: x %.9g m %.9g v %.9g, double reference x %.9g m %.9g v %.9g",
                         dream_optim_name((dream_optim_t)kind), k, t, i, x[i], m[i], v[i], xr[i], mr[i], vr[i]);
            clipped += x[i] == 0.f || x[i] == 255.f;
            float *row = tr + (size_t)k * 5 * N;
            row[i] = g[i]; row[N + i] = x[i]; row[2 * N + i] = m[i]; row[3 * N + i] = v[i]; row[4 * N + i] = (float)t;
        }
    }
    assert_true(clipped > 0);
    write_trace(dream_optim_name((dream_optim_t)kind), tr);
    memcpy(x_final, x, sizeof x);
}

static void test_trajectories(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_backend_t *be = dream_backend_new("cpu", 0, 2, DREAM_PREC_FP32, &err);
    assert_non_null(be);
    float xs[N], xa[N];
    run_trajectory(be, DREAM_OPTIM_SEED, xs);
    run_trajectory(be, DREAM_OPTIM_ADAM, xa);
    double d = 0;
    for (int i = 0; i < N; i++) d += fabs(xs[i] - xa[i]);
    assert_true(d / N > 1.0);      /* the two kinds are different optimisers */
    dream_backend_destroy(&be);
}

/* seed, first step: m/c1 = g and v/c2 = g^2, so every pixel moves by lr * sign(g);
 * from step 2 on the two kinds differ */
static void test_seed_first_step_is_sign(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_backend_t *be = dream_backend_new("cpu", 0, 1, DREAM_PREC_FP32, &err);
    assert_non_null(be);
    float x[N], m[N] = {0}, v[N] = {0}, g[N], x2[N], m2[N] = {0}, v2[N] = {0};
    for (int i = 0; i < N; i++) { x[i] = x2[i] = 128.f; g[i] = (i % 2 ? -1.f : 1.f) * powf(10.f, (float)(i % 7) - 3); }
    assert_int_equal(be->iface->adam(be->ctx, DREAM_OPTIM_SEED, x, g, m, v, N, LR, B1, B2, EPS, 1, 0.f, 255.f), 0);
    assert_int_equal(be->iface->adam(be->ctx, DREAM_OPTIM_ADAM, x2, g, m2, v2, N, LR, B1, B2, EPS, 1, 0.f, 255.f), 0);
    for (int i = 0; i < N; i++) {
        assert_float_equal(x[i], 128.f - LR * (g[i] > 0 ? 1.f : -1.f), 1e-4);
        assert_float_equal(x2[i], x[i], 2e-3);    /* step 1: both ~lr * sign(g) (adam's eps acts on
                                                   * sqrt(v) = 0.03 |g|: 3e-4 relative at |g| = 1e-3) */
    }
    /* step 2 with the gradient reversed: seed goes back by 0.82 lr (m = 0.9 g2 + 0.1 m1: the
     * new gradient dominates), textbook Adam's momentum almost cancels (back by 0.05 lr) */
    for (int i = 0; i < N; i++) g[i] = -g[i];
    assert_int_equal(be->iface->adam(be->ctx, DREAM_OPTIM_SEED, x, g, m, v, N, LR, B1, B2, EPS, 2, 0.f, 255.f), 0);
    assert_int_equal(be->iface->adam(be->ctx, DREAM_OPTIM_ADAM, x2, g, m2, v2, N, LR, B1, B2, EPS, 2, 0.f, 255.f), 0);
    for (int i = 0; i < N; i++) {
        assert_true(fabsf(x[i] - 128.f) < 1.f);          /* seed: came (almost) back */
        assert_true(fabsf(x2[i] - 128.f) > 4.f);         /* adam: stayed near 128 -+ lr */
    }
    /* bad arguments */
    assert_int_equal(be->iface->adam(be->ctx, DREAM_OPTIM_SEED, x, g, m, v, N, LR, B1, B2, EPS, 0, 0.f, 255.f), -1);
    assert_int_equal(be->iface->adam(be->ctx, 7, x, g, m, v, N, LR, B1, B2, EPS, 1, 0.f, 255.f), -1);
    assert_non_null(strstr(be->iface->last_error(be->ctx), "optimiser"));
    dream_backend_destroy(&be);
}

static void test_names(void **state) {
    (void)state;
    dream_optim_t o = DREAM_OPTIM_ADAM;
    assert_int_equal(dream_optim_parse("seed", &o), 0);
    assert_int_equal(o, DREAM_OPTIM_SEED);
    assert_int_equal(dream_optim_parse("ADAM", &o), 0);
    assert_int_equal(o, DREAM_OPTIM_ADAM);
    assert_int_equal(dream_optim_parse("sgd", &o), -1);
    assert_int_equal(dream_optim_parse(NULL, &o), -1);
    assert_string_equal(dream_optim_name(DREAM_OPTIM_SEED), "seed");
    assert_string_equal(dream_optim_name(DREAM_OPTIM_ADAM), "adam");
    dream_params_t p;
    dream_params_default(&p);
    assert_int_equal(p.optim, DREAM_OPTIM_SEED);       /* the 2015 stream by default */
    assert_int_equal(p.layout, DREAM_LAYOUT_SEED);
}

/* dream_engine_run = the engine's gradient + the double-precision formula, step by step
 * (a small random net; the state reset: a second run from the result starts at t = 1) */
static void test_engine_run_follows_formula(void **state) {
    (void)state;
    static const dream_arch_t ARCH = {"tiny", 4, {8, 0, 8, 0}, 3, 16, 16, 10};
    dream_err_t err = {{0}};
    dream_model_t *m = dream_model_random(&ARCH, 5, &err);
    assert_non_null(m);
    dream_backend_t *be = dream_backend_new("cpu", 0, 2, DREAM_PREC_FP32, &err);
    assert_non_null(be);
    dream_engine_t *e = dream_engine_new(m, NULL, be, &err);
    assert_non_null(e);
    const int H = 28, W = 20, n = H * W * 3, steps = 3;
    float *x0 = malloc(sizeof(float) * n), *xe = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    double *xr = malloc(sizeof(double) * n), *mr = malloc(sizeof(double) * n), *vr = malloc(sizeof(double) * n);
    float *xf = malloc(sizeof(float) * n);
    for (int kind = DREAM_OPTIM_SEED; kind <= DREAM_OPTIM_ADAM; kind++) {
        dream_params_t p;
        dream_params_default(&p);
        p.optim = (dream_optim_t)kind;
        p.cls[0] = 3;
        p.steps = steps;
        for (int i = 0; i < n; i++) { x0[i] = (float)((i * 2654435761u >> 7) % 256); xe[i] = x0[i]; }
        assert_int_equal(dream_engine_run(e, xe, H, W, &p, NULL, &err), 0);
        for (int i = 0; i < n; i++) { xr[i] = x0[i]; mr[i] = vr[i] = 0; }
        for (int t = 1; t <= steps; t++) {
            for (int i = 0; i < n; i++) xf[i] = (float)xr[i];
            assert_int_equal(dream_engine_grad(e, xf, H, W, &p, g, NULL, &err), 0);
            for (int i = 0; i < n; i++) ref_step(kind, &xr[i], g[i], &mr[i], &vr[i], t);
        }
        size_t off = 0, moved = 0;
        for (int i = 0; i < n; i++) {
            off += fabs(xe[i] - xr[i]) > 1e-2;
            moved += fabs(xe[i] - x0[i]) > 1.0;
        }
        if (off > (size_t)n / 1000)
            fail_msg("%s: %zu of %d pixels differ from the formula by more than 1e-2", dream_optim_name(kind), off, n);
        assert_true(moved > (size_t)n / 2);
    }
    free(x0); free(xe); free(g); free(xr); free(mr); free(vr); free(xf);
    dream_engine_destroy(&e);
    dream_backend_destroy(&be);
    dream_model_destroy(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_trajectories),
        cmocka_unit_test(test_seed_first_step_is_sign),
        cmocka_unit_test(test_engine_run_follows_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
