/*
 * backend_cpu.c — the CPU backend: OpenBLAS sgemm plus OpenMP threads for
 * the memory-bound ops. This is the reference implementation of every op in
 * backend.h; the CUDA backend must match it (tests/unit/test_backend_parity.c).
 *
 * Memory is plain host memory (64-byte aligned, zeroed). "Upload" and
 * "download" are memcpy. All ops are synchronous.
 */
#include "backend.h"
#include "image.h"
#include "px88.h"
#include "tilesplit.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

typedef struct cpu_ctx {
    int threads;
    char err[256];
} cpu_ctx_t;

extern void openblas_set_num_threads(int);

static void cpu_destroy(void *vctx) { free(vctx); }

static const char *cpu_last_error(void *vctx) { return ((cpu_ctx_t *)vctx)->err; }

static void *cpu_alloc(void *vctx, size_t bytes) {
    cpu_ctx_t *c = vctx;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    void *p = aligned_alloc(64, n);
    if (!p) { snprintf(c->err, sizeof c->err, "out of host memory (%zu bytes)", bytes); return NULL; }
    memset(p, 0, n);
    return p;
}

static void cpu_free(void *vctx, void *p) { (void)vctx; free(p); }

static int cpu_memcpy(void *vctx, void *dst, const void *src, size_t n) {
    (void)vctx;
    if (n) memmove(dst, src, n);
    return 0;
}

static int cpu_zero(void *vctx, void *p, size_t n) {
    (void)vctx;
    if (n) memset(p, 0, n);
    return 0;
}

static int cpu_sync(void *vctx) { (void)vctx; return 0; }

static int cpu_gemm(void *vctx, int transA, int transB, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
                    int flags) {
    (void)vctx; (void)flags;
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {   /* C = beta * C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] *= beta;
        return 0;
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return 0;
}

/* col (M, k*k*C): row r = (i, j) = (r / ow, r % ow) reads x[(i+kh)*row_stride + (j+kw)*C + c] */
static int cpu_im2col(void *vctx, const float *x, int row_stride, int C, int k, int M, int ow,
                      float *col) {
    (void)vctx;
    const size_t K = (size_t)k * k * C;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < M; r++) {
        const int i = r / ow, j = r % ow;
        float *dst = col + (size_t)r * K;
        for (int kh = 0; kh < k; kh++) {
            const float *src = x + (size_t)(i + kh) * row_stride + (size_t)j * C;
            memcpy(dst + (size_t)kh * k * C, src, sizeof(float) * (size_t)k * C);
        }
    }
    return 0;
}

static int cpu_col2im_add(void *vctx, const float *col, int row_stride, int C, int k, int M, int ow,
                          float *dx) {
    (void)vctx;
    const size_t K = (size_t)k * k * C;
    /* Rows of the same output row i write to input rows i..i+k-1; processing output rows
     * in two passes by parity of (i / k) keeps threads on disjoint input rows. */
    const int orows = (M + ow - 1) / ow;
    for (int phase = 0; phase < 2; phase++) {
#pragma omp parallel for schedule(static)
        for (int blk = phase; blk < (orows + k - 1) / k; blk += 2) {
            for (int i = blk * k; i < (blk + 1) * k && i < orows; i++) {
                for (int j = 0; j < ow; j++) {
                    const int r = i * ow + j;
                    if (r >= M) break;
                    const float *src = col + (size_t)r * K;
                    for (int kh = 0; kh < k; kh++) {
                        float *d = dx + (size_t)(i + kh) * row_stride + (size_t)j * C;
                        const float *s = src + (size_t)kh * k * C;
                        for (int q = 0; q < k * C; q++) d[q] += s[q];
                    }
                }
            }
        }
    }
    return 0;
}

static int cpu_bias_act(void *vctx, float *y, int rows, int cols, int ld, const float *b, int relu) {
    (void)vctx;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float *row = y + (size_t)r * ld;
        if (relu) {
            for (int c = 0; c < cols; c++) { float v = row[c] + b[c]; row[c] = v > 0.f ? v : 0.f; }
        } else {
            for (int c = 0; c < cols; c++) row[c] += b[c];
        }
    }
    return 0;
}

