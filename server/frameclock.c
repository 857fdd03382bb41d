/*
 * frameclock.c — fixed-fps frame production from positioned keyframes; see frameclock.h
 * (the per-frame plan is motion_plan_frame, motion.c).
 */
#include "frameclock.h"
#include "px88.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

typedef struct fc_msg {
    dream_image_t *kf;      /* NULL = quit */
    int64_t pos;
} fc_msg_t;

struct frameclock {
    void *zctx;
    void *tx;               /* coordinator end */
    void *rx;               /* clock thread end */
    char ep[64];
    pthread_t th;
    int started;
    motion_cfg_t mc;
    double zpf, dpf;
    int64_t fade_cap;
    dream_sinks_t *sinks;
    /* clock thread only: keyframes in arrival order */
    dream_image_t *img[FRAMECLOCK_MAX_KF];
    motion_kf_t kf[FRAMECLOCK_MAX_KF];
    int n;
    dream_image_t *out;
    pthread_mutex_t mu;     /* guards st, held and pos */
    frameclock_stats_t st;
    int64_t pos;            /* display position (frames of motion): +1 per frame unless held */
    int64_t newest_pos;     /* clock thread: the newest keyframe's position */
    int held;               /* keyframes pushed and not yet dropped by the clock */
    int paused;             /* admin pause: play up to the newest keyframe, then hold it */
    /* keyframes the clock has dropped, kept for frameclock_push_copy to fill again (a 4K float
     * canvas is 100 MB: a fresh allocation per keyframe cost the coordinator its page faults) */
    dream_image_t *spare[FRAMECLOCK_SPARES];
    int nspare;
};

/* a dropped keyframe: kept as a spare when there is room, else freed. Clock thread. */
static void recycle(frameclock_t *fc, dream_image_t **im) {
    pthread_mutex_lock(&fc->mu);
    if (fc->nspare < FRAMECLOCK_SPARES) {
        fc->spare[fc->nspare++] = *im;
        *im = NULL;
    }
    pthread_mutex_unlock(&fc->mu);
    dream_image_destroy(im);
}

static void drop_front(frameclock_t *fc, int k) {
    if (k <= 0) return;
    for (int i = 0; i < k; i++) recycle(fc, &fc->img[i]);
    memmove(fc->img, fc->img + k, (size_t)(fc->n - k) * sizeof fc->img[0]);
    memmove(fc->kf, fc->kf + k, (size_t)(fc->n - k) * sizeof fc->kf[0]);
    fc->n -= k;
    for (int i = fc->n; i < FRAMECLOCK_MAX_KF; i++) fc->img[i] = NULL;
    pthread_mutex_lock(&fc->mu);
    fc->held -= k;
    pthread_mutex_unlock(&fc->mu);
}

static void on_keyframe(frameclock_t *fc, fc_msg_t *m) {
    pthread_mutex_lock(&fc->mu);
    int64_t next = fc->pos;
    pthread_mutex_unlock(&fc->mu);
    if (fc->n >= FRAMECLOCK_MAX_KF) {     /* the coordinator's backlog rule keeps this from happening */
        dlog_warn("frameclock", "keyframe at %lld dropped: %d keyframes held", (long long)m->pos, fc->n);
        recycle(fc, &m->kf);
        pthread_mutex_lock(&fc->mu);
        fc->st.dropped_kf++;
        fc->held--;
        pthread_mutex_unlock(&fc->mu);
        return;
    }
    motion_kf_t k = {m->pos, 0, 0};
    motion_schedule(fc->n ? &fc->kf[fc->n - 1] : NULL, &k, next, fc->fade_cap);
    fc->img[fc->n] = m->kf;
    fc->kf[fc->n] = k;
    fc->n++;
    if (k.pos > fc->newest_pos) fc->newest_pos = k.pos;
    m->kf = NULL;
    pthread_mutex_lock(&fc->mu);
    fc->st.keyframes++;
    pthread_mutex_unlock(&fc->mu);
}

static void render(frameclock_t *fc, int64_t f, uint64_t idx) {
    motion_frame_t fr;
    drop_front(fc, motion_plan_frame(fc->kf, fc->n, f, fc->zpf, fc->dpf, &fr));
    motion_plan_frame(fc->kf, fc->n, f, fc->zpf, fc->dpf, &fr);
    dream_err_t err = {{0}};
    int rc;
    if (fr.b >= 0) rc = dream_crossfade(fc->img[fr.a], fr.za, fr.aa, fc->img[fr.b], fr.zb, fr.ab, fr.w, fc->out, &err);
    else rc = dream_warp_scaled(fc->img[fr.a], fc->out, NULL, fr.za, fr.aa, DREAM_INTERP_BILINEAR, &err);
    if (rc != 0) dlog_warn("frameclock", "frame %lld: %s", (long long)f, err.msg);
    if (fr.b < 0 && f > fc->kf[fr.a].pos) {
        pthread_mutex_lock(&fc->mu);
        fc->st.extrapolated++;
        pthread_mutex_unlock(&fc->mu);
    }
    if (fc->sinks) dream_sinks_push(fc->sinks, fc->out, idx);
}

