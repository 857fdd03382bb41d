/*
 * cuda_check.h — error checking for the CUDA backend.
 *
 * Every CUDA runtime / cuBLAS call goes through CUDA_CHECK / CUBLAS_CHECK, and
 * every kernel launch is followed by LAUNCH_CHECK (cudaGetLastError()). On
 * failure the macros record "file:line: call: reason" in the backend context
 * (returned by last_error()) and `return -1` from the enclosing op, as
 * backend.h requires. Asynchronous kernel faults surface at the next
 * synchronising call (download / sync) and are reported there.
 * A *sticky* error (a kernel fault: illegal address, launch failure, ...) leaves the
 * CUDA context unusable for the rest of the process: cuda_fail_rt marks the backend
 * lost (every later op fails at once, iface->lost() says 1) so the worker can leave
 * and be restarted by its supervisor.
 */
#ifndef DREAM_CUDA_CHECK_H
#define DREAM_CUDA_CHECK_H
#include <cuda_runtime.h>
#include <cublas_v2.h>

struct cuda_ctx;
/* Records the failure in ctx->err (and logs it at debug level); returns -1. */
int cuda_fail(struct cuda_ctx *c, const char *file, int line, const char *what, const char *why);
/* cuda_fail for a runtime error code; a sticky one also marks the context lost. Returns -1. */
int cuda_fail_rt(struct cuda_ctx *c, const char *file, int line, const char *what, cudaError_t e);
/* 1 for the errors after which the CUDA context cannot be used again (the process must restart) */
int cuda_is_sticky(cudaError_t e);

#define CUDA_CHECK(c, call)                                                         \
    do {                                                                            \
        cudaError_t e_ = (call);                                                    \
        if (e_ != cudaSuccess)                                                      \
            return cuda_fail_rt((c), __FILE__, __LINE__, #call, e_);                 \
    } while (0)

#define CUBLAS_CHECK(c, call)                                                       \
    do {                                                                            \
        cublasStatus_t s_ = (call);                                                 \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                            \
            return cuda_fail((c), __FILE__, __LINE__, #call, cublasGetStatusString(s_)); \
    } while (0)

/* After every <<<...>>> launch: configuration errors show up here at once. */
#define LAUNCH_CHECK(c, kernel_name)                                                \
    do {                                                                            \
        cudaError_t e_ = cudaGetLastError();                                        \
        if (e_ != cudaSuccess)                                                      \
            return cuda_fail_rt((c), __FILE__, __LINE__, "launch " kernel_name, e_); \
    } while (0)

#endif
