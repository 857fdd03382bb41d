/*
 * test_safetensors.c — the strict safetensors reader rejects every kind of
 * malformed file with a message naming the file (and tensor), and the writer
 * round-trips F32 / F16 / BF16 exactly (F16/BF16 conversions are checked
 * exhaustively over all 65536 bit patterns).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "safetensors.h"

static char g_dir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n) assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

/* 8-byte length + header + data; hlen_override != 0 writes that length instead. */
static void write_raw(const char *path, const char *hdr, const void *data, size_t dn,
                      uint64_t hlen_override) {
    size_t hl = strlen(hdr);
    uint64_t L = hlen_override ? hlen_override : hl;
    unsigned char *b = malloc(8 + hl + dn + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(L >> (8 * i));
    memcpy(b + 8, hdr, hl);
    if (dn) memcpy(b + 8 + hl, data, dn);
    write_bytes(path, b, 8 + hl + dn);
    free(b);
}

/* Opens path expecting failure whose message contains all of the given substrings. */
static void expect_fail(const char *path, const char *s1, const char *s2) {
    dream_err_t err = {{0}};
    st_file_t *f = st_open(path, &err);
    if (f) st_close(&f);
    assert_null(f);
    if (!strstr(err.msg, path) || (s1 && !strstr(err.msg, s1)) || (s2 && !strstr(err.msg, s2)))
        fail_msg("error '%s' lacks '%s' / '%s' / '%s'", err.msg, path, s1 ? s1 : "",
                 s2 ? s2 : "");
}

static int setup(void **state) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_st_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_roundtrip_f32(void **state) {
    float a[6] = {1.5f, -2.25f, 3e-39f, INFINITY, -0.0f, 123456.789f};
    float b[3] = {7, 8, 9};
    st_entry_t e[3] = {
        {.name = "layer.a", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "b", .dtype = ST_F32, .ndim = 1, .shape = {3}, .data = b},
        {.name = "empty", .dtype = ST_F32, .ndim = 2, .shape = {0, 4}, .data = NULL},
    };
    const char *md[] = {"source", "unit test", "format", "pt", NULL};
    dream_err_t err = {{0}};
    const char *p = tpath("rt32.safetensors");
    assert_int_equal(st_write(p, e, 3, md, &err), 0);
    st_file_t *f = st_open(p, &err);
    assert_non_null(f);
    assert_int_equal(st_count(f), 3);
    /* file order: ascending begin */
    assert_string_equal(st_get(f, 0)->name, "layer.a");
    assert_null(st_get(f, 3));
    const st_tensor_t *t = st_find(f, "layer.a");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->nelem, 6);
    float out[6];
    assert_int_equal(st_to_f32(f, t, out, 6, &err), 0);
    assert_memory_equal(out, a, sizeof a);
    /* wrong destination size is refused */
    assert_int_equal(st_to_f32(f, t, out, 5, &err), -1);
    assert_non_null(strstr(err.msg, "layer.a"));
    /* range conversion */
    assert_int_equal(st_to_f32_range(f, t, 4, 2, out, &err), 0);
    assert_memory_equal(out, a + 4, 2 * sizeof(float));
    assert_int_equal(st_to_f32_range(f, t, 5, 2, out, &err), -1);
    t = st_find(f, "b");
    assert_int_equal(st_to_f32(f, t, out, 3, &err), 0);
    assert_memory_equal(out, b, sizeof b);
    t = st_find(f, "empty");
    assert_non_null(t);
    assert_int_equal(t->nelem, 0);
    assert_int_equal(t->begin, t->end);
    assert_int_equal(st_meta_count(f), 2);
    assert_string_equal(st_meta(f, "source"), "unit test");
    const char *k, *v;
    assert_int_equal(st_meta_get(f, 0, &k, &v), 0);
    assert_string_equal(k, "format");   /* sorted by key */
    assert_null(st_meta(f, "nope"));
    st_close(&f);
    assert_null(f);
    st_close(&f);   /* NULL-safe */
}