static void *clock_main(void *arg) {
    frameclock_t *fc = arg;
    double period = 1000.0 / fc->mc.fps;
    double next_tick = dream_now_ms(), last_frame = 0;
    for (;;) {
        double now = dream_now_ms();
        long wait = (long)(next_tick - now);
        if (wait < 0) wait = 0;
        zmq_pollitem_t it = {fc->rx, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, wait);
        if (rc < 0 && zmq_errno() == ETERM) break;
        if (rc > 0 && (it.revents & ZMQ_POLLIN)) {
            fc_msg_t m;
            int n = zmq_recv(fc->rx, &m, sizeof m, 0);
            if (n == (int)sizeof m) {
                if (!m.kf) break;
                on_keyframe(fc, &m);
            }
            continue;
        }
        now = dream_now_ms();
        if (now < next_tick) continue;
        double t0 = now;
        pthread_mutex_lock(&fc->mu);
        int64_t f = fc->pos;
        uint64_t idx = fc->st.frames;
        pthread_mutex_unlock(&fc->mu);
        render(fc, f, idx);
        double t1 = dream_now_ms();
        pthread_mutex_lock(&fc->mu);
        int advance = fc->paused ? f + 1 <= fc->newest_pos : motion_may_advance(&fc->mc, f + 1, fc->newest_pos);
        if (advance) fc->pos = f + 1;
        else fc->st.held_frames++;
        if (last_frame > 0 && t0 - last_frame > fc->st.max_gap_ms) fc->st.max_gap_ms = t0 - last_frame;
        fc->st.frames++;
        fc->st.last_render_ms = t1 - t0;
        next_tick += period;
        if (next_tick < t1) {     /* behind: drop wall-clock ticks (frame numbers go on by one) */
            uint64_t skip = (uint64_t)((t1 - next_tick) / period) + 1;
            fc->st.skipped_ticks += skip;
            next_tick += skip * period;
        }
        pthread_mutex_unlock(&fc->mu);
        last_frame = t0;
    }
    return NULL;
}

