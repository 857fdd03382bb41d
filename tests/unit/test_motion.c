/*
 * test_motion.c — motion in video time (server/motion.c), with a simulated clock:
 * N = ceil(fps / EMA rate) with EMA 0.1 old / 0.9 new; the next keyframe is the base
 * warped by exactly the zoom/rotation of its N frames; a backlog waits (2N); the display
 * plan reproduces the reference interpolation when keyframes are on time; and over a run
 * with keyframe times varying 0.2..20 s every output frame zooms by the same factor (to 1 %),
 * no frame repeats or skips, no keyframe is skipped, content never jumps backwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "motion.h"

static void test_reference_constants(void **s) {
    (void)s;
    motion_cfg_t c;
    motion_cfg_reference(&c);
    /* 1.05 per second of video at 25 fps, 0.01 degree per frame in the reference's direction */
    assert_float_equal(pow(motion_zpf(&c), 25), 1.05, 1e-12);
    assert_float_equal(motion_dpf(&c), -0.01, 1e-12);
    assert_float_equal(c.queue_factor, 2, 0);
}

static void test_ema_and_n(void **s) {
    (void)s;
    motion_cfg_t c;
    motion_cfg_reference(&c);
    motion_t m;
    motion_init(&m, &c);
    assert_int_equal(motion_frames_est(&m), 25);     /* nothing measured: 1 keyframe/s */
    motion_observe(&m, 0.5);                         /* rate 2/s */
    assert_int_equal(motion_frames_est(&m), 13);     /* ceil(25 / 2) */
    motion_observe(&m, 2.0);                         /* 0.1 * 2 + 0.9 * 0.5 = 0.65/s */
    assert_float_equal(m.rate, 0.65, 1e-12);
    assert_int_equal(motion_frames_est(&m), 39);     /* ceil(38.46) */
    motion_observe(&m, 0.02);                        /* 50/s: one frame per keyframe */
    assert_int_equal(motion_frames_est(&m), 1);
    motion_step_t st;
    motion_next(&m, 100, 90, 0, &st);                /* the base >= N frames ahead of the display: N alone */
    assert_int_equal(st.n, 1);
    assert_int_equal(st.pos, 101);
    motion_next(&m, 100, 130, 0, &st);               /* display 30 frames past the base: catch up + lead N */
    assert_int_equal(st.n, 32);
    assert_int_equal(st.pos, 132);
    assert_float_equal(st.zoom, pow(1.05, 32 / 25.0), 1e-12);
    assert_float_equal(st.angle, -0.32, 1e-12);
    motion_observe(&m, 0.5);                         /* 0.1 * 45.07 + 0.9 * 2 = 6.307/s: N = 4 */
    assert_int_equal(motion_frames_est(&m), 4);
    motion_next(&m, 100, 99, 0, &st);                /* only 1 frame of lead: 4 + (4 - 1) */
    assert_int_equal(st.n, 7);
    c.frames_per_kf = 7;                             /* fixed N */
    motion_init(&m, &c);
    motion_observe(&m, 100);
    motion_next(&m, 0, -1, 0, &st);
    assert_int_equal(st.n, 7);
    c.frames_per_kf = 0;
    c.wallclock = 1;                                 /* the old mode: real time, capped */
    motion_init(&m, &c);
    motion_next(&m, 0, 1000, 0.4, &st);
    assert_int_equal(st.n, 10);
    motion_next(&m, 0, 1000, 60, &st);
    assert_int_equal(st.n, 125);                     /* max_dt 5 s */
}

static void test_hold_limit(void **s) {
    (void)s;
    motion_cfg_t c;
    motion_cfg_reference(&c);                        /* 60 s x 25 fps */
    assert_true(motion_may_advance(&c, 100 + 1499, 100));
    assert_false(motion_may_advance(&c, 100 + 1500, 100));
}

static void test_backlog_waits(void **s) {
    (void)s;
    motion_cfg_t c;
    motion_cfg_reference(&c);
    motion_t m;
    motion_init(&m, &c);
    motion_observe(&m, 0.2);                         /* N = 5 */
    assert_true(motion_may_start(&m, 110, 100));     /* 10 = 2N ahead: may start */
    assert_false(motion_may_start(&m, 111, 100));    /* 11 frames queued: compute waits */
    assert_true(motion_may_start(&m, 50, 100));
    assert_true(motion_may_start(&m, 1000, -1));     /* no display */
}

