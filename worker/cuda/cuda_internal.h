/*
 * cuda_internal.h — the CUDA backend's context and the op entry points shared
 * between the worker/cuda sources (one op family per file):
 *   cuda_backend.cu  init, probe, memory ops, the iface table
 *   cuda_gemm.cu     cuBLAS gemm (fp32 / tf32 / bf16 operands + fp32 accumulate)
 *   cuda_conv.cu     im2col, col2im_add, bias_act, zero_border, relu_bwd
 *   cuda_pool.cu     maxpool2 fwd/bwd, meanpool fwd/bwd_add
 *   cuda_loss.cu     objective, prior_act, input_fwd/bwd_add
 *   cuda_adam.cu     pixel optimiser (seed | adam) + clip, roll
 *   cuda_conv3x3.cu  fused 3x3 conv fwd / input-gradient: tensor-core implicit gemm or
 *                    9 cuBLAS gemms, chosen per shape by timing
 * One stream per context; every op is enqueued on it (asynchronous);
 * download() and sync() synchronise. Every iface entry point binds the context's
 * device to the calling thread first (cuda_enter), so the ops may run in another
 * thread than the one that created the backend (the worker's compute thread).
 */
#ifndef DREAM_CUDA_INTERNAL_H
#define DREAM_CUDA_INTERNAL_H
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include "backend.h"
}
#include "cuda_check.h"

/* A flat bf16 copy of an fp32 span [src, src + n): any matrix view inside the
 * span is found at the same element offset in dst, with the same ld. */
typedef struct cuda_bf16_entry {
    const float *src;
    size_t n;                /* floats */
    __nv_bfloat16 *dst;
    int kind;                /* CUDA_BF16_FLAT, or CUDA_BF16_TAPS_T: (9, cout, cin) per-tap transpose */
} cuda_bf16_entry_t;
enum { CUDA_BF16_FLAT = 0, CUDA_BF16_TAPS_T = 1 };

/* 3x3 conv algorithm, chosen per shape by timing both on first use (cuda_conv3x3.cu) */
enum { CUDA_CONV_AUTO = 0, CUDA_CONV_IGEMM = 1, CUDA_CONV_GEMM = 2 };   /* conv_mode */
enum { CUDA_CONV_IG64 = 3, CUDA_CONV_IG128 = 4 };                       /* + GEMM: algorithms */
typedef struct cuda_conv_choice {
    int mclass, cin, cout, bwd;      /* mclass: output rows M in quarter octaves (see cuda_conv3x3.cu) */
    int algo;                /* CUDA_CONV_GEMM | CUDA_CONV_IG64 | CUDA_CONV_IG128 */
} cuda_conv_choice_t;
#define CUDA_CONV_TUNE_MAX 128

#define CUDA_BF16_CACHE_MAX 256
#define CUDA_RED_SLOTS 1024          /* per-block partial sums of reductions */

typedef struct cuda_ctx {
    int device;
    dream_prec_t prec;
    cudaStream_t stream;
    cublasHandle_t cublas;
    void *workspace;                  /* cuBLAS workspace */
    size_t workspace_bytes;
    double *red;                      /* (CUDA_RED_SLOTS) reduction partials */
    int *small;                       /* staging for host-side cls / masks (objective) */
    size_t small_bytes;
    float *obj_scratch;               /* objective: per-subject 1/count (DREAM_MAX_SUBJECTS=4, padded) */
    /* bf16 gemm operands: constant B spans are cached (invalidated by upload/copy/zero/free);
     * the last converted A span is a mirror, invalidated by any op that writes into it */
    cuda_bf16_entry_t cache[CUDA_BF16_CACHE_MAX];
    int ncache;
    cuda_bf16_entry_t mirror;         /* mirror.src == NULL: invalid */
    size_t mirror_cap;                /* elements allocated in mirror.dst */
    __nv_bfloat16 *scratch_b;         /* non-constant B */
    size_t scratch_b_n;
    /* 3x3 convs: DREAM_CUDA_CONV (auto|igemm|gemm) and the per-shape choices of auto */
    int conv_mode;
    cuda_conv_choice_t tune[CUDA_CONV_TUNE_MAX];
    int ntune;
    /* memory accounting (alloc/free through the iface + internal buffers) */
    size_t bytes_live, bytes_peak;
    int nsm;                          /* multiprocessors, for grid sizing */
    int lost;                         /* a sticky CUDA error: the context is dead, every op fails */
    char err[512];
} cuda_ctx_t;

/* grid size for n elements with `threads` per block, grid-stride loops cap it */
static inline unsigned cuda_grid(const cuda_ctx_t *c, size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    size_t cap = (size_t)(c->nsm > 0 ? c->nsm : 80) * 32;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (unsigned)b;
}

