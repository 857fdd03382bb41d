/*
 * test_backend_parity.c — every op of backend.h on the CUDA backend against
 * the CPU reference backend, with fresh random inputs, plus a whole dream step
 * (dream_engine_grad / dream_engine_run on a small random VGG-shaped model).
 *
 * Pass criterion: relative L2 error ||gpu - cpu|| / ||cpu|| <= 1e-5 for fp32
 * results (2e-3 tf32, 1e-2 bf16 for gemm results), no NaN; integer outputs
 * (max-pool winners) must match exactly. Whole steps compound the gemm error
 * through the network: grad tolerance 1e-4 fp32, 0.2 tf32, 0.4 bf16 (see TOL_STEP),
 * loss 1e-4 / 1e-2 / 2e-2.
 * tools/cuda-emu-check.sh runs this test against the CUDA sources on the CPU.
 *
 * Without a usable CUDA device (no GPU, no driver, or a build without nvcc)
 * every test prints "SKIP: no usable CUDA device (<reason>)" and skips.
 * DREAM_PARITY_DEVICE picks the CUDA ordinal (default 0).
 *
 * Also: ops run from another thread than the one that made the backend, on a second
 * device (needs 2 devices: the emulator has them); and, only under the emulator
 * (tools/cuda-emu-check.sh, which provides emu_inject), the conv3x3 tuner's fallbacks
 * and a sticky CUDA error that must mark the backend lost.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rng.h"
#include "tilesplit.h"
#include "backend.h"
#include "cuda/cuda_api.h"
#include "engine.h"
#include "model.h"
#include "image.h"

/* the CUDA emulator's fault injection (tools/cuda_emu); NULL in real CUDA builds */
extern void emu_inject(const char *call, long arg, int code) __attribute__((weak));

enum { CPU = 0, GPU = 1 };
static struct {
    int ok;                       /* CUDA usable */
    int dev;                      /* its ordinal */
    double last_rel;              /* expect_close's last measured error */
    double gemm_worst[3];         /* worst gemm error per precision (printed) */
    char why[600];
    dream_backend_t *cpu;
    dream_backend_t *cuda[3];     /* by dream_prec_t */
    dream_backend_t *conv[2];     /* bf16 with DREAM_CUDA_CONV forced: [0] igemm, [1] gemm */
    dream_backend_t *be[2];       /* the pair in use: cpu + cuda[prec] */
    uint64_t rng;
} G;

/* tf32: tensor cores may truncate fp32 operands to tf32 (drop 13 mantissa bits, biased toward
 * zero) where cuBLAS would round; the emulator truncates (EMU_TF32=round rounds): measured worst
 * gemm rel L2 7.0e-4 truncating (a product's own error is < 2 * 2^-10 = 2e-3) */
static const double TOL_PREC[3] = {1e-5, 2e-3, 1e-2};
/* whole step: rounding every gemm operand to tf32 / bf16 flips ReLU / max-pool decisions in
 * a small random net, so the input gradient moves a lot. Measured with tools/cuda-emu-check.sh
 * over 9 seeds (DREAM_PARITY_SEED): fp32 <= 2.1e-6, tf32 0.006..0.052, bf16 0.06..0.14 (PyTorch
 * bf16 on the same net: 0.096); loss rel diff tf32 <= 5e-4 rounding, 2.3e-3 with truncated tf32
 * operands (the truncation's bias shifts the loss), bf16 <= 2e-3. Limits leave ~3x. The bf16/tf32
 * gemm paths themselves are checked tightly by the gemm tests. */
static const double TOL_STEP[3] = {1e-4, 0.2, 0.4};
static const double TOL_LOSS[3] = {1e-4, 1e-2, 2e-2};

/* ---- helpers -------------------------------------------------------------------------- */

static uint64_t rng_next(void) { return dream_splitmix64(&G.rng); }   /* common/rng.h */
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)((rng_next() >> 40) / 16777216.0); }
static float *rand_vec(size_t n, float lo, float hi) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
    return v;
}

static int quick(void) { return getenv("DREAM_TEST_QUICK") != NULL; }

#define NEED_CUDA()                                                             \
    do {                                                                        \
        if (!G.ok) {                                                            \
            print_message("SKIP: no usable CUDA device (%s)\n", G.why);        \
            skip();                                                             \
        }                                                                       \
    } while (0)
#define NEED_EMU()                                                              \
    do {                                                                        \
        NEED_CUDA();                                                            \
        if (!emu_inject) {                                                      \
            print_message("SKIP: needs the CUDA emulator's fault injection "   \
                          "(tools/cuda-emu-check.sh)\n");                      \
            skip();                                                             \
        }                                                                       \
    } while (0)

/* a buffer living on both backends */
typedef struct { void *d[2]; size_t bytes; } pair_t;

static pair_t pair_new(const void *host, size_t bytes) {
    pair_t p = {{NULL, NULL}, bytes};
    for (int b = 0; b < 2; b++) {
        p.d[b] = G.be[b]->iface->alloc(G.be[b]->ctx, bytes);
        assert_non_null(p.d[b]);
        if (host) assert_int_equal(G.be[b]->iface->upload(G.be[b]->ctx, p.d[b], host, bytes), 0);
    }
    return p;
}
static void pair_free(pair_t *p) {
    for (int b = 0; b < 2; b++) G.be[b]->iface->free(G.be[b]->ctx, p->d[b]);
    p->d[0] = p->d[1] = NULL;
}
static void *pair_get(const pair_t *p, int b) {
    void *h = malloc(p->bytes ? p->bytes : 1);
    assert_non_null(h);
    int rc = G.be[b]->iface->download(G.be[b]->ctx, h, p->d[b], p->bytes);
    if (rc != 0) fail_msg("download on %s: %s", G.be[b]->name, G.be[b]->iface->last_error(G.be[b]->ctx));
    return h;
}

