/*
 * test_parfor.c — common/parfor.h: dream_parallel_range covers every item exactly once in
 * contiguous parts, splits a large range over the cores (when there are two or more), and
 * dream_parallel_set_max caps the parts (a worker's --threads: several workers sharing a host do
 * not each split over all its cores); 0 lifts the cap again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "parfor.h"

enum { N = 1 << 16, MAXP = 64 };

typedef struct {
    unsigned char *seen;
    pthread_mutex_t mu;
    int parts;
    size_t begin[MAXP], end[MAXP];
} rec_t;

static void mark(void *arg, size_t begin, size_t end) {
    rec_t *r = arg;
    for (size_t i = begin; i < end; i++) r->seen[i]++;
    pthread_mutex_lock(&r->mu);
    if (r->parts < MAXP) {
        r->begin[r->parts] = begin;
        r->end[r->parts] = end;
    }
    r->parts++;
    pthread_mutex_unlock(&r->mu);
}

/* runs one range of N items, at least min_per items a part; checks the cover; returns the parts */
static int run(size_t min_per) {
    rec_t r = {.seen = calloc(N, 1), .mu = PTHREAD_MUTEX_INITIALIZER};
    assert_non_null(r.seen);
    dream_parallel_range(N, min_per, mark, &r);
    for (size_t i = 0; i < N; i++) assert_int_equal(r.seen[i], 1);
    size_t total = 0;
    for (int p = 0; p < r.parts && p < MAXP; p++) {
        assert_true(r.end[p] > r.begin[p]);
        total += r.end[p] - r.begin[p];
    }
    assert_int_equal(total, N);
    free(r.seen);
    return r.parts;
}

static void test_cover_and_cap(void **state) {
    (void)state;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    dream_parallel_set_max(0);
    int all = run(1024);
    assert_true(all >= 1);
    if (cores >= 2) assert_true(all >= 2);     /* a large range is split */
    assert_int_equal(run(N), 1);               /* fewer than 2 x min_per: one call, inline */
    dream_parallel_set_max(1);
    assert_int_equal(run(1024), 1);            /* --threads 1: one part */
    if (cores >= 2) {
        dream_parallel_set_max(2);
        assert_int_equal(run(1024), 2);
    }
    dream_parallel_set_max(0);
    assert_int_equal(run(1024), all);          /* the cap lifted */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
