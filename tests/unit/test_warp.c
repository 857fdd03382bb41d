/*
 * test_warp.c — zoom/rotate warps and keyframe interpolation (common/warp.c).
 *
 * Identity is exact; zoom 2 and quarter turns land pixels where the geometry in
 * warp.c says; +90 is counter-clockwise on screen; 90+90 == 180; warps compose;
 * bicubic == bilinear == the analytic value on linear ramps; coverage masks have
 * the expected extent; the interpolation matches the seed's rules (t=0 -> prev,
 * t=1 -> next, uncovered border -> prev's warp alone, midpoint == half warp); warps to
 * another size (canvas -> stream) are exact on ramps; the float canvas with 8-bit tiles does
 * not drift from the float reference over 200 keyframes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "image.h"
#include "px88.h"

static uint64_t rng = 777;
static float rndf(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) % 256);
}

static dream_image_t *new_image(int w, int h, int c) {
    dream_err_t err = {{0}};
    dream_image_t *im = dream_image_new(w, h, c, &err);
    assert_non_null(im);
    return im;
}

static dream_image_t *random_image(int w, int h, int c) {
    dream_image_t *im = new_image(w, h, c);
    for (size_t i = 0; i < (size_t)w * h * c; i++) im->px[i] = rndf();
    return im;
}

/* f(x, y) = a + bx*x + by*y, channel k offset by 10k */
static dream_image_t *ramp_image(int w, int h, double a, double bx, double by) {
    dream_image_t *im = new_image(w, h, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) im->px[((size_t)y * w + x) * 3 + k] = (float)(a + bx * x + by * y + 10 * k);
    return im;
}

