/*
 * frameclock.h — the fixed-rate frame clock of dreamd.
 *
 * A thread that emits frames at `fps` to its sinks, whether or not keyframes
 * arrive. Each frame is planned at the display position f (+1 per frame; it only
 * stops max_ahead_s past the newest keyframe, e.g. with no workers) by
 * motion_plan_frame (motion.h): keyframes carry positions in output frames and
 * every frame zooms/turns by the same per-frame amount in VIDEO time. Between two
 * keyframes it plays the reference's interpolation (prev warped forward, next
 * warped back, crossfade, holes from prev: dream_crossfade); with no newer
 * keyframe the last one keeps zooming (no frozen or repeated frames). Keyframes
 * are canvas-size, frames are out_w x out_h (the stream size): the resize is part
 * of the same warp, one resampling. The coordinator hands keyframes over an
 * inproc PAIR socket (ownership moves) and reads the display position to plan
 * (motion_next) and to hold back a backlog (motion_may_start). When rendering
 * falls behind the wall clock, ticks are dropped; frame numbers never skip.
 */
#ifndef DREAM_FRAMECLOCK_H
#define DREAM_FRAMECLOCK_H
#include <stdint.h>
#include "dlog.h"
#include "image.h"
#include "motion.h"
#include "sinks.h"

#define FRAMECLOCK_MAX_KF 8     /* keyframes held (shown, fading, queued) */
#define FRAMECLOCK_SPARES 2     /* dropped keyframes kept for frameclock_push_copy / _88 */

typedef struct frameclock frameclock_t;

typedef struct frameclock_stats {
    uint64_t frames;
    uint64_t keyframes;
    uint64_t skipped_ticks;     /* wall-clock ticks dropped while rendering was behind */
    uint64_t extrapolated;      /* frames made from one keyframe past its position (next one late) */
    uint64_t dropped_kf;        /* keyframes refused because FRAMECLOCK_MAX_KF were held */
    uint64_t held_frames;       /* frames that repeated the position: max_ahead_s past the newest keyframe */
    double max_gap_ms;          /* largest gap between two emitted frames */
    double last_render_ms;      /* time to render the last frame */
    uint64_t reused_kf;         /* frameclock_push_copy / _88 calls that filled a dropped keyframe's memory */
    int spare_kf;               /* dropped keyframes kept for that now (<= FRAMECLOCK_SPARES) */
} frameclock_stats_t;

/* initial: first canvas (copied), position 0. Frames are out_w x out_h (<= 0: the canvas size).
 * mc: fps, zoom and rotation per second (motion.h). sinks: not owned, used only by the clock thread. */
frameclock_t *frameclock_new(void *zctx, const dream_image_t *initial, int out_w, int out_h,
                             const motion_cfg_t *mc, dream_sinks_t *sinks, dream_err_t *err);
/* Stops the thread and frees everything. */
void frameclock_destroy(frameclock_t **fc);
/* Hands over a keyframe (*kf becomes NULL) at position pos (frames; made from the previous
 * keyframe warped by the motion of pos - its position). Coordinator thread only. */
int frameclock_push(frameclock_t *fc, dream_image_t **kf, int64_t pos, dream_err_t *err);
/* The same with a copy of canvas (which stays the caller's): the copy goes into the memory of
 * a keyframe the clock has dropped when one of that size is spare, else a new image. */
int frameclock_push_copy(frameclock_t *fc, const dream_image_t *canvas, int64_t pos, dream_err_t *err);
/* The same from a canvas in 8.8 bytes ((h, w, 3) little-endian value * 256, common/px88.h), made
 * float straight into the keyframe's memory: the tile-resident coordinator's canvas, without
 * making its own float canvas first. */
int frameclock_push_88(frameclock_t *fc, const uint8_t *px88, int w, int h, int64_t pos, dream_err_t *err);
/* The display position of the next frame, and how many keyframes the clock holds (shown +
 * queued, counting ones still in the socket). */
void frameclock_position(frameclock_t *fc, int64_t *next_frame, int *held);
/* Admin pause: the display plays up to the newest keyframe and holds there (no zooming on
 * past it, so the picture that stays up is the canvas a restart brings back); off = normal. */
void frameclock_set_paused(frameclock_t *fc, int on);
void frameclock_get_stats(frameclock_t *fc, frameclock_stats_t *out);

#endif
