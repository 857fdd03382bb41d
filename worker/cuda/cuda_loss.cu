/*
 * cuda_loss.cu — the ops at both ends of the network: the input
 * normalisation (and its adjoint; input_fwd also zeroes xp's border), the score-grid objective and the patch
 * prior's activation. Semantics: backend.h.
 *
 * Reductions are deterministic: each block writes a double partial into
 * ctx->red, and one single-block kernel sums them in a fixed order and adds
 * the float result to loss_acc[0] on the device (no host round trip).
 * objective(): cls and masks are device memory per backend.h; host pointers
 * are tolerated too (detected with cudaPointerGetAttributes and staged).
 */
#include "cuda_internal.h"
#include <stdio.h>
#include <string.h>

#define GS_LOOP(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)
#define RED_THREADS 256
#define OBJ_MAX_SUBJ 8

/* sum of v over the block (blockDim.x == RED_THREADS); result valid in thread 0 */
__device__ static double block_sum(double v) {
    __shared__ double sh[RED_THREADS];
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();                        /* sh may be reused by the next call */
    return r;
}

static unsigned red_grid(const cuda_ctx_t *c, size_t n) {
    unsigned g = cuda_grid(c, n, RED_THREADS);
    return g > CUDA_RED_SLOTS ? CUDA_RED_SLOTS : g;
}

/* ---- input normalisation -------------------------------------------------------------- */

typedef struct { float scale[3], shift[3]; int perm[3]; } in_norm_t;

/* one thread per padded pixel (H+2, W+2): the border is written as zero */
__global__ void k_input_fwd(const float *__restrict__ x, int H, int W, in_norm_t nm, float *__restrict__ xp) {
    size_t n = (size_t)(H + 2) * (W + 2);
    GS_LOOP(pix, n) {
        size_t i = pix / (size_t)(W + 2), j = pix % (size_t)(W + 2);
        float *o = xp + pix * 3;
        if (i == 0 || j == 0 || i > (size_t)H || j > (size_t)W) {
            o[0] = o[1] = o[2] = 0.f;
            continue;
        }
        const float *px = x + ((i - 1) * (size_t)W + (j - 1)) * 3;
        for (int c = 0; c < 3; c++) o[c] = px[nm.perm[c]] * nm.scale[c] + nm.shift[c];
    }
}

__global__ void k_input_bwd_add(const float *__restrict__ dxp, int H, int W, in_norm_t nm, float *__restrict__ dx) {
    size_t n = (size_t)H * W;
    GS_LOOP(pix, n) {
        size_t i = pix / (size_t)W, j = pix % (size_t)W;
        const float *g = dxp + ((i + 1) * (size_t)(W + 2) + j + 1) * 3;
        float *o = dx + pix * 3;
        for (int c = 0; c < 3; c++) o[nm.perm[c]] += g[c] * nm.scale[c];
    }
}

static int norm_args(cuda_ctx_t *c, const char *op, int H, int W, const float scale[3],
                     const float shift[3], const int perm[3], in_norm_t *nm) {
    if (H < 0 || W < 0 || !scale || !perm) {
        snprintf(c->err, sizeof c->err, "%s: bad arguments H=%d W=%d", op, H, W);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (perm[i] < 0 || perm[i] > 2) {
            snprintf(c->err, sizeof c->err, "%s: perm[%d]=%d out of range", op, i, perm[i]);
            return -1;
        }
        nm->scale[i] = scale[i];
        nm->shift[i] = shift ? shift[i] : 0.f;
        nm->perm[i] = perm[i];
    }
    return 0;
}

int cuda_input_fwd(void *ctx, const float *x, int H, int W, const float scale[3],
                   const float shift[3], const int perm[3], float *xp) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    in_norm_t nm;
    if (norm_args(c, "input_fwd", H, W, scale, shift, perm, &nm)) return -1;
    size_t n = (size_t)(H + 2) * (W + 2);
    k_input_fwd<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, H, W, nm, xp);
    LAUNCH_CHECK(c, "k_input_fwd");
    cuda_wrote(c, xp, (size_t)(H + 2) * (W + 2) * 3 * sizeof(float));
    return 0;
}

