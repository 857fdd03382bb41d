/*
 * test_gop.c — GOP cache and per-viewer queues: join gets keyframe + deltas, a lagging viewer
 * skips to the next keyframe (counted), reference counts free every packet.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "gop.h"

static gop_packet_t *mk(int key, uint32_t seq) {
    gop_packet_t *p = gop_packet_new("abcd", 4, 16, key, seq);
    assert_non_null(p);
    return p;
}

/* feed seq 0..n-1, keyframe every `gop` frames, into cache and (optionally) queue */
static void feed(gop_cache_t *c, gop_queue_t *q, uint32_t from, uint32_t to, int gop, int *fell) {
    for (uint32_t s = from; s < to; s++) {
        gop_packet_t *p = mk(s % (uint32_t)gop == 0, s);
        gop_cache_push(c, p);
        if (q) { int f = gop_queue_push(q, p); if (fell) *fell += f; }
        gop_packet_unref(&p);
    }
}

static void test_packet(void **state) {
    (void)state;
    gop_packet_t *p = gop_packet_new("xyz", 3, 10, 1, 7);
    assert_non_null(p);
    assert_int_equal(p->payload - p->buf, 10);
    assert_memory_equal(p->payload, "xyz", 3);
    gop_packet_t *r = gop_packet_ref(p);
    assert_int_equal(p->refs, 2);
    gop_packet_unref(&r);
    assert_null(r);
    assert_int_equal(p->refs, 1);
    gop_packet_unref(&p);
    assert_null(p);
    gop_packet_unref(&p);
    assert_null(gop_packet_new(NULL, (size_t)1 << 30, 0, 0, 0));
}

static void test_cache_join(void **state) {
    (void)state;
    gop_cache_t *c = gop_cache_new(100);
    /* deltas before any keyframe are not cached */
    for (uint32_t s = 1; s < 4; s++) { gop_packet_t *p = mk(0, s); gop_cache_push(c, p); gop_packet_unref(&p); }
    assert_int_equal(gop_cache_count(c), 0);
    feed(c, NULL, 0, 23, 10, NULL);               /* keys at 0, 10, 20 */
    assert_int_equal(gop_cache_count(c), 3);
    assert_true(gop_cache_get(c, 0)->keyframe);
    assert_int_equal(gop_cache_get(c, 0)->seq, 20);
    assert_int_equal(gop_cache_bytes(c), 12);

    gop_queue_t *q = gop_queue_new(50);
    assert_true(gop_queue_waiting(q));
    gop_queue_join(q, c);
    assert_false(gop_queue_waiting(q));
    assert_int_equal(gop_queue_count(q), 3);
    feed(c, q, 23, 25, 10, NULL);
    assert_int_equal(gop_queue_count(q), 5);
    /* the viewer sees 20 (key), 21, 22, 23, 24: contiguous */
    for (uint32_t s = 20; s < 25; s++) {
        gop_packet_t *p = gop_queue_peek(q);
        assert_non_null(p);
        assert_int_equal(p->seq, s);
        assert_int_equal(p->keyframe, s == 20);
        gop_queue_pop(q);
    }
    assert_null(gop_queue_peek(q));
    gop_queue_destroy(&q);
    assert_null(q);
    gop_cache_destroy(&c);
    assert_null(c);
}

static void test_lagging_viewer(void **state) {
    (void)state;
    gop_cache_t *c = gop_cache_new(100);
    gop_queue_t *fast = gop_queue_new(8), *slow = gop_queue_new(8);
    feed(c, NULL, 0, 1, 10, NULL);
    gop_queue_join(fast, c);
    gop_queue_join(slow, c);
    int fell_fast = 0, fell_slow = 0;
    for (uint32_t s = 1; s < 40; s++) {
        gop_packet_t *p = mk(s % 10 == 0, s);
        gop_cache_push(c, p);
        fell_fast += gop_queue_push(fast, p);
        fell_slow += gop_queue_push(slow, p);
        gop_packet_unref(&p);
        /* the fast viewer drains everything, the slow one nothing until s = 25 */
        uint32_t expect = s;
        while (gop_queue_peek(fast)) {
            assert_true(gop_queue_peek(fast)->seq <= expect);
            gop_queue_pop(fast);
        }
        if (s >= 25) {
            /* slow viewer drains: it must resume at a keyframe, then be contiguous */
            gop_packet_t *first = gop_queue_peek(slow);
            if (s == 25) {
                assert_non_null(first);
                assert_true(first->keyframe);
                assert_int_equal(first->seq, 20);
            }
            while (gop_queue_peek(slow)) gop_queue_pop(slow);
        }
    }
    assert_int_equal(fell_fast, 0);
    assert_int_equal(gop_queue_fallbacks(fast), 0);
    /* slow: filled at seq 8 -> fell back, took keyframe 10, filled again -> fell back, took 20 */
    assert_int_equal(fell_slow, 2);
    assert_int_equal(gop_queue_fallbacks(slow), 2);
    assert_false(gop_queue_waiting(slow));
    gop_queue_destroy(&fast);
    gop_queue_destroy(&slow);
    gop_cache_destroy(&c);
}

static void test_join_waits_when_gop_too_big(void **state) {
    (void)state;
    gop_cache_t *c = gop_cache_new(100);
    feed(c, NULL, 0, 30, 50, NULL);               /* one key + 29 deltas */
    gop_queue_t *q = gop_queue_new(10);
    gop_queue_join(q, c);
    assert_true(gop_queue_waiting(q));
    assert_int_equal(gop_queue_count(q), 0);
    feed(c, q, 30, 50, 50, NULL);                 /* deltas: ignored */
    assert_int_equal(gop_queue_count(q), 0);
    feed(c, q, 50, 51, 50, NULL);                 /* keyframe: taken */
    assert_int_equal(gop_queue_count(q), 1);
    assert_true(gop_queue_peek(q)->keyframe);
    assert_int_equal(gop_queue_fallbacks(q), 0);  /* never had the stream: not a fallback */
    gop_queue_destroy(&q);
    /* a cache overflowing max_packets empties itself until the next keyframe */
    gop_cache_t *small = gop_cache_new(5);
    feed(small, NULL, 0, 7, 100, NULL);
    assert_int_equal(gop_cache_count(small), 0);
    feed(small, NULL, 100, 102, 100, NULL);
    assert_int_equal(gop_cache_count(small), 2);
    gop_cache_destroy(&small);
    gop_cache_destroy(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packet),
        cmocka_unit_test(test_cache_join),
        cmocka_unit_test(test_lagging_viewer),
        cmocka_unit_test(test_join_waits_when_gop_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