static dream_image_t *smooth_image(int w, int h) {
    dream_image_t *im = new_image(w, h, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                im->px[((size_t)y * w + x) * 3 + k] =
                    (float)(128 + 60 * sin(x * 0.15 + k) + 50 * cos(y * 0.11 - k));
    return im;
}

static inline float px(const dream_image_t *im, int x, int y, int k) {
    return im->px[((size_t)y * im->w + x) * im->c + k];
}

static void test_identity_exact(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *src = random_image(33, 20, 3), *dst = new_image(33, 20, 3);
    uint8_t *cov = malloc(33 * 20);
    for (int interp = 0; interp < 2; interp++) {
        memset(cov, 0, 33 * 20);
        assert_int_equal(dream_warp_mask(src, dst, cov, 1.0, 0.0, (dream_interp_t)interp, &err), 0);
        assert_memory_equal(src->px, dst->px, 33 * 20 * 3 * sizeof(float));
        for (int i = 0; i < 33 * 20; i++) assert_int_equal(cov[i], 1);
    }
    /* a full turn is the identity too (up to rounding of sin/cos) */
    assert_int_equal(dream_warp(src, dst, 1.0, 360.0, DREAM_INTERP_BILINEAR, &err), 0);
    assert_memory_equal(src->px, dst->px, 33 * 20 * 3 * sizeof(float));
    free(cov);
    dream_image_destroy(&src);
    dream_image_destroy(&dst);
}

static void test_zoom2_known_pattern(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    /* 9x9, centre (4, 4): dst(x, y) samples src(4 + (x-4)/2, 4 + (y-4)/2) */
    dream_image_t *src = random_image(9, 9, 1), *dst = new_image(9, 9, 1);
    for (int interp = 0; interp < 2; interp++) {
        assert_int_equal(dream_warp(src, dst, 2.0, 0.0, (dream_interp_t)interp, &err), 0);
        for (int y = 0; y < 9; y += 2)
            for (int x = 0; x < 9; x += 2)
                assert_true(fabsf(px(dst, x, y, 0) - px(src, 4 + (x - 4) / 2, 4 + (y - 4) / 2, 0)) < 1e-4f);
    }
    /* half-way samples are the mean of the two neighbours (bilinear) */
    assert_int_equal(dream_warp(src, dst, 2.0, 0.0, DREAM_INTERP_BILINEAR, &err), 0);
    assert_true(fabsf(px(dst, 5, 4, 0) - 0.5f * (px(src, 4, 4, 0) + px(src, 5, 4, 0))) < 1e-4f);
    assert_true(fabsf(px(dst, 4, 3, 0) - 0.5f * (px(src, 4, 3, 0) + px(src, 4, 4, 0))) < 1e-4f);
    /* zoom 0.5 shrinks: dst(6, 4) samples src(8, 4); further out clamps to the edge */
    assert_int_equal(dream_warp(src, dst, 0.5, 0.0, DREAM_INTERP_BILINEAR, &err), 0);
    assert_true(fabsf(px(dst, 6, 4, 0) - px(src, 8, 4, 0)) < 1e-4f);
    assert_true(fabsf(px(dst, 8, 4, 0) - px(src, 8, 4, 0)) < 1e-4f);
    assert_true(fabsf(px(dst, 0, 0, 0) - px(src, 0, 0, 0)) < 1e-4f);
    dream_image_destroy(&src);
    dream_image_destroy(&dst);
}

static void test_rotate_direction_and_quarter_turns(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    const int n = 11, c = 5;   /* centre (5, 5) */
    dream_image_t *src = random_image(n, n, 2), *r90 = new_image(n, n, 2);
    dream_image_t *r90x2 = new_image(n, n, 2), *r180 = new_image(n, n, 2);
    assert_int_equal(dream_warp(src, r90, 1.0, 90.0, DREAM_INTERP_BILINEAR, &err), 0);
    /* dst(x, y) = src(c - (y - c), c + (x - c)) exactly on the grid */
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
            for (int k = 0; k < 2; k++) assert_true(px(r90, x, y, k) == px(src, c - (y - c), c + (x - c), k));
    /* counter-clockwise on screen: what was right of centre is now above it */
    assert_true(px(r90, c, c - 3, 0) == px(src, c + 3, c, 0));
    assert_int_equal(dream_warp(r90, r90x2, 1.0, 90.0, DREAM_INTERP_BICUBIC, &err), 0);
    assert_int_equal(dream_warp(src, r180, 1.0, 180.0, DREAM_INTERP_BICUBIC, &err), 0);
    for (int i = 0; i < n * n * 2; i++) assert_true(fabsf(r90x2->px[i] - r180->px[i]) < 1e-3f);
    assert_true(px(r180, 0, 0, 1) == px(src, n - 1, n - 1, 1));
    dream_image_destroy(&src);
    dream_image_destroy(&r90);
    dream_image_destroy(&r90x2);
    dream_image_destroy(&r180);

    /* non-square, off-grid angles: 90 twice == 180 away from the borders */
    const int w = 48, h = 40;
    dream_image_t *s = smooth_image(w, h), *a = new_image(w, h, 3), *b = new_image(w, h, 3),
                  *d = new_image(w, h, 3);
    assert_int_equal(dream_warp(s, a, 1.0, 90.0, DREAM_INTERP_BILINEAR, &err), 0);
    assert_int_equal(dream_warp(a, b, 1.0, 90.0, DREAM_INTERP_BILINEAR, &err), 0);
    assert_int_equal(dream_warp(s, d, 1.0, 180.0, DREAM_INTERP_BILINEAR, &err), 0);
    double maxd = 0;
    for (int y = 12; y < h - 12; y++)
        for (int x = 12; x < w - 12; x++)
            for (int k = 0; k < 3; k++) maxd = fmax(maxd, fabs(px(b, x, y, k) - px(d, x, y, k)));
    print_message("# 90+90 vs 180 (48x40, interior) max diff %.5f\n", maxd);
    assert_true(maxd < 1e-2);
    dream_image_destroy(&s);
    dream_image_destroy(&a);
    dream_image_destroy(&b);
    dream_image_destroy(&d);
}

static void test_composition(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    const int w = 64, h = 48;
    dream_image_t *s = smooth_image(w, h), *a = new_image(w, h, 3), *b = new_image(w, h, 3),
                  *d = new_image(w, h, 3);
    /* W(1.1, 20) after W(1.2, 10) == W(1.32, 30), interior, smooth image */
    assert_int_equal(dream_warp(s, a, 1.2, 10.0, DREAM_INTERP_BICUBIC, &err), 0);
    assert_int_equal(dream_warp(a, b, 1.1, 20.0, DREAM_INTERP_BICUBIC, &err), 0);
    assert_int_equal(dream_warp(s, d, 1.32, 30.0, DREAM_INTERP_BICUBIC, &err), 0);
    double maxd = 0;
    for (int y = 8; y < h - 8; y++)
        for (int x = 8; x < w - 8; x++)
            for (int k = 0; k < 3; k++) maxd = fmax(maxd, fabs(px(b, x, y, k) - px(d, x, y, k)));
    print_message("# composition max diff %.4f\n", maxd);
    assert_true(maxd < 2.0);
    dream_image_destroy(&s);
    dream_image_destroy(&a);
    dream_image_destroy(&b);
    dream_image_destroy(&d);
}

static void check_ramp(int w, int h, double zoom, double angle, int margin) {
    dream_err_t err = {{0}};
    const double A = 20, BX = 1.5, BY = -0.75 * 160.0 / h;
    dream_image_t *s = ramp_image(w, h, A + 120, BX * 64.0 / w, BY), *bl = new_image(w, h, 3),
                  *bc = new_image(w, h, 3);
    assert_int_equal(dream_warp(s, bl, zoom, angle, DREAM_INTERP_BILINEAR, &err), 0);
    assert_int_equal(dream_warp(s, bc, zoom, angle, DREAM_INTERP_BICUBIC, &err), 0);
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0, r = angle * M_PI / 180.0;
    double maxd = 0, maxa = 0;
    for (int y = margin; y < h - margin; y++)
        for (int x = margin; x < w - margin; x++) {
            double sx = cx + (cos(r) * (x - cx) - sin(r) * (y - cy)) / zoom;
            double sy = cy + (sin(r) * (x - cx) + cos(r) * (y - cy)) / zoom;
            if (sx < 2 || sy < 2 || sx > w - 3 || sy > h - 3) continue;   /* bicubic taps clamp */
            double expect = A + 120 + BX * 64.0 / w * sx + BY * sy;
            maxd = fmax(maxd, fabs(px(bl, x, y, 1) - px(bc, x, y, 1)));
            maxa = fmax(maxa, fabs(px(bl, x, y, 0) - expect));
        }
    print_message("# ramp %dx%d zoom %.2f angle %.1f: bicubic-bilinear %.5f, vs analytic %.5f\n", w, h,
                  zoom, angle, maxd, maxa);
    assert_true(maxd < 5e-3);
    assert_true(maxa < 5e-3);
    dream_image_destroy(&s);
    dream_image_destroy(&bl);
    dream_image_destroy(&bc);
}

static void test_bicubic_bilinear_agree_on_ramps(void **state) {
    (void)state;
    check_ramp(40, 30, 1.3, 17.0, 0);
    check_ramp(40, 30, 0.8, -33.0, 0);
    /* large enough for the two-thread split: both halves must be right */
    int big = getenv("DREAM_TEST_QUICK") ? 520 : 800;
    check_ramp(big, big, 1.05, 3.0, 0);
}

static void test_coverage_mask(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    const int n = 16;
    dream_image_t *s = random_image(n, n, 3), *d = new_image(n, n, 3);
    uint8_t cov[16 * 16];
    /* zoom 0.5: sx = 7.5 + 2 (x - 7.5) inside [-0.5, 15.5] <=> x in 4..11 */
    assert_int_equal(dream_warp_mask(s, d, cov, 0.5, 0.0, DREAM_INTERP_BILINEAR, &err), 0);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) assert_int_equal(cov[y * n + x], x >= 4 && x <= 11 && y >= 4 && y <= 11);
    /* magnification covers everything; a 45 degree turn leaves the corners uncovered */
    assert_int_equal(dream_warp_mask(s, d, cov, 1.5, 0.0, DREAM_INTERP_BICUBIC, &err), 0);
    for (int i = 0; i < n * n; i++) assert_int_equal(cov[i], 1);
    assert_int_equal(dream_warp_mask(s, d, cov, 1.0, 45.0, DREAM_INTERP_BILINEAR, &err), 0);
    assert_int_equal(cov[0], 0);
    assert_int_equal(cov[n * n - 1], 0);
    assert_int_equal(cov[8 * n + 8], 1);
    dream_image_destroy(&s);
    dream_image_destroy(&d);
}

