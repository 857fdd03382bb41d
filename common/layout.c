/*
 * layout.c — dream_layout_rect(): the subject layouts (see layout.h for the rules).
 */
#include "layout.h"

int dream_layout_rect(dream_layout_t layout, int s, int n, int W, int H, dream_rect_t *out, dream_err_t *err) {
    if (n < 1 || n > DREAM_MAX_SUBJECTS) return dream_err_set(err, "need 1..%d subjects, got %d", DREAM_MAX_SUBJECTS, n);
    if (s < 0 || s >= n) return dream_err_set(err, "subject %d of %d", s, n);
    if (W < 1 || H < 1) return dream_err_set(err, "empty area %dx%d", W, H);
    if (layout == DREAM_LAYOUT_SEED && n > 2) return dream_err_set(err, "layout 'seed' takes at most 2 subjects, got %d", n);
    int r0 = 0, r1 = H, c0 = 0, c1 = W;     /* rows [r0, r1), columns [c0, c1) */
    switch (layout) {
    case DREAM_LAYOUT_SINGLE:
        break;
    case DREAM_LAYOUT_SEED:
        if (n == 2) {
            if (s == 0) r0 = H / 2;
            else r1 = H / 2;
        }
        break;
    case DREAM_LAYOUT_BANDS:
        r0 = (int)((long long)s * H / n);
        r1 = (int)((long long)(s + 1) * H / n);
        break;
    case DREAM_LAYOUT_QUADRANTS:
        if (n > 1) {
            if (s < 2) r1 = H / 2;
            else r0 = H / 2;
            if (s % 2 == 0) c1 = W / 2;
            else c0 = W / 2;
        }
        break;
    default:
        return dream_err_set(err, "unknown layout %d", (int)layout);
    }
    if (r1 <= r0 || c1 <= c0) { r0 = 0; r1 = H; c0 = 0; c1 = W; }     /* empty: the whole area */
    if (out) *out = (dream_rect_t){c0, r0, c1 - c0, r1 - r0};
    return 0;
}
