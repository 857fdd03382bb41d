/*
 * cuda_backend.cu — the CUDA backend's construction and memory ops:
 * dream_cuda_compiled / dream_cuda_probe / dream_backend_cuda_init, the
 * dream_backend_i table, alloc (zeroed, stream ordered), free, upload,
 * download, zero, copy, sync and last_error.
 *
 * One device, one non-blocking stream, one cuBLAS handle with a fixed
 * workspace, created once per backend. Ops are asynchronous on that stream;
 * download() and sync() wait for it. A context is not thread safe (one thread at a
 * time), but any thread may use it: every entry point binds the context's device to
 * the calling thread first (the current device is per thread in the CUDA runtime).
 * After a sticky error (kernel fault) the context is marked lost: every op fails at
 * once with the cause, and iface->lost() says 1.
 */
#include "cuda_internal.h"
#include "cuda_api.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CUDA_WORKSPACE_BYTES (32u << 20)   /* cuBLAS: 32 MiB recommended on Hopper */

int cuda_fail(struct cuda_ctx *c, const char *file, int line, const char *what, const char *why) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (c) {
        snprintf(c->err, sizeof c->err, "%s:%d: %s: %s", base, line, what, why);
        dlog_debug("cuda", "%s", c->err);
    } else {
        dlog_debug("cuda", "%s:%d: %s: %s", base, line, what, why);
    }
    return -1;
}

int cuda_is_sticky(cudaError_t e) {
    switch ((int)e) {                   /* numbers: not every toolkit names all of them */
    case 214:                           /* cudaErrorECCUncorrectable */
    case 226:                           /* cudaErrorContained */
    case 700:                           /* cudaErrorIllegalAddress */
    case 702:                           /* cudaErrorLaunchTimeout */
    case 709:                           /* cudaErrorContextIsDestroyed */
    case 710:                           /* cudaErrorAssert */
    case 714: case 715: case 716: case 717: case 718:   /* stack, instruction, misaligned, address space, pc */
    case 719:                           /* cudaErrorLaunchFailure */
    case 721:                           /* cudaErrorTensorMemoryLeak */
    case 810:                           /* cudaErrorMpsClientTerminated */
    case 911:                           /* cudaErrorExternalDevice */
        return 1;
    default:
        return 0;
    }
}

void cuda_mark_lost(cuda_ctx_t *c, cudaError_t e) {
    if (!c || c->lost) return;
    c->lost = 1;
    char cause[sizeof c->err];
    snprintf(cause, sizeof cause, "%s", c->err[0] ? c->err : cudaGetErrorString(e));
    snprintf(c->err, sizeof c->err, "CUDA context lost on device %d (sticky error %d, %.60s): %.300s; "
             "this process cannot use the GPU again and must be restarted", c->device, (int)e,
             cudaGetErrorString(e), cause);
    dlog_error("cuda", "%s", c->err);
}

int cuda_fail_rt(struct cuda_ctx *c, const char *file, int line, const char *what, cudaError_t e) {
    cuda_fail(c, file, line, what, cudaGetErrorString(e));
    if (c && cuda_is_sticky(e)) cuda_mark_lost(c, e);
    return -1;
}

int cuda_enter(cuda_ctx_t *c) {
    if (c->lost) return -1;                        /* err still says why */
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != c->device) {
        cudaError_t e = cudaSetDevice(c->device);
        if (e != cudaSuccess) return cuda_fail_rt(c, __FILE__, __LINE__, "cudaSetDevice", e);
    }
    return 0;
}

int cuda_leave(cuda_ctx_t *c, int rc) {
    if (rc == 0) {
        c->err[0] = 0;
        return 0;
    }
    if (!c->lost) {
        /* a failed call leaves its code as the thread's last error: clear it, so the next
         * launch check does not report it again; a sticky one cannot be cleared and shows
         * on the stream as well (cuBLAS failures report no runtime code at all) */
        cudaError_t e = cudaGetLastError(), q = cudaStreamQuery(c->stream);
        if (cuda_is_sticky(e)) cuda_mark_lost(c, e);
        else if (cuda_is_sticky(q)) cuda_mark_lost(c, q);
    }
    return rc;
}

void *cuda_alloc_raw(cuda_ctx_t *c, size_t bytes) {
    void *p = NULL;
    size_t n = bytes ? bytes : 1;
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        cudaGetLastError();                         /* clear the (non-sticky) error state */
        char what[96];
        snprintf(what, sizeof what, "cudaMalloc(%zu bytes)", n);
        cuda_fail_rt(c, __FILE__, __LINE__, what, e);
        return NULL;
    }
    e = cudaMemsetAsync(p, 0, n, c->stream);
    if (e != cudaSuccess) {
        cudaFree(p);
        cuda_fail_rt(c, __FILE__, __LINE__, "cudaMemsetAsync", e);
        return NULL;
    }
    c->bytes_live += n;
    if (c->bytes_live > c->bytes_peak) c->bytes_peak = c->bytes_live;
    return p;
}