static void test_f16_scalar(void **state) {
    /* exhaustive: every non-NaN half converts to float and back unchanged */
    for (uint32_t h = 0; h < 65536; h++) {
        float x = st_f16_to_f32((uint16_t)h);
        if (isnan(x)) { assert_true(isnan(st_f16_to_f32(st_f32_to_f16(x)))); continue; }
        if (st_f32_to_f16(x) != h) fail_msg("f16 0x%04x -> %g -> 0x%04x", h, x, st_f32_to_f16(x));
    }
    assert_true(st_f16_to_f32(0x3c00) == 1.0f);
    assert_true(st_f16_to_f32(0x0001) == ldexpf(1, -24));       /* smallest subnormal */
    assert_true(st_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(st_f16_to_f32(0xc000) == -2.0f);
    /* round to nearest, ties to even */
    assert_int_equal(st_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);      /* tie -> even */
    assert_int_equal(st_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);  /* tie -> even */
    assert_int_equal(st_f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)), 0x3c01);
    assert_int_equal(st_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(st_f32_to_f16(65520.0f), 0x7c00);                   /* -> inf */
    assert_int_equal(st_f32_to_f16(ldexpf(1, -25)), 0x0000);             /* tie -> 0 */
    assert_int_equal(st_f32_to_f16(ldexpf(3, -26)), 0x0001);
    assert_int_equal(st_f32_to_f16(-ldexpf(1023.5f, -24)), 0x8400);      /* up to min normal */
}

static void test_bf16_scalar(void **state) {
    for (uint32_t h = 0; h < 65536; h++) {
        float x = st_bf16_to_f32((uint16_t)h);
        if (isnan(x)) { assert_true(isnan(st_bf16_to_f32(st_f32_to_bf16(x)))); continue; }
        if (st_f32_to_bf16(x) != h) fail_msg("bf16 0x%04x -> %g", h, x);
    }
    assert_int_equal(st_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(st_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80);      /* tie -> even */
    assert_int_equal(st_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);  /* tie -> even */
    assert_int_equal(st_f32_to_bf16(1.0f + ldexpf(1, -8) + ldexpf(1, -20)), 0x3f81);
    assert_true(isnan(st_bf16_to_f32(st_f32_to_bf16(NAN))));
}

static void roundtrip_half(st_dtype_t dt) {
    /* values exactly representable in both F16 and BF16 */
    float v[8] = {0.0f, 1.0f, -2.0f, 0.5f, 0.375f, -96.0f, 1.0f / 64, 3.0f};
    float w[4] = {0.1f, 1000.7f, -3.3e-3f, 7.0f};     /* not representable: RNE */
    st_entry_t e[2] = {
        {.name = "v", .dtype = dt, .ndim = 3, .shape = {2, 2, 2}, .data = v},
        {.name = "w", .dtype = dt, .ndim = 1, .shape = {4}, .data = w},
    };
    dream_err_t err = {{0}};
    const char *p = tpath(dt == ST_F16 ? "rt16.safetensors" : "rtbf16.safetensors");
    assert_int_equal(st_write(p, e, 2, NULL, &err), 0);
    st_file_t *f = st_open(p, &err);
    assert_non_null(f);
    const st_tensor_t *t = st_find(f, "v");
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->end - t->begin, 16);
    float out[8];
    assert_int_equal(st_to_f32(f, t, out, 8, &err), 0);
    assert_memory_equal(out, v, sizeof v);
    t = st_find(f, "w");
    assert_int_equal(st_to_f32(f, t, out, 4, &err), 0);
    for (int i = 0; i < 4; i++) {
        float want = dt == ST_F16 ? st_f16_to_f32(st_f32_to_f16(w[i]))
                                  : st_bf16_to_f32(st_f32_to_bf16(w[i]));
        assert_true(out[i] == want);
        assert_true(fabsf(out[i] - w[i]) <= fabsf(w[i]) * (dt == ST_F16 ? 1e-3f : 4e-3f));
    }
    assert_int_equal(st_meta_count(f), 0);
    st_close(&f);
}
static void test_roundtrip_f16(void **state) { roundtrip_half(ST_F16); }
static void test_roundtrip_bf16(void **state) { roundtrip_half(ST_BF16); }

