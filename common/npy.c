/*
 * npy.c — bounded .npy (NumPy array file) reader to float32 and float32 writer.
 * The header is a tiny Python dict literal; it is parsed by a small strict
 * recursive-descent scanner that accepts exactly the three keys NumPy writes.
 */
#include "npy.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

typedef struct scan {
    const char *p, *end;
} scan_t;

static void skip_ws(scan_t *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int accept(scan_t *s, char c) {
    skip_ws(s);
    if (s->p < s->end && *s->p == c) { s->p++; return 1; }
    return 0;
}

/* 'text' or "text" into out (bounded). */
static int scan_str(scan_t *s, char *out, size_t n) {
    skip_ws(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"')) return -1;
    char q = *s->p++;
    size_t k = 0;
    while (s->p < s->end && *s->p != q) {
        if (*s->p == '\\' || k + 1 >= n) return -1;
        out[k++] = *s->p++;
    }
    if (s->p >= s->end) return -1;
    s->p++;
    out[k] = 0;
    return 0;
}

static int scan_word(scan_t *s, const char *w) {
    skip_ws(s);
    size_t l = strlen(w);
    if ((size_t)(s->end - s->p) < l || memcmp(s->p, w, l) != 0) return -1;
    s->p += l;
    return 0;
}

static int scan_shape(scan_t *s, npy_array_t *a) {
    if (!accept(s, '(')) return -1;
    a->ndim = 0;
    for (;;) {
        if (accept(s, ')')) break;
        skip_ws(s);
        if (s->p >= s->end || *s->p < '0' || *s->p > '9') return -1;
        int64_t v = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            v = v * 10 + (*s->p++ - '0');
            if (v > ((int64_t)1 << 40)) return -1;
        }
        /* NumPy may write 3L in Python 2 era files */
        if (s->p < s->end && *s->p == 'L') s->p++;
        if (a->ndim >= NPY_MAX_DIMS) return -2;
        a->shape[a->ndim++] = v;
        if (accept(s, ',')) continue;
        if (accept(s, ')')) break;
        return -1;
    }
    return 0;
}

static int parse_dict(const char *name, const char *h, size_t hl, npy_array_t *a, int *fortran,
                      dream_err_t *err) {
    scan_t s = {h, h + hl};
    int have_descr = 0, have_fo = 0, have_shape = 0;
    if (!accept(&s, '{'))
        return dream_err_set(err, "%s: npy header is not a dict literal", name);
    for (;;) {
        if (accept(&s, '}')) break;
        char key[32];
        if (scan_str(&s, key, sizeof key) != 0 || !accept(&s, ':'))
            return dream_err_set(err, "%s: npy header: malformed key near byte %zu", name,
                                 (size_t)(s.p - h));
        if (strcmp(key, "descr") == 0) {
            if (have_descr++ || scan_str(&s, a->descr, sizeof a->descr) != 0)
                return dream_err_set(err, "%s: npy header: bad 'descr'", name);
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fo++) return dream_err_set(err, "%s: npy header: duplicate key", name);
            if (scan_word(&s, "False") == 0) *fortran = 0;
            else if (scan_word(&s, "True") == 0) *fortran = 1;
            else return dream_err_set(err, "%s: npy header: bad 'fortran_order'", name);
        } else if (strcmp(key, "shape") == 0) {
            int r = have_shape++ ? -1 : scan_shape(&s, a);
            if (r == -2)
                return dream_err_set(err, "%s: npy: more than %d dimensions", name, NPY_MAX_DIMS);
            if (r != 0) return dream_err_set(err, "%s: npy header: bad 'shape'", name);
        } else {
            return dream_err_set(err, "%s: npy header: unexpected key '%s'", name, key);
        }
        if (accept(&s, ',')) continue;
        if (accept(&s, '}')) break;
        return dream_err_set(err, "%s: npy header: expected ',' or '}' near byte %zu", name,
                             (size_t)(s.p - h));
    }
    skip_ws(&s);
    if (s.p != s.end)
        return dream_err_set(err, "%s: npy header: trailing bytes after the dict", name);
    if (!have_descr || !have_fo || !have_shape)
        return dream_err_set(err, "%s: npy header lacks %s", name,
                             !have_descr ? "'descr'" : !have_fo ? "'fortran_order'" : "'shape'");
    return 0;
}