/* runs an op on both backends; F(x) names x's pointer on the current one */
#define F(p) ((float *)(p).d[b_])
#define U8(p) ((uint8_t *)(p).d[b_])
#define I32(p) ((int *)(p).d[b_])
#define BOTH(op, ...)                                                                        \
    for (int b_ = 0; b_ < 2; b_++) {                                                         \
        dream_backend_t *be_ = G.be[b_];                                                     \
        if (be_->iface->op(be_->ctx, __VA_ARGS__) != 0)                                      \
            fail_msg("%s on %s failed: %s", #op, be_->name, be_->iface->last_error(be_->ctx)); \
    }

static double rel_l2(const float *x, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isinf(x[i])) return INFINITY;
        double e = (double)x[i] - ref[i];
        d += e * e;
        r += (double)ref[i] * ref[i];
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* rel L2 without the worst `frac` of elements: a decision flip (ReLU / max-pool) moves the
 * gradient at a few pixels by O(1) while everything else agrees */
static double rel_l2_trimmed(const float *x, const float *ref, size_t n, double frac) {
    double *d = malloc(n * sizeof *d), r = 0, e = 0;
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isinf(x[i])) { free(d); return INFINITY; }
        d[i] = fabs((double)x[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    qsort(d, n, sizeof *d, cmp_desc);
    for (size_t i = (size_t)(frac * n); i < n; i++) e += d[i] * d[i];
    free(d);
    return r > 0 ? sqrt(e / r) : sqrt(e);
}

/* compares a float pair (n floats), cuda vs cpu */
static void expect_close(const char *what, const pair_t *p, size_t n, double tol) {
    float *c = pair_get(p, CPU), *g = pair_get(p, GPU);
    double e = rel_l2(g, c, n);
    G.last_rel = e;
    if (!(e <= tol)) {
        size_t worst = 0;
        double wd = -1;
        for (size_t i = 0; i < n; i++) {
            double dd = fabs((double)g[i] - c[i]);
            if (isnan(g[i]) || dd > wd) { wd = isnan(g[i]) ? INFINITY : dd; worst = i; }
        }
        fail_msg("%s: rel L2 %.3g > %.1g (worst [%zu] cuda %.9g cpu %.9g)", what, e, tol, worst,
                 (double)g[worst], (double)c[worst]);
    }
    free(c);
    free(g);
}

static void use_prec(dream_prec_t p) {
    G.be[CPU] = G.cpu;
    G.be[GPU] = G.cuda[p];
}

/* ---- setup ---------------------------------------------------------------------------- */

static int group_setup(void **state) {
    (void)state;
    memset(&G, 0, sizeof G);
    G.rng = 0x5eed1234ull;
    dream_err_t err = {{0}};
    const char *ds = getenv("DREAM_PARITY_DEVICE");
    int dev = ds ? atoi(ds) : 0;
    G.dev = dev;
    char name[128];
    size_t mem = 0;
    if (!dream_cuda_compiled()) {
        snprintf(G.why, sizeof G.why, "CUDA backend not compiled in");
    } else if (dream_cuda_probe(dev, name, sizeof name, &mem, &err) != 0) {
        snprintf(G.why, sizeof G.why, "%s", err.msg);
    } else {
        G.ok = 1;
    }
    if (!G.ok) {
        printf("SKIP: no usable CUDA device (%s)\n", G.why);
        return 0;
    }
    printf("# cuda device %d: %s (%.1f GiB)\n", dev, name, (double)mem / (1 << 30));
    G.cpu = dream_backend_new("cpu", 0, 0, DREAM_PREC_FP32, &err);
    if (!G.cpu) { fprintf(stderr, "cpu backend: %s\n", err.msg); return -1; }
    for (int p = 0; p < 3; p++) {
        G.cuda[p] = dream_backend_new("cuda", dev, 0, (dream_prec_t)p, &err);
        if (!G.cuda[p]) { fprintf(stderr, "cuda backend (%s): %s\n", dream_prec_name((dream_prec_t)p), err.msg); return -1; }
        if (strcmp(G.cuda[p]->name, "cuda") != 0 || G.cuda[p]->prec != (dream_prec_t)p) {
            fprintf(stderr, "cuda backend: wrong name/prec (%s, %d)\n", G.cuda[p]->name, (int)G.cuda[p]->prec);
            return -1;
        }
    }
    for (int i = 0; i < 2; i++) {             /* the 3x3 conv algorithms one by one */
        const char *old = getenv("DREAM_CUDA_CONV");
        char keep[32];
        snprintf(keep, sizeof keep, "%s", old ? old : "");
        setenv("DREAM_CUDA_CONV", i ? "gemm" : "igemm", 1);
        G.conv[i] = dream_backend_new("cuda", dev, 0, DREAM_PREC_BF16, &err);
        if (old) setenv("DREAM_CUDA_CONV", keep, 1); else unsetenv("DREAM_CUDA_CONV");
        if (!G.conv[i]) { fprintf(stderr, "cuda backend (conv %d): %s\n", i, err.msg); return -1; }
    }
    use_prec(DREAM_PREC_FP32);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++) dream_backend_destroy(&G.conv[i]);
    for (int p = 0; p < 3; p++) dream_backend_destroy(&G.cuda[p]);
    dream_backend_destroy(&G.cpu);
    return 0;
}

/* ---- the skip path itself ------------------------------------------------------------- */

static void test_probe_reports(void **state) {
    (void)state;
    /* runs with or without a GPU: never crashes, and explains itself when unusable */
    dream_err_t err = {{0}};
    char name[64] = "x";
    size_t mem = 123;
    int rc = dream_cuda_probe(0, name, sizeof name, &mem, &err);
    if (rc != 0) {
        assert_true(strlen(err.msg) > 0);
        assert_int_equal(mem, 0);
        dream_backend_t be;
        dream_err_t e2 = {{0}};
        assert_int_equal(dream_backend_cuda_init(&be, 0, DREAM_PREC_FP32, &e2), -1);
        assert_true(strlen(e2.msg) > 0);
        assert_null(dream_backend_new("cuda", 0, 0, DREAM_PREC_FP32, &e2));
        assert_true(strstr(e2.msg, "cuda") != NULL || strstr(e2.msg, "CUDA") != NULL);
        print_message("# probe without a usable device: %s\n", err.msg);
        return;
    }
    assert_true(mem > 0);
    assert_true(strlen(name) > 0);
    /* an absurd ordinal is refused cleanly */
    assert_int_equal(dream_cuda_probe(9999, name, sizeof name, &mem, &err), -1);
    assert_true(strlen(err.msg) > 0);
}

/* ---- memory --------------------------------------------------------------------------- */

static void test_memory(void **state) {
    (void)state;
    NEED_CUDA();
    dream_backend_t *g = G.cuda[DREAM_PREC_FP32];
    const dream_backend_i *I = g->iface;
    size_t n = 100003;
    float *h = rand_vec(n, -1, 1), *back = malloc(n * sizeof *back);
    float *d = I->alloc(g->ctx, n * sizeof(float)), *d2 = I->alloc(g->ctx, n * sizeof(float));
    assert_non_null(d);
    assert_non_null(d2);
    assert_int_equal(I->download(g->ctx, back, d, n * sizeof(float)), 0);
    for (size_t i = 0; i < n; i++) assert_true(back[i] == 0.f);          /* alloc is zeroed */
    assert_int_equal(I->upload(g->ctx, d, h, n * sizeof(float)), 0);
    assert_int_equal(I->copy(g->ctx, d2, d, n * sizeof(float)), 0);
    assert_int_equal(I->zero(g->ctx, d, 16 * sizeof(float)), 0);
    assert_int_equal(I->sync(g->ctx), 0);
    assert_int_equal(I->download(g->ctx, back, d2, n * sizeof(float)), 0);
    assert_memory_equal(back, h, n * sizeof(float));
    assert_int_equal(I->download(g->ctx, back, d, n * sizeof(float)), 0);
    for (size_t i = 0; i < 16; i++) assert_true(back[i] == 0.f);
    assert_memory_equal(back + 16, h + 16, (n - 16) * sizeof(float));
    I->free(g->ctx, d);
    I->free(g->ctx, d2);
    I->free(g->ctx, NULL);
    /* an impossible allocation fails cleanly with a reason */
    assert_null(I->alloc(g->ctx, (size_t)1 << 50));
    assert_true(strlen(I->last_error(g->ctx)) > 0);
    assert_int_equal(I->sync(g->ctx), 0);
    free(h);
    free(back);
}

/* ---- gemm ----------------------------------------------------------------------------- */

static void gemm_case(dream_prec_t prec, int tA, int tB, int M, int N, int K, int pad, int flags) {
    use_prec(prec);
    int ar = tA ? K : M, ac = tA ? M : K, br = tB ? N : K, bc = tB ? K : N;
    int lda = ac + pad, ldb = bc + pad, ldc = N + pad;
    float *A = rand_vec((size_t)ar * lda, -1, 1), *B = rand_vec((size_t)br * ldb, -1, 1);
    float *C = rand_vec((size_t)M * ldc, -1, 1);
    pair_t a = pair_new(A, (size_t)ar * lda * 4), b = pair_new(B, (size_t)br * ldb * 4);
    pair_t c = pair_new(C, (size_t)M * ldc * 4);
    char what[160];
    for (int rep = 0; rep < 2; rep++) {
        BOTH(gemm, tA, tB, M, N, K, 0.75f, F(a), lda, F(b), ldb, 0.5f, F(c), ldc, flags);
        snprintf(what, sizeof what, "gemm %s tA=%d tB=%d M=%d N=%d K=%d pad=%d flags=%d rep=%d",
                 dream_prec_name(prec), tA, tB, M, N, K, pad, flags, rep);
        expect_close(what, &c, (size_t)M * ldc, TOL_PREC[prec]);
        if (G.last_rel > G.gemm_worst[prec]) G.gemm_worst[prec] = G.last_rel;
        /* a new weight uploaded over the same pointer must not hit a stale bf16 copy */
        for (size_t i = 0; i < (size_t)br * ldb; i++) B[i] = frand(-2, 2);
        for (int bb = 0; bb < 2; bb++)
            assert_int_equal(G.be[bb]->iface->upload(G.be[bb]->ctx, b.d[bb], B, b.bytes), 0);
    }
    pair_free(&a); pair_free(&b); pair_free(&c);
    free(A); free(B); free(C);
    use_prec(DREAM_PREC_FP32);
}

static void gemm_all(dream_prec_t prec) {
    static const int shapes[][3] = {{37, 29, 53}, {256, 64, 27}, {300, 128, 576}, {64, 513, 1000}, {1, 7, 3}};
    int ns = quick() ? 3 : 5;
    for (int s = 0; s < ns; s++)
        for (int t = 0; t < 4; t++)
            gemm_case(prec, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], (s + t) % 3 * 3,
                      (t == 0 || t == 2) ? DREAM_GEMM_B_CONST : 0);
    print_message("# gemm %s: worst rel L2 %.3g (limit %.0e)\n", dream_prec_name(prec), G.gemm_worst[prec], TOL_PREC[prec]);
}

/* The engine's shifted-tap pattern: 9 gemms over views of one padded activation and
 * slices of one weight allocation, accumulating with beta = 1; then a kernel rewrites the
 * activation in place and the taps run again (a cached bf16 copy must not survive that). */