static void test_warp_errors(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *a = new_image(8, 8, 3), *b = new_image(8, 7, 3), *g = new_image(8, 8, 1);
    assert_int_equal(dream_warp(a, b, 1.0, 0.0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_non_null(strstr(err.msg, "size mismatch"));
    assert_int_equal(dream_warp(a, g, 1.0, 0.0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_warp(a, a, 1.0, 0.0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_warp(a, NULL, 1.0, 0.0, DREAM_INTERP_BILINEAR, &err), -1);
    dream_image_t *a2 = new_image(8, 8, 3);
    assert_int_equal(dream_warp(a, a2, 0.0, 0.0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_warp(a, a2, NAN, 0.0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_warp(a, a2, 1.0, INFINITY, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_warp(a, a2, 1.0, 0.0, (dream_interp_t)7, &err), -1);
    /* extreme but valid zooms do not crash */
    assert_int_equal(dream_warp(a, a2, 1e-5, 1e5, DREAM_INTERP_BICUBIC, &err), 0);
    assert_int_equal(dream_warp(a, a2, 1e5, -3.0, DREAM_INTERP_BICUBIC, &err), 0);
    assert_int_equal(dream_interpolate(a, b, 1.1, 0.0, 0.5, a2, &err), -1);
    assert_int_equal(dream_interpolate(a, a2, 1.1, 0.0, 1.5, a2, &err), -1);
    assert_int_equal(dream_interpolate(a, a2, 1.1, 0.0, 0.5, a2, &err), -1);   /* out aliases next */
    dream_image_t *o = new_image(8, 8, 3);
    assert_int_equal(dream_interpolate(a, a2, 1.1, 0.0, NAN, o, &err), -1);
    assert_int_equal(dream_interpolate(a, a2, -1.0, 0.0, 0.5, o, &err), -1);
    dream_image_destroy(&a);
    dream_image_destroy(&a2);
    dream_image_destroy(&b);
    dream_image_destroy(&g);
    dream_image_destroy(&o);
}

static void test_interpolate_endpoints(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    const int w = 40, h = 30;
    dream_image_t *prev = random_image(w, h, 3), *next = random_image(w, h, 3), *out = new_image(w, h, 3);
    assert_int_equal(dream_interpolate(prev, next, 1.3, 4.0, 0.0, out, &err), 0);
    assert_memory_equal(out->px, prev->px, (size_t)w * h * 3 * sizeof(float));
    assert_int_equal(dream_interpolate(prev, next, 1.3, 4.0, 1.0, out, &err), 0);
    assert_memory_equal(out->px, next->px, (size_t)w * h * 3 * sizeof(float));
    dream_image_destroy(&prev);
    dream_image_destroy(&next);
    dream_image_destroy(&out);
}

static void test_interpolate_uncovered_from_prev(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    const int w = 40, h = 30;
    const double zoom = 1.5, angle = 6.0, t = 0.5;
    dream_image_t *prev = smooth_image(w, h), *next = new_image(w, h, 3), *out = new_image(w, h, 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) next->px[i] = 200.0f;
    assert_int_equal(dream_interpolate(prev, next, zoom, angle, t, out, &err), 0);
    /* expected pieces: prev forward by (zoom^t, t angle); next's backward coverage */
    dream_image_t *pw = new_image(w, h, 3), *nw = new_image(w, h, 3);
    uint8_t *cov = malloc((size_t)w * h);
    assert_int_equal(dream_warp(prev, pw, pow(zoom, t), t * angle, DREAM_INTERP_BILINEAR, &err), 0);
    assert_int_equal(dream_warp_mask(next, nw, cov, pow(zoom, t - 1), (t - 1) * angle,
                                     DREAM_INTERP_BILINEAR, &err), 0);
    int ncov = 0;
    for (int i = 0; i < w * h; i++) {
        ncov += cov[i];
        for (int k = 0; k < 3; k++) {
            float expect = cov[i] ? 0.5f * pw->px[i * 3 + k] + 0.5f * 200.0f : pw->px[i * 3 + k];
            assert_true(fabsf(out->px[i * 3 + k] - expect) < 1e-3f);
        }
    }
    /* next shrinks by 1.5^-0.5: a border is uncovered, the middle is covered */
    assert_int_equal(cov[0], 0);
    assert_int_equal(cov[(h / 2) * w + w / 2], 1);
    assert_true(ncov > w * h / 3 && ncov < w * h * 9 / 10);
    print_message("# t=0.5: %d of %d pixels covered by next\n", ncov, w * h);
    assert_true(out->px[0] == pw->px[0] && out->px[0] != 0.5f * pw->px[0] + 100.0f);
    free(cov);
    dream_image_destroy(&pw);
    dream_image_destroy(&nw);
    dream_image_destroy(&prev);
    dream_image_destroy(&next);
    dream_image_destroy(&out);
}

static void test_interpolate_consistent_motion(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    /* if next really is prev warped by (zoom, angle), every t gives prev warped by (zoom^t, t angle) */
    const int w = 64, h = 48;
    const double zoom = 1.2, angle = 8.0;
    dream_image_t *prev = smooth_image(w, h), *next = new_image(w, h, 3), *out = new_image(w, h, 3),
                  *ref = new_image(w, h, 3);
    assert_int_equal(dream_warp(prev, next, zoom, angle, DREAM_INTERP_BICUBIC, &err), 0);
    for (double t = 0.25; t < 0.9; t += 0.25) {
        assert_int_equal(dream_interpolate(prev, next, zoom, angle, t, out, &err), 0);
        assert_int_equal(dream_warp(prev, ref, pow(zoom, t), t * angle, DREAM_INTERP_BICUBIC, &err), 0);
        double maxd = 0;
        for (int y = 6; y < h - 6; y++)
            for (int x = 6; x < w - 6; x++)
                for (int k = 0; k < 3; k++) maxd = fmax(maxd, fabs(px(out, x, y, k) - px(ref, x, y, k)));
        print_message("# t=%.2f max diff to the direct warp %.3f\n", t, maxd);
        assert_true(maxd < 1.0);
    }
    /* with the angle sign flipped the motion is inconsistent and the check would fail */
    assert_int_equal(dream_interpolate(prev, next, zoom, -angle, 0.5, out, &err), 0);
    assert_int_equal(dream_warp(prev, ref, pow(zoom, 0.5), 0.5 * angle, DREAM_INTERP_BICUBIC, &err), 0);
    double maxd = 0;
    for (int y = 6; y < h - 6; y++)
        for (int x = 6; x < w - 6; x++) maxd = fmax(maxd, fabs(px(out, x, y, 0) - px(ref, x, y, 0)));
    print_message("# flipped angle: max diff %.3f\n", maxd);
    assert_true(maxd > 3.0);
    dream_image_destroy(&prev);
    dream_image_destroy(&next);
    dream_image_destroy(&out);
    dream_image_destroy(&ref);
}

/* canvas -> stream size in one warp: a ramp resized by (Ws/Wd, Hs/Hd) with pixel centres
 * aligned lands exactly where the geometry says (bilinear and bicubic are exact on ramps);
 * same size is bit-identical to dream_warp; a crossfade into a larger frame at w = 0 is the
 * scaled warp of prev */
static void test_scaled_warp(void **s) {
    (void)s;
    dream_err_t err = {{0}};
    const int ws = 84, hs = 47, wd = 102, hd = 57;
    dream_image_t *src = ramp_image(ws, hs, 20, 1.1, 0.7), *dst = new_image(wd, hd, 3);
    const double kx = (double)ws / wd, ky = (double)hs / hd;
    for (int interp = 0; interp < 2; interp++) {
        assert_int_equal(dream_warp_scaled(src, dst, NULL, 1.0, 0.0, (dream_interp_t)interp, &err), 0);
        for (int y = 3; y < hd - 3; y++)
            for (int x = 3; x < wd - 3; x++) {
                double sx = (x + 0.5) * kx - 0.5, sy = (y + 0.5) * ky - 0.5;
                assert_float_equal(px(dst, x, y, 1), 20 + 1.1 * sx + 0.7 * sy + 10, 1e-3);
            }
        /* zoom 1.3 and 7 degrees about the centres, still on the ramp */
        assert_int_equal(dream_warp_scaled(src, dst, NULL, 1.3, 7.0, (dream_interp_t)interp, &err), 0);
        double a = cos(7 * M_PI / 180) / 1.3, b = sin(7 * M_PI / 180) / 1.3;
        for (int y = 8; y < hd - 8; y++)
            for (int x = 8; x < wd - 8; x++) {
                double dx = x - (wd - 1) / 2.0, dy = y - (hd - 1) / 2.0;
                double sx = (ws - 1) / 2.0 + kx * (a * dx - b * dy), sy = (hs - 1) / 2.0 + ky * (b * dx + a * dy);
                assert_float_equal(px(dst, x, y, 0), 20 + 1.1 * sx + 0.7 * sy, 1e-3);
            }
    }
    /* same size: exactly dream_warp */
    dream_image_t *r = random_image(64, 40, 3), *a1 = new_image(64, 40, 3), *a2 = new_image(64, 40, 3);
    assert_int_equal(dream_warp(r, a1, 1.07, -3.0, DREAM_INTERP_BICUBIC, &err), 0);
    assert_int_equal(dream_warp_scaled(r, a2, NULL, 1.07, -3.0, DREAM_INTERP_BICUBIC, &err), 0);
    assert_memory_equal(a1->px, a2->px, sizeof(float) * 64 * 40 * 3);
    /* crossfade to a larger frame: w = 0 is prev's scaled warp, w = 1 next's where covered */
    dream_image_t *big = new_image(96, 60, 3), *ref = new_image(96, 60, 3);
    assert_int_equal(dream_crossfade(r, 1.02, 0.5, a1, 0.98, -0.5, 0.0, big, &err), 0);
    assert_int_equal(dream_warp_scaled(r, ref, NULL, 1.02, 0.5, DREAM_INTERP_BILINEAR, &err), 0);
    assert_memory_equal(big->px, ref->px, sizeof(float) * 96 * 60 * 3);
    assert_int_equal(dream_crossfade(r, 1.0, 0, a1, 1.0, 0, 1.0, big, &err), 0);
    assert_int_equal(dream_warp_scaled(a1, ref, NULL, 1.0, 0, DREAM_INTERP_BILINEAR, &err), 0);
    assert_memory_equal(big->px, ref->px, sizeof(float) * 96 * 60 * 3);
    /* dream_interpolate into a larger frame = the crossfade with the reference's warps */
    assert_int_equal(dream_interpolate(r, a1, 1.07, -3.0, 0.4, big, &err), 0);
    assert_int_equal(dream_crossfade(r, pow(1.07, 0.4), 0.4 * -3.0, a1, pow(1.07, -0.6), -0.6 * -3.0, 0.4, ref, &err), 0);
    assert_memory_equal(big->px, ref->px, sizeof(float) * 96 * 60 * 3);
    /* errors */
    dream_image_t *g = new_image(20, 20, 1);
    assert_int_equal(dream_warp_scaled(r, g, NULL, 1, 0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_warp_scaled(r, r, NULL, 1, 0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_warp_scaled(r, big, NULL, 0, 0, DREAM_INTERP_BILINEAR, &err), -1);
    assert_int_equal(dream_crossfade(r, 1, 0, a1, 1, 0, 1.5, big, &err), -1);
    dream_image_destroy(&g);
    dream_image_destroy(&src);
    dream_image_destroy(&dst);
    dream_image_destroy(&r);
    dream_image_destroy(&a1);
    dream_image_destroy(&a2);
    dream_image_destroy(&big);
    dream_image_destroy(&ref);
}

/* The coordinator's keyframe arithmetic over 200 keyframes (server/coord.c kf_start/kf_finish):
 * the canvas is float; tiles go out as round(bicubic warp) (dream_warp_rect_rgb8) and come back
 * as round(sent + change); the canvas takes base + (result - sent). Against the float reference
 * (canvas = warp + change, no rounding):
 *  - no change (steps 0): bit-identical after 200 keyframes (the warp chain is float);
 *  - a non-integer change every keyframe: the only error is each keyframe's rounding of its own
 *    change (|e| <= 0.5, zero-mean, since the input's rounding cancels). It does not drift: it
 *    adds up like a random walk (about sqrt(K), measured mean |e| 1.3 at 100 and 1.9 levels at 200
 *    keyframes; a drift would double), where the old 8-bit canvas drifts ten times further.
 * The old 8-bit canvas (--canvas-8bit: canvas = result) is measured alongside. */
static float change(int x, int y, int k) {
    /* a smooth, signed, non-integer change, different every keyframe */
    return (float)(2.3 * sin(0.21 * x + 0.7 * k) * cos(0.17 * y - 0.3 * k) + 0.37 * sin(1.3 * k));
}

static void run_chain(int K, int mode, const dream_image_t *start, const dream_image_t *ref_out, double *mean, double *maxe,
                      dream_image_t *out) {
    /* mode 0: float reference, 1: float canvas + 8-bit change, 2: 8-bit canvas */
    dream_err_t err = {{0}};
    const int W = start->w, H = start->h;
    const size_t nc = (size_t)W * H * 3;
    dream_image_t *cv = dream_image_clone(start, &err), *base = new_image(W, H, 3);
    uint8_t *sent = malloc(nc), *res = malloc(nc);
    assert_non_null(sent);
    assert_non_null(res);
    const double zoom = pow(1.05, 8 / 25.0), ang = -0.08;      /* N = 8 frames per keyframe */
    for (int k = 0; k < K; k++) {
        assert_int_equal(dream_warp(cv, base, zoom, ang, DREAM_INTERP_BICUBIC, &err), 0);
        if (mode == 0) {
            for (size_t i = 0; i < nc; i++) {
                int x = (int)(i / 3 % W), y = (int)(i / 3 / W);
                float v = base->px[i] + change(x, y, k);
                cv->px[i] = v < 0 ? 0 : v > 255 ? 255 : v;
            }
            continue;
        }
        assert_int_equal(dream_warp_rect_rgb8(cv, zoom, ang, DREAM_INTERP_BICUBIC, 0, 0, W, H, sent, &err), 0);
        for (size_t i = 0; i < nc; i++) {       /* the worker: float change from its 8-bit input, rounded */
            int x = (int)(i / 3 % W), y = (int)(i / 3 / W);
            res[i] = dream_u8_from_float((float)sent[i] + change(x, y, k));
        }
        for (size_t i = 0; i < nc; i++)
            cv->px[i] = mode == 2 ? (float)res[i] : fminf(255.0f, fmaxf(0.0f, base->px[i] + (float)((int)res[i] - (int)sent[i])));
    }
    if (ref_out) {
        double sum = 0, mx = 0;
        for (size_t i = 0; i < nc; i++) {
            double e = fabs((double)cv->px[i] - ref_out->px[i]);
            sum += e;
            if (e > mx) mx = e;
        }
        *mean = sum / nc;
        *maxe = mx;
    }
    if (out) memcpy(out->px, cv->px, nc * sizeof(float));
    free(sent);
    free(res);
    dream_image_destroy(&cv);
    dream_image_destroy(&base);
}

/* the RGB bicubic fast path (interior taps, channels as vector lanes) computes what the general
 * per-channel path computes, bit for bit: a 4-channel copy takes the general path */
static void test_bicubic_rgb_fast_path_bit_identical(void **s) {
    (void)s;
    const int W = 97, H = 61;
    dream_image_t *a3 = new_image(W, H, 3), *a4 = new_image(W, H, 4);
    dream_image_t *o3 = new_image(W, H, 3), *o4 = new_image(W, H, 4);
    for (int i = 0; i < W * H; i++) {
        for (int c = 0; c < 3; c++) a4->px[4 * i + c] = a3->px[3 * i + c] = rndf() + rndf() / 256.0f;
        a4->px[4 * i + 3] = rndf();
    }
    const double zooms[] = {1.0, 1.013, 0.97, 2.5}, angles[] = {0.0, -0.25, 7.0, 33.0};
    dream_err_t err = {{0}};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(dream_warp(a3, o3, zooms[k], angles[k], DREAM_INTERP_BICUBIC, &err), 0);
        assert_int_equal(dream_warp(a4, o4, zooms[k], angles[k], DREAM_INTERP_BICUBIC, &err), 0);
        for (int i = 0; i < W * H; i++)
            for (int c = 0; c < 3; c++)
                if (memcmp(&o3->px[3 * i + c], &o4->px[4 * i + c], sizeof(float)) != 0)
                    fail_msg("zoom %g angle %g pixel %d,%d ch %d: %.9g vs %.9g", zooms[k], angles[k], i % W, i / W, c,
                             o3->px[3 * i + c], o4->px[4 * i + c]);
    }
    dream_image_destroy(&a3);
    dream_image_destroy(&a4);
    dream_image_destroy(&o3);
    dream_image_destroy(&o4);
}

/* a tile warped from a window of the canvas (what a --tile-warp worker does) is bit for bit the
 * same rect of the whole canvas's warp, for rects anywhere (edges and corners included); a
 * window one pixel short is refused */
static void test_warp_window_matches_whole(void **s) {
    (void)s;
    const int W = 203, H = 131;
    dream_image_t *c = new_image(W, H, 3), *full = new_image(W, H, 3);
    for (int i = 0; i < W * H * 3; i++) c->px[i] = rndf() + rndf() / 256.0f;
    const double zooms[] = {1.0, 1.004, 1.3, 0.9}, angles[] = {0.0, -0.04, 11.0, -3.0};
    const int rects[][4] = {{0, 0, 64, 40}, {150, 90, 53, 41}, {70, 30, 60, 70}, {0, 100, 203, 31}, {0, 0, 203, 131}};
    dream_err_t err = {{0}};
    for (int ip = 0; ip < 2; ip++) {
        dream_interp_t interp = ip ? DREAM_INTERP_BICUBIC : DREAM_INTERP_BILINEAR;
        for (int k = 0; k < 4; k++) {
            assert_int_equal(dream_warp(c, full, zooms[k], angles[k], interp, &err), 0);
            for (int r = 0; r < 5; r++) {
                int rx = rects[r][0], ry = rects[r][1], rw = rects[r][2], rh = rects[r][3], sx, sy, sw, sh;
                assert_int_equal(dream_warp_source_rect(W, H, zooms[k], angles[k], interp, rx, ry, rw, rh, &sx, &sy, &sw, &sh, &err), 0);
                assert_true(sx >= 0 && sy >= 0 && sx + sw <= W && sy + sh <= H);
                float *win = malloc((size_t)sw * sh * 3 * sizeof(float)), *out = malloc((size_t)rw * rh * 3 * sizeof(float));
                assert_non_null(win);
                assert_non_null(out);
                for (int y = 0; y < sh; y++) memcpy(win + (size_t)y * sw * 3, c->px + ((size_t)(sy + y) * W + sx) * 3, (size_t)sw * 3 * sizeof(float));
                assert_int_equal(dream_warp_window(win, sx, sy, sw, sh, W, H, zooms[k], angles[k], interp, rx, ry, rw, rh, out, &err), 0);
                for (int y = 0; y < rh; y++)
                    if (memcmp(out + (size_t)y * rw * 3, full->px + ((size_t)(ry + y) * W + rx) * 3, (size_t)rw * 3 * sizeof(float)))
                        fail_msg("interp %d zoom %g angle %g rect %dx%d+%d+%d: row %d differs", ip, zooms[k], angles[k], rw, rh, rx, ry, y);
                if (sw > 1 && sx > 0) {     /* one column short on the left: refused, not read */
                    assert_int_equal(dream_warp_window(win + 3, sx + 1, sy, sw - 1, sh, W, H, zooms[k], angles[k], interp,
                                                       rx, ry, rw, rh, out, &err), -1);
                    assert_non_null(strstr(err.msg, "does not hold"));
                }
                free(win);
                free(out);
            }
        }
    }
    int sx, sy, sw, sh;
    assert_int_equal(dream_warp_source_rect(W, H, 1.0, 0.0, DREAM_INTERP_BICUBIC, 200, 0, 10, 10, &sx, &sy, &sw, &sh, &err), -1);
    assert_int_equal(dream_warp_source_rect(W, H, NAN, 0.0, DREAM_INTERP_BICUBIC, 0, 0, 10, 10, &sx, &sy, &sw, &sh, &err), -1);
    dream_image_destroy(&c);
    dream_image_destroy(&full);
}

static void test_float_canvas_200_keyframes(void **s) {
    (void)s;
    const int W = 120, H = 68;
    dream_image_t *start = smooth_image(W, H), *ref = new_image(W, H, 3), *got = new_image(W, H, 3);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) start->px[i] = (float)(start->px[i] * 0.8 + 20.3);   /* not on the 8-bit grid */
    double m100, x100, m200, x200, m8, x8;
    run_chain(100, 0, start, NULL, NULL, NULL, ref);
    run_chain(100, 1, start, ref, &m100, &x100, NULL);
    run_chain(200, 0, start, NULL, NULL, NULL, ref);
    run_chain(200, 1, start, ref, &m200, &x200, NULL);
    run_chain(200, 2, start, ref, &m8, &x8, NULL);
    print_message("# float canvas + 8-bit change vs float: mean |e| %.3f (100 kf) %.3f (200 kf), max %.2f / %.2f; "
                  "8-bit canvas: mean %.3f max %.2f\n", m100, m200, x100, x200, m8, x8);
    assert_true(m200 < 2.5);
    assert_true(m200 < m100 * 1.6);            /* ~sqrt(2) from 100 to 200 keyframes: no linear drift */
    assert_true(m8 > 4 * m200);                /* the float canvas is far closer than the 8-bit one */
    /* steps 0 (no change): the float-delta canvas is the float reference exactly */
    dream_err_t err = {{0}};
    dream_image_t *cv = dream_image_clone(start, &err), *fl = dream_image_clone(start, &err), *base = new_image(W, H, 3),
                  *tmp = new_image(W, H, 3);
    uint8_t *sent = malloc((size_t)W * H * 3);
    assert_non_null(sent);
    for (int k = 0; k < 200; k++) {
        assert_int_equal(dream_warp(cv, base, 1.0157, -0.08, DREAM_INTERP_BICUBIC, &err), 0);
        assert_int_equal(dream_warp_rect_rgb8(cv, 1.0157, -0.08, DREAM_INTERP_BICUBIC, 0, 0, W, H, sent, &err), 0);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) cv->px[i] = base->px[i] + (float)((int)sent[i] - (int)sent[i]);
        assert_int_equal(dream_warp(fl, tmp, 1.0157, -0.08, DREAM_INTERP_BICUBIC, &err), 0);
        memcpy(fl->px, tmp->px, sizeof(float) * W * H * 3);
    }
    assert_memory_equal(cv->px, fl->px, sizeof(float) * W * H * 3);
    free(sent);
    dream_image_destroy(&cv);
    dream_image_destroy(&fl);
    dream_image_destroy(&base);
    dream_image_destroy(&tmp);
    dream_image_destroy(&start);
    dream_image_destroy(&ref);
    dream_image_destroy(&got);
}

/* px88.h's vector passes are bit for bit their scalar definitions: every 16-bit value, and
 * floats around every 8.8 step, the clamps, -0.0, huge values and odd lengths (the tails) */
static void test_px88_vectors_match_scalar(void **state) {
    (void)state;
    enum { N = 65536 + 3 };
    uint8_t *q = malloc(2 * N), *q2 = malloc(2 * N);
    float *f = malloc(sizeof(float) * N), *g = malloc(sizeof(float) * N);
    assert_non_null(q); assert_non_null(q2); assert_non_null(f); assert_non_null(g);
    for (int i = 0; i < N; i++) { q[2 * i] = (uint8_t)(i & 0xff); q[2 * i + 1] = (uint8_t)((i >> 8) & 0xff); }
    for (size_t n = N - 3; n <= N; n++) {         /* 65536 .. 65539 values: every tail length */
        px88_to_float(q, f, n);
        for (size_t i = 0; i < n; i++) {
            float want = (float)(q[2 * i] | (q[2 * i + 1] << 8)) * (1.0f / 256.0f);
            if (memcmp(&f[i], &want, sizeof want)) fail_msg("to_float %zu: %.9g != %.9g", i, f[i], want);
        }
    }
    /* floats: every 1/512 step from -2 to 257 plus neighbours, -0.0, large, tiny */
    int m = 0;
    for (int k = -1024; k <= 257 * 512 && m + 3 < N; k++) {
        float v = (float)k / 512.0f;
        f[m++] = v;
        if (k % 7 == 0) f[m++] = nextafterf(v, 1e9f);
        if (k % 5 == 0) f[m++] = nextafterf(v, -1e9f);
    }
    f[0] = -0.0f; f[1] = 1e30f; f[2] = -1e30f; f[3] = 1e-40f;
    memcpy(g, f, sizeof(float) * m);
    for (int n = m - 3; n <= m; n++) {
        px88_from_float(f, q2, (size_t)n);
        for (int i = 0; i < n; i++) {
            float v = f[i];
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            uint16_t u = (uint16_t)(v * 256.0f + 0.5f);
            if (q2[2 * i] != (u & 0xff) || q2[2 * i + 1] != (u >> 8)) fail_msg("from_float %d (%.9g)", i, f[i]);
        }
    }
    px88_clip255(g, (size_t)m - 1);
    for (int i = 0; i < m - 1; i++) {
        float v = f[i];
        v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        if (memcmp(&g[i], &v, sizeof v)) fail_msg("clip %d: %.9g != %.9g", i, g[i], v);
    }
    assert_true(memcmp(&g[m - 1], &f[m - 1], sizeof(float)) == 0);    /* past n: untouched */
    /* px88_in_range: every value <= 65280 passes; one value above it anywhere (vector part or
     * tail) fails */
    for (int i = 0; i < N; i++) {
        unsigned v = (unsigned)i % 65281u;
        q[2 * i] = (uint8_t)(v & 0xff);
        q[2 * i + 1] = (uint8_t)(v >> 8);
    }
    assert_true(px88_in_range(q, N));
    static const size_t at[] = {0, 7, 8, 1000, N - 9, N - 3, N - 1};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        uint8_t lo = q[2 * at[k]], hi = q[2 * at[k] + 1];
        q[2 * at[k]] = 0x01; q[2 * at[k] + 1] = 0xff;     /* 65281 */
        assert_false(px88_in_range(q, N));
        q[2 * at[k]] = lo; q[2 * at[k] + 1] = hi;
    }
    assert_true(px88_in_range(q, N));
    /* px_round_u8 is dream_u8_from_float for every input: the 1/512 sweep above, NaN, infinities,
     * -0.0, the rounding boundaries, every tail length */
    uint8_t *u8 = malloc((size_t)m + 16);
    assert_non_null(u8);
    f[4] = NAN; f[5] = INFINITY; f[6] = -INFINITY; f[7] = 254.5f; f[8] = nextafterf(254.5f, 0.0f); f[9] = 255.0f;
    f[10] = 0.5f; f[11] = nextafterf(0.5f, 0.0f); f[12] = 1e-45f; f[13] = -1e-45f;
    for (int n = m - 3; n <= m; n++) {
        px_round_u8(f, u8, (size_t)n);
        for (int i = 0; i < n; i++)
            if (u8[i] != dream_u8_from_float(f[i])) fail_msg("round_u8 %d (%.9g): %u != %u", i, f[i], u8[i], dream_u8_from_float(f[i]));
    }
    free(u8);
    free(q); free(q2); free(f); free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_exact),
        cmocka_unit_test(test_zoom2_known_pattern),
        cmocka_unit_test(test_rotate_direction_and_quarter_turns),
        cmocka_unit_test(test_composition),
        cmocka_unit_test(test_bicubic_bilinear_agree_on_ramps),
        cmocka_unit_test(test_coverage_mask),
        cmocka_unit_test(test_warp_errors),
        cmocka_unit_test(test_interpolate_endpoints),
        cmocka_unit_test(test_interpolate_uncovered_from_prev),
        cmocka_unit_test(test_interpolate_consistent_motion),
        cmocka_unit_test(test_scaled_warp),
        cmocka_unit_test(test_bicubic_rgb_fast_path_bit_identical),
        cmocka_unit_test(test_warp_window_matches_whole),
        cmocka_unit_test(test_float_canvas_200_keyframes),
        cmocka_unit_test(test_px88_vectors_match_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