npy_array_t *npy_load_buffer(const void *buf, size_t len, const char *name, dream_err_t *err) {
    const unsigned char *b = buf;
    if (!name) name = "(npy)";
    if (!b || len < 10) {
        dream_err_set(err, "%s: truncated npy file (%zu bytes)", name, len);
        return NULL;
    }
    if (memcmp(b, NPY_MAGIC, 6) != 0) {
        dream_err_set(err, "%s: not an npy file (bad magic)", name);
        return NULL;
    }
    int major = b[6];
    size_t hl, off;
    if (major == 1) {
        hl = (size_t)b[8] | (size_t)b[9] << 8;
        off = 10;
    } else if (major == 2) {
        if (len < 12) {
            dream_err_set(err, "%s: truncated npy file (%zu bytes)", name, len);
            return NULL;
        }
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        off = 12;
    } else {
        dream_err_set(err, "%s: unsupported npy version %d.%d (need 1.x or 2.x)", name, major,
                      b[7]);
        return NULL;
    }
    if (hl > NPY_MAX_HEADER) {
        dream_err_set(err, "%s: npy header of %zu bytes exceeds the bound of %d", name, hl,
                      NPY_MAX_HEADER);
        return NULL;
    }
    if (hl > len - off) {
        dream_err_set(err, "%s: truncated: npy header length %zu runs past the end (%zu bytes)",
                      name, hl, len);
        return NULL;
    }
    npy_array_t *a = calloc(1, sizeof *a);
    if (!a) { dream_err_set(err, "%s: out of memory", name); return NULL; }
    int fortran = 0;
    if (parse_dict(name, (const char *)b + off, hl, a, &fortran, err) != 0) goto fail;
    size_t es;
    if (strcmp(a->descr, "<f4") == 0) es = 4;
    else if (strcmp(a->descr, "<f8") == 0) es = 8;
    else {
        dream_err_set(err, "%s: unsupported npy dtype '%s' (need '<f4' or '<f8')", name, a->descr);
        goto fail;
    }
    if (fortran) {
        dream_err_set(err, "%s: Fortran-order npy arrays are not supported", name);
        goto fail;
    }
    size_t n = 1, nb;
    for (int i = 0; i < a->ndim; i++)
        if (__builtin_mul_overflow(n, (size_t)a->shape[i], &n)) n = SIZE_MAX;
    if (n == SIZE_MAX || __builtin_mul_overflow(n, es, &nb) || nb > NPY_MAX_BYTES) {
        dream_err_set(err, "%s: npy array too large", name);
        goto fail;
    }
    size_t have = len - off - hl;
    if (have != nb) {
        dream_err_set(err, "%s: npy data is %zu bytes, shape and dtype need %zu%s", name, have, nb,
                      have < nb ? " (truncated)" : "");
        goto fail;
    }
    a->n = n;
    a->data = malloc(n ? n * sizeof(float) : 1);
    if (!a->data) { dream_err_set(err, "%s: out of memory", name); goto fail; }
    const unsigned char *d = b + off + hl;
    if (es == 4) {
        if (n) memcpy(a->data, d, n * 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, d + 8 * i, 8);
            a->data[i] = (float)v;
        }
    }
    return a;
fail:
    free(a);
    return NULL;
}

npy_array_t *npy_load(const char *path, dream_err_t *err) {
    if (!path) { dream_err_set(err, "npy: no path"); return NULL; }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        dream_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        dream_err_set(err, "%s: not a regular file", path);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    if (len > NPY_MAX_BYTES + NPY_MAX_HEADER + 12) {
        fclose(fp);
        dream_err_set(err, "%s: npy file of %zu bytes is too large", path, len);
        return NULL;
    }
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(fp);
        dream_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    size_t got = fread(buf, 1, len, fp);
    fclose(fp);
    npy_array_t *a = NULL;
    if (got != len) dream_err_set(err, "%s: read failed", path);
    else a = npy_load_buffer(buf, len, path, err);
    free(buf);
    return a;
}

void npy_destroy(npy_array_t **a) {
    if (!a || !*a) return;
    free((*a)->data);
    free(*a);
    *a = NULL;
}

int npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                 dream_err_t *err) {
    if (!path || ndim < 0 || ndim > NPY_MAX_DIMS || (ndim > 0 && !shape))
        return dream_err_set(err, "npy write: bad arguments");
    char dict[512];
    size_t o = (size_t)snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (");
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, (size_t)shape[i], &n))
            return dream_err_set(err, "%s: bad shape", path);
        o += (size_t)snprintf(dict + o, sizeof dict - o, "%s%lld", i ? ", " : "",
                              (long long)shape[i]);
    }
    o += (size_t)snprintf(dict + o, sizeof dict - o, "%s), }", ndim == 1 ? "," : "");
    if (n > 0 && !data) return dream_err_set(err, "%s: no data", path);
    /* total header (10 + hl) is a multiple of 64; the dict ends with spaces and '\n' */
    size_t hl = ((10 + o + 1 + 63) / 64) * 64 - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    FILE *fp = fopen(path, "wb");
    if (!fp) return dream_err_set(err, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(dict, 1, o, fp) == o;
    for (size_t i = o; ok && i + 1 < hl; i++) ok = fputc(' ', fp) != EOF;
    ok = ok && fputc('\n', fp) != EOF;
    ok = ok && (n == 0 || fwrite(data, sizeof(float), n, fp) == n);
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return dream_err_set(err, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