/* on time: the plan is exactly dream_interpolate's (prev forward zoom^t, next back zoom^(t-1), w = t) */
static void test_on_time_is_reference_interpolation(void **s) {
    (void)s;
    const double zpf = pow(1.05, 1 / 25.0), dpf = -0.01;
    motion_kf_t l[2] = {{100, 0, 0}, {120, 0, 0}};
    motion_schedule(NULL, &l[0], 90, 13);
    motion_schedule(&l[0], &l[1], 95, 13);           /* arrives before the display reaches 100 */
    assert_int_equal(l[1].start, 100);
    assert_int_equal(l[1].end, 120);
    double zoom = pow(zpf, 20), angle = dpf * 20;
    for (int64_t f = 100; f <= 125; f++) {
        motion_frame_t fr;
        motion_plan_frame(l, 2, f, zpf, dpf, &fr);
        double t = (f - 100) / 20.0;
        if (f < 120) {
            assert_int_equal(fr.a, 0);
            assert_int_equal(fr.b, 1);
            assert_float_equal(fr.w, t, 1e-12);
            assert_float_equal(fr.za, pow(zoom, t), 1e-12);
            assert_float_equal(fr.zb, pow(zoom, t - 1), 1e-12);
            assert_float_equal(fr.aa, t * angle, 1e-12);
            assert_float_equal(fr.ab, (t - 1) * angle, 1e-12);
        } else {                                     /* at and past the next keyframe: it alone, zooming on */
            assert_int_equal(fr.a, 1);
            assert_int_equal(fr.b, -1);
            assert_float_equal(fr.za, pow(zpf, (double)(f - 120)), 1e-12);
        }
    }
}

/* A late keyframe fades in from when it arrives, never with a weight jump */
static void test_late_keyframe_fades_in(void **s) {
    (void)s;
    motion_kf_t l[2] = {{100, 0, 0}, {120, 0, 0}};
    motion_schedule(NULL, &l[0], 100, 13);
    motion_schedule(&l[0], &l[1], 110, 13);          /* arrives mid-way */
    assert_int_equal(l[1].start, 110);
    assert_int_equal(l[1].end, 123);                 /* at least min(N, cap) = 13 frames of fade */
    motion_kf_t k[2] = {{100, 0, 0}, {120, 0, 0}};
    motion_schedule(NULL, &k[0], 100, 13);
    motion_schedule(&k[0], &k[1], 300, 13);          /* far too late */
    assert_int_equal(k[1].start, 300);
    assert_int_equal(k[1].end, 313);
    motion_frame_t fr;
    motion_plan_frame(k, 2, 300, 1.01, 0, &fr);
    assert_float_equal(fr.w, 0, 0);
    assert_float_equal(fr.za, pow(1.01, 200), 1e-9);  /* the old one, zoomed on for 200 frames */
    assert_float_equal(fr.zb, pow(1.01, 180), 1e-9);
}

/* ---- the simulated run ---- */

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct sim_result {
    int64_t frames, keyframes, extrapolated, max_held, max_ahead;
    double worst_zoom_dev, worst_angle_dev;
} sim_result_t;