static void test_truncated(void **state) {
    float a[16] = {0};
    st_entry_t e = {.name = "t", .dtype = ST_F32, .ndim = 1, .shape = {16}, .data = a};
    dream_err_t err = {{0}};
    const char *good = tpath("good.safetensors"), *p = tpath("trunc.safetensors");
    assert_int_equal(st_write(good, &e, 1, NULL, &err), 0);
    FILE *fp = fopen(good, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    assert_true(n > 8 + 64);
    write_bytes(p, buf, 0);
    expect_fail(p, "truncated", NULL);
    write_bytes(p, buf, 5);
    expect_fail(p, "truncated", NULL);
    write_bytes(p, buf, 8 + 10);          /* header cut */
    expect_fail(p, "truncated", NULL);
    write_bytes(p, buf, n - 1);           /* last data byte missing */
    expect_fail(p, "'t'", "out of range");
    write_bytes(p, buf, n);
    st_file_t *f = st_open(p, &err);
    assert_non_null(f);
    st_close(&f);
}

static void test_header_len_beyond_file(void **state) {
    const char *p = tpath("hlen.safetensors");
    write_raw(p, "{}", NULL, 0, 1000);
    expect_fail(p, "runs past the end", NULL);
    write_raw(p, "{}", NULL, 0, (uint64_t)1 << 40);
    expect_fail(p, "exceeds the bound", NULL);
    write_raw(p, "{}", NULL, 0, ~(uint64_t)0);
    expect_fail(p, "exceeds the bound", NULL);
    /* empty header object is fine: zero tensors */
    write_raw(p, "{}      ", NULL, 0, 0);
    dream_err_t err;
    st_file_t *f = st_open(p, &err);
    assert_non_null(f);
    assert_int_equal(st_count(f), 0);
    assert_null(st_find(f, "x"));
    st_close(&f);
}

static void test_bad_json(void **state) {
    const char *p = tpath("json.safetensors");
    write_raw(p, "{\"a\": {\"dtype\": \"F32\", ", NULL, 0, 0);
    expect_fail(p, "not valid JSON", NULL);
    write_raw(p, "[1, 2, 3]", NULL, 0, 0);
    expect_fail(p, "not an object", NULL);
    write_raw(p, "{} x", NULL, 0, 0);
    expect_fail(p, "trailing garbage", NULL);
    write_raw(p, "\x01\x02\x03\x04", NULL, 0, 0);
    expect_fail(p, "not valid JSON", NULL);
}

static void test_overlap(void **state) {
    const char *p = tpath("overlap.safetensors");
    float d[6] = {0};
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", d, 24, 0);
    expect_fail(p, "overlap", "'a'");
    /* adjacent is fine */
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", d, 24, 0);
    dream_err_t err;
    st_file_t *f = st_open(p, &err);
    assert_non_null(f);
    st_close(&f);
}

static void test_out_of_range(void **state) {
    const char *p = tpath("range.safetensors");
    float d[4] = {0};
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", d, 16, 0);
    expect_fail(p, "'a'", "out of range");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", d, 16, 0);
    expect_fail(p, "'a'", "end 4 < begin 8");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-16,0]}}", d, 16, 0);
    expect_fail(p, "'a'", "data_offsets");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0.5,16.5]}}", d, 16,
              0);
    expect_fail(p, "'a'", "data_offsets");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", d, 16, 0);
    expect_fail(p, "'a'", "data_offsets");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],"
                 "\"data_offsets\":[0,1e300]}}", d, 16, 0);
    expect_fail(p, "'a'", "data_offsets");
}

static void test_unknown_dtype(void **state) {
    const char *p = tpath("dtype.safetensors");
    float d[4] = {0};
    write_raw(p, "{\"w\":{\"dtype\":\"F12\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16, 0);
    expect_fail(p, "'w'", "unknown dtype \"F12\"");
    write_raw(p, "{\"w\":{\"dtype\":32,\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16, 0);
    expect_fail(p, "'w'", "dtype");
    /* a known but unsupported dtype opens, conversion is refused */
    write_raw(p, "{\"w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", d, 16, 0);
    dream_err_t err = {{0}};
    st_file_t *f = st_open(p, &err);
    assert_non_null(f);
    const st_tensor_t *t = st_find(f, "w");
    assert_int_equal(t->dtype, ST_F64);
    float out[2];
    assert_int_equal(st_to_f32(f, t, out, 2, &err), -1);
    assert_non_null(strstr(err.msg, "unsupported dtype F64"));
    assert_non_null(strstr(err.msg, "'w'"));
    assert_non_null(strstr(err.msg, p));
    st_close(&f);
    /* the writer refuses non-float dtypes */
    st_entry_t e = {.name = "x", .dtype = ST_I64, .ndim = 1, .shape = {2}, .data = out};
    assert_int_equal(st_write(tpath("w.safetensors"), &e, 1, NULL, &err), -1);
}

static void test_shape_mismatch(void **state) {
    const char *p = tpath("shape.safetensors");
    float d[6] = {0};
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", d, 24, 0);
    expect_fail(p, "'w'", "does not match");
    write_raw(p, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", d, 24,
              0);
    expect_fail(p, "'w'", "does not match");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                 "\"data_offsets\":[0,4]}}", d, 24, 0);
    expect_fail(p, "'w'", "dimensions");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 24, 0);
    expect_fail(p, "'w'", "shape[0]");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                 "\"data_offsets\":[0,4]}}", d, 24, 0);
    expect_fail(p, "'w'", "overflow");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,4]}}", d, 24, 0);
    expect_fail(p, "'w'", "shape");
}

