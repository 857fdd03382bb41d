/*
 * blend.h — feathered blending of returned tiles into a keyframe.
 *
 * Each tile contributes with a weight that is the product of two 1-D
 * smoothstep ramps across its overlap zones (tile edge -> core edge + halo);
 * at a canvas edge the ramp is flat. Neighbouring ramps sum to one across an
 * overlap, so there is no seam. The warped previous keyframe ("base") fills
 * with weight max(0, 1 - sum of tile weights): a tile missing at the deadline
 * is filled from it, fading into its neighbours' halos.
 */
#ifndef DREAM_BLEND_H
#define DREAM_BLEND_H
#include <stdint.h>
#include "dlog.h"
#include "image.h"
#include "tiles.h"

typedef struct blend blend_t;

blend_t *blend_new(int W, int H, dream_err_t *err);
void blend_destroy(blend_t **b);
void blend_reset(blend_t *b);
/* Weight of a pixel at offset i in [0, len) with feathers f0 (start) and f1 (end). */
float blend_ramp(int i, int len, int f0, int f1);
/* Adds a tile's pixels: rgb8 (t->r.h, t->r.w, 3). */
int blend_add_rgb8(blend_t *b, const tile_t *t, const uint8_t *rgb, dream_err_t *err);
/* out = (sum w_i tile_i + w_base base) / (sum w_i + w_base); base and out are W x H x 3. */
int blend_finish(blend_t *b, const dream_image_t *base, dream_image_t *out, dream_err_t *err);
/* Float canvas (coordinator): adds w * (res - sent) for a tile sent as `sent` and returned as
 * `res` (both rgb8 (t->r.h, t->r.w, 3)); blend_finish_delta then gives
 * out = clip(base + sum w_i (res_i - sent_i) / max(sum w_i, 1), 0, 255), which equals
 * blend(results) - blend(sent) + base with the same weights, in one accumulator and one pass
 * (out may be the canvas the base was warped from, but not base itself). */
int blend_add_delta_rgb8(blend_t *b, const tile_t *t, const uint8_t *res, const uint8_t *sent, dream_err_t *err);
int blend_finish_delta(blend_t *b, const dream_image_t *base, dream_image_t *out, dream_err_t *err);
/* The same float-canvas blend without full-canvas passes (the coordinator's keyframe loop):
 * blend_add_delta_plan writes the pixels that tile k of the plan alone covers straight into
 * out on arrival (one tile's blend is known without the others) and accumulates only where
 * tiles overlap; blend_finish_delta_plan (done[k] != 0: tile k arrived) computes the overlaps
 * (and clears them in the accumulator: no reset pass), and copies base where a tile is missing.
 * Equal to blend_add_delta_rgb8 + blend_finish_delta (bit for bit); out must not be base, and
 * the accumulator must start cleared (blend_new, or the previous blend_finish_delta_plan). */
int blend_add_delta_plan(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, const uint8_t *sent,
                         const dream_image_t *base, dream_image_t *out, dream_err_t *err);
int blend_finish_delta_plan(blend_t *b, const tile_plan_t *pl, const uint8_t *done, const dream_image_t *base,
                            dream_image_t *out, dream_err_t *err);
/* Tile-resident farm (--tile-warp resident): results come back in 8.8 fixed point (res88,
 * (h, w, 3) uint16 LE) and ARE the keyframe: no base, no delta. blend_add_fixed_plan writes
 * what tile k alone covers at weight 1 straight into out (value / 256, exact), and every other
 * pixel of it (overlaps, feathers) as soon as the last tile covering that pixel is in: sum w v /
 * sum w over those tiles' results, in tile order, rounded to 8.8 (no accumulator: the results
 * are read again, so res88 must stay valid and unchanged until blend_finish_fixed_plan). When
 * every tile is in, the last add has written every pixel the plan's tiles cover (all of the
 * canvas: tile_plan_grid's cores partition it) and the finish only forgets the results (base
 * may be NULL then); with a tile missing it fills from base (the warped previous
 * keyframe) up to weight 1 and copies base (rounded to 8.8) where no result covers. The
 * canvas stays exactly 8.8. blend_alone_rect: the rectangle of tile k where the canvas is its result bit for bit
 * (weight 1, no other tile), the part a worker keeps and the next job need not carry.
 * out88 (may be NULL): the same values as 8.8 LE bytes, (H, W, 3) uint16, written wherever out
 * is (the coordinator's mirror of its canvas, which windows are cut and hashed from without
 * conversions); out may be NULL when out88 is not (the coordinator makes its float canvas from
 * the mirror after the next hand-out). */