void cuda_free_raw(cuda_ctx_t *c, void *p, size_t bytes) {
    if (!p) return;
    cudaFree(p);                                    /* implicitly synchronises the device */
    size_t n = bytes ? bytes : 1;
    c->bytes_live = c->bytes_live >= n ? c->bytes_live - n : 0;
}

/* Allocation sizes (for accounting and bf16-cache invalidation) are kept in a side
 * table keyed by pointer, stored next to the ctx (see cuda_ctx_full below). */
typedef struct { void *p; size_t n; } cuda_size_rec;
static int size_find(cuda_size_rec *t, int n, const void *p) {
    for (int i = 0; i < n; i++) if (t[i].p == p) return i;
    return -1;
}
typedef struct cuda_sizes { cuda_size_rec *rec; int n, cap; } cuda_sizes;

/* The side table of allocation sizes: a struct that wraps the ctx. */
typedef struct cuda_ctx_full {
    cuda_ctx_t ctx;                                 /* first member: (cuda_ctx_t *) casts work */
    cuda_sizes sizes;
} cuda_ctx_full;
static cuda_sizes *sizes_of(cuda_ctx_t *c) { return &((cuda_ctx_full *)c)->sizes; }

/* ---- iface: lifetime, errors, memory ------------------------------------------------ */

static void cb_destroy(void *ctx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (!c) return;
    cudaSetDevice(c->device);                       /* frees below belong to this device */
    if (c->stream) cudaStreamSynchronize(c->stream);
    cuda_sizes *s = sizes_of(c);
    for (int i = 0; i < s->n; i++) cuda_free_raw(c, s->rec[i].p, s->rec[i].n);  /* leaked by caller */
    free(s->rec);
    s->rec = NULL; s->n = s->cap = 0;
    cuda_bf16_cache_clear(c);
    cuda_free_raw(c, c->mirror.dst, c->mirror_cap * sizeof(__nv_bfloat16));
    cuda_free_raw(c, c->scratch_b, c->scratch_b_n * sizeof(__nv_bfloat16));
    cuda_free_raw(c, c->small, c->small_bytes);
    cuda_free_raw(c, c->obj_scratch, 8 * sizeof(float));
    cuda_free_raw(c, c->red, CUDA_RED_SLOTS * sizeof(double));
    cuda_free_raw(c, c->workspace, c->workspace_bytes);
    if (c->cublas) cublasDestroy(c->cublas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static const char *cb_last_error(void *ctx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    return c && c->err[0] ? c->err : "no error";
}

int cuda_alloc_find(cuda_ctx_t *c, const void *p, const char **base, size_t *bytes) {
    cuda_sizes *s = sizes_of(c);
    const char *q = (const char *)p;
    for (int i = s->n - 1; i >= 0; i--) {
        const char *b = (const char *)s->rec[i].p;
        if (q >= b && q < b + s->rec[i].n) { *base = b; *bytes = s->rec[i].n; return 0; }
    }
    return -1;
}

static void *cb_alloc(void *ctx, size_t bytes) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (cuda_enter(c) != 0) return NULL;
    cuda_sizes *s = sizes_of(c);
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        cuda_size_rec *r = (cuda_size_rec *)realloc(s->rec, (size_t)cap * sizeof *r);
        if (!r) { snprintf(c->err, sizeof c->err, "out of host memory"); return NULL; }
        s->rec = r; s->cap = cap;
    }
    void *p = cuda_alloc_raw(c, bytes);
    if (!p) { cuda_leave(c, -1); return NULL; }
    s->rec[s->n].p = p; s->rec[s->n].n = bytes;
    s->n++;
    cuda_leave(c, 0);
    return p;
}

static void cb_free(void *ctx, void *p) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (!p) return;
    if (!c->lost) cuda_enter(c);                    /* a lost context still drops its bookkeeping */
    cuda_sizes *s = sizes_of(c);
    int i = size_find(s->rec, s->n, p);
    size_t n = i >= 0 ? s->rec[i].n : 0;
    if (i >= 0) s->rec[i] = s->rec[--s->n];
    cuda_bf16_cache_invalidate(c, p, n ? n : 1);
    cuda_free_raw(c, p, n);
}

static int cb_upload(void *ctx, void *dst, const void *host_src, size_t bytes) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (!bytes) return 0;
    cuda_bf16_cache_invalidate(c, dst, bytes);
    CUDA_CHECK(c, cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, c->stream));
    return 0;
}

static int cb_download(void *ctx, void *host_dst, const void *src, size_t bytes) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (bytes) CUDA_CHECK(c, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return 0;
}

