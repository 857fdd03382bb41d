/*
 * safetensors.c — strict, bounded safetensors reader (mmap + cJSON) and a
 * small F32/F16/BF16 writer. See safetensors.h for the format and the checks.
 */
#include "safetensors.h"
#include "atomicfile.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_EXACT 9007199254740992.0   /* 2^53: larger JSON numbers are not exact */

struct st_file {
    char *path;
    unsigned char *map;
    size_t size;
    const unsigned char *data;      /* data section */
    size_t data_size;
    int n;
    st_tensor_t *t;                 /* sorted by begin */
    const st_tensor_t **by_name;    /* sorted by name */
    int nmeta;
    char **meta_key, **meta_val;    /* sorted by key */
};

static const struct { const char *name; size_t size; } g_dtypes[ST_NDTYPES] = {
    [ST_F32] = {"F32", 4},   [ST_F16] = {"F16", 2},   [ST_BF16] = {"BF16", 2},
    [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},   [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2},   [ST_I8] = {"I8", 1},     [ST_U64] = {"U64", 8},
    [ST_U32] = {"U32", 4},   [ST_U16] = {"U16", 2},   [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *st_dtype_name(st_dtype_t d) {
    return ((int)d >= 0 && d < ST_NDTYPES) ? g_dtypes[d].name : "?";
}
size_t st_dtype_size(st_dtype_t d) {
    return ((int)d >= 0 && d < ST_NDTYPES) ? g_dtypes[d].size : 0;
}
int st_dtype_parse(const char *s, st_dtype_t *out) {
    for (int i = 0; s && i < ST_NDTYPES; i++)
        if (strcmp(s, g_dtypes[i].name) == 0) { *out = (st_dtype_t)i; return 0; }
    return -1;
}

void st_shape_str(const st_tensor_t *t, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "(");
    for (int i = 0; i < t->ndim; i++)
        o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%lld", i ? ", " : "",
                              (long long)t->shape[i]);
    snprintf(buf + o, o < n ? n - o : 0, t->ndim == 1 ? ",)" : ")");
}

/* ---------------------------------------------------------------- scalars */

static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {                        /* zero / subnormal: m * 2^-24, exact */
        float v = ldexpf((float)m, -24);
        return bits_f32(f32_bits(v) | sign);
    }
    if (e == 31) return bits_f32(sign | 0x7f800000u | (m << 13));   /* inf / NaN */
    return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

float st_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t st_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;             /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u;            /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                  /* below 2^-14: subnormal */
        float v = bits_f32(a) * 16777216.0f;                /* exact: * 2^24 */
        return sign | (uint16_t)nearbyintf(v);              /* RNE; 1024 = min normal */
    }
    uint32_t h = (((a >> 23) - 112u) << 10) | ((a & 0x7fffffu) >> 13);
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return sign | (uint16_t)h;
}

uint16_t st_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* ---------------------------------------------------------------- reader */

static void file_free(st_file_t *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    if (f->t)
        for (int i = 0; i < f->n; i++) free((char *)f->t[i].name);
    free(f->t);
    free(f->by_name);
    for (int i = 0; i < f->nmeta; i++) { free(f->meta_key[i]); free(f->meta_val[i]); }
    free(f->meta_key);
    free(f->meta_val);
    free(f->path);
    free(f);
}

void st_close(st_file_t **f) {
    if (!f || !*f) return;
    file_free(*f);
    *f = NULL;
}

static int cmp_begin(const void *a, const void *b) {
    const st_tensor_t *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}
