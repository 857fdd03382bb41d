/*
 * cuda_runtime.h (emulation) — a CPU stand-in for the parts of the CUDA runtime
 * the dreamfarm CUDA backend uses, so tools/cuda-emu-check.sh can run the
 * backend's kernels on the host (under ASan) against the CPU reference.
 * Kernel launches are rewritten by the check script into emu_launch*() calls.
 * "Device" memory is host memory; streams are synchronous. Not for production.
 * Like the real runtime: EMU_DEVICES (default 2) devices, the current device is per
 * thread (cudaSetDevice), memory, streams and cuBLAS handles belong to the device that
 * was current when they were made, and using a stream of another device fails
 * (invalid resource handle); the last error is per thread; sticky errors (700, 719 ...)
 * poison their device for good. emu_inject() makes a chosen call fail (tests).
 */
#ifndef EMU_CUDA_RUNTIME_H
#define EMU_CUDA_RUNTIME_H
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2, cudaErrorInvalidDevice = 101,
       cudaErrorInvalidResourceHandle = 400, cudaErrorNotReady = 600, cudaErrorIllegalAddress = 700,
       cudaErrorLaunchFailure = 719 };
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2,
                      cudaMemcpyDeviceToDevice = 3 };
enum cudaMemoryType { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1, cudaMemoryTypeDevice = 2,
                      cudaMemoryTypeManaged = 3 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
#define cudaStreamNonBlocking 1
#define CUDART_VERSION 13000
typedef struct emu_stream *cudaStream_t;
struct cudaDeviceProp { char name[256]; size_t totalGlobalMem; int major, minor; };
struct cudaPointerAttributes { cudaMemoryType type; int device; void *devicePointer, *hostPointer; };
struct dim3 { unsigned x, y, z; };

extern thread_local dim3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __forceinline__ inline
#define __launch_bounds__(...)
struct float4 { float x, y, z, w; };
struct uint4 { unsigned x, y, z, w; };
struct uint2 { unsigned x, y; };
void __syncthreads();
/* the block's threads run as real threads only in synchronising kernels; a warp barrier
 * is emulated by the block barrier (kernels call it uniformly) */
static inline void __syncwarp() { __syncthreads(); }
float atomicAdd(float *p, float v);
double atomicAdd(double *p, double v);

const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaGetDevice(int *dev);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p);

/* Test hook (C linkage, so C tests can declare it weak): the next call named `call` fails
 * with `code` ("launch" = any kernel launch, or a kernel's name; for "cudaMalloc" `arg` is
 * the byte size that fails, else `arg` counts matching calls, 1 = the next one). A sticky
 * code (700, 719, ...) poisons the calling thread's current device: every later call on it
 * fails with that code. emu_inject("clear", 0, 0) removes injections and sticky states. */
extern "C" void emu_inject(const char *call, long arg, int code);

/* launches (the check script rewrites k<<<g, b, shm, s>>>(args) into these) */
void emu_run_blocks(unsigned g, unsigned b, cudaStream_t s, const char *name, bool sync, void (*body)(void *),
                    void *arg);
template <typename F> static void emu_body(void *f) { (*(F *)f)(); }
template <typename K, typename... A>
void emu_launch(unsigned g, unsigned b, cudaStream_t s, const char *name, K k, A... args) {
    auto f = [&]() { k(args...); };
    emu_run_blocks(g, b, s, name, false, emu_body<decltype(f)>, &f);
}
template <typename K, typename... A>
void emu_launch_sync(unsigned g, unsigned b, cudaStream_t s, const char *name, K k, A... args) {
    auto f = [&]() { k(args...); };
    emu_run_blocks(g, b, s, name, true, emu_body<decltype(f)>, &f);
}
#endif
