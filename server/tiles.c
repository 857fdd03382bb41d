/*
 * tiles.c — keyframe tile planning (grid choice by simulated schedule, random
 * grid offsets, halos, minimum tile sides); see tiles.h.
 */
#include "tiles.h"
#include "rng.h"
#include <stdlib.h>
#include <string.h>

double tile_schedule_estimate(const uint64_t *pixels, int n, const tile_worker_t *w, int nw,
                              int steps, double overhead_ms, int *assign) {
    if (nw <= 0 || n <= 0) return -1;
    int order[TILE_MAX];
    if (n > TILE_MAX) return -1;
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) {       /* insertion sort, largest first */
        int k = order[i], j = i;
        while (j > 0 && pixels[order[j - 1]] < pixels[k]) { order[j] = order[j - 1]; j--; }
        order[j] = k;
    }
    double fin[512];
    if (nw > 512) nw = 512;
    for (int i = 0; i < nw; i++) fin[i] = 0;
    double makespan = 0;
    for (int oi = 0; oi < n; oi++) {
        int j = order[oi], best = -1;
        double bestf = 0;
        for (int i = 0; i < nw; i++) {
            if (pixels[j] > w[i].max_pixels) continue;
            double f = fin[i] + overhead_ms + (double)pixels[j] / 1e6 * steps * w[i].ms_per_mpix_step;
            if (best < 0 || f < bestf) { best = i; bestf = f; }
        }
        if (best < 0) return -1;
        fin[best] = bestf;
        if (assign) assign[j] = best;
        if (bestf > makespan) makespan = bestf;
    }
    return makespan;
}

/* boundaries of n cells over len, inner ones shifted by off (clamped). With 3 or more cells
 * the two edge cells are wider by one halo: an inner cell's tile carries two halos, an edge
 * cell's one, so this way all tiles come out the same size and equal workers finish together */
static int cut(int len, int n, int off, int halo, int *b) {
    b[0] = 0;
    b[n] = len;
    double cw = (double)len / n;
    int lim = (int)(cw / 4);
    if (off > lim) off = lim;
    if (off < -lim) off = -lim;
    double inner = cw, edge = cw;
    if (n >= 3 && halo > 0 && (len - 2.0 * halo) / n >= cw / 2) {
        inner = (len - 2.0 * halo) / n;
        edge = inner + halo;
    }
    for (int k = 1; k < n; k++) b[k] = (int)(edge + (k - 1) * inner + 0.5) + off;
    return n > 1 ? off : 0;
}

static void span(int c0, int c1, int len, int halo, int min_side, int *t0, int *t1, int *f0, int *f1) {
    int a = c0 > 0 ? c0 - halo : 0;
    int b = c1 < len ? c1 + halo : len;
    if (a < 0) a = 0;
    if (b > len) b = len;
    int need = min_side < len ? min_side : len;
    while (b - a < need) {             /* grow symmetrically, clipped */
        if (a > 0) a--;
        if (b - a < need && b < len) b++;
    }
    *t0 = a;
    *t1 = b;
    /* feather over the overlap: from tile edge to (core edge + halo) */
    *f0 = c0 > 0 ? (c0 - a) * 2 : 0;
    *f1 = c1 < len ? (b - c1) * 2 : 0;
    if (*f0 > b - a) *f0 = b - a;
    if (*f1 > b - a) *f1 = b - a;
}

/* tiles from cell boundaries bx[0..nx], by[0..ny] */
static void build(const tile_plan_params_t *p, int nx, int ny, const int *bx, const int *by, tile_plan_t *out) {
    out->n = 0;
    out->nx = nx;
    out->ny = ny;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            tile_t *t = &out->tiles[out->n++];
            t->core = (tile_rect_t){bx[i], by[j], bx[i + 1] - bx[i], by[j + 1] - by[j]};
            int x0, x1, y0, y1;
            span(bx[i], bx[i + 1], p->W, p->halo, p->min_side, &x0, &x1, &t->feather[0], &t->feather[2]);
            span(by[j], by[j + 1], p->H, p->halo, p->min_side, &y0, &y1, &t->feather[1], &t->feather[3]);
            t->r = (tile_rect_t){x0, y0, x1 - x0, y1 - y0};
        }
}

