/*
 * coord_warp.c — the keyframe warp straight into one tile's 8-bit pixels, so the
 * coordinator can hand tiles out without first warping and converting the whole
 * canvas (that happens afterwards, while the workers compute). Same geometry and
 * bilinear sampling as dream_warp (common/warp.c), then the rounding of
 * dream_image_to_rgb8: the pixels equal a cut from the whole-canvas warp.
 */
#include "coord_warp.h"
#include <math.h>

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static inline uint8_t to_u8(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}

/* as sample_bilinear in common/warp.c, for 3 channels */
static inline void sample3(const float *sp, int W, int H, double sx, double sy, float *out) {
    if (sx >= 0.0 && sy >= 0.0 && sx < W - 1 && sy < H - 1) {
        const int x0 = (int)sx, y0 = (int)sy;
        const float tx = (float)(sx - x0), ty = (float)(sy - y0);
        const float w00 = (1.0f - tx) * (1.0f - ty), w01 = tx * (1.0f - ty);
        const float w10 = (1.0f - tx) * ty, w11 = tx * ty;
        const float *p = sp + ((size_t)y0 * W + x0) * 3, *q = p + (size_t)W * 3;
        out[0] = w00 * p[0] + w01 * p[3] + w10 * q[0] + w11 * q[3];
        out[1] = w00 * p[1] + w01 * p[4] + w10 * q[1] + w11 * q[4];
        out[2] = w00 * p[2] + w01 * p[5] + w10 * q[2] + w11 * q[5];
        return;
    }
    if (sx < -4.0) sx = -4.0; else if (sx > W + 3.0) sx = W + 3.0;
    if (sy < -4.0) sy = -4.0; else if (sy > H + 3.0) sy = H + 3.0;
    const double fx0 = floor(sx), fy0 = floor(sy);
    const int x0 = (int)fx0, y0 = (int)fy0;
    const float tx = (float)(sx - fx0), ty = (float)(sy - fy0);
    const int xa = clampi(x0, 0, W - 1) * 3, xb = clampi(x0 + 1, 0, W - 1) * 3;
    const float *ra = sp + (size_t)clampi(y0, 0, H - 1) * W * 3;
    const float *rb = sp + (size_t)clampi(y0 + 1, 0, H - 1) * W * 3;
    for (int ch = 0; ch < 3; ch++) {
        float top = ra[xa + ch] * (1.0f - tx) + ra[xb + ch] * tx;
        float bot = rb[xa + ch] * (1.0f - tx) + rb[xb + ch] * tx;
        out[ch] = top * (1.0f - ty) + bot * ty;
    }
}

int coord_warp_rect_rgb8(const dream_image_t *src, double zoom, double angle_deg, int rx, int ry, int rw,
                         int rh, uint8_t *out, dream_err_t *err) {
    if (!src || !src->px || src->c != 3 || !out) return dream_err_set(err, "warp rect: need a 3-channel image");
    if (rw <= 0 || rh <= 0 || rx < 0 || ry < 0 || rx + rw > src->w || ry + rh > src->h)
        return dream_err_set(err, "warp rect: %dx%d+%d+%d outside %dx%d", rw, rh, rx, ry, src->w, src->h);
    if (!isfinite(zoom) || zoom <= 1e-6 || zoom > 1e6) return dream_err_set(err, "warp rect: invalid zoom %g", zoom);
    if (!isfinite(angle_deg)) return dream_err_set(err, "warp rect: invalid angle %g", angle_deg);
    double rad = fmod(angle_deg, 360.0) * (M_PI / 180.0);
    double cs = cos(rad), sn = sin(rad);
    if (fabs(cs) < 1e-12) cs = 0.0;
    if (fabs(sn) < 1e-12) sn = 0.0;
    const double cx = (src->w - 1) * 0.5, cy = (src->h - 1) * 0.5, a = cs / zoom, b = sn / zoom;
    const int W = src->w, H = src->h;
    const float *sp = src->px;
    for (int j = 0; j < rh; j++) {      /* one thread: callers run tiles in parallel */
        const double dy = ry + j - cy;
        uint8_t *o = out + (size_t)j * rw * 3;
        for (int i = 0; i < rw; i++, o += 3) {
            const double dx = rx + i - cx;
            float v[3];
            sample3(sp, W, H, cx + a * dx - b * dy, cy + b * dx + a * dy, v);
            o[0] = to_u8(v[0]);
            o[1] = to_u8(v[1]);
            o[2] = to_u8(v[2]);
        }
    }
    return 0;
}
