/*
 * backend.h — the one seam between the dream engine and the hardware.
 *
 * Like ggml's backend_i: a small table of functions plus an opaque `void *ctx`.
 * The engine (worker/engine.c: VGG forward/backward, objective, prior) only ever calls these ops;
 * `cpu` (backend_cpu.c, OpenBLAS + threads, the reference) and `cuda`
 * (the worker/cuda/ sources, cuBLAS + kernels) implement them. All pointers passed to
 * ops are backend memory obtained from alloc(). All tensors are float32,
 * row-major, one image (no batch), channels last:
 *
 *   image            (H, W, 3)           pixels 0..255, RGB
 *   padded act.      (H+2, W+2, C)       interior at [1..H][1..W], border zero
 *   matrix           (rows, cols) with a leading dimension `ld` (floats/row)
 *
 * Every op returns 0 on success, -1 on failure (the backend logs/keeps the
 * reason, see last_error). Ops may run asynchronously; download() and sync()
 * wait for completion.
 */
#ifndef DREAM_BACKEND_H
#define DREAM_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#include "dlog.h"

enum { DREAM_GEMM_B_CONST = 1 };     /* gemm flag: B is a weight that never changes */
enum { DREAM_PRIOR_STUDENT = 0, DREAM_PRIOR_GAUSS = 1 };
/* pixel optimiser of the adam op: the 2015 reference's (default) or textbook Adam */
typedef enum { DREAM_OPTIM_SEED = 0, DREAM_OPTIM_ADAM = 1 } dream_optim_t;
typedef enum { DREAM_PREC_FP32 = 0, DREAM_PREC_TF32 = 1, DREAM_PREC_BF16 = 2 } dream_prec_t;

