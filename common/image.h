/*
 * image.h — images in memory, PNG/JPEG files, and the geometric helpers of the
 * dream: zoom+rotate warps and the seed's keyframe interpolation.
 *
 * An image is float32 (H, W, C) row-major, values 0..255 (C = 3 RGB unless noted).
 */
#ifndef DREAM_IMAGE_H
#define DREAM_IMAGE_H
#include <stdint.h>
#include <stddef.h>
#include "dlog.h"

#define DREAM_IMAGE_MAX_SIDE 16384
#define DREAM_IMAGE_MAX_PIXELS (64u * 1024u * 1024u)

typedef struct dream_image {
    int w, h, c;
    float *px;              /* (h, w, c) */
} dream_image_t;

dream_image_t *dream_image_new(int w, int h, int c, dream_err_t *err);   /* zeroed */
dream_image_t *dream_image_clone(const dream_image_t *im, dream_err_t *err);
void dream_image_destroy(dream_image_t **im);

/* PNG or JPEG by content (magic bytes); always returns 3-channel RGB. Bounded by the limits above. */
dream_image_t *dream_image_load(const char *path, dream_err_t *err);
dream_image_t *dream_image_load_mem(const void *buf, size_t len, dream_err_t *err);
/* As above with a caller's pixel budget (w*h <= max_px, itself capped at DREAM_IMAGE_MAX_PIXELS),
 * checked from the header before any pixel buffer is allocated. */
dream_image_t *dream_image_load_max(const char *path, uint64_t max_px, dream_err_t *err);
dream_image_t *dream_image_load_mem_max(const void *buf, size_t len, uint64_t max_px, dream_err_t *err);
/* .png or .jpg/.jpeg by extension; pixels rounded and clamped to 0..255. */
int dream_image_save(const dream_image_t *im, const char *path, dream_err_t *err);
/* PNG encode to a malloc'd buffer (for /snapshot.png). */
int dream_image_encode_png(const dream_image_t *im, uint8_t **out, size_t *out_len, dream_err_t *err);
/* JPEG encode (quality 1..100) to a malloc'd buffer; dream_image_save uses quality 92. */
int dream_image_encode_jpeg(const dream_image_t *im, int quality, uint8_t **out, size_t *out_len,
                            dream_err_t *err);

/* float <-> 8-bit RGB (h, w, 3) */
void dream_image_to_rgb8(const dream_image_t *im, uint8_t *rgb);
/* the 8-bit rounding dream_image_to_rgb8 uses: clip to 0..255 (NaN -> 0), round half up */
static inline uint8_t dream_u8_from_float(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}
void dream_image_from_rgb8(dream_image_t *im, const uint8_t *rgb);

typedef enum { DREAM_INTERP_BILINEAR = 0, DREAM_INTERP_BICUBIC = 1 } dream_interp_t;

/* dst = src zoomed by `zoom` (>1 magnifies) and rotated by `angle_deg` (counter-clockwise)
 * about the image centre; dst and src have the same size and channels. Samples outside
 * src clamp to the edge. Returns 0, or -1 on size mismatch (also: dst == src, zoom not
 * finite/positive, angle not finite). Centre ((w-1)/2, (h-1)/2): dst pixel p samples
 * src at c + R(angle) (p - c) / zoom; zoom 1, angle 0 is an exact copy. */
int dream_warp(const dream_image_t *src, dream_image_t *dst, double zoom, double angle_deg,
               dream_interp_t interp, dream_err_t *err);
/* As dream_warp, also writing a coverage mask (h, w) with 1 where the sample fell inside src
 * (inside the pixel footprint [-0.5, w-0.5] x [-0.5, h-0.5]); covered may be NULL. */
int dream_warp_mask(const dream_image_t *src, dream_image_t *dst, uint8_t *covered, double zoom,
                    double angle_deg, dream_interp_t interp, dream_err_t *err);

/* dst of ANY size (same channels) = src resized to dst's size and warped, in one resampling:
 * dst pixel p samples src at c_src + S R(angle) (p - c_dst) / zoom, S = diag(src w / dst w,
 * src h / dst h) (pixel centres aligned, as skimage's resize). Same size: exactly dream_warp_mask.
 * The frame clock makes stream-size frames from canvas-size keyframes with it. */
