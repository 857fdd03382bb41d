/*
 * sim.c — simulated tile compute (sleep + blur + canvas-coordinate tint); see sim.h.
 */
#include "sim.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(double ms) {
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000.0) * 1e6)};
    while (nanosleep(&ts, &ts) != 0) {}
}

double sim_run(float *img, const sim_job_t *j, double ms_per_mpix_step) {
    sleep_ms(ms_per_mpix_step * ((double)j->w * j->h / 1e6) * j->steps);
    size_t n = (size_t)j->w * j->h * 3;
    float *src = malloc(n * sizeof(float));
    if (!src) return 0;
    memcpy(src, img, n * sizeof(float));
    double phase = j->keyframe_id * 0.3;
    for (int s = 0; s < j->nsubj; s++) phase += j->cls[s] * 0.01;
    double change = 0;
    for (int y = 0; y < j->h; y++)
        for (int x = 0; x < j->w; x++) {
            double gx = j->gx + x, gy = j->gy + y;
            double pat = 10 * sin(gx * 0.07 + phase) * cos(gy * 0.05 - phase);
            for (int c = 0; c < 3; c++) {
                double acc = 0;
                int cnt = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= j->h || xx < 0 || xx >= j->w) continue;
                        acc += src[((size_t)yy * j->w + xx) * 3 + c];
                        cnt++;
                    }
                double v = acc / cnt + pat * (c == 0 ? 1.0 : c == 1 ? -0.5 : 0.3);
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                float *p = &img[((size_t)y * j->w + x) * 3 + c];
                change += fabs(v - *p);
                *p = (float)v;
            }
        }
    free(src);
    return change / (double)n;
}
