/*
 * npy.h — bounded NumPy .npy reader (-> float32) and float32 writer.
 *
 * Reads format versions 1.0 and 2.0: magic "\x93NUMPY", version, header length
 * (u16 LE for v1, u32 LE for v2, at most NPY_MAX_HEADER bytes), then a Python
 * dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (...), } padded
 * with spaces and a newline. Accepted: descr '<f4' or '<f8' (converted to
 * float32), C order only, up to NPY_MAX_DIMS dimensions; the data must exactly
 * fill the rest of the file. Anything else is a clear error naming the file.
 *
 * The writer emits version 1.0, '<f4', C order (e.g. `dream grad` writes its
 * gradient as an (H, W, 3) float32 .npy).
 */
#ifndef DREAM_NPY_H
#define DREAM_NPY_H
#include <stddef.h>
#include <stdint.h>
#include "dlog.h"

#define NPY_MAX_DIMS   8
#define NPY_MAX_HEADER 65536
#define NPY_MAX_BYTES  ((size_t)4 << 30)   /* 4 GiB of element data */

typedef struct npy_array {
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t n;               /* product of shape (1 for a 0-d array) */
    char descr[8];          /* as found in the file: "<f4" or "<f8" */
    float *data;            /* n floats, C order */
} npy_array_t;

/* Reads a file / a memory buffer (name is used in messages). NULL + err on failure. */
npy_array_t *npy_load(const char *path, dream_err_t *err);
npy_array_t *npy_load_buffer(const void *buf, size_t len, const char *name, dream_err_t *err);
void npy_destroy(npy_array_t **a);

/* Writes data (product(shape) floats) as a v1.0 '<f4' C-order .npy. */
int npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                 dream_err_t *err);

#endif