int dream_warp_scaled(const dream_image_t *src, dream_image_t *dst, uint8_t *covered, double zoom,
                      double angle_deg, dream_interp_t interp, dream_err_t *err);
/* dst = src resized to dst's size (dream_warp_scaled with zoom 1, angle 0). */
int dream_image_resize(const dream_image_t *src, dream_image_t *dst, dream_interp_t interp, dream_err_t *err);

/* out (rh, rw, 3) = the rect (rx, ry, rw, rh) of dream_warp(src, zoom, angle_deg, interp)
 * through dream_image_to_rgb8, computed for that rect only (one thread; the tests check the
 * coordinator's tiles, cut from one warp of the whole canvas, against it). src must be
 * 3-channel; -1 with a message for a bad rect, zoom or angle. */
int dream_warp_rect_rgb8(const dream_image_t *src, double zoom, double angle_deg, dream_interp_t interp, int rx,
                         int ry, int rw, int rh, uint8_t *out, dream_err_t *err);

/* The window (*sx, *sy, *sw, *sh) of a W x H canvas that a same-size warp (zoom, angle_deg,
 * interp) reads for the destination rect (rx, ry, rw, rh): every tap of every sample plus a
 * pixel of margin, clamped to the canvas. -1 with a message for a bad size, rect or motion. */
int dream_warp_source_rect(int W, int H, double zoom, double angle_deg, dream_interp_t interp, int rx, int ry,
                           int rw, int rh, int *sx, int *sy, int *sw, int *sh, dream_err_t *err);

/* The warp's geometry for a W x H image (the header of warp.c): source centre (cx, cy) and
 * a = cos(angle) / zoom, b = sin(angle) / zoom, so that pixel (x, y) samples
 * (cx + a dx - b dy, cy + b dx + a dy) with (dx, dy) = (x - cx, y - cy). -1 on a bad zoom/angle. */
int dream_warp_coeffs(int W, int H, double zoom, double angle_deg, double *cx, double *cy, double *a, double *b,
                      dream_err_t *err);
/* out ((rh, rw, 3) floats) = the rect (rx, ry, rw, rh) of dream_warp(canvas, zoom, angle_deg,
 * interp) of a W x H x 3 canvas of which only the window (wx, wy, ww, wh) is given, as win
 * ((wh, ww, 3) floats): bit for bit what the whole canvas's warp gives there (a worker warps
 * its tile from the window the coordinator sends; tests/unit/test_warp.c). -1 with a message
 * when the window lacks a pixel the rect reads (dream_warp_source_rect) or an argument is bad. */
int dream_warp_window(const float *win, int wx, int wy, int ww, int wh, int W, int H, double zoom,
                      double angle_deg, dream_interp_t interp, int rx, int ry, int rw, int rh, float *out,
                      dream_err_t *err);

/* The seed's keyframe interpolation. `next` was made from `prev` warped by (zoom, angle).
 * For t in [0, 1]: warp prev forward by (zoom^t, t*angle) and next backward by
 * (zoom^(t-1), (t-1)*angle), crossfade (1-t, t); where next's backward warp leaves the
 * frame uncovered, use prev's warp alone. out must not alias prev or next; it may be larger
 * or smaller than prev (then both warps also resize, dream_warp_scaled: one resampling).
 * Same size: t = 0 gives prev exactly, t = 1 next exactly. Both warps are bilinear. */
int dream_interpolate(const dream_image_t *prev, const dream_image_t *next, double zoom,
                      double angle_deg, double t, dream_image_t *out, dream_err_t *err);

/* The general crossfade the frame clock uses: out = (1-w) prev warped by (zoom_p, angle_p)
 * + w next warped by (zoom_n, angle_n), both resized to out's size (dream_warp_scaled,
 * bilinear); where next's warp leaves the frame uncovered, prev's warp alone.
 * dream_interpolate(t) is this with (zoom^t, t angle), (zoom^(t-1), (t-1) angle), w = t. */
int dream_crossfade(const dream_image_t *prev, double zoom_p, double angle_p, const dream_image_t *next,
                    double zoom_n, double angle_n, double w, dream_image_t *out, dream_err_t *err);

#endif