typedef struct dream_backend_i {
    void  (*destroy)(void *ctx);
    const char *(*last_error)(void *ctx);

    /* memory: alloc returns zeroed memory or NULL */
    void *(*alloc)(void *ctx, size_t bytes);
    void  (*free)(void *ctx, void *p);
    int   (*upload)(void *ctx, void *dst, const void *host_src, size_t bytes);
    int   (*download)(void *ctx, void *host_dst, const void *src, size_t bytes);
    int   (*zero)(void *ctx, void *p, size_t bytes);
    int   (*copy)(void *ctx, void *dst, const void *src, size_t bytes);
    int   (*sync)(void *ctx);

    /* C(M,N) = alpha * op(A) * op(B) + beta * C, row-major.
     * op(A) is (M,K): A is (M,K) with lda if !transA, else (K,M).
     * op(B) is (K,N): B is (K,N) with ldb if !transB, else (N,K). */
    int (*gemm)(void *ctx, int transA, int transB, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc, int flags);

    /* im2col for a k x k window over a channels-last input.
     * Output row r (0 <= r < M) is position (i, j) = (r / ow, r % ow); it reads
     * x[(i+kh)*row_stride + (j+kw)*C + c] into col[r*(k*k*C) + (kh*k+kw)*C + c].
     * col2im_add is its adjoint: dx[...] += col[...]. */
    int (*im2col)(void *ctx, const float *x, int row_stride, int C, int k, int M, int ow, float *col);
    int (*col2im_add)(void *ctx, const float *col, int row_stride, int C, int k, int M, int ow, float *dx);

    /* y[r*ld + c] = act(y[r*ld + c] + b[c]) for r < rows, c < cols; act = relu if relu. */
    int (*bias_act)(void *ctx, float *y, int rows, int cols, int ld, const float *b, int relu);
    /* zero the 1-pixel border of a padded (H+2, W+2, C) tensor */
    int (*zero_border)(void *ctx, float *x, int H, int W, int C);
    /* dy[i] = y[i] > 0 ? dy[i] : 0, for i < n */
    int (*relu_bwd)(void *ctx, float *dy, const float *y, size_t n);

    /* 2x2/2 max-pool, floor mode. x padded (H+2,W+2,C) -> y padded (H/2+2,W/2+2,C)
     * (y's border is written as zero). idx (H/2 * W/2 * C) records the winner 0..3. */
    int (*maxpool2_fwd)(void *ctx, const float *x, int H, int W, int C, float *y, uint8_t *idx);
    /* dx padded (H+2,W+2,C) is overwritten: zero everywhere but the routed maxima. */
    int (*maxpool2_bwd)(void *ctx, const float *dy, const uint8_t *idx, int H, int W, int C, float *dx);

    /* network input: xp (padded H+2,W+2,3) interior = x[.., perm[c]] * scale[c] + shift[c];
     * x is the (H, W, 3) pixel image. The adjoint accumulates dx[.., perm[c]] += dxp * scale[c]. */
    int (*input_fwd)(void *ctx, const float *x, int H, int W, const float scale[3],
                     const float shift[3], const int perm[3], float *xp);
    int (*input_bwd_add)(void *ctx, const float *dxp, int H, int W, const float scale[3],
                         const int perm[3], float *dx);

    /* p x p mean pool of the (H, W, C) image x, cropped to a multiple of p:
     * d is (H/p, W/p, C). The adjoint accumulates dx += dd / p^2 over each block. */
    int (*meanpool_fwd)(void *ctx, const float *x, int H, int W, int C, int p, float *d);
    int (*meanpool_bwd_add)(void *ctx, const float *dd, int H, int W, int C, int p, float *dx);

    /* Score-grid objective. logits (ncell, ncls) compact.
     *   loss = - sum_s mean_{cell in mask_s} logits[cell, cls[s]] + mean_weight * mean(logits)
     * masks: nsubj x ncell bytes (1 = in region; each mask non-empty).
     * dlogits is overwritten with dloss/dlogits; loss_acc[0] += loss. */
    int (*objective)(void *ctx, const float *logits, int ncell, int ncls, int nsubj,
                     const int *cls, const uint8_t *masks, float mean_weight,
                     float *dlogits, float *loss_acc);

    /* Patch prior on filter responses zr (M, K) (already minus the offset mu, i.e. z - mean):
     *   student: loss = scale * mean_{m,k} log(1 + zr^2 / nu),   dz = scale * 2 zr / (nu + zr^2) / (M K)
     *   gauss:   loss = scale * mean_{m,k<K-1} zr^2,              dz = scale * 2 zr / (M (K-1)), 0 for k = K-1
     * zr is computed in place as z - mu[k]; dz is overwritten; loss_acc[0] += loss. */
    int (*prior_act)(void *ctx, float *z, int M, int K, const float *mu, int kind, float nu,
                     float scale, float *dz, float *loss_acc);

    /* One optimiser step on the pixels, then clip to [lo, hi]; t is the 1-based step
     * (the caller resets t to 1 and m, v to 0 at every keyframe). kind:
     *   DREAM_OPTIM_SEED (the 2015 reference's update, models/default.py build_updates; betas
     *   weight the NEW gradient):
     *     m = b1 g + (1 - b1) m;   v = b2 g^2 + (1 - b2) v
     *     x -= lr * (m / (1 - (1 - b1)^t)) / (sqrt(v / (1 - (1 - b2)^t)) + eps)
     *   DREAM_OPTIM_ADAM (textbook Adam, Kingma & Ba's "efficient" form, as Lasagne):
     *     m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
     *     x -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
     * Any other kind fails. */
    int (*adam)(void *ctx, int kind, float *x, const float *g, float *m, float *v, size_t n, float lr,
                float b1, float b2, float eps, int t, float lo, float hi);
    /* dst = src rolled by (dy, dx) pixels with wrap-around; (H, W, C) tensors. */
    int (*roll)(void *ctx, const float *src, float *dst, int H, int W, int C, int dy, int dx);

    /* Fused 3x3 / pad-1 convolution over padded NHWC buffers. w is (9, cin, cout) with
     * tap t = kh*3 + kw, b is (cout).
     *   fwd: y (H+2, W+2, cout) = act(conv(x) + b) inside, zero border; x (H+2, W+2, cin)
     *        has a zero border.
     *   bwd: dx (H+2, W+2, cin) is overwritten with the input gradient of the conv for
     *        dy (H+2, W+2, cout, zero border), times (mask > 0) elementwise when mask
     *        (H+2, W+2, cin) is given (the ReLU of the layer below, fused); border zero. */
    int (*conv3x3_fwd)(void *ctx, const float *x, int H, int W, int cin, int cout, const float *w,
                       const float *b, int relu, float *y);
    int (*conv3x3_bwd)(void *ctx, const float *dy, int H, int W, int cin, int cout, const float *w,
                       const float *mask, float *dx);

    /* A tile's warp from a window of the canvas (tile-resident jobs, docs/farm.md): out
     * (th, tw, 3) = the rect (tx, ty, tw, th) of dream_warp(canvas, zoom, angle_deg) (bicubic
     * Keys, or bilinear when bicubic = 0) sampled from win ((sh, sw, 3) uint16 = value * 256,
     * the job's 8.8 window at (sx, sy) of the W x H canvas), taps clamped to the canvas. The
     * window must hold every tap the rect reads (dream_warp_source_rect), else -1.
     * cpu: dream_warp_window itself (the reference); cuda: one thread per pixel, the same
     * formulas (a GPU may contract a*b+c into an FMA: close, not bit-equal). */
    int (*warp_window)(void *ctx, const uint16_t *win, int sx, int sy, int sw, int sh, int W, int H, double zoom,
                       double angle_deg, int bicubic, int tx, int ty, int tw, int th, float *out);

    /* A tile-resident job's result as the worker sends and keeps it (docs/farm.md), made where
     * the image is: out (h * w * 3 uint16, device memory) = x (h, w, 3) as 8.8 (px88_q: clamped
     * to [0, 255], * 256 + 0.5, truncated; little-endian) in split order around the hole (hx, hy,
     * hw, hh in tile pixels; hw or hh 0: raster order; common/tilesplit.h). The worker then
     * downloads half the bytes of the floats and converts nothing. NULL: the node converts the
     * downloaded floats on the host. cpu: the same loop on the host (the reference). */
    int (*result88)(void *ctx, const float *x, int h, int w, int hx, int hy, int hw, int hh, uint16_t *out);

    /* 1 when the backend can never succeed again (CUDA: a sticky error such as a kernel
     * fault killed the context; only a new process can use the GPU). NULL = never. */
    int (*lost)(void *ctx);
} dream_backend_i;

