/*
 * test_blend.c — feathered tile blending (server/blend.c): tiles that disagree
 * slightly (per-tile offsets, as real tiles do) leave no seam — the mean
 * gradient magnitude across tile borders is at most 1.1x the interior's —
 * while a hard paste of the same tiles fails that bound; a missing tile is
 * filled from the base (warped previous keyframe) without a seam; the ramps
 * of two neighbours sum to one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "blend.h"
#include "tiles.h"

static dream_image_t *texture(int W, int H) {
    dream_image_t *im = malloc(sizeof *im);
    im->w = W; im->h = H; im->c = 3;
    im->px = malloc((size_t)W * H * 3 * sizeof(float));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                im->px[((size_t)y * W + x) * 3 + c] =
                    (float)(120 + 40 * sin(x * 0.11 + c) * cos(y * 0.07 - c) + 20 * sin((x + y) * 0.05));
    return im;
}

static void image_free(dream_image_t *im) { free(im->px); free(im); }

/* rgb8 tile of the texture with a per-tile brightness offset */
static uint8_t *tile_pixels(const dream_image_t *tex, const tile_t *t, float offset) {
    uint8_t *px = malloc((size_t)t->r.w * t->r.h * 3);
    for (int y = 0; y < t->r.h; y++)
        for (int x = 0; x < t->r.w; x++)
            for (int c = 0; c < 3; c++) {
                float v = tex->px[((size_t)(t->r.y + y) * tex->w + t->r.x + x) * 3 + c] + offset;
                px[((size_t)y * t->r.w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
            }
    return px;
}

/* mean |dI/dx| over the columns at vertical core borders, and over columns far from any border */
static void gradients(const dream_image_t *im, const tile_plan_t *pl, int halo, double *border, double *interior) {
    int W = im->w, H = im->h;
    uint8_t *isb = calloc((size_t)W, 1), *near = calloc((size_t)W, 1);
    for (int k = 0; k < pl->n; k++) {
        int b = pl->tiles[k].core.x;
        if (b <= 0) continue;
        isb[b] = 1;
        for (int x = b - 2 * halo; x <= b + 2 * halo; x++)
            if (x >= 0 && x < W) near[x] = 1;
    }
    double sb = 0, si = 0;
    long nb = 0, ni = 0;
    for (int x = 1; x < W; x++)
        for (int y = 0; y < H; y++)
            for (int c = 0; c < 3; c++) {
                double g = fabs(im->px[((size_t)y * W + x) * 3 + c] - im->px[((size_t)y * W + x - 1) * 3 + c]);
                if (isb[x]) { sb += g; nb++; }
                else if (!near[x]) { si += g; ni++; }
            }
    *border = sb / (double)nb;
    *interior = si / (double)ni;
    free(isb);
    free(near);
}

static void run_blend(int hard, int skip_tile, double *ratio, dream_image_t **out_img, tile_plan_t *pl_out) {
    int quick = getenv("DREAM_TEST_QUICK") != NULL;
    int W = quick ? 720 : 1280, H = quick ? 400 : 720, halo = 64;
    tile_plan_params_t p = {W, H, halo, 224, 10, 20, 64, 0};
    tile_plan_t pl;
    assert_int_equal(tile_plan_grid(&p, 3, 2, 37, -21, &pl, NULL), 0);
    dream_image_t *tex = texture(W, H);
    dream_image_t *base = texture(W, H);
    dream_image_t *out = texture(W, H);
    blend_t *b = blend_new(W, H, NULL);
    assert_non_null(b);
    static const float offs[] = {6, -6, 4, -5, 7, -3};
    for (int k = 0; k < pl.n; k++) {
        if (k == skip_tile) continue;
        tile_t t = pl.tiles[k];
        if (hard) {  /* hard paste: only the core, no feathers */
            t.r = t.core;
            memset(t.feather, 0, sizeof t.feather);
        }
        uint8_t *px = tile_pixels(tex, &t, offs[k % 6]);
        assert_int_equal(blend_add_rgb8(b, &t, px, NULL), 0);
        free(px);
    }
    assert_int_equal(blend_finish(b, base, out, NULL), 0);
    double gb, gi;
    gradients(out, &pl, halo, &gb, &gi);
    *ratio = gb / gi;
    blend_destroy(&b);
    assert_null(b);
    image_free(tex);
    image_free(base);
    if (out_img) *out_img = out;
    else image_free(out);
    if (pl_out) *pl_out = pl;
}

static void test_no_seams(void **s) {
    (void)s;
    double r;
    run_blend(0, -1, &r, NULL, NULL);
    print_message("feathered: border/interior gradient = %.3f\n", r);
    assert_true(r <= 1.1);
}

static void test_hard_paste_has_seams(void **s) {
    (void)s;
    double r;
    run_blend(1, -1, &r, NULL, NULL);
    print_message("hard paste: border/interior gradient = %.3f\n", r);
    assert_true(r > 1.1);   /* the metric does see seams */
}

static void test_missing_tile_filled_from_base(void **s) {
    (void)s;
    double r;
    dream_image_t *out;
    tile_plan_t pl;
    run_blend(0, 4, &r, &out, &pl);
    print_message("missing tile: border/interior gradient = %.3f\n", r);
    assert_true(r <= 1.1);
    /* deep inside the missing tile's core the output is the base exactly */
    dream_image_t *base = texture(out->w, out->h);
    const tile_t *t = &pl.tiles[4];
    int cx = t->core.x + t->core.w / 2, cy = t->core.y + t->core.h / 2;
    for (int c = 0; c < 3; c++)
        assert_float_equal(out->px[((size_t)cy * out->w + cx) * 3 + c], base->px[((size_t)cy * out->w + cx) * 3 + c], 1e-2);
    image_free(base);
    image_free(out);
}

static void test_ramps_partition(void **s) {
    (void)s;
    /* tile A [0, 300) with its right feather 128; tile B starts at 172 with a left feather 128 */
    for (int x = 172; x < 300; x++) {
        float a = blend_ramp(x, 300, 0, 128), b = blend_ramp(x - 172, 400, 128, 0);
        assert_float_equal(a + b, 1.0, 1e-5);
    }
    assert_float_equal(blend_ramp(0, 300, 0, 0), 1.0, 1e-6);
    assert_true(blend_ramp(0, 300, 128, 0) < 0.01);
    dream_err_t err = {{0}};
    blend_t *b = blend_new(100, 100, &err);
    tile_t bad = {{90, 0, 20, 20}, {90, 0, 10, 20}, {0, 0, 0, 0}};
    uint8_t px[20 * 20 * 3] = {0};
    assert_int_equal(blend_add_rgb8(b, &bad, px, &err), -1);
    assert_non_null(strstr(err.msg, "outside"));
    blend_destroy(&b);
    blend_destroy(&b);  /* NULL-safe */
    assert_null(blend_new(0, 10, &err));
}

/* the float canvas's delta blend (one accumulator): base + blend(w (res - sent)) equals
 * blend(res) - blend(sent) + base of two separate blends, and no change gives base bit for bit;
 * a tile missing from the delta blend leaves base there */
static void test_delta_blend(void **s) {
    (void)s;
    int W = 640, H = 400, halo = 64;
    tile_plan_params_t p = {W, H, halo, 224, 10, 20, 64, 0};
    tile_plan_t pl;
    assert_int_equal(tile_plan_grid(&p, 2, 2, 11, -7, &pl, NULL), 0);
    dream_image_t *base = texture(W, H), *tex = texture(W, H);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) base->px[i] += 0.37f;   /* not an integer */
    dream_image_t *a = texture(W, H), *b2 = texture(W, H), *d = texture(W, H), *z = texture(W, H);
    blend_t *br = blend_new(W, H, NULL), *bs = blend_new(W, H, NULL), *bd = blend_new(W, H, NULL),
            *b0 = blend_new(W, H, NULL);
    static const float offs[] = {6, -6, 4, -5};
    for (int k = 0; k < pl.n; k++) {
        uint8_t *sent = tile_pixels(base, &pl.tiles[k], 0), *res = tile_pixels(tex, &pl.tiles[k], offs[k]);
        assert_int_equal(blend_add_rgb8(br, &pl.tiles[k], res, NULL), 0);
        assert_int_equal(blend_add_rgb8(bs, &pl.tiles[k], sent, NULL), 0);
        if (k != 3) assert_int_equal(blend_add_delta_rgb8(bd, &pl.tiles[k], res, sent, NULL), 0);
        assert_int_equal(blend_add_delta_rgb8(b0, &pl.tiles[k], sent, sent, NULL), 0);
        free(sent);
        free(res);
    }
    blend_t *bd3 = blend_new(W, H, NULL);
    assert_int_equal(blend_finish(br, base, a, NULL), 0);
    assert_int_equal(blend_finish(bs, base, b2, NULL), 0);
    assert_int_equal(blend_finish_delta(b0, base, z, NULL), 0);
    /* full delta blend (tile 3 too) for the equality check */
    for (int k = 0; k < pl.n; k++) {
        uint8_t *sent = tile_pixels(base, &pl.tiles[k], 0), *res = tile_pixels(tex, &pl.tiles[k], offs[k]);
        assert_int_equal(blend_add_delta_rgb8(bd3, &pl.tiles[k], res, sent, NULL), 0);
        free(sent);
        free(res);
    }
    assert_int_equal(blend_finish_delta(bd3, base, d, NULL), 0);
    double maxdiff = 0;
    for (size_t i = 0; i < (size_t)W * H * 3; i++) {
        float ref = a->px[i] - b2->px[i] + base->px[i];
        ref = ref < 0 ? 0 : ref > 255 ? 255 : ref;
        double df = fabs(ref - d->px[i]);
        if (df > maxdiff) maxdiff = df;
        assert_true(z->px[i] == base->px[i]);     /* no change: base exactly */
    }
    print_message("delta blend vs two blends: max |diff| = %.2g\n", maxdiff);
    assert_true(maxdiff < 1e-3);
    /* tile 3 missing: deep in its core the delta blend is base */
    assert_int_equal(blend_finish_delta(bd, base, d, NULL), 0);
    const tile_t *t = &pl.tiles[3];
    size_t k = ((size_t)(t->core.y + t->core.h / 2) * W + t->core.x + t->core.w / 2) * 3;
    assert_float_equal(d->px[k], base->px[k], 1e-2);
    assert_true(fabs(d->px[0] - base->px[0]) > 1.0);   /* tile 0 did change its corner */
    blend_destroy(&br); blend_destroy(&bs); blend_destroy(&bd); blend_destroy(&b0); blend_destroy(&bd3);
    image_free(base); image_free(tex); image_free(a); image_free(b2); image_free(d); image_free(z);
}

/* the in-place variant of the coordinator (what one tile alone covers is written on arrival,
 * overlaps at the end, the accumulator cleared by the finish) == the two-pass delta blend bit
 * for bit, with tiles arriving in any order, a missing tile, and two keyframes in a row on the
 * same accumulator */
static void test_delta_plan_equals_delta(void **s) {
    (void)s;
    int W = 700, H = 420, halo = 64;
    tile_plan_params_t p = {W, H, halo, 224, 10, 20, 64, 0};
    dream_image_t *base = texture(W, H), *tex = texture(W, H);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) base->px[i] = base->px[i] * 1.3f - 20.3f;   /* clips */
    blend_t *bp = blend_new(W, H, NULL);
    for (int round = 0; round < 2; round++) {
        tile_plan_t pl;
        assert_int_equal(tile_plan_grid(&p, 3, 2, round ? 17 : -9, round ? 5 : 13, &pl, NULL), 0);
        int missing = round ? 4 : -1;
        dream_image_t *ref = texture(W, H), *out = texture(W, H);
        blend_t *bd = blend_new(W, H, NULL);
        uint8_t done[TILE_MAX] = {0};
        for (int q = 0; q < pl.n; q++) {
            int k = (q * 5 + 2) % pl.n;     /* arrival order != plan order */
            if (k == missing) continue;
            uint8_t *sent = tile_pixels(base, &pl.tiles[k], 0), *res = tile_pixels(tex, &pl.tiles[k], 3.0f * k - 7);
            assert_int_equal(blend_add_delta_rgb8(bd, &pl.tiles[k], res, sent, NULL), 0);
            assert_int_equal(blend_add_delta_plan(bp, &pl, k, res, sent, base, out, NULL), 0);
            done[k] = 1;
            free(sent);
            free(res);
        }
        assert_int_equal(blend_finish_delta(bd, base, ref, NULL), 0);
        assert_int_equal(blend_finish_delta_plan(bp, &pl, done, base, out, NULL), 0);
        assert_memory_equal(ref->px, out->px, (size_t)W * H * 3 * sizeof(float));
        blend_destroy(&bd);
        image_free(ref);
        image_free(out);
    }
    dream_err_t err = {{0}};
    tile_plan_t pl;
    assert_int_equal(tile_plan_grid(&p, 1, 1, 0, 0, &pl, NULL), 0);
    uint8_t px[1] = {0};
    assert_int_equal(blend_add_delta_plan(bp, &pl, 0, px, px, base, base, &err), -1);   /* out == base */
    assert_int_equal(blend_add_delta_plan(bp, &pl, 3, px, px, base, tex, &err), -1);    /* no tile 3 */
    blend_destroy(&bp);
    image_free(base);
    image_free(tex);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_seams),
        cmocka_unit_test(test_hard_paste_has_seams),
        cmocka_unit_test(test_missing_tile_filled_from_base),
        cmocka_unit_test(test_ramps_partition),
        cmocka_unit_test(test_delta_blend),
        cmocka_unit_test(test_delta_plan_equals_delta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
