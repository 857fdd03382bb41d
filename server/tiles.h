/*
 * tiles.h — cutting a keyframe into worker tiles.
 *
 * A plan is a grid of core cells (they partition the canvas) with a random
 * offset of the inner boundaries each keyframe; each tile is its core grown by
 * a halo (>= 64 px) on every side that has a neighbour, clipped to the canvas,
 * and grown further if needed so no tile side is below the engine minimum
 * (224 px for VGG). The grid is chosen by simulating a greedy
 * longest-job-first schedule on the known workers (speed in ms per
 * megapixel-step, largest tile they hold, per-job overhead): tiles only where
 * they pay — a single worker that holds the whole keyframe gets it whole when
 * that finishes first — and faster workers end up with more of the tiles. With
 * workers of different speeds, strips sized in proportion to their speeds are
 * considered too, so faster workers also get bigger tiles.
 */
#ifndef DREAM_TILES_H
#define DREAM_TILES_H
#include <stdint.h>
#include <stddef.h>
#include "dlog.h"

#define TILE_MAX 64
#define TILE_MAX_GRID 8

typedef struct tile_rect { int x, y, w, h; } tile_rect_t;

/* the part of a inside b (w = h = 0: none) */
static inline tile_rect_t tile_rect_cut(const tile_rect_t *a, const tile_rect_t *b) {
    int x0 = a->x > b->x ? a->x : b->x, x1 = a->x + a->w < b->x + b->w ? a->x + a->w : b->x + b->w;
    int y0 = a->y > b->y ? a->y : b->y, y1 = a->y + a->h < b->y + b->h ? a->y + a->h : b->y + b->h;
    if (x0 >= x1 || y0 >= y1) return (tile_rect_t){0, 0, 0, 0};
    return (tile_rect_t){x0, y0, x1 - x0, y1 - y0};
}

/* a lies inside b (b NULL: no) */
static inline int tile_rect_inside(const tile_rect_t *a, const tile_rect_t *b) {
    return b && a->x >= b->x && a->y >= b->y && a->x + a->w <= b->x + b->w && a->y + a->h <= b->y + b->h;
}

typedef struct tile {
    tile_rect_t r;          /* canvas coordinates, halo included (what is sent) */
    tile_rect_t core;       /* canvas coordinates, no halo */
    int feather[4];         /* feather widths left, top, right, bottom (0 = canvas edge) */
} tile_t;

typedef struct tile_worker {
    double ms_per_mpix_step;    /* > 0 */
    uint64_t max_pixels;        /* largest tile w*h */
} tile_worker_t;

typedef struct tile_plan_params {
    int W, H;               /* canvas */
    int halo;               /* >= 64 */
    int min_side;           /* engine minimum input side, 224 */
    int steps;
    double overhead_ms;     /* fixed cost per job (latency, transfers) */
    int max_tiles;          /* <= TILE_MAX */
    int seam_jitter;        /* most px the inner grid lines move per keyframe: > 0 that (at most a
                             * quarter cell), 0 a quarter cell, < 0 none. Uneven tiles cost: with
                             * equal workers the keyframe waits for the biggest tile */
    /* a layout to keep (prev_nx 0: none) and how many workers it was made for: with as many now,
     * it is kept unless another's estimate is below prev_keep x its own (0: kept whenever it
     * fits; the coordinator keeps its layout until another has won several plans in a row, so
     * that noise in the measured speeds does not flip grids and strips: each flip moves every
     * tile, and tile-resident workers then hold little of their new windows) */
    int prev_nx, prev_ny, prev_weighted, prev_nw;
    double prev_keep;
} tile_plan_params_t;

typedef struct tile_plan {
    int n, nx, ny;
    int ox, oy;             /* random offset applied to inner boundaries */
    int weighted;           /* 1: strips sized by the workers' speeds (nx x ny strips), 0: a grid */
    tile_t tiles[TILE_MAX];
    double est_ms;          /* estimated makespan */
} tile_plan_t;

/* Estimated makespan of jobs of the given pixel counts on the workers (greedy LPT:
 * largest job first onto the worker that finishes it first among those able to hold it).
 * assign (optional, n entries) receives the worker index per job. Returns -1 if a job
 * fits no worker. */
double tile_schedule_estimate(const uint64_t *pixels, int n, const tile_worker_t *w, int nw,
                              int steps, double overhead_ms, int *assign);

/* Cuts an nx x ny grid with offsets (ox, oy) (clamped so every cell keeps a sane size). */
int tile_plan_grid(const tile_plan_params_t *p, int nx, int ny, int ox, int oy, tile_plan_t *out,
                   dream_err_t *err);

/* The offsets (ox, oy) tile_plan_make draws from rng_seed for an nx x ny grid (one family of
 * lines moves, by at most the seam jitter): the coordinator draws the next keyframe's seed a
 * keyframe early, so that it knows where that keyframe's grid lines will be (Job.rest) */
void tile_plan_grid_offsets(const tile_plan_params_t *p, int nx, int ny, uint64_t rng_seed, int *ox, int *oy);

/* Chooses the grid for these workers and cuts it with a random offset drawn from rng_seed. */
int tile_plan_make(const tile_plan_params_t *p, const tile_worker_t *w, int nw, uint64_t rng_seed,
                   tile_plan_t *out, dream_err_t *err);


#endif
