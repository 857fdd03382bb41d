/*
 * ref_net.c — naive double-precision reference of the dream objective (see ref_net.h).
 * Shapes: activations (h, w, c) compact, no padding tricks; convs as direct sums.
 */
#include "ref_net.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *conv(const double *in, int h, int w, int cin, const dream_layer_t *L, int *oh, int *ow) {
    const int k = L->k, pad = L->pad, cout = L->cout;
    *oh = h + 2 * pad - k + 1;
    *ow = w + 2 * pad - k + 1;
    double *out = calloc((size_t)*oh * *ow * cout, sizeof(double));
    for (int i = 0; i < *oh; i++)
        for (int j = 0; j < *ow; j++)
            for (int co = 0; co < cout; co++) {
                double s = L->b[co];
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) {
                        int y = i + a - pad, x = j + b - pad;
                        if (y < 0 || y >= h || x < 0 || x >= w) continue;
                        for (int ci = 0; ci < cin; ci++)
                            s += in[((size_t)y * w + x) * cin + ci] *
                                 L->w[(((size_t)a * k + b) * cin + ci) * cout + co];
                    }
                if (L->relu && s < 0) s = 0;
                out[((size_t)i * *ow + j) * cout + co] = s;
            }
    return out;
}

static double *pool(const double *in, int h, int w, int c) {
    int oh = h / 2, ow = w / 2;
    double *out = malloc(sizeof(double) * (size_t)(oh ? oh : 1) * (ow ? ow : 1) * c);
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
            for (int q = 0; q < c; q++) {
                double mx = -INFINITY;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        double v = in[((size_t)(2 * i + a) * w + 2 * j + b) * c + q];
                        if (v > mx) mx = v;
                    }
                out[((size_t)i * ow + j) * c + q] = mx;
            }
    return out;
}

double ref_net_loss(const dream_model_t *m, const dream_prior_t *prior, const double *x, int H, int W,
                    const dream_params_t *p, double *net_out, double *prior_out) {
    int h = H, w = W, c = 3;
    double *a = malloc(sizeof(double) * H * W * 3);
    for (int i = 0; i < H * W; i++)
        for (int q = 0; q < 3; q++)
            a[i * 3 + q] = x[i * 3 + m->in_perm[q]] * m->in_scale[q] + m->in_shift[q];
    for (int l = 0; l < m->nlayers; l++) {
        const dream_layer_t *L = &m->layers[l];
        double *b;
        if (L->kind == DREAM_LAYER_POOL) { b = pool(a, h, w, c); h /= 2; w /= 2; }
        else { int oh, ow; b = conv(a, h, w, c, L, &oh, &ow); h = oh; w = ow; c = L->cout; }
        free(a);
        a = b;
    }
    const int gh = h, gw = w, ncls = c, ncell = gh * gw;
    uint8_t *masks = malloc((size_t)DREAM_MAX_SUBJECTS * ncell);
    /* the 2015 reference's [A, A]: one subject with the seed layout is the class's mean over
     * rows [gh/2, gh) plus its mean over rows [0, gh/2) (an empty half: the whole grid) */
    const int aa = p->nsubj == 1 && p->layout == DREAM_LAYOUT_SEED && !p->masks;
    const int ns = aa ? 2 : p->nsubj;
    int cls[DREAM_MAX_SUBJECTS];
    for (int s = 0; s < ns; s++) cls[s] = p->cls[aa ? 0 : s];
    if (aa) {
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < gh; i++) {
                int in = s == 0 ? i >= gh / 2 : i < gh / 2;
                if (gh / 2 == 0) in = 1;
                for (int j = 0; j < gw; j++) masks[s * ncell + i * gw + j] = (uint8_t)in;
            }
    } else {
        dream_regions_build(p->layout, p->nsubj, gh, gw, masks, NULL);
    }
    double sum = 0;
    for (int i = 0; i < ncell * ncls; i++) sum += a[i];
    double net = p->mean_weight * sum / (ncell * ncls);
    for (int s = 0; s < ns; s++) {
        double acc = 0; int cnt = 0;
        for (int i = 0; i < ncell; i++)
            if (masks[s * ncell + i]) { acc += a[i * ncls + cls[s]]; cnt++; }
        net -= acc / cnt;
    }
    free(masks);
    free(a);
    double pl = 0;
    if (prior && p->prior_strength != 0) {
        const int k = prior->k, F = prior->nfilt;
        for (int s = 0; s < p->npools; s++) {
            const int ps = p->pools[s], hp = H / ps, wp = W / ps;
            if (hp < k || wp < k) continue;
            double *d = calloc((size_t)hp * wp * 3, sizeof(double));
            for (int i = 0; i < hp * ps; i++)
                for (int j = 0; j < wp * ps; j++)
                    for (int q = 0; q < 3; q++)
                        d[((size_t)(i / ps) * wp + j / ps) * 3 + q] += x[((size_t)i * W + j) * 3 + q] / (ps * ps);
            double lp = 0;
            int cntk = 0;
            for (int i = 0; i + k <= hp; i++)
                for (int j = 0; j + k <= wp; j++)
                    for (int f = 0; f < F; f++) {
                        double z = 0;
                        for (int ka = 0; ka < k; ka++)
                            for (int bb = 0; bb < k; bb++)
                                for (int q = 0; q < 3; q++)
                                    z += (d[((size_t)(i + ka) * wp + j + bb) * 3 + q] - 128.0) *
                                         prior->w[(((size_t)ka * k + bb) * 3 + q) * F + f];
                        double r = z - prior->mean[f];
                        if (p->prior_kind == DREAM_PRIOR_STUDENT) { lp += log1p(r * r / p->prior_nu); cntk++; }
                        else if (f < F - 1) { lp += r * r; cntk++; }
                    }
            pl += lp / cntk;
            free(d);
        }
        pl *= p->prior_strength / p->npools;
    }
    if (net_out) *net_out = net;
    if (prior_out) *prior_out = pl;
    return net + pl;
}
