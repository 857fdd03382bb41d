/*
 * test_sched.c — the coordinator's scheduler (server/coord.c) against fake
 * workers over inproc sockets, single-threaded (coord_step + fake replies):
 * keyframes flow over two workers; a worker that dies mid-job has its tile
 * requeued; a failing worker is quarantined after 3 failures and released by
 * the admin command (the quarantine is the connection's, not the name's); late results after a deadline requeue are discarded;
 * a worker measured slow once is probed again instead of idling for good, a slow one ever less often;
 * garbage and wrong-version/wrong-hash hellos are dropped or refused while the
 * farm keeps serving; the farm's model is pinned from --weights random (before any
 * worker), --model-hash or (--weights any) the first worker, sim workers pass, and
 * the refusal names both hashes and the source; admin commands answer INFO-style; the
 * frame clock streams at the stream size (canvas resized in its warp) with and without workers;
 * the float canvas is the warp plus the worker's 8-bit change (--canvas-8bit: the result);
 * --start-image is resized to the canvas, a missing one is an error naming the option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include "coord.h"
#include "model.h"
#include "wire.h"

enum { GOOD = 0, DIE_ON_JOB, ERRORS, LATE, BUSY };

typedef struct fake {
    void *s;
    char name[32];
    int mode;
    double speed;
    const char *hash;
    int welcomed, refused, jobs, dead;
    char reason[1024];      /* of the first refusal */
    double last_hb;
    /* a held job (LATE) */
    wire_msg_t held;
    double held_until;
    double busy_until;      /* BUSY: answers "busy" (error 4) to jobs until then, heartbeats say so */
    int busy_answers;
    double compute_ms;      /* the compute_ms its results report (0: 1), which the coordinator
                             * takes as its speed when it exceeds the wall time */
    int slow_jobs;          /* its first slow_jobs jobs report slow_ms instead */
    double slow_ms;
    uint8_t *first_px;      /* pixels of the first job received */
    size_t first_len;
} fake_t;

typedef struct env {
    void *ctx;
    coord_t *c;
    char ep[64];
} env_t;

static int n_env = 0;

static char g_state_path[256] = ":memory:";
static int g_fps = 0;
static dream_sinks_t *g_frames = NULL;
static uint64_t g_max_tile = 300 * 300;    /* forces 480x320 into several tiles */
static int g_canvas8 = 0;
static int g_stream_w = 0, g_stream_h = 0;
static const char *g_start_image = "";
/* the fakes send made-up hashes: most tests let the first worker pin the model */
static const char *g_weights = "any", *g_model_hash = "";
static int g_allow_sim = 1;     /* dreamd --allow-sim (the fakes below include sim workers) */

static env_t *env_new(void) {
    env_t *e = calloc(1, sizeof *e);
    e->ctx = zmq_ctx_new();
    snprintf(e->ep, sizeof e->ep, "inproc://sched-%d", n_env++);
    coord_cfg_t cfg;
    assert_int_equal(cfg_defaults(coord_cfg_opts, &cfg, NULL), 0);
    snprintf(cfg.worker_bind, sizeof cfg.worker_bind, "%s", e->ep);
    cfg.admin_bind[0] = 0;
    snprintf(cfg.size, sizeof cfg.size, "480x320");
    snprintf(cfg.state, sizeof cfg.state, "%s", g_state_path);
    snprintf(cfg.log_level, sizeof cfg.log_level, "warn");
    cfg.fps = g_fps;           /* 0: no frame clock thread */
    cfg.stream_width = g_stream_w;   /* 0: frames at the canvas size (cheap on a loaded machine) */
    cfg.stream_height = g_stream_h;
    cfg.canvas8 = g_canvas8;
    snprintf(cfg.start_image, sizeof cfg.start_image, "%s", g_start_image);
    cfg.steps = 1;
    cfg.heartbeat_ms = 50;
    cfg.liveness = 3;
    cfg.deadline_factor = 1;
    cfg.deadline_min_ms = 150;
    snprintf(cfg.weights, sizeof cfg.weights, "%s", g_weights);
    snprintf(cfg.model_hash, sizeof cfg.model_hash, "%s", g_model_hash);
    cfg.allow_sim = g_allow_sim;
    cfg.min_ms_mpix = 0;        /* in-process fakes answer in microseconds (farm_hostile.sh tests the floor) */
    dream_err_t err = {{0}};
    assert_int_equal(coord_cfg_finish(&cfg, &err), 0);
    e->c = coord_new(&cfg, e->ctx, g_frames, &err);
    if (!e->c) fail_msg("coord_new: %s", err.msg);
    return e;
}

static void env_free(env_t *e) {
    coord_destroy(&e->c);
    assert_null(e->c);
    zmq_ctx_term(e->ctx);
    free(e);
}

