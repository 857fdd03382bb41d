/*
 * frameclock.h — the fixed-rate frame clock of dreamd.
 *
 * A thread that emits frames at `fps` to its sinks, whether or not keyframes
 * arrive. Between two keyframes it plays the seed's interpolation
 * (dream_interpolate: prev warped forward, next warped back, crossfade) over
 * the measured keyframe interval; with no newer keyframe it holds the last one
 * (so with no worker the stream keeps running on the last canvas). The
 * coordinator hands keyframes over an inproc PAIR socket (ownership moves).
 * When rendering falls behind, ticks are skipped rather than queued.
 */
#ifndef DREAM_FRAMECLOCK_H
#define DREAM_FRAMECLOCK_H
#include <stdint.h>
#include "dlog.h"
#include "image.h"
#include "sinks.h"

typedef struct frameclock frameclock_t;

typedef struct frameclock_stats {
    uint64_t frames;
    uint64_t keyframes;
    uint64_t skipped_ticks;
    double max_gap_ms;          /* largest gap between two emitted frames */
    double last_render_ms;      /* time to render the last frame */
} frameclock_stats_t;

/* initial: first canvas (copied). sinks: not owned, used only by the clock thread. */
frameclock_t *frameclock_new(void *zctx, const dream_image_t *initial, double fps, dream_sinks_t *sinks,
                             dream_err_t *err);
/* Stops the thread and frees everything. */
void frameclock_destroy(frameclock_t **fc);
/* Hands over a keyframe (*kf becomes NULL): `next` made from the previous keyframe warped by
 * (zoom, angle_deg); interval_s: how long to play the transition. Coordinator thread only. */
int frameclock_push(frameclock_t *fc, dream_image_t **kf, double zoom, double angle_deg,
                    double interval_s, dream_err_t *err);
void frameclock_get_stats(frameclock_t *fc, frameclock_stats_t *out);

#endif
