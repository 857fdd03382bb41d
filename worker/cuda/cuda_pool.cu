/*
 * cuda_pool.cu — pooling ops: 2x2/2 max-pool (floor mode) on padded
 * activations with winner indices, its backward, and the p x p mean-pool of
 * the image used by the patch prior with its adjoint. Semantics: backend.h.
 *
 * Max-pool winner index: 0 = (0,0), 1 = (0,1), 2 = (1,0), 3 = (1,1) within the
 * window; ties go to the first in that order (strict >), as in the CPU
 * reference and PyTorch.
 * maxpool2_bwd reads dy in the padded (H/2+2, W/2+2, C) layout of y.
 */
#include "cuda_internal.h"
#include <stdio.h>

#define GS_LOOP(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* one thread per element of padded y (ho+2, wo+2, C) */
__global__ void k_maxpool2_fwd(const float *__restrict__ x, int W, int C, int ho, int wo,
                               float *__restrict__ y, uint8_t *__restrict__ idx) {
    size_t xrow = (size_t)(W + 2) * C, yrow = (size_t)(wo + 2) * C;
    size_t n = (size_t)(ho + 2) * yrow;
    GS_LOOP(e, n) {
        int c = (int)(e % (size_t)C);
        size_t pix = e / (size_t)C;
        int j = (int)(pix % (size_t)(wo + 2)), i = (int)(pix / (size_t)(wo + 2));
        if (i == 0 || j == 0 || i > ho || j > wo) { y[e] = 0.f; continue; }
        int oi = i - 1, oj = j - 1;
        const float *p = x + (size_t)(2 * oi + 1) * xrow + (size_t)(2 * oj + 1) * C + c;
        float best = p[0];
        int w = 0;
        float v = p[C];            if (v > best) { best = v; w = 1; }
        v = p[xrow];               if (v > best) { best = v; w = 2; }
        v = p[xrow + C];           if (v > best) { best = v; w = 3; }
        y[e] = best;
        idx[((size_t)oi * wo + oj) * C + c] = (uint8_t)w;
    }
}

int cuda_maxpool2_fwd(void *ctx, const float *x, int H, int W, int C, float *y, uint8_t *idx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (H < 0 || W < 0 || C <= 0) {
        snprintf(c->err, sizeof c->err, "maxpool2_fwd: bad shape H=%d W=%d C=%d", H, W, C);
        return -1;
    }
    int ho = H / 2, wo = W / 2;
    size_t n = (size_t)(ho + 2) * (wo + 2) * C;
    k_maxpool2_fwd<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, W, C, ho, wo, y, idx);
    LAUNCH_CHECK(c, "k_maxpool2_fwd");
    cuda_wrote(c, y, n * sizeof(float));
    cuda_wrote(c, idx, (size_t)ho * wo * C);
    return 0;
}

/* one thread per element of padded dx (H+2, W+2, C) */
__global__ void k_maxpool2_bwd(const float *__restrict__ dy, const uint8_t *__restrict__ idx, int H,
                               int W, int C, float *__restrict__ dx) {
    int ho = H / 2, wo = W / 2;
    size_t n = (size_t)(H + 2) * (W + 2) * C;
    size_t yrow = (size_t)(wo + 2) * C;
    GS_LOOP(e, n) {
        int c = (int)(e % (size_t)C);
        size_t pix = e / (size_t)C;
        int xx = (int)(pix % (size_t)(W + 2)), yy = (int)(pix / (size_t)(W + 2));
        float g = 0.f;
        if (yy >= 1 && xx >= 1) {
            int oi = (yy - 1) >> 1, oj = (xx - 1) >> 1;
            if (oi < ho && oj < wo) {
                int sub = ((yy - 1) & 1) * 2 + ((xx - 1) & 1);
                if (idx[((size_t)oi * wo + oj) * C + c] == sub)
                    g = dy[(size_t)(oi + 1) * yrow + (size_t)(oj + 1) * C + c];
            }
        }
        dx[e] = g;
    }
}

int cuda_maxpool2_bwd(void *ctx, const float *dy, const uint8_t *idx, int H, int W, int C, float *dx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (H < 0 || W < 0 || C <= 0) {
        snprintf(c->err, sizeof c->err, "maxpool2_bwd: bad shape H=%d W=%d C=%d", H, W, C);
        return -1;
    }
    size_t n = (size_t)(H + 2) * (W + 2) * C;
    k_maxpool2_bwd<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(dy, idx, H, W, C, dx);
    LAUNCH_CHECK(c, "k_maxpool2_bwd");
    cuda_wrote(c, dx, n * sizeof(float));
    return 0;
}

/* d (H/p, W/p, C) = block means of x (H, W, C) */
__global__ void k_meanpool_fwd(const float *__restrict__ x, int W, int C, int p, int hd, int wd,
                               float *__restrict__ d) {
    size_t n = (size_t)hd * wd * C;
    float inv = 1.f / (float)(p * p);
    GS_LOOP(e, n) {
        int c = (int)(e % (size_t)C);
        size_t pix = e / (size_t)C;
        int j = (int)(pix % (size_t)wd), i = (int)(pix / (size_t)wd);
        float s = 0.f;
        for (int a = 0; a < p; a++) {
            const float *row = x + ((size_t)(i * p + a) * W + (size_t)j * p) * C + c;
            for (int b = 0; b < p; b++) s += row[(size_t)b * C];
        }
        d[e] = s * inv;
    }
}

int cuda_meanpool_fwd(void *ctx, const float *x, int H, int W, int C, int p, float *d) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (H < 0 || W < 0 || C <= 0 || p <= 0) {
        snprintf(c->err, sizeof c->err, "meanpool_fwd: bad shape H=%d W=%d C=%d p=%d", H, W, C, p);
        return -1;
    }
    int hd = H / p, wd = W / p;
    size_t n = (size_t)hd * wd * C;
    if (!n) return 0;
    k_meanpool_fwd<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, W, C, p, hd, wd, d);
    LAUNCH_CHECK(c, "k_meanpool_fwd");
    cuda_wrote(c, d, n * sizeof(float));
    return 0;
}

/* dx (H, W, C) += dd[i/p, j/p] / p^2 inside the cropped area */
__global__ void k_meanpool_bwd_add(const float *__restrict__ dd, int W, int C, int p, int hd, int wd,
                                   float *__restrict__ dx) {
    size_t n = (size_t)hd * p * wd * p * C;
    size_t wc = (size_t)wd * p;                          /* cropped width */
    float inv = 1.f / (float)(p * p);
    GS_LOOP(e, n) {
        int c = (int)(e % (size_t)C);
        size_t pix = e / (size_t)C;
        size_t xx = pix % wc, yy = pix / wc;
        dx[(yy * W + xx) * C + c] += dd[((yy / p) * wd + xx / p) * C + c] * inv;
    }
}

int cuda_meanpool_bwd_add(void *ctx, const float *dd, int H, int W, int C, int p, float *dx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (H < 0 || W < 0 || C <= 0 || p <= 0) {
        snprintf(c->err, sizeof c->err, "meanpool_bwd_add: bad shape H=%d W=%d C=%d p=%d", H, W, C, p);
        return -1;
    }
    int hd = H / p, wd = W / p;
    size_t n = (size_t)hd * p * wd * p * C;
    if (!n) return 0;
    k_meanpool_bwd_add<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(dd, W, C, p, hd, wd, dx);
    LAUNCH_CHECK(c, "k_meanpool_bwd_add");
    cuda_wrote(c, dx, (size_t)H * W * C * sizeof(float));
    return 0;
}
