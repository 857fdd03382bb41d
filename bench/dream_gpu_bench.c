/*
 * dream_gpu_bench.c — one-process benchmark of a dream step for tools/gpu-check.sh
 * (built there directly with gcc + nvcc objects; not part of the product build).
 *
 *   dream_gpu_bench --size WxH[,WxH...] [--backend cuda|cpu] [--prec fp32|tf32|bf16[,...]]
 *                   [--steps N] [--warmup N] [--device N] [--seed S] [--no-prior] [--phases]
 *                   [--export DIR]
 * Every size x precision runs in this one process (one backend + engine per precision), so the
 * model is built and uploaded once per precision; one JSON line per configuration.
 *
 * Model: random VGG-16 (dream_model_random, seeded) and a random 8x8x3x192
 * Student-t patch prior; single layout, class 0; default dream_params_t.
 * Times dream_engine_run with --steps Adam steps (image up/down once) after a
 * warm-up run, and prints a JSON line per configuration (the `dream bench` contract):
 *   {"backend":..,"prec":..,"size":[W,H],"ms_per_step":..,"tflops":..,"peak_bytes":..,...}
 * --export DIR writes what bench/torch_step.py needs to run the same step and
 * check dream's numbers: model.json + model.bin (engine layout weights, prior,
 * normalisation, params), image_WxH.bin, and dream's loss and gradient at the
 * initial image (grad_WxH.bin, loss_WxH.json). model.* are written once per DIR.
 * --phases adds where a step's time goes, from whole-call timings (means over --steps calls):
 *   "phases":{"fwd_ms":..,"grad_net_ms":..,"grad_ms":..} = dream_engine_scores (image upload +
 *   forward), dream_engine_grad without the prior (+ backward, gradient download) and with it;
 *   so prior = grad - grad_net, backward ~ grad_net - fwd (transfers included in both calls).
 * --warp (instead of steps) times a tile-resident job's warp (docs/farm.md) for each --size as a
 *   canvas: the whole canvas and one tile of a 2x2 split with 32 px halos, zoom 1.02, 0.5 deg,
 *   bicubic. One JSON line each: "seam_ms" = the worker's device path (8.8 window up, the
 *   backend's warp_window, float tile down: compute_engine.c engine_warp_window), "kernel_ms" =
 *   warp_window alone (synced), "host_ms" = the host path in this process (px88_to_float +
 *   dream_warp_window, the reference: parfor threads), medians of 20 after 3 warm-ups; and
 *   "max_diff" of the backend's tile from the host's (must be <= 1e-3).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "backend.h"
#include "config.h"
#include "rng.h"
#include "engine.h"
#include "model.h"
#include "image.h"
#include "px88.h"
#ifdef DREAM_BENCH_CUDA
#include "cuda/cuda_api.h"
#endif

static uint64_t g_rng;
static uint64_t rng_next(void) { return dream_splitmix64(&g_rng); }   /* common/rng.h */
static double urand(void) { return ((rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand()); }

static int usage(const char *msg) {
    if (msg) fprintf(stderr, "dream_gpu_bench: %s\n", msg);
    fprintf(stderr, "usage: dream_gpu_bench --size WxH[,WxH...] [--backend cuda|cpu] [--prec fp32|tf32|bf16[,...]] "
                    "[--steps N] [--warmup N] [--device N] [--seed S] [--no-prior] [--phases] [--export DIR] [--warp]\n");
    return 2;
}

/* appends n floats to f, returns their offset (in floats) or -1 */
static long put(FILE *f, long *off, const float *v, size_t n) {
    long o = *off;
    if (fwrite(v, sizeof(float), n, f) != n) return -1;
    *off += (long)n;
    return o;
}

static int export_model(const char *dir, const dream_model_t *m, const dream_prior_t *pr,
                        const dream_params_t *p) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.json", dir);
    struct stat st;
    if (stat(path, &st) == 0) return 0;                       /* already exported */
    snprintf(path, sizeof path, "%s/model.bin", dir);
    FILE *bin = fopen(path, "wb");
    if (!bin) { fprintf(stderr, "export: %s: %s\n", path, strerror(errno)); return -1; }
    snprintf(path, sizeof path, "%s/model.json.tmp", dir);
    FILE *js = fopen(path, "w");
    if (!js) { fclose(bin); fprintf(stderr, "export: %s: %s\n", path, strerror(errno)); return -1; }
    long off = 0;
    int bad = 0;
    fprintf(js, "{\"arch\":\"%s\",\"source\":\"%s\",\"bin\":\"model.bin\",\"layers\":[", m->arch, m->source);
    for (int l = 0; l < m->nlayers; l++) {
        const dream_layer_t *L = &m->layers[l];
        if (l) fputc(',', js);
        if (L->kind == DREAM_LAYER_POOL) { fprintf(js, "{\"kind\":\"pool\"}"); continue; }
        long wo = put(bin, &off, L->w, (size_t)L->k * L->k * L->cin * L->cout);
        long bo = put(bin, &off, L->b, (size_t)L->cout);
        bad |= wo < 0 || bo < 0;
        fprintf(js, "{\"kind\":\"conv\",\"k\":%d,\"pad\":%d,\"cin\":%d,\"cout\":%d,\"relu\":%d,\"w\":%ld,\"b\":%ld}",
                L->k, L->pad, L->cin, L->cout, L->relu, wo, bo);
    }
    fprintf(js, "],\"in_scale\":[%.9g,%.9g,%.9g],\"in_shift\":[%.9g,%.9g,%.9g],\"in_perm\":[%d,%d,%d],",
            m->in_scale[0], m->in_scale[1], m->in_scale[2], m->in_shift[0], m->in_shift[1], m->in_shift[2],
            m->in_perm[0], m->in_perm[1], m->in_perm[2]);
    if (pr) {
        long wo = put(bin, &off, pr->w, (size_t)pr->k * pr->k * 3 * pr->nfilt);
        long mo = put(bin, &off, pr->mean, (size_t)pr->nfilt);
        bad |= wo < 0 || mo < 0;
        fprintf(js, "\"prior\":{\"kind\":%d,\"k\":%d,\"nfilt\":%d,\"w\":%ld,\"mean\":%ld},", pr->kind, pr->k,
                pr->nfilt, wo, mo);
    } else {
        fprintf(js, "\"prior\":null,");
    }
    fprintf(js, "\"params\":{\"layout\":\"%s\",\"optimizer\":\"%s\",\"cls\":[%d],\"mean_weight\":%.9g,\"prior_strength\":%.9g,\"prior_kind\":%d,"
                "\"prior_nu\":%.9g,\"lr\":%.9g,\"beta1\":%.9g,\"beta2\":%.9g,\"eps\":%.9g,\"pools\":[",
            dream_layout_name(p->layout), dream_optim_name(p->optim), p->cls[0], p->mean_weight, pr ? p->prior_strength : 0.0, p->prior_kind, p->prior_nu, p->lr,
            p->beta1, p->beta2, p->eps);
    for (int i = 0; i < p->npools; i++) fprintf(js, "%s%d", i ? "," : "", p->pools[i]);
    fprintf(js, "]}}\n");
    bad |= fclose(bin) != 0;
    bad |= fclose(js) != 0;
    if (bad) { fprintf(stderr, "export: write failed in %s\n", dir); return -1; }
    char final[1024];
    snprintf(final, sizeof final, "%s/model.json", dir);
    if (rename(path, final) != 0) { fprintf(stderr, "export: rename %s: %s\n", path, strerror(errno)); return -1; }
    return 0;
}