static int cmp_name(const void *a, const void *b) {
    const st_tensor_t *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > ST_MAX_EXACT || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_metadata(st_file_t *f, const cJSON *md, dream_err_t *err) {
    if (!cJSON_IsObject(md))
        return dream_err_set(err, "%s: \"__metadata__\" must be an object of strings", f->path);
    int n = cJSON_GetArraySize(md);
    if (n > ST_MAX_TENSORS)
        return dream_err_set(err, "%s: \"__metadata__\" has %d entries (max %d)", f->path, n,
                             ST_MAX_TENSORS);
    f->meta_key = calloc((size_t)n + 1, sizeof(char *));
    f->meta_val = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_key || !f->meta_val) return dream_err_set(err, "%s: out of memory", f->path);
    for (const cJSON *c = md->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return dream_err_set(err, "%s: \"__metadata__\" value of '%s' is not a string",
                                 f->path, c->string ? c->string : "");
        f->meta_key[f->nmeta] = strdup(c->string ? c->string : "");
        f->meta_val[f->nmeta] = strdup(c->valuestring);
        if (!f->meta_key[f->nmeta] || !f->meta_val[f->nmeta]) {
            f->nmeta++;
            return dream_err_set(err, "%s: out of memory", f->path);
        }
        f->nmeta++;
    }
    /* sort pairs by key (insertion sort: metadata is small) and reject duplicates */
    for (int i = 1; i < f->nmeta; i++)
        for (int j = i; j > 0 && strcmp(f->meta_key[j - 1], f->meta_key[j]) > 0; j--) {
            char *k = f->meta_key[j]; f->meta_key[j] = f->meta_key[j - 1]; f->meta_key[j - 1] = k;
            char *v = f->meta_val[j]; f->meta_val[j] = f->meta_val[j - 1]; f->meta_val[j - 1] = v;
        }
    for (int i = 1; i < f->nmeta; i++)
        if (strcmp(f->meta_key[i - 1], f->meta_key[i]) == 0)
            return dream_err_set(err, "%s: duplicate \"__metadata__\" key '%s'", f->path,
                                 f->meta_key[i]);
    return 0;
}

static int parse_entry(st_file_t *f, const cJSON *e, st_tensor_t *t, dream_err_t *err) {
    const char *nm = t->name;
    if (!cJSON_IsObject(e))
        return dream_err_set(err, "%s: tensor '%s': entry is not an object", f->path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!dt) return dream_err_set(err, "%s: tensor '%s': missing \"dtype\"", f->path, nm);
    if (!sh) return dream_err_set(err, "%s: tensor '%s': missing \"shape\"", f->path, nm);
    if (!of) return dream_err_set(err, "%s: tensor '%s': missing \"data_offsets\"", f->path, nm);
    if (!cJSON_IsString(dt))
        return dream_err_set(err, "%s: tensor '%s': \"dtype\" is not a string", f->path, nm);
    if (st_dtype_parse(dt->valuestring, &t->dtype) != 0)
        return dream_err_set(err, "%s: tensor '%s': unknown dtype \"%.32s\"", f->path, nm,
                             dt->valuestring);
    if (!cJSON_IsArray(sh))
        return dream_err_set(err, "%s: tensor '%s': \"shape\" is not an array", f->path, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return dream_err_set(err, "%s: tensor '%s': %d dimensions (max %d)", f->path, nm, nd,
                             ST_MAX_DIMS);
    t->ndim = nd;
    size_t nelem = 1;
    int i = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_uint(d, &v) != 0)
            return dream_err_set(err, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                                 f->path, nm, i);
        t->shape[i] = (int64_t)v;
        if (__builtin_mul_overflow(nelem, (size_t)v, &nelem))
            return dream_err_set(err, "%s: tensor '%s': shape product overflows", f->path, nm);
    }
    t->nelem = nelem;
    size_t nbytes;
    if (__builtin_mul_overflow(nelem, st_dtype_size(t->dtype), &nbytes))
        return dream_err_set(err, "%s: tensor '%s': byte size overflows", f->path, nm);
    uint64_t b, en;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || json_uint(of->child, &b) != 0 ||
        json_uint(of->child->next, &en) != 0)
        return dream_err_set(err, "%s: tensor '%s': \"data_offsets\" must be [begin, end] "
                             "non-negative integers", f->path, nm);
    if (en < b)
        return dream_err_set(err, "%s: tensor '%s': data_offsets end %llu < begin %llu", f->path,
                             nm, (unsigned long long)en, (unsigned long long)b);
    if (en > f->data_size)
        return dream_err_set(err, "%s: tensor '%s': data_offsets [%llu, %llu] out of range: "
                             "data section has %zu bytes", f->path, nm, (unsigned long long)b,
                             (unsigned long long)en, f->data_size);
    if (en - b != nbytes) {
        char s[160];
        st_shape_str(t, s, sizeof s);
        return dream_err_set(err, "%s: tensor '%s': shape %s x %s (%zu bytes) does not match "
                             "data_offsets size %llu", f->path, nm, s, st_dtype_name(t->dtype),
                             nbytes, (unsigned long long)(en - b));
    }
    t->begin = (size_t)b;
    t->end = (size_t)en;
    t->data = f->data + b;
    return 0;
}

