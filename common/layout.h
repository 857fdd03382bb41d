/*
 * layout.h — where each subject goes: the one definition of the subject layouts.
 *
 * A layout splits an area (the engine's score grid, the coordinator's canvas, a worker's
 * tile) among n subjects (1..DREAM_MAX_SUBJECTS), in typed order:
 *   single     every subject on the whole area
 *   seed       two subjects: the first on the lower half [H/2, H), the second on the upper
 *              [0, H/2); one subject: the whole area; more than two: an error
 *   bands      n horizontal bands, the first at the top: rows [s*H/n, (s+1)*H/n)
 *   quadrants  TL, TR, BL, BR (halves at W/2, H/2); ONE subject: the whole area
 * A region that comes out empty (e.g. 4 bands on a 2-row grid) is the whole area.
 *
 * dream_layout_rect() is the rule; worker/engine.c's dream_regions_build() (score-grid
 * masks) gives the same regions, and tests/unit/test_layout.c checks both agree.
 */
#ifndef DREAM_LAYOUT_H
#define DREAM_LAYOUT_H
#include "dlog.h"
#include "classes.h"    /* DREAM_MAX_SUBJECTS */

typedef enum {
    DREAM_LAYOUT_SINGLE = 0,    /* each subject over the whole grid (one subject: a plain mean) */
    DREAM_LAYOUT_SEED,          /* the 2015 reference (default): two subjects, the first on rows
                                 * [gh/2, gh), the second on rows [0, gh/2); ONE subject A is the
                                 * reference's [A, A] (worker/engine.h dream_params_subjects) */
    DREAM_LAYOUT_BANDS,         /* k horizontal bands, first at the top */
    DREAM_LAYOUT_QUADRANTS,     /* up to 4: TL, TR, BL, BR */
} dream_layout_t;

/* x, y: top-left corner; w, h: size (cells or pixels) */
typedef struct dream_rect { int x, y, w, h; } dream_rect_t;

/* The region of subject s (0..n-1) of n in a W x H area. 0, or -1 with err (n out of
 * 1..DREAM_MAX_SUBJECTS, s out of 0..n-1, W or H < 1, seed with more than 2, unknown layout). */
int dream_layout_rect(dream_layout_t layout, int s, int n, int W, int H, dream_rect_t *out, dream_err_t *err);

#endif
