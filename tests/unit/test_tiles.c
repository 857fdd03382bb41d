/*
 * test_tiles.c — keyframe tile planning (server/tiles.c): cores partition the
 * canvas, halos >= 64 px towards every neighbour, no tile side under the
 * engine minimum, random grid offsets per keyframe, whole keyframe to a worker
 * that holds it when tiling does not pay, tiling when it does, faster workers
 * getting more tiles, and clear errors when nothing fits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "tiles.h"

static void check_plan(const tile_plan_params_t *p, const tile_plan_t *pl) {
    uint8_t *cov = calloc((size_t)p->W * p->H, 1);
    int need = p->min_side < p->W ? p->min_side : p->W;
    int needh = p->min_side < p->H ? p->min_side : p->H;
    for (int k = 0; k < pl->n; k++) {
        const tile_t *t = &pl->tiles[k];
        /* tile inside the canvas, core inside the tile */
        assert_true(t->r.x >= 0 && t->r.y >= 0 && t->r.x + t->r.w <= p->W && t->r.y + t->r.h <= p->H);
        assert_true(t->core.x >= t->r.x && t->core.y >= t->r.y);
        assert_true(t->core.x + t->core.w <= t->r.x + t->r.w && t->core.y + t->core.h <= t->r.y + t->r.h);
        assert_true(t->r.w >= need);
        assert_true(t->r.h >= needh);
        /* halo towards every neighbour (side not on the canvas edge) */
        /* (a halo is only cut short by the canvas edge itself) */
        int cx1 = t->core.x + t->core.w, cy1 = t->core.y + t->core.h;
        if (t->core.x > 0) assert_true(t->core.x - t->r.x >= (p->halo < t->core.x ? p->halo : t->core.x));
        if (t->core.y > 0) assert_true(t->core.y - t->r.y >= (p->halo < t->core.y ? p->halo : t->core.y));
        if (cx1 < p->W) assert_true(t->r.x + t->r.w - cx1 >= (p->halo < p->W - cx1 ? p->halo : p->W - cx1));
        if (cy1 < p->H) assert_true(t->r.y + t->r.h - cy1 >= (p->halo < p->H - cy1 ? p->halo : p->H - cy1));
        /* feathers only where there is a neighbour */
        assert_true((t->feather[0] > 0) == (t->core.x > 0));
        assert_true((t->feather[2] > 0) == (t->core.x + t->core.w < p->W));
        for (int y = t->core.y; y < t->core.y + t->core.h; y++)
            for (int x = t->core.x; x < t->core.x + t->core.w; x++) cov[(size_t)y * p->W + x]++;
    }
    for (size_t i = 0; i < (size_t)p->W * p->H; i++) assert_int_equal(cov[i], 1);  /* exact partition */
    free(cov);
}

