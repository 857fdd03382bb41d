/*
 * ref_net.h — a naive double-precision reference of the dream objective for
 * small nets (direct loops, no BLAS), used by tests to check the engine.
 */
#ifndef DREAM_REF_NET_H
#define DREAM_REF_NET_H
#include "engine.h"
/* Loss of the whole objective at pixels x (H, W, 3), masks (nsubj, gh, gw) built from p. */
double ref_net_loss(const dream_model_t *m, const dream_prior_t *prior, const double *x, int H, int W,
                    const dream_params_t *p, double *net_out, double *prior_out);
#endif