static void fake_send_hello(env_t *e, fake_t *f, uint32_t version) {
    Dreamfarm__Envelope env;
    Dreamfarm__Hello h = DREAMFARM__HELLO__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HELLO);
    env.version = version;
    h.name = f->name;
    h.backend = "fake";
    h.max_tile_pixels = g_max_tile;
    h.ms_per_mpix_step = f->speed;
    h.model_hash = (char *)(f->hash ? f->hash : "hash-A");
    env.body_case = DREAMFARM__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    assert_true(wire_send(f->s, NULL, 0, &env, NULL, 0, 0, NULL) > 0);
}

static fake_t *fake_new(env_t *e, const char *name, int mode, double speed) {
    fake_t *f = calloc(1, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->mode = mode;
    f->speed = speed;
    f->s = zmq_socket(e->ctx, ZMQ_DEALER);
    wire_socket_setup(f->s, 1 << 24, NULL);
    assert_int_equal(zmq_connect(f->s, e->ep), 0);
    fake_send_hello(e, f, DREAM_WIRE_VERSION);
    return f;
}

static void fake_free(fake_t *f) {
    wire_msg_clear(&f->held);
    free(f->first_px);
    zmq_close(f->s);
    free(f);
}

static void reply(fake_t *f, wire_msg_t *m) {
    Dreamfarm__Job *j = m->env->job;
    Dreamfarm__Envelope env;
    int busy = f->mode == BUSY && dream_now_ms() < f->busy_until;
    if (f->mode == ERRORS || busy) {
        wire_send_error(f->s, NULL, 0, j->job_id, busy ? DREAMFARM__ERROR_CODE__ERR_BUSY : DREAMFARM__ERROR_CODE__ERR_FAILED,
                        busy ? "busy" : "simulated failure");
        f->busy_answers += busy;
        return;
    }
    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    r.keyframe_id = j->keyframe_id; r.job_id = j->job_id; r.tile = j->tile;
    r.compute_ms = f->jobs <= f->slow_jobs ? f->slow_ms : f->compute_ms > 0 ? f->compute_ms : 1;
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    for (size_t i = 0; i < m->pixels_len; i++) m->pixels[i] = (uint8_t)(255 - m->pixels[i]);
    assert_true(wire_send(f->s, NULL, 0, &env, m->pixels, m->pixels_len, 0, NULL) > 0);
}

static void fake_poll(fake_t *f) {
    double now = dream_now_ms();
    if (f->dead) {      /* drain and ignore */
        wire_msg_t m;
        while (wire_recv(f->s, 0, ZMQ_DONTWAIT, &m, NULL) != 0) wire_msg_clear(&m);
        return;
    }
    for (;;) {
        wire_msg_t m;
        int rc = wire_recv(f->s, 0, ZMQ_DONTWAIT, &m, NULL);
        if (rc == 0 || rc == -2) break;
        if (rc < 0) continue;
        switch (m.env->type) {
        case DREAMFARM__MSG_TYPE__MSG_WELCOME: f->welcomed = 1; break;
        case DREAMFARM__MSG_TYPE__MSG_REFUSAL:
            f->refused++;
            if (!f->reason[0])     /* the hello's; heartbeats after it get "say hello first" */
                snprintf(f->reason, sizeof f->reason, "%s", m.env->refusal->reason ? m.env->refusal->reason : "");
            break;
        case DREAMFARM__MSG_TYPE__MSG_JOB:
            f->jobs++;
            if (!f->first_px && m.pixels_len) {
                f->first_px = malloc(m.pixels_len);
                memcpy(f->first_px, m.pixels, m.pixels_len);
                f->first_len = m.pixels_len;
            }
            if (f->mode == DIE_ON_JOB) { f->dead = 1; break; }
            if (f->mode == LATE) {
                if (!f->held.env) { f->held = m; f->held_until = now + 400; m.env = NULL; m.pixels = NULL; }
                break;
            }
            reply(f, &m);
            break;
        default: break;
        }
        wire_msg_clear(&m);
    }
    if (f->held.env && now >= f->held_until) {
        int mode = f->mode;
        f->mode = GOOD;
        reply(f, &f->held);
        f->mode = mode;
        wire_msg_clear(&f->held);
    }
    if (now - f->last_hb > 40) {
        Dreamfarm__Envelope env;
        Dreamfarm__Heartbeat hb = DREAMFARM__HEARTBEAT__INIT;
        wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
        env.body_case = DREAMFARM__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        if (f->mode == BUSY) {      /* like dream-worker: the job in the compute thread, 0 = free */
            hb.has_busy_job_id = 1;
            hb.busy_job_id = now < f->busy_until ? 99 : 0;
        }
        wire_send(f->s, NULL, 0, &env, NULL, 0, 0, NULL);
        f->last_hb = now;
    }
}

/* runs coordinator + fakes until cond(stats) or timeout; returns 1 if cond was met */
typedef int (*cond_fn)(const coord_stats_t *st, void *arg);
static int pump(env_t *e, fake_t **f, int nf, double timeout_ms, cond_fn cond, void *arg) {
    double end = dream_now_ms() + timeout_ms;
    coord_stats_t st;
    while (dream_now_ms() < end) {
        coord_step(e->c, 2);
        for (int i = 0; i < nf; i++) fake_poll(f[i]);
        coord_get_stats(e->c, &st);
        if (cond && cond(&st, arg)) return 1;
    }
    return 0;
}

static int kf_at_least(const coord_stats_t *st, void *arg) { return st->keyframes >= (uint64_t)(intptr_t)arg; }

static void test_keyframes_flow(void **s) {
    (void)s;
    env_t *e = env_new();
    const dream_image_t *cv = coord_canvas(e->c);
    float before = cv->px[(cv->h / 2 * cv->w + cv->w / 2) * 3];
    fake_t *f[2] = {fake_new(e, "a", GOOD, 10), fake_new(e, "b", GOOD, 10)};
    assert_true(pump(e, f, 2, 5000, kf_at_least, (void *)3));
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    assert_int_equal(st.workers, 2);
    assert_int_equal(st.tiles_missed, 0);
    assert_int_equal(st.requeued, 0);
    assert_true(st.results_ok >= 3 * 2);      /* several tiles per keyframe */
    assert_true(f[0]->welcomed && f[1]->welcomed);
    assert_true(f[0]->jobs > 0 && f[1]->jobs > 0);
    float after = cv->px[(cv->h / 2 * cv->w + cv->w / 2) * 3];
    assert_true(fabsf(after - before) > 1);    /* results were blended in */
    fake_free(f[0]);
    fake_free(f[1]);
    env_free(e);
}

/* one worker holding the whole canvas: its job is exactly the warped canvas in 8 bits (tiles
 * are warped straight from the canvas, bicubic) and the keyframe is the float warp plus the
 * worker's 8-bit change (the input's rounding cancels: no 8-bit canvas between keyframes) */
static void check_single_tile(int canvas8) {
    g_max_tile = 480 * 320;
    g_canvas8 = canvas8;
    env_t *e = env_new();
    const dream_image_t *cv = coord_canvas(e->c);
    dream_image_t *start = dream_image_clone(cv, NULL), *warped = dream_image_new(cv->w, cv->h, 3, NULL);
    assert_non_null(start);
    assert_non_null(warped);
    fake_t *f[1] = {fake_new(e, "solo", GOOD, 10)};
    assert_true(pump(e, f, 1, 5000, kf_at_least, (void *)1));
    assert_int_equal(f[0]->first_len, (size_t)cv->w * cv->h * 3);
    /* the first keyframe covers N = 25 frames (nothing measured yet: 1 keyframe/s at 25 fps):
     * zoom 1.05, -0.25 degrees, the reference's per-second motion */
    assert_int_equal(dream_warp(start, warped, pow(pow(1.05, 1 / 25.0), 25), -0.01 * 25, DREAM_INTERP_BICUBIC, NULL), 0);
    uint8_t *want = malloc(f[0]->first_len);
    assert_non_null(want);
    dream_image_to_rgb8(warped, want);
    assert_memory_equal(f[0]->first_px, want, f[0]->first_len);
    for (size_t i = 0; i < f[0]->first_len; i++) {    /* the fake inverts */
        float out = (float)(255 - f[0]->first_px[i]);
        float k = canvas8 ? out : warped->px[i] + (float)((int)(255 - f[0]->first_px[i]) - (int)f[0]->first_px[i]);
        if (!canvas8) k = k < 0.0f ? 0.0f : k > 255.0f ? 255.0f : k;   /* the canvas stays in 0..255 */
        if (cv->px[i] != k) fail_msg("canvas[%zu] = %g, want %g", i, cv->px[i], k);
    }
    free(want);
    dream_image_destroy(&start);
    dream_image_destroy(&warped);
    fake_free(f[0]);
    env_free(e);
    g_max_tile = 300 * 300;
    g_canvas8 = 0;
}

static void test_single_tile_exact(void **s) {
    (void)s;
    check_single_tile(0);
    check_single_tile(1);   /* --canvas-8bit: the old behaviour, the result as it is */
}

static void test_no_workers_no_keyframes(void **s) {
    (void)s;
    env_t *e = env_new();
    for (int i = 0; i < 20; i++) assert_int_equal(coord_step(e->c, 5), 1);
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    assert_int_equal(st.keyframes, 0);
    assert_int_equal(st.workers, 0);
    env_free(e);
}

/* (the deadline requeue and the heartbeat loss both come ~150 ms after the job: wait for both,
 * so the dead worker's removal is checked, not the race between them) */
static int requeued_and_kf(const coord_stats_t *st, void *arg) {
    return st->requeued >= 1 && st->keyframes >= 2 && st->workers == 1;
}

static void test_requeue_on_death(void **s) {
    (void)s;
    env_t *e = env_new();
    fake_t *f[2] = {fake_new(e, "dies", DIE_ON_JOB, 1), NULL};
    pump(e, f, 1, 100, NULL, NULL);          /* "dies" alone: it gets a job first */
    f[1] = fake_new(e, "good", GOOD, 100);
    assert_true(pump(e, f, 2, 5000, requeued_and_kf, NULL));
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    assert_int_equal(st.tiles_missed, 0);     /* requeued in time, nothing filled from the base */
    assert_int_equal(st.workers, 1);          /* the dead one was dropped on lost heartbeats */
    assert_true(f[0]->jobs >= 1);
    fake_free(f[0]);
    fake_free(f[1]);
    env_free(e);
}

/* A worker still computing a job the coordinator gave up on answers "busy" (error 4): it gets
 * no new job until its heartbeat says it is free (before: requeue + resend at once, a hot
 * loop of hundreds of jobs and log lines per second), and then works again. */
static void test_busy_worker_not_hammered(void **s) {
    (void)s;
    env_t *e = env_new();
    fake_t *f[2] = {fake_new(e, "busy", BUSY, 1), NULL};
    f[0]->busy_until = dream_now_ms() + 600;
    pump(e, f, 1, 100, NULL, NULL);           /* "busy" alone: it gets the first job */
    f[1] = fake_new(e, "good", GOOD, 100);
    assert_true(pump(e, f, 2, 5000, kf_at_least, (void *)(intptr_t)2));
    pump(e, f, 2, 600 - 100, NULL, NULL);
    int during = f[0]->busy_answers;   /* jobs it got while busy */
    print_message("# busy worker: %d jobs offered while busy\n", during);
    assert_true(during >= 1);
    assert_true(during <= 3);
    f[0]->busy_until = 0;
    /* free again (heartbeat busy_job_id 0): it gets jobs and delivers */
    assert_true(pump(e, f, 2, 5000, kf_at_least, (void *)(intptr_t)8));
    pump(e, f, 2, 1500, NULL, NULL);
    assert_true(f[0]->jobs > f[0]->busy_answers);
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    assert_int_equal(st.quarantined, 0);      /* "busy" is not a failure */
    fake_free(f[0]);
    fake_free(f[1]);
    env_free(e);
}

/* A worker measured slow once (one slow tile: a hiccup) is left out of the plans (one whole
 * canvas on the fast one beats two tiles that wait for it); before, it was then never measured
 * again and sat idle for good. Its estimate now drifts back towards the others' median while it
 * sits out, it is tried again (a probe) and, fast again, stays in. A worker that really is slow
 * is probed less and less often (each probe that finds it slow doubles the wait). */
static void test_idle_worker_probed(void **s) {
    (void)s;
    g_max_tile = 480 * 320;     /* one worker may hold the whole canvas */
    env_t *e = env_new();
    /* a's tiles take 100 ms (reported, so ~1000 ms per MPx-step: two tiles beat one) */
    fake_t *f[2] = {fake_new(e, "a", GOOD, 1000), fake_new(e, "hiccup", GOOD, 1000)};
    f[0]->compute_ms = f[1]->compute_ms = 100;
    f[1]->slow_jobs = 1;
    f[1]->slow_ms = 1000;       /* its first tile: 10x slow */
    assert_true(pump(e, f, 2, 20000, kf_at_least, (void *)(intptr_t)80));
    print_message("# hiccup worker: %d jobs, a %d, in 80 keyframes\n", f[1]->jobs, f[0]->jobs);
    assert_true(f[1]->jobs >= 40);       /* back in after one probe (left out for ~20 keyframes) */
    assert_true(f[1]->jobs < f[0]->jobs);  /* it did sit out a while */
    fake_free(f[0]);
    fake_free(f[1]);
    env_free(e);

    e = env_new();
    f[0] = fake_new(e, "a", GOOD, 1000);
    f[1] = fake_new(e, "slow", GOOD, 1000);
    f[0]->compute_ms = 100;
    f[1]->compute_ms = 300;     /* always 3x slow: one tile on a beats two */
    assert_true(pump(e, f, 2, 30000, kf_at_least, (void *)(intptr_t)200));
    print_message("# slow worker: %d jobs in 200 keyframes\n", f[1]->jobs);
    /* probed (not idle for good), but with a growing wait: ~10, 19, 38, 75 keyframes apart
     * (without the back-off it would be every ~10: ~20 jobs) */
    assert_true(f[1]->jobs >= 3);
    assert_true(f[1]->jobs <= 8);
    fake_free(f[0]);
    fake_free(f[1]);
    env_free(e);
    g_max_tile = 300 * 300;
}

static int quarantined(const coord_stats_t *st, void *arg) { return st->quarantined >= 1; }

static void test_quarantine_and_release(void **s) {
    (void)s;
    env_t *e = env_new();
    fake_t *f[2] = {fake_new(e, "flaky", ERRORS, 1), fake_new(e, "good", GOOD, 100)};
    assert_true(pump(e, f, 2, 5000, quarantined, NULL));
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    assert_true(st.failures >= 3);
    char r[8192];
    coord_admin(e->c, "workers", r, sizeof r);
    assert_non_null(strstr(r, "worker:flaky"));
    assert_non_null(strstr(r, "state=quarantined"));
    /* without CURVE the quarantine is the connection's: nothing persisted under the name */
    assert_non_null(strstr(r, "# Quarantine\ncount:0\n"));
    /* a quarantined worker gets no more jobs */
    int jobs = f[0]->jobs;
    pump(e, f, 2, 300, NULL, NULL);
    assert_int_equal(f[0]->jobs, jobs);
    coord_admin(e->c, "release nobody", r, sizeof r);
    assert_non_null(strstr(r, "ERR"));
    coord_admin(e->c, "release flaky", r, sizeof r);
    assert_non_null(strstr(r, "OK released flaky"));
    coord_get_stats(e->c, &st);
    assert_int_equal(st.quarantined, 0);
    coord_admin(e->c, "workers", r, sizeof r);
    assert_non_null(strstr(r, "# Quarantine\ncount:0"));
    fake_free(f[0]);
    fake_free(f[1]);
    env_free(e);
}

static int late_seen(const coord_stats_t *st, void *arg) { return st->late_discarded >= 1 && st->keyframes >= 2; }

static void test_late_results_discarded(void **s) {
    (void)s;
    env_t *e = env_new();
    fake_t *f[2] = {fake_new(e, "slow", LATE, 1), NULL};
    pump(e, f, 1, 50, NULL, NULL);
    f[1] = fake_new(e, "good", GOOD, 100);
    assert_true(pump(e, f, 2, 6000, late_seen, NULL));
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    assert_true(st.requeued >= 1);
    assert_int_equal(st.tiles_missed, 0);
    fake_free(f[0]);
    fake_free(f[1]);
    env_free(e);
}

static void test_garbage_and_refusals(void **s) {
    (void)s;
    env_t *e = env_new();
    fake_t *f[3] = {fake_new(e, "good", GOOD, 10), NULL, NULL};
    assert_true(pump(e, f, 1, 3000, kf_at_least, (void *)1));
    /* garbage from a raw peer */
    void *raw = zmq_socket(e->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(raw, e->ep);
    zmq_send(raw, "\x01\x02\x03 not protobuf", 16, 0);
    zmq_send(raw, "a", 1, ZMQ_SNDMORE);
    zmq_send(raw, "b", 1, ZMQ_SNDMORE);
    zmq_send(raw, "c", 1, 0);
    /* wrong protocol version and wrong model hash: refused */
    f[1] = calloc(1, sizeof *f[1]);
    snprintf(f[1]->name, sizeof f[1]->name, "oldproto");
    f[1]->speed = 10;
    f[1]->s = zmq_socket(e->ctx, ZMQ_DEALER);
    zmq_setsockopt(f[1]->s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(f[1]->s, e->ep);
    fake_send_hello(e, f[1], DREAM_WIRE_VERSION + 1);
    f[2] = calloc(1, sizeof *f[2]);
    snprintf(f[2]->name, sizeof f[2]->name, "otherweights");
    f[2]->speed = 10;
    f[2]->hash = "hash-B";
    f[2]->s = zmq_socket(e->ctx, ZMQ_DEALER);
    zmq_setsockopt(f[2]->s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(f[2]->s, e->ep);
    fake_send_hello(e, f[2], DREAM_WIRE_VERSION);
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    uint64_t kf0 = st.keyframes;
    assert_true(pump(e, f, 3, 3000, kf_at_least, (void *)(intptr_t)(kf0 + 2)));
    coord_get_stats(e->c, &st);
    assert_true(st.malformed >= 3);
    assert_true(f[1]->refused >= 1);
    assert_true(f[2]->refused >= 1);
    assert_int_equal(f[1]->welcomed + f[2]->welcomed, 0);
    assert_int_equal(st.workers, 1);
    zmq_close(raw);
    for (int i = 0; i < 3; i++) fake_free(f[i]);
    env_free(e);
}

static fake_t *fake_with_hash(env_t *e, const char *name, const char *hash) {
    fake_t *f = calloc(1, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->speed = 10;
    f->hash = hash;
    f->s = zmq_socket(e->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(f->s, ZMQ_LINGER, &linger, sizeof linger);
    wire_socket_setup(f->s, 1 << 24, NULL);
    assert_int_equal(zmq_connect(f->s, e->ep), 0);
    fake_send_hello(e, f, DREAM_WIRE_VERSION);
    return f;
}

static void test_model_pin(void **s) {
    (void)s;
    dream_err_t err = {{0}};
    static char rnd[17];
    char r[16384], want[256];
    assert_int_equal(dream_model_random_hash(&DREAM_ARCH_VGG16, DREAM_RANDOM_SEED, rnd, &err), 0);

    /* --weights random: pinned before any worker, the page knows it is untrained */
    g_weights = "random";
    env_t *e = env_new();
    coord_admin(e->c, "status", r, sizeof r);
    snprintf(want, sizeof want, "\nmodel_hash:%s\n", rnd);
    if (!strstr(r, want)) fail_msg("no '%s' in status:\n%s", want, r);
    assert_non_null(strstr(r, "\nmodel_source:dreamd --weights random, UNTRAINED random init\n"));
    assert_non_null(strstr(r, "\nuntrained:1\n"));
    fake_t *f[3] = {fake_with_hash(e, "other", "hash-A"), fake_with_hash(e, "simw", "sim"),
                    fake_with_hash(e, "same", rnd)};
    assert_true(pump(e, f, 3, 3000, kf_at_least, (void *)2));
    assert_int_equal(f[0]->welcomed, 0);
    assert_true(f[0]->refused >= 1);
    snprintf(want, sizeof want, "model hash hash-A differs from the farm's %s (dreamd --weights random, "
             "UNTRAINED random init)", rnd);
    assert_string_equal(f[0]->reason, want);
    assert_int_equal(f[1]->welcomed, 1);      /* sim (with --allow-sim): not checked */
    assert_int_equal(f[2]->welcomed, 1);
    assert_true(f[1]->jobs + f[2]->jobs >= 2);
    coord_admin(e->c, "status", r, sizeof r);
    assert_non_null(strstr(r, "\nconnected:2\n"));
    for (int i = 0; i < 3; i++) fake_free(f[i]);
    env_free(e);

    /* without --allow-sim a sim worker is refused like any wrong hash */
    g_allow_sim = 0;
    e = env_new();
    f[0] = fake_with_hash(e, "simw", "sim");
    pump(e, f, 1, 300, NULL, NULL);
    assert_int_equal(f[0]->welcomed, 0);
    assert_true(f[0]->refused >= 1);
    assert_non_null(strstr(f[0]->reason, "sim backend refused"));
    fake_free(f[0]);
    env_free(e);
    g_allow_sim = 1;

    /* --model-hash wins over --weights; a known hash (the random init's) sets untrained */
    g_model_hash = "hash-C";
    e = env_new();
    f[0] = fake_with_hash(e, "rnd", rnd);
    f[1] = fake_with_hash(e, "c", "hash-C");
    assert_true(pump(e, f, 2, 3000, kf_at_least, (void *)1));
    assert_true(f[0]->refused >= 1);
    assert_non_null(strstr(f[0]->reason, "differs from the farm's hash-C (dreamd --model-hash)"));
    assert_int_equal(f[1]->welcomed, 1);
    coord_admin(e->c, "status", r, sizeof r);
    assert_non_null(strstr(r, "\nmodel_hash:hash-C\nmodel_source:dreamd --model-hash\nuntrained:0\n"));
    for (int i = 0; i < 2; i++) fake_free(f[i]);
    env_free(e);
    g_model_hash = rnd;
    e = env_new();
    coord_admin(e->c, "status", r, sizeof r);
    assert_non_null(strstr(r, "\nmodel_source:dreamd --model-hash, UNTRAINED random init\nuntrained:1\n"));
    env_free(e);
    g_model_hash = "";

    /* --weights any: a sim worker does not pin, the first real one does */
    g_weights = "any";
    e = env_new();
    coord_admin(e->c, "status", r, sizeof r);
    assert_non_null(strstr(r, "\nmodel_hash:-\n"));
    f[0] = fake_with_hash(e, "simw", "sim");
    assert_true(pump(e, f, 1, 3000, kf_at_least, (void *)1));
    f[1] = fake_with_hash(e, "first", "hash-A");
    pump(e, f, 2, 300, NULL, NULL);
    f[2] = fake_with_hash(e, "second", "hash-B");
    pump(e, f, 3, 300, NULL, NULL);
    assert_int_equal(f[1]->welcomed, 1);
    assert_int_equal(f[2]->welcomed, 0);
    assert_non_null(strstr(f[2]->reason, "model hash hash-B differs from the farm's hash-A (dreamd --weights "
                                         "any, pinned by the first worker first)"));
    coord_admin(e->c, "status", r, sizeof r);
    assert_non_null(strstr(r, "\nmodel_hash:hash-A\n"));
    for (int i = 0; i < 3; i++) fake_free(f[i]);
    env_free(e);

    /* a weights file that is not there: a clear error, no coordinator */
    coord_cfg_t cfg;
    assert_int_equal(cfg_defaults(coord_cfg_opts, &cfg, NULL), 0);
    snprintf(cfg.weights, sizeof cfg.weights, "/nonexistent/vgg16.safetensors");
    assert_int_equal(coord_cfg_model(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "option 'weights'"));
    assert_non_null(strstr(err.msg, "/nonexistent/vgg16.safetensors: cannot open"));
    void *ctx = zmq_ctx_new();
    cfg.model_known = 0;
    assert_int_equal(coord_cfg_finish(&cfg, &err), 0);
    snprintf(cfg.state, sizeof cfg.state, ":memory:");
    cfg.admin_bind[0] = 0;
    snprintf(cfg.worker_bind, sizeof cfg.worker_bind, "inproc://sched-bad");
    assert_null(coord_new(&cfg, ctx, NULL, &err));
    assert_non_null(strstr(err.msg, "cannot open"));
    zmq_ctx_term(ctx);
}

static int model_pin_teardown(void **s) {
    (void)s;
    g_weights = "any";
    g_model_hash = "";
    return 0;
}

static void test_quarantine_not_by_name(void **s) {
    (void)s;
    snprintf(g_state_path, sizeof g_state_path, "/tmp/test_sched_state_%d.sqlite", (int)getpid());
    unlink(g_state_path);
    env_t *e = env_new();
    fake_t *f[1] = {fake_new(e, "flaky", ERRORS, 1)};
    assert_true(pump(e, f, 1, 5000, quarantined, NULL));
    fake_free(f[0]);
    env_free(e);
    /* a new coordinator on the same state file: a worker with the same NAME is a new worker
     * (names are labels; only a CURVE key is remembered: farm_quarantine_key.sh) */
    e = env_new();
    fake_t *g[1] = {fake_new(e, "flaky", GOOD, 1)};
    assert_true(pump(e, g, 1, 3000, kf_at_least, (void *)1));
    assert_true(g[0]->jobs > 0);
    coord_stats_t st;
    coord_get_stats(e->c, &st);
    assert_int_equal(st.quarantined, 0);
    fake_free(g[0]);
    env_free(e);
    unlink(g_state_path);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", g_state_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", g_state_path);
    unlink(side);
    snprintf(g_state_path, sizeof g_state_path, ":memory:");
}

/* a sink that counts frames and remembers the largest gap between two of them */
typedef struct count_sink { int frames, w, h, wrong_size; double last, max_gap; float first_px, last_px, max_dev; } count_sink_t;
static int count_frame(void *ctx, const dream_image_t *im, uint64_t seq, dream_err_t *err) {
    count_sink_t *c = ctx;
    if (c->w && (im->w != c->w || im->h != c->h)) c->wrong_size++;
    double now = dream_now_ms();
    if (c->frames && now - c->last > c->max_gap) c->max_gap = now - c->last;
    c->last = now;
    float px = im->px[(im->h / 2 * im->w + im->w / 2) * 3];
    if (!c->frames) c->first_px = px;
    c->last_px = px;
    if (fabsf(px - c->first_px) > c->max_dev) c->max_dev = fabsf(px - c->first_px);
    c->frames++;
    return 0;
}

static void test_frame_clock(void **s) {
    (void)s;
    count_sink_t cs = {0};
    dream_sink_t sink = {"count", &cs, count_frame, NULL};
    dream_sinks_t sinks = {0};
    sinks.s[0] = &sink;
    sinks.n = 1;
    g_fps = 50;
    g_frames = &sinks;
    g_stream_w = cs.w = 400;     /* frames at the stream size: the 480x320 canvas resized in the warp */
    g_stream_h = cs.h = 224;
    env_t *e = env_new();
    /* no workers: frames still flow at the clock's rate, the initial canvas zooming on about the
     * centre (motion in video time never stops): the centre pixel stays close */
    pump(e, NULL, 0, 500, NULL, NULL);
    int f0 = cs.frames;
    assert_true(f0 >= 15 && f0 <= 30);
    assert_float_equal(cs.last_px, cs.first_px, 10);
    /* with a worker, keyframes arrive and the frames change. Keyframes wait for the display
     * (motion in video time: the first lands 2 s of video ahead, the next ones once the display
     * is within 2N frames), so on a loaded machine this takes as long as the clock needs */
    fake_t *f[1] = {fake_new(e, "a", GOOD, 10)};
    assert_true(pump(e, f, 1, 15000, kf_at_least, (void *)3));
    pump(e, f, 1, 300, NULL, NULL);
    assert_true(cs.frames > f0);
    /* the centre pixel flips with every keyframe (the fake inverts, the warp keeps the centre):
     * some frame must differ from the first (the last one may be back near it) */
    assert_true(cs.max_dev > 1);
    assert_int_equal(cs.wrong_size, 0);
    assert_true(cs.max_gap < 200);      /* 20 ms period; generous for loaded machines */
    fake_free(f[0]);
    env_free(e);                        /* joins the clock thread before the sink goes away */
    g_fps = 0;
    g_frames = NULL;
    g_stream_w = g_stream_h = 0;
}

static void test_admin_commands(void **s) {
    (void)s;
    env_t *e = env_new();
    char r[16384];
    coord_admin(e->c, "status", r, sizeof r);
    assert_non_null(strstr(r, "# Server\n"));
    assert_non_null(strstr(r, "# Workers\nconnected:0\n"));
    assert_non_null(strstr(r, "# Keyframes\nkeyframes:0\n"));
    assert_non_null(strstr(r, "canvas:480x320\n"));
    coord_admin(e->c, "config", r, sizeof r);
    assert_non_null(strstr(r, "# Config\n"));
    assert_non_null(strstr(r, "\nsize:480x320\n"));
    assert_non_null(strstr(r, "\nheartbeat-ms:50\n"));
    coord_admin(e->c, "frobnicate", r, sizeof r);
    assert_non_null(strstr(r, "ERR unknown command"));
    coord_admin(e->c, "release", r, sizeof r);
    assert_non_null(strstr(r, "ERR usage"));
    coord_admin(e->c, "quit", r, sizeof r);
    assert_non_null(strstr(r, "OK"));
    assert_int_equal(coord_step(e->c, 1), 0);
    env_free(e);
}

/* --start-image: the file resized (bicubic) to the canvas, clipped to 0..255; a missing file
 * stops coord_new with a message naming the option */
static void test_start_image(void **s) {
    (void)s;
    char path[] = "/tmp/test_sched_start_XXXXXX.png";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    dream_image_t *img = dream_image_new(96, 64, 3, NULL), *want = dream_image_new(480, 320, 3, NULL);
    assert_non_null(img);
    assert_non_null(want);
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 96; x++)
            for (int k = 0; k < 3; k++) img->px[(y * 96 + x) * 3 + k] = (float)((x * 7 + y * 3 + k * 50) % 256);
    assert_int_equal(dream_image_save(img, path, NULL), 0);
    assert_int_equal(dream_image_resize(img, want, DREAM_INTERP_BICUBIC, NULL), 0);
    g_start_image = path;
    env_t *e = env_new();
    const dream_image_t *cv = coord_canvas(e->c);
    assert_int_equal(cv->w, 480);
    for (size_t i = 0; i < (size_t)480 * 320 * 3; i++) {
        float v = want->px[i] < 0 ? 0 : want->px[i] > 255 ? 255 : want->px[i];
        if (cv->px[i] != v) fail_msg("canvas[%zu] = %g, want %g", i, cv->px[i], v);
    }
    env_free(e);
    unlink(path);
    /* gone: coord_new fails and says which option */
    coord_cfg_t cfg;
    assert_int_equal(cfg_defaults(coord_cfg_opts, &cfg, NULL), 0);
    snprintf(cfg.worker_bind, sizeof cfg.worker_bind, "inproc://sched-start");
    cfg.admin_bind[0] = 0;
    cfg.fps = 0;
    snprintf(cfg.state, sizeof cfg.state, ":memory:");
    snprintf(cfg.log_level, sizeof cfg.log_level, "warn");
    snprintf(cfg.start_image, sizeof cfg.start_image, "%s", path);
    dream_err_t err = {{0}};
    assert_int_equal(coord_cfg_finish(&cfg, &err), 0);
    void *ctx = zmq_ctx_new();
    coord_t *c = coord_new(&cfg, ctx, NULL, &err);
    assert_null(c);
    assert_non_null(strstr(err.msg, "start-image"));
    zmq_ctx_term(ctx);
    g_start_image = "";
    dream_image_destroy(&img);
    dream_image_destroy(&want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyframes_flow),
        cmocka_unit_test(test_single_tile_exact),
        cmocka_unit_test(test_start_image),
        cmocka_unit_test(test_no_workers_no_keyframes),
        cmocka_unit_test(test_requeue_on_death),
        cmocka_unit_test(test_busy_worker_not_hammered),
        cmocka_unit_test(test_idle_worker_probed),
        cmocka_unit_test(test_quarantine_and_release),
        cmocka_unit_test(test_late_results_discarded),
        cmocka_unit_test(test_garbage_and_refusals),
        cmocka_unit_test_teardown(test_model_pin, model_pin_teardown),
        cmocka_unit_test(test_quarantine_not_by_name),
        cmocka_unit_test(test_frame_clock),
        cmocka_unit_test(test_admin_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
