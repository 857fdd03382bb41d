/*
 * canvas.h — the one start canvas of a dream (dreamd's and, once it calls this, `dream
 * render`'s): a start image resized to the canvas (bicubic, clipped to 0..255), or the
 * deterministic synthetic canvas of a seed: per channel c a low-frequency wave
 * 128 + 50 sin(2 pi (gx (1 + c) + gy (2 - c/2))) plus +-15 of splitmix64 noise (rng.h),
 * gx, gy in 0..1. This is the coordinator's canvas (server/coord.c init_canvas_synthetic,
 * bit for bit: tests/unit/test_canvas.c pins it).
 */
#ifndef DREAM_CANVAS_H
#define DREAM_CANVAS_H
#include <stdint.h>
#include "image.h"

/* The 2015 stream's canvas and motion (../shared/data/README.md): the defaults of dreamd's
 * table (server/coord.c), `dream render`'s (worker/main_dream.c) and motion_cfg_reference
 * (server/motion.c), defined here once. DREAM_XSTR makes a table row's default text. */
#define DREAM_XSTR_(x) #x
#define DREAM_XSTR(x) DREAM_XSTR_(x)
#define DREAM_CANVAS_SIZE "840x472"
#define DREAM_FPS 25
#define DREAM_ZOOM_PER_SEC 1.05
#define DREAM_ROTATE_DEG_PER_SEC -0.25

/* The synthetic canvas of seed into im (c == 3). */
void dream_canvas_synthetic(dream_image_t *im, uint64_t seed);
/* start_image NULL or "": the synthetic canvas of seed; else that PNG/JPEG resized to im.
 * 0, or -1 with err ("start image FILE: ..."). */
int dream_canvas_init(dream_image_t *im, const char *start_image, uint64_t seed, dream_err_t *err);

#endif
