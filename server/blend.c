/*
 * blend.c — feathered tile blending with the warped previous keyframe as the
 * fill for missing tiles; see blend.h.
 */
#include "blend.h"
#include <stdlib.h>
#include <string.h>

struct blend {
    int W, H;
    float *acc;     /* (H, W, 3) */
    float *wsum;    /* (H, W) */
};

blend_t *blend_new(int W, int H, dream_err_t *err) {
    if (W <= 0 || H <= 0 || (size_t)W * H > DREAM_IMAGE_MAX_PIXELS) {
        dream_err_set(err, "blend: bad size %dx%d", W, H);
        return NULL;
    }
    blend_t *b = calloc(1, sizeof *b);
    if (!b) { dream_err_set(err, "out of memory"); return NULL; }
    b->W = W;
    b->H = H;
    b->acc = calloc((size_t)W * H * 3, sizeof(float));
    b->wsum = calloc((size_t)W * H, sizeof(float));
    if (!b->acc || !b->wsum) {
        blend_destroy(&b);
        dream_err_set(err, "out of memory for a %dx%d blend", W, H);
        return NULL;
    }
    return b;
}

void blend_destroy(blend_t **pb) {
    if (!pb || !*pb) return;
    free((*pb)->acc);
    free((*pb)->wsum);
    free(*pb);
    *pb = NULL;
}

void blend_reset(blend_t *b) {
    memset(b->acc, 0, (size_t)b->W * b->H * 3 * sizeof(float));
    memset(b->wsum, 0, (size_t)b->W * b->H * sizeof(float));
}

static float smooth(float s) {
    if (s <= 0) return 0;
    if (s >= 1) return 1;
    return s * s * (3 - 2 * s);
}

float blend_ramp(int i, int len, int f0, int f1) {
    float w = 1;
    if (f0 > 0) w *= smooth(((float)i + 0.5f) / (float)f0);
    if (f1 > 0) w *= smooth(((float)(len - i) - 0.5f) / (float)f1);
    return w;
}

int blend_add_rgb8(blend_t *b, const tile_t *t, const uint8_t *rgb, dream_err_t *err) {
    const tile_rect_t *r = &t->r;
    if (r->x < 0 || r->y < 0 || r->w <= 0 || r->h <= 0 || r->x + r->w > b->W || r->y + r->h > b->H)
        return dream_err_set(err, "blend: tile %dx%d+%d+%d outside %dx%d", r->w, r->h, r->x, r->y, b->W, b->H);
    float *wx = malloc((size_t)r->w * sizeof(float));
    if (!wx) return dream_err_set(err, "out of memory");
    for (int i = 0; i < r->w; i++) wx[i] = blend_ramp(i, r->w, t->feather[0], t->feather[2]);
    #pragma omp parallel for schedule(static) if ((long)r->w * r->h > 65536)
    for (int j = 0; j < r->h; j++) {
        float wy = blend_ramp(j, r->h, t->feather[1], t->feather[3]);
        const uint8_t *src = rgb + (size_t)j * r->w * 3;
        size_t row = (size_t)(r->y + j) * b->W + r->x;
        float *acc = b->acc + row * 3, *ws = b->wsum + row;
        for (int i = 0; i < r->w; i++) {
            float w = wx[i] * wy;
            acc[3 * i + 0] += w * src[3 * i + 0];
            acc[3 * i + 1] += w * src[3 * i + 1];
            acc[3 * i + 2] += w * src[3 * i + 2];
            ws[i] += w;
        }
    }
    free(wx);
    return 0;
}

int blend_finish(blend_t *b, const dream_image_t *base, dream_image_t *out, dream_err_t *err) {
    if (!base || !out || base->w != b->W || base->h != b->H || out->w != b->W || out->h != b->H ||
        base->c != 3 || out->c != 3)
        return dream_err_set(err, "blend: base/out must be %dx%dx3", b->W, b->H);
    long n = (long)b->W * b->H;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long k = 0; k < n; k++) {
        float ws = b->wsum[k];
        float wb = ws < 1 ? 1 - ws : 0;
        wb += 1e-6f;
        float inv = 1.0f / (ws + wb);
        for (int c = 0; c < 3; c++) out->px[3 * k + c] = (b->acc[3 * k + c] + wb * base->px[3 * k + c]) * inv;
    }
    return 0;
}

/* the float canvas's path: one accumulator of w * (result - sent) instead of two blends */
int blend_add_delta_rgb8(blend_t *b, const tile_t *t, const uint8_t *res, const uint8_t *sent, dream_err_t *err) {
    const tile_rect_t *r = &t->r;
    if (r->x < 0 || r->y < 0 || r->w <= 0 || r->h <= 0 || r->x + r->w > b->W || r->y + r->h > b->H)
        return dream_err_set(err, "blend: tile %dx%d+%d+%d outside %dx%d", r->w, r->h, r->x, r->y, b->W, b->H);
    float *wx = malloc((size_t)r->w * sizeof(float));
    if (!wx) return dream_err_set(err, "out of memory");
    for (int i = 0; i < r->w; i++) wx[i] = blend_ramp(i, r->w, t->feather[0], t->feather[2]);
    #pragma omp parallel for schedule(static) if ((long)r->w * r->h > 65536)
    for (int j = 0; j < r->h; j++) {
        float wy = blend_ramp(j, r->h, t->feather[1], t->feather[3]);
        const uint8_t *src = res + (size_t)j * r->w * 3, *s0 = sent + (size_t)j * r->w * 3;
        size_t row = (size_t)(r->y + j) * b->W + r->x;
        float *acc = b->acc + row * 3, *ws = b->wsum + row;
        for (int i = 0; i < r->w; i++) {
            float w = wx[i] * wy;
            acc[3 * i + 0] += w * (float)((int)src[3 * i + 0] - (int)s0[3 * i + 0]);
            acc[3 * i + 1] += w * (float)((int)src[3 * i + 1] - (int)s0[3 * i + 1]);
            acc[3 * i + 2] += w * (float)((int)src[3 * i + 2] - (int)s0[3 * i + 2]);
            ws[i] += w;
        }
    }
    free(wx);
    return 0;
}

int blend_finish_delta(blend_t *b, const dream_image_t *base, dream_image_t *out, dream_err_t *err) {
    if (!base || !out || base->w != b->W || base->h != b->H || out->w != b->W || out->h != b->H ||
        base->c != 3 || out->c != 3)
        return dream_err_set(err, "blend: base/out must be %dx%dx3", b->W, b->H);
    long n = (long)b->W * b->H;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long k = 0; k < n; k++) {
        float ws = b->wsum[k];
        float wb = ws < 1 ? 1 - ws : 0;
        wb += 1e-6f;
        float inv = 1.0f / (ws + wb);
        for (int c = 0; c < 3; c++) {
            float v = base->px[3 * k + c] + b->acc[3 * k + c] * inv;
            out->px[3 * k + c] = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        }
    }
    return 0;
}