typedef struct dream_backend {
    const dream_backend_i *iface;
    void *ctx;
    char name[16];          /* "cpu" | "cuda" */
    char device[128];       /* human readable device description */
    size_t mem_total;       /* bytes of device memory (0 if unknown / host) */
    dream_prec_t prec;
} dream_backend_t;

/* Creates "auto" | "cpu" | "cuda". auto = cuda when usable, else cpu (logged).
 * threads <= 0: all cores. device: CUDA device ordinal. prec: gemm precision
 * (cpu always computes fp32). Returns NULL with err on failure. */
dream_backend_t *dream_backend_new(const char *name, int device, int threads,
                                   dream_prec_t prec, dream_err_t *err);
void dream_backend_destroy(dream_backend_t **be);
/* iface->lost, or 0: a worker whose backend is lost leaves the farm and exits non-zero */
static inline int dream_backend_lost(const dream_backend_t *be) {
    return be && be->iface && be->iface->lost ? be->iface->lost(be->ctx) : 0;
}
int dream_prec_parse(const char *s, dream_prec_t *out);
const char *dream_prec_name(dream_prec_t p);
/* "seed" | "adam" (case-insensitive) -> 0, else -1; the name of a kind ("?" if unknown). */
int dream_optim_parse(const char *s, dream_optim_t *out);
const char *dream_optim_name(dream_optim_t o);

/* conv3x3_fwd / conv3x3_bwd as 9 shifted gemms through op's own gemm, bias_act, zero,
 * relu_bwd and zero_border (backend.c): the CPU reference op, and the CUDA backend's
 * cuBLAS algorithm. 0, or -1 (op's last_error says why). */
int dream_conv3x3_fwd_gemms(const dream_backend_i *op, void *ctx, const float *x, int H, int W, int cin,
                            int cout, const float *w, const float *b, int relu, float *y);
int dream_conv3x3_bwd_gemms(const dream_backend_i *op, void *ctx, const float *dy, int H, int W, int cin,
                            int cout, const float *w, const float *mask, float *dx);

/* backend implementations (constructors fill *be and return 0, or -1 with err) */
int dream_backend_cpu_init(dream_backend_t *be, int threads, dream_err_t *err);

/* CUDA backend: implemented in the worker/cuda/ sources (extern "C"), or in
 * worker/nocuda/ when the build has no nvcc. */
int dream_cuda_compiled(void);
/* Fills name/mem for device `device`; returns 0 if usable, -1 (with err) if not. */
int dream_cuda_probe(int device, char *name, size_t name_len, size_t *mem_total, dream_err_t *err);
int dream_backend_cuda_init(dream_backend_t *be, int device, dream_prec_t prec, dream_err_t *err);

#endif