/* Every iface entry point runs between these (cuda_backend.cu): cuda_enter makes c->device
 * the calling thread's current device and refuses (-1) once the context is lost;
 * cuda_leave(c, rc) returns rc: on success it clears last_error, on failure it clears the
 * runtime's (non-sticky) last-error state and marks the context lost if the failure
 * left a sticky error behind. */
int cuda_enter(cuda_ctx_t *c);
int cuda_leave(cuda_ctx_t *c, int rc);
/* marks the context unusable (idempotent); err keeps the cause */
void cuda_mark_lost(cuda_ctx_t *c, cudaError_t e);

/* internal allocation with accounting (zeroed); NULL + ctx error on failure */
void *cuda_alloc_raw(cuda_ctx_t *c, size_t bytes);
void cuda_free_raw(cuda_ctx_t *c, void *p, size_t bytes);
/* the tracked allocation containing p: base and size; 0 if found */
int cuda_alloc_find(cuda_ctx_t *c, const void *p, const char **base, size_t *bytes);
/* every op calls this for each range it writes: drops the bf16 A mirror if it overlaps */
static inline void cuda_wrote(cuda_ctx_t *c, const void *p, size_t bytes) {
    if (!c->mirror.src) return;
    const char *lo = (const char *)p, *hi = lo + bytes;
    const char *mlo = (const char *)c->mirror.src, *mhi = mlo + c->mirror.n * sizeof(float);
    if (lo < mhi && mlo < hi) c->mirror.src = NULL;
}
/* drops cached bf16 copies whose source overlaps [p, p+bytes) (and the mirror) */
void cuda_bf16_cache_invalidate(cuda_ctx_t *c, const void *p, size_t bytes);
void cuda_bf16_cache_clear(cuda_ctx_t *c);
/* frees a slot for one more cached copy (evicts the oldest when the cache is full) */
void cuda_bf16_cache_reserve(cuda_ctx_t *c);
/* cached bf16 copy of a constant fp32 view [p, p + span) (its whole allocation is converted) */
const __nv_bfloat16 *cuda_const_bf16(cuda_ctx_t *c, const float *p, size_t span);

/* the backend's op table (cuda_backend.cu) */
extern const dream_backend_i cuda_iface;

/* ops (signatures as in dream_backend_i; ctx is a cuda_ctx_t) */
int cuda_gemm(void *ctx, int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc, int flags);
int cuda_im2col(void *ctx, const float *x, int row_stride, int C, int k, int M, int ow, float *col);
int cuda_col2im_add(void *ctx, const float *col, int row_stride, int C, int k, int M, int ow, float *dx);
int cuda_bias_act(void *ctx, float *y, int rows, int cols, int ld, const float *b, int relu);
int cuda_zero_border(void *ctx, float *x, int H, int W, int C);
int cuda_relu_bwd(void *ctx, float *dy, const float *y, size_t n);
int cuda_maxpool2_fwd(void *ctx, const float *x, int H, int W, int C, float *y, uint8_t *idx);
int cuda_maxpool2_bwd(void *ctx, const float *dy, const uint8_t *idx, int H, int W, int C, float *dx);
int cuda_input_fwd(void *ctx, const float *x, int H, int W, const float scale[3],
                   const float shift[3], const int perm[3], float *xp);
int cuda_input_bwd_add(void *ctx, const float *dxp, int H, int W, const float scale[3],
                       const int perm[3], float *dx);
int cuda_meanpool_fwd(void *ctx, const float *x, int H, int W, int C, int p, float *d);
int cuda_meanpool_bwd_add(void *ctx, const float *dd, int H, int W, int C, int p, float *dx);
int cuda_objective(void *ctx, const float *logits, int ncell, int ncls, int nsubj,
                   const int *cls, const uint8_t *masks, float mean_weight,
                   float *dlogits, float *loss_acc);
int cuda_prior_act(void *ctx, float *z, int M, int K, const float *mu, int kind, float nu,
                   float scale, float *dz, float *loss_acc);
int cuda_adam(void *ctx, int kind, float *x, const float *g, float *m, float *v, size_t n, float lr,
              float b1, float b2, float eps, int t, float lo, float hi);
int cuda_roll(void *ctx, const float *src, float *dst, int H, int W, int C, int dy, int dx);
int cuda_conv3x3_fwd(void *ctx, const float *x, int H, int W, int cin, int cout, const float *w,
                     const float *b, int relu, float *y);
int cuda_conv3x3_bwd(void *ctx, const float *dy, int H, int W, int cin, int cout, const float *w,
                     const float *mask, float *dx);
int cuda_warp_window(void *ctx, const uint16_t *win, int sx, int sy, int sw, int sh, int W, int H, double zoom,
                     double angle_deg, int bicubic, int tx, int ty, int tw, int th, float *out);
int cuda_result88(void *ctx, const float *x, int h, int w, int hx, int hy, int hw, int hh, uint16_t *out);

#endif
