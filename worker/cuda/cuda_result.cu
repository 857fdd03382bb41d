/*
 * cuda_result.cu — a tile-resident job's result made on the device (backend op result88,
 * docs/farm.md "Results in two parts"): out (h * w * 3 uint16) = x (h, w, 3) floats as 8.8
 * (px88_q: clamped to [0, 255], * 256 + 0.5, truncated) in split order around the hole (hx, hy,
 * hw, hh in tile pixels; common/tilesplit.h: the tile less the hole in raster order, then the
 * hole's rows). The worker downloads these 2 bytes a value instead of 4 and converts nothing.
 *
 * One thread per value. v * 256 is exact in float and a contracted FMA of it and 0.5 rounds
 * once, as the CPU's product and sum do: the bytes are the CPU backend's bit for bit
 * (test_backend_parity). The host checks the hole lies inside the tile.
 */
#include "cuda_internal.h"
#include <stdio.h>

#define GS_LOOP(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ void k_result88(const float *__restrict__ x, int w, int hx, int hy, int hw, int hh, size_t first, size_t n,
                           uint16_t *__restrict__ out) {
    GS_LOOP(i, n) {
        size_t p = i / 3, ch = i - p * 3, ry = p / (size_t)w, rx = p - ry * (size_t)w, tw = (size_t)w, idx;
        /* tilesplit_index */
        if (hw <= 0 || hh <= 0 || ry < (size_t)hy) {
            idx = p;
        } else if (ry >= (size_t)(hy + hh)) {
            idx = p - (size_t)hw * hh;
        } else if (rx >= (size_t)hx && rx < (size_t)(hx + hw)) {
            idx = first + (ry - hy) * (size_t)hw + (rx - hx);
        } else {
            size_t row = (size_t)hy * tw + (ry - hy) * (tw - hw);
            idx = rx < (size_t)hx ? row + rx : row + rx - hw;
        }
        float v = x[i];
        v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        out[idx * 3 + ch] = (uint16_t)(v * 256.0f + 0.5f);    /* little-endian, as the host's bytes */
    }
}

int cuda_result88(void *ctx, const float *x, int h, int w, int hx, int hy, int hw, int hh, uint16_t *out) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    int hole = hw > 0 && hh > 0;
    if (h <= 0 || w <= 0 || (hole && (hx < 0 || hy < 0 || hx + hw > w || hy + hh > h))) {
        snprintf(c->err, sizeof c->err, "result88: hole %dx%d+%d+%d outside the %dx%d tile", hw, hh, hx, hy, w, h);
        return -1;
    }
    size_t n = (size_t)h * w * 3, first = (size_t)h * w - (hole ? (size_t)hw * hh : 0);
    k_result88<<<cuda_grid(c, n, 256), 256, 0, c->stream>>>(x, w, hole ? hx : 0, hole ? hy : 0, hole ? hw : 0, hole ? hh : 0,
                                                           first, n, out);
    LAUNCH_CHECK(c, "k_result88");
    cuda_wrote(c, out, n * sizeof(uint16_t));
    return 0;
}