static int cb_zero(void *ctx, void *p, size_t bytes) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (!bytes) return 0;
    cuda_bf16_cache_invalidate(c, p, bytes);
    CUDA_CHECK(c, cudaMemsetAsync(p, 0, bytes, c->stream));
    return 0;
}

static int cb_copy(void *ctx, void *dst, const void *src, size_t bytes) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    if (!bytes) return 0;
    cuda_bf16_cache_invalidate(c, dst, bytes);
    CUDA_CHECK(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    return 0;
}

static int cb_sync(void *ctx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return 0;
}

static int cb_lost(void *ctx) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    return c && c->lost;
}

/* bound<f>::call: f between cuda_enter and cuda_leave (device bound to the calling
 * thread, refused once lost, last_error cleared on success) */
template <auto F> struct bound;
template <typename... A, int (*F)(void *, A...)> struct bound<F> {
    static int call(void *ctx, A... a) {
        cuda_ctx_t *c = (cuda_ctx_t *)ctx;
        if (cuda_enter(c) != 0) return -1;
        return cuda_leave(c, F(ctx, a...));
    }
};

extern const dream_backend_i cuda_iface = {
    cb_destroy, cb_last_error,
    cb_alloc, cb_free, bound<cb_upload>::call, bound<cb_download>::call, bound<cb_zero>::call,
    bound<cb_copy>::call, bound<cb_sync>::call,
    bound<cuda_gemm>::call,
    bound<cuda_im2col>::call, bound<cuda_col2im_add>::call,
    bound<cuda_bias_act>::call, bound<cuda_zero_border>::call, bound<cuda_relu_bwd>::call,
    bound<cuda_maxpool2_fwd>::call, bound<cuda_maxpool2_bwd>::call,
    bound<cuda_input_fwd>::call, bound<cuda_input_bwd_add>::call,
    bound<cuda_meanpool_fwd>::call, bound<cuda_meanpool_bwd_add>::call,
    bound<cuda_objective>::call, bound<cuda_prior_act>::call,
    bound<cuda_adam>::call, bound<cuda_roll>::call,
    bound<cuda_conv3x3_fwd>::call, bound<cuda_conv3x3_bwd>::call,
    bound<cuda_warp_window>::call,
    bound<cuda_result88>::call,
    cb_lost,
};

/* ---- public entry points --------------------------------------------------------------- */

extern "C" int dream_cuda_compiled(void) { return 1; }

extern "C" int dream_cuda_probe(int device, char *name, size_t name_len, size_t *mem_total,
                                dream_err_t *err) {
    if (name && name_len) name[0] = 0;
    if (mem_total) *mem_total = 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        int drv = 0;
        if (cudaDriverGetVersion(&drv) == cudaSuccess && drv == 0)
            return dream_err_set(err, "no CUDA device: %s (no NVIDIA driver found)", cudaGetErrorString(e));
        return dream_err_set(err, "no CUDA device: %s (driver %d.%d, runtime %d.%d)", cudaGetErrorString(e),
                             drv / 1000, drv % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    }
    if (n <= 0) return dream_err_set(err, "no CUDA device: the driver reports 0 devices");
    if (device < 0 || device >= n)
        return dream_err_set(err, "no CUDA device: ordinal %d out of range (%d device%s)", device, n,
                             n == 1 ? "" : "s");
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return dream_err_set(err, "no CUDA device: cudaGetDeviceProperties(%d): %s", device,
                             cudaGetErrorString(e));
    }
    if (name && name_len) snprintf(name, name_len, "%s", prop.name);
    if (mem_total) *mem_total = prop.totalGlobalMem;
    /* the build carries sm_90 code + compute_90 PTX: older GPUs cannot run it */
    if (prop.major < 9)
        return dream_err_set(err,
                             "CUDA device %d (%s, compute capability %d.%d) is older than this "
                             "build's target sm_90; rebuild with CUDA_ARCH for it",
                             device, prop.name, prop.major, prop.minor);
    return 0;
}

static int init_fail(cuda_ctx_t *c, dream_err_t *err, const char *what) {
    dream_err_set(err, "cuda init: %s: %s", what, c->err[0] ? c->err : "failed");
    cb_destroy(c);
    return -1;
}

