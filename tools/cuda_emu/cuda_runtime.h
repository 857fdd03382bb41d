/*
 * cuda_runtime.h (emulation) — a CPU stand-in for the parts of the CUDA runtime
 * the dreamfarm CUDA backend uses, so tools/cuda-emu-check.sh can run the
 * backend's kernels on the host (under ASan) against the CPU reference.
 * Kernel launches are rewritten by the check script into emu_launch*() calls.
 * "Device" memory is host memory; streams are synchronous. Not for production.
 */
#ifndef EMU_CUDA_RUNTIME_H
#define EMU_CUDA_RUNTIME_H
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2 };
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
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p);

/* launches (the check script rewrites k<<<g, b, 0, s>>>(args) into these) */
void emu_run_blocks(unsigned g, unsigned b, bool sync, void (*body)(void *), void *arg);
template <typename F> static void emu_body(void *f) { (*(F *)f)(); }
template <typename K, typename... A> void emu_launch(unsigned g, unsigned b, K k, A... args) {
    auto f = [&]() { k(args...); };
    emu_run_blocks(g, b, false, emu_body<decltype(f)>, &f);
}
template <typename K, typename... A> void emu_launch_sync(unsigned g, unsigned b, K k, A... args) {
    auto f = [&]() { k(args...); };
    emu_run_blocks(g, b, true, emu_body<decltype(f)>, &f);
}
#endif
