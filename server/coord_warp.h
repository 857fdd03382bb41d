/*
 * coord_warp.h — warping one tile of the keyframe straight into 8-bit RGB
 * (server/coord_warp.c); bit-identical to dream_warp (bilinear) + dream_image_to_rgb8
 * cut to the rectangle.
 */
#ifndef DREAM_COORD_WARP_H
#define DREAM_COORD_WARP_H
#include <stdint.h>
#include "dlog.h"
#include "image.h"

/* out (rh, rw, 3) = rect (rx, ry, rw, rh) of dream_warp(src, zoom, angle_deg, bilinear) as 8-bit.
 * src must be 3-channel; returns -1 with a message for a bad rect, zoom or angle. */
int coord_warp_rect_rgb8(const dream_image_t *src, double zoom, double angle_deg, int rx, int ry, int rw,
                         int rh, uint8_t *out, dream_err_t *err);

#endif