/* keyframe k takes kf_s(k) seconds of compute; runs until nkf keyframes are done and shown */
static void simulate(double (*kf_s)(int), int nkf, sim_result_t *r) {
    motion_cfg_t c;
    motion_cfg_reference(&c);
    motion_t m;
    motion_init(&m, &c);
    const double zpf = motion_zpf(&c), dpf = motion_dpf(&c), lz = log(zpf);
    const double frame_ms = 1000.0 / c.fps;
    enum { MAXL = 64 };
    motion_kf_t list[MAXL];
    int64_t id[MAXL];                /* global keyframe number of each list entry */
    int n = 1;
    list[0] = (motion_kf_t){0, 0, 0};
    id[0] = 0;
    motion_schedule(NULL, &list[0], 0, 13);
    int64_t base_pos = 0, kf_done = 0, f = 0;
    int computing = 0, started = 0;
    double finish_at = 0, start_at = 0;
    int64_t pending_pos = 0;
    double prev_g = NAN, prev_ga = NAN, prev_content = 0;
    memset(r, 0, sizeof *r);
    for (;;) {
        double now = f * frame_ms;       /* frame f is shown at now */
        /* the coordinator: finish, then start the next one at once if the backlog allows */
        for (;;) {
            if (computing && finish_at <= now) {
                computing = 0;
                motion_observe(&m, (finish_at - start_at) / 1000.0);
                /* it arrived after frame f - 1 was shown: f is the next frame */
                int64_t f_arr = f;
                assert_true(n < MAXL);
                list[n] = (motion_kf_t){pending_pos, 0, 0};
                id[n] = ++kf_done;
                motion_schedule(&list[n - 1], &list[n], f_arr, 13);
                n++;
                if (n > r->max_held) r->max_held = n;
                base_pos = pending_pos;
            }
            if (!computing && started < nkf) {
                /* the coordinator is free since the last finish, or (backlog) since frame f - 1 */
                double t = finish_at > now - frame_ms ? finish_at : now - frame_ms;
                if (t < 0) t = 0;
                int64_t f_now = f;
                if (!motion_may_start(&m, base_pos, f_now)) break;
                motion_step_t st;
                motion_next(&m, base_pos, f_now, 0, &st);
                /* the new keyframe starts from the current one warped by exactly its N frames */
                assert_int_equal(st.pos - base_pos, st.n);
                assert_float_equal(st.zoom, pow(zpf, (double)st.n), 1e-12 * st.zoom);
                assert_float_equal(st.angle, dpf * (double)st.n, 1e-9);
                pending_pos = st.pos;
                start_at = t;
                finish_at = t + 1000.0 * kf_s(started);
                started++;
                computing = 1;
                continue;
            }
            break;
        }
        /* the display: frame f */
        motion_frame_t fr;
        int keep = motion_plan_frame(list, n, f, zpf, dpf, &fr);
        double g = (double)list[fr.a].pos * lz + log(fr.za);        /* global log-zoom of the frame */
        double ga = (double)list[fr.a].pos * dpf + fr.aa;            /* global angle */
        if (fr.b >= 0) {   /* both images of a crossfade sit at the same place */
            assert_float_equal((double)list[fr.b].pos * lz + log(fr.zb), g, 1e-9);
            assert_float_equal((double)list[fr.b].pos * dpf + fr.ab, ga, 1e-9);
        } else if (f > list[fr.a].pos) {
            r->extrapolated++;
            if (f - list[fr.a].pos > r->max_ahead) r->max_ahead = f - list[fr.a].pos;
        }
        /* the display never reaches the hold limit (60 s past the newest keyframe): no repeats */
        assert_true(motion_may_advance(&c, f + 1, list[n - 1].pos));
        if (f > 0) {
            double dz = fabs((g - prev_g) / lz - 1), da = fabs((ga - prev_ga) / dpf - 1);
            if (dz > r->worst_zoom_dev) r->worst_zoom_dev = dz;
            if (da > r->worst_angle_dev) r->worst_angle_dev = da;
        }
        /* content: keyframe number plus fade; never backwards, never skips a keyframe */
        double content = (double)id[fr.a] + (fr.b >= 0 ? fr.w : 0);
        assert_true(content >= prev_content - 1e-12);
        assert_true(content - prev_content <= 1.0 + 1e-12);
        prev_content = content;
        prev_g = g;
        prev_ga = ga;
        if (keep > 0) {
            memmove(list, list + keep, (size_t)(n - keep) * sizeof list[0]);
            memmove(id, id + keep, (size_t)(n - keep) * sizeof id[0]);
            n -= keep;
        }
        f++;
        if (kf_done == nkf && fr.b < 0 && id[fr.a] == nkf) break;
        assert_true(f < 10000000);
    }
    r->frames = f;
    r->keyframes = kf_done;
}

static double varying(int k) {
    /* blocks of fast, slow and random times: 0.2 .. 20 s */
    if (k < 20) return 0.2;
    if (k < 23) return 20;
    if (k < 40) return 0.2 + 0.05 * (k % 3);
    if (k < 45) return 5 + (k % 2) * 15;
    double u = urand();
    return 0.2 * pow(100.0, u);                      /* log-uniform 0.2 .. 20 */
}

static void test_varying_keyframe_times(void **s) {
    (void)s;
    sim_result_t r;
    simulate(varying, 120, &r);
    printf("motion sim: %lld frames, %lld keyframes, %lld extrapolated (at most %lld past a keyframe), "
           "worst zoom step dev %.2e, held <= %lld\n", (long long)r.frames, (long long)r.keyframes,
           (long long)r.extrapolated, (long long)r.max_ahead, r.worst_zoom_dev, (long long)r.max_held);
    assert_int_equal(r.keyframes, 120);
    assert_true(r.worst_zoom_dev < 0.01);            /* zoom per frame constant to 1 % */
    assert_true(r.worst_angle_dev < 0.01);
    assert_true(r.max_held <= 6);                    /* the backlog rule bounds what the clock holds */
}

static double steady_1s(int k) { (void)k; return 1.0; }

static void test_steady_is_on_time(void **s) {
    (void)s;
    sim_result_t r;
    simulate(steady_1s, 40, &r);
    printf("motion sim steady 1 s: %lld frames, %lld extrapolated\n", (long long)r.frames, (long long)r.extrapolated);
    /* after the start-up, keyframes arrive before the display needs them: 25 frames each,
     * nothing but the last keyframe is ever shown past its position */
    assert_true(r.frames >= 40 * 25 && r.frames <= 40 * 25 + 3 * 25);
    assert_true(r.extrapolated <= 25);
    assert_true(r.worst_zoom_dev < 1e-6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_constants),
        cmocka_unit_test(test_ema_and_n),
        cmocka_unit_test(test_backlog_waits),
        cmocka_unit_test(test_hold_limit),
        cmocka_unit_test(test_on_time_is_reference_interpolation),
        cmocka_unit_test(test_late_keyframe_fades_in),
        cmocka_unit_test(test_varying_keyframe_times),
        cmocka_unit_test(test_steady_is_on_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