static void gemm_taps(dream_prec_t prec) {
    use_prec(prec);
    int h = 9, w = 11, cin = 16, cout = 24, Wp = w + 2, M = h * Wp - 2;
    size_t nin = (size_t)(h + 2) * Wp * cin, nw = (size_t)9 * cin * cout, nout = (size_t)(h + 2) * Wp * cout;
    float *X = rand_vec(nin, -1, 1), *Wt = rand_vec(nw, -0.5f, 0.5f), *Bv = rand_vec(cin, -1, 1);
    pair_t x = pair_new(X, nin * 4), wt = pair_new(Wt, nw * 4), out = pair_new(NULL, nout * 4), b = pair_new(Bv, cin * 4);
    char what[96];
    for (int round = 0; round < 2; round++) {
        for (int t = 0; t < 9; t++) {
            size_t off = (size_t)((t / 3) * Wp + t % 3) * cin;
            BOTH(gemm, 0, 0, M, cout, cin, 1.f, F(x) + off, cin, F(wt) + (size_t)t * cin * cout, cout,
                 t ? 1.f : 0.f, F(out) + (size_t)(Wp + 1) * cout, cout, DREAM_GEMM_B_CONST);
        }
        snprintf(what, sizeof what, "gemm taps %s round %d", dream_prec_name(prec), round);
        expect_close(what, &out, nout, TOL_PREC[prec]);
        /* rewrite the activation with a kernel (not upload): relu(x + b) in place */
        BOTH(bias_act, F(x), (h + 2) * Wp, cin, cin, F(b), 1);
    }
    pair_free(&x); pair_free(&wt); pair_free(&out); pair_free(&b);
    free(X); free(Wt); free(Bv);
    use_prec(DREAM_PREC_FP32);
}

static void test_gemm_taps(void **state) {
    (void)state;
    NEED_CUDA();
    for (int p = 0; p < 3; p++) gemm_taps((dream_prec_t)p);
}

static void test_gemm_fp32(void **state) { (void)state; NEED_CUDA(); gemm_all(DREAM_PREC_FP32); }
static void test_gemm_tf32(void **state) { (void)state; NEED_CUDA(); gemm_all(DREAM_PREC_TF32); }
static void test_gemm_bf16(void **state) { (void)state; NEED_CUDA(); gemm_all(DREAM_PREC_BF16); }

/* ---- conv helpers --------------------------------------------------------------------- */

static void im2col_case(int H, int W, int C, int k, int pad, int mrows) {
    /* x is a padded (H+2, W+2, C) activation; pad 0 windows start at the interior */
    size_t nx = (size_t)(H + 2) * (W + 2) * C;
    float *X = rand_vec(nx, -1, 1);
    int row_stride = (W + 2) * C;
    size_t off = pad ? 0 : (size_t)row_stride + C;
    int ow = pad ? W : W - k + 1, oh = pad ? H : H - k + 1;
    int M = mrows > 0 && mrows < oh * ow ? mrows : oh * ow;
    size_t ncol = (size_t)M * k * k * C;
    pair_t x = pair_new(X, nx * 4), col = pair_new(NULL, ncol * 4);
    BOTH(im2col, F(x) + off, row_stride, C, k, M, ow, F(col));
    char what[128];
    snprintf(what, sizeof what, "im2col H=%d W=%d C=%d k=%d pad=%d M=%d", H, W, C, k, pad, M);
    expect_close(what, &col, ncol, 1e-7);
    float *G2 = rand_vec(ncol, -1, 1);
    pair_t gcol = pair_new(G2, ncol * 4);
    BOTH(col2im_add, F(gcol), row_stride, C, k, M, ow, F(x) + off);   /* accumulates into x */
    snprintf(what, sizeof what, "col2im_add H=%d W=%d C=%d k=%d pad=%d M=%d", H, W, C, k, pad, M);
    expect_close(what, &x, nx, 1e-6);
    pair_free(&x); pair_free(&col); pair_free(&gcol);
    free(X); free(G2);
}

/* the engine's 3x3 layout with wrap-around rows: ow = W + 2 over the padded input,
 * M = H * (W + 2) - 2 (windows of the last two columns read into the next row) */
static void im2col_wrap_case(int H, int W, int C) {
    size_t nx = (size_t)(H + 2) * (W + 2) * C;
    int row_stride = (W + 2) * C, ow = W + 2, M = H * ow - 2, k = 3;
    size_t ncol = (size_t)M * k * k * C;
    float *X = rand_vec(nx, -1, 1), *G2 = rand_vec(ncol, -1, 1);
    pair_t x = pair_new(X, nx * 4), col = pair_new(NULL, ncol * 4), gcol = pair_new(G2, ncol * 4);
    BOTH(im2col, F(x), row_stride, C, k, M, ow, F(col));
    expect_close("im2col wrap", &col, ncol, 1e-7);
    BOTH(col2im_add, F(gcol), row_stride, C, k, M, ow, F(x));
    expect_close("col2im_add wrap", &x, nx, 1e-6);
    pair_free(&x); pair_free(&col); pair_free(&gcol);
    free(X); free(G2);
}

/* overlapping windows (row_stride < ow * C): any layout must work */
static void im2col_overlap_case(void) {
    int C = 4, ow = 5, k = 2, row_stride = 13, M = 17;
    size_t nx = (size_t)((M - 1) / ow + k) * row_stride + (size_t)(ow + k) * C;
    size_t ncol = (size_t)M * k * k * C;
    float *X = rand_vec(nx, -1, 1), *G2 = rand_vec(ncol, -1, 1);
    pair_t x = pair_new(X, nx * 4), col = pair_new(NULL, ncol * 4), gcol = pair_new(G2, ncol * 4);
    BOTH(im2col, F(x), row_stride, C, k, M, ow, F(col));
    expect_close("im2col overlap", &col, ncol, 1e-7);
    BOTH(col2im_add, F(gcol), row_stride, C, k, M, ow, F(x));
    expect_close("col2im_add overlap", &x, nx, 1e-6);
    pair_free(&x); pair_free(&col); pair_free(&gcol);
    free(X); free(G2);
}

static void test_im2col_col2im(void **state) {
    (void)state;
    NEED_CUDA();
    im2col_wrap_case(12, 10, 3);
    im2col_wrap_case(7, 9, 16);
    im2col_overlap_case();
    im2col_case(9, 11, 3, 3, 1, 0);
    im2col_case(16, 12, 64, 3, 1, 0);
    im2col_case(16, 12, 8, 3, 1, 12 * 3 + 5);       /* a chunk of rows */
    im2col_case(10, 9, 16, 7, 0, 0);                 /* fc6-like valid window */
    im2col_case(5, 6, 32, 1, 0, 0);                  /* 1x1 */
}

static void test_bias_act(void **state) {
    (void)state;
    NEED_CUDA();
    for (int relu = 0; relu < 2; relu++) {
        int rows = 123, cols = 67, ld = 80;
        float *Y = rand_vec((size_t)rows * ld, -1, 1), *Bv = rand_vec(cols, -0.5f, 0.5f);
        pair_t y = pair_new(Y, (size_t)rows * ld * 4), b = pair_new(Bv, cols * 4);
        BOTH(bias_act, F(y), rows, cols, ld, F(b), relu);
        expect_close(relu ? "bias_act relu" : "bias_act", &y, (size_t)rows * ld, 1e-7);
        pair_free(&y); pair_free(&b);
        free(Y); free(Bv);
    }
}

static void test_zero_border_relu_bwd(void **state) {
    (void)state;
    NEED_CUDA();
    int H = 13, W = 7, C = 5;
    size_t n = (size_t)(H + 2) * (W + 2) * C;
    float *X = rand_vec(n, 1, 2);
    pair_t x = pair_new(X, n * 4);
    BOTH(zero_border, F(x), H, W, C);
    expect_close("zero_border", &x, n, 0);
    float *got = pair_get(&x, GPU);
    for (int i = 0; i < H + 2; i++)
        for (int j = 0; j < W + 2; j++)
            for (int c = 0; c < C; c++) {
                float v = got[((size_t)i * (W + 2) + j) * C + c];
                int border = i == 0 || j == 0 || i == H + 1 || j == W + 1;
                if (border) assert_true(v == 0.f); else assert_true(v >= 1.f);
            }
    free(got);
    size_t m = 10007;
    float *Y = rand_vec(m, -1, 1), *D = rand_vec(m, -1, 1);
    for (size_t i = 0; i < m; i += 7) Y[i] = 0.f;
    pair_t y = pair_new(Y, m * 4), dy = pair_new(D, m * 4);
    BOTH(relu_bwd, F(dy), F(y), m);
    expect_close("relu_bwd", &dy, m, 0);
    pair_free(&x); pair_free(&y); pair_free(&dy);
    free(X); free(Y); free(D);
}

/* ---- fused 3x3 conv ---------------------------------------------------------------------- */

/* conv3x3 fwd (bias, relu) and bwd (with and without the fused mask) on the pair in use,
 * inputs with zero borders as the engine keeps them */
