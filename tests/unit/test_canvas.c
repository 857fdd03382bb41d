/*
 * test_canvas.c — common/canvas.h: the synthetic start canvas equals the coordinator's
 * (the formula of server/coord.c init_canvas_synthetic with tiles.h's splitmix64, written
 * out here), is deterministic per seed and differs between seeds; a start image is resized
 * into the canvas and clipped to 0..255; a missing start image is a clear error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "canvas.h"
#include "rng.h"

/* server/coord.c's init_canvas_synthetic, as it was when canvas.c took it over */
static void coord_synthetic(dream_image_t *im, uint64_t seed) {
    uint64_t s = seed * 7919u + 17u;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            float *p = im->px + ((size_t)y * im->w + x) * 3;
            double gx = (double)x / im->w, gy = (double)y / im->h;
            for (int c = 0; c < 3; c++) {
                double n = (double)(dream_splitmix64(&s) >> 40) / (double)(1ull << 24);
                double v = 128 + 50 * sin(6.28318 * (gx * (1 + c) + gy * (2 - c * 0.5))) + 30 * (n - 0.5);
                p[c] = (float)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

static void test_synthetic(void **st) {
    (void)st;
    dream_err_t err = {{0}};
    dream_image_t *a = dream_image_new(97, 61, 3, &err), *b = dream_image_new(97, 61, 3, &err);
    assert_non_null(a);
    assert_non_null(b);
    const size_t n = (size_t)97 * 61 * 3;
    for (uint64_t seed = 0; seed < 4; seed++) {
        assert_int_equal(dream_canvas_init(a, NULL, seed, &err), 0);
        coord_synthetic(b, seed);
        assert_memory_equal(a->px, b->px, n * sizeof(float));
    }
    assert_int_equal(dream_canvas_init(a, "", 1, &err), 0);
    dream_canvas_synthetic(b, 2);
    size_t differ = 0;
    float lo = 255, hi = 0;
    for (size_t i = 0; i < n; i++) {
        differ += a->px[i] != b->px[i];
        lo = a->px[i] < lo ? a->px[i] : lo;
        hi = a->px[i] > hi ? a->px[i] : hi;
    }
    assert_true(differ > n / 2);
    assert_true(lo >= 0 && hi <= 255 && hi - lo > 60);     /* a wave, not a flat grey */
    dream_image_destroy(&a);
    dream_image_destroy(&b);
}

static void test_start_image(void **st) {
    (void)st;
    dream_err_t err = {{0}};
    char path[] = "/tmp/dream_canvas_XXXXXX.png";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    dream_image_t *src = dream_image_new(20, 10, 3, &err);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++)
            for (int c = 0; c < 3; c++) src->px[((size_t)y * 20 + x) * 3 + c] = x < 10 ? 0.0f : 255.0f;
    assert_int_equal(dream_image_save(src, path, &err), 0);
    dream_image_t *im = dream_image_new(40, 20, 3, &err);
    assert_int_equal(dream_canvas_init(im, path, 5, &err), 0);
    assert_true(im->px[0] < 1.0f);                              /* left: black */
    assert_true(im->px[(size_t)(10 * 40 + 39) * 3] > 254.0f);   /* right: white */
    for (size_t i = 0; i < (size_t)40 * 20 * 3; i++) assert_true(im->px[i] >= 0 && im->px[i] <= 255);  /* clipped */
    unlink(path);
    assert_int_equal(dream_canvas_init(im, "/nonexistent/start.png", 5, &err), -1);
    assert_non_null(strstr(err.msg, "start image /nonexistent/start.png"));
    dream_image_destroy(&src);
    dream_image_destroy(&im);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_start_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