static void test_grid_coverage(void **s) {
    (void)s;
    int sizes[][2] = {{1920, 1080}, {1280, 720}, {640, 480}, {300, 250}, {1000, 1000}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int nx = 1; nx <= 4; nx++)
            for (int ny = 1; ny <= 3; ny++)
                for (int off = -100; off <= 100; off += 50) {
                    tile_plan_params_t p = {sizes[i][0], sizes[i][1], 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
                    tile_plan_t pl;
                    assert_int_equal(tile_plan_grid(&p, nx, ny, off, -off, &pl, NULL), 0);
                    assert_int_equal(pl.n, nx * ny);
                    check_plan(&p, &pl);
                }
}

static void test_random_offsets(void **s) {
    (void)s;
    tile_plan_params_t p = {1920, 1080, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_worker_t w[4] = {{100, 1u << 22}, {100, 1u << 22}, {100, 1u << 22}, {100, 1u << 22}};
    int distinct = 0, first_ox = 0, first_oy = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        tile_plan_t pl;
        assert_int_equal(tile_plan_make(&p, w, 4, seed, &pl, NULL), 0);
        assert_true(pl.n > 1);
        check_plan(&p, &pl);
        if (seed == 1) { first_ox = pl.ox; first_oy = pl.oy; }
        else if (pl.ox != first_ox || pl.oy != first_oy) distinct++;
    }
    assert_true(distinct >= 5);
}

/* with 3+ columns the edge cells are wider by a halo, so every tile (core + halos) has the
 * same size and equal workers finish together */
static void test_equal_tiles(void **s) {
    (void)s;
    tile_plan_params_t p = {1920, 1080, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_plan_t pl;
    assert_int_equal(tile_plan_grid(&p, 4, 2, 0, 0, &pl, NULL), 0);
    check_plan(&p, &pl);
    for (int k = 0; k < pl.n; k++) {
        assert_true(abs(pl.tiles[k].r.w - pl.tiles[0].r.w) <= 1);
        assert_int_equal(pl.tiles[k].r.h, pl.tiles[0].r.h);
    }
    assert_true(pl.tiles[0].core.w > pl.tiles[1].core.w);     /* edge core wider than inner */
    assert_int_equal(tile_plan_grid(&p, 3, 3, 0, 0, &pl, NULL), 0);
    check_plan(&p, &pl);
    for (int k = 0; k < pl.n; k++) {
        assert_true(abs(pl.tiles[k].r.w - pl.tiles[0].r.w) <= 1);
        assert_true(abs(pl.tiles[k].r.h - pl.tiles[0].r.h) <= 1);
    }
}

/* seam_jitter bounds how far the grid lines move (so tiles stay near-equal and the slowest
 * equal worker is not handed a much bigger tile); < 0 keeps the grid still */
static void test_seam_jitter(void **s) {
    (void)s;
    tile_plan_params_t p = {1920, 1080, 64, 224, 10, 20, 64, 32, 0, 0, 0, 0, 0};
    tile_worker_t w[4] = {{100, 1u << 22}, {100, 1u << 22}, {100, 1u << 22}, {100, 1u << 22}};
    int moved = 0, xs = 0, ys = 0;
    uint64_t biggest = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        tile_plan_t pl;
        assert_int_equal(tile_plan_make(&p, w, 4, seed, &pl, NULL), 0);
        assert_int_equal(pl.n, 4);
        check_plan(&p, &pl);
        assert_true(pl.ox >= -32 && pl.ox <= 32 && pl.oy >= -32 && pl.oy <= 32);
        assert_true(pl.ox == 0 || pl.oy == 0);               /* one family of lines per keyframe */
        moved += pl.ox != 0 || pl.oy != 0;
        xs += pl.ox != 0;
        ys += pl.oy != 0;
        for (int k = 0; k < pl.n; k++) {
            uint64_t px = (uint64_t)pl.tiles[k].r.w * pl.tiles[k].r.h;
            if (px > biggest) biggest = px;
        }
    }
    assert_true(moved >= 30);
    assert_true(xs >= 8 && ys >= 8);                          /* both families move over time */
    /* even 2x2 tiles are 1024x604; the biggest grows by at most 32 px one way (1024x636 is the
     * larger of the two), never both (1056x636) */
    assert_true(biggest <= (uint64_t)1024 * (604 + 32));
    p.seam_jitter = -1;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        tile_plan_t pl;
        assert_int_equal(tile_plan_make(&p, w, 4, seed, &pl, NULL), 0);
        assert_int_equal(pl.ox, 0);
        assert_int_equal(pl.oy, 0);
    }
}