/* padded (H+2, W+2, C): rows 0 and H+1 entirely, columns 0 and W+1 of the rows between */
static int cpu_zero_border(void *vctx, float *x, int H, int W, int C) {
    (void)vctx;
    const size_t rowlen = (size_t)(W + 2) * C;
    memset(x, 0, sizeof(float) * rowlen);
    memset(x + (size_t)(H + 1) * rowlen, 0, sizeof(float) * rowlen);
    for (int h = 1; h <= H; h++) {
        float *row = x + (size_t)h * rowlen;
        memset(row, 0, sizeof(float) * C);
        memset(row + (size_t)(W + 1) * C, 0, sizeof(float) * C);
    }
    return 0;
}

static int cpu_relu_bwd(void *vctx, float *dy, const float *y, size_t n) {
    (void)vctx;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        if (!(y[i] > 0.f)) dy[i] = 0.f;
    return 0;
}

static int cpu_maxpool2_fwd(void *vctx, const float *x, int H, int W, int C, float *y, uint8_t *idx) {
    const int Ho = H / 2, Wo = W / 2;
    const size_t xrow = (size_t)(W + 2) * C, yrow = (size_t)(Wo + 2) * C;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < Ho; i++) {
        for (int j = 0; j < Wo; j++) {
            const float *p00 = x + (size_t)(2 * i + 1) * xrow + (size_t)(2 * j + 1) * C;
            const float *p01 = p00 + C, *p10 = p00 + xrow, *p11 = p10 + C;
            float *out = y + (size_t)(i + 1) * yrow + (size_t)(j + 1) * C;
            uint8_t *ix = idx + ((size_t)i * Wo + j) * C;
            for (int c = 0; c < C; c++) {
                float m = p00[c]; uint8_t w = 0;
                if (p01[c] > m) { m = p01[c]; w = 1; }
                if (p10[c] > m) { m = p10[c]; w = 2; }
                if (p11[c] > m) { m = p11[c]; w = 3; }
                out[c] = m; ix[c] = w;
            }
        }
    }
    return cpu_zero_border(vctx, y, Ho, Wo, C);
}

static int cpu_maxpool2_bwd(void *vctx, const float *dy, const uint8_t *idx, int H, int W, int C,
                            float *dx) {
    const int Ho = H / 2, Wo = W / 2;
    const size_t xrow = (size_t)(W + 2) * C, yrow = (size_t)(Wo + 2) * C;
    cpu_zero(vctx, dx, sizeof(float) * (size_t)(H + 2) * xrow);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < Ho; i++) {
        for (int j = 0; j < Wo; j++) {
            float *base = dx + (size_t)(2 * i + 1) * xrow + (size_t)(2 * j + 1) * C;
            const float *g = dy + (size_t)(i + 1) * yrow + (size_t)(j + 1) * C;
            const uint8_t *ix = idx + ((size_t)i * Wo + j) * C;
            for (int c = 0; c < C; c++) {
                const int w = ix[c];
                base[(size_t)(w >> 1) * xrow + (size_t)(w & 1) * C + c] = g[c];
            }
        }
    }
    return 0;
}

static int cpu_input_fwd(void *vctx, const float *x, int H, int W, const float scale[3],
                         const float shift[3], const int perm[3], float *xp) {
    const size_t prow = (size_t)(W + 2) * 3;
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++) {
        const float *src = x + (size_t)h * W * 3;
        float *dst = xp + (size_t)(h + 1) * prow + 3;
        for (int w = 0; w < W; w++)
            for (int c = 0; c < 3; c++) dst[w * 3 + c] = src[w * 3 + perm[c]] * scale[c] + shift[c];
    }
    return cpu_zero_border(vctx, xp, H, W, 3);
}

