/*
 * test_rng.c — common/rng.h pinned: splitmix64 and xoshiro256** against reference values
 * (computed independently, in Python, from the published algorithms), Box-Muller's first
 * pair, and the normal's moments. Random-init models are a pure function of these.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include "rng.h"

static void test_splitmix64(void **st) {
    (void)st;
    uint64_t s = 0;
    assert_true(dream_splitmix64(&s) == 0xe220a8397b1dcdafull);
    assert_true(dream_splitmix64(&s) == 0x6e789e6aa1b965f4ull);
    assert_true(dream_splitmix64(&s) == 0x06c45d188009454full);
    assert_true(s == 3 * 0x9e3779b97f4a7c15ull);
}

static void test_xoshiro(void **st) {
    (void)st;
    dream_rng_t r;
    dream_rng_seed(&r, 42);
    assert_true(dream_rng_next(&r) == 0x15780b2e0c2ec716ull);
    assert_true(dream_rng_next(&r) == 0x6104d9866d113a7eull);
    assert_true(dream_rng_next(&r) == 0xae17533239e499a1ull);
    dream_rng_t a, b;
    dream_rng_seed(&a, 7);
    dream_rng_seed(&b, 8);
    assert_true(dream_rng_next(&a) != dream_rng_next(&b));
}

static void test_normal(void **st) {
    (void)st;
    dream_rng_t r;
    dream_rng_seed(&r, 42);
    assert_true(fabs(dream_rng_normal(&r) - -1.6132237513849157) < 1e-12);
    assert_true(fabs(dream_rng_normal(&r) - 1.5344873235334193) < 1e-12);   /* the spare */
    double m = 0, v = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = dream_rng_normal(&r);
        m += x;
        v += x * x;
    }
    m /= n;
    v = v / n - m * m;
    assert_true(fabs(m) < 0.01);
    assert_true(fabs(v - 1.0) < 0.02);
    for (int i = 0; i < 1000; i++) {
        double u = dream_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix64),
        cmocka_unit_test(test_xoshiro),
        cmocka_unit_test(test_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
