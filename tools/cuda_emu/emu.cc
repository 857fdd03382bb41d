/*
 * emu.cc — host implementation of the emulated CUDA runtime / cuBLAS subset
 * (see cuda_runtime.h here). Blocks run one after another; within a block the
 * threads run sequentially, or as real threads with a barrier for kernels that
 * use __syncthreads (block reductions). Devices, per-thread current device and last
 * error, sticky errors and fault injection: see cuda_runtime.h here.
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
#include <string>
#include <thread>
#include <vector>

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
static std::barrier<> *g_bar;
struct emu_alloc { size_t n; int dev; };
static std::map<const char *, emu_alloc> g_allocs;   /* base -> bytes, device */
static std::mutex g_mu;

/* ---- devices, per-thread state, sticky errors, injection ---- */
enum { EMU_MAX_DEV = 8 };
static int ndev() {
    static int n = [] {
        const char *e = std::getenv("EMU_DEVICES");
        int v = e ? std::atoi(e) : 2;
        return v < 1 ? 1 : v > EMU_MAX_DEV ? EMU_MAX_DEV : v;
    }();
    return n;
}
static thread_local int t_dev = 0;                   /* the runtime's current device is per thread */
static thread_local cudaError_t t_last = cudaSuccess;
static std::atomic<int> g_sticky[EMU_MAX_DEV];
struct emu_stream { int dev; };
struct emu_cublas { int dev; };
static struct { std::string call; long arg; int code; bool armed; } g_inj;

static bool sticky_code(int e) { return e == 700 || e == 702 || (e >= 714 && e <= 719) || e == 710; }

extern "C" void emu_inject(const char *call, long arg, int code) {
    std::lock_guard<std::mutex> l(g_mu);
    if (!call || std::string(call) == "clear") {
        g_inj.armed = false;
        for (auto &x : g_sticky) x = 0;
        t_last = cudaSuccess;                       /* the caller's thread */
        return;
    }
    g_inj.call = call; g_inj.arg = arg; g_inj.code = code; g_inj.armed = true;
}

/* every API call starts here: the device's sticky error, then an injected failure */
static cudaError_t api(const char *name, long size = -1, const char *alt = nullptr) {
    if (int st = g_sticky[t_dev].load()) return t_last = st;
    std::lock_guard<std::mutex> l(g_mu);
    if (!g_inj.armed || (g_inj.call != name && !(alt && g_inj.call == alt))) return cudaSuccess;
    if (g_inj.call == "cudaMalloc" ? size != g_inj.arg : --g_inj.arg > 0) return cudaSuccess;
    g_inj.armed = false;
    if (sticky_code(g_inj.code)) g_sticky[t_dev] = g_inj.code;
    std::fprintf(stderr, "emu: injected error %d at %s%s%s (device %d)\n", g_inj.code, name, alt ? " " : "",
                 alt ? alt : "", t_dev);
    return t_last = g_inj.code;
}
static cudaError_t fail(cudaError_t e) { return t_last = e; }
static int stream_dev(cudaStream_t s) { return s ? s->dev : t_dev; }

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