static int cpu_input_bwd_add(void *vctx, const float *dxp, int H, int W, const float scale[3],
                             const int perm[3], float *dx) {
    (void)vctx;
    const size_t prow = (size_t)(W + 2) * 3;
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++) {
        const float *src = dxp + (size_t)(h + 1) * prow + 3;
        float *dst = dx + (size_t)h * W * 3;
        for (int w = 0; w < W; w++)
            for (int c = 0; c < 3; c++) dst[w * 3 + perm[c]] += src[w * 3 + c] * scale[c];
    }
    return 0;
}

static int cpu_meanpool_fwd(void *vctx, const float *x, int H, int W, int C, int p, float *d) {
    (void)vctx;
    const int Ho = H / p, Wo = W / p;
    const float inv = 1.f / (float)(p * p);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < Ho; i++) {
        for (int j = 0; j < Wo; j++) {
            float *out = d + ((size_t)i * Wo + j) * C;
            for (int c = 0; c < C; c++) out[c] = 0.f;
            for (int a = 0; a < p; a++) {
                const float *row = x + ((size_t)(i * p + a) * W + (size_t)j * p) * C;
                for (int b = 0; b < p; b++)
                    for (int c = 0; c < C; c++) out[c] += row[b * C + c];
            }
            for (int c = 0; c < C; c++) out[c] *= inv;
        }
    }
    return 0;
}

static int cpu_meanpool_bwd_add(void *vctx, const float *dd, int H, int W, int C, int p, float *dx) {
    (void)vctx;
    const int Ho = H / p, Wo = W / p;
    const float inv = 1.f / (float)(p * p);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < Ho; i++) {
        for (int a = 0; a < p; a++) {
            float *row = dx + (size_t)(i * p + a) * W * C;
            for (int j = 0; j < Wo; j++) {
                const float *g = dd + ((size_t)i * Wo + j) * C;
                for (int b = 0; b < p; b++)
                    for (int c = 0; c < C; c++) row[((size_t)j * p + b) * C + c] += g[c] * inv;
            }
        }
    }
    return 0;
}

static int cpu_objective(void *vctx, const float *logits, int ncell, int ncls, int nsubj,
                         const int *cls, const uint8_t *masks, float mean_weight, float *dlogits,
                         float *loss_acc) {
    cpu_ctx_t *c = vctx;
    const size_t n = (size_t)ncell * ncls;
    const float g = mean_weight / (float)n;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) { sum += logits[i]; dlogits[i] = g; }
    double loss = mean_weight * sum / (double)n;
    for (int s = 0; s < nsubj; s++) {
        const uint8_t *m = masks + (size_t)s * ncell;
        int cnt = 0;
        for (int i = 0; i < ncell; i++) cnt += m[i] != 0;
        if (cnt == 0 || cls[s] < 0 || cls[s] >= ncls) {
            snprintf(c->err, sizeof c->err, "objective: subject %d has an empty region or bad class %d",
                     s, cls[s]);
            return -1;
        }
        double acc = 0.0;
        for (int i = 0; i < ncell; i++)
            if (m[i]) {
                acc += logits[(size_t)i * ncls + cls[s]];
                dlogits[(size_t)i * ncls + cls[s]] -= 1.f / (float)cnt;
            }
        loss -= acc / cnt;
    }
    loss_acc[0] += (float)loss;
    return 0;
}

static int cpu_prior_act(void *vctx, float *z, int M, int K, const float *mu, int kind, float nu,
                         float scale, float *dz, float *loss_acc) {
    (void)vctx;
    double sum = 0.0;
    if (kind == DREAM_PRIOR_STUDENT) {
        const float gs = scale * 2.f / ((float)M * (float)K);
#pragma omp parallel for schedule(static) reduction(+ : sum)
        for (int m = 0; m < M; m++) {
            float *zr = z + (size_t)m * K, *g = dz + (size_t)m * K;
            for (int k = 0; k < K; k++) {
                const float r = zr[k] - mu[k];
                zr[k] = r;
                sum += log1pf(r * r / nu);
                g[k] = gs * r / (nu + r * r);
            }
        }
        loss_acc[0] += (float)(scale * sum / ((double)M * K));
    } else {
        const int Ke = K - 1;
        const float gs = scale * 2.f / ((float)M * (float)Ke);
#pragma omp parallel for schedule(static) reduction(+ : sum)
        for (int m = 0; m < M; m++) {
            float *zr = z + (size_t)m * K, *g = dz + (size_t)m * K;
            for (int k = 0; k < K; k++) {
                const float r = zr[k] - mu[k];
                zr[k] = r;
                if (k < Ke) { sum += (double)r * r; g[k] = gs * r; }
                else g[k] = 0.f;
            }
        }
        loss_acc[0] += (float)(scale * sum / ((double)M * Ke));
    }
    return 0;
}

