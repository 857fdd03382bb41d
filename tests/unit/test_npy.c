/*
 * test_npy.c — .npy reader/writer: float32 round trip, '<f8' -> float32, v2
 * headers, and clear errors for malformed magic, versions, header dicts,
 * dtypes, Fortran order, too many dimensions and truncated data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "npy.h"

/* Builds an npy image: version major, dict text (padded to 16 with '\n'), data. */
static size_t build(unsigned char *out, int major, const char *dict, const void *data,
                    size_t dn) {
    size_t dl = strlen(dict), pre = major == 1 ? 10 : 12;
    size_t hl = ((pre + dl + 1 + 15) / 16) * 16 - pre;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) out[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(out + pre, dict, dl);
    memset(out + pre + dl, ' ', hl - dl - 1);
    out[pre + hl - 1] = '\n';
    if (dn) memcpy(out + pre + hl, data, dn);
    return pre + hl + dn;
}

static void expect_err(const void *buf, size_t n, const char *want) {
    dream_err_t err = {{0}};
    npy_array_t *a = npy_load_buffer(buf, n, "t.npy", &err);
    if (a) npy_destroy(&a);
    assert_null(a);
    if (!strstr(err.msg, want) || !strstr(err.msg, "t.npy"))
        fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void test_roundtrip_file(void **state) {
    char path[] = "/tmp/test_npy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    float d[2 * 3 * 3];
    for (int i = 0; i < 18; i++) d[i] = (float)i * 0.25f - 1.0f;
    int64_t shape[3] = {2, 3, 3};
    dream_err_t err = {{0}};
    assert_int_equal(npy_save_f32(path, d, 3, shape, &err), 0);
    /* header is 64-byte aligned as NumPy does */
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    assert_int_equal(ftell(fp), 128 + 18 * 4);
    fclose(fp);
    npy_array_t *a = npy_load(path, &err);
    assert_non_null(a);
    assert_int_equal(a->ndim, 3);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[2], 3);
    assert_int_equal(a->n, 18);
    assert_string_equal(a->descr, "<f4");
    assert_memory_equal(a->data, d, sizeof d);
    npy_destroy(&a);
    assert_null(a);
    npy_destroy(&a);
    /* 1-d shape is written as (N,) and read back */
    int64_t s1[1] = {5};
    assert_int_equal(npy_save_f32(path, d, 1, s1, &err), 0);
    a = npy_load(path, &err);
    assert_non_null(a);
    assert_int_equal(a->ndim, 1);
    assert_int_equal(a->n, 5);
    npy_destroy(&a);
    unlink(path);
    assert_null(npy_load(path, &err));
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_f8_and_v2(void **state) {
    unsigned char buf[512];
    double v[4] = {1.0, -2.5, 1e-3, 3.0e38};
    size_t n = build(buf, 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", v,
                     sizeof v);
    dream_err_t err = {{0}};
    npy_array_t *a = npy_load_buffer(buf, n, "t.npy", &err);
    assert_non_null(a);
    assert_int_equal(a->n, 4);
    for (int i = 0; i < 4; i++) assert_true(a->data[i] == (float)v[i]);
    npy_destroy(&a);
    /* key order and quoting are free; scalar () shape is one element */
    float one = 7.0f;
    n = build(buf, 1, "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}", &one, 4);
    a = npy_load_buffer(buf, n, "t.npy", &err);
    assert_non_null(a);
    assert_int_equal(a->ndim, 0);
    assert_int_equal(a->n, 1);
    assert_true(a->data[0] == 7.0f);
    npy_destroy(&a);
}

static void test_malformed(void **state) {
    unsigned char buf[1024];
    float d[8] = {0};
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }";
    size_t n = build(buf, 1, ok, d, sizeof d);
    dream_err_t err;
    npy_array_t *a = npy_load_buffer(buf, n, "t.npy", &err);
    assert_non_null(a);
    npy_destroy(&a);

    expect_err(buf, 5, "truncated");
    unsigned char bad[1024];
    memcpy(bad, buf, n);
    bad[1] = 'X';
    expect_err(bad, n, "bad magic");
    memcpy(bad, buf, n);
    bad[6] = 4;
    expect_err(bad, n, "unsupported npy version 4");
    memcpy(bad, buf, n);
    bad[8] = 0xff; bad[9] = 0xff;              /* header length past the end */
    expect_err(bad, n, "runs past the end");
    expect_err(buf, n - 1, "truncated");        /* one data byte missing */
    memcpy(bad, buf, n);
    bad[n] = 0;
    expect_err(bad, n + 1, "need 32");          /* trailing byte */

    n = build(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 4), }", d, 32);
    expect_err(buf, n, "unsupported npy dtype '>f4'");
    n = build(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", d, 32);
    expect_err(buf, n, "unsupported npy dtype");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 4), }", d, 32);
    expect_err(buf, n, "Fortran");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, "
                      "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", d, 4);
    expect_err(buf, n, "more than 8 dimensions");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -4), }", d, 32);
    expect_err(buf, n, "bad 'shape'");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 4], }", d, 32);
    expect_err(buf, n, "bad 'shape'");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False}", d, 32);
    expect_err(buf, n, "lacks 'shape'");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (8,)}", d, 32);
    expect_err(buf, n, "bad 'fortran_order'");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (8,), 'x': 1}", d, 32);
    expect_err(buf, n, "unexpected key 'x'");
    n = build(buf, 1, "{'descr': '<f4' 'fortran_order': False, 'shape': (8,)}", d, 32);
    expect_err(buf, n, "expected ',' or '}'");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (8,)} junk", d, 32);
    expect_err(buf, n, "trailing bytes");
    n = build(buf, 1, "descr", d, 32);
    expect_err(buf, n, "not a dict");
    n = build(buf, 1, "{'descr: '<f4', 'fortran_order': False, 'shape': (8,)}", d, 32);
    expect_err(buf, n, "malformed key");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, "
                      "'shape': (99999999999999, 99999999999999), }", d, 32);
    expect_err(buf, n, "bad 'shape'");
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, "
                      "'shape': (1048576, 1048576, 1048576), }", d, 32);
    expect_err(buf, n, "too large");
}

static void test_save_errors(void **state) {
    dream_err_t err = {{0}};
    int64_t s[1] = {4};
    assert_int_equal(npy_save_f32("/nonexistent-dir/x.npy", (float[4]){0}, 1, s, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.npy"));
    assert_int_equal(npy_save_f32("/tmp/x.npy", NULL, 9, s, &err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_file),
        cmocka_unit_test(test_f8_and_v2),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_save_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