static int write_floats(const char *path, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "export: %s: %s\n", path, strerror(errno)); return -1; }
    int bad = fwrite(v, sizeof(float), n, f) != n;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

/* one configuration: losses + gradient at a seeded image, optional export, timed run */
/* mean ms of `reps` calls of what (0: scores, 1: grad without prior, 2: grad); < 0 on failure */
static double phase_ms(dream_engine_t *e, const dream_model_t *m, dream_params_t p, int what, const float *img,
                       int W, int H, float *grad, int reps) {
    dream_err_t err = {{0}};
    dream_losses_t l;
    int gh = 0, gw = 0;
    if (dream_model_grid(m, H, W, &gh, &gw, &err) != 0) return -1;
    float *scores = what == 0 ? malloc((size_t)gh * gw * m->nclasses * sizeof(float)) : NULL;
    if (what == 0 && !scores) return -1;
    if (what == 1) p.npools = 0;
    double t0 = 0;
    int rc = 0;
    for (int r = 0; r <= reps && !rc; r++) {                 /* r = 0 warms up */
        if (r == 1) t0 = dream_now_ms();
        rc = what == 0 ? dream_engine_scores(e, img, H, W, scores, NULL, NULL, &err)
                       : dream_engine_grad(e, img, H, W, &p, grad, &l, &err);
    }
    double ms = (dream_now_ms() - t0) / reps;
    free(scores);
    if (rc) { fprintf(stderr, "phases %dx%d: %s\n", W, H, err.msg); return -1; }
    return ms;
}

