/*
 * tilesplit.h — a tile's pixels in "split" order, the layout of a tile-resident result in two
 * parts (Job.rest, docs/farm.md): first the tile less an inner rectangle (the hole: rows above
 * it whole, rows beside it as the run left of it then the run right of it, rows below it whole,
 * in raster order), then the hole's rows. The first part is the Result sent at once, the second
 * the rest sent later; the worker keeps the whole buffer as its tile, the coordinator reads the
 * two frames. With no hole (w or h 0) it is plain raster order.
 *
 * Rectangles are canvas coordinates {x, y, w, h}; the hole lies inside the tile (callers check).
 * A run of one row that does not cross the hole's left or right edge is contiguous
 * (tilesplit_pieces cuts any run there).
 */
#ifndef DREAM_TILESPLIT_H
#define DREAM_TILESPLIT_H
#include <stddef.h>
#include "px88.h"

typedef struct { int x, y, w, h; } tilesplit_rect_t;

static inline int tilesplit_has_hole(const tilesplit_rect_t *hole) { return hole && hole->w > 0 && hole->h > 0; }

/* pixels in the first part: the tile less the hole */
static inline size_t tilesplit_first_px(const tilesplit_rect_t *tile, const tilesplit_rect_t *hole) {
    size_t all = (size_t)tile->w * (size_t)tile->h;
    return tilesplit_has_hole(hole) ? all - (size_t)hole->w * (size_t)hole->h : all;
}

/* the index (in pixels, from the buffer's start) of canvas pixel (x, y), inside the tile */
static inline size_t tilesplit_index(const tilesplit_rect_t *tile, const tilesplit_rect_t *hole, int x, int y) {
    size_t rx = (size_t)(x - tile->x), ry = (size_t)(y - tile->y), tw = (size_t)tile->w;
    if (!tilesplit_has_hole(hole)) return ry * tw + rx;
    size_t hx0 = (size_t)(hole->x - tile->x), hy0 = (size_t)(hole->y - tile->y), hw = (size_t)hole->w,
           hh = (size_t)hole->h;
    if (ry < hy0) return ry * tw + rx;
    if (ry >= hy0 + hh) return ry * tw + rx - hw * hh;
    if (rx >= hx0 && rx < hx0 + hw) return tilesplit_first_px(tile, hole) + (ry - hy0) * hw + (rx - hx0);
    size_t row = hy0 * tw + (ry - hy0) * (tw - hw);
    return rx < hx0 ? row + rx : row + rx - hw;
}

/* the run [x0, x1) of canvas row y (inside the tile) cut where it crosses the hole's left and
 * right edges: up to 3 runs (xs[i], xs[i + 1]) each contiguous in the buffer; returns the count
 * (xs has count + 1 entries) */
static inline int tilesplit_pieces(const tilesplit_rect_t *hole, int y, int x0, int x1, int xs[4]) {
    int n = 0;
    xs[0] = x0;
    if (tilesplit_has_hole(hole) && y >= hole->y && y < hole->y + hole->h) {
        if (hole->x > x0 && hole->x < x1) xs[++n] = hole->x;
        if (hole->x + hole->w > x0 && hole->x + hole->w < x1) xs[++n] = hole->x + hole->w;
    }
    xs[++n] = x1;
    return n;
}

/* rows [y0, y1) of a w-wide tile's floats img (h, w, 3) as 8.8 (px88_from_float) into out, the
 * whole tile's buffer in split order around hole (tile pixels, w 0: none) */
static inline void tilesplit_rows88(const float *img, int w, int h, const tilesplit_rect_t *hole, int y0, int y1,
                                    uint8_t *out) {
    const tilesplit_rect_t tile = {0, 0, w, h};
    for (int y = y0; y < y1; y++) {
        int xs[4], np = tilesplit_pieces(hole, y, 0, w, xs);
        for (int k = 0; k < np; k++)
            px88_from_float(img + ((size_t)y * w + (size_t)xs[k]) * 3, out + tilesplit_index(&tile, hole, xs[k], y) * 6,
                            (size_t)(xs[k + 1] - xs[k]) * 3);
    }
}

#endif
