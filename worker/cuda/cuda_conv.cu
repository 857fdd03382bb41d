/*
 * cuda_conv.cu — the convolution helpers around the gemm: im2col and its
 * adjoint col2im_add, bias + ReLU, zeroing the 1-pixel border of a padded
 * activation, and the ReLU backward mask. Layouts and semantics: backend.h.
 *
 * col2im_add gathers (each dx element sums the k*k column entries that read
 * it: no atomics, deterministic) when row_stride % C == 0 and ow * C <=
 * row_stride, which covers every layout the engine uses (including its
 * wrap-around rows, ow = w + 2); other layouts fall back to an atomicAdd scatter.
 */
#include "cuda_internal.h"
#include <stdio.h>

#define GS_LOOP(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* col (M, k*k*C): row r = (i, j) = (r / ow, r % ow), column t = (kh*k + kw)*C + c */
__global__ void k_im2col(const float *__restrict__ x, int row_stride, int C, int k, int M, int ow,
                         float *__restrict__ col) {
    size_t kkc = (size_t)k * k * C, n = (size_t)M * kkc;
    size_t kc = (size_t)k * C;
    GS_LOOP(e, n) {
        size_t r = e / kkc, t = e % kkc;
        size_t i = r / (size_t)ow, j = r % (size_t)ow;
        size_t kh = t / kc, rem = t % kc;              /* rem = kw*C + c */
        col[e] = x[(i + kh) * (size_t)row_stride + j * (size_t)C + rem];
    }
}

/* gather: one thread per dx offset q in [0, n). Every (r, kh, kw) that reads q has
 * q = (i + kh) * rs + (j + kw) * C + c; with rs % C == 0 and ow * C <= rs the base
 * t = q - kh * rs - kw * C - c = i * rs + j * C decomposes uniquely into (i, j).
 * This also covers the engine's wrap-around layout (ow = w + 2 over a padded row). */
__global__ void k_col2im_gather(const float *__restrict__ col, int rs, int C, int k, int M, int ow,
                                size_t n, float *__restrict__ dx) {
    size_t kkc = (size_t)k * k * C;
    GS_LOOP(q, n) {
        long long c = (long long)(q % (size_t)C);
        float s = 0.f;
        for (int kh = 0; kh < k; kh++) {
            for (int kw = 0; kw < k; kw++) {
                long long t = (long long)q - (long long)kh * rs - (long long)kw * C - c;
                if (t < 0) continue;
                long long i = t / rs, j = (t % rs) / C;
                if (j >= ow) continue;
                long long r = i * ow + j;
                if (r >= M) continue;
                s += col[(size_t)r * kkc + ((size_t)kh * k + kw) * C + (size_t)c];
            }
        }
        dx[q] += s;
    }
}

/* scatter fallback for aliasing layouts */
__global__ void k_col2im_scatter(const float *__restrict__ col, int row_stride, int C, int k, int M,
                                 int ow, float *dx) {
    size_t kkc = (size_t)k * k * C, n = (size_t)M * kkc, kc = (size_t)k * C;
    GS_LOOP(e, n) {
        size_t r = e / kkc, t = e % kkc;
        size_t i = r / (size_t)ow, j = r % (size_t)ow;
        size_t kh = t / kc, rem = t % kc;
        atomicAdd(&dx[(i + kh) * (size_t)row_stride + j * (size_t)C + rem], col[e]);
    }
}

static int check_window(cuda_ctx_t *c, const char *op, int row_stride, int C, int k, int M, int ow) {
    if (C <= 0 || k <= 0 || M < 0 || ow <= 0 || row_stride < 0) {
        snprintf(c->err, sizeof c->err, "%s: bad shape row_stride=%d C=%d k=%d M=%d ow=%d", op,
                 row_stride, C, k, M, ow);
        return -1;
    }
    return 0;
}

int cuda_im2col(void *ctx, const float *x, int row_stride, int C, int k, int M, int ow, float *col) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (check_window(c, "im2col", row_stride, C, k, M, ow)) return -1;
    size_t n = (size_t)M * k * k * C;
    if (!n) return 0;
    k_im2col<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, row_stride, C, k, M, ow, col);
    LAUNCH_CHECK(c, "k_im2col");
    cuda_wrote(c, col, n * sizeof(float));
    return 0;
}