static int cpu_adam(void *vctx, int kind, float *x, const float *g, float *m, float *v, size_t n, float lr,
                    float b1, float b2, float eps, int t, float lo, float hi) {
    cpu_ctx_t *c = vctx;
    if (t < 1) {
        snprintf(c->err, sizeof c->err, "adam: step t=%d must be >= 1", t);
        return -1;
    }
    if (kind == DREAM_OPTIM_SEED) {
        /* the 2015 reference: the betas weight the new gradient; bias corrections 1 - (1-b)^t */
        const float c1 = 1.f - powf(1.f - b1, (float)t), c2 = 1.f - powf(1.f - b2, (float)t);
        const float a1 = 1.f - b1, a2 = 1.f - b2;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            const float gi = g[i];
            const float mi = b1 * gi + a1 * m[i], vi = b2 * gi * gi + a2 * v[i];
            m[i] = mi;
            v[i] = vi;
            const float xi = x[i] - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
            x[i] = xi < lo ? lo : (xi > hi ? hi : xi);
        }
        return 0;
    }
    if (kind != DREAM_OPTIM_ADAM) {
        snprintf(c->err, sizeof c->err, "adam: unknown optimiser %d", kind);
        return -1;
    }
    const float c1 = 1.f - powf(b1, (float)t), c2 = 1.f - powf(b2, (float)t);
    const float step = lr * sqrtf(c2) / c1;
    /* textbook Adam, Kingma & Ba's efficient form (as Lasagne):
     * x -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps) */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.f - b1) * g[i];
        v[i] = b2 * v[i] + (1.f - b2) * g[i] * g[i];
        float xi = x[i] - step * m[i] / (sqrtf(v[i]) + eps);
        x[i] = xi < lo ? lo : (xi > hi ? hi : xi);
    }
    return 0;
}

static int cpu_roll(void *vctx, const float *src, float *dst, int H, int W, int C, int dy, int dx) {
    (void)vctx;
    dy = ((dy % H) + H) % H;
    dx = ((dx % W) + W) % W;
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++) {
        const int hd = (h + dy) % H;
        const float *s = src + (size_t)h * W * C;
        float *d = dst + (size_t)hd * W * C;
        /* columns [0, W-dx) -> [dx, W), [W-dx, W) -> [0, dx) */
        memcpy(d + (size_t)dx * C, s, sizeof(float) * (size_t)(W - dx) * C);
        if (dx) memcpy(d, s + (size_t)(W - dx) * C, sizeof(float) * (size_t)dx * C);
    }
    return 0;
}

/* the tile warp from an 8.8 window: the window as floats, then dream_warp_window */
static int cpu_warp_window(void *vctx, const uint16_t *win, int sx, int sy, int sw, int sh, int W, int H,
                           double zoom, double angle_deg, int bicubic, int tx, int ty, int tw, int th, float *out) {
    cpu_ctx_t *c = vctx;
    if (sw <= 0 || sh <= 0) {
        snprintf(c->err, sizeof c->err, "warp_window: empty window");
        return -1;
    }
    size_t n = (size_t)sw * sh * 3;
    float *f = malloc(n * sizeof *f);
    if (!f) {
        snprintf(c->err, sizeof c->err, "warp_window: out of memory");
        return -1;
    }
    px88_to_float((const uint8_t *)win, f, n);      /* the window's 8.8 bytes as they were uploaded */
    dream_err_t err = {{0}};
    int rc = dream_warp_window(f, sx, sy, sw, sh, W, H, zoom, angle_deg,
                               bicubic ? DREAM_INTERP_BICUBIC : DREAM_INTERP_BILINEAR, tx, ty, tw, th, out, &err);
    free(f);
    if (rc != 0) snprintf(c->err, sizeof c->err, "warp_window: %.200s", err.msg);
    return rc;
}

