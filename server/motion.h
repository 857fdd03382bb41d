/*
 * motion.h — the dream's motion in VIDEO time (the 2015 stream's rule), as pure
 * functions so the planning can be unit-tested with a simulated clock.
 *
 * Every output frame zooms by zpf = zoom_per_s^(1/fps) and turns by dpf =
 * deg_per_s / fps about the centre, whatever the compute speed. Each keyframe K
 * has a POSITION P_K in output frames; shown at frame f it is warped by
 * zpf^(f - P_K), dpf (f - P_K) (forward when f > P_K, backward when f < P_K), so
 * every frame has the same global zoom zpf^f whatever keyframes it is made of.
 *
 * Planning (coordinator, motion_next): the next keyframe is the current one
 * (position P) warped by exactly zpf^N, dpf N with N = ceil(fps / rate), rate an
 * EMA of the measured keyframe rate (0.1 old, 0.9 new), or a fixed N. Lead rule:
 * the new keyframe needs about N frames to compute, so it should be planned while
 * the display is at least N frames before P (as in the reference, whose queue holds
 * the frames up to P while the next keyframe computes); with a lead L < N (at
 * start-up, after a slow keyframe, or the display past P) it covers N + (N - L)
 * frames instead, landing ahead of the display again. A backlog waits: a keyframe is only
 * started while the finished one lies at most queue_factor N frames ahead of the
 * display (the reference's frame queue of 2N frames: compute waits).
 *
 * Display (frame clock, motion_schedule + motion_plan_frame): keyframe B follows A
 * with a crossfade window [s, e]: on time, s = P_A and e = P_B, the reference's
 * interpolation (A forward, B backward, weight (f - P_A) / N, holes of B's warp
 * from A). A keyframe that arrives late starts fading in when it arrives (never
 * a weight jump), over at least min(N, fade_cap) frames. With no newer keyframe the
 * last one keeps zooming forward (no frozen or repeated frame), for at most max_ahead_s
 * of video (motion_may_advance): only then, e.g. with no workers, does the display hold.
 */
#ifndef DREAM_MOTION_H
#define DREAM_MOTION_H
#include <stdint.h>

typedef struct motion_cfg {
    double fps;             /* output frames per second (> 0) */
    double zoom_per_s;      /* zoom per second of video (reference 1.05) */
    double deg_per_s;       /* rotation per second of video, dream_warp's sign (reference -0.25) */
    int frames_per_kf;      /* > 0: fixed N; 0: N = ceil(fps / EMA rate) */
    int wallclock;          /* 1: old mode, N = fps x real time since the last keyframe (<= max_dt), no lag/backlog rules */
    double max_dt;          /* wallclock mode's cap (s) */
    double queue_factor;    /* backlog cap in units of N (reference 2) */
    double max_ahead_s;     /* the display zooms on past the newest keyframe at most this long (60 s);
                             * then it holds (no worker for a long time): bounds the stale zoom */
} motion_cfg_t;

typedef struct motion {
    motion_cfg_t cfg;
    double rate;            /* EMA of keyframes per second; 0 = nothing measured yet (1/s assumed) */
} motion_t;

typedef struct motion_step {
    int64_t n;              /* output frames the keyframe covers (its position minus the base's) */
    int64_t pos;            /* its position */
    double zoom, angle;     /* zpf^n, dpf n: the warp of the base keyframe that the new one starts from */
} motion_step_t;

/* Fills cfg's defaults: 25 fps, 1.05/s, -0.25 deg/s, estimated N, queue 2N, 60 s ahead at most. */
void motion_cfg_reference(motion_cfg_t *cfg);
void motion_init(motion_t *m, const motion_cfg_t *cfg);
double motion_zpf(const motion_cfg_t *cfg);     /* zoom per output frame */
double motion_dpf(const motion_cfg_t *cfg);     /* degrees per output frame */
/* N the estimate gives now (>= 1). */
int64_t motion_frames_est(const motion_t *m);
/* Plans the keyframe after the one at base_pos: f_now = the next frame the display shows
 * (< 0: no display, no lag term); wall_dt = real seconds since the last keyframe started
 * (wallclock mode only). */
void motion_next(const motion_t *m, int64_t base_pos, int64_t f_now, double wall_dt, motion_step_t *out);
/* A keyframe took `seconds` to compute: rate = 0.1 rate + 0.9 / seconds. */
void motion_observe(motion_t *m, double seconds);
/* 1 when a new keyframe may start: the finished one (base_pos) is at most queue_factor x N
 * frames ahead of the display's next frame f_now (always 1 without a display or in wallclock mode). */
int motion_may_start(const motion_t *m, int64_t base_pos, int64_t f_now);

/* 1 while the display position `pos` may advance past the newest keyframe (at newest_pos). */
int motion_may_advance(const motion_cfg_t *cfg, int64_t pos, int64_t newest_pos);

/* A keyframe as the display knows it. */
typedef struct motion_kf {
    int64_t pos;            /* position (frames) */
    int64_t start, end;     /* crossfade window from the previous keyframe into this one */
} motion_kf_t;

/* Sets kf->start/end for a keyframe (kf->pos set) that arrives while f_arrive is the next frame
 * to show, after prev (NULL for the first). fade_cap: most frames a late keyframe's fade takes. */
void motion_schedule(const motion_kf_t *prev, motion_kf_t *kf, int64_t f_arrive, int64_t fade_cap);

/* What frame f is made of: keyframe list[a] warped by (za, aa); with w > 0 crossfaded with
 * list[b] warped by (zb, ab), weight w on b (b = a + 1). */
typedef struct motion_frame {
    int a, b;
    double za, aa, zb, ab, w;
} motion_frame_t;

/* list: keyframes in arrival order (start ascending), n >= 1. Returns the index of the oldest
 * entry still needed for frames >= f (entries before it may be dropped). */
int motion_plan_frame(const motion_kf_t *list, int n, int64_t f, double zpf, double dpf, motion_frame_t *out);

#endif
