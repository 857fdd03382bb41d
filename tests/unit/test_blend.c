/*
 * test_blend.c — feathered tile blending (server/blend.c): tiles that disagree
 * slightly (per-tile offsets, as real tiles do) leave no seam — the mean
 * gradient magnitude across tile borders is at most 1.1x the interior's —
 * while a hard paste of the same tiles fails that bound; a missing tile is
 * filled from the base (warped previous keyframe) without a seam; the ramps
 * of two neighbours sum to one. Tile-resident 8.8 blending (blend_*_fixed_plan,
 * blend_alone_rect) on the planner's grids: exact results where a tile is alone,
 * exactly 8.8 everywhere, the normalised blend, the base fill of a missing tile,
 * and an accumulator left clear for the next keyframe. blend_rest_rect (Job.rest): with the next
 * keyframe's grid known, the rest lies in the tile's alone rect, no other tile's next window
 * reaches it (zoom in, zoom out, rotation, one family of lines moved by the seam jitter), and it
 * keeps most of the alone rect (the margin towards every tile that it replaced kept ~60 %).
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
#include "tilesplit.h"
#include "tiles.h"
#include "rng.h"

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
    tile_plan_params_t p = {W, H, halo, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
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
    tile_plan_params_t p = {W, H, halo, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
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
    tile_plan_params_t p = {W, H, halo, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
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

/* ---------- tile-resident: 8.8 results blended as they are (blend_add/finish_fixed_plan) ---------- */

