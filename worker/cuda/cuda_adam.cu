/*
 * cuda_adam.cu — the pixel update, as the CPU backend, followed by clipping to
 * [lo, hi]; and the wrap-around roll used for jitter.
 *
 *   seed (DREAM_OPTIM_SEED, the 2015 reference's update and the default):
 *     m = b1 g + (1 - b1) m;  v = b2 g^2 + (1 - b2) v
 *     x = clip(x - lr (m / (1 - (1 - b1)^t)) / (sqrt(v / (1 - (1 - b2)^t)) + eps), lo, hi)
 *   adam (DREAM_OPTIM_ADAM, textbook Adam in Kingma & Ba's efficient form, as Lasagne):
 *     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *     x = clip(x - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), lo, hi)
 *     (eps is added to sqrt(v), not to the bias-corrected sqrt(v_hat) as torch does)
 * roll: dst[i, j] = src[(i - dy) mod H, (j - dx) mod W] (numpy.roll by (dy, dx)).
 */
#include "cuda_internal.h"
#include <math.h>
#include <stdio.h>

#define GS_LOOP(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ void k_adam(float *x, const float *__restrict__ g, float *m, float *v, size_t n, float step,
                       float b1, float b2, float eps, float lo, float hi) {
    GS_LOOP(i, n) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.f - b1) * gi;
        float vi = b2 * v[i] + (1.f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float xi = x[i] - step * mi / (sqrtf(vi) + eps);
        x[i] = xi < lo ? lo : (xi > hi ? hi : xi);
    }
}

/* a1 = 1 - b1, a2 = 1 - b2, c1, c2 the bias corrections: the same float expressions as the CPU op */
__global__ void k_seed(float *x, const float *__restrict__ g, float *m, float *v, size_t n, float lr,
                       float b1, float b2, float a1, float a2, float c1, float c2, float eps, float lo, float hi) {
    GS_LOOP(i, n) {
        float gi = g[i];
        float mi = b1 * gi + a1 * m[i];
        float vi = b2 * gi * gi + a2 * v[i];
        m[i] = mi;
        v[i] = vi;
        float xi = x[i] - lr * (mi / c1) / (sqrtf(vi / c2) + eps);   /* IEEE div/sqrt (no fast-math) */
        x[i] = xi < lo ? lo : (xi > hi ? hi : xi);
    }
}

int cuda_adam(void *ctx, int kind, float *x, const float *g, float *m, float *v, size_t n, float lr,
              float b1, float b2, float eps, int t, float lo, float hi) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (t < 1) {
        snprintf(c->err, sizeof c->err, "adam: step t=%d must be >= 1", t);
        return -1;
    }
    if (kind != DREAM_OPTIM_SEED && kind != DREAM_OPTIM_ADAM) {
        snprintf(c->err, sizeof c->err, "adam: unknown optimiser %d", kind);
        return -1;
    }
    if (!n) return 0;
    if (kind == DREAM_OPTIM_SEED) {
        /* computed on the host in float exactly as the CPU reference */
        const float c1 = 1.f - powf(1.f - b1, (float)t), c2 = 1.f - powf(1.f - b2, (float)t);
        k_seed<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, g, m, v, n, lr, b1, b2, 1.f - b1, 1.f - b2, c1, c2,
                                                            eps, lo, hi);
        LAUNCH_CHECK(c, "k_seed");
    } else {
        const float c1 = 1.f - powf(b1, (float)t), c2 = 1.f - powf(b2, (float)t);
        const float step = lr * sqrtf(c2) / c1;
        k_adam<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, g, m, v, n, step, b1, b2, eps, lo, hi);
        LAUNCH_CHECK(c, "k_adam");
    }
    cuda_wrote(c, x, n * sizeof(float));
    cuda_wrote(c, m, n * sizeof(float));
    cuda_wrote(c, v, n * sizeof(float));
    return 0;
}

__global__ void k_roll(const float *__restrict__ src, float *__restrict__ dst, int H, int W, int C,
                       int dy, int dx) {
    size_t n = (size_t)H * W * C;
    GS_LOOP(e, n) {
        int c = (int)(e % (size_t)C);
        size_t pix = e / (size_t)C;
        int j = (int)(pix % (size_t)W), i = (int)(pix / (size_t)W);
        int si = i - dy, sj = j - dx;             /* dy, dx already reduced to [0, H), [0, W) */
        if (si < 0) si += H;
        if (sj < 0) sj += W;
        dst[e] = src[((size_t)si * W + sj) * C + c];
    }
}

int cuda_roll(void *ctx, const float *src, float *dst, int H, int W, int C, int dy, int dx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (H < 0 || W < 0 || C <= 0 || src == dst) {
        snprintf(c->err, sizeof c->err, "roll: bad arguments H=%d W=%d C=%d%s", H, W, C,
                 src == dst ? " (in place is not supported)" : "");
        return -1;
    }
    size_t n = (size_t)H * W * C;
    if (!n) return 0;
    dy %= H; if (dy < 0) dy += H;
    dx %= W; if (dx < 0) dx += W;
    k_roll<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(src, dst, H, W, C, dy, dx);
    LAUNCH_CHECK(c, "k_roll");
    cuda_wrote(c, dst, n * sizeof(float));
    return 0;
}