extern "C" int dream_backend_cuda_init(dream_backend_t *be, int device, dream_prec_t prec,
                                       dream_err_t *err) {
    if (!be) return dream_err_set(err, "cuda init: NULL backend");
    if (prec != DREAM_PREC_FP32 && prec != DREAM_PREC_TF32 && prec != DREAM_PREC_BF16)
        return dream_err_set(err, "cuda init: unknown precision %d", (int)prec);
    char dname[128];
    size_t mem = 0;
    if (dream_cuda_probe(device, dname, sizeof dname, &mem, err) != 0) return -1;

    cuda_ctx_full *full = (cuda_ctx_full *)calloc(1, sizeof *full);
    if (!full) return dream_err_set(err, "cuda init: out of memory");
    cuda_ctx_t *c = &full->ctx;
    c->device = device;
    c->prec = prec;
    const char *cm = getenv("DREAM_CUDA_CONV");
    if (!cm || !*cm || strcmp(cm, "auto") == 0) c->conv_mode = CUDA_CONV_AUTO;
    else if (strcmp(cm, "igemm") == 0) c->conv_mode = CUDA_CONV_IGEMM;
    else if (strcmp(cm, "gemm") == 0) c->conv_mode = CUDA_CONV_GEMM;
    else {
        free(full);
        return dream_err_set(err, "cuda init: DREAM_CUDA_CONV='%.40s' is not auto|igemm|gemm", cm);
    }

    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) { cuda_fail_rt(c, __FILE__, __LINE__, "cudaSetDevice", e); return init_fail(c, err, "device"); }
    int nsm = 0;
    if (cudaDeviceGetAttribute(&nsm, cudaDevAttrMultiProcessorCount, device) == cudaSuccess) c->nsm = nsm;
    e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) { cuda_fail(c, __FILE__, __LINE__, "cudaStreamCreate", cudaGetErrorString(e)); c->stream = NULL; return init_fail(c, err, "stream"); }
    cublasStatus_t s = cublasCreate(&c->cublas);
    if (s != CUBLAS_STATUS_SUCCESS) { cuda_fail(c, __FILE__, __LINE__, "cublasCreate", cublasGetStatusString(s)); c->cublas = NULL; return init_fail(c, err, "cuBLAS"); }
    s = cublasSetStream(c->cublas, c->stream);
    if (s != CUBLAS_STATUS_SUCCESS) { cuda_fail(c, __FILE__, __LINE__, "cublasSetStream", cublasGetStatusString(s)); return init_fail(c, err, "cuBLAS"); }
    c->workspace_bytes = CUDA_WORKSPACE_BYTES;
    c->workspace = cuda_alloc_raw(c, c->workspace_bytes);
    if (!c->workspace) return init_fail(c, err, "workspace");
    s = cublasSetWorkspace(c->cublas, c->workspace, c->workspace_bytes);
    if (s != CUBLAS_STATUS_SUCCESS) { cuda_fail(c, __FILE__, __LINE__, "cublasSetWorkspace", cublasGetStatusString(s)); return init_fail(c, err, "cuBLAS"); }
    /* tensor-op math is chosen per call through the compute type (see cuda_gemm.cu) */
    s = cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) { cuda_fail(c, __FILE__, __LINE__, "cublasSetMathMode", cublasGetStatusString(s)); return init_fail(c, err, "cuBLAS"); }
    c->red = (double *)cuda_alloc_raw(c, CUDA_RED_SLOTS * sizeof(double));
    c->obj_scratch = (float *)cuda_alloc_raw(c, 8 * sizeof(float));
    if (!c->red || !c->obj_scratch) return init_fail(c, err, "scratch");
    e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) { cuda_fail_rt(c, __FILE__, __LINE__, "cudaStreamSynchronize", e); return init_fail(c, err, "first sync"); }

    memset(be, 0, sizeof *be);
    be->iface = &cuda_iface;
    be->ctx = c;
    snprintf(be->name, sizeof be->name, "cuda");
    snprintf(be->device, sizeof be->device, "%.100s (cuda:%d, %.1f GiB)", dname, device,
             (double)mem / (1024.0 * 1024.0 * 1024.0));
    be->mem_total = mem;
    be->prec = prec;
    dlog_info("cuda", "backend ready: %s, gemm %s", be->device, prec == DREAM_PREC_FP32 ? "fp32" : prec == DREAM_PREC_TF32 ? "tf32" : "bf16");
    return 0;
}

static cuda_ctx_t *ctx_of(const dream_backend_t *be) {
    if (!be || be->iface != &cuda_iface) return NULL;
    return (cuda_ctx_t *)be->ctx;
}
extern "C" size_t dream_cuda_peak_bytes(const dream_backend_t *be) {
    cuda_ctx_t *c = ctx_of(be);
    return c ? c->bytes_peak : 0;
}
extern "C" size_t dream_cuda_live_bytes(const dream_backend_t *be) {
    cuda_ctx_t *c = ctx_of(be);
    return c ? c->bytes_live : 0;
}
extern "C" void dream_cuda_reset_peak(dream_backend_t *be) {
    cuda_ctx_t *c = ctx_of(be);
    if (c) c->bytes_peak = c->bytes_live;
}
extern "C" int dream_cuda_conv_choices(const dream_backend_t *be) {
    cuda_ctx_t *c = ctx_of(be);
    return c ? c->ntune : 0;
}
