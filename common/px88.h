/*
 * px88.h — pixel values in 8.8 fixed point (uint16 little-endian, value * 256), the format of
 * tile windows and tile-resident results (docs/farm.md), and float clipping: the per-pixel
 * passes of the farm's hot path, four values at a time with GCC vector extensions.
 *
 * Every function is bit for bit its scalar definition (given in its comment): the vectors do
 * the same IEEE operations per element, clamps are compare masks (so -0.0 and NaN behave as
 * in the scalar code), float -> int truncates like a C cast. Big-endian hosts take the
 * scalar loops. tests/unit/test_blend.c checks them against the scalar definitions.
 */
#ifndef DREAM_PX88_H
#define DREAM_PX88_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef float px88_v4f __attribute__((vector_size(16)));
typedef int px88_v4i __attribute__((vector_size(16)));
typedef unsigned short px88_v4u __attribute__((vector_size(8)));

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PX88_VEC 1
#else
#define PX88_VEC 0
#endif

/* one value in 8.8: v clamped to 0..255, then (uint16_t)(v * 256 + 0.5) (v * 256 is exact:
 * rounds half up); the scalar definition of px88_from_float */
static inline uint16_t px88_q(float v) {
    v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    return (uint16_t)(v * 256.0f + 0.5f);
}

/* v = v < 0 ? 0 : v > 255 ? 255 : v, four lanes */
static inline px88_v4f px88_clamp4(px88_v4f v) {
    const px88_v4f top = {255.0f, 255.0f, 255.0f, 255.0f};
    px88_v4i lo = v < 0.0f, hi = v > 255.0f;
    return (px88_v4f)(((px88_v4i)v & ~lo & ~hi) | ((px88_v4i)top & hi));
}

/* out[i] = (q[2i] | q[2i+1] << 8) / 256 */
static inline void px88_to_float(const uint8_t *q, float *out, size_t n) {
    size_t i = 0;
#if PX88_VEC
    for (; i + 4 <= n; i += 4) {
        px88_v4u u;
        memcpy(&u, q + 2 * i, sizeof u);
        /* through int32 lanes: gcc turns u16 -> float directly into four scalar conversions,
         * u16 -> i32 -> float into pmovzxwd + cvtdq2ps (the same exact values) */
        px88_v4f f = __builtin_convertvector(__builtin_convertvector(u, px88_v4i), px88_v4f) * (1.0f / 256.0f);
        memcpy(out + i, &f, sizeof f);
    }
#endif
    for (; i < n; i++) out[i] = (float)(q[2 * i] | (q[2 * i + 1] << 8)) * (1.0f / 256.0f);
}

/* a whole (h, w, 3) 8.8 image to floats, its rows over the cores (the coordinator's float
 * canvas, the display's keyframe) */
static inline void px88_image_to_float(const uint8_t *q, float *out, int w, int h) {
    #pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) px88_to_float(q + (size_t)y * w * 6, out + (size_t)y * w * 3, (size_t)w * 3);
}

/* v clamped to 0..255, then q = (uint16_t)(v * 256 + 0.5) as 2 bytes LE */
static inline void px88_from_float(const float *v, uint8_t *q, size_t n) {
    size_t i = 0;
#if PX88_VEC
    for (; i + 4 <= n; i += 4) {
        px88_v4f f;
        memcpy(&f, v + i, sizeof f);
        f = px88_clamp4(f) * 256.0f + 0.5f;
        px88_v4u u = __builtin_convertvector(__builtin_convertvector(f, px88_v4i), px88_v4u);
        memcpy(q + 2 * i, &u, sizeof u);
    }
#endif
    for (; i < n; i++) {
        uint16_t u = px88_q(v[i]);
        q[2 * i] = (uint8_t)(u & 0xff);
        q[2 * i + 1] = (uint8_t)(u >> 8);
    }
}

typedef unsigned short px88_v8u __attribute__((vector_size(16)));

/* 1 when every one of the n 8.8 values q (LE) is <= 255.0 (65280), the canvas's range */
static inline int px88_in_range(const uint8_t *q, size_t n) {
    size_t i = 0;
#if PX88_VEC
    px88_v8u bad = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= n; i += 8) {
        px88_v8u u;
        memcpy(&u, q + 2 * i, sizeof u);
        bad |= (px88_v8u)(u > 65280);
    }
    for (int k = 0; k < 8; k++)
        if (bad[k]) return 0;
#endif
    for (; i < n; i++)
        if ((q[2 * i] | (q[2 * i + 1] << 8)) > 65280) return 0;
    return 1;
}

typedef unsigned char px88_v4b __attribute__((vector_size(4)));

/* u[i] = dream_u8_from_float(f[i]) (image.h): 0 for v <= 0 or NaN, 255 for v >= 255, else
 * (uint8_t)(v + 0.5): a worker's 8-bit result, four values at a time */
static inline void px_round_u8(const float *f, uint8_t *u, size_t n) {
    size_t i = 0;
    const px88_v4f top = {255.0f, 255.0f, 255.0f, 255.0f};
    for (; i + 4 <= n; i += 4) {
        px88_v4f v;
        memcpy(&v, f + i, sizeof v);
        v = (px88_v4f)((px88_v4i)v & (v > 0.0f));                  /* <= 0 and NaN -> 0 */
        px88_v4i hi = v >= 255.0f;
        v = (px88_v4f)(((px88_v4i)v & ~hi) | ((px88_v4i)top & hi)) + 0.5f;
        px88_v4b b = __builtin_convertvector(__builtin_convertvector(v, px88_v4i), px88_v4b);
        memcpy(u + i, &b, sizeof b);
    }
    for (; i < n; i++) {
        float v = f[i];
        u[i] = !(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
    }
}

/* v[i] = v[i] < 0 ? 0 : v[i] > 255 ? 255 : v[i] */
static inline void px88_clip255(float *v, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        px88_v4f f;
        memcpy(&f, v + i, sizeof f);
        f = px88_clamp4(f);
        memcpy(v + i, &f, sizeof f);
    }
    for (; i < n; i++) v[i] = v[i] < 0.0f ? 0.0f : v[i] > 255.0f ? 255.0f : v[i];
}

#endif
