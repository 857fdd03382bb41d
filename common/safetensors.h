/*
 * safetensors.h — a strict, bounded reader and a small writer for the
 * safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: N, little-endian u64][N bytes: JSON header][data section]
 *
 * The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the data section) plus an optional "__metadata__" object
 * of string -> string. The reader memory-maps the file and validates everything
 * before handing out a tensor: header length (<= ST_MAX_HEADER, inside the file),
 * JSON syntax, every field of every entry, known dtype, shape product x dtype
 * size == end - begin, offsets inside the data section, no overlapping tensors,
 * no duplicate names. Every error message names the file (and the tensor).
 *
 * Conversion to float32 is exact for F32/F16/BF16; other recognised dtypes
 * (F64, I64, ...) can be listed but st_to_f32() rejects them as "unsupported dtype".
 * The host is assumed little-endian (x86-64, aarch64), checked at compile time.
 */
#ifndef DREAM_SAFETENSORS_H
#define DREAM_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "dlog.h"

#define ST_MAX_HEADER   (100u * 1000u * 1000u)  /* bytes of JSON header */
#define ST_MAX_DIMS     8
#define ST_MAX_TENSORS  65536
#define ST_MAX_NAME     512                      /* bytes of a tensor name */

typedef enum {
    ST_F32 = 0, ST_F16, ST_BF16,                 /* convertible to float32 */
    ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U64, ST_U32, ST_U16, ST_U8, ST_BOOL,
    ST_F8_E4M3, ST_F8_E5M2,                      /* recognised, not convertible */
    ST_NDTYPES
} st_dtype_t;

typedef struct st_tensor {
    const char *name;
    st_dtype_t dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nelem;           /* product of shape (1 for a 0-d tensor) */
    size_t begin, end;      /* byte offsets inside the data section */
    const void *data;       /* into the mapping; NOT necessarily aligned */
} st_tensor_t;

typedef struct st_file st_file_t;

/* Maps and validates path. NULL + err on any problem. */
st_file_t *st_open(const char *path, dream_err_t *err);
void st_close(st_file_t **f);

const char *st_path(const st_file_t *f);
int st_count(const st_file_t *f);
/* Tensors in file order of their data (ascending begin); NULL if out of range. */
const st_tensor_t *st_get(const st_file_t *f, int i);
/* NULL if absent. */
const st_tensor_t *st_find(const st_file_t *f, const char *name);
/* Like st_find, but sets err "FILE: missing tensor 'NAME'" when absent. */
const st_tensor_t *st_require(const st_file_t *f, const char *name, dream_err_t *err);

/* "__metadata__": value of key or NULL; count and i-th pair (sorted by key). */
const char *st_meta(const st_file_t *f, const char *key);
int st_meta_count(const st_file_t *f);
int st_meta_get(const st_file_t *f, int i, const char **key, const char **value);

const char *st_dtype_name(st_dtype_t d);
/* Bytes per element. */
size_t st_dtype_size(st_dtype_t d);
/* -1 if s is not a dtype name. */
int st_dtype_parse(const char *s, st_dtype_t *out);
/* "(4096, 512, 7, 7)" */
void st_shape_str(const st_tensor_t *t, char *buf, size_t n);

/* Converts the whole tensor to float32; n must equal t->nelem. */
int st_to_f32(const st_file_t *f, const st_tensor_t *t, float *dst, size_t n, dream_err_t *err);
/* Converts elements [first, first + count) (flat, row-major) to float32. */
int st_to_f32_range(const st_file_t *f, const st_tensor_t *t, size_t first, size_t count,
                    float *dst, dream_err_t *err);

/* Exact scalar conversions (also used by the tests and the writer). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);
uint16_t st_f32_to_f16(float f);     /* round to nearest even, overflow -> inf */
uint16_t st_f32_to_bf16(float f);    /* round to nearest even, NaN stays NaN */

/* Writer: each entry's float32 data is stored as dtype (F32, F16 or BF16),
 * data laid out contiguously in entry order. metadata is NULL or a NULL-terminated
 * list of key, value, key, value, ..., NULL. Writes PATH.tmp then renames. */
typedef struct st_entry {
    const char *name;
    st_dtype_t dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;      /* product(shape) floats */
} st_entry_t;

int st_write(const char *path, const st_entry_t *entries, int n, const char *const *metadata,
             dream_err_t *err);

#endif