int cuda_input_bwd_add(void *ctx, const float *dxp, int H, int W, const float scale[3],
                       const int perm[3], float *dx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    in_norm_t nm;
    if (norm_args(c, "input_bwd_add", H, W, scale, NULL, perm, &nm)) return -1;
    size_t n = (size_t)H * W;
    if (!n) return 0;
    k_input_bwd_add<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(dxp, H, W, nm, dx);
    LAUNCH_CHECK(c, "k_input_bwd_add");
    cuda_wrote(c, dx, n * 3 * sizeof(float));
    return 0;
}

/* ---- objective ------------------------------------------------------------------------ */

/* red[b] = partial sum of logits */
__global__ void k_sum(const float *__restrict__ v, size_t n, double *red) {
    double s = 0;
    GS_LOOP(i, n) s += v[i];
    s = block_sum(s);
    if (threadIdx.x == 0) red[blockIdx.x] = s;
}

/* one block: total from partials, per-subject counts and sums; loss into loss_acc */
__global__ void k_objective_reduce(const float *__restrict__ logits, int ncell, int ncls, int nsubj,
                                   const int *__restrict__ cls, const uint8_t *__restrict__ masks,
                                   float mean_weight, const double *red, int nred, float *inv_count,
                                   float *loss_acc) {
    double tot = 0;
    for (int i = threadIdx.x; i < nred; i += blockDim.x) tot += red[i];
    tot = block_sum(tot);
    double loss = 0;
    for (int s = 0; s < nsubj; s++) {
        int cl = cls[s];
        bool ok = cl >= 0 && cl < ncls;
        double cnt = 0, sum = 0;
        for (int cell = threadIdx.x; cell < ncell; cell += blockDim.x) {
            if (masks[(size_t)s * ncell + cell]) {
                cnt += 1;
                if (ok) sum += logits[(size_t)cell * ncls + cl];
            }
        }
        cnt = block_sum(cnt);
        sum = block_sum(sum);
        if (threadIdx.x == 0) {
            inv_count[s] = (cnt > 0 && ok) ? (float)(1.0 / cnt) : 0.f;
            if (cnt > 0) loss -= sum / cnt;
        }
    }
    if (threadIdx.x == 0) {
        loss += (double)mean_weight * tot / ((double)ncell * ncls);
        loss_acc[0] += (float)loss;
    }
}

__global__ void k_objective_grad(int ncell, int ncls, int nsubj, const int *__restrict__ cls,
                                 const uint8_t *__restrict__ masks, float mean_weight,
                                 const float *__restrict__ inv_count, float *__restrict__ dlogits) {
    size_t n = (size_t)ncell * ncls;
    float base = (float)((double)mean_weight / (double)n);
    GS_LOOP(e, n) {
        int k = (int)(e % (size_t)ncls);
        size_t cell = e / (size_t)ncls;
        float g = base;
        for (int s = 0; s < nsubj; s++)
            if (k == cls[s] && masks[(size_t)s * ncell + cell]) g -= inv_count[s];
        dlogits[e] = g;
    }
}

