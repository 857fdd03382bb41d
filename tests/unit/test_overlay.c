/*
 * test_overlay.c — the burned-in text (server/overlay.h) and its one hook in the frame sinks
 * (dream_sinks_push): a dark box with white FreeType glyphs top-left, the rest of the frame
 * untouched, the caller's frame never modified, every sink of the set gets the same burned
 * frame, empty text draws nothing, the box follows the text, tiny frames clip, and a missing
 * font is a clear error (dreamd then warns and runs without burn-in).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "overlay.h"
#include "sinks.h"

static int have_font(void) { return access(OVERLAY_DEFAULT_FONT, R_OK) == 0; }

static dream_image_t *gray(int w, int h, float v) {
    dream_image_t *im = dream_image_new(w, h, 3, NULL);
    assert_non_null(im);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) im->px[i] = v;
    return im;
}

static void test_missing_font(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    assert_null(overlay_new("/nonexistent/font.ttf", 20, &err));
    assert_non_null(strstr(err.msg, "/nonexistent/font.ttf"));
    assert_null(overlay_new(NULL, 4, &err));
    assert_non_null(strstr(err.msg, "out of range"));
    assert_null(overlay_new(NULL, 500, &err));
    overlay_t *o = NULL;
    overlay_destroy(&o);
    /* sinks without an overlay: frames pass through unchanged */
    dream_sinks_t ss = {0};
    dream_sinks_set_overlay(&ss, NULL);
    dream_sinks_clear(&ss);
}

typedef struct { dream_image_t *copy; int calls; } cap_t;
static int cap_frame(void *ctx, const dream_image_t *im, uint64_t seq, dream_err_t *err) {
    cap_t *c = ctx;
    (void)seq; (void)err;
    if (!c->copy) c->copy = dream_image_new(im->w, im->h, 3, NULL);
    memcpy(c->copy->px, im->px, (size_t)im->w * im->h * 3 * sizeof(float));
    c->calls++;
    return 0;
}
static void cap_destroy(void *ctx) { (void)ctx; }

static void count_box(const dream_image_t *im, int x0, int y0, int x1, int y1, int *dark, int *white) {
    *dark = *white = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            float v = im->px[((size_t)y * im->w + x) * 3];
            *dark += v < 40;
            *white += v > 200;
        }
}

static void test_burn_through_sinks(void **state) {
    (void)state;
    if (!have_font()) { print_message("# %s missing (fonts-dejavu-core)\n", OVERLAY_DEFAULT_FONT); skip(); }
    dream_err_t err = {{0}};
    overlay_t *o = overlay_new(NULL, 20, &err);
    assert_non_null(o);
    overlay_set_text(o, "@tester: goldfish");
    cap_t a = {0}, b = {0};
    dream_sink_t *sa = calloc(1, sizeof *sa), *sb = calloc(1, sizeof *sb);
    *sa = (dream_sink_t){.name = "a", .ctx = &a, .frame = cap_frame, .destroy = cap_destroy};
    *sb = (dream_sink_t){.name = "b", .ctx = &b, .frame = cap_frame, .destroy = cap_destroy};
    dream_sinks_t ss = {0};
    assert_int_equal(dream_sinks_add(&ss, sa, &err), 0);
    assert_int_equal(dream_sinks_add(&ss, sb, &err), 0);
    dream_sinks_set_overlay(&ss, o);
    dream_image_t *im = gray(320, 180, 128.0f);
    assert_int_equal(dream_sinks_push(&ss, im, 1), 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    /* the caller's frame is untouched */
    for (size_t i = 0; i < (size_t)320 * 180 * 3; i++) assert_true(im->px[i] == 128.0f);
    /* both sinks got the same burned frame */
    assert_memory_equal(a.copy->px, b.copy->px, (size_t)320 * 180 * 3 * sizeof(float));
    int bw, bh;
    overlay_last_box(o, &bw, &bh);
    assert_true(bw > 120 && bw < 300);       /* ~17 glyphs of ~10 px + padding */
    assert_true(bh >= 20 && bh < 40);
    int dark, white;
    count_box(a.copy, 10, 10, 10 + bw, 10 + bh, &dark, &white);
    print_message("# box %dx%d: %d dark, %d white pixels\n", bw, bh, dark, white);
    assert_true(dark > bw * bh / 2);         /* a dark box ... */
    assert_true(white > 100);                /* ... with white text */
    /* outside the box: unchanged */
    count_box(a.copy, 10 + bw + 2, 0, 320, 180, &dark, &white);
    assert_int_equal(dark + white, 0);
    assert_true(a.copy->px[((size_t)170 * 320 + 5) * 3] == 128.0f);
    assert_true(a.copy->px[((size_t)5 * 320 + 5) * 3] == 128.0f);   /* the margin */

    /* the box follows the text; empty text draws nothing */
    overlay_set_text(o, "a");
    assert_int_equal(dream_sinks_push(&ss, im, 2), 0);
    int bw2;
    overlay_last_box(o, &bw2, NULL);
    assert_true(bw2 < bw / 4);
    overlay_set_text(o, "  ");
    assert_int_equal(dream_sinks_push(&ss, im, 3), 0);
    assert_memory_equal(a.copy->px, im->px, (size_t)320 * 180 * 3 * sizeof(float));
    dream_sinks_clear(&ss);                  /* destroys the overlay too */
    dream_image_destroy(&a.copy);
    dream_image_destroy(&b.copy);
    dream_image_destroy(&im);
}

static void label_fn(void *ud, char *buf, size_t n) { snprintf(buf, n, "%s", (const char *)ud); }

static void test_source_and_clipping(void **state) {
    (void)state;
    if (!have_font()) skip();
    dream_err_t err = {{0}};
    overlay_t *o = overlay_new(OVERLAY_DEFAULT_FONT, 20, &err);
    assert_non_null(o);
    char text[64] = "volcano & broccoli";
    overlay_set_source(o, label_fn, text);
    overlay_set_text(o, "ignored while a source is set");
    dream_image_t *im = gray(64, 16, 200.0f);       /* smaller than the box: clipped */
    assert_int_equal(overlay_burn(o, im, &err), 1);
    int bw;
    overlay_last_box(o, &bw, NULL);
    assert_true(bw > 64);
    int dark, white;
    count_box(im, 10, 10, 64, 16, &dark, &white);
    assert_true(dark > 0);
    dream_image_destroy(&im);
    im = gray(400, 60, 100.0f);
    text[0] = 0;                                    /* the source says: nothing now */
    assert_int_equal(overlay_burn(o, im, &err), 0);
    snprintf(text, sizeof text, "\x01\x02");        /* only control bytes: nothing */
    assert_int_equal(overlay_burn(o, im, &err), 0);
    for (size_t i = 0; i < (size_t)400 * 60 * 3; i++) assert_true(im->px[i] == 100.0f);
    /* a 1-channel image is refused */
    dream_image_t *g1 = dream_image_new(8, 8, 1, NULL);
    assert_int_equal(overlay_burn(o, g1, &err), -1);
    dream_image_destroy(&g1);
    dream_image_destroy(&im);
    overlay_destroy(&o);
    assert_null(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_font),
        cmocka_unit_test(test_burn_through_sinks),
        cmocka_unit_test(test_source_and_clipping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