int blend_add_fixed_plan(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res88, dream_image_t *out,
                         uint8_t *out88, dream_err_t *err);
/* The same for an 8-bit result (res: (h, w, 3) bytes; --tile-result 8) meaning value * 256: what
 * blend_add_fixed_plan gives for the 8.8 result with those values and a zero low byte. */
int blend_add_fixed_plan_u8(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, dream_image_t *out,
                            uint8_t *out88, dream_err_t *err);
int blend_finish_fixed_plan(blend_t *b, const tile_plan_t *pl, const uint8_t *done, const dream_image_t *base,
                            dream_image_t *out, uint8_t *out88, dream_err_t *err);
/* blend_add_fixed_plan (u8 = 0) or _u8 (u8 = 1) less later (a rectangle inside blend_alone_rect
 * of tile k, or NULL): those pixels are the result's as they are and the caller copies them
 * itself with blend_copy_fixed, e.g. once the next keyframe's jobs are out (the coordinator's
 * critical path then blends the overlaps and the rim, not the bulk of each tile) */
int blend_add_fixed_later(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, int u8, const tile_rect_t *later,
                          dream_image_t *out, uint8_t *out88, dream_err_t *err);
/* rect (canvas coordinates, inside tile) of the result res of that tile (8.8, or 8-bit: u8) as it
 * is into out / out88 of a W x H canvas */
int blend_copy_fixed(const tile_rect_t *tile, const uint8_t *res, int u8, const tile_rect_t *rect, int W, int H,
                     dream_image_t *out, uint8_t *out88, dream_err_t *err);
/* A tile-resident result in two parts (Job.rest): res is in split order (common/tilesplit.h) and
 * lacks hole (inside later, inside the alone rect): blend_add_fixed_later for such a result */
int blend_add_fixed_split(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, int u8, const tile_rect_t *hole,
                          const tile_rect_t *later, dream_image_t *out, uint8_t *out88, dream_err_t *err);
/* blend_copy_fixed of such a result: res the first part, rest the hole's pixels (the second part,
 * (h, w, 3) of hole) or NULL: then the pixels of rect inside the hole are not written */
int blend_copy_fixed_split(const tile_rect_t *tile, const tile_rect_t *hole, const uint8_t *res, const uint8_t *rest,
                           int u8, const tile_rect_t *rect, int W, int H, dream_image_t *out, uint8_t *out88,
                           dream_err_t *err);
tile_rect_t blend_alone_rect(const tile_plan_t *pl, int k);

/* The part of tile k's alone rect that no other tile's window of the next keyframe reads (the rest
 * of a result in two parts, Job.rest: docs/farm.md), or an empty rect. next: the next keyframe's
 * plan when known (same tile count): the alone rect less every other next tile's window for this
 * keyframe's motion and for half as much again (zoom^1.5, 1.5 x angle: the next keyframe's motion
 * is not known yet), plus 4 px, cut off by whichever side keeps the most. NULL: less a margin
 * towards every other tile (twice the seam jitter, the zoom's pull at worst, 16 px of taps). At
 * least 32 x 32 px, else empty. */
tile_rect_t blend_rest_rect(const tile_plan_t *pl, int k, const tile_plan_t *next, int W, int H, double zoom,
                            double angle_deg, dream_interp_t interp, int seam_jitter);

#endif