static uint64_t fx_rng(uint64_t *s) {     /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* an 8.8 result for tile t: (h, w, 3) uint16 LE; random 0..65280, or cval[c] in every pixel */
static uint8_t *fx_result(const tile_t *t, uint64_t *rng, const unsigned *cval) {
    size_t n = (size_t)t->r.w * t->r.h * 3;
    uint8_t *px = malloc(n * 2);
    assert_non_null(px);
    for (size_t i = 0; i < n; i++) {
        unsigned v = cval ? cval[i % 3] : (unsigned)(fx_rng(rng) % 65281u);
        px[2 * i] = (uint8_t)(v & 0xff);
        px[2 * i + 1] = (uint8_t)(v >> 8);
    }
    return px;
}

/* a random 8.8 result for every tile of pl (res[k], the caller frees them), all marked done */
static void fx_all_in(const tile_plan_t *pl, uint64_t *rng, uint8_t **res, uint8_t *done) {
    for (int k = 0; k < pl->n; k++) {
        res[k] = fx_result(&pl->tiles[k], rng, NULL);
        done[k] = 1;
    }
}

/* value of channel c at canvas (x, y) in tile t's result, as 8.8 / 256 */
static double fx_val(const tile_t *t, const uint8_t *res, int x, int y, int c) {
    size_t i = ((size_t)(y - t->r.y) * t->r.w + (size_t)(x - t->r.x)) * 3 + (size_t)c;
    return (double)(res[2 * i] | (res[2 * i + 1] << 8)) / 256.0;
}

static int fx_inside(const tile_rect_t *r, int x, int y) {
    return x >= r->x && x < r->x + r->w && y >= r->y && y < r->y + r->h;
}

/* tile t's blend weight at canvas (x, y) (0 outside it): the product of its two ramps */
static float fx_weight(const tile_t *t, int x, int y) {
    if (!fx_inside(&t->r, x, y)) return 0.0f;
    float wx = blend_ramp(x - t->r.x, t->r.w, t->feather[0], t->feather[2]);
    float wy = blend_ramp(y - t->r.y, t->r.h, t->feather[1], t->feather[3]);
    return wx * wy;
}

static double fx_round88(double v) {
    v = v < 0 ? 0 : v > 255 ? 255 : v;
    return floor(v * 256.0 + 0.5) / 256.0;
}

static dream_image_t *fx_image(int W, int H, float fill) {
    dream_image_t *im = malloc(sizeof *im);
    im->w = W; im->h = H; im->c = 3;
    im->px = malloc((size_t)W * H * 3 * sizeof(float));
    for (size_t i = 0; i < (size_t)W * H * 3; i++) im->px[i] = fill;
    return im;
}

/* adds the tiles with done[k] != 0 in a shuffled order, then finishes */
static int fx_blend(blend_t *b, const tile_plan_t *pl, uint8_t *const *res, const uint8_t *done,
                    const dream_image_t *base, dream_image_t *out, uint64_t order_seed, dream_err_t *err) {
    int order[TILE_MAX];
    for (int k = 0; k < pl->n; k++) order[k] = k;
    uint64_t s = order_seed | 1;
    for (int k = pl->n - 1; k > 0; k--) {
        int j = (int)(fx_rng(&s) % (uint64_t)(k + 1)), t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    /* the 8.8 mirror the coordinator keeps (out88) must be the canvas's values, byte for byte */
    size_t n = (size_t)out->w * out->h * 3;
    uint8_t *m88 = malloc(n * 2);
    assert_non_null(m88);
    memset(m88, 0xee, n * 2);
    for (int q = 0; q < pl->n; q++) {
        int k = order[q];
        if (!done[k]) continue;
        assert_int_equal(blend_add_fixed_plan(b, pl, k, res[k], out, m88, NULL), 0);
    }
    int rc = blend_finish_fixed_plan(b, pl, done, base, out, m88, err);
    if (rc == 0)
        for (size_t i = 0; i < n; i++) {
            float v = out->px[i];
            uint16_t want = (uint16_t)(v * 256.0f + 0.5f), got = (uint16_t)(m88[2 * i] | (m88[2 * i + 1] << 8));
            if (!(v >= 0.0f && v <= 255.0f) || got != want) fail_msg("mirror %zu: %u, canvas %.9g", i, got, v);
        }
    free(m88);
    return rc;
}

/* the canvas the documented rule gives (double): sum w_i x_i / sum w_i over the tiles in, with
 * the base filling up to weight 1 when a tile is missing, rounded to 8.8 */
static double fx_reference(const tile_plan_t *pl, uint8_t *const *res, const uint8_t *done, const dream_image_t *base,
                           int x, int y, int c, double *wsum_out) {
    double acc = 0, ws = 0;
    int all = 1;
    for (int k = 0; k < pl->n; k++) {
        all &= done[k] != 0;
        if (!done[k]) continue;
        float w = fx_weight(&pl->tiles[k], x, y);
        if (w <= 0.0f) continue;
        acc += (double)w * fx_val(&pl->tiles[k], res[k], x, y, c);
        ws += w;
    }
    if (wsum_out) *wsum_out = ws;
    double wb = all || ws >= 1 ? 0 : 1 - ws;
    if (wb > 0) acc += wb * base->px[((size_t)y * base->w + x) * 3 + c];
    return fx_round88(acc / (ws + wb));
}

typedef struct { int W, H, nx, ny, ox, oy; } fx_case_t;

/* plans of the real planner: 2x2 and 3x2 grids with several seam offsets, a small canvas whose
 * tiles grow to the engine minimum (feathers longer than the overlap: a tile alone at weight < 1),
 * and one chosen by tile_plan_make for four equal workers */
static const fx_case_t fx_cases[] = {
    {640, 400, 2, 2, 11, -7}, {640, 400, 2, 2, -60, 45}, {720, 420, 3, 2, 37, -21},
    {720, 420, 3, 2, -40, 13}, {480, 300, 3, 2, 0, 20}, {480, 300, 2, 2, -30, -25},
    {300, 480, 2, 3, 20, 0},
};
#define FX_NCASES ((int)(sizeof fx_cases / sizeof fx_cases[0]))

static void fx_plan(int ci, tile_plan_t *pl, int *W, int *H) {
    if (ci < FX_NCASES) {
        const fx_case_t *fc = &fx_cases[ci];
        tile_plan_params_t p = {fc->W, fc->H, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
        assert_int_equal(tile_plan_grid(&p, fc->nx, fc->ny, fc->ox, fc->oy, pl, NULL), 0);
        assert_int_equal(pl->n, fc->nx * fc->ny);
        *W = fc->W;
        *H = fc->H;
    } else {
        tile_plan_params_t p = {.W = 960, .H = 540, .halo = 64, .min_side = 224, .steps = 10, .overhead_ms = 5, .max_tiles = 16};
        tile_worker_t w[4] = {{40, 1u << 22}, {40, 1u << 22}, {40, 1u << 22}, {40, 1u << 22}};
        assert_int_equal(tile_plan_make(&p, w, 4, 0x5eed + (uint64_t)ci, pl, NULL), 0);
        assert_true(pl->n >= 2);
        *W = 960;
        *H = 540;
    }
}

/* every tile in, base NULL: the canvas is each tile's result exactly in its alone rectangle
 * (which is non-empty, overlaps no other tile and has weight 1), exactly 8.8 in 0..255
 * everywhere, the normalised blend within one 8.8 step of a double reference, and a constant
 * colour in every tile gives that colour everywhere */
static void test_fixed_plan_all_tiles(void **s) {
    (void)s;
    uint64_t rng = 0x1234567u;
    long alone_px = 0, lone_feather = 0;
    double maxdiff = 0;
    for (int ci = 0; ci <= FX_NCASES; ci++) {
        tile_plan_t pl;
        int W, H;
        fx_plan(ci, &pl, &W, &H);
        uint8_t *res[TILE_MAX], done[TILE_MAX];
        fx_all_in(&pl, &rng, res, done);
        blend_t *b = blend_new(W, H, NULL);
        assert_non_null(b);
        dream_image_t *out = fx_image(W, H, NAN);    /* every pixel must be written */
        dream_err_t err = {{0}};
        assert_int_equal(fx_blend(b, &pl, res, done, NULL, out, (uint64_t)ci * 77 + 5, &err), 0);
        /* (c) exactly 8.8 in [0, 255]; (e) the normalised blend */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int cover = 0;
                for (int k = 0; k < pl.n; k++) cover += fx_inside(&pl.tiles[k].r, x, y);
                for (int c = 0; c < 3; c++) {
                    float v = out->px[((size_t)y * W + x) * 3 + c];
                    assert_true(v >= 0.0f && v <= 255.0f);
                    assert_true(v * 256.0f == floorf(v * 256.0f));
                    double ws, ref = fx_reference(&pl, res, done, NULL, x, y, c, &ws);
                    double d = fabs(ref - v);
                    if (d > maxdiff) maxdiff = d;
                    if (d > 1.0 / 256 + 1e-4)
                        fail_msg("case %d (%d,%d,%d): canvas %.6f, reference %.6f (wsum %.4f)", ci, x, y, c, v, ref, ws);
                    if (c == 0 && cover == 1 && ws < 1.0) lone_feather++;
                }
            }
        /* (a), (b) the alone rectangles */
        for (int k = 0; k < pl.n; k++) {
            const tile_t *t = &pl.tiles[k];
            tile_rect_t a = blend_alone_rect(&pl, k);
            if (a.w <= 0 || a.h <= 0) {
                /* empty only where the tile has no weight-1 part at all (an inner core
                 * narrower than its two feathers: the small canvases' middle tiles) */
                assert_true(t->r.w <= t->feather[0] + t->feather[2] || t->r.h <= t->feather[1] + t->feather[3]);
                assert_true(ci >= 4);
                for (int y = t->r.y; y < t->r.y + t->r.h; y++)
                    for (int x = t->r.x; x < t->r.x + t->r.w; x++) {
                        if (fx_weight(t, x, y) != 1.0f) continue;
                        for (int j = 0; j < pl.n; j++)
                            if (j != k && fx_inside(&pl.tiles[j].r, x, y)) goto next_px;
                        fail_msg("case %d: tile %d alone at weight 1 at (%d,%d), alone rect empty", ci, k, x, y);
                    next_px:;
                    }
                continue;
            }
            assert_true(a.x >= t->r.x && a.y >= t->r.y && a.x + a.w <= t->r.x + t->r.w && a.y + a.h <= t->r.y + t->r.h);
            for (int j = 0; j < pl.n; j++) {
                if (j == k) continue;
                const tile_rect_t *o = &pl.tiles[j].r;
                int sep = a.x + a.w <= o->x || o->x + o->w <= a.x || a.y + a.h <= o->y || o->y + o->h <= a.y;
                if (!sep) fail_msg("case %d: alone rect of tile %d meets tile %d", ci, k, j);
            }
            for (int y = a.y; y < a.y + a.h; y++)
                for (int x = a.x; x < a.x + a.w; x++) {
                    assert_true(fx_weight(t, x, y) == 1.0f);
                    for (int c = 0; c < 3; c++)
                        assert_true((double)out->px[((size_t)y * W + x) * 3 + c] == fx_val(t, res[k], x, y, c));
                }
            alone_px += (long)a.w * a.h;
        }
        /* the rectangle is not needlessly small: grown by one pixel on any side it either
         * leaves the tile's weight-1 part or meets another tile */
        for (int k = 0; k < pl.n; k++) {
            const tile_t *t = &pl.tiles[k];
            tile_rect_t a = blend_alone_rect(&pl, k);
            if (a.w <= 0 || a.h <= 0) continue;     /* checked above */
            int wx0 = t->r.x + t->feather[0], wx1 = t->r.x + t->r.w - t->feather[2];
            int wy0 = t->r.y + t->feather[1], wy1 = t->r.y + t->r.h - t->feather[3];
            tile_rect_t grown[4] = {{a.x - 1, a.y, 1, a.h}, {a.x + a.w, a.y, 1, a.h},
                                    {a.x, a.y - 1, a.w, 1}, {a.x, a.y + a.h, a.w, 1}};
            for (int g = 0; g < 4; g++) {
                const tile_rect_t *e = &grown[g];
                int blocked = e->x < wx0 || e->x + e->w > wx1 || e->y < wy0 || e->y + e->h > wy1;
                for (int j = 0; j < pl.n && !blocked; j++) {
                    const tile_rect_t *o = &pl.tiles[j].r;
                    if (j != k && !(e->x + e->w <= o->x || o->x + o->w <= e->x || e->y + e->h <= o->y ||
                                    o->y + o->h <= e->y))
                        blocked = 1;
                }
                if (!blocked) fail_msg("case %d: alone rect of tile %d could grow on side %d", ci, k, g);
            }
        }
        /* (d) a constant colour in every tile: the canvas is that colour everywhere */
        static const unsigned cval[3] = {12345, 65280, 77};
        for (int k = 0; k < pl.n; k++) {
            free(res[k]);
            res[k] = fx_result(&pl.tiles[k], &rng, cval);
        }
        for (size_t i = 0; i < (size_t)W * H * 3; i++) out->px[i] = NAN;
        assert_int_equal(fx_blend(b, &pl, res, done, NULL, out, (uint64_t)ci * 31 + 2, &err), 0);
        for (size_t i = 0; i < (size_t)W * H * 3; i++)
            if (out->px[i] != (float)cval[i % 3] / 256.0f)
                fail_msg("case %d: constant %u/256 blends to %.6f at pixel %zu", ci, cval[i % 3], out->px[i], i / 3);
        for (int k = 0; k < pl.n; k++) free(res[k]);
        blend_destroy(&b);
        image_free(out);
    }
    print_message("fixed blend: %ld alone pixels exact, %ld lone-feather pixels, max |canvas - reference| = %.3g\n",
                  alone_px, lone_feather, maxdiff);
    assert_true(lone_feather > 0);      /* the small canvas's grown tiles do reach that path */
}

/* a tile missing at the deadline: without a base that is an error; with one, where only the
 * missing tile reaches the canvas is round88(base), and where it overlaps tiles that are in the
 * base fills their weight up to 1 */
static void test_fixed_plan_missing_tile(void **s) {
    (void)s;
    uint64_t rng = 0xfeedbeefu;
    for (int ci = 0; ci < FX_NCASES; ci++) {
        tile_plan_t pl;
        int W, H;
        fx_plan(ci, &pl, &W, &H);
        int miss = ci == 2 ? 4 : ci % 2 ? pl.n - 1 : 0;     /* corners, and one in the middle */
        uint8_t *res[TILE_MAX], done[TILE_MAX];
        for (int k = 0; k < pl.n; k++) {
            res[k] = fx_result(&pl.tiles[k], &rng, NULL);
            done[k] = k != miss;
        }
        dream_image_t *base = texture(W, H);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) base->px[i] = base->px[i] * 1.6f - 70.3f;   /* clips, not 8.8 */
        blend_t *b = blend_new(W, H, NULL);
        dream_image_t *out = fx_image(W, H, NAN);
        dream_err_t err = {{0}};
        assert_int_equal(fx_blend(b, &pl, res, done, NULL, out, 9, &err), -1);
        assert_non_null(strstr(err.msg, "missing"));
        blend_reset(b);
        assert_int_equal(fx_blend(b, &pl, res, done, base, out, 10, &err), 0);
        long only_missing = 0, filled = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int cover = 0;
                for (int k = 0; k < pl.n; k++) cover += fx_inside(&pl.tiles[k].r, x, y);
                int in_miss = fx_inside(&pl.tiles[miss].r, x, y);
                for (int c = 0; c < 3; c++) {
                    size_t p = ((size_t)y * W + x) * 3 + c;
                    float v = out->px[p];
                    assert_true(v >= 0.0f && v <= 255.0f && v * 256.0f == floorf(v * 256.0f));
                    double ws, ref = fx_reference(&pl, res, done, base, x, y, c, &ws);
                    if (in_miss && cover == 1) {
                        if ((double)v != fx_round88(base->px[p]))
                            fail_msg("case %d (%d,%d,%d): %.6f, not round88(base %.6f)", ci, x, y, c, v, base->px[p]);
                        if (c == 0) only_missing++;
                    } else if (fabs(ref - v) > 1.0 / 256 + 1e-4) {
                        fail_msg("case %d (%d,%d,%d): canvas %.6f, reference %.6f (wsum %.4f)", ci, x, y, c, v, ref, ws);
                    }
                    if (c == 0 && in_miss && cover > 1 && ws < 0.99) filled++;
                }
            }
        assert_true(only_missing > 0);
        assert_true(filled > 0);
        /* base was read, not written */
        dream_image_t *t2 = texture(W, H);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) assert_true(base->px[i] == t2->px[i] * 1.6f - 70.3f);
        image_free(t2);
        for (int k = 0; k < pl.n; k++) free(res[k]);
        blend_destroy(&b);
        image_free(out);
        image_free(base);
    }
}