static void conv3x3_case(const char *tag, double tol, int H, int W, int cin, int cout) {
    const size_t nin = (size_t)(H + 2) * (W + 2) * cin, nout = (size_t)(H + 2) * (W + 2) * cout;
    float *X = rand_vec(nin, -1, 1), *D = rand_vec(nout, -1, 1), *Mk = rand_vec(nin, -1, 1);
    float *Wt = rand_vec((size_t)9 * cin * cout, -0.2f, 0.2f), *Bv = rand_vec(cout, -0.5f, 0.5f);
    for (int i = 0; i < H + 2; i++)
        for (int j = 0; j < W + 2; j++) {
            if (i && j && i <= H && j <= W) continue;
            memset(X + ((size_t)i * (W + 2) + j) * cin, 0, sizeof(float) * cin);
            memset(D + ((size_t)i * (W + 2) + j) * cout, 0, sizeof(float) * cout);
            memset(Mk + ((size_t)i * (W + 2) + j) * cin, 0, sizeof(float) * cin);
        }
    pair_t x = pair_new(X, nin * 4), d = pair_new(D, nout * 4), mk = pair_new(Mk, nin * 4);
    pair_t w = pair_new(Wt, (size_t)9 * cin * cout * 4), b = pair_new(Bv, cout * 4);
    float *G0 = rand_vec(nout > nin ? nout : nin, 5, 6);         /* garbage the ops must overwrite */
    pair_t y = pair_new(G0, nout * 4), dx = pair_new(G0, nin * 4);
    char what[128];
    for (int relu = 0; relu < 2; relu++) {
        BOTH(conv3x3_fwd, F(x), H, W, cin, cout, F(w), F(b), relu, F(y));
        snprintf(what, sizeof what, "conv3x3_fwd %s %dx%d %d->%d relu=%d", tag, W, H, cin, cout, relu);
        expect_close(what, &y, nout, tol);
    }
    for (int m = 0; m < 2; m++) {
        BOTH(conv3x3_bwd, F(d), H, W, cin, cout, F(w), m ? F(mk) : NULL, F(dx));
        snprintf(what, sizeof what, "conv3x3_bwd %s %dx%d %d->%d mask=%d", tag, W, H, cin, cout, m);
        expect_close(what, &dx, nin, tol);
        float *got = pair_get(&dx, GPU);                          /* border exactly zero */
        for (int i = 0; i < H + 2; i++)
            for (int j = 0; j < W + 2; j++)
                if (!i || !j || i > H || j > W)
                    for (int c = 0; c < cin; c++) assert_true(got[((size_t)i * (W + 2) + j) * cin + c] == 0.f);
        free(got);
    }
    pair_free(&x); pair_free(&d); pair_free(&mk); pair_free(&w); pair_free(&b); pair_free(&y); pair_free(&dx);
    free(X); free(D); free(Mk); free(Wt); free(Bv); free(G0);
}

static void conv3x3_shapes(const char *tag, double tol) {
    static const int shapes[][4] = {
        {5, 7, 32, 64},       /* igemm fwd with 64-wide tiles; bwd (N = 32) falls back to gemm */
        {9, 13, 64, 64},      /* igemm both ways */
        {6, 11, 64, 128},     /* 128-wide tiles forward, several row tiles */
        {4, 5, 16, 24},       /* no igemm shape: gemm */
        {17, 10, 128, 64},
    };
    int ns = quick() ? 3 : (int)(sizeof shapes / sizeof shapes[0]);
    for (int i = 0; i < ns; i++) conv3x3_case(tag, tol, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]);
}

static void test_conv3x3(void **state) {
    (void)state;
    NEED_CUDA();
    for (int p = 0; p < 3; p++) {                 /* DREAM_CUDA_CONV=auto (or as set) per precision */
        use_prec((dream_prec_t)p);
        conv3x3_shapes(dream_prec_name((dream_prec_t)p), TOL_PREC[p]);
    }
    const char *tags[2] = {"bf16 igemm", "bf16 gemm"};
    for (int i = 0; i < 2; i++) {                 /* each algorithm on its own */
        G.be[CPU] = G.cpu;
        G.be[GPU] = G.conv[i];
        conv3x3_shapes(tags[i], TOL_PREC[DREAM_PREC_BF16]);
    }
    use_prec(DREAM_PREC_FP32);
}

/* ---- pooling -------------------------------------------------------------------------- */

static void maxpool_case(int H, int W, int C) {
    size_t nx = (size_t)(H + 2) * (W + 2) * C;
    int ho = H / 2, wo = W / 2;
    size_t ny = (size_t)(ho + 2) * (wo + 2) * C, ni = (size_t)ho * wo * C;
    float *X = rand_vec(nx, -1, 1);
    for (size_t i = 0; i < nx; i++) X[i] = X[i] < 0 ? 0.f : roundf(X[i] * 4) / 4;   /* ReLU-like ties */
    float *Yinit = rand_vec(ny, 5, 6);               /* the border must be written as zero */
    pair_t x = pair_new(X, nx * 4), y = pair_new(Yinit, ny * 4), idx = pair_new(NULL, ni);
    BOTH(maxpool2_fwd, F(x), H, W, C, F(y), U8(idx));
    expect_close("maxpool2_fwd y", &y, ny, 0);
    uint8_t *ic = pair_get(&idx, CPU), *ig = pair_get(&idx, GPU);
    for (size_t i = 0; i < ni; i++)
        if (ic[i] != ig[i]) fail_msg("maxpool2_fwd idx[%zu]: cuda %d cpu %d", i, ig[i], ic[i]);
    free(ic); free(ig);
    float *DY = rand_vec(ny, -1, 1), *DXinit = rand_vec(nx, 7, 8);
    pair_t dy = pair_new(DY, ny * 4), dx = pair_new(DXinit, nx * 4);
    BOTH(maxpool2_bwd, F(dy), U8(idx), H, W, C, F(dx));
    expect_close("maxpool2_bwd", &dx, nx, 0);
    pair_free(&x); pair_free(&y); pair_free(&idx); pair_free(&dy); pair_free(&dx);
    free(X); free(Yinit); free(DY); free(DXinit);
}

static void test_maxpool(void **state) {
    (void)state;
    NEED_CUDA();
    maxpool_case(8, 6, 4);
    maxpool_case(9, 7, 3);          /* floor mode drops the last row / column */
    maxpool_case(30, 34, 64);
}

static void meanpool_case(int H, int W, int C, int p) {
    size_t nx = (size_t)H * W * C, nd = (size_t)(H / p) * (W / p) * C;
    float *X = rand_vec(nx, 0, 255), *DD = rand_vec(nd, -1, 1), *DX = rand_vec(nx, -1, 1);
    pair_t x = pair_new(X, nx * 4), d = pair_new(NULL, nd * 4), dd = pair_new(DD, nd * 4), dx = pair_new(DX, nx * 4);
    BOTH(meanpool_fwd, F(x), H, W, C, p, F(d));
    char what[96];
    snprintf(what, sizeof what, "meanpool_fwd %dx%dx%d p=%d", H, W, C, p);
    expect_close(what, &d, nd, 1e-6);
    BOTH(meanpool_bwd_add, F(dd), H, W, C, p, F(dx));
    snprintf(what, sizeof what, "meanpool_bwd_add %dx%dx%d p=%d", H, W, C, p);
    expect_close(what, &dx, nx, 1e-6);
    pair_free(&x); pair_free(&d); pair_free(&dd); pair_free(&dx);
    free(X); free(DD); free(DX);
}

static void test_meanpool(void **state) {
    (void)state;
    NEED_CUDA();
    meanpool_case(16, 12, 3, 1);
    meanpool_case(37, 50, 3, 4);
    meanpool_case(70, 45, 3, 8);
    meanpool_case(64, 96, 3, 32);
}

/* ---- input, objective, prior ---------------------------------------------------------- */

static void test_input(void **state) {
    (void)state;
    NEED_CUDA();
    int H = 23, W = 31;
    const float scale[3] = {1.f / (255 * 0.229f), 1.f / (255 * 0.224f), 1.f / (255 * 0.225f)};
    const float shift[3] = {-0.485f / 0.229f, -0.456f / 0.224f, -0.406f / 0.225f};
    const int perms[2][3] = {{0, 1, 2}, {2, 1, 0}};
    for (int pi = 0; pi < 2; pi++) {
        size_t nx = (size_t)H * W * 3, np = (size_t)(H + 2) * (W + 2) * 3;
        float *X = rand_vec(nx, 0, 255), *XP = rand_vec(np, -1, 1), *DXP = rand_vec(np, -1, 1);
        float *DX = rand_vec(nx, -1, 1);
        pair_t x = pair_new(X, nx * 4), xp = pair_new(XP, np * 4), dxp = pair_new(DXP, np * 4), dx = pair_new(DX, nx * 4);
        BOTH(input_fwd, F(x), H, W, scale, shift, perms[pi], F(xp));
        expect_close("input_fwd", &xp, np, 1e-6);
        BOTH(input_bwd_add, F(dxp), H, W, scale, perms[pi], F(dx));
        expect_close("input_bwd_add", &dx, nx, 1e-6);
        pair_free(&x); pair_free(&xp); pair_free(&dxp); pair_free(&dx);
        free(X); free(XP); free(DXP); free(DX);
    }
}

