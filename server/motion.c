/*
 * motion.c — keyframe positions, the EMA of the keyframe rate, the backlog rule and
 * the per-frame plan of the display; see motion.h. No clock, no threads: callers
 * pass the frame index and measured times (the unit test simulates both).
 */
#include "motion.h"
#include "canvas.h"
#include <math.h>
#include <stddef.h>

#define MOTION_MAX_N 1000000

void motion_cfg_reference(motion_cfg_t *cfg) {
    cfg->fps = DREAM_FPS;
    cfg->zoom_per_s = DREAM_ZOOM_PER_SEC;
    cfg->deg_per_s = DREAM_ROTATE_DEG_PER_SEC;
    cfg->frames_per_kf = 0;
    cfg->wallclock = 0;
    cfg->max_dt = 5;
    cfg->queue_factor = 2;
    cfg->max_ahead_s = 60;
}

void motion_init(motion_t *m, const motion_cfg_t *cfg) {
    m->cfg = *cfg;
    if (!(m->cfg.fps > 0)) m->cfg.fps = 25;
    if (!(m->cfg.zoom_per_s > 0)) m->cfg.zoom_per_s = 1;
    if (!(m->cfg.queue_factor >= 1)) m->cfg.queue_factor = 2;
    m->rate = 0;
}

double motion_zpf(const motion_cfg_t *cfg) { return pow(cfg->zoom_per_s, 1.0 / cfg->fps); }
double motion_dpf(const motion_cfg_t *cfg) { return cfg->deg_per_s / cfg->fps; }

int64_t motion_frames_est(const motion_t *m) {
    if (m->cfg.frames_per_kf > 0) return m->cfg.frames_per_kf;
    double rate = m->rate > 0 ? m->rate : 1.0;
    double n = ceil(m->cfg.fps / rate - 1e-9);
    if (!(n >= 1)) n = 1;
    if (n > MOTION_MAX_N) n = MOTION_MAX_N;
    return (int64_t)n;
}

void motion_next(const motion_t *m, int64_t base_pos, int64_t f_now, double wall_dt, motion_step_t *out) {
    int64_t n;
    if (m->cfg.wallclock) {
        double dt = wall_dt > 0 ? wall_dt : 1.0 / m->cfg.fps;
        if (dt > m->cfg.max_dt) dt = m->cfg.max_dt;
        n = (int64_t)llround(dt * m->cfg.fps);
        if (n < 1) n = 1;
    } else {
        n = motion_frames_est(m);
        /* lead rule: the new keyframe takes about n frames to compute; it should arrive before
         * the display reaches the base, so that the display plays base -> new as the reference
         * does. With less than n frames of lead (or the display past the base) the new one
         * lands further ahead by what is missing. */
        if (f_now >= 0 && base_pos - f_now < n) n += n - (base_pos - f_now);
    }
    out->n = n;
    out->pos = base_pos + n;
    out->zoom = pow(motion_zpf(&m->cfg), (double)n);
    out->angle = motion_dpf(&m->cfg) * (double)n;
}

void motion_observe(motion_t *m, double seconds) {
    if (!(seconds > 1e-6) || !isfinite(seconds)) seconds = 1e-6;
    double r = 1.0 / seconds;
    m->rate = m->rate > 0 ? 0.1 * m->rate + 0.9 * r : r;
}

int motion_may_start(const motion_t *m, int64_t base_pos, int64_t f_now) {
    if (f_now < 0 || m->cfg.wallclock) return 1;
    return (double)(base_pos - f_now) <= m->cfg.queue_factor * (double)motion_frames_est(m);
}

int motion_may_advance(const motion_cfg_t *cfg, int64_t pos, int64_t newest_pos) {
    double cap = cfg->max_ahead_s > 0 ? cfg->max_ahead_s * cfg->fps : 60 * cfg->fps;
    return (double)(pos - newest_pos) < cap;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

void motion_schedule(const motion_kf_t *prev, motion_kf_t *kf, int64_t f_arrive, int64_t fade_cap) {
    if (!prev) {
        kf->start = kf->end = f_arrive;     /* nothing before it: shown at once */
        return;
    }
    int64_t n = kf->pos - prev->pos;
    if (n < 1) n = 1;
    int64_t s = max64(max64(prev->pos, f_arrive), prev->end);
    int64_t fade = n < fade_cap ? n : fade_cap;
    if (fade < 1) fade = 1;
    kf->start = s;
    kf->end = max64(kf->pos, s + fade);
}

int motion_plan_frame(const motion_kf_t *list, int n, int64_t f, double zpf, double dpf, motion_frame_t *out) {
    int i = 0;
    for (int k = 1; k < n; k++)
        if (list[k].start <= f) i = k;
    out->a = i;
    out->b = -1;
    out->w = 0;
    out->zb = 1;
    out->ab = 0;
    double da = (double)(f - list[i].pos);
    out->za = pow(zpf, da);
    out->aa = dpf * da;
    if (i > 0 && f < list[i].end) {    /* in the window from list[i-1] into list[i] */
        const motion_kf_t *p = &list[i - 1], *k = &list[i];
        double w = (double)(f - k->start) / (double)(k->end - k->start);
        if (w < 0) w = 0;
        double dp = (double)(f - p->pos);
        out->a = i - 1;
        out->b = i;
        out->za = pow(zpf, dp);
        out->aa = dpf * dp;
        out->zb = pow(zpf, da);
        out->ab = dpf * da;
        out->w = w;
        return i - 1;
    }
    return i;
}
