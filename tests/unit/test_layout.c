/*
 * test_layout.c — common/layout.h: the subject layouts pinned (single, seed, bands,
 * quadrants; quadrants and seed with ONE subject = the whole area; empty regions fall back
 * to the whole area; errors), and dream_layout_rect() agreeing cell for cell with the
 * engine's score-grid masks (worker/engine.c dream_regions_build) on many grid sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "layout.h"
#include "engine.h"
#include "wire.h"
#include "requests.h"
#include "stream.h"

_Static_assert(DREAM_WIRE_MAX_SUBJECTS == DREAM_MAX_SUBJECTS, "one subject limit");
_Static_assert(REQUESTS_MAX_SUBJECTS == DREAM_MAX_SUBJECTS, "one subject limit");
_Static_assert(STREAM_MAX_SUBJECTS == DREAM_MAX_SUBJECTS, "one subject limit");

static dream_rect_t rect(dream_layout_t l, int s, int n, int W, int H) {
    dream_rect_t r = {-1, -1, -1, -1};
    dream_err_t err = {{0}};
    assert_int_equal(dream_layout_rect(l, s, n, W, H, &r, &err), 0);
    return r;
}

#define ASSERT_RECT(r, X, Y, W_, H_) do { dream_rect_t r_ = (r); \
    assert_int_equal(r_.x, X); assert_int_equal(r_.y, Y); assert_int_equal(r_.w, W_); assert_int_equal(r_.h, H_); } while (0)

static void test_rules(void **st) {
    (void)st;
    for (int n = 1; n <= DREAM_MAX_SUBJECTS; n++)
        for (int s = 0; s < n; s++) ASSERT_RECT(rect(DREAM_LAYOUT_SINGLE, s, n, 100, 60), 0, 0, 100, 60);
    ASSERT_RECT(rect(DREAM_LAYOUT_SEED, 0, 1, 100, 61), 0, 0, 100, 61);
    ASSERT_RECT(rect(DREAM_LAYOUT_SEED, 0, 2, 100, 61), 0, 30, 100, 31);    /* first: lower half */
    ASSERT_RECT(rect(DREAM_LAYOUT_SEED, 1, 2, 100, 61), 0, 0, 100, 30);
    ASSERT_RECT(rect(DREAM_LAYOUT_BANDS, 0, 3, 100, 60), 0, 0, 100, 20);    /* first at the top */
    ASSERT_RECT(rect(DREAM_LAYOUT_BANDS, 1, 3, 100, 60), 0, 20, 100, 20);
    ASSERT_RECT(rect(DREAM_LAYOUT_BANDS, 2, 3, 100, 60), 0, 40, 100, 20);
    ASSERT_RECT(rect(DREAM_LAYOUT_BANDS, 0, 1, 100, 60), 0, 0, 100, 60);
    /* quadrants: ONE subject takes the whole area (not the top-left quarter) */
    ASSERT_RECT(rect(DREAM_LAYOUT_QUADRANTS, 0, 1, 101, 61), 0, 0, 101, 61);
    ASSERT_RECT(rect(DREAM_LAYOUT_QUADRANTS, 0, 4, 101, 61), 0, 0, 50, 30);
    ASSERT_RECT(rect(DREAM_LAYOUT_QUADRANTS, 1, 4, 101, 61), 50, 0, 51, 30);
    ASSERT_RECT(rect(DREAM_LAYOUT_QUADRANTS, 2, 4, 101, 61), 0, 30, 50, 31);
    ASSERT_RECT(rect(DREAM_LAYOUT_QUADRANTS, 3, 4, 101, 61), 50, 30, 51, 31);
    ASSERT_RECT(rect(DREAM_LAYOUT_QUADRANTS, 1, 2, 100, 60), 50, 0, 50, 30);
    /* empty regions: the whole area */
    ASSERT_RECT(rect(DREAM_LAYOUT_BANDS, 0, 4, 10, 2), 0, 0, 10, 2);
    ASSERT_RECT(rect(DREAM_LAYOUT_BANDS, 1, 4, 10, 2), 0, 0, 10, 1);
    ASSERT_RECT(rect(DREAM_LAYOUT_QUADRANTS, 0, 4, 1, 1), 0, 0, 1, 1);
}

static void test_errors(void **st) {
    (void)st;
    dream_rect_t r;
    dream_err_t err = {{0}};
    assert_int_equal(dream_layout_rect(DREAM_LAYOUT_SEED, 0, 3, 10, 10, &r, &err), -1);
    assert_non_null(strstr(err.msg, "seed"));
    assert_int_equal(dream_layout_rect(DREAM_LAYOUT_SINGLE, 0, 0, 10, 10, &r, &err), -1);
    assert_int_equal(dream_layout_rect(DREAM_LAYOUT_SINGLE, 0, DREAM_MAX_SUBJECTS + 1, 10, 10, &r, &err), -1);
    assert_int_equal(dream_layout_rect(DREAM_LAYOUT_BANDS, 2, 2, 10, 10, &r, &err), -1);
    assert_int_equal(dream_layout_rect(DREAM_LAYOUT_BANDS, 0, 2, 0, 10, &r, &err), -1);
    assert_int_equal(dream_layout_rect((dream_layout_t)9, 0, 1, 10, 10, &r, &err), -1);
}

/* the engine's masks and the rule give the same cells (no overlap/coverage rule implied:
 * single overlaps by design) */
static void test_matches_engine(void **st) {
    (void)st;
    const int sizes[][2] = {{1, 1}, {1, 7}, {2, 2}, {3, 5}, {7, 4}, {14, 14}, {9, 16}, {31, 17}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int gh = sizes[k][0], gw = sizes[k][1];
        uint8_t *m = malloc((size_t)DREAM_MAX_SUBJECTS * gh * gw);
        assert_non_null(m);
        for (int l = DREAM_LAYOUT_SINGLE; l <= DREAM_LAYOUT_QUADRANTS; l++)
            for (int n = 1; n <= DREAM_MAX_SUBJECTS; n++) {
                dream_err_t e1 = {{0}}, e2 = {{0}};
                int rc_engine = dream_regions_build((dream_layout_t)l, n, gh, gw, m, &e1);
                dream_rect_t r;
                int rc_rule = dream_layout_rect((dream_layout_t)l, 0, n, gw, gh, &r, &e2);
                assert_int_equal(rc_engine, rc_rule);
                if (rc_engine < 0) continue;
                for (int s = 0; s < n; s++) {
                    assert_int_equal(dream_layout_rect((dream_layout_t)l, s, n, gw, gh, &r, &e2), 0);
                    for (int i = 0; i < gh; i++)
                        for (int j = 0; j < gw; j++) {
                            int in = i >= r.y && i < r.y + r.h && j >= r.x && j < r.x + r.w;
                            assert_int_equal(m[(size_t)s * gh * gw + (size_t)i * gw + j], in);
                        }
                }
            }
        free(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_matches_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