static void test_objective(void **state) {
    (void)state;
    NEED_CUDA();
    int ncell = 7 * 9, ncls = 1000, nsubj = 3;
    int cls[3] = {5, 999, 5};
    uint8_t *masks = calloc((size_t)nsubj * ncell, 1);
    for (int s = 0; s < nsubj; s++) {
        for (int c = 0; c < ncell; c++) masks[s * ncell + c] = (rng_next() & 3) == 0;
        masks[s * ncell + s] = 1;                          /* non-empty */
    }
    float *L = rand_vec((size_t)ncell * ncls, -5, 5), acc0 = 1.5f;
    pair_t lg = pair_new(L, (size_t)ncell * ncls * 4), dl = pair_new(NULL, (size_t)ncell * ncls * 4);
    pair_t cl = pair_new(cls, sizeof cls), mk = pair_new(masks, (size_t)nsubj * ncell), acc = pair_new(&acc0, 4);
    BOTH(objective, F(lg), ncell, ncls, nsubj, I32(cl), U8(mk), 0.7f, F(dl), F(acc));
    BOTH(objective, F(lg), ncell, ncls, nsubj, I32(cl), U8(mk), 0.7f, F(dl), F(acc)); /* accumulates */
    expect_close("objective dlogits", &dl, (size_t)ncell * ncls, 1e-6);
    expect_close("objective loss_acc", &acc, 1, 1e-6);
    float *a = pair_get(&acc, GPU);
    assert_true(fabsf(a[0] - acc0) > 1e-3f);              /* it did add something */
    free(a);
    /* the engine passes cls from host memory (dream_params_t): same result */
    dream_backend_t *g = G.be[GPU];
    assert_int_equal(g->iface->upload(g->ctx, acc.d[GPU], &acc0, 4), 0);
    assert_int_equal(g->iface->zero(g->ctx, dl.d[GPU], dl.bytes), 0);
    for (int r = 0; r < 2; r++)
        if (g->iface->objective(g->ctx, lg.d[GPU], ncell, ncls, nsubj, cls, mk.d[GPU], 0.7f, dl.d[GPU],
                                acc.d[GPU]) != 0)
            fail_msg("objective with host cls: %s", g->iface->last_error(g->ctx));
    expect_close("objective dlogits (host cls)", &dl, (size_t)ncell * ncls, 1e-6);
    expect_close("objective loss_acc (host cls)", &acc, 1, 1e-6);
    pair_free(&lg); pair_free(&dl); pair_free(&cl); pair_free(&mk); pair_free(&acc);
    free(L); free(masks);
}

static void test_prior_act(void **state) {
    (void)state;
    NEED_CUDA();
    int M = quick() ? 500 : 5000, K = 192;
    for (int kind = 0; kind < 2; kind++) {
        float *Z = rand_vec((size_t)M * K, -3, 3), *MU = rand_vec(K, -0.5f, 0.5f), acc0 = -0.25f;
        pair_t z = pair_new(Z, (size_t)M * K * 4), mu = pair_new(MU, K * 4);
        pair_t dz = pair_new(NULL, (size_t)M * K * 4), acc = pair_new(&acc0, 4);
        BOTH(prior_act, F(z), M, K, F(mu), kind, 0.665248f, 10.f / 5, F(dz), F(acc));
        expect_close(kind ? "prior_act gauss z" : "prior_act student z", &z, (size_t)M * K, 1e-7);
        expect_close(kind ? "prior_act gauss dz" : "prior_act student dz", &dz, (size_t)M * K, 1e-5);
        expect_close(kind ? "prior_act gauss loss" : "prior_act student loss", &acc, 1, 1e-5);
        pair_free(&z); pair_free(&mu); pair_free(&dz); pair_free(&acc);
        free(Z); free(MU);
    }
}

/* ---- adam, roll ----------------------------------------------------------------------- */

/* both optimiser kinds, 4 steps each, with clipping (x near the bounds, lr 5) */
static void test_adam(void **state) {
    (void)state;
    NEED_CUDA();
    size_t n = 30001;
    for (int kind = DREAM_OPTIM_SEED; kind <= DREAM_OPTIM_ADAM; kind++) {
        float *X = rand_vec(n, 0, 255), *M0 = rand_vec(n, -1, 1), *V0 = rand_vec(n, 0, 2);
        for (size_t i = 0; i < n; i += 7) X[i] = i % 2 ? 253.f : 2.f;
        pair_t x = pair_new(X, n * 4), m = pair_new(M0, n * 4), v = pair_new(V0, n * 4);
        for (int t = 1; t <= 4; t++) {
            float *Gr = rand_vec(n, -3, 3);
            pair_t g = pair_new(Gr, n * 4);
            BOTH(adam, kind, F(x), F(g), F(m), F(v), n, 5.f, 0.9f, 0.999f, 1e-8f, t, 0.f, 255.f);
            pair_free(&g);
            free(Gr);
        }
        const char *nx = kind ? "adam x" : "seed x", *nm = kind ? "adam m" : "seed m", *nv = kind ? "adam v" : "seed v";
        expect_close(nx, &x, n, 1e-6);
        expect_close(nm, &m, n, 1e-6);
        expect_close(nv, &v, n, 1e-6);
        float *xg = pair_get(&x, GPU);
        size_t at_bound = 0;
        for (size_t i = 0; i < n; i++) {
            assert_true(xg[i] >= 0.f && xg[i] <= 255.f);
            at_bound += xg[i] == 0.f || xg[i] == 255.f;
        }
        assert_true(at_bound > 0);     /* the clip was exercised */
        free(xg);
        pair_free(&x); pair_free(&m); pair_free(&v);
        free(X); free(M0); free(V0);
    }
}

static void test_roll(void **state) {
    (void)state;
    NEED_CUDA();
    int H = 17, W = 23, C = 3;
    static const int sh[][2] = {{0, 0}, {3, -2}, {-5, 7}, {40, -50}};
    size_t n = (size_t)H * W * C;
    float *S = rand_vec(n, 0, 255);
    pair_t s = pair_new(S, n * 4), d = pair_new(NULL, n * 4);
    for (int i = 0; i < 4; i++) {
        BOTH(roll, F(s), F(d), H, W, C, sh[i][0], sh[i][1]);
        expect_close("roll", &d, n, 0);
    }
    pair_free(&s); pair_free(&d);
    free(S);
}

/* ---- tile warp (tile-resident jobs) ----------------------------------------------------- */

/* warp_window from an 8.8 window: the CPU op is dream_warp_window on the window's floats, bit
 * for bit; the device's kernel is within 1e-3 of it on 0..255 values (FMA contraction), for
 * bicubic and bilinear, tiles at the canvas edges (clamped taps) and inside, zoom in and out,
 * rotation; a window that lacks a tap is refused on both */
static void test_warp_window(void **state) {
    (void)state;
    const int W = 96, H = 64;
    static const struct { double zoom, angle; int bicubic, tx, ty, tw, th; } cs[] = {
        {1.05, -0.25, 1, 0, 0, 40, 30},   {1.05, -0.25, 1, 50, 30, 46, 34}, {1.0, 0.0, 1, 10, 10, 20, 20},
        {0.93, 3.0, 1, 30, 20, 40, 30},   {1.2, 10.0, 0, 0, 20, 96, 20},    {1.05, -0.25, 0, 60, 0, 36, 64},
    };
    size_t cn = (size_t)W * H * 3;
    uint16_t *canvas = malloc(cn * sizeof *canvas);
    assert_non_null(canvas);
    for (size_t i = 0; i < cn; i++) canvas[i] = (uint16_t)(rng_next() % 65281);
    double worst = 0;
    dream_err_t berr = {{0}};
    dream_backend_t *own = G.cpu ? NULL : dream_backend_new("cpu", 0, 1, DREAM_PREC_FP32, &berr);
    dream_backend_t *cpu = G.cpu ? G.cpu : own;     /* the CPU op is checked without a GPU too */
    if (!cpu) fail_msg("cpu backend: %s", berr.msg);
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        dream_err_t err = {{0}};
        dream_interp_t ip = cs[k].bicubic ? DREAM_INTERP_BICUBIC : DREAM_INTERP_BILINEAR;
        int sx, sy, sw, sh;
        assert_int_equal(dream_warp_source_rect(W, H, cs[k].zoom, cs[k].angle, ip, cs[k].tx, cs[k].ty, cs[k].tw,
                                                cs[k].th, &sx, &sy, &sw, &sh, &err), 0);
        size_t wn = (size_t)sw * sh * 3, tn = (size_t)cs[k].tw * cs[k].th * 3;
        uint16_t *win = malloc(wn * sizeof *win);
        float *wf = malloc(wn * sizeof *wf), *ref = malloc(tn * sizeof *ref);
        assert_non_null(win); assert_non_null(wf); assert_non_null(ref);
        for (int y = 0; y < sh; y++)
            memcpy(win + (size_t)y * sw * 3, canvas + ((size_t)(sy + y) * W + sx) * 3, (size_t)sw * 3 * sizeof *win);
        for (size_t i = 0; i < wn; i++) wf[i] = (float)win[i] / 256.0f;
        assert_int_equal(dream_warp_window(wf, sx, sy, sw, sh, W, H, cs[k].zoom, cs[k].angle, ip, cs[k].tx, cs[k].ty,
                                           cs[k].tw, cs[k].th, ref, &err), 0);
        int nb = G.ok ? 2 : 1;
        for (int b = 0; b < nb; b++) {
            dream_backend_t *be = b == CPU ? cpu : G.cuda[DREAM_PREC_FP32];
            void *dw = be->iface->alloc(be->ctx, wn * 2), *dout = be->iface->alloc(be->ctx, tn * 4);
            assert_non_null(dw); assert_non_null(dout);
            assert_int_equal(be->iface->upload(be->ctx, dw, win, wn * 2), 0);
            if (be->iface->warp_window(be->ctx, dw, sx, sy, sw, sh, W, H, cs[k].zoom, cs[k].angle, cs[k].bicubic,
                                       cs[k].tx, cs[k].ty, cs[k].tw, cs[k].th, dout) != 0)
                fail_msg("warp_window on %s: %s", be->name, be->iface->last_error(be->ctx));
            float *got = malloc(tn * sizeof *got);
            assert_non_null(got);
            assert_int_equal(be->iface->download(be->ctx, got, dout, tn * 4), 0);
            for (size_t i = 0; i < tn; i++) {
                double d = fabs((double)got[i] - ref[i]);
                if (b == CPU && memcmp(&got[i], &ref[i], sizeof(float)))
                    fail_msg("case %zu: cpu op [%zu] %.9g != dream_warp_window %.9g", k, i, got[i], ref[i]);
                if (!(d <= 1e-3)) fail_msg("case %zu: %s [%zu] %.9g vs %.9g", k, be->name, i, got[i], ref[i]);
                if (b == GPU && d > worst) worst = d;
            }
            /* a window one column short on the side the tile reads: refused, nothing read */
            int bad = be->iface->warp_window(be->ctx, dw, sx + 1, sy, sw - 1, sh, W, H, cs[k].zoom, cs[k].angle,
                                             cs[k].bicubic, cs[k].tx, cs[k].ty, cs[k].tw, cs[k].th, dout);
            if (sx > 0 || cs[k].tx == 0) assert_int_not_equal(bad, 0);
            free(got);
            be->iface->free(be->ctx, dw);
            be->iface->free(be->ctx, dout);
        }
        free(win); free(wf); free(ref);
    }
    if (G.ok) print_message("warp_window: cuda vs cpu max |diff| %.3g\n", worst);
    else print_message("warp_window: cpu op checked; SKIP cuda: no usable CUDA device (%s)\n", G.why);
    dream_backend_destroy(&own);
    free(canvas);
}

