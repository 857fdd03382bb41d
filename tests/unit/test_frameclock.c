/*
 * test_frameclock.c — server/frameclock.c: the keyframes handed over are what the frames show,
 * and the clock gives dropped keyframes' memory back.
 *  - frameclock_push_copy copies (the caller's canvas changes afterwards, the frames do not),
 *    frameclock_push_88 converts an 8.8 canvas exactly (value / 256);
 *  - with no motion (zoom 1, no turn) the frames settle on the newest keyframe, bit for bit;
 *  - a stream of keyframes reuses the memory of dropped ones (reused_kf), and a keyframe of
 *    another size is made fresh (no reuse of a misfit).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include "frameclock.h"
#include "px88.h"

enum { W = 40, H = 24 };

typedef struct {
    pthread_mutex_t mu;
    dream_image_t *last;    /* copy of the newest frame */
    uint64_t n;
} capture_t;

static int cap_frame(void *ctx, const dream_image_t *im, uint64_t seq, dream_err_t *err) {
    (void)seq; (void)err;
    capture_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    if (!c->last) c->last = dream_image_clone(im, NULL);
    else memcpy(c->last->px, im->px, sizeof(float) * (size_t)im->w * im->h * im->c);
    c->n++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

typedef struct {
    void *zctx;
    capture_t cap;
    dream_sink_t sink;
    dream_sinks_t sinks;
    frameclock_t *fc;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    f->zctx = zmq_ctx_new();
    pthread_mutex_init(&f->cap.mu, NULL);
    snprintf(f->sink.name, sizeof f->sink.name, "capture");
    f->sink.ctx = &f->cap;
    f->sink.frame = cap_frame;
    f->sinks.n = 1;
    f->sinks.s[0] = &f->sink;
    dream_image_t *init = dream_image_new(W, H, 3, NULL);
    motion_cfg_t mc;
    motion_cfg_reference(&mc);
    mc.fps = 100;
    mc.zoom_per_s = 1.0;    /* no motion: a frame at rest is its keyframe */
    mc.deg_per_s = 0;
    mc.frames_per_kf = 2;
    dream_err_t err = {{0}};
    f->fc = frameclock_new(f->zctx, init, W, H, &mc, &f->sinks, &err);
    dream_image_destroy(&init);
    if (!f->fc) { print_error("frameclock_new: %s\n", err.msg); return -1; }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    frameclock_destroy(&f->fc);
    assert_null(f->fc);
    frameclock_destroy(&f->fc);     /* NULL-safe */
    dream_image_destroy(&f->cap.last);
    pthread_mutex_destroy(&f->cap.mu);
    zmq_ctx_term(f->zctx);
    free(f);
    return 0;
}

/* waits until the newest frame equals want (bit for bit) or 20 s pass (a loaded CI machine;
 * it takes a fade of a few frames at 100 fps when all is well); 1 if it did */
static int frames_show(fx_t *f, const dream_image_t *want) {
    for (int t = 0; t < 2000; t++) {
        usleep(10000);
        pthread_mutex_lock(&f->cap.mu);
        int same = f->cap.last && !memcmp(f->cap.last->px, want->px, sizeof(float) * W * H * 3);
        pthread_mutex_unlock(&f->cap.mu);
        if (same) return 1;
    }
    return 0;
}

static void test_push_copy_and_88(void **state) {
    fx_t *f = *state;
    dream_err_t err = {{0}};
    dream_image_t *cv = dream_image_new(W, H, 3, NULL), *want = dream_image_new(W, H, 3, NULL);
    for (int i = 0; i < W * H * 3; i++) cv->px[i] = (float)((i * 37) % 256);
    memcpy(want->px, cv->px, sizeof(float) * W * H * 3);
    int64_t next;
    frameclock_position(f->fc, &next, NULL);
    assert_int_equal(frameclock_push_copy(f->fc, cv, next + 2, &err), 0);
    for (int i = 0; i < W * H * 3; i++) cv->px[i] = 1.0f;      /* the caller's canvas moves on */
    assert_true(frames_show(f, want));

    /* an 8.8 canvas: value / 256 exactly, fractions included */
    uint8_t *c88 = malloc((size_t)W * H * 6);
    for (int i = 0; i < W * H * 3; i++) {
        uint16_t q = (uint16_t)((i * 2654435761u) % 65281u);
        c88[2 * i] = (uint8_t)q;
        c88[2 * i + 1] = (uint8_t)(q >> 8);
        want->px[i] = (float)q / 256.0f;
    }
    frameclock_position(f->fc, &next, NULL);
    assert_int_equal(frameclock_push_88(f->fc, c88, W, H, next + 2, &err), 0);
    assert_true(frames_show(f, want));
    assert_int_not_equal(frameclock_push_88(f->fc, NULL, W, H, next + 4, &err), 0);
    assert_int_not_equal(frameclock_push_copy(f->fc, NULL, next + 4, &err), 0);
    free(c88);
    dream_image_destroy(&cv);
    dream_image_destroy(&want);
}

static void test_dropped_memory_reused(void **state) {
    fx_t *f = *state;
    dream_err_t err = {{0}};
    dream_image_t *cv = dream_image_new(W, H, 3, NULL);
    frameclock_stats_t s0, s1;
    frameclock_get_stats(f->fc, &s0);
    int pushed = 0;
    for (int k = 0; k < 12; k++) {
        int64_t next;
        int held;
        for (int t = 0;; t++) {     /* one at a time: the clock shows it, then drops the one before */
            frameclock_position(f->fc, &next, &held);
            if (held <= 2) break;
            if (t == 2000) fail_msg("keyframe %d: the clock still holds %d keyframes after 20 s", k, held);
            usleep(10000);
        }
        for (int i = 0; i < W * H * 3; i++) cv->px[i] = (float)((i + k) % 256);
        assert_int_equal(frameclock_push_copy(f->fc, cv, next + 2, &err), 0);
        pushed++;
    }
    assert_true(frames_show(f, cv));    /* the newest keyframe, through reused memory */
    frameclock_get_stats(f->fc, &s1);
    print_message("keyframes %llu, reused %llu\n", (unsigned long long)(s1.keyframes - s0.keyframes),
                  (unsigned long long)(s1.reused_kf - s0.reused_kf));
    assert_int_equal(s1.keyframes - s0.keyframes, pushed);
    assert_true(s1.reused_kf - s0.reused_kf >= (uint64_t)pushed / 2);

    /* another size: a spare is there but does not fit: a fresh keyframe, the misfit freed (ASan) */
    dream_image_t *big = dream_image_new(W * 2, H, 3, NULL);
    int64_t next;
    frameclock_position(f->fc, &next, NULL);
    frameclock_get_stats(f->fc, &s0);
    assert_true(s0.spare_kf >= 1 && s0.spare_kf <= FRAMECLOCK_SPARES);
    assert_int_equal(frameclock_push_copy(f->fc, big, next + 2, &err), 0);
    frameclock_get_stats(f->fc, &s1);
    assert_int_equal(s1.reused_kf, s0.reused_kf);
    dream_image_destroy(&big);
    dream_image_destroy(&cv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_copy_and_88, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_memory_reused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
