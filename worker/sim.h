/*
 * sim.h — the simulated compute path of dream-worker (`--backend sim`), for
 * tests and benchmarks only, never a default. It takes a fixed time per
 * megapixel-step (sleeping for what its pattern does not use) and (cheaply)
 * smooths and tints the tile with a pattern that is a function of CANVAS
 * coordinates (so a correct blend shows no seams) and of the keyframe and
 * subjects (so results are visibly different).
 */
#ifndef DREAM_SIM_H
#define DREAM_SIM_H
#include <stdint.h>

typedef struct sim_job {
    int w, h;               /* tile size */
    int gx, gy;             /* tile origin on the canvas */
    int steps;
    uint64_t keyframe_id;
    int nsubj;
    const int *cls;
} sim_job_t;

/* img (h, w, 3) in/out, 0..255. Takes ms_per_mpix_step * w*h/1e6 * steps ms in all
 * (the pattern's CPU time included: it sleeps for the rest).
 * Returns the simulated "loss" (mean absolute change). */
double sim_run(float *img, const sim_job_t *j, double ms_per_mpix_step);
/* The same, with spent_ms of the modelled time already used by device work before it (the
 * resident canvas's warp, which a GPU does in well under a ms). */
double sim_run_spent(float *img, const sim_job_t *j, double ms_per_mpix_step, double spent_ms);

#endif
