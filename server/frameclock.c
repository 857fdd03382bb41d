/*
 * frameclock.c — fixed-fps frame production interpolating keyframes; see frameclock.h.
 */
#include "frameclock.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

typedef struct fc_msg {
    dream_image_t *kf;      /* NULL = quit */
    double zoom, angle, interval_s;
} fc_msg_t;

typedef struct fc_pair {
    dream_image_t *prev, *next;
    double zoom, angle;
    double start_ms, dur_ms;
    int valid;
} fc_pair_t;

struct frameclock {
    void *zctx;
    void *tx;               /* coordinator end */
    void *rx;               /* clock thread end */
    char ep[64];
    pthread_t th;
    int started;
    double fps;
    dream_sinks_t *sinks;
    dream_image_t *owned[6];
    fc_pair_t cur, pending;
    dream_image_t *out;
    pthread_mutex_t mu;     /* guards stats only */
    frameclock_stats_t st;
};

static void gc(frameclock_t *fc) {
    for (int i = 0; i < 6; i++) {
        dream_image_t *im = fc->owned[i];
        if (!im) continue;
        if (im == fc->cur.prev || im == fc->cur.next || im == fc->pending.prev || im == fc->pending.next)
            continue;
        dream_image_destroy(&fc->owned[i]);
    }
}

static int own(frameclock_t *fc, dream_image_t *im) {
    gc(fc);
    for (int i = 0; i < 6; i++)
        if (!fc->owned[i]) { fc->owned[i] = im; return 0; }
    return -1;
}

static void on_keyframe(frameclock_t *fc, fc_msg_t *m, double now) {
    if (own(fc, m->kf) != 0) {        /* cannot happen with <= 3 live images; drop safely */
        dream_image_destroy(&m->kf);
        return;
    }
    double dur = m->interval_s * 1000.0;
    if (dur < 40) dur = 40;
    if (dur > 10000) dur = 10000;
    if (fc->pending.valid) {
        /* backlog: skip the queued transition, go on from its target */
        fc->pending = (fc_pair_t){fc->pending.next, m->kf, m->zoom, m->angle, 0, dur, 1};
    } else {
        double t = fc->cur.dur_ms > 0 ? (now - fc->cur.start_ms) / fc->cur.dur_ms : 1;
        if (t >= 1) fc->cur = (fc_pair_t){fc->cur.next, m->kf, m->zoom, m->angle, now, dur, 1};
        else fc->pending = (fc_pair_t){fc->cur.next, m->kf, m->zoom, m->angle, 0, dur, 1};
    }
    gc(fc);
    pthread_mutex_lock(&fc->mu);
    fc->st.keyframes++;
    pthread_mutex_unlock(&fc->mu);
}

static void render(frameclock_t *fc, double now) {
    double t = fc->cur.dur_ms > 0 ? (now - fc->cur.start_ms) / fc->cur.dur_ms : 1;
    if (t >= 1 && fc->pending.valid) {
        double end = fc->cur.start_ms + fc->cur.dur_ms;
        fc->cur = fc->pending;
        fc->cur.start_ms = now - end < 1000.0 / fc->fps ? end : now;
        fc->pending.valid = 0;
        memset(&fc->pending, 0, sizeof fc->pending);
        gc(fc);
        t = (now - fc->cur.start_ms) / fc->cur.dur_ms;
    }
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    const dream_image_t *show = fc->cur.next;
    if (t < 1 && fc->cur.prev && fc->cur.prev != fc->cur.next) {
        dream_err_t err = {{0}};
        if (dream_interpolate(fc->cur.prev, fc->cur.next, fc->cur.zoom, fc->cur.angle, t, fc->out, &err) == 0)
            show = fc->out;
        else
            dlog_warn("frameclock", "interpolate: %s", err.msg);
    }
    if (fc->sinks) dream_sinks_push(fc->sinks, show, fc->st.frames);
}

static void *clock_main(void *arg) {
    frameclock_t *fc = arg;
    double period = 1000.0 / fc->fps;
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
                on_keyframe(fc, &m, dream_now_ms());
            }
            continue;
        }
        now = dream_now_ms();
        if (now < next_tick) continue;
        double t0 = now;
        render(fc, now);
        double t1 = dream_now_ms();
        pthread_mutex_lock(&fc->mu);
        if (last_frame > 0 && t0 - last_frame > fc->st.max_gap_ms) fc->st.max_gap_ms = t0 - last_frame;
        fc->st.frames++;
        fc->st.last_render_ms = t1 - t0;
        next_tick += period;
        if (next_tick < t1) {     /* behind: skip ticks */
            uint64_t skip = (uint64_t)((t1 - next_tick) / period) + 1;
            fc->st.skipped_ticks += skip;
            next_tick += skip * period;
        }
        pthread_mutex_unlock(&fc->mu);
        last_frame = t0;
    }
    return NULL;
}

frameclock_t *frameclock_new(void *zctx, const dream_image_t *initial, double fps, dream_sinks_t *sinks,
                             dream_err_t *err) {
    if (!(fps > 0 && fps <= 240)) { dream_err_set(err, "frameclock: bad fps %g", fps); return NULL; }
    frameclock_t *fc = calloc(1, sizeof *fc);
    if (!fc) { dream_err_set(err, "out of memory"); return NULL; }
    pthread_mutex_init(&fc->mu, NULL);
    fc->zctx = zctx;
    fc->fps = fps;
    fc->sinks = sinks;
    snprintf(fc->ep, sizeof fc->ep, "inproc://frameclock-%p", (void *)fc);
    fc->owned[0] = dream_image_clone(initial, err);
    fc->out = dream_image_new(initial->w, initial->h, initial->c, err);
    if (!fc->owned[0] || !fc->out) goto fail;
    fc->cur = (fc_pair_t){fc->owned[0], fc->owned[0], 1, 0, 0, 0, 1};
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
        fc_msg_t m = {NULL, 0, 0, 0};
        zmq_send(fc->tx, &m, sizeof m, 0);
        pthread_join(fc->th, NULL);
        /* free keyframes still queued in the socket */
        fc_msg_t q;
        while (zmq_recv(fc->rx, &q, sizeof q, ZMQ_DONTWAIT) == (int)sizeof q)
            if (q.kf) dream_image_destroy(&q.kf);
    }
    if (fc->tx) zmq_close(fc->tx);
    if (fc->rx) zmq_close(fc->rx);
    for (int i = 0; i < 6; i++) dream_image_destroy(&fc->owned[i]);
    dream_image_destroy(&fc->out);
    pthread_mutex_destroy(&fc->mu);
    free(fc);
    *pfc = NULL;
}

int frameclock_push(frameclock_t *fc, dream_image_t **kf, double zoom, double angle_deg,
                    double interval_s, dream_err_t *err) {
    if (!kf || !*kf) return dream_err_set(err, "frameclock: no keyframe");
    fc_msg_t m = {*kf, zoom, angle_deg, interval_s};
    if (zmq_send(fc->tx, &m, sizeof m, 0) != (int)sizeof m) {
        dream_image_destroy(kf);
        return dream_err_set(err, "frameclock: send: %s", zmq_strerror(zmq_errno()));
    }
    *kf = NULL;
    return 0;
}

void frameclock_get_stats(frameclock_t *fc, frameclock_stats_t *out) {
    pthread_mutex_lock(&fc->mu);
    *out = fc->st;
    pthread_mutex_unlock(&fc->mu);
}
