/*
 * emu.cc — host implementation of the emulated CUDA runtime / cuBLAS subset
 * (see cuda_runtime.h here). Blocks run one after another; within a block the
 * threads run sequentially, or as real threads with a barrier for kernels that
 * use __syncthreads (block reductions).
 */
#include "cuda_runtime.h"
#include "cublas_v2.h"
#include "cuda_bf16.h"
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
static std::barrier<> *g_bar;
static std::map<const char *, size_t> g_allocs;       /* base -> bytes */
static std::mutex g_mu;
static cudaError_t g_last = cudaSuccess;

void __syncthreads() { if (g_bar) g_bar->arrive_and_wait(); }

double atomicAdd(double *p, double v) {
    std::atomic_ref<double> a(*p);
    double old = a.load();
    while (!a.compare_exchange_weak(old, old + v)) {}
    return old;
}

float atomicAdd(float *p, float v) {
    std::atomic_ref<float> a(*p);
    float old = a.load();
    while (!a.compare_exchange_weak(old, old + v)) {}
    return old;
}

void emu_run_blocks(unsigned g, unsigned b, bool sync, void (*body)(void *), void *arg) {
    if (g == 0 || b == 0 || b > 1024) { g_last = cudaErrorInvalidValue; return; }
    gridDim = {g, 1, 1};
    blockDim = {b, 1, 1};
    if (!sync) {
        for (unsigned bi = 0; bi < g; bi++) {
            blockIdx = {bi, 0, 0};
            for (unsigned t = 0; t < b; t++) { threadIdx = {t, 0, 0}; body(arg); }
        }
        return;
    }
    /* one OS thread per block thread, reused for every block; a barrier between blocks keeps
     * the (static) __shared__ arrays private to one block at a time */
    std::barrier<> bar((std::ptrdiff_t)b);
    g_bar = &bar;
    std::vector<std::thread> th;
    for (unsigned t = 0; t < b; t++)
        th.emplace_back([=, &bar]() {
            threadIdx = {t, 0, 0};
            for (unsigned bi = 0; bi < g; bi++) {
                blockIdx = {bi, 0, 0};
                body(arg);
                bar.arrive_and_wait();
            }
        });
    for (auto &x : th) x.join();
    g_bar = nullptr;
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    default: return "invalid argument";
    }
}
cudaError_t cudaGetLastError() { cudaError_t e = g_last; g_last = cudaSuccess; return e; }
cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev) {
    if (dev != 0) return cudaErrorInvalidValue;
    std::snprintf(p->name, sizeof p->name, "CPU emulation of a CUDA device");
    p->totalGlobalMem = (size_t)8 << 30;
    p->major = 9; p->minor = 0;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr, int) { *v = 1; return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int *v) { *v = 13000; return cudaSuccess; }
cudaError_t cudaSetDevice(int dev) { return dev == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { *s = (cudaStream_t)0x1; return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaMalloc(void **p, size_t n) {
    if (n > ((size_t)8 << 30)) { *p = nullptr; return cudaErrorMemoryAllocation; }
    *p = std::malloc(n);
    if (!*p) return cudaErrorMemoryAllocation;
    std::memset(*p, 0xA5, n);                       /* not zeroed: alloc must memset */
    std::lock_guard<std::mutex> l(g_mu);
    g_allocs[(const char *)*p] = n;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    std::lock_guard<std::mutex> l(g_mu);
    if (!g_allocs.erase((const char *)p)) return cudaErrorInvalidValue;
    std::free(p);
    return cudaSuccess;
}
static bool is_dev(const void *p, size_t n) {
    std::lock_guard<std::mutex> l(g_mu);
    auto it = g_allocs.upper_bound((const char *)p);
    if (it == g_allocs.begin()) return false;
    --it;
    return (const char *)p >= it->first && (const char *)p + n <= it->first + it->second;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) {
    if (!is_dev(p, n)) return cudaErrorInvalidValue;
    std::memset(p, v, n);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t) {
    bool sd = k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice;
    bool dd = k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice;
    if (sd != is_dev(src, n) || dd != is_dev(dst, n)) {
        std::fprintf(stderr, "emu: cudaMemcpyAsync kind %d does not match the pointers\n", (int)k);
        return cudaErrorInvalidValue;
    }
    std::memmove(dst, src, n);
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p) {
    std::memset(a, 0, sizeof *a);
    a->type = is_dev(p, 1) ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered;
    return cudaSuccess;
}

/* ---- cuBLAS ---- */
cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = (cublasHandle_t)0x2; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t, void *, size_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s) { return s ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_SUCCESS"; }

static bool g_tf32;
static double ld_el(const void *p, cudaDataType t, size_t i) {
    if (t == CUDA_R_16BF) return emu_bf16_to_float(((const __nv_bfloat16 *)p)[i]);
    float f = ((const float *)p)[i];
    if (g_tf32) {                                   /* round to 10 mantissa bits (nearest even) */
        uint32_t u;
        std::memcpy(&u, &f, 4);
        u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
        std::memcpy(&f, &u, 4);
    }
    return f;
}
/* column-major: C(m,n) = alpha op(A)(m,k) op(B)(k,n) + beta C, checked like cuBLAS */
cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                            cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                            cublasComputeType_t comp, cublasGemmAlgo_t) {
    g_tf32 = comp == CUBLAS_COMPUTE_32F_FAST_TF32 && at == CUDA_R_32F;
    if (m < 0 || n < 0 || k < 0 || ct != CUDA_R_32F || at != bt) return CUBLAS_STATUS_INVALID_VALUE;
    int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
    if (lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    size_t es = at == CUDA_R_16BF ? 2 : 4;
    int acols = ta == CUBLAS_OP_N ? k : m, bcols = tb == CUBLAS_OP_N ? n : k;
    if (k > 0 && (!is_dev(A, ((size_t)(acols - 1) * lda + arows) * es) ||
                  !is_dev(B, ((size_t)(bcols - 1) * ldb + brows) * es))) {
        std::fprintf(stderr, "emu: cublasGemmEx operand outside device memory\n");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    float al = *(const float *)alpha, be = *(const float *)beta;
    float *Cf = (float *)C;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int l = 0; l < k; l++) {
                double a = ta == CUBLAS_OP_N ? ld_el(A, at, i + (size_t)l * lda) : ld_el(A, at, l + (size_t)i * lda);
                double b = tb == CUBLAS_OP_N ? ld_el(B, bt, l + (size_t)j * ldb) : ld_el(B, bt, j + (size_t)l * ldb);
                s += a * b;
            }
            float *c = &Cf[i + (size_t)j * ldc];
            *c = (float)(al * s + (be == 0.f ? 0.0 : (double)be * *c));
        }
    return CUBLAS_STATUS_SUCCESS;
}