static bool is_device_ptr(const void *p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

int cuda_objective(void *ctx, const float *logits, int ncell, int ncls, int nsubj,
                   const int *cls, const uint8_t *masks, float mean_weight,
                   float *dlogits, float *loss_acc) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (ncell <= 0 || ncls <= 0 || nsubj < 1 || nsubj > OBJ_MAX_SUBJ || !cls || !masks) {
        snprintf(c->err, sizeof c->err, "objective: bad arguments ncell=%d ncls=%d nsubj=%d (max %d)",
                 ncell, ncls, nsubj, OBJ_MAX_SUBJ);
        return -1;
    }
    const int *dcls = cls;
    const uint8_t *dmasks = masks;
    bool hcls = !is_device_ptr(cls), hmask = !is_device_ptr(masks);
    if (hcls || hmask) {                    /* stage host arrays: [cls (8 ints)][masks] */
        size_t need = OBJ_MAX_SUBJ * sizeof(int) + (size_t)nsubj * ncell;
        if (need > c->small_bytes) {
            cuda_free_raw(c, c->small, c->small_bytes);
            c->small = NULL; c->small_bytes = 0;
            c->small = (int *)cuda_alloc_raw(c, need);
            if (!c->small) return -1;
            c->small_bytes = need;
        }
        if (hcls) {
            CUDA_CHECK(c, cudaMemcpyAsync(c->small, cls, (size_t)nsubj * sizeof(int),
                                          cudaMemcpyHostToDevice, c->stream));
            dcls = c->small;
        }
        if (hmask) {
            uint8_t *dst = (uint8_t *)(c->small + OBJ_MAX_SUBJ);
            CUDA_CHECK(c, cudaMemcpyAsync(dst, masks, (size_t)nsubj * ncell, cudaMemcpyHostToDevice,
                                          c->stream));
            dmasks = dst;
        }
    }
    size_t n = (size_t)ncell * ncls;
    unsigned g = red_grid(c, n);
    k_sum<<<g, RED_THREADS, 0, c->stream>>>(logits, n, c->red);
    LAUNCH_CHECK(c, "k_sum");
    k_objective_reduce<<<1, RED_THREADS, 0, c->stream>>>(logits, ncell, ncls, nsubj, dcls, dmasks,
                                                         mean_weight, c->red, (int)g,
                                                         c->obj_scratch, loss_acc);
    LAUNCH_CHECK(c, "k_objective_reduce");
    k_objective_grad<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(ncell, ncls, nsubj, dcls, dmasks,
                                                                   mean_weight, c->obj_scratch, dlogits);
    LAUNCH_CHECK(c, "k_objective_grad");
    cuda_wrote(c, dlogits, n * sizeof(float));
    cuda_wrote(c, loss_acc, sizeof(float));
    return 0;
}

/* ---- patch prior ---------------------------------------------------------------------- */

__global__ void k_prior_act(float *z, int M, int K, const float *__restrict__ mu, int kind, float nu,
                            float gscale, float *__restrict__ dz, double *red) {
    size_t n = (size_t)M * K;
    double acc = 0;
    GS_LOOP(e, n) {
        int k = (int)(e % (size_t)K);
        float zr = z[e] - mu[k];
        z[e] = zr;
        if (kind == DREAM_PRIOR_STUDENT) {
            float q = zr * zr;
            acc += (double)log1pf(q / nu);
            dz[e] = gscale * 2.f * zr / (nu + q);
        } else if (k < K - 1) {
            acc += (double)zr * zr;
            dz[e] = gscale * 2.f * zr;
        } else {
            dz[e] = 0.f;
        }
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) red[blockIdx.x] = acc;
}

__global__ void k_red_finish(const double *red, int nred, double factor, float *loss_acc) {
    double s = 0;
    for (int i = threadIdx.x; i < nred; i += blockDim.x) s += red[i];
    s = block_sum(s);
    if (threadIdx.x == 0) loss_acc[0] += (float)(s * factor);
}

int cuda_prior_act(void *ctx, float *z, int M, int K, const float *mu, int kind, float nu,
                   float scale, float *dz, float *loss_acc) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (M < 0 || K <= 0 || (kind != DREAM_PRIOR_STUDENT && kind != DREAM_PRIOR_GAUSS) ||
        (kind == DREAM_PRIOR_STUDENT && !(nu > 0.f)) || (kind == DREAM_PRIOR_GAUSS && K < 2)) {
        snprintf(c->err, sizeof c->err, "prior_act: bad arguments M=%d K=%d kind=%d nu=%g", M, K,
                 kind, (double)nu);
        return -1;
    }
    size_t n = (size_t)M * K;
    if (!n) return 0;
    /* count of the mean: M*K (student) or M*(K-1) (gauss) */
    double cnt = kind == DREAM_PRIOR_STUDENT ? (double)M * K : (double)M * (K - 1);
    float gscale = (float)((double)scale / cnt);
    unsigned g = red_grid(c, n);
    k_prior_act<<<g, RED_THREADS, 0, c->stream>>>(z, M, K, mu, kind, nu, gscale, dz, c->red);
    LAUNCH_CHECK(c, "k_prior_act");
    k_red_finish<<<1, RED_THREADS, 0, c->stream>>>(c->red, (int)g, (double)scale / cnt, loss_acc);
    LAUNCH_CHECK(c, "k_red_finish");
    cuda_wrote(c, z, n * sizeof(float));
    cuda_wrote(c, dz, n * sizeof(float));
    cuda_wrote(c, loss_acc, sizeof(float));
    return 0;
}