/* the finish leaves the accumulator clear: keyframes blended one after another into one
 * blend_t (all in, a tile missing, all in again, other plans each time) give what a fresh
 * blend_t gives, bit for bit */
static void test_fixed_plan_accumulator_cleared(void **s) {
    (void)s;
    int W = 720, H = 420;
    static const int grid[4][4] = {{2, 2, 11, -7}, {3, 2, 37, -21}, {3, 2, -40, 13}, {2, 2, -60, 45}};
    uint64_t rng = 0xabcdefu;
    blend_t *shared = blend_new(W, H, NULL);
    dream_image_t *base = texture(W, H);
    for (int kf = 0; kf < 4; kf++) {
        tile_plan_params_t p = {W, H, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
        tile_plan_t pl;
        assert_int_equal(tile_plan_grid(&p, grid[kf][0], grid[kf][1], grid[kf][2], grid[kf][3], &pl, NULL), 0);
        uint8_t *res[TILE_MAX], done[TILE_MAX];
        for (int k = 0; k < pl.n; k++) {
            res[k] = fx_result(&pl.tiles[k], &rng, NULL);
            done[k] = !(kf == 1 && k == 2) && !(kf == 3 && k == 0);
        }
        blend_t *fresh = blend_new(W, H, NULL);
        dream_image_t *o1 = fx_image(W, H, -1.0f), *o2 = fx_image(W, H, 7.0f);
        assert_int_equal(fx_blend(shared, &pl, res, done, base, o1, 3 + (uint64_t)kf, NULL), 0);
        assert_int_equal(fx_blend(fresh, &pl, res, done, base, o2, 3 + (uint64_t)kf, NULL), 0);
        assert_memory_equal(o1->px, o2->px, (size_t)W * H * 3 * sizeof(float));
        for (int k = 0; k < pl.n; k++) free(res[k]);
        blend_destroy(&fresh);
        image_free(o1);
        image_free(o2);
    }
    /* bad arguments */
    tile_plan_params_t p = {W, H, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_plan_t pl;
    assert_int_equal(tile_plan_grid(&p, 2, 2, 0, 0, &pl, NULL), 0);
    dream_image_t *small = fx_image(W / 2, H, 0.0f), *out = fx_image(W, H, 0.0f);
    uint8_t px[6] = {0}, done[TILE_MAX] = {1, 1, 1, 1};
    dream_err_t err = {{0}};
    assert_int_equal(blend_add_fixed_plan(shared, &pl, 4, px, out, NULL, &err), -1);       /* no tile 4 */
    assert_int_equal(blend_add_fixed_plan(shared, &pl, 0, px, small, NULL, &err), -1);     /* wrong size */
    assert_int_equal(blend_finish_fixed_plan(shared, &pl, done, NULL, small, NULL, &err), -1);
    assert_int_equal(blend_finish_fixed_plan(shared, &pl, NULL, NULL, out, NULL, &err), -1);
    done[1] = 0;
    assert_int_equal(blend_finish_fixed_plan(shared, &pl, done, small, out, NULL, &err), -1);  /* base of the wrong size */
    tile_rect_t e = blend_alone_rect(&pl, 4);
    assert_true(e.w == 0 && e.h == 0);
    e = blend_alone_rect(NULL, 0);
    assert_true(e.w == 0 && e.h == 0);
    /* one tile, the whole canvas: alone everywhere */
    assert_int_equal(tile_plan_grid(&p, 1, 1, 0, 0, &pl, NULL), 0);
    e = blend_alone_rect(&pl, 0);
    assert_true(e.x == 0 && e.y == 0 && e.w == W && e.h == H);
    blend_destroy(&shared);
    image_free(small);
    image_free(out);
    image_free(base);
}

/* every tile in: the last blend_add_fixed_plan has written every pixel of the mirror (the
 * finish, which the coordinator runs after the next hand-out's critical path, changes nothing),
 * and the canvas does not depend on the order the results arrive in (overlaps are summed in
 * tile order from the results themselves), bit for bit; a tile marked done but never added is
 * refused */
static void test_fixed_plan_complete_on_last_add(void **s) {
    (void)s;
    uint64_t rng = 0x7777u;
    for (int ci = 0; ci <= FX_NCASES; ci++) {
        tile_plan_t pl;
        int W, H;
        fx_plan(ci, &pl, &W, &H);
        uint8_t *res[TILE_MAX], done[TILE_MAX];
        fx_all_in(&pl, &rng, res, done);
        size_t n = (size_t)W * H * 6;
        uint8_t *first = NULL;
        for (int order = 0; order < 3; order++) {
            blend_t *b = blend_new(W, H, NULL);
            assert_non_null(b);
            uint8_t *m88 = malloc(n);
            assert_non_null(m88);
            memset(m88, 0xff, n);       /* 0xffff: above 255.0, never a canvas value */
            int ord[TILE_MAX];
            for (int k = 0; k < pl.n; k++) ord[k] = order == 1 ? pl.n - 1 - k : k;
            if (order == 2)             /* middle tiles first */
                for (int k = 0; k < pl.n; k++) ord[k] = (k + pl.n / 2) % pl.n;
            for (int q = 0; q < pl.n; q++) assert_int_equal(blend_add_fixed_plan(b, &pl, ord[q], res[ord[q]], NULL, m88, NULL), 0);
            for (size_t i = 0; i < n; i += 2)
                if (m88[i] == 0xff && m88[i + 1] == 0xff) fail_msg("case %d order %d: value %zu not written by the adds", ci, order, i / 2);
            uint8_t *snap = malloc(n);
            assert_non_null(snap);
            memcpy(snap, m88, n);
            assert_int_equal(blend_finish_fixed_plan(b, &pl, done, NULL, NULL, m88, NULL), 0);
            assert_memory_equal(snap, m88, n);
            if (!first) first = snap;
            else {
                assert_memory_equal(first, snap, n);
                free(snap);
            }
            /* the finish forgot the results: marking a tile done that was not added is an error */
            dream_err_t err = {{0}};
            assert_int_equal(blend_finish_fixed_plan(b, &pl, done, NULL, NULL, m88, &err), -1);
            assert_non_null(strstr(err.msg, "not added"));
            free(m88);
            blend_destroy(&b);
        }
        free(first);
        for (int k = 0; k < pl.n; k++) free(res[k]);
    }
}

/* blend_add_fixed_later leaves each tile's alone rect (or a part of it) to blend_copy_fixed: the
 * adds, the finish and then the copies give the canvas of blend_add_fixed_plan byte for byte
 * (8.8 and 8-bit results, float canvas too), and before the copies those pixels are untouched;
 * a later part outside the alone rect, or a copy outside the tile, is refused */
static void test_fixed_plan_later_copy(void **s) {
    (void)s;
    uint64_t rng = 0x4242u;
    for (int ci = 0; ci <= FX_NCASES; ci++) {
        for (int u8 = 0; u8 <= 1; u8++) {
            tile_plan_t pl;
            int W, H;
            fx_plan(ci, &pl, &W, &H);
            uint8_t *res[TILE_MAX], done[TILE_MAX];
            tile_rect_t later[TILE_MAX];
            for (int k = 0; k < pl.n; k++) {
                const tile_t *t = &pl.tiles[k];
                size_t nv = (size_t)t->r.w * t->r.h * 3;
                res[k] = u8 ? malloc(nv) : fx_result(t, &rng, NULL);
                if (u8) for (size_t i = 0; i < nv; i++) res[k][i] = (uint8_t)fx_rng(&rng);
                done[k] = 1;
                later[k] = blend_alone_rect(&pl, k);
                if (k == 1 && later[k].w > 8 && later[k].h > 8) {      /* a part of it, not all */
                    later[k].x += 3; later[k].y += 2; later[k].w -= 7; later[k].h -= 5;
                }
            }
            size_t n = (size_t)W * H * 6;
            uint8_t *ma = malloc(n), *mb = malloc(n);
            dream_image_t *oa = fx_image(W, H, -1.0f), *ob = fx_image(W, H, -2.0f);
            memset(ma, 0xff, n);
            memset(mb, 0xff, n);
            blend_t *ba = blend_new(W, H, NULL), *bb = blend_new(W, H, NULL);
            for (int k = 0; k < pl.n; k++) {
                assert_int_equal((u8 ? blend_add_fixed_plan_u8 : blend_add_fixed_plan)(ba, &pl, k, res[k], oa, ma, NULL), 0);
                assert_int_equal(blend_add_fixed_later(bb, &pl, k, res[k], u8, &later[k], ob, mb, NULL), 0);
            }
            assert_int_equal(blend_finish_fixed_plan(ba, &pl, done, NULL, oa, ma, NULL), 0);
            assert_int_equal(blend_finish_fixed_plan(bb, &pl, done, NULL, ob, mb, NULL), 0);
            for (int k = 0; k < pl.n; k++) {        /* the later parts are not written yet */
                const tile_rect_t *l = &later[k];
                for (int y = l->y; y < l->y + l->h; y++)
                    for (int x = l->x; x < l->x + l->w; x++)
                        if (mb[((size_t)y * W + x) * 6] != 0xff || ob->px[((size_t)y * W + x) * 3] != -2.0f)
                            fail_msg("case %d u8 %d: tile %d's later part written at (%d,%d)", ci, u8, k, x, y);
            }
            for (int k = 0; k < pl.n; k++)
                assert_int_equal(blend_copy_fixed(&pl.tiles[k].r, res[k], u8, &later[k], W, H, ob, mb, NULL), 0);
            assert_memory_equal(ma, mb, n);
            assert_memory_equal(oa->px, ob->px, (size_t)W * H * 3 * sizeof(float));
            /* refused: a later part reaching past the alone rect; a copy outside its tile */
            dream_err_t err = {{0}};
            tile_rect_t big = blend_alone_rect(&pl, 0);
            big.w += 1;
            assert_int_equal(blend_add_fixed_later(bb, &pl, 0, res[0], u8, &big, NULL, mb, &err), -1);
            assert_non_null(strstr(err.msg, "alone rect"));
            tile_rect_t out = pl.tiles[0].r;
            out.h += 1;
            assert_int_equal(blend_copy_fixed(&pl.tiles[0].r, res[0], u8, &out, W, H, NULL, mb, &err), -1);
            blend_destroy(&ba);
            blend_destroy(&bb);
            image_free(oa);
            image_free(ob);
            free(ma);
            free(mb);
            for (int k = 0; k < pl.n; k++) free(res[k]);
        }
    }
}

/* A result in two parts (Job.rest, common/tilesplit.h): the first frame is the tile less a hole
 * in split order, the second the hole. tilesplit_index is a bijection of the tile onto the
 * buffer with the hole last; blend_add_fixed_split + blend_copy_fixed_split of the two frames
 * give the canvas of blend_add_fixed_plan bit for bit (8.8 and 8-bit results, every plan case);
 * without the rest the hole is not written; a hole outside the part copied later is refused */
static void test_fixed_split_parts(void **s) {
    (void)s;
    uint64_t rng = 0x5151u;
    for (int ci = 0; ci <= FX_NCASES; ci++) {
        for (int u8 = 0; u8 <= 1; u8++) {
            tile_plan_t pl;
            int W, H;
            fx_plan(ci, &pl, &W, &H);
            const size_t bpp = u8 ? 3 : 6;
            uint8_t *res[TILE_MAX], *p1[TILE_MAX], *p2[TILE_MAX], done[TILE_MAX];
            tile_rect_t later[TILE_MAX], hole[TILE_MAX];
            for (int k = 0; k < pl.n; k++) {
                const tile_t *t = &pl.tiles[k];
                size_t np = (size_t)t->r.w * t->r.h, nv = np * 3;
                res[k] = u8 ? malloc(nv) : fx_result(t, &rng, NULL);
                if (u8) for (size_t i = 0; i < nv; i++) res[k][i] = (uint8_t)fx_rng(&rng);
                done[k] = 1;
                later[k] = blend_alone_rect(&pl, k);
                hole[k] = later[k];
                if (hole[k].w > 12 && hole[k].h > 12) {     /* inside the alone rect, off its edges */
                    hole[k].x += 5; hole[k].y += 3; hole[k].w -= 11; hole[k].h -= 7;
                } else {
                    hole[k] = (tile_rect_t){0, 0, 0, 0};
                }
                /* the two frames: every pixel at its split index, a permutation with the hole last */
                const tilesplit_rect_t tr = {t->r.x, t->r.y, t->r.w, t->r.h}, hr = {hole[k].x, hole[k].y, hole[k].w, hole[k].h};
                size_t first = tilesplit_first_px(&tr, &hr);
                uint8_t *buf = malloc(np * bpp), *seen = calloc(np, 1);
                for (int y = t->r.y; y < t->r.y + t->r.h; y++)
                    for (int x = t->r.x; x < t->r.x + t->r.w; x++) {
                        size_t i = tilesplit_index(&tr, &hr, x, y);
                        int in = hr.w > 0 && x >= hr.x && x < hr.x + hr.w && y >= hr.y && y < hr.y + hr.h;
                        if (i >= np || seen[i] || (in != (i >= first)))
                            fail_msg("case %d tile %d: split index %zu of (%d,%d) (first part %zu)", ci, k, i, x, y, first);
                        seen[i] = 1;
                        memcpy(buf + i * bpp, res[k] + (((size_t)(y - t->r.y) * t->r.w) + (size_t)(x - t->r.x)) * bpp, bpp);
                    }
                free(seen);
                p1[k] = buf;
                p2[k] = buf + first * bpp;
            }
            size_t n = (size_t)W * H * 6;
            uint8_t *ma = malloc(n), *mb = malloc(n);
            memset(ma, 0xff, n);
            memset(mb, 0xff, n);
            blend_t *ba = blend_new(W, H, NULL), *bb = blend_new(W, H, NULL);
            for (int k = 0; k < pl.n; k++) {
                assert_int_equal((u8 ? blend_add_fixed_plan_u8 : blend_add_fixed_plan)(ba, &pl, k, res[k], NULL, ma, NULL), 0);
                assert_int_equal(blend_add_fixed_split(bb, &pl, k, p1[k], u8, &hole[k], &later[k], NULL, mb, NULL), 0);
            }
            assert_int_equal(blend_finish_fixed_plan(ba, &pl, done, NULL, NULL, ma, NULL), 0);
            assert_int_equal(blend_finish_fixed_plan(bb, &pl, done, NULL, NULL, mb, NULL), 0);
            for (int k = 0; k < pl.n; k++)      /* the first parts: all of later but the hole */
                assert_int_equal(blend_copy_fixed_split(&pl.tiles[k].r, &hole[k], p1[k], NULL, u8, &later[k], W, H, NULL, mb, NULL), 0);
            for (int k = 0; k < pl.n; k++) {
                const tile_rect_t *h = &hole[k];
                for (int y = h->y; y < h->y + h->h; y++)
                    for (int x = h->x; x < h->x + h->w; x++)
                        if (mb[((size_t)y * W + x) * 6] != 0xff)
                            fail_msg("case %d u8 %d: tile %d's hole written without its rest at (%d,%d)", ci, u8, k, x, y);
            }
            for (int k = 0; k < pl.n; k++)      /* the rests: only their holes are read */
                assert_int_equal(blend_copy_fixed_split(&pl.tiles[k].r, &hole[k], p1[k], p2[k], u8, &hole[k], W, H, NULL, mb, NULL), 0);
            assert_memory_equal(ma, mb, n);
            dream_err_t err = {{0}};
            if (hole[0].w > 0) {
                tile_rect_t small = hole[0];
                small.w -= 1;       /* later must contain the hole */
                assert_int_equal(blend_add_fixed_split(bb, &pl, 0, p1[0], u8, &hole[0], &small, NULL, mb, &err), -1);
                assert_non_null(strstr(err.msg, "not inside"));
            }
            blend_destroy(&ba);
            blend_destroy(&bb);
            free(ma);
            free(mb);
            for (int k = 0; k < pl.n; k++) {
                free(res[k]);
                free(p1[k]);
            }
        }
    }
}

typedef int (*fx_add_fn)(blend_t *, const tile_plan_t *, int, const uint8_t *, dream_image_t *, uint8_t *,
                         dream_err_t *);

/* blends plan pl twice, each from a fresh accumulator into a poisoned mirror: a =
 * blend_add_fixed_plan of ra[k] into oa and its mirror, b = addb of rb[k] into ob (NULL: the
 * mirror only) and its mirror, tiles not done filled from base; fails (naming case ci and what)
 * unless the mirrors are equal byte for byte and, with ob, the float canvases bit for bit */
static void fx_twin(int ci, const tile_plan_t *pl, int W, int H, const uint8_t *done, const dream_image_t *base,
                    uint8_t *const *ra, dream_image_t *oa, uint8_t *const *rb, fx_add_fn addb, dream_image_t *ob,
                    const char *what) {
    size_t nb = (size_t)W * H * 6;
    uint8_t *ma = malloc(nb), *mb = malloc(nb);
    assert_non_null(ma); assert_non_null(mb);
    memset(ma, 0x11, nb);
    memset(mb, 0x22, nb);
    blend_t *ba = blend_new(W, H, NULL), *bb = blend_new(W, H, NULL);
    assert_non_null(ba); assert_non_null(bb);
    for (int k = 0; k < pl->n; k++) {
        if (!done[k]) continue;
        assert_int_equal(blend_add_fixed_plan(ba, pl, k, ra[k], oa, ma, NULL), 0);
        assert_int_equal(addb(bb, pl, k, rb[k], ob, mb, NULL), 0);
    }
    assert_int_equal(blend_finish_fixed_plan(ba, pl, done, base, oa, ma, NULL), 0);
    assert_int_equal(blend_finish_fixed_plan(bb, pl, done, base, ob, mb, NULL), 0);
    int all = 1;
    for (int k = 0; k < pl->n; k++) all &= done[k] != 0;
    if (memcmp(ma, mb, nb)) fail_msg("case %d (%s): %s: mirror differs", ci, all ? "all tiles" : "one missing", what);
    if (ob && memcmp(oa->px, ob->px, (size_t)W * H * 3 * sizeof(float)))
        fail_msg("case %d (%s): %s: canvas differs", ci, all ? "all tiles" : "one missing", what);
    blend_destroy(&ba);
    blend_destroy(&bb);
    free(ma); free(mb);
}

/* the coordinator blends a tile-resident keyframe into its 8.8 mirror only (out = NULL): the
 * mirror is byte for byte the one blended with the float canvas, for every plan, with all
 * tiles and with one missing (base fill); both NULL is refused */
static void test_fixed_plan_mirror_only(void **s) {
    (void)s;
    uint64_t rng = 0xfeedu;
    for (int ci = 0; ci <= FX_NCASES; ci++) {
        tile_plan_t pl;
        int W, H;
        fx_plan(ci, &pl, &W, &H);
        uint8_t *res[TILE_MAX], done[TILE_MAX];
        fx_all_in(&pl, &rng, res, done);
        dream_image_t *out = fx_image(W, H, 0.0f), *base = fx_image(W, H, 0.0f);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) base->px[i] = (float)(fx_rng(&rng) % 25600) / 100.0f;
        for (int miss = 0; miss < 2; miss++) {
            if (miss) done[pl.n - 1] = 0;
            fx_twin(ci, &pl, W, H, done, base, res, out, res, blend_add_fixed_plan, NULL, "mirror-only blend");
            blend_t *bb = blend_new(W, H, NULL);
            assert_non_null(bb);
            dream_err_t err = {{0}};
            assert_int_equal(blend_add_fixed_plan(bb, &pl, 0, res[0], NULL, NULL, &err), -1);
            assert_int_equal(blend_finish_fixed_plan(bb, &pl, done, base, NULL, NULL, &err), -1);
            blend_destroy(&bb);
        }
        dream_image_destroy(&out);
        dream_image_destroy(&base);
        for (int k = 0; k < pl.n; k++) free(res[k]);
    }
}

/* --tile-result 8: an 8-bit result blends exactly as the 8.8 result with those values and a
 * zero low byte (blend_add_fixed_plan_u8 = blend_add_fixed_plan of the widened bytes): the 8.8
 * mirror byte for byte and the float canvas bit for bit, for every plan, all tiles and one missing */
static void test_fixed_plan_u8(void **s) {
    (void)s;
    uint64_t rng = 0xb0b8u;
    for (int ci = 0; ci <= FX_NCASES; ci++) {
        tile_plan_t pl;
        int W, H;
        fx_plan(ci, &pl, &W, &H);
        uint8_t *r8[TILE_MAX], *r88[TILE_MAX], done[TILE_MAX];
        for (int k = 0; k < pl.n; k++) {
            size_t n = (size_t)pl.tiles[k].r.w * pl.tiles[k].r.h * 3;
            r8[k] = malloc(n);
            r88[k] = malloc(2 * n);
            assert_non_null(r8[k]); assert_non_null(r88[k]);
            for (size_t i = 0; i < n; i++) {
                r8[k][i] = (uint8_t)(fx_rng(&rng) % 256);
                r88[k][2 * i] = 0;
                r88[k][2 * i + 1] = r8[k][i];
            }
            done[k] = 1;
        }
        dream_image_t *oa = fx_image(W, H, 0.0f), *ob = fx_image(W, H, 0.0f), *base = fx_image(W, H, 0.0f);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) base->px[i] = (float)(fx_rng(&rng) % 25600) / 100.0f;
        for (int miss = 0; miss < 2; miss++) {
            if (miss) done[0] = 0;
            fx_twin(ci, &pl, W, H, done, base, r88, oa, r8, blend_add_fixed_plan_u8, ob, "8-bit blend");
        }
        dream_image_destroy(&oa);
        dream_image_destroy(&ob);
        dream_image_destroy(&base);
        for (int k = 0; k < pl.n; k++) { free(r8[k]); free(r88[k]); }
    }
}