static int parse_header(st_file_t *f, const char *hdr, size_t hlen, dream_err_t *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &end, 0);
    if (!root) {
        size_t pos = (end && end >= hdr && end <= hdr + hlen) ? (size_t)(end - hdr) : 0;
        return dream_err_set(err, "%s: header is not valid JSON (error near byte %zu of %zu)",
                             f->path, pos, hlen);
    }
    int rc = -1;
    for (const char *p = end; p && p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            dream_err_set(err, "%s: trailing garbage after the JSON header (byte %zu)", f->path,
                          (size_t)(p - hdr));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        dream_err_set(err, "%s: header JSON is not an object", f->path);
        goto out;
    }
    int total = cJSON_GetArraySize(root);
    if (total > ST_MAX_TENSORS + 1) {
        dream_err_set(err, "%s: header lists %d entries (max %d)", f->path, total, ST_MAX_TENSORS);
        goto out;
    }
    f->t = calloc((size_t)total + 1, sizeof *f->t);
    f->by_name = calloc((size_t)total + 1, sizeof *f->by_name);
    if (!f->t || !f->by_name) { dream_err_set(err, "%s: out of memory", f->path); goto out; }
    int seen_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        const char *key = c->string ? c->string : "";
        if (strcmp(key, "__metadata__") == 0) {
            if (seen_meta++) {
                dream_err_set(err, "%s: duplicate \"__metadata__\"", f->path);
                goto out;
            }
            if (parse_metadata(f, c, err) != 0) goto out;
            continue;
        }
        if (strlen(key) > ST_MAX_NAME) {
            dream_err_set(err, "%s: tensor name of %zu bytes (max %d)", f->path, strlen(key),
                          ST_MAX_NAME);
            goto out;
        }
        st_tensor_t *t = &f->t[f->n];
        t->name = strdup(key);
        if (!t->name) { dream_err_set(err, "%s: out of memory", f->path); goto out; }
        f->n++;
        if (parse_entry(f, c, t, err) != 0) goto out;
    }
    qsort(f->t, (size_t)f->n, sizeof *f->t, cmp_begin);
    for (int i = 1; i < f->n; i++)
        if (f->t[i].begin < f->t[i - 1].end) {
            dream_err_set(err, "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", f->path,
                          f->t[i - 1].name, f->t[i - 1].begin, f->t[i - 1].end, f->t[i].name,
                          f->t[i].begin, f->t[i].end);
            goto out;
        }
    for (int i = 0; i < f->n; i++) f->by_name[i] = &f->t[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
            dream_err_set(err, "%s: duplicate tensor '%s'", f->path, f->by_name[i]->name);
            goto out;
        }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