frameclock_t *frameclock_new(void *zctx, const dream_image_t *initial, int out_w, int out_h,
                             const motion_cfg_t *mc, dream_sinks_t *sinks, dream_err_t *err) {
    if (!mc || !(mc->fps > 0 && mc->fps <= 240)) {
        dream_err_set(err, "frameclock: bad fps %g", mc ? mc->fps : 0.0);
        return NULL;
    }
    if (!(mc->zoom_per_s > 0) || !isfinite(mc->zoom_per_s) || !isfinite(mc->deg_per_s)) {
        dream_err_set(err, "frameclock: bad zoom %g / rotation %g per second", mc->zoom_per_s, mc->deg_per_s);
        return NULL;
    }
    frameclock_t *fc = calloc(1, sizeof *fc);
    if (!fc) { dream_err_set(err, "out of memory"); return NULL; }
    pthread_mutex_init(&fc->mu, NULL);
    fc->zctx = zctx;
    fc->mc = *mc;
    fc->zpf = motion_zpf(mc);
    fc->dpf = motion_dpf(mc);
    fc->fade_cap = (int64_t)ceil(mc->fps / 2);
    fc->sinks = sinks;
    snprintf(fc->ep, sizeof fc->ep, "inproc://frameclock-%p", (void *)fc);
    fc->img[0] = dream_image_clone(initial, err);
    fc->out = dream_image_new(out_w > 0 ? out_w : initial->w, out_h > 0 ? out_h : initial->h, initial->c, err);
    if (!fc->img[0] || !fc->out) goto fail;
    fc->kf[0] = (motion_kf_t){0, 0, 0};
    fc->n = 1;
    fc->held = 1;
    fc->rx = zmq_socket(zctx, ZMQ_PAIR);
    fc->tx = zmq_socket(zctx, ZMQ_PAIR);
    if (!fc->rx || !fc->tx || zmq_bind(fc->rx, fc->ep) != 0 || zmq_connect(fc->tx, fc->ep) != 0) {
        dream_err_set(err, "frameclock: inproc socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int linger = 0;
    zmq_setsockopt(fc->rx, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(fc->tx, ZMQ_LINGER, &linger, sizeof linger);
    if (pthread_create(&fc->th, NULL, clock_main, fc) != 0) {
        dream_err_set(err, "frameclock: cannot start thread");
        goto fail;
    }
    fc->started = 1;
    return fc;
fail:
    frameclock_destroy(&fc);
    return NULL;
}

void frameclock_destroy(frameclock_t **pfc) {
    if (!pfc || !*pfc) return;
    frameclock_t *fc = *pfc;
    if (fc->started) {
        fc_msg_t m = {NULL, 0};
        zmq_send(fc->tx, &m, sizeof m, 0);
        pthread_join(fc->th, NULL);
        /* free keyframes still queued in the socket */
        fc_msg_t q;
        while (zmq_recv(fc->rx, &q, sizeof q, ZMQ_DONTWAIT) == (int)sizeof q)
            if (q.kf) dream_image_destroy(&q.kf);
    }
    if (fc->tx) zmq_close(fc->tx);
    if (fc->rx) zmq_close(fc->rx);
    for (int i = 0; i < FRAMECLOCK_MAX_KF; i++) dream_image_destroy(&fc->img[i]);
    for (int i = 0; i < fc->nspare; i++) dream_image_destroy(&fc->spare[i]);
    dream_image_destroy(&fc->out);
    pthread_mutex_destroy(&fc->mu);
    free(fc);
    *pfc = NULL;
}

int frameclock_push(frameclock_t *fc, dream_image_t **kf, int64_t pos, dream_err_t *err) {
    if (!kf || !*kf) return dream_err_set(err, "frameclock: no keyframe");
    fc_msg_t m = {*kf, pos};
    pthread_mutex_lock(&fc->mu);
    fc->held++;
    pthread_mutex_unlock(&fc->mu);
    if (zmq_send(fc->tx, &m, sizeof m, 0) != (int)sizeof m) {
        pthread_mutex_lock(&fc->mu);
        fc->held--;
        pthread_mutex_unlock(&fc->mu);
        dream_image_destroy(kf);
        return dream_err_set(err, "frameclock: send: %s", zmq_strerror(zmq_errno()));
    }
    *kf = NULL;
    return 0;
}

/* a w x h x c image for the next keyframe: a dropped keyframe's memory when one of that size is
 * spare, else a new one (contents undefined either way); NULL with err set */
static dream_image_t *take_spare(frameclock_t *fc, int w, int h, int c, dream_err_t *err) {
    dream_image_t *kf = NULL, *misfit = NULL;
    pthread_mutex_lock(&fc->mu);
    if (fc->nspare) {
        kf = fc->spare[--fc->nspare];
        fc->spare[fc->nspare] = NULL;
        if (kf->w != w || kf->h != h || kf->c != c) { misfit = kf; kf = NULL; }
        else fc->st.reused_kf++;
    }
    pthread_mutex_unlock(&fc->mu);
    dream_image_destroy(&misfit);     /* the canvas was resized: its old size is of no use */
    return kf ? kf : dream_image_new(w, h, c, err);
}

int frameclock_push_copy(frameclock_t *fc, const dream_image_t *canvas, int64_t pos, dream_err_t *err) {
    if (!canvas) return dream_err_set(err, "frameclock: no keyframe");
    dream_image_t *kf = take_spare(fc, canvas->w, canvas->h, canvas->c, err);
    if (!kf) return -1;
    memcpy(kf->px, canvas->px, (size_t)canvas->w * canvas->h * canvas->c * sizeof(float));
    return frameclock_push(fc, &kf, pos, err);
}

int frameclock_push_88(frameclock_t *fc, const uint8_t *px88, int w, int h, int64_t pos, dream_err_t *err) {
    if (!px88 || w <= 0 || h <= 0) return dream_err_set(err, "frameclock: no keyframe");
    dream_image_t *kf = take_spare(fc, w, h, 3, err);
    if (!kf) return -1;
    px88_image_to_float(px88, kf->px, w, h);
    return frameclock_push(fc, &kf, pos, err);
}

void frameclock_set_paused(frameclock_t *fc, int on) {
    if (!fc) return;
    pthread_mutex_lock(&fc->mu);
    fc->paused = on != 0;
    pthread_mutex_unlock(&fc->mu);
}

void frameclock_position(frameclock_t *fc, int64_t *next_frame, int *held) {
    pthread_mutex_lock(&fc->mu);
    if (next_frame) *next_frame = fc->pos;
    if (held) *held = fc->held;
    pthread_mutex_unlock(&fc->mu);
}

void frameclock_get_stats(frameclock_t *fc, frameclock_stats_t *out) {
    pthread_mutex_lock(&fc->mu);
    *out = fc->st;
    out->spare_kf = fc->nspare;
    pthread_mutex_unlock(&fc->mu);
}