/* ---- whole step ----------------------------------------------------------------------- */

static dream_prior_t *tiny_prior(void) {
    dream_prior_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->kind = DREAM_PRIOR_STUDENT;
    p->k = 8;
    p->nfilt = 16;
    p->w = rand_vec((size_t)8 * 8 * 3 * 16, -0.01f, 0.01f);
    p->mean = rand_vec(16, -0.1f, 0.1f);
    return p;
}

/* one gradient (and for fp32 a short run) of a random `arch` net, cuda vs cpu, on every
 * precision and, with conv_algos, on the two forced 3x3 conv algorithms (bf16) */
static void engine_step(const dream_arch_t *arch, int conv_algos) {
    dream_err_t err = {{0}};
    const char *ss = getenv("DREAM_PARITY_SEED");       /* own inputs, whatever ran before */
    uint64_t seed = ss ? strtoull(ss, NULL, 10) : 77;
    G.rng = seed * 0x9e3779b9ull + 1;
    dream_model_t *m = dream_model_random(arch, seed, &err);
    if (!m) fail_msg("dream_model_random: %s", err.msg);
    dream_prior_t *prior = tiny_prior();
    int H = 48, W = 40;
    size_t n = (size_t)H * W * 3;
    float *img = rand_vec(n, 0, 255);
    dream_params_t p;
    dream_params_default(&p);
    p.nsubj = 1;
    p.cls[0] = 3;
    p.layout = DREAM_LAYOUT_SINGLE;
    p.npools = 2;
    p.pools[0] = 1;
    p.pools[1] = 4;
    p.steps = 3;
    p.jitter = 0;

    dream_engine_t *ec = dream_engine_new(m, prior, G.cpu, &err);
    if (!ec) fail_msg("engine on cpu: %s", err.msg);
    float *gc = malloc(n * sizeof *gc), *gg = malloc(n * sizeof *gg);
    dream_losses_t lc, lg;
    if (dream_engine_grad(ec, img, H, W, &p, gc, &lc, &err) != 0) fail_msg("grad on cpu: %s", err.msg);
    for (int k = 0; k < (conv_algos ? 5 : 3); k++) {
        const int pr = k < 3 ? k : DREAM_PREC_BF16;
        char tag[48];
        snprintf(tag, sizeof tag, "%s %s%s", arch->name, dream_prec_name((dream_prec_t)pr),
                 k == 3 ? " igemm" : k == 4 ? " gemm" : "");
        dream_engine_t *eg = dream_engine_new(m, prior, k < 3 ? G.cuda[k] : G.conv[k - 3], &err);
        if (!eg) fail_msg("engine on cuda %s: %s", tag, err.msg);
        if (dream_engine_grad(eg, img, H, W, &p, gg, &lg, &err) != 0)
            fail_msg("grad on cuda %s: %s", tag, err.msg);
        double e = rel_l2(gg, gc, n), et = rel_l2_trimmed(gg, gc, n, 0.03);
        double el = fabs(lg.total - lc.total) / fmax(fabs(lc.total), 1e-6);
        print_message("# step %s: grad rel L2 %.3g (%.3g without the worst 3%%), loss cpu %.6g cuda %.6g (net %.6g / %.6g, prior %.6g / %.6g)\n",
                      tag, e, et, lc.total, lg.total, lc.net, lg.net, lc.prior, lg.prior);
        if (!(e <= TOL_STEP[pr])) fail_msg("step grad %s: rel L2 %.3g > %.1g", tag, e, TOL_STEP[pr]);
        if (!(el <= TOL_LOSS[pr])) fail_msg("step loss %s: rel diff %.3g", tag, el);
        assert_int_equal(lg.gh, lc.gh);
        assert_int_equal(lg.gw, lc.gw);
        if (pr == DREAM_PREC_FP32) {      /* a few Adam steps stay together too */
            float *ic = malloc(n * sizeof *ic), *ig = malloc(n * sizeof *ig);
            memcpy(ic, img, n * sizeof *ic);
            memcpy(ig, img, n * sizeof *ig);
            dream_losses_t rc_, rg_;
            if (dream_engine_run(ec, ic, H, W, &p, &rc_, &err) != 0) fail_msg("run on cpu: %s", err.msg);
            if (dream_engine_run(eg, ig, H, W, &p, &rg_, &err) != 0) fail_msg("run on cuda: %s", err.msg);
            /* Adam's first steps move every pixel by ~lr * sign(g): a pixel whose gradient is
             * ~0 may go either way on two backends, so the worst 1 % are left out */
            double er = rel_l2(ig, ic, n), ert = rel_l2_trimmed(ig, ic, n, 0.01);
            print_message("# run fp32 %d steps: image rel L2 %.3g (%.3g without the worst 1%%)\n", p.steps, er, ert);
            if (!(ert <= 1e-4) || !(er <= 2e-3)) fail_msg("run: image rel L2 %.3g (%.3g trimmed)", er, ert);
            /* the same run with its result made on the device (result88, split order around a
             * hole) and downloaded as 8.8: back in raster order it is the float run's image */
            const int hx = W / 4, hy = H / 4, hw = W / 2, hh = H / 2;
            float *i3 = malloc(n * sizeof *i3), *back = malloc(n * sizeof *back);
            uint8_t *o88 = malloc(n * 2);
            assert_non_null(i3); assert_non_null(back); assert_non_null(o88);
            memcpy(i3, img, n * sizeof *i3);
            int r88 = dream_engine_run88(eg, i3, H, W, &p, hx, hy, hw, hh, o88, &rg_, &err);
            if (r88 != 0) fail_msg("run88 on cuda: %d %s", r88, err.msg);
            const tilesplit_rect_t tile = {0, 0, W, H}, hole = {hx, hy, hw, hh};
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    for (int c = 0; c < 3; c++) {
                        size_t j = tilesplit_index(&tile, &hole, x, y) * 3 + (size_t)c;
                        back[((size_t)y * W + x) * 3 + c] = (float)(o88[2 * j] | o88[2 * j + 1] << 8) / 256.0f;
                    }
            double e8 = rel_l2(back, ig, n), e8t = rel_l2_trimmed(back, ig, n, 0.01);
            print_message("# run88 fp32: 8.8 image vs the float run rel L2 %.3g (%.3g without the worst 1%%)\n", e8, e8t);
            if (!(e8t <= 1e-4) || !(e8 <= 2e-3)) fail_msg("run88: rel L2 %.3g (%.3g trimmed)", e8, e8t);
            free(i3); free(back); free(o88);
            free(ic); free(ig);
        }
        dream_engine_destroy(&eg);
    }
    dream_engine_destroy(&ec);
    free(gc); free(gg); free(img);
    free(prior->w); free(prior->mean); free(prior);
    dream_model_destroy(&m);
}