st_file_t *st_open(const char *path, dream_err_t *err) {
    if (!path) { dream_err_set(err, "safetensors: no path"); return NULL; }
    st_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        dream_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dream_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        dream_err_set(err, "%s: not a regular file", path);
        close(fd);
        goto fail;
    }
    if (st.st_size < 8) {
        dream_err_set(err, "%s: truncated: %lld bytes, a safetensors file needs at least 8",
                      path, (long long)st.st_size);
        close(fd);
        goto fail;
    }
    f->size = (size_t)st.st_size;
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        dream_err_set(err, "%s: mmap failed: %s", path, strerror(errno));
        goto fail;
    }
    f->map = m;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->map[i];
    if (hlen > ST_MAX_HEADER) {
        dream_err_set(err, "%s: header length %llu exceeds the bound of %u bytes", path,
                      (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > f->size - 8) {
        dream_err_set(err, "%s: truncated: header length %llu runs past the end of the file "
                      "(%zu bytes)", path, (unsigned long long)hlen, f->size);
        goto fail;
    }
    if (hlen < 2) {
        dream_err_set(err, "%s: header of %llu bytes is too short for JSON", path,
                      (unsigned long long)hlen);
        goto fail;
    }
    f->data = f->map + 8 + hlen;
    f->data_size = f->size - 8 - (size_t)hlen;
    if (parse_header(f, (const char *)f->map + 8, (size_t)hlen, err) != 0) goto fail;
    return f;
fail:
    file_free(f);
    return NULL;
}

const char *st_path(const st_file_t *f) { return f ? f->path : NULL; }
int st_count(const st_file_t *f) { return f ? f->n : 0; }

const st_tensor_t *st_get(const st_file_t *f, int i) {
    return (f && i >= 0 && i < f->n) ? &f->t[i] : NULL;
}

const st_tensor_t *st_find(const st_file_t *f, const char *name) {
    if (!f || !name || f->n == 0) return NULL;
    st_tensor_t key = {.name = name};
    const st_tensor_t *kp = &key;
    const st_tensor_t **r = bsearch(&kp, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    return r ? *r : NULL;
}

const st_tensor_t *st_require(const st_file_t *f, const char *name, dream_err_t *err) {
    const st_tensor_t *t = st_find(f, name);
    if (!t) dream_err_set(err, "%s: missing tensor '%s'", f ? f->path : "?", name);
    return t;
}

const char *st_meta(const st_file_t *f, const char *key) {
    for (int i = 0; f && key && i < f->nmeta; i++)
        if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
    return NULL;
}
int st_meta_count(const st_file_t *f) { return f ? f->nmeta : 0; }
int st_meta_get(const st_file_t *f, int i, const char **key, const char **value) {
    if (!f || i < 0 || i >= f->nmeta) return -1;
    if (key) *key = f->meta_key[i];
    if (value) *value = f->meta_val[i];
    return 0;
}

int st_to_f32_range(const st_file_t *f, const st_tensor_t *t, size_t first, size_t count,
                    float *dst, dream_err_t *err) {
    const char *p = f ? f->path : "?";
    if (!t) return dream_err_set(err, "%s: no tensor", p);
    if (first > t->nelem || count > t->nelem - first)
        return dream_err_set(err, "%s: tensor '%s': elements [%zu, %zu) out of range (%zu)", p,
                             t->name, first, first + count, t->nelem);
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case ST_F32:
        if (count) memcpy(dst, src + 4 * first, 4 * count);
        return 0;
    case ST_F16:
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * (first + i), 2);
            dst[i] = st_f16_to_f32(h);
        }
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * (first + i), 2);
            dst[i] = st_bf16_to_f32(h);
        }
        return 0;
    default:
        return dream_err_set(err, "%s: tensor '%s': unsupported dtype %s (need F32, F16 or BF16)",
                             p, t->name, st_dtype_name(t->dtype));
    }
}

int st_to_f32(const st_file_t *f, const st_tensor_t *t, float *dst, size_t n, dream_err_t *err) {
    if (t && n != t->nelem)
        return dream_err_set(err, "%s: tensor '%s': destination holds %zu floats, tensor has %zu",
                             f ? f->path : "?", t->name, n, t->nelem);
    return st_to_f32_range(f, t, 0, n, dst, err);
}

/* ---------------------------------------------------------------- writer */