static void test_missing_fields(void **state) {
    const char *p = tpath("fields.safetensors");
    float d[2] = {0};
    write_raw(p, "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8, 0);
    expect_fail(p, "'w'", "missing \"dtype\"");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", d, 8, 0);
    expect_fail(p, "'w'", "missing \"shape\"");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", d, 8, 0);
    expect_fail(p, "'w'", "missing \"data_offsets\"");
    write_raw(p, "{\"w\":[1,2]}", d, 8, 0);
    expect_fail(p, "'w'", "not an object");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", d, 8, 0);
    expect_fail(p, "duplicate tensor 'w'", NULL);
    write_raw(p, "{\"__metadata__\":{\"a\":1}}", NULL, 0, 0);
    expect_fail(p, "__metadata__", "not a string");
    write_raw(p, "{\"__metadata__\":[\"a\"]}", NULL, 0, 0);
    expect_fail(p, "__metadata__", NULL);
}

static void test_missing_tensor(void **state) {
    float a[2] = {1, 2};
    st_entry_t e = {.name = "present", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = a};
    dream_err_t err = {{0}};
    const char *p = tpath("missing.safetensors");
    assert_int_equal(st_write(p, &e, 1, NULL, &err), 0);
    st_file_t *f = st_open(p, &err);
    assert_non_null(f);
    assert_null(st_find(f, "absent"));
    assert_null(st_require(f, "absent", &err));
    assert_non_null(strstr(err.msg, "missing tensor 'absent'"));
    assert_non_null(strstr(err.msg, p));
    assert_non_null(st_require(f, "present", &err));
    st_close(&f);
    /* nonexistent file */
    assert_null(st_open(tpath("nope.safetensors"), &err));
    assert_non_null(strstr(err.msg, "cannot open"));
    /* writer: duplicate names refused */
    st_entry_t two[2] = {e, e};
    assert_int_equal(st_write(p, two, 2, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "duplicate"));
}

/* Random byte flips / truncations of a valid file: never a crash, always a clean answer. */
static void test_mutations(void **state) {
    float a[12];
    for (int i = 0; i < 12; i++) a[i] = (float)i;
    st_entry_t e[2] = {
        {.name = "features.0.weight", .dtype = ST_F16, .ndim = 2, .shape = {3, 2}, .data = a},
        {.name = "x", .dtype = ST_F32, .ndim = 1, .shape = {6}, .data = a + 6},
    };
    const char *md[] = {"k", "v", NULL};
    dream_err_t err;
    const char *good = tpath("mut0.safetensors"), *p = tpath("mut.safetensors");
    assert_int_equal(st_write(good, e, 2, md, &err), 0);
    FILE *fp = fopen(good, "rb");
    unsigned char buf[4096], m[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    int iters = getenv("DREAM_TEST_QUICK") ? 200 : 2000, opened = 0;
    uint64_t s = 42;
    for (int it = 0; it < iters; it++) {
        memcpy(m, buf, n);
        size_t len = n;
        int flips = 1 + it % 4;
        for (int j = 0; j < flips; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (s >> 33) % n;
            m[pos] = (unsigned char)(s >> 17);
        }
        if (it % 7 == 0) len = (s >> 40) % n;
        write_bytes(p, m, len);
        st_file_t *f = st_open(p, &err);
        if (f) {
            opened++;
            float out[16];
            for (int i = 0; i < st_count(f); i++) {
                const st_tensor_t *t = st_get(f, i);
                if (t->nelem <= 16) (void)st_to_f32(f, t, out, t->nelem, &err);
            }
            st_close(&f);
        } else {
            assert_true(err.msg[0] != 0);
        }
    }
    assert_true(opened < iters);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_f32),
        cmocka_unit_test(test_f16_scalar),
        cmocka_unit_test(test_bf16_scalar),
        cmocka_unit_test(test_roundtrip_f16),
        cmocka_unit_test(test_roundtrip_bf16),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_header_len_beyond_file),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