/* the result in 8.8 split order (backend.h result88): each row's runs (cut at the hole's edges,
 * tilesplit_pieces) through px88_from_float to their places; rows over the threads */
static int cpu_result88(void *vctx, const float *x, int h, int w, int hx, int hy, int hw, int hh, uint16_t *out) {
    cpu_ctx_t *c = vctx;
    if (h <= 0 || w <= 0 || (hw > 0 && hh > 0 && (hx < 0 || hy < 0 || hx + hw > w || hy + hh > h))) {
        snprintf(c->err, sizeof c->err, "result88: hole %dx%d+%d+%d outside the %dx%d tile", hw, hh, hx, hy, w, h);
        return -1;
    }
    const tilesplit_rect_t hole = {hx, hy, hw > 0 && hh > 0 ? hw : 0, hw > 0 && hh > 0 ? hh : 0};
    #pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) tilesplit_rows88(x, w, h, &hole, y, y + 1, (uint8_t *)out);
    return 0;
}

/* 3x3 / pad-1 conv: the 9 shifted gemms of backend.c over this backend's own ops */
static const dream_backend_i cpu_iface;

static int cpu_conv3x3_fwd(void *vctx, const float *x, int H, int W, int cin, int cout, const float *w,
                           const float *b, int relu, float *y) {
    return dream_conv3x3_fwd_gemms(&cpu_iface, vctx, x, H, W, cin, cout, w, b, relu, y);
}

static int cpu_conv3x3_bwd(void *vctx, const float *dy, int H, int W, int cin, int cout, const float *w,
                           const float *mask, float *dx) {
    return dream_conv3x3_bwd_gemms(&cpu_iface, vctx, dy, H, W, cin, cout, w, mask, dx);
}

static const dream_backend_i cpu_iface = {
    .destroy = cpu_destroy,
    .last_error = cpu_last_error,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .zero = cpu_zero,
    .copy = cpu_memcpy,
    .sync = cpu_sync,
    .gemm = cpu_gemm,
    .im2col = cpu_im2col,
    .col2im_add = cpu_col2im_add,
    .bias_act = cpu_bias_act,
    .zero_border = cpu_zero_border,
    .relu_bwd = cpu_relu_bwd,
    .maxpool2_fwd = cpu_maxpool2_fwd,
    .maxpool2_bwd = cpu_maxpool2_bwd,
    .input_fwd = cpu_input_fwd,
    .input_bwd_add = cpu_input_bwd_add,
    .meanpool_fwd = cpu_meanpool_fwd,
    .meanpool_bwd_add = cpu_meanpool_bwd_add,
    .objective = cpu_objective,
    .prior_act = cpu_prior_act,
    .adam = cpu_adam,
    .roll = cpu_roll,
    .conv3x3_fwd = cpu_conv3x3_fwd,
    .conv3x3_bwd = cpu_conv3x3_bwd,
    .warp_window = cpu_warp_window,
    .result88 = cpu_result88,
};

int dream_backend_cpu_init(dream_backend_t *be, int threads, dream_err_t *err) {
    cpu_ctx_t *c = calloc(1, sizeof *c);
    if (!c) return dream_err_set(err, "out of memory");
    if (threads <= 0) threads = omp_get_num_procs();
    c->threads = threads;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    be->iface = &cpu_iface;
    be->ctx = c;
    be->prec = DREAM_PREC_FP32;
    be->mem_total = 0;
    snprintf(be->name, sizeof be->name, "cpu");
    snprintf(be->device, sizeof be->device, "CPU, %d thread%s (OpenBLAS)", threads, threads == 1 ? "" : "s");
    return 0;
}
