/*
 * cuda_gemm.cu — row-major gemm on column-major cuBLAS, in three precisions.
 *
 * A row-major (r, c) matrix with leading dimension ld is the column-major
 * (c, r) matrix with the same ld, so C = op(A) op(B) (row-major) is computed
 * as C^T = op(B)^T op(A)^T: cuBLAS gets the operands swapped, (N, M, K).
 *
 *   fp32  cublasGemmEx, CUBLAS_COMPUTE_32F (no tensor-core down-conversion)
 *   tf32  cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32 (fp32 in/out, tf32 products)
 *   bf16  operands converted to bf16 (round to nearest even), fp32 output and
 *         accumulation (CUBLAS_COMPUTE_32F).
 *
 * bf16 conversions are flat copies of fp32 spans, so every matrix view inside
 * a converted span is found at the same offset with the same ld. The engine's
 * shifted-tap convolutions (9 gemms over one padded activation, 9 weight
 * slices of one allocation) then convert each activation and weight once:
 *   - B with DREAM_GEMM_B_CONST: the whole allocation holding B is converted
 *     once and cached; upload/copy/zero/free over it drop the copy.
 *   - A: the last converted span (the whole allocation when it is at most
 *     twice the view's span) is kept as a mirror; any op that writes into it
 *     drops it (cuda_wrote), so a stale mirror is never read.
 */
#include "cuda_internal.h"
#include <stdio.h>
#include <string.h>

