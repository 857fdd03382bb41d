/*
 * test_dlog.c — the log helpers peers reach: dlog_escape (no raw control bytes or
 * newlines survive, truncation stays NUL-terminated) and the per-key token-bucket
 * rate limiter (per-key burst, refill, global cap across many keys, bounded table).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "dlog.h"

static void test_escape(void **st) {
    (void)st;
    char out[64];
    dlog_escape("w1\n2026-01-01T00:00:00Z WARN [coord] forged", out, sizeof out);
    assert_null(strchr(out, '\n'));
    assert_non_null(strstr(out, "w1\\x0a2026"));
    dlog_escape("a\\b\r\x1b[31m\x7f\xc3\xa9", out, sizeof out);
    assert_string_equal(out, "a\\\\b\\x0d\\x1b[31m\\x7f\\xc3\\xa9");
    dlog_escape(NULL, out, sizeof out);
    assert_string_equal(out, "");
    char small[6];
    dlog_escape("\n\n\n", small, sizeof small);    /* no half escape */
    assert_string_equal(small, "\\x0a");
    for (size_t i = 0; i < strlen(out); i++) assert_true(out[i] >= 0x20 && out[i] < 0x7f);
}

static void test_rate_per_key(void **st) {
    (void)st;
    dlog_rl_t *rl = dlog_rl_new(16, 1.0, 3, 1000, 1000);
    assert_non_null(rl);
    double t = 1000;
    int ok = 0;
    for (int i = 0; i < 100; i++) ok += dlog_rl_allow(rl, "peerA:error", t, NULL);
    assert_int_equal(ok, 3);                        /* the burst, then nothing at the same instant */
    assert_true(dlog_rl_allow(rl, "peerB:error", t, NULL));    /* another key has its own bucket */
    unsigned long sup = 0;
    assert_true(dlog_rl_allow(rl, "peerA:error", t + 1001, &sup));   /* one token a second */
    assert_int_equal(sup, 97);
    assert_false(dlog_rl_allow(rl, "peerA:error", t + 1002, NULL));
    assert_int_equal(dlog_rl_dropped(rl), 98);
    dlog_rl_destroy(&rl);
    assert_null(rl);
    dlog_rl_destroy(&rl);
    assert_null(dlog_rl_new(0, 1, 1, 1, 1));
    assert_null(dlog_rl_new(4, 0, 1, 1, 1));
}

static void test_rate_global_and_bounded(void **st) {
    (void)st;
    /* 10000 distinct keys (peers) in 1 s: the global bucket (burst 20, 10/s) caps the total */
    dlog_rl_t *rl = dlog_rl_new(64, 1.0, 5, 10, 20);
    int ok = 0;
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "peer%d:hello", i);
        ok += dlog_rl_allow(rl, key, 5000 + i * 0.1, NULL);
    }
    assert_true(ok >= 20 && ok <= 20 + 10 + 1);
    dlog_rl_destroy(&rl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_rate_per_key),
        cmocka_unit_test(test_rate_global_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
