/*
 * test_coord_warp.c — the coordinator's per-tile warp into 8-bit RGB
 * (dream_warp_rect_rgb8, common/warp.c) equals a cut
 * from the whole-canvas dream_warp + dream_image_to_rgb8 (so handing tiles out
 * before warping the whole canvas changes no pixel), and bad input is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "image.h"

static void fill(dream_image_t *im) {
    uint64_t s = 12345;
    for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        im->px[i] = (float)((s >> 33) % 300) - 20.0f;   /* out of 0..255 too: the rounding clips */
    }
}

static void check_one(int W, int H, double zoom, double angle, dream_interp_t ip, int rx, int ry, int rw, int rh) {
    dream_image_t *src = dream_image_new(W, H, 3, NULL), *dst = dream_image_new(W, H, 3, NULL);
    assert_non_null(src);
    assert_non_null(dst);
    fill(src);
    assert_int_equal(dream_warp(src, dst, zoom, angle, ip, NULL), 0);
    uint8_t *full = malloc((size_t)W * H * 3), *tile = malloc((size_t)rw * rh * 3);
    assert_non_null(full);
    assert_non_null(tile);
    dream_image_to_rgb8(dst, full);
    assert_int_equal(dream_warp_rect_rgb8(src, zoom, angle, ip, rx, ry, rw, rh, tile, NULL), 0);
    for (int y = 0; y < rh; y++)
        assert_memory_equal(tile + (size_t)y * rw * 3, full + ((size_t)(ry + y) * W + rx) * 3, (size_t)rw * 3);
    free(full);
    free(tile);
    dream_image_destroy(&src);
    dream_image_destroy(&dst);
}

/* both kernels: bilinear (the old default) and bicubic (the reference's keyframe warp) */
static void check(int W, int H, double zoom, double angle, int rx, int ry, int rw, int rh) {
    check_one(W, H, zoom, angle, DREAM_INTERP_BILINEAR, rx, ry, rw, rh);
    check_one(W, H, zoom, angle, DREAM_INTERP_BICUBIC, rx, ry, rw, rh);
}

static void test_equals_full_warp(void **s) {
    (void)s;
    check(320, 200, 1.03, 0.5, 0, 0, 320, 200);         /* whole */
    check(320, 200, 1.018, -2.0, 100, 40, 150, 120);     /* inner rect */
    check(320, 200, 0.9, 30.0, 250, 150, 70, 50);        /* zoom out: clamped edges */
    check(640, 480, 1.0, 90.0, 0, 0, 640, 480);          /* big enough for threads, quarter turn */
}

static void test_bad_input(void **s) {
    (void)s;
    dream_image_t *src = dream_image_new(64, 64, 3, NULL);
    assert_non_null(src);
    uint8_t out[64 * 64 * 3];
    dream_err_t err = {{0}};
    assert_int_equal(dream_warp_rect_rgb8(src, 1.0, 0, DREAM_INTERP_BILINEAR, 10, 10, 60, 10, out, &err), -1);
    assert_non_null(strstr(err.msg, "outside"));
    assert_int_equal(dream_warp_rect_rgb8(src, 0.0, 0, DREAM_INTERP_BILINEAR, 0, 0, 8, 8, out, &err), -1);
    assert_non_null(strstr(err.msg, "zoom"));
    assert_int_equal(dream_warp_rect_rgb8(src, 1.0, 1.0 / 0.0, DREAM_INTERP_BILINEAR, 0, 0, 8, 8, out, &err), -1);
    assert_non_null(strstr(err.msg, "angle"));
    dream_image_destroy(&src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals_full_warp),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