#define GS_LOOP(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ void k_to_bf16_flat(const float *__restrict__ src, __nv_bfloat16 *__restrict__ dst, size_t n) {
    GS_LOOP(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void k_scale(float *C, int M, int N, int ldc, float beta) {
    size_t n = (size_t)M * N;
    GS_LOOP(e, n) {
        size_t r = e / (size_t)N, cc = e % (size_t)N;
        C[r * (size_t)ldc + cc] *= beta;
    }
}

static int to_bf16(cuda_ctx_t *c, const float *src, size_t n, __nv_bfloat16 *dst) {
    if (!n) return 0;
    k_to_bf16_flat<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(src, dst, n);
    LAUNCH_CHECK(c, "k_to_bf16_flat");
    return 0;
}

void cuda_bf16_cache_invalidate(cuda_ctx_t *c, const void *p, size_t bytes) {
    cuda_wrote(c, p, bytes);
    const char *lo = (const char *)p, *hi = lo + bytes;
    for (int i = 0; i < c->ncache;) {
        cuda_bf16_entry_t *e = &c->cache[i];
        const char *elo = (const char *)e->src, *ehi = elo + e->n * sizeof(float);
        if (elo < hi && lo < ehi) {
            cuda_free_raw(c, e->dst, e->n * sizeof(__nv_bfloat16));
            c->cache[i] = c->cache[--c->ncache];
        } else {
            i++;
        }
    }
}

void cuda_bf16_cache_reserve(cuda_ctx_t *c) {
    if (c->ncache < CUDA_BF16_CACHE_MAX) return;
    cuda_free_raw(c, c->cache[0].dst, c->cache[0].n * sizeof(__nv_bfloat16));   /* the oldest */
    memmove(&c->cache[0], &c->cache[1], (CUDA_BF16_CACHE_MAX - 1) * sizeof c->cache[0]);
    c->ncache--;
}

void cuda_bf16_cache_clear(cuda_ctx_t *c) {
    for (int i = 0; i < c->ncache; i++)
        cuda_free_raw(c, c->cache[i].dst, c->cache[i].n * sizeof(__nv_bfloat16));
    c->ncache = 0;
}

/* The span to convert for a view [p, p + span): its whole allocation if that is
 * known and (for A) not much larger, else the view's own span. */
static void region_of(cuda_ctx_t *c, const float *p, size_t span, int whole, const float **rs,
                      size_t *rn) {
    const char *base;
    size_t bytes;
    *rs = p;
    *rn = span;
    if (cuda_alloc_find(c, p, &base, &bytes) != 0) return;
    size_t nf = bytes / sizeof(float);
    const float *b = (const float *)base;
    if ((size_t)(p - b) + span > nf) return;        /* view runs past the allocation: keep span */
    if (whole || nf <= 2 * span) { *rs = b; *rn = nf; }
}

/* bf16 pointer for a constant view [p, p + span) (flat copies only) */
const __nv_bfloat16 *cuda_const_bf16(cuda_ctx_t *c, const float *p, size_t span) {
    for (int i = 0; i < c->ncache; i++) {
        cuda_bf16_entry_t *e = &c->cache[i];
        if (e->kind == CUDA_BF16_FLAT && p >= e->src && p + span <= e->src + e->n) return e->dst + (p - e->src);
    }
    cuda_bf16_cache_reserve(c);
    cuda_bf16_entry_t e;
    e.kind = CUDA_BF16_FLAT;
    region_of(c, p, span, 1, &e.src, &e.n);
    e.dst = (__nv_bfloat16 *)cuda_alloc_raw(c, e.n * sizeof(__nv_bfloat16));
    if (!e.dst) return NULL;
    if (to_bf16(c, e.src, e.n, e.dst) != 0) {
        cuda_free_raw(c, e.dst, e.n * sizeof(__nv_bfloat16));
        return NULL;
    }
    c->cache[c->ncache++] = e;
    return e.dst + (p - e.src);
}

/* bf16 pointer for a variable view [p, p + span), through the mirror */
static const __nv_bfloat16 *mirror_bf16(cuda_ctx_t *c, const float *p, size_t span) {
    cuda_bf16_entry_t *m = &c->mirror;
    if (m->src && p >= m->src && p + span <= m->src + m->n) return m->dst + (p - m->src);
    const float *rs;
    size_t rn;
    region_of(c, p, span, 0, &rs, &rn);
    if (rn > c->mirror_cap) {
        cuda_free_raw(c, m->dst, c->mirror_cap * sizeof(__nv_bfloat16));   /* waits for users */
        m->dst = NULL;
        m->src = NULL;
        c->mirror_cap = 0;
        size_t want = rn + rn / 4;
        m->dst = (__nv_bfloat16 *)cuda_alloc_raw(c, want * sizeof(__nv_bfloat16));
        if (!m->dst) return NULL;
        c->mirror_cap = want;
    }
    if (to_bf16(c, rs, rn, m->dst) != 0) return NULL;
    m->src = rs;
    m->n = rn;
    return m->dst + (p - rs);
}

static int gemm_impl(cuda_ctx_t *c, int transA, int transB, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta,
                     float *C, int ldc, int flags) {
    if (M < 0 || N < 0 || K < 0) {
        snprintf(c->err, sizeof c->err, "gemm: negative size M=%d N=%d K=%d", M, N, K);
        return -1;
    }
    if (M == 0 || N == 0) return 0;
    /* stored shapes (row-major): A (arows, acols), B (brows, bcols) */
    int arows = transA ? K : M, acols = transA ? M : K;
    int brows = transB ? N : K, bcols = transB ? K : N;
    if (lda < (acols > 0 ? acols : 1) || ldb < (bcols > 0 ? bcols : 1) || ldc < N) {
        snprintf(c->err, sizeof c->err,
                 "gemm: leading dimension too small (M=%d N=%d K=%d tA=%d tB=%d lda=%d ldb=%d ldc=%d)",
                 M, N, K, transA, transB, lda, ldb, ldc);
        return -1;
    }
    if (K == 0) {                                   /* C = beta * C, as the CPU reference */
        k_scale<<<cuda_grid(c, (size_t)M * N, 256), 256, 0, c->stream>>>(C, M, N, ldc, beta);
        LAUNCH_CHECK(c, "k_scale");
        return 0;
    }
    cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;

    if (c->prec != DREAM_PREC_BF16) {
        cublasComputeType_t ct = c->prec == DREAM_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                            : CUBLAS_COMPUTE_32F;
        CUBLAS_CHECK(c, cublasGemmEx(c->cublas, opB, opA, N, M, K, &alpha, B, CUDA_R_32F, ldb, A,
                                     CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc, ct,
                                     CUBLAS_GEMM_DEFAULT));
        return 0;
    }

    /* bf16 operands, fp32 accumulate and output */
    size_t aspan = (size_t)(arows - 1) * lda + acols, bspan = (size_t)(brows - 1) * ldb + bcols;
    const __nv_bfloat16 *Bh;
    if (flags & DREAM_GEMM_B_CONST) {
        Bh = cuda_const_bf16(c, B, bspan);
    } else {
        if (bspan > c->scratch_b_n) {
            cuda_free_raw(c, c->scratch_b, c->scratch_b_n * sizeof(__nv_bfloat16));
            c->scratch_b = NULL;
            c->scratch_b_n = 0;
            c->scratch_b = (__nv_bfloat16 *)cuda_alloc_raw(c, (bspan + bspan / 4) * sizeof(__nv_bfloat16));
            if (!c->scratch_b) return -1;
            c->scratch_b_n = bspan + bspan / 4;
        }
        if (to_bf16(c, B, bspan, c->scratch_b) != 0) return -1;
        Bh = c->scratch_b;
    }
    if (!Bh) return -1;
    const __nv_bfloat16 *Ah = mirror_bf16(c, A, aspan);  /* after B: B's conversion cannot drop it */
    if (!Ah) return -1;
    CUBLAS_CHECK(c, cublasGemmEx(c->cublas, opB, opA, N, M, K, &alpha, Bh, CUDA_R_16BF, ldb, Ah,
                                 CUDA_R_16BF, lda, &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT));
    return 0;
}

int cuda_gemm(void *ctx, int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc, int flags) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    int rc = gemm_impl(c, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, flags);
    if (M > 0 && N > 0) cuda_wrote(c, C, ((size_t)(M - 1) * ldc + N) * sizeof(float));  /* after the read */
    return rc;
}
