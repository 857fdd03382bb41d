/*
 * canvas.c — the start canvas (see canvas.h).
 */
#include "canvas.h"
#include "rng.h"
#include <math.h>

void dream_canvas_synthetic(dream_image_t *im, uint64_t seed) {
    uint64_t s = seed * 7919u + 17u;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            float *p = im->px + ((size_t)y * im->w + x) * 3;
            double gx = (double)x / im->w, gy = (double)y / im->h;
            for (int c = 0; c < 3; c++) {
                double n = (double)(dream_splitmix64(&s) >> 40) / (double)(1ull << 24);
                double v = 128 + 50 * sin(6.28318 * (gx * (1 + c) + gy * (2 - c * 0.5))) + 30 * (n - 0.5);
                p[c] = (float)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

int dream_canvas_init(dream_image_t *im, const char *start_image, uint64_t seed, dream_err_t *err) {
    if (!im || im->c != 3) return dream_err_set(err, "start canvas: need an RGB image");
    if (!start_image || !*start_image) {
        dream_canvas_synthetic(im, seed);
        return 0;
    }
    dream_image_t *src = dream_image_load(start_image, err);
    if (!src) {
        dream_err_prefix(err, "start image %s", start_image);
        return -1;
    }
    int rc = dream_image_resize(src, im, DREAM_INTERP_BICUBIC, err);
    dream_image_destroy(&src);
    if (rc != 0) return -1;
    for (size_t i = 0; i < (size_t)im->w * im->h * im->c; i++)
        im->px[i] = im->px[i] < 0 ? 0 : im->px[i] > 255 ? 255 : im->px[i];
    dlog_info("canvas", "start image %s resized to %dx%d", start_image, im->w, im->h);
    return 0;
}