static void test_whole_when_tiling_does_not_pay(void **s) {
    (void)s;
    /* one worker that holds everything: one tile, no halo */
    tile_plan_params_t p = {1280, 720, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_worker_t one = {50, 1u << 22};
    tile_plan_t pl;
    assert_int_equal(tile_plan_make(&p, &one, 1, 7, &pl, NULL), 0);
    assert_int_equal(pl.n, 1);
    assert_int_equal(pl.tiles[0].r.w, 1280);
    assert_int_equal(pl.tiles[0].r.h, 720);
    /* a big fast GPU and a slow CPU: splitting would wait on the CPU; whole to the GPU */
    tile_worker_t mix[2] = {{5, 1u << 24}, {2000, 1u << 22}};
    assert_int_equal(tile_plan_make(&p, mix, 2, 7, &pl, NULL), 0);
    assert_int_equal(pl.n, 1);
    /* a canvas barely above the minimum stays whole even with many workers */
    tile_plan_params_t small = {240, 240, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_worker_t many[8];
    for (int i = 0; i < 8; i++) many[i] = (tile_worker_t){100, 1u << 22};
    assert_int_equal(tile_plan_make(&small, many, 8, 3, &pl, NULL), 0);
    assert_int_equal(pl.n, 1);
}

static void test_tiles_when_they_pay(void **s) {
    (void)s;
    tile_plan_params_t p = {1920, 1080, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_worker_t w[8];
    for (int i = 0; i < 8; i++) w[i] = (tile_worker_t){100, 1u << 22};
    tile_plan_t pl;
    assert_int_equal(tile_plan_make(&p, w, 4, 1, &pl, NULL), 0);
    assert_true(pl.n >= 4);
    double whole = 1920.0 * 1080 / 1e6 * 10 * 100 + 20;
    assert_true(pl.est_ms < whole / 2.5);     /* 4 workers: well over 2.5x faster than whole */
    /* a worker that cannot hold the keyframe forces tiles that fit it */
    tile_worker_t small = {100, 600 * 600};
    assert_int_equal(tile_plan_make(&p, &small, 1, 1, &pl, NULL), 0);
    assert_true(pl.n > 1);
    for (int k = 0; k < pl.n; k++) assert_true((uint64_t)pl.tiles[k].r.w * pl.tiles[k].r.h <= 600 * 600);
    check_plan(&p, &pl);
}

/* a layout to keep stays unless another is faster by more than prev_keep (0: whenever it fits),
 * for as many workers as it was made for; the coordinator keeps its layout until another won a
 * few plans in a row (noise in the measured speeds does not flip grids and strips) */
static void test_layout_sticks(void **s) {
    (void)s;
    tile_plan_params_t p = {1920, 1080, 64, 224, 10, 20, 64, 32, 0, 0, 0, 0, 0};
    tile_worker_t eq[4] = {{4, 1u << 22}, {4, 1u << 22}, {4, 1u << 22}, {4, 1u << 22}};
    tile_plan_t pl;
    assert_int_equal(tile_plan_make(&p, eq, 4, 1, &pl, NULL), 0);
    assert_int_equal(pl.nx, 2);
    assert_int_equal(pl.ny, 2);
    assert_int_equal(pl.weighted, 0);
    /* one worker measured 30 % slow: afresh the plan takes speed-sized strips */
    tile_worker_t noisy[4] = {{4, 1u << 22}, {4.1, 1u << 22}, {4, 1u << 22}, {5.2, 1u << 22}};
    assert_int_equal(tile_plan_make(&p, noisy, 4, 1, &pl, NULL), 0);
    assert_int_equal(pl.weighted, 1);
    double fresh = pl.est_ms;
    /* asked to keep a 2x2 layout made for these four unless another is 10 % faster: kept */
    p.prev_nx = p.prev_ny = 2;
    p.prev_nw = 4;
    p.prev_keep = 0.90;
    assert_int_equal(tile_plan_make(&p, noisy, 4, 1, &pl, NULL), 0);
    assert_int_equal(pl.weighted, 0);
    assert_int_equal(pl.nx * pl.ny, 4);
    assert_true(pl.est_ms < fresh / 0.90);
    check_plan(&p, &pl);
    /* made for another number of workers (one joined): planned afresh */
    p.prev_nw = 3;
    assert_int_equal(tile_plan_make(&p, noisy, 4, 1, &pl, NULL), 0);
    assert_int_equal(pl.weighted, 1);
    p.prev_nw = 4;
    /* and after strips, the equal workers keep the strips (the grid is ~6 % faster, not 10) */
    p.prev_nx = 4;
    p.prev_ny = 1;
    p.prev_weighted = 1;
    assert_int_equal(tile_plan_make(&p, eq, 4, 1, &pl, NULL), 0);
    assert_int_equal(pl.weighted, 1);
    assert_int_equal(pl.n, 4);
    /* prev_keep 0: kept whenever it fits, even with a worker 5x slow (the coordinator's choice
     * after a few plans) */
    p.prev_nx = p.prev_ny = 2;
    p.prev_weighted = 0;
    p.prev_keep = 0;
    tile_worker_t slow5[4] = {{4, 1u << 22}, {4, 1u << 22}, {4, 1u << 22}, {20, 1u << 22}};
    assert_int_equal(tile_plan_make(&p, slow5, 4, 1, &pl, NULL), 0);
    assert_true(pl.nx == 2 && pl.ny == 2 && !pl.weighted);
    p.prev_keep = 0.90;
    /* a worker 5x slow is reason enough to change (three tiles for the three others) */
    p.prev_nx = p.prev_ny = 2;
    p.prev_weighted = 0;
    tile_worker_t slow[4] = {{4, 1u << 22}, {4, 1u << 22}, {4, 1u << 22}, {20, 1u << 22}};
    assert_int_equal(tile_plan_make(&p, slow, 4, 1, &pl, NULL), 0);
    assert_int_equal(pl.n, 3);
    check_plan(&p, &pl);
}

static void test_faster_workers_get_more(void **s) {
    (void)s;
    uint64_t px[8];
    for (int i = 0; i < 8; i++) px[i] = 500000;
    tile_worker_t w[2] = {{10, 1u << 22}, {40, 1u << 22}};  /* worker 0 is 4x faster */
    int assign[8];
    double ms = tile_schedule_estimate(px, 8, w, 2, 10, 0, assign);
    assert_true(ms > 0);
    int n0 = 0;
    for (int i = 0; i < 8; i++) n0 += assign[i] == 0;
    assert_true(n0 >= 6);
    /* a job no worker holds: error */
    uint64_t big = 1u << 23;
    assert_true(tile_schedule_estimate(&big, 1, w, 2, 10, 0, NULL) < 0);
    tile_plan_params_t p = {1920, 1080, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_worker_t tiny = {10, 100 * 100};
    tile_plan_t pl;
    dream_err_t err = {{0}};
    assert_int_equal(tile_plan_make(&p, &tiny, 1, 1, &pl, &err), -1);
    assert_non_null(strstr(err.msg, "no grid"));
    p.halo = 32;
    assert_int_equal(tile_plan_make(&p, w, 2, 1, &pl, &err), -1);
    assert_non_null(strstr(err.msg, "halo"));
}

static void test_faster_workers_get_bigger_tiles(void **s) {
    (void)s;
    tile_plan_params_t p = {1920, 1080, 64, 224, 10, 20, 64, 0, 0, 0, 0, 0, 0};
    tile_worker_t w[2] = {{20, 1u << 22}, {10, 1u << 22}};   /* the second is twice as fast */
    tile_plan_t pl, uni;
    int lefts[10];
    for (uint64_t seed = 1; seed <= 10; seed++) {
        assert_int_equal(tile_plan_make(&p, w, 2, seed, &pl, NULL), 0);
        check_plan(&p, &pl);
        assert_int_equal(pl.n, 2);
        /* the wide strip is about twice the narrow one */
        int a = pl.tiles[0].core.w, b = pl.tiles[1].core.w;
        int big = a > b ? a : b, small = a > b ? b : a;
        assert_true(big > 1.5 * small && big < 2.6 * small);
        lefts[seed - 1] = pl.tiles[0].core.w;
    }
    int distinct = 0;
    for (int i = 1; i < 10; i++) distinct += lefts[i] != lefts[0];
    assert_true(distinct >= 5);        /* boundaries still move every keyframe */
    /* and it beats equal halves */
    assert_int_equal(tile_plan_grid(&p, 2, 1, 0, 0, &uni, NULL), 0);
    uint64_t px[2] = {(uint64_t)uni.tiles[0].r.w * uni.tiles[0].r.h, (uint64_t)uni.tiles[1].r.w * uni.tiles[1].r.h};
    double ms_uni = tile_schedule_estimate(px, 2, w, 2, 10, 20, NULL);
    assert_true(pl.est_ms < 0.9 * ms_uni);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_coverage),
        cmocka_unit_test(test_random_offsets),
        cmocka_unit_test(test_seam_jitter),
        cmocka_unit_test(test_equal_tiles),
        cmocka_unit_test(test_whole_when_tiling_does_not_pay),
        cmocka_unit_test(test_tiles_when_they_pay),
        cmocka_unit_test(test_layout_sticks),
        cmocka_unit_test(test_faster_workers_get_more),
        cmocka_unit_test(test_faster_workers_get_bigger_tiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
