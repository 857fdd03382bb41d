/*
 * cuda_warp.cu — a tile-resident job's warp on the device (backend op warp_window,
 * docs/farm.md "Tile-resident workers"): out (th, tw, 3) = the tile (tx, ty, tw, th) of the
 * W x H canvas warped by zoom / angle about its centre, sampled from the job's window
 * win ((sh, sw, 3) uint16 = value * 256, at (sx, sy) of the canvas).
 *
 * One thread per output pixel, the general path of common/warp.c (the reference; the CPU
 * backend's op is dream_warp_window itself): s = c + R(angle) (p - c) / zoom in double, taps
 * at floor(s) - 1 .. + 2 clamped to the canvas, Keys weights (a = -0.5) computed in double and
 * rounded to float, acc += wy[r] * (wx[0] v0 + wx[1] v1 + wx[2] v2 + wx[3] v3) row by row; or
 * bilinear. The geometry (cx, cy, a, b) comes from dream_warp_coeffs on the host, and the
 * host checks with dream_warp_source_rect that the window holds every tap (no read outside
 * it). nvcc may contract a*b+c into FMAs: the result is close to the CPU's, not bit-equal
 * (test_backend_parity: max |diff| <= 1e-3 on 0..255 values).
 */
#include "cuda_internal.h"
extern "C" {
#include "image.h"
}
#include <math.h>
#include <stdio.h>

#define GS_LOOP(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__device__ static inline int clamp_i(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Keys cubic weights for t in [0, 1), taps at -1, 0, 1, 2 (warp.c keys_weights) */
__device__ static inline void keys_w(double t, float w[4]) {
    const double A = -0.5;
    double t2 = t * t, t3 = t2 * t;
    double u = 1.0 - t, u2 = u * u, u3 = u2 * u;
    w[0] = (float)(A * t3 - 2.0 * A * t2 + A * t);
    w[1] = (float)((A + 2.0) * t3 - (A + 3.0) * t2 + 1.0);
    w[2] = (float)((A + 2.0) * u3 - (A + 3.0) * u2 + 1.0);
    w[3] = (float)(A * u3 - 2.0 * A * u2 + A * u);
}

__global__ void k_warp_window(const uint16_t *__restrict__ win, int sx0, int sy0, int sw, int W, int H,
                              double cx, double cy, double a, double b, int cubic, int tx, int ty, int tw,
                              size_t n, float *__restrict__ out) {
    GS_LOOP(i, n) {
        const int x = tx + (int)(i % (size_t)tw), y = ty + (int)(i / (size_t)tw);
        const double dx = x - cx, dy = y - cy;
        double sx = cx + a * dx - b * dy, sy = cy + b * dx + a * dy;
        if (sx < -4.0) sx = -4.0; else if (sx > W + 3.0) sx = W + 3.0;
        if (sy < -4.0) sy = -4.0; else if (sy > H + 3.0) sy = H + 3.0;
        const double fx0 = floor(sx), fy0 = floor(sy);
        const int x0 = (int)fx0, y0 = (int)fy0;
        float *o = out + i * 3;
        const float k = 1.0f / 256.0f;
        if (cubic) {
            float wx[4], wy[4];
            keys_w(sx - fx0, wx);
            keys_w(sy - fy0, wy);
            int xi[4];
            const uint16_t *rows[4];
            for (int q = 0; q < 4; q++) {
                xi[q] = (clamp_i(x0 - 1 + q, 0, W - 1) - sx0) * 3;
                rows[q] = win + (size_t)(clamp_i(y0 - 1 + q, 0, H - 1) - sy0) * sw * 3;
            }
            for (int ch = 0; ch < 3; ch++) {
                float acc = 0.0f;
                for (int r = 0; r < 4; r++) {
                    const uint16_t *row = rows[r] + ch;
                    acc += wy[r] * (wx[0] * ((float)row[xi[0]] * k) + wx[1] * ((float)row[xi[1]] * k) +
                                    wx[2] * ((float)row[xi[2]] * k) + wx[3] * ((float)row[xi[3]] * k));
                }
                o[ch] = acc;
            }
        } else {
            const float fx = (float)(sx - fx0), fy = (float)(sy - fy0);
            const int xa = (clamp_i(x0, 0, W - 1) - sx0) * 3, xb = (clamp_i(x0 + 1, 0, W - 1) - sx0) * 3;
            const uint16_t *ra = win + (size_t)(clamp_i(y0, 0, H - 1) - sy0) * sw * 3;
            const uint16_t *rb = win + (size_t)(clamp_i(y0 + 1, 0, H - 1) - sy0) * sw * 3;
            for (int ch = 0; ch < 3; ch++) {
                float top = ((float)ra[xa + ch] * k) * (1.0f - fx) + ((float)ra[xb + ch] * k) * fx;
                float bot = ((float)rb[xa + ch] * k) * (1.0f - fx) + ((float)rb[xb + ch] * k) * fx;
                o[ch] = top * (1.0f - fy) + bot * fy;
            }
        }
    }
}

int cuda_warp_window(void *ctx, const uint16_t *win, int sx, int sy, int sw, int sh, int W, int H, double zoom,
                     double angle_deg, int bicubic, int tx, int ty, int tw, int th, float *out) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    dream_err_t err = {{0}};
    double cx, cy, a, b;
    int nx, ny, nw, nh;
    if (dream_warp_coeffs(W, H, zoom, angle_deg, &cx, &cy, &a, &b, &err) != 0 ||
        dream_warp_source_rect(W, H, zoom, angle_deg, bicubic ? DREAM_INTERP_BICUBIC : DREAM_INTERP_BILINEAR, tx, ty,
                               tw, th, &nx, &ny, &nw, &nh, &err) != 0) {
        snprintf(c->err, sizeof c->err, "warp_window: %.200s", err.msg);
        return -1;
    }
    if (sw <= 0 || sh <= 0 || sx < 0 || sy < 0 || sx + sw > W || sy + sh > H || nx < sx || ny < sy ||
        nx + nw > sx + sw || ny + nh > sy + sh) {
        snprintf(c->err, sizeof c->err, "warp_window: %dx%d+%d+%d does not hold the %dx%d+%d+%d the tile reads", sw,
                 sh, sx, sy, nw, nh, nx, ny);
        return -1;
    }
    size_t n = (size_t)tw * th;
    if (!n) return 0;
    k_warp_window<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(win, sx, sy, sw, W, H, cx, cy, a, b, bicubic, tx, ty, tw,
                                                              n, out);
    LAUNCH_CHECK(c, "k_warp_window");
    cuda_wrote(c, out, n * 3 * sizeof(float));
    return 0;
}