/* result88: x's values (out of range too) as 8.8 in split order around the hole, checked against
 * the reference (px88_q at tilesplit_index) on the CPU op, and bit for bit on the device's kernel
 * (v * 256 is exact, one rounding either way); without a hole raster order; a hole outside the
 * tile is refused on both */
static void test_result88(void **state) {
    (void)state;
    static const struct { int w, h, hx, hy, hw, hh; } cs[] = {
        {40, 30, 5, 4, 20, 15}, {40, 30, 0, 0, 40, 30}, {33, 17, 0, 0, 0, 0}, {64, 48, 10, 0, 30, 48}, {64, 48, 0, 12, 64, 20},
    };
    dream_err_t berr = {{0}};
    dream_backend_t *own = G.cpu ? NULL : dream_backend_new("cpu", 0, 1, DREAM_PREC_FP32, &berr);
    dream_backend_t *cpu = G.cpu ? G.cpu : own;
    if (!cpu) fail_msg("cpu backend: %s", berr.msg);
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        size_t n = (size_t)cs[k].w * cs[k].h * 3;
        float *x = rand_vec(n, -20.0f, 280.0f);
        for (size_t i = 0; i < n; i += 7) x[i] = (float)(rng_next() % 256) + (float)(rng_next() % 512) / 512.0f;
        uint16_t *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
        assert_non_null(ref); assert_non_null(got);
        const tilesplit_rect_t tile = {0, 0, cs[k].w, cs[k].h}, hole = {cs[k].hx, cs[k].hy, cs[k].hw, cs[k].hh};
        for (int y = 0; y < cs[k].h; y++)
            for (int xx = 0; xx < cs[k].w; xx++)
                for (int c = 0; c < 3; c++)
                    ref[tilesplit_index(&tile, &hole, xx, y) * 3 + c] = px88_q(x[((size_t)y * cs[k].w + xx) * 3 + c]);
        int nb = G.ok ? 2 : 1;
        for (int b = 0; b < nb; b++) {
            dream_backend_t *be = b == CPU ? cpu : G.cuda[DREAM_PREC_FP32];
            void *dx = be->iface->alloc(be->ctx, n * 4), *dout = be->iface->alloc(be->ctx, n * 2);
            assert_non_null(dx); assert_non_null(dout);
            assert_int_equal(be->iface->upload(be->ctx, dx, x, n * 4), 0);
            if (be->iface->result88(be->ctx, dx, cs[k].h, cs[k].w, cs[k].hx, cs[k].hy, cs[k].hw, cs[k].hh, dout) != 0)
                fail_msg("result88 on %s: %s", be->name, be->iface->last_error(be->ctx));
            assert_int_equal(be->iface->download(be->ctx, got, dout, n * 2), 0);
            for (size_t i = 0; i < n; i++)
                if (got[i] != ref[i]) fail_msg("case %zu: %s [%zu] %u != %u", k, be->name, i, got[i], ref[i]);
            /* a hole reaching outside the tile */
            assert_int_not_equal(be->iface->result88(be->ctx, dx, cs[k].h, cs[k].w, 1, 1, cs[k].w, 2, dout), 0);
            be->iface->free(be->ctx, dx);
            be->iface->free(be->ctx, dout);
        }
        free(x); free(ref); free(got);
    }
    if (!G.ok) print_message("result88: cpu op checked; SKIP cuda: no usable CUDA device (%s)\n", G.why);
    dream_backend_destroy(&own);
}

static void test_engine_step(void **state) {
    (void)state;
    NEED_CUDA();
    static const dream_arch_t tiny = {"tiny", 6, {8, 0, 16, 0, 16, 0}, 2, 32, 32, 10};
    engine_step(&tiny, 0);
}

/* channels wide enough for the implicit-gemm conv (cin % 32, cout % 64) */
static void test_engine_step_wide(void **state) {
    (void)state;
    NEED_CUDA();
    static const dream_arch_t wide = {"wide", 5, {32, 64, 0, 64, 0}, 2, 64, 64, 10};
    engine_step(&wide, 1);
}

/* ---- threads, devices, tuner fallbacks, sticky errors ----------------------------------- */

/* a padded (H+2, W+2, C) activation with a zero border and random interior */
static float *rand_padded(int H, int W, int C) {
    size_t n = (size_t)(H + 2) * (W + 2) * C;
    float *x = rand_vec(n, -1, 1);
    for (int i = 0; i < H + 2; i++)
        for (int j = 0; j < W + 2; j++)
            if (!i || !j || i > H || j > W) memset(x + ((size_t)i * (W + 2) + j) * C, 0, sizeof(float) * C);
    return x;
}

/* conv3x3_fwd (relu) of host arrays on be, result into Y; 0 or -1 with why */
static int conv_on(dream_backend_t *be, const float *X, const float *Wt, const float *Bv, int H, int W, int cin,
                   int cout, float *Y, char *why, size_t why_len) {
    const dream_backend_i *I = be->iface;
    void *c = be->ctx;
    size_t nin = (size_t)(H + 2) * (W + 2) * cin, nout = (size_t)(H + 2) * (W + 2) * cout, nw = (size_t)9 * cin * cout;
    float *x = I->alloc(c, nin * 4), *w = I->alloc(c, nw * 4), *b = I->alloc(c, (size_t)cout * 4), *y = I->alloc(c, nout * 4);
    int rc = -1;
    if (x && w && b && y && I->upload(c, x, X, nin * 4) == 0 && I->upload(c, w, Wt, nw * 4) == 0 &&
        I->upload(c, b, Bv, (size_t)cout * 4) == 0 && I->conv3x3_fwd(c, x, H, W, cin, cout, w, b, 1, y) == 0 &&
        I->download(c, Y, y, nout * 4) == 0)
        rc = 0;
    if (rc) snprintf(why, why_len, "%s", I->last_error(c));
    I->free(c, x); I->free(c, w); I->free(c, b); I->free(c, y);
    return rc;
}

typedef struct {
    dream_backend_t *be;
    const float *X, *Wt, *Bv;
    float *Y;
    int H, W, cin, cout, rc;
    char why[600];
} conv_job_t;

static void *conv_thread(void *arg) {
    conv_job_t *j = arg;
    j->rc = conv_on(j->be, j->X, j->Wt, j->Bv, j->H, j->W, j->cin, j->cout, j->Y, j->why, sizeof j->why);
    return NULL;
}

/* dream-worker makes the backend in its main thread and runs the ops in its compute thread,
 * whose current CUDA device starts as 0: every entry point must bind the backend's device */
static void test_second_device_thread(void **state) {
    (void)state;
    NEED_CUDA();
    const int d1 = G.dev == 1 ? 0 : 1;
    dream_err_t err = {{0}};
    if (dream_cuda_probe(d1, NULL, 0, NULL, &err) != 0) {
        print_message("SKIP: needs a second CUDA device (%s)\n", err.msg);
        skip();
    }
    dream_backend_t *be = dream_backend_new("cuda", d1, 0, DREAM_PREC_FP32, &err);
    if (!be) fail_msg("cuda backend on device %d: %s", d1, err.msg);
    const int H = 6, W = 9, cin = 16, cout = 24;
    size_t nout = (size_t)(H + 2) * (W + 2) * cout;
    float *X = rand_padded(H, W, cin), *Wt = rand_vec((size_t)9 * cin * cout, -0.3f, 0.3f), *Bv = rand_vec(cout, -0.5f, 0.5f);
    float *Yc = malloc(nout * 4), *Yg = malloc(nout * 4);
    char why[600];
    if (conv_on(G.cpu, X, Wt, Bv, H, W, cin, cout, Yc, why, sizeof why) != 0) fail_msg("cpu: %s", why);
    conv_job_t j = {be, X, Wt, Bv, Yg, H, W, cin, cout, -1, ""};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, conv_thread, &j), 0);
    pthread_join(th, NULL);
    if (j.rc != 0) fail_msg("ops on device %d from a second thread failed: %s", d1, j.why);
    double e = rel_l2(Yg, Yc, nout);
    print_message("# device %d from a second thread: conv3x3 rel L2 %.3g\n", d1, e);
    assert_true(e <= TOL_PREC[DREAM_PREC_FP32]);
    /* and the first device still works from this thread (whose current device is now d1) */
    use_prec(DREAM_PREC_FP32);
    if (conv_on(G.be[GPU], X, Wt, Bv, H, W, cin, cout, Yg, why, sizeof why) != 0) fail_msg("device %d: %s", G.dev, why);
    assert_true(rel_l2(Yg, Yc, nout) <= TOL_PREC[DREAM_PREC_FP32]);
    dream_backend_destroy(&be);
    free(X); free(Wt); free(Bv); free(Yc); free(Yg);
}

static dream_backend_t *new_auto_bf16(void) {
    const char *old = getenv("DREAM_CUDA_CONV");
    char keep[32];
    snprintf(keep, sizeof keep, "%s", old ? old : "");
    unsetenv("DREAM_CUDA_CONV");
    dream_err_t err = {{0}};
    dream_backend_t *be = dream_backend_new("cuda", G.dev, 0, DREAM_PREC_BF16, &err);
    if (old) setenv("DREAM_CUDA_CONV", keep, 1);
    if (!be) fail_msg("cuda bf16 backend: %s", err.msg);
    return be;
}

