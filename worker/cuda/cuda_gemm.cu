/*
 * cuda_gemm.cu — row-major gemm on column-major cuBLAS, in three precisions.
 *
 * A row-major (r, c) matrix with leading dimension ld is the column-major
 * (c, r) matrix with the same ld, so C = op(A) op(B) (row-major) is computed
 * as C^T = op(B)^T op(A)^T: cuBLAS gets the operands swapped, (N, M, K).
 *
 *   fp32  cublasGemmEx, CUBLAS_COMPUTE_32F (no tensor-core down-conversion)
 *   tf32  cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32 (fp32 in/out, tf32 products)
 *   bf16  operands converted to bf16 (round to nearest even) into scratch
 *         buffers, fp32 output and accumulation (CUBLAS_COMPUTE_32F). A
 *         DREAM_GEMM_B_CONST operand is converted once and cached, keyed by
 *         its pointer and shape; upload/copy/zero/free over it drop the copy.
 */
#include "cuda_internal.h"
#include <stdio.h>
#include <string.h>

/* dst (rows, ldd) bf16 = src (rows, cols, lds) fp32 */
__global__ void k_to_bf16(const float *__restrict__ src, int lds, __nv_bfloat16 *__restrict__ dst,
                          int ldd, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / (size_t)cols, c = i % (size_t)cols;
        dst[r * (size_t)ldd + c] = __float2bfloat16_rn(src[r * (size_t)lds + c]);
    }
}

static int ld16_of(int cols) { return (cols + 7) / 8 * 8; }     /* 16-byte aligned rows */

static int to_bf16(cuda_ctx_t *c, const float *src, int rows, int cols, int ld, __nv_bfloat16 *dst,
                   int ldd) {
    size_t n = (size_t)rows * cols;
    if (!n) return 0;
    k_to_bf16<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(src, ld, dst, ldd, rows, cols);
    LAUNCH_CHECK(c, "k_to_bf16");
    return 0;
}

/* grows a bf16 scratch buffer to at least n elements */
static int scratch_reserve(cuda_ctx_t *c, __nv_bfloat16 **buf, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    size_t want = n + n / 4;
    cuda_free_raw(c, *buf, *cap * sizeof(__nv_bfloat16));  /* cudaFree waits for prior users */
    *buf = NULL; *cap = 0;
    *buf = (__nv_bfloat16 *)cuda_alloc_raw(c, want * sizeof(__nv_bfloat16));
    if (!*buf) return -1;
    *cap = want;
    return 0;
}

void cuda_bf16_cache_invalidate(cuda_ctx_t *c, const void *p, size_t bytes) {
    const char *lo = (const char *)p, *hi = lo + bytes;
    for (int i = 0; i < c->ncache;) {
        cuda_bf16_entry_t *e = &c->cache[i];
        const char *elo = (const char *)e->src, *ehi = elo + e->src_bytes;
        if (elo < hi && lo < ehi) {
            cuda_free_raw(c, e->dst, e->bytes);
            c->cache[i] = c->cache[--c->ncache];
        } else {
            i++;
        }
    }
}

void cuda_bf16_cache_clear(cuda_ctx_t *c) {
    for (int i = 0; i < c->ncache; i++) cuda_free_raw(c, c->cache[i].dst, c->cache[i].bytes);
    c->ncache = 0;
}

/* bf16 copy of a constant operand, converted on first use */
static const __nv_bfloat16 *cache_get(cuda_ctx_t *c, const float *src, int rows, int cols, int ld,
                                      int *ldd) {
    for (int i = 0; i < c->ncache; i++) {
        cuda_bf16_entry_t *e = &c->cache[i];
        if (e->src == src && e->rows == rows && e->cols == cols && e->ld == ld) {
            *ldd = e->ldb16;
            return e->dst;
        }
    }
    if (c->ncache == CUDA_BF16_CACHE_MAX) {         /* evict the oldest */
        cuda_free_raw(c, c->cache[0].dst, c->cache[0].bytes);
        memmove(&c->cache[0], &c->cache[1], (CUDA_BF16_CACHE_MAX - 1) * sizeof c->cache[0]);
        c->ncache--;
    }
    cuda_bf16_entry_t e;
    e.src = src; e.rows = rows; e.cols = cols; e.ld = ld;
    e.src_bytes = ((size_t)(rows - 1) * ld + cols) * sizeof(float);
    e.ldb16 = ld16_of(cols);
    e.bytes = (size_t)rows * e.ldb16 * sizeof(__nv_bfloat16);
    e.dst = (__nv_bfloat16 *)cuda_alloc_raw(c, e.bytes);
    if (!e.dst) return NULL;
    if (to_bf16(c, src, rows, cols, ld, e.dst, e.ldb16) != 0) {
        cuda_free_raw(c, e.dst, e.bytes);
        return NULL;
    }
    c->cache[c->ncache++] = e;
    *ldd = e.ldb16;
    return e.dst;
}

int cuda_gemm(void *ctx, int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc, int flags) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
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
    cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;

    if (c->prec != DREAM_PREC_BF16 || K == 0) {
        cublasComputeType_t ct = c->prec == DREAM_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                            : CUBLAS_COMPUTE_32F;
        CUBLAS_CHECK(c, cublasGemmEx(c->cublas, opB, opA, N, M, K, &alpha, B, CUDA_R_32F, ldb, A,
                                     CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc, ct,
                                     CUBLAS_GEMM_DEFAULT));
        return 0;
    }

    /* bf16 operands, fp32 accumulate and output */
    int lda16 = ld16_of(acols), ldb16 = 0;
    if (scratch_reserve(c, &c->scratch_a, &c->scratch_a_n, (size_t)arows * lda16) != 0) return -1;
    if (to_bf16(c, A, arows, acols, lda, c->scratch_a, lda16) != 0) return -1;
    const __nv_bfloat16 *Bh;
    if (flags & DREAM_GEMM_B_CONST) {
        Bh = cache_get(c, B, brows, bcols, ldb, &ldb16);
        if (!Bh) return -1;
    } else {
        ldb16 = ld16_of(bcols);
        if (scratch_reserve(c, &c->scratch_b, &c->scratch_b_n, (size_t)brows * ldb16) != 0) return -1;
        if (to_bf16(c, B, brows, bcols, ldb, c->scratch_b, ldb16) != 0) return -1;
        Bh = c->scratch_b;
    }
    CUBLAS_CHECK(c, cublasGemmEx(c->cublas, opB, opA, N, M, K, &alpha, Bh, CUDA_R_16BF, ldb16,
                                 c->scratch_a, CUDA_R_16BF, lda16, &beta, C, CUDA_R_32F, ldc,
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}