static int bench_one(dream_engine_t *e, dream_backend_t *be, const dream_model_t *m, const dream_prior_t *prior,
                     dream_params_t p, int W, int H, int steps, int warmup, uint64_t seed,
                     const char *export_dir, int phases) {
    dream_err_t err = {{0}};
    size_t n = (size_t)H * W * 3;
    float *img = malloc(n * sizeof *img), *grad = malloc(n * sizeof *grad), *work = malloc(n * sizeof *work);
    int rc = -1;
    if (!img || !grad || !work) { fprintf(stderr, "out of memory\n"); goto out; }
    g_rng = seed + 1 + (uint64_t)W * 100003u + (uint64_t)H;
    for (size_t i = 0; i < n; i++) img[i] = (float)(urand() * 255.0);
#ifdef DREAM_BENCH_CUDA
    dream_cuda_reset_peak(be);
#endif
    dream_losses_t l0;
    if (dream_engine_grad(e, img, H, W, &p, grad, &l0, &err) != 0) { fprintf(stderr, "grad %dx%d: %s\n", W, H, err.msg); goto out; }
    if (export_dir) {
        char path[1024];
        mkdir(export_dir, 0755);
        if (export_model(export_dir, m, prior, &p) != 0) goto out;
        snprintf(path, sizeof path, "%s/image_%dx%d.bin", export_dir, W, H);
        if (write_floats(path, img, n) != 0) goto out;
        snprintf(path, sizeof path, "%s/grad_%dx%d.bin", export_dir, W, H);
        if (write_floats(path, grad, n) != 0) goto out;
        snprintf(path, sizeof path, "%s/loss_%dx%d.json", export_dir, W, H);
        FILE *f = fopen(path, "w");
        if (!f) { fprintf(stderr, "export: %s: %s\n", path, strerror(errno)); goto out; }
        fprintf(f, "{\"total\":%.9g,\"net\":%.9g,\"prior\":%.9g,\"gh\":%d,\"gw\":%d,\"prec\":\"%s\"}\n", l0.total,
                l0.net, l0.prior, l0.gh, l0.gw, dream_prec_name(be->prec));
        if (fclose(f) != 0) goto out;
    }
    memcpy(work, img, n * sizeof *work);
    dream_losses_t lr;
    p.steps = warmup;
    if (dream_engine_run(e, work, H, W, &p, &lr, &err) != 0) { fprintf(stderr, "warmup: %s\n", err.msg); goto out; }
    p.steps = steps;
    double t0 = dream_now_ms();
    if (dream_engine_run(e, work, H, W, &p, &lr, &err) != 0) { fprintf(stderr, "run: %s\n", err.msg); goto out; }
    double ms = (dream_now_ms() - t0) / steps;
    double flops = dream_engine_step_flops(m, H, W, &p);
    size_t peak = 0;
#ifdef DREAM_BENCH_CUDA
    peak = dream_cuda_peak_bytes(be);
#endif
    char ph[160] = "";
    if (phases) {
        double f = phase_ms(e, m, p, 0, img, W, H, grad, steps), gn = phase_ms(e, m, p, 1, img, W, H, grad, steps),
               g = phase_ms(e, m, p, 2, img, W, H, grad, steps);
        if (f < 0 || gn < 0 || g < 0) goto out;
        snprintf(ph, sizeof ph, ",\"phases\":{\"fwd_ms\":%.3f,\"grad_net_ms\":%.3f,\"grad_ms\":%.3f}", f, gn, g);
    }
    printf("{\"impl\":\"dream\",\"backend\":\"%s\",\"prec\":\"%s\",\"size\":[%d,%d],\"ms_per_step\":%.3f,"
           "\"tflops\":%.3f,\"flops_per_step\":%.6g,\"peak_bytes\":%zu,\"loss\":%.9g,\"loss_net\":%.9g,"
           "\"loss_prior\":%.9g,\"steps\":%d,\"device\":\"%s\"%s}\n",
           be->name, dream_prec_name(be->prec), W, H, ms, flops / (ms * 1e-3) / 1e12, flops, peak, l0.total,
           l0.net, l0.prior, steps, be->device, ph);
    fflush(stdout);
    rc = 0;
out:
    free(img); free(grad); free(work);
    return rc;
}

