/*
 * sim.c — simulated tile compute (blur + canvas-coordinate tint, then sleep until the
 * modelled compute time is up); see sim.h.
 */
#include "sim.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

/* the monotonic clock ms from now */
static struct timespec deadline_in(double ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0) ms = 0;
    long long ns = (long long)ts.tv_nsec + (long long)(ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

static void sleep_until(const struct timespec *ts) {
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts, NULL) == EINTR) {}
}

static double sim_pattern(float *img, const sim_job_t *j);

double sim_run(float *img, const sim_job_t *j, double ms_per_mpix_step) {
    return sim_run_spent(img, j, ms_per_mpix_step, 0);
}

double sim_run_spent(float *img, const sim_job_t *j, double ms_per_mpix_step, double spent_ms) {
    /* the modelled time covers the whole job: the pattern's own CPU time is part of it (a
     * real engine's cost is all compute), so the sim takes exactly the model unless the CPU
     * is so loaded that the pattern alone takes longer */
    struct timespec end = deadline_in(ms_per_mpix_step * ((double)j->w * j->h / 1e6) * j->steps - spent_ms);
    double l = sim_pattern(img, j);
    sleep_until(&end);
    return l;
}

static double sim_pattern(float *img, const sim_job_t *j) {
    /* cheap on purpose (the farm is what is measured): pull each pixel towards a pattern in
     * canvas coordinates, a light horizontal smoothing, then clip */
    double phase = j->keyframe_id * 0.3;
    for (int s = 0; s < j->nsubj; s++) phase += j->cls[s] * 0.01;
    double change = 0;
    float *row = malloc((size_t)j->w * sizeof(float));
    double *cx = malloc((size_t)j->w * sizeof(double));
    if (!row || !cx) {
        free(row);
        free(cx);
        return 0;
    }
    for (int x = 0; x < j->w; x++) cx[x] = sin((j->gx + x) * 0.07 + phase);
    for (int y = 0; y < j->h; y++) {
        float cy = (float)(10 * cos((j->gy + y) * 0.05 - phase));
        float *p = img + (size_t)y * j->w * 3;
        for (int c = 0; c < 3; c++) {
            float gain = c == 0 ? 1.0f : c == 1 ? -0.5f : 0.3f;
            for (int x = 0; x < j->w; x++) row[x] = p[3 * x + c];
            for (int x = 0; x < j->w; x++) {
                float l = row[x > 0 ? x - 1 : x], r = row[x + 1 < j->w ? x + 1 : x];
                float v = 0.25f * l + 0.5f * row[x] + 0.25f * r + (float)cx[x] * cy * gain;
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                change += fabsf(v - row[x]);
                p[3 * x + c] = v;
            }
        }
    }
    free(row);
    free(cx);
    return change / ((double)j->w * j->h * 3);
}