int cuda_col2im_add(void *ctx, const float *col, int row_stride, int C, int k, int M, int ow,
                    float *dx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (check_window(c, "col2im_add", row_stride, C, k, M, ow)) return -1;
    if (M == 0) return 0;
    /* one past the last offset read: row r = M-1 at (i, j), window corner (k-1, k-1) */
    size_t i = (size_t)(M - 1) / ow, j = (size_t)(M - 1) % ow;
    size_t n = (i + k - 1) * (size_t)row_stride + (j + k - 1) * C + C;
    if (row_stride > 0 && row_stride % C == 0 && (long long)ow * C <= row_stride) {
        k_col2im_gather<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(col, row_stride, C, k, M, ow, n, dx);
        LAUNCH_CHECK(c, "k_col2im_gather");
    } else {
        size_t ne = (size_t)M * k * k * C;
        k_col2im_scatter<<<cuda_grid(c, ne, 256), 256, 0, c->stream>>>(col, row_stride, C, k, M, ow, dx);
        LAUNCH_CHECK(c, "k_col2im_scatter");
    }
    cuda_wrote(c, dx, n * sizeof(float));
    return 0;
}

__global__ void k_bias_act(float *y, int rows, int cols, int ld, const float *__restrict__ b, int relu) {
    size_t n = (size_t)rows * cols;
    GS_LOOP(e, n) {
        size_t r = e / (size_t)cols, cc = e % (size_t)cols;
        float v = y[r * (size_t)ld + cc] + b[cc];
        y[r * (size_t)ld + cc] = relu ? (v > 0.f ? v : 0.f) : v;   /* NaN -> 0, as the CPU ReLU */
    }
}

int cuda_bias_act(void *ctx, float *y, int rows, int cols, int ld, const float *b, int relu) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (rows < 0 || cols < 0 || ld < cols) {
        snprintf(c->err, sizeof c->err, "bias_act: bad shape rows=%d cols=%d ld=%d", rows, cols, ld);
        return -1;
    }
    size_t n = (size_t)rows * cols;
    if (!n) return 0;
    k_bias_act<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(y, rows, cols, ld, b, relu);
    LAUNCH_CHECK(c, "k_bias_act");
    cuda_wrote(c, y, ((size_t)(rows - 1) * ld + cols) * sizeof(float));
    return 0;
}

/* border of (H+2, W+2, C): rows 0 and H+1 whole, then columns 0 and W+1 of rows 1..H */
__global__ void k_zero_border(float *x, int H, int W, int C) {
    size_t rowlen = (size_t)(W + 2) * C;
    size_t top = 2 * rowlen, n = top + (size_t)2 * H * C;
    GS_LOOP(e, n) {
        if (e < top) {
            size_t r = e < rowlen ? 0 : (size_t)H + 1;
            x[r * rowlen + e % rowlen] = 0.f;
        } else {
            size_t s = e - top;
            size_t c = s % (size_t)C, q = s / (size_t)C;        /* q in [0, 2H) */
            size_t r = 1 + q / 2, col = (q & 1) ? (size_t)W + 1 : 0;
            x[r * rowlen + col * C + c] = 0.f;
        }
    }
}

int cuda_zero_border(void *ctx, float *x, int H, int W, int C) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (H < 0 || W < 0 || C <= 0) {
        snprintf(c->err, sizeof c->err, "zero_border: bad shape H=%d W=%d C=%d", H, W, C);
        return -1;
    }
    size_t n = (size_t)2 * (W + 2) * C + (size_t)2 * H * C;
    k_zero_border<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, H, W, C);
    LAUNCH_CHECK(c, "k_zero_border");
    cuda_wrote(c, x, (size_t)(H + 2) * (W + 2) * C * sizeof(float));
    return 0;
}

__global__ void k_relu_bwd(float *dy, const float *__restrict__ y, size_t n) {
    GS_LOOP(i, n) {
        if (!(y[i] > 0.f)) dy[i] = 0.f;
    }
}

int cuda_relu_bwd(void *ctx, float *dy, const float *y, size_t n) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (!n) return 0;
    k_relu_bwd<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(dy, y, n);
    LAUNCH_CHECK(c, "k_relu_bwd");
    cuda_wrote(c, dy, n * sizeof(float));
    return 0;
}