/* DREAM_CUDA_CONV=auto records a choice per shape class also when its check cannot run
 * (non-finite input, no memory for the reference), so later calls do not re-tune; a CUDA
 * error inside the check fails the op with that error; a later success clears last_error */
static void test_conv_tuner_fallbacks(void **state) {
    (void)state;
    NEED_EMU();
    dream_backend_t *be = new_auto_bf16();
    const dream_backend_i *I = be->iface;
    char why[600];
    /* 1. NaN in the input: 9 gemms recorded, no re-tuning */
    int H = 5, W = 7, cin = 64, cout = 64;
    float *X = rand_padded(H, W, cin), *Wt = rand_vec((size_t)9 * cin * cout, -0.2f, 0.2f), *Bv = rand_vec(cout, -0.5f, 0.5f);
    float *Y = malloc((size_t)(H + 2) * (W + 2) * cout * 4);
    X[((size_t)3 * (W + 2) + 4) * cin + 5] = NAN;
    assert_int_equal(dream_cuda_conv_choices(be), 0);
    if (conv_on(be, X, Wt, Bv, H, W, cin, cout, Y, why, sizeof why) != 0) fail_msg("NaN input: %s", why);
    assert_int_equal(dream_cuda_conv_choices(be), 1);
    if (conv_on(be, X, Wt, Bv, H, W, cin, cout, Y, why, sizeof why) != 0) fail_msg("NaN input again: %s", why);
    assert_int_equal(dream_cuda_conv_choices(be), 1);
    free(X); free(Y);
    /* 2. no device memory for the reference copy (another shape class) */
    H = 9; W = 13;
    size_t nin = (size_t)(H + 2) * (W + 2) * cin, nout = (size_t)(H + 2) * (W + 2) * cout;
    X = rand_padded(H, W, cin);
    float *Yc = malloc(nout * 4), *Yg = malloc(nout * 4);
    if (conv_on(G.cpu, X, Wt, Bv, H, W, cin, cout, Yc, why, sizeof why) != 0) fail_msg("cpu: %s", why);
    void *c = be->ctx;
    float *x = I->alloc(c, nin * 4), *w = I->alloc(c, (size_t)9 * cin * cout * 4), *b = I->alloc(c, (size_t)cout * 4),
          *y = I->alloc(c, nout * 4);
    assert_true(x && w && b && y);
    assert_int_equal(I->upload(c, x, X, nin * 4), 0);
    assert_int_equal(I->upload(c, w, Wt, (size_t)9 * cin * cout * 4), 0);
    assert_int_equal(I->upload(c, b, Bv, (size_t)cout * 4), 0);
    emu_inject("cudaMalloc", (long)(nout * 4), 2 /* cudaErrorMemoryAllocation */);
    if (I->conv3x3_fwd(c, x, H, W, cin, cout, w, b, 1, y) != 0) fail_msg("no memory for the check: %s", I->last_error(c));
    assert_int_equal(dream_cuda_conv_choices(be), 2);
    assert_int_equal(I->download(c, Yg, y, nout * 4), 0);
    assert_true(rel_l2(Yg, Yc, nout) <= TOL_PREC[DREAM_PREC_BF16]);
    assert_int_equal(I->conv3x3_fwd(c, x, H, W, cin, cout, w, b, 1, y), 0);
    assert_int_equal(dream_cuda_conv_choices(be), 2);
    /* 3. a CUDA error inside the check (the input gradient: a new class) is the op's error */
    emu_inject("k_diff_sums", 1, 1 /* cudaErrorInvalidValue */);
    assert_int_equal(I->conv3x3_bwd(c, y, H, W, cin, cout, w, NULL, x), -1);
    const char *e = I->last_error(c);
    print_message("# check failure reported as: %s\n", e);
    assert_true(strstr(e, "k_diff_sums") != NULL);
    assert_true(strstr(e, "non-finite") == NULL);
    assert_int_equal(dream_cuda_conv_choices(be), 2);
    assert_int_equal(dream_backend_lost(be), 0);
    assert_int_equal(I->zero(c, y, 64), 0);                       /* success clears last_error */
    assert_true(strcmp(I->last_error(c), "no error") == 0);
    assert_int_equal(I->conv3x3_bwd(c, y, H, W, cin, cout, w, NULL, x), 0);
    assert_int_equal(dream_cuda_conv_choices(be), 3);
    emu_inject("clear", 0, 0);
    I->free(c, x); I->free(c, w); I->free(c, b); I->free(c, y);
    dream_backend_destroy(&be);
    free(X); free(Wt); free(Bv); free(Yc); free(Yg);
}

/* a sticky error (kernel fault) kills the context: the backend says lost, every later op
 * fails at once with the cause, and destroy still works. Both at a launch and at a sync. */
static void test_sticky_error(void **state) {
    (void)state;
    NEED_EMU();
    dream_err_t err = {{0}};
    const int d1 = G.dev == 1 ? 0 : 1;
    const int dev = dream_cuda_probe(d1, NULL, 0, NULL, &err) == 0 ? d1 : G.dev;   /* spare G's device */
    static const char *where[2] = {"launch", "cudaStreamSynchronize"};
    for (int k = 0; k < 2; k++) {
        dream_backend_t *be = dream_backend_new("cuda", dev, 0, DREAM_PREC_FP32, &err);
        if (!be) fail_msg("cuda backend: %s", err.msg);
        const dream_backend_i *I = be->iface;
        void *c = be->ctx;
        size_t n = 4096;
        float *h = rand_vec(n, -1, 1), *x = I->alloc(c, n * 4), *bias = I->alloc(c, 64 * 4);
        assert_true(x && bias);
        assert_int_equal(I->upload(c, x, h, n * 4), 0);
        assert_int_equal(dream_backend_lost(be), 0);
        emu_inject(where[k], 1, 700 /* cudaErrorIllegalAddress */);
        int rc = I->bias_act(c, x, (int)(n / 64), 64, 64, bias, 1);
        if (rc == 0) rc = I->download(c, h, x, n * 4);            /* a fault surfaces at the sync */
        assert_int_equal(rc, -1);
        assert_int_equal(dream_backend_lost(be), 1);
        const char *e = I->last_error(c);
        print_message("# sticky error at %s: %s\n", where[k], e);
        assert_true(strstr(e, "context lost") != NULL);
        assert_true(strstr(e, k ? "cudaStreamSynchronize" : "launch k_bias_act") != NULL);
        assert_int_equal(I->zero(c, x, n * 4), -1);                /* refused, still with the cause */
        assert_true(strstr(I->last_error(c), "context lost") != NULL);
        assert_null(I->alloc(c, 256));
        assert_int_equal(dream_backend_lost(be), 1);
        I->free(c, x); I->free(c, bias);
        dream_backend_destroy(&be);
        emu_inject("clear", 0, 0);
        free(h);
    }
    /* the CPU backend is never lost */
    assert_int_equal(dream_backend_lost(G.cpu), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_reports),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_gemm_fp32),
        cmocka_unit_test(test_gemm_tf32),
        cmocka_unit_test(test_gemm_bf16),
        cmocka_unit_test(test_gemm_taps),
        cmocka_unit_test(test_im2col_col2im),
        cmocka_unit_test(test_bias_act),
        cmocka_unit_test(test_zero_border_relu_bwd),
        cmocka_unit_test(test_conv3x3),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_meanpool),
        cmocka_unit_test(test_input),
        cmocka_unit_test(test_objective),
        cmocka_unit_test(test_prior_act),
        cmocka_unit_test(test_warp_window),
        cmocka_unit_test(test_result88),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_roll),
        cmocka_unit_test(test_engine_step),
        cmocka_unit_test(test_engine_step_wide),
        cmocka_unit_test(test_second_device_thread),
        cmocka_unit_test(test_conv_tuner_fallbacks),
        cmocka_unit_test(test_sticky_error),
    };
    /* DREAM_PARITY_TESTS="name name ...": those tests alone (tools/gpu-check.sh --sanitize runs
     * the kernel tests under compute-sanitizer), with libcmocka or gpu-check's generated runner */
    struct CMUnitTest only[sizeof tests / sizeof tests[0]];
    size_t n = 0;
    const char *want = getenv("DREAM_PARITY_TESTS");
    for (size_t i = 0; want && i < sizeof tests / sizeof tests[0]; i++) {
        size_t l = strlen(tests[i].name);
        for (const char *f = strstr(want, tests[i].name); f; f = strstr(f + 1, tests[i].name))
            if ((f == want || f[-1] == ' ') && (f[l] == 0 || f[l] == ' ')) { only[n++] = tests[i]; break; }
    }
    if (want && !n) { fprintf(stderr, "DREAM_PARITY_TESTS names no test: %s\n", want); return 1; }
    if (want) return _cmocka_run_group_tests("test_backend_parity", only, n, group_setup, group_teardown);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