void emu_run_blocks(unsigned g, unsigned b, cudaStream_t s, const char *name, bool sync, void (*body)(void *),
                    void *arg) {
    if (api(name, -1, "launch")) return;
    /* a kernel goes to the stream's device, which must be the current one */
    if (stream_dev(s) != t_dev) {
        std::fprintf(stderr, "emu: launch %s: stream of device %d while device %d is current\n", name, stream_dev(s), t_dev);
        fail(cudaErrorInvalidResourceHandle);
        return;
    }
    if (g == 0 || b == 0 || b > 1024) { fail(cudaErrorInvalidValue); return; }
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
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "invalid argument";
    }
}
cudaError_t cudaGetLastError() {
    if (int st = g_sticky[t_dev].load()) return st;    /* sticky: cannot be cleared */
    cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
}
cudaError_t cudaGetDeviceCount(int *n) { *n = ndev(); return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev) {
    if (dev < 0 || dev >= ndev()) return fail(cudaErrorInvalidDevice);
    std::snprintf(p->name, sizeof p->name, "CPU emulation of a CUDA device");
    p->totalGlobalMem = (size_t)8 << 30;
    p->major = 9; p->minor = 0;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr, int dev) {
    if (dev < 0 || dev >= ndev()) return fail(cudaErrorInvalidDevice);
    *v = 1;
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *v) { *v = 13000; return cudaSuccess; }
cudaError_t cudaSetDevice(int dev) {
    if (dev < 0 || dev >= ndev()) return fail(cudaErrorInvalidDevice);
    t_dev = dev;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *dev) { *dev = t_dev; return cudaSuccess; }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    if (cudaError_t e = api("cudaStreamCreateWithFlags")) return e;
    *s = new emu_stream{t_dev};
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) { delete s; return cudaSuccess; }
static cudaError_t check_stream(cudaStream_t s, const char *what) {
    if (stream_dev(s) == t_dev) return cudaSuccess;
    std::fprintf(stderr, "emu: %s: stream of device %d while device %d is current\n", what, stream_dev(s), t_dev);
    return fail(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (cudaError_t e = api("cudaStreamSynchronize")) return e;
    return check_stream(s, "cudaStreamSynchronize");
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
    if (int st = g_sticky[stream_dev(s)].load()) return st;
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **p, size_t n) {
    *p = nullptr;
    if (cudaError_t e = api("cudaMalloc", (long)n)) return e;
    if (n > ((size_t)8 << 30)) return fail(cudaErrorMemoryAllocation);
    *p = std::malloc(n);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    std::memset(*p, 0xA5, n);                       /* not zeroed: alloc must memset */
    std::lock_guard<std::mutex> l(g_mu);
    g_allocs[(const char *)*p] = {n, t_dev};        /* on the current device */
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    std::lock_guard<std::mutex> l(g_mu);
    if (!g_allocs.erase((const char *)p)) return fail(cudaErrorInvalidValue);
    std::free(p);                                   /* a dead context's memory goes too (process exit) */
    if (int st = g_sticky[t_dev].load()) return t_last = st;
    return cudaSuccess;
}
/* device of the allocation holding [p, p+n), or -1 */
static int dev_of(const void *p, size_t n) {
    std::lock_guard<std::mutex> l(g_mu);
    auto it = g_allocs.upper_bound((const char *)p);
    if (it == g_allocs.begin()) return -1;
    --it;
    return (const char *)p >= it->first && (const char *)p + n <= it->first + it->second.n ? it->second.dev : -1;
}
static bool is_dev(const void *p, size_t n) { return dev_of(p, n) >= 0; }
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) {
    if (cudaError_t e = api("cudaMemsetAsync")) return e;
    if (cudaError_t e = check_stream(s, "cudaMemsetAsync")) return e;
    if (dev_of(p, n) != stream_dev(s)) {
        std::fprintf(stderr, "emu: cudaMemsetAsync: memory of device %d, stream of device %d\n", dev_of(p, n), stream_dev(s));
        return fail(cudaErrorInvalidValue);
    }
    std::memset(p, v, n);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s) {
    if (cudaError_t e = api("cudaMemcpyAsync")) return e;
    if (cudaError_t e = check_stream(s, "cudaMemcpyAsync")) return e;
    bool sd = k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice;
    bool dd = k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice;
    if (sd != is_dev(src, n) || dd != is_dev(dst, n)) {
        std::fprintf(stderr, "emu: cudaMemcpyAsync kind %d does not match the pointers\n", (int)k);
        return fail(cudaErrorInvalidValue);
    }
    if ((sd && dev_of(src, n) != stream_dev(s)) || (dd && dev_of(dst, n) != stream_dev(s))) {
        std::fprintf(stderr, "emu: cudaMemcpyAsync: memory of another device than the stream's\n");
        return fail(cudaErrorInvalidValue);
    }
    std::memmove(dst, src, n);
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p) {
    std::memset(a, 0, sizeof *a);
    int d = dev_of(p, 1);
    a->type = d >= 0 ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered;
    a->device = d;
    return cudaSuccess;
}