/* blend_rest_rect with the next grid known: inside the alone rect, outside every other next window
 * (for this motion and up to 1.25x it), and most of the alone rect on average */
static void test_rest_rect(void **state) {
    (void)state;
    const struct { int W, H, nx, ny; double zoom, angle; double min_keep; } cs[] = {
        {1920, 1080, 2, 2, 1.05, -0.25, 0.80}, {1920, 1080, 4, 1, 1.05, -0.25, 0.60},
        {1920, 1080, 2, 2, 1.0 / 1.05, 0.25, 0.80}, {3840, 2160, 4, 2, 1.02, 0.5, 0.80},
        {1920, 1080, 3, 2, 1.0, 1.0, 0.70},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        tile_plan_params_t pp = {cs[c].W, cs[c].H, 64, 224, 10, 0, 64, 32, 0, 0, 0, 0, 0};
        double kept = 0, alone_px = 0, old_px = 0;
        uint64_t rng = 0x7e57u + c;
        for (int it = 0; it < 40; it++) {
            tile_plan_t pl, nx;
            int ox, oy;
            tile_plan_grid_offsets(&pp, cs[c].nx, cs[c].ny, dream_splitmix64(&rng), &ox, &oy);
            assert_int_equal(tile_plan_grid(&pp, cs[c].nx, cs[c].ny, ox, oy, &pl, NULL), 0);
            tile_plan_grid_offsets(&pp, cs[c].nx, cs[c].ny, dream_splitmix64(&rng), &ox, &oy);
            assert_int_equal(tile_plan_grid(&pp, cs[c].nx, cs[c].ny, ox, oy, &nx, NULL), 0);
            for (int k = 0; k < pl.n; k++) {
                tile_rect_t a = blend_alone_rect(&pl, k);
                tile_rect_t r = blend_rest_rect(&pl, k, &nx, cs[c].W, cs[c].H, cs[c].zoom, cs[c].angle, DREAM_INTERP_BICUBIC, 32);
                tile_rect_t o = blend_rest_rect(&pl, k, NULL, cs[c].W, cs[c].H, cs[c].zoom, cs[c].angle, DREAM_INTERP_BICUBIC, 32);
                alone_px += (double)a.w * a.h;
                old_px += (double)o.w * o.h;
                if (r.w == 0) continue;
                kept += (double)r.w * r.h;
                assert_true(r.w >= 32 && r.h >= 32);
                assert_true(r.x >= a.x && r.y >= a.y && r.x + r.w <= a.x + a.w && r.y + r.h <= a.y + a.h);
                for (int j = 0; j < nx.n; j++) {
                    if (j == k) continue;
                    for (int f = 0; f < 2; f++) {   /* this motion, and a quarter more */
                        double z = f ? exp(1.25 * log(cs[c].zoom)) : cs[c].zoom, an = f ? 1.25 * cs[c].angle : cs[c].angle;
                        const tile_rect_t *t = &nx.tiles[j].r;
                        int sx, sy, sw, sh;
                        assert_int_equal(dream_warp_source_rect(cs[c].W, cs[c].H, z, an, DREAM_INTERP_BICUBIC, t->x, t->y, t->w,
                                                                t->h, &sx, &sy, &sw, &sh, NULL), 0);
                        int meets = sx < r.x + r.w && r.x < sx + sw && sy < r.y + r.h && r.y < sy + sh;
                        if (meets) print_error("case %zu tile %d: rest %dx%d+%d+%d meets next tile %d's window %dx%d+%d+%d\n", c, k,
                                               r.w, r.h, r.x, r.y, j, sw, sh, sx, sy);
                        assert_false(meets);
                    }
                }
            }
        }
        print_message("rest_rect case %zu: rest keeps %.0f %% of the alone rects (margin only: %.0f %%)\n", c,
                      100 * kept / alone_px, 100 * old_px / alone_px);
        assert_true(kept >= cs[c].min_keep * alone_px);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_plan_u8),
        cmocka_unit_test(test_no_seams),
        cmocka_unit_test(test_hard_paste_has_seams),
        cmocka_unit_test(test_missing_tile_filled_from_base),
        cmocka_unit_test(test_ramps_partition),
        cmocka_unit_test(test_delta_blend),
        cmocka_unit_test(test_delta_plan_equals_delta),
        cmocka_unit_test(test_fixed_plan_all_tiles),
        cmocka_unit_test(test_fixed_plan_missing_tile),
        cmocka_unit_test(test_fixed_plan_accumulator_cleared),
        cmocka_unit_test(test_fixed_plan_complete_on_last_add),
        cmocka_unit_test(test_fixed_plan_later_copy),
        cmocka_unit_test(test_fixed_split_parts),
        cmocka_unit_test(test_rest_rect),
        cmocka_unit_test(test_fixed_plan_mirror_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