static int write_data(FILE *fp, const st_entry_t *e, size_t nelem) {
    enum { CH = 4096 };
    uint16_t buf[CH];
    if (nelem == 0) return 0;
    if (e->dtype == ST_F32) return fwrite(e->data, 4, nelem, fp) == nelem ? 0 : -1;
    for (size_t i = 0; i < nelem; i += CH) {
        size_t m = nelem - i < CH ? nelem - i : CH;
        for (size_t j = 0; j < m; j++)
            buf[j] = e->dtype == ST_F16 ? st_f32_to_f16(e->data[i + j])
                                        : st_f32_to_bf16(e->data[i + j]);
        if (fwrite(buf, 2, m, fp) != m) return -1;
    }
    return 0;
}

int st_write(const char *path, const st_entry_t *entries, int n, const char *const *metadata,
             dream_err_t *err) {
    if (!path || n < 0 || (n > 0 && !entries))
        return dream_err_set(err, "safetensors write: bad arguments");
    if (n > ST_MAX_TENSORS)
        return dream_err_set(err, "%s: %d tensors (max %d)", path, n, ST_MAX_TENSORS);
    cJSON *root = cJSON_CreateObject();
    size_t *nel = calloc((size_t)n + 1, sizeof *nel);
    char *json = NULL, *tmp = NULL;
    FILE *fp;
    int rc = -1;
    if (!root || !nel) { dream_err_set(err, "%s: out of memory", path); goto out; }
    if (metadata && metadata[0]) {
        cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; metadata[i]; i += 2) {
            if (!metadata[i + 1]) {
                dream_err_set(err, "%s: metadata key '%s' has no value", path, metadata[i]);
                goto out;
            }
            if (cJSON_GetObjectItemCaseSensitive(md, metadata[i])) {
                dream_err_set(err, "%s: duplicate metadata key '%s'", path, metadata[i]);
                goto out;
            }
            cJSON_AddStringToObject(md, metadata[i], metadata[i + 1]);
        }
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const st_entry_t *e = &entries[i];
        if (!e->name || !*e->name || strcmp(e->name, "__metadata__") == 0 ||
            strlen(e->name) > ST_MAX_NAME) {
            dream_err_set(err, "%s: entry %d: bad tensor name", path, i);
            goto out;
        }
        if (cJSON_GetObjectItemCaseSensitive(root, e->name)) {
            dream_err_set(err, "%s: duplicate tensor '%s'", path, e->name);
            goto out;
        }
        if (e->dtype != ST_F32 && e->dtype != ST_F16 && e->dtype != ST_BF16) {
            dream_err_set(err, "%s: tensor '%s': writer supports F32, F16, BF16, not %s", path,
                          e->name, st_dtype_name(e->dtype));
            goto out;
        }
        if (e->ndim < 0 || e->ndim > ST_MAX_DIMS) {
            dream_err_set(err, "%s: tensor '%s': bad ndim %d", path, e->name, e->ndim);
            goto out;
        }
        size_t ne = 1;
        cJSON *o = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(o, "dtype", st_dtype_name(e->dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0 || __builtin_mul_overflow(ne, (size_t)e->shape[d], &ne)) {
                dream_err_set(err, "%s: tensor '%s': bad shape", path, e->name);
                goto out;
            }
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[d]));
        }
        if (ne > 0 && !e->data) {
            dream_err_set(err, "%s: tensor '%s': no data", path, e->name);
            goto out;
        }
        nel[i] = ne;
        size_t nb = ne * st_dtype_size(e->dtype);
        cJSON *of = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
    }
    json = cJSON_PrintUnformatted(root);
    if (!json) { dream_err_set(err, "%s: out of memory", path); goto out; }
    size_t jl = strlen(json), padded = (jl + 7) & ~(size_t)7;
    fp = dream_atomic_open(path, &tmp, err);
    if (!fp) goto out;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(le, 1, 8, fp) == 8 && fwrite(json, 1, jl, fp) == jl;
    for (size_t i = jl; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < n; i++) ok = write_data(fp, &entries[i], nel[i]) == 0;
    rc = dream_atomic_commit(fp, tmp, path, ok, err);   /* closes fp, frees tmp */
out:
    cJSON_free(json);
    cJSON_Delete(root);
    free(nel);
    return rc;
}