/* ---- cuBLAS ---- */
cublasStatus_t cublasCreate(cublasHandle_t *h) {
    if (api("cublasCreate")) return CUBLAS_STATUS_NOT_INITIALIZED;
    *h = new emu_cublas{t_dev};                      /* bound to the current device */
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) { delete h; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    return stream_dev(s) == h->dev ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t, void *, size_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : s == CUBLAS_STATUS_EXECUTION_FAILED
           ? "CUBLAS_STATUS_EXECUTION_FAILED" : s == CUBLAS_STATUS_NOT_INITIALIZED ? "CUBLAS_STATUS_NOT_INITIALIZED"
           : "CUBLAS_STATUS_INVALID_VALUE";
}

/* TF32 operands: 10 explicit mantissa bits. Tensor cores may simply drop the low 13 bits of an
 * fp32 operand (truncation toward zero, the worst case: biased), cuBLAS may round to nearest;
 * the emulation truncates unless EMU_TF32=round, so the tests' tf32 limits hold for both. */
static bool tf32_round() {
    static bool r = [] { const char *e = std::getenv("EMU_TF32"); return e && std::string(e) == "round"; }();
    return r;
}
static double ld_el(const void *p, cudaDataType t, size_t i, bool tf32) {
    if (t == CUDA_R_16BF) return emu_bf16_to_float(((const __nv_bfloat16 *)p)[i]);
    float f = ((const float *)p)[i];
    if (tf32) {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        if ((u & 0x7f800000u) != 0x7f800000u) {     /* Inf / NaN stay */
            if (tf32_round()) u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
            else u &= ~0x1fffu;
        }
        std::memcpy(&f, &u, 4);
    }
    return f;
}
/* column-major: C(m,n) = alpha op(A)(m,k) op(B)(k,n) + beta C, checked like cuBLAS */
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                            cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                            cublasComputeType_t comp, cublasGemmAlgo_t) {
    if (api("cublasGemmEx")) return CUBLAS_STATUS_EXECUTION_FAILED;
    if (h->dev != t_dev) {
        std::fprintf(stderr, "emu: cublasGemmEx: handle of device %d while device %d is current\n", h->dev, t_dev);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    const bool tf32 = comp == CUBLAS_COMPUTE_32F_FAST_TF32 && at == CUDA_R_32F;
    if (m < 0 || n < 0 || k < 0 || ct != CUDA_R_32F || at != bt) return CUBLAS_STATUS_INVALID_VALUE;
    int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
    if (lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    size_t es = at == CUDA_R_16BF ? 2 : 4;
    int acols = ta == CUBLAS_OP_N ? k : m, bcols = tb == CUBLAS_OP_N ? n : k;
    if (k > 0 && (dev_of(A, ((size_t)(acols - 1) * lda + arows) * es) != h->dev ||
                  dev_of(B, ((size_t)(bcols - 1) * ldb + brows) * es) != h->dev)) {
        std::fprintf(stderr, "emu: cublasGemmEx operand outside device %d memory\n", h->dev);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    float al = *(const float *)alpha, be = *(const float *)beta;
    float *Cf = (float *)C;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int l = 0; l < k; l++) {
                double a = ta == CUBLAS_OP_N ? ld_el(A, at, i + (size_t)l * lda, tf32) : ld_el(A, at, l + (size_t)i * lda, tf32);
                double b = tb == CUBLAS_OP_N ? ld_el(B, bt, l + (size_t)j * ldb, tf32) : ld_el(B, bt, j + (size_t)l * ldb, tf32);
                s += a * b;
            }
            float *c = &Cf[i + (size_t)j * ldc];
            *c = (float)(al * s + (be == 0.f ? 0.0 : (double)be * *c));
        }
    return CUBLAS_STATUS_SUCCESS;
}
