/*
 * cuda_none.c — the CUDA backend entry points for builds without nvcc
 * (and for the sanitizer build). Everything reports "not compiled in".
 */
#include "backend.h"
#include "cuda/cuda_api.h"

int dream_cuda_compiled(void) { return 0; }

int dream_cuda_probe(int device, char *name, size_t name_len, size_t *mem_total, dream_err_t *err) {
    (void)device;
    if (name && name_len) name[0] = 0;
    if (mem_total) *mem_total = 0;
    return dream_err_set(err, "CUDA backend not compiled in (build without nvcc)");
}

int dream_backend_cuda_init(dream_backend_t *be, int device, dream_prec_t prec, dream_err_t *err) {
    (void)be; (void)device; (void)prec;
    return dream_err_set(err, "CUDA backend not compiled in (build without nvcc)");
}

size_t dream_cuda_peak_bytes(const dream_backend_t *be) { (void)be; return 0; }
size_t dream_cuda_live_bytes(const dream_backend_t *be) { (void)be; return 0; }
void dream_cuda_reset_peak(dream_backend_t *be) { (void)be; }
int dream_cuda_conv_choices(const dream_backend_t *be) { (void)be; return 0; }