int tile_plan_grid(const tile_plan_params_t *p, int nx, int ny, int ox, int oy, tile_plan_t *out,
                   dream_err_t *err) {
    if (p->W <= 0 || p->H <= 0) return dream_err_set(err, "tile plan: bad canvas %dx%d", p->W, p->H);
    if (nx < 1 || ny < 1 || nx > TILE_MAX_GRID || ny > TILE_MAX_GRID || nx * ny > TILE_MAX)
        return dream_err_set(err, "tile plan: bad grid %dx%d", nx, ny);
    int bx[TILE_MAX_GRID + 1], by[TILE_MAX_GRID + 1];
    int ax = cut(p->W, nx, ox, p->halo, bx);
    int ay = cut(p->H, ny, oy, p->halo, by);
    memset(out, 0, sizeof *out);
    build(p, nx, ny, bx, by, out);
    out->ox = ax;
    out->oy = ay;
    return 0;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Strips (along the longer side) whose widths follow the speeds of the k fastest workers,
 * the widest first; inner boundaries jittered by jit. Returns -1 if a strip gets too thin. */
static int plan_weighted(const tile_plan_params_t *p, const tile_worker_t *w, int nw, int k, int jit,
                         uint64_t *rng, tile_plan_t *out) {
    if (k < 2 || k > TILE_MAX_GRID || k > nw) return -1;
    double sp[512];
    int m = nw < 512 ? nw : 512;
    for (int i = 0; i < m; i++) sp[i] = 1.0 / w[i].ms_per_mpix_step;
    qsort(sp, (size_t)m, sizeof sp[0], cmp_desc);
    double tot = 0;
    for (int i = 0; i < k; i++) tot += sp[i];
    int vertical = p->W >= p->H, len = vertical ? p->W : p->H;
    int b[TILE_MAX_GRID + 1], other[2] = {0, vertical ? p->H : p->W};
    double acc = 0;
    b[0] = 0;
    b[k] = len;
    for (int i = 1; i < k; i++) {
        acc += sp[i - 1];
        b[i] = (int)(len * acc / tot + 0.5);
        if (jit > 0 && rng) b[i] += (int)(dream_splitmix64(rng) % (uint64_t)(2 * jit + 1)) - jit;
    }
    for (int i = 0; i < k; i++)
        if (b[i + 1] - b[i] < p->min_side / 2) return -1;
    memset(out, 0, sizeof *out);
    if (vertical) build(p, k, 1, b, other, out);
    else build(p, 1, k, other, b, out);
    return 0;
}

/* amplitude of the random offset of inner grid lines for cells of size cell */
static int jitter_amp(const tile_plan_params_t *p, int cell) {
    int a = cell / 4;
    if (p->seam_jitter < 0) return 0;
    if (p->seam_jitter > 0 && p->seam_jitter < a) a = p->seam_jitter;
    return a;
}

void tile_plan_grid_offsets(const tile_plan_params_t *p, int nx, int ny, uint64_t rng_seed, int *ox, int *oy) {
    uint64_t s = rng_seed;
    int ax = jitter_amp(p, p->W / nx), ay = jitter_amp(p, p->H / ny);
    /* a 2-D grid moves one family of lines per keyframe, picked at random: the keyframe waits
     * for its biggest tile, and moving both at once makes that tile grow both ways (at 1080p
     * on 2x2, ~4 % slower keyframes on average instead of ~2 %) */
    if (nx > 1 && ny > 1 && ax > 0 && ay > 0) {
        if (dream_splitmix64(&s) & 1) ay = 0;
        else ax = 0;
    }
    *ox = nx > 1 && ax > 0 ? (int)(dream_splitmix64(&s) % (uint64_t)(2 * ax + 1)) - ax : 0;
    *oy = ny > 1 && ay > 0 ? (int)(dream_splitmix64(&s) % (uint64_t)(2 * ay + 1)) - ay : 0;
}

int tile_plan_make(const tile_plan_params_t *p, const tile_worker_t *w, int nw, uint64_t rng_seed,
                   tile_plan_t *out, dream_err_t *err) {
    if (p->halo < 64) return dream_err_set(err, "tile plan: halo %d < 64", p->halo);
    if (nw <= 0) return dream_err_set(err, "tile plan: no workers");
    int maxt = p->max_tiles > 0 && p->max_tiles < TILE_MAX ? p->max_tiles : TILE_MAX;
    double best = -1;
    int bnx = 0, bny = 0;
    tile_plan_t *t = malloc(sizeof *t);
    if (!t) return dream_err_set(err, "out of memory");
    /* by tile count: a grid with more tiles must beat the best so far by > 10 % (halo compute
     * and transfers grow with the count); among grids of one count the fastest wins */
    for (int count = 1; count <= maxt; count++)
        for (int ny = 1; ny <= TILE_MAX_GRID; ny++) {
            if (count % ny) continue;
            int nx = count / ny;
            if (nx > TILE_MAX_GRID) continue;
            /* a core must stay at least half the minimum side */
            if (nx > 1 && p->W / nx < p->min_side / 2) continue;
            if (ny > 1 && p->H / ny < p->min_side / 2) continue;
            if (tile_plan_grid(p, nx, ny, 0, 0, t, NULL)) continue;
            uint64_t px[TILE_MAX];
            for (int k = 0; k < t->n; k++) px[k] = (uint64_t)t->tiles[k].r.w * (uint64_t)t->tiles[k].r.h;
            double ms = tile_schedule_estimate(px, t->n, w, nw, p->steps, p->overhead_ms, NULL);
            if (ms < 0) continue;
            int same = bnx * bny == count;
            if (best < 0 || (same ? ms < best : ms < best * 0.90)) { best = ms; bnx = nx; bny = ny; }
        }
    /* heterogeneous workers: strips sized by speed, so the faster get the bigger tiles */
    int bk = 0;
    for (int k = 2; k <= nw && k <= TILE_MAX_GRID && k <= maxt; k++) {
        if (plan_weighted(p, w, nw, k, 0, NULL, t) != 0) continue;
        uint64_t px[TILE_MAX];
        for (int i = 0; i < t->n; i++) px[i] = (uint64_t)t->tiles[i].r.w * (uint64_t)t->tiles[i].r.h;
        double ms = tile_schedule_estimate(px, t->n, w, nw, p->steps, p->overhead_ms, NULL);
        if (ms >= 0 && best >= 0 && ms < best * 0.95) { best = ms; bk = k; }
    }
    /* the layout to keep stays unless the best beats it by more than prev_keep */
    if (best >= 0 && p->prev_nx > 0 && p->prev_nw == nw && (p->prev_weighted ? bk != p->prev_nx : (bk || bnx != p->prev_nx || bny != p->prev_ny))) {
        double prev = -1;
        int vertical = p->W >= p->H;
        if (p->prev_weighted && (vertical ? p->prev_ny == 1 : p->prev_nx == 1)) {
            int k = vertical ? p->prev_nx : p->prev_ny;
            if (k >= 2 && k <= nw && k <= maxt && plan_weighted(p, w, nw, k, 0, NULL, t) == 0) prev = k;
        } else if (!p->prev_weighted && p->prev_nx * p->prev_ny <= maxt && tile_plan_grid(p, p->prev_nx, p->prev_ny, 0, 0, t, NULL) == 0) {
            prev = 0;
        }
        if (prev >= 0) {
            uint64_t px[TILE_MAX];
            for (int i = 0; i < t->n; i++) px[i] = (uint64_t)t->tiles[i].r.w * (uint64_t)t->tiles[i].r.h;
            double ms = tile_schedule_estimate(px, t->n, w, nw, p->steps, p->overhead_ms, NULL);
            if (ms >= 0 && best >= ms * p->prev_keep) {
                best = ms;
                bk = (int)prev;
                if (!bk) { bnx = p->prev_nx; bny = p->prev_ny; }
            }
        }
    }
    free(t);
    if (best < 0)
        return dream_err_set(err, "tile plan: no grid of %dx%d fits the workers (largest tile they hold too small?)",
                             p->W, p->H);
    uint64_t s = rng_seed;
    if (bk) {
        int len = p->W >= p->H ? p->W : p->H;
        int jit = len / bk / 16;
        if (p->seam_jitter < 0) jit = 0;
        else if (p->seam_jitter > 0 && p->seam_jitter < jit) jit = p->seam_jitter;
        if (plan_weighted(p, w, nw, bk, jit, &s, out) != 0 && plan_weighted(p, w, nw, bk, 0, NULL, out) != 0)
            return dream_err_set(err, "tile plan: weighted strips failed");
        uint64_t px[TILE_MAX];
        for (int k = 0; k < out->n; k++) px[k] = (uint64_t)out->tiles[k].r.w * (uint64_t)out->tiles[k].r.h;
        out->est_ms = tile_schedule_estimate(px, out->n, w, nw, p->steps, p->overhead_ms, NULL);
        out->weighted = 1;
        if (out->est_ms >= 0) return 0;
        if (plan_weighted(p, w, nw, bk, 0, NULL, out) != 0) return dream_err_set(err, "tile plan: weighted strips failed");
        for (int k = 0; k < out->n; k++) px[k] = (uint64_t)out->tiles[k].r.w * (uint64_t)out->tiles[k].r.h;
        out->est_ms = tile_schedule_estimate(px, out->n, w, nw, p->steps, p->overhead_ms, NULL);
        out->weighted = 1;
        return 0;
    }
    int ox, oy;
    tile_plan_grid_offsets(p, bnx, bny, rng_seed, &ox, &oy);
    if (tile_plan_grid(p, bnx, bny, ox, oy, out, err)) return -1;
    /* the offset grid may need a bigger tile than planned: check it still fits someone */
    uint64_t px[TILE_MAX];
    for (int k = 0; k < out->n; k++) px[k] = (uint64_t)out->tiles[k].r.w * (uint64_t)out->tiles[k].r.h;
    out->est_ms = tile_schedule_estimate(px, out->n, w, nw, p->steps, p->overhead_ms, NULL);
    if (out->est_ms < 0) {
        if (tile_plan_grid(p, bnx, bny, 0, 0, out, err)) return -1;
        for (int k = 0; k < out->n; k++) px[k] = (uint64_t)out->tiles[k].r.w * (uint64_t)out->tiles[k].r.h;
        out->est_ms = tile_schedule_estimate(px, out->n, w, nw, p->steps, p->overhead_ms, NULL);
    }
    return 0;
}