#define MAXCFG 16

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* a tile-resident job's warp: device seam vs host reference (see the header) */
static int bench_warp(dream_backend_t *be, int W, int H, const char *label, int tx, int ty, int tw, int th) {
    const double zoom = 1.02, angle = 0.5;
    enum { WARM = 3, REPS = 20 };
    dream_err_t err = {{0}};
    int sx, sy, sw, sh;
    if (dream_warp_source_rect(W, H, zoom, angle, DREAM_INTERP_BICUBIC, tx, ty, tw, th, &sx, &sy, &sw, &sh, &err)) {
        fprintf(stderr, "warp rect: %s\n", err.msg);
        return -1;
    }
    size_t wn = (size_t)sw * sh * 3, tn = (size_t)tw * th * 3;
    uint16_t *win = malloc(wn * sizeof *win);
    float *wf = malloc(wn * sizeof *wf), *ref = malloc(tn * sizeof *ref), *got = malloc(tn * sizeof *got);
    void *dw = be->iface->alloc(be->ctx, wn * 2), *dout = be->iface->alloc(be->ctx, tn * 4);
    int rc = -1;
    double seam[REPS], kern[REPS], host[REPS];
    if (!win || !wf || !ref || !got || !dw || !dout) { fprintf(stderr, "warp bench: out of memory\n"); goto out; }
    for (size_t i = 0; i < wn; i++) win[i] = (uint16_t)(rng_next() % 65281);   /* 8.8 values <= 255.0 */
    for (int r = 0; r < WARM + REPS; r++) {
        double t0 = dream_now_ms();
        if (be->iface->upload(be->ctx, dw, win, wn * 2) ||
            be->iface->warp_window(be->ctx, dw, sx, sy, sw, sh, W, H, zoom, angle, 1, tx, ty, tw, th, dout) ||
            be->iface->download(be->ctx, got, dout, tn * 4)) {
            fprintf(stderr, "warp bench: %s\n", be->iface->last_error(be->ctx));
            goto out;
        }
        double t1 = dream_now_ms();
        if (be->iface->warp_window(be->ctx, dw, sx, sy, sw, sh, W, H, zoom, angle, 1, tx, ty, tw, th, dout) ||
            be->iface->sync(be->ctx)) {
            fprintf(stderr, "warp bench: %s\n", be->iface->last_error(be->ctx));
            goto out;
        }
        double t2 = dream_now_ms();
        px88_to_float((const uint8_t *)win, wf, wn);
        if (dream_warp_window(wf, sx, sy, sw, sh, W, H, zoom, angle, DREAM_INTERP_BICUBIC, tx, ty, tw, th, ref, &err)) {
            fprintf(stderr, "host warp: %s\n", err.msg);
            goto out;
        }
        double t3 = dream_now_ms();
        if (r >= WARM) { seam[r - WARM] = t1 - t0; kern[r - WARM] = t2 - t1; host[r - WARM] = t3 - t2; }
    }
    double worst = 0;
    for (size_t i = 0; i < tn; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= worst)) worst = d;   /* NaN propagates */
    }
    qsort(seam, REPS, sizeof *seam, cmp_d); qsort(kern, REPS, sizeof *kern, cmp_d); qsort(host, REPS, sizeof *host, cmp_d);
    printf("{\"impl\":\"dream-warp\",\"backend\":\"%s\",\"canvas\":[%d,%d],\"tile\":\"%s\",\"rect\":[%d,%d,%d,%d],"
           "\"window\":[%d,%d,%d,%d],\"seam_ms\":%.3f,\"kernel_ms\":%.3f,\"host_ms\":%.3f,\"mpx\":%.3f,"
           "\"max_diff\":%.3g}\n", be->name, W, H, label, tx, ty, tw, th, sx, sy, sw, sh, seam[REPS / 2],
           kern[REPS / 2], host[REPS / 2], tw * (double)th / 1e6, worst);
    fflush(stdout);
    rc = worst <= 1e-3 ? 0 : -1;
    if (rc) fprintf(stderr, "warp bench %dx%d %s: backend differs from the host warp by %.3g\n", W, H, label, worst);
