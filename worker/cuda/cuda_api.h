/*
 * cuda_api.h — extras of the CUDA backend beyond backend.h, for benchmarks
 * (C callable; only present in builds with worker/cuda compiled in).
 */
#ifndef DREAM_CUDA_API_H
#define DREAM_CUDA_API_H
#include <stddef.h>
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif
/* Peak / current bytes of device memory held by the backend (allocations through
 * the iface plus its own buffers: cuBLAS workspace, bf16 operand copies). 0 if
 * be is not a CUDA backend. */
size_t dream_cuda_peak_bytes(const dream_backend_t *be);
size_t dream_cuda_live_bytes(const dream_backend_t *be);
void dream_cuda_reset_peak(dream_backend_t *be);
/* 3x3 conv shape classes whose algorithm DREAM_CUDA_CONV=auto has recorded (tests:
 * a choice is made once per class, also when the tuning check cannot run). */
int dream_cuda_conv_choices(const dream_backend_t *be);
#ifdef __cplusplus
}
#endif
#endif