out:
    if (dw) be->iface->free(be->ctx, dw);
    if (dout) be->iface->free(be->ctx, dout);
    free(win); free(wf); free(ref); free(got);
    return rc;
}

int main(int argc, char **argv) {
    int sizes[MAXCFG][2], nsizes = 0, nprecs = 0;
    dream_prec_t precs[MAXCFG];
    int steps = 5, warmup = 1, device = 0, use_prior = 1, phases = 0, warp = 0;
    uint64_t seed = 1234;
    const char *backend = "cuda", *export_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-prior")) { use_prior = 0; continue; }
        if (!strcmp(a, "--phases")) { phases = 1; continue; }
        if (!strcmp(a, "--warp")) { warp = 1; continue; }
        if (!v) return usage("missing value");
        i++;
        if (!strcmp(a, "--size") || !strcmp(a, "--prec")) {
            char buf[512];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (a[2] == 's') {
                    int W, H;
                    if (nsizes == MAXCFG) return usage("too many sizes");
                    if (dream_parse_size(t, &W, &H) != 0 || W < 32 || H < 32 || W > 16384 || H > 16384)
                        return usage("--size must be WxH[,WxH...], 32..16384");
                    sizes[nsizes][0] = W; sizes[nsizes][1] = H; nsizes++;
                } else {
                    if (nprecs == MAXCFG) return usage("too many precisions");
                    if (dream_prec_parse(t, &precs[nprecs]) != 0) return usage("--prec must be fp32, tf32 or bf16 (comma list)");
                    nprecs++;
                }
            }
        } else if (!strcmp(a, "--backend")) {
            backend = v;
        } else if (!strcmp(a, "--steps")) {
            steps = atoi(v);
            if (steps < 1 || steps > 100000) return usage("--steps must be 1..100000");
        } else if (!strcmp(a, "--warmup")) {
            warmup = atoi(v);
            if (warmup < 1 || warmup > 1000) return usage("--warmup must be 1..1000");
        } else if (!strcmp(a, "--device")) {
            device = atoi(v);
        } else if (!strcmp(a, "--seed")) {
            seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--export")) {
            export_dir = v;
        } else {
            return usage("unknown option");
        }
    }
    if (!nsizes) { sizes[0][0] = 224; sizes[0][1] = 224; nsizes = 1; }
    if (!nprecs) { precs[0] = DREAM_PREC_FP32; nprecs = 1; }
    if (strcmp(backend, "cuda") && strcmp(backend, "cpu")) return usage("--backend must be cuda or cpu");
    if (export_dir && nprecs != 1) return usage("--export takes one --prec");

    dream_err_t err = {{0}};
    if (warp) {   /* the tile warp only: one backend, no model */
        dream_backend_t *be = calloc(1, sizeof *be);
        if (!be) return 1;
        int ok = !strcmp(backend, "cuda") ? dream_backend_cuda_init(be, device, precs[0], &err)
                                          : dream_backend_cpu_init(be, 0, &err);
        if (ok != 0) { fprintf(stderr, "%s backend: %s\n", backend, err.msg); free(be); return 1; }
        g_rng = seed;
        int failed = 0;
        for (int si = 0; si < nsizes; si++) {
            int W = sizes[si][0], H = sizes[si][1], hw = W / 2 + 32, hh = H / 2 + 32;
            failed |= bench_warp(be, W, H, "canvas", 0, 0, W, H) != 0;
            failed |= bench_warp(be, W, H, "quarter+halo", W / 2 - 32, H / 2 - 32, hw, hh) != 0;
        }
        dream_backend_destroy(&be);
        return failed;
    }
    dream_model_t *m = dream_model_random(&DREAM_ARCH_VGG16, seed, &err);
    if (!m) { fprintf(stderr, "model: %s\n", err.msg); return 1; }
    g_rng = seed * 7919 + 17;
    dream_prior_t prior = {DREAM_PRIOR_STUDENT, 8, 192, NULL, NULL};
    prior.w = malloc(sizeof(float) * 8 * 8 * 3 * 192);
    prior.mean = calloc(192, sizeof(float));
    if (!prior.w || !prior.mean) { fprintf(stderr, "out of memory\n"); return 1; }
    for (int i = 0; i < 8 * 8 * 3 * 192; i++) prior.w[i] = (float)(nrand() * 0.01);
    for (int i = 0; i < 192; i++) prior.mean[i] = (float)(nrand() * 0.1);

    dream_params_t p;
    dream_params_default(&p);
    p.nsubj = 1;
    p.cls[0] = 0;
    p.layout = DREAM_LAYOUT_SINGLE;
    p.masks = NULL;
    p.jitter = 0;
    if (!use_prior) p.prior_strength = 0.f;

    int failed = 0;
    for (int pi = 0; pi < nprecs; pi++) {
        dream_backend_t *be = calloc(1, sizeof *be);
        if (!be) return 1;
        int ok = !strcmp(backend, "cuda") ? dream_backend_cuda_init(be, device, precs[pi], &err)
                                          : dream_backend_cpu_init(be, 0, &err);
        if (ok != 0) {
            fprintf(stderr, "%s backend (%s): %s\n", backend, dream_prec_name(precs[pi]), err.msg);
            free(be);
            return 1;
        }
        dream_engine_t *e = dream_engine_new(m, use_prior ? &prior : NULL, be, &err);
        if (!e) { fprintf(stderr, "engine: %s\n", err.msg); return 1; }
        for (int si = 0; si < nsizes; si++)
            if (bench_one(e, be, m, use_prior ? &prior : NULL, p, sizes[si][0], sizes[si][1], steps, warmup,
                          seed, export_dir, phases) != 0) {
                fprintf(stderr, "FAILED: %dx%d %s\n", sizes[si][0], sizes[si][1], dream_prec_name(precs[pi]));
                failed = 1;
            }
        dream_engine_destroy(&e);
        dream_backend_destroy(&be);
    }
    dream_model_destroy(&m);
    free(prior.w); free(prior.mean);
    return failed;
}
