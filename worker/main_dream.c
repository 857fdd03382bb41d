/*
 * main_dream.c — the `dream` command: the engine from the command line.
 *
 *   dream grad      loss + dL/dx of one image (JSON line + .npy)
 *   dream steps     one keyframe's optimiser steps on an image (.npy out)
 *   dream render    an offline zooming dream to PNG keyframes
 *   dream classes   list / look up ImageNet class names
 *   dream bench     time dream steps on a backend (JSON line)
 *   dream inspect   structural check of a weights file
 *   dream backends  which backends are compiled in and usable
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend.h"
#include "classes.h"
#include "canvas.h"
#include "config.h"
#include "cuda/cuda_api.h"
#include "engine.h"
#include "image.h"
#include "model.h"
#include "npy.h"
#include "paths.h"
#include "weights.h"

#define MAX_OPTS 64

typedef struct opts {
    int n;
    const char *key[MAX_OPTS];
    const char *val[MAX_OPTS];
    int used[MAX_OPTS];
    const char *pos[8];   /* positional arguments */
    int npos;
} opts_t;

/* Parses "--key value" / "--key=value" / "--flag" (flags listed in `flags`). */
static int opts_parse(opts_t *o, int argc, char **argv, const char *flags, char *err, size_t errn) {
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (o->npos >= 8) { snprintf(err, errn, "too many arguments"); return -1; }
            o->pos[o->npos++] = a;
            continue;
        }
        if (o->n >= MAX_OPTS) { snprintf(err, errn, "too many options"); return -1; }
        const char *k = a + 2, *eq = strchr(k, '=');
        static char keys[MAX_OPTS][64];
        size_t kl = eq ? (size_t)(eq - k) : strlen(k);
        if (kl == 0 || kl >= sizeof keys[0]) { snprintf(err, errn, "bad option '%s'", a); return -1; }
        memcpy(keys[o->n], k, kl);
        keys[o->n][kl] = 0;
        o->key[o->n] = keys[o->n];
        char pat[80];
        snprintf(pat, sizeof pat, " %s ", keys[o->n]);
        if (eq) o->val[o->n] = eq + 1;
        else if (flags && strstr(flags, pat)) o->val[o->n] = "1";
        else if (i + 1 < argc) o->val[o->n] = argv[++i];
        else { snprintf(err, errn, "option --%s needs a value", keys[o->n]); return -1; }
        o->n++;
    }
    return 0;
}

static const char *opt_get(opts_t *o, const char *key, const char *def) {
    const char *v = def;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0) { v = o->val[i]; o->used[i] = 1; }
    return v;
}

static int opt_unused(opts_t *o, const char *cmd) {
    for (int i = 0; i < o->n; i++)
        if (!o->used[i]) {
            fprintf(stderr, "dream %s: unknown option --%s (see dream %s --help)\n", cmd, o->key[i], cmd);
            return -1;
        }
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* WxH (common/config.h's one parser), each side 1..16384 */
static int parse_size(const char *s, int *w, int *h) {
    int a, b;
    if (dream_parse_size(s, &a, &b) != 0 || a > 16384 || b > 16384) return -1;
    *w = a;
    *h = b;
    return 0;
}

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); goto out; } while (0)

/* Common engine options shared by grad, render and bench. */
typedef struct common {
    dream_model_t *model;
    dream_prior_t *prior;
    dream_backend_t *be;
    dream_engine_t *eng;
    dream_classes_t *classes;
    dream_params_t p;
} common_t;

static void common_free(common_t *c) {
    dream_engine_destroy(&c->eng);
    dream_backend_destroy(&c->be);
    dream_prior_destroy(&c->prior);
    dream_model_destroy(&c->model);
    dream_classes_destroy(&c->classes);
}

static const char *default_weights(void) {
    static char path[PATH_MAX];
    dream_data_path("weights/vgg16.safetensors", path, sizeof path);
    return access(path, R_OK) == 0 ? path : "random";
}

/* Reads --weights --prior --prior-kind --prior-strength --mean-weight --pools --layout --class
 * --backend --device --threads --prec --optimizer --steps --lr --jitter --seed. */
static int common_setup(common_t *c, opts_t *o, const char *cmd, int need_classes, int build_engine) {
    dream_err_t err = {{0}};
    dream_params_default(&c->p);
    const char *wfile = opt_get(o, "weights", NULL);
    if (!wfile) wfile = default_weights();
    double d;
    long v;
    const char *s;
    if ((s = opt_get(o, "prior-kind", NULL))) {
        if (!strcmp(s, "student")) c->p.prior_kind = DREAM_PRIOR_STUDENT;
        else if (!strcmp(s, "gauss")) c->p.prior_kind = DREAM_PRIOR_GAUSS;
        else { fprintf(stderr, "dream: --prior-kind must be student or gauss, not '%s'\n", s); return -1; }
    }
    if ((s = opt_get(o, "prior-strength", NULL))) {
        if (parse_float(s, 0, 1e6, &d)) { fprintf(stderr, "dream: bad --prior-strength '%s'\n", s); return -1; }
        c->p.prior_strength = (float)d;
    }
    if ((s = opt_get(o, "mean-weight", NULL))) {
        if (parse_float(s, -1e6, 1e6, &d)) { fprintf(stderr, "dream: bad --mean-weight '%s'\n", s); return -1; }
        c->p.mean_weight = (float)d;
    }
    if ((s = opt_get(o, "pools", NULL))) {
        char buf[128];
        if (strlen(s) >= sizeof buf) { fprintf(stderr, "dream: --pools too long\n"); return -1; }
        strcpy(buf, s);
        c->p.npools = 0;
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            if (c->p.npools >= DREAM_MAX_POOLS || parse_int(tok, 1, 1024, &v)) {
                fprintf(stderr, "dream: bad --pools '%s' (up to %d sizes, e.g. 1,4,8,16,32)\n", s, DREAM_MAX_POOLS);
                return -1;
            }
            c->p.pools[c->p.npools++] = (int)v;
        }
    }
    const char *pfile = opt_get(o, "prior", NULL);
    char pbuf[PATH_MAX];
    if (!pfile) pfile = dream_data_path("prior.safetensors", pbuf, sizeof pbuf);
    if ((s = opt_get(o, "layout", NULL)) && dream_layout_parse(s, &c->p.layout)) {
        fprintf(stderr, "dream: --layout must be single, seed, bands or quadrants, not '%s'\n", s);
        return -1;
    }
    if ((s = opt_get(o, "optimizer", NULL)) && dream_optim_parse(s, &c->p.optim)) {
        fprintf(stderr, "dream: --optimizer must be seed or adam, not '%s'\n", s);
        return -1;
    }
    if ((s = opt_get(o, "steps", NULL))) {
        if (parse_int(s, 0, 100000, &v)) { fprintf(stderr, "dream: bad --steps '%s'\n", s); return -1; }
        c->p.steps = (int)v;
    }
    if ((s = opt_get(o, "lr", NULL))) {
        if (parse_float(s, 0, 1e4, &d)) { fprintf(stderr, "dream: bad --lr '%s'\n", s); return -1; }
        c->p.lr = (float)d;
    }
    if ((s = opt_get(o, "jitter", NULL))) {
        if (parse_int(s, 0, 256, &v)) { fprintf(stderr, "dream: bad --jitter '%s'\n", s); return -1; }
        c->p.jitter = (int)v;
    }
    if ((s = opt_get(o, "seed", NULL))) {
        if (parse_int(s, 0, LONG_MAX, &v)) { fprintf(stderr, "dream: bad --seed '%s'\n", s); return -1; }
        c->p.seed = (uint64_t)v;
    }
    /* classes: repeated --class, each may itself be "a + b" */
    c->p.nsubj = 0;
    int any = 0;
    for (int i = 0; i < o->n; i++) {
        if (strcmp(o->key[i], "class")) continue;
        o->used[i] = 1;
        any = 1;
        if (!c->classes && !(c->classes = dream_classes_load_default(&err))) {
            fprintf(stderr, "dream: %s\n", err.msg);
            return -1;
        }
        int ids[DREAM_MAX_SUBJECTS];
        int n = dream_classes_parse(c->classes, o->val[i], ids, DREAM_MAX_SUBJECTS, &err);
        if (n < 0) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
        for (int k = 0; k < n; k++) {
            if (c->p.nsubj >= DREAM_MAX_SUBJECTS) {
                fprintf(stderr, "dream: at most %d subjects\n", DREAM_MAX_SUBJECTS);
                return -1;
            }
            c->p.cls[c->p.nsubj++] = ids[k];
        }
    }
    if (!any && need_classes) { fprintf(stderr, "dream: --class is required\n"); return -1; }
    if (!any) { c->p.nsubj = 1; c->p.cls[0] = 0; }
    /* default layout: seed (one subject = the reference's [A, A], two = lower/upper half);
     * 3 or 4 subjects do not fit it: bands */
    if (c->p.nsubj > 2 && !opt_get(o, "layout", NULL)) c->p.layout = DREAM_LAYOUT_BANDS;
    const char *bname = opt_get(o, "backend", "auto");
    long dev = 0, threads = 0;
    if ((s = opt_get(o, "device", NULL)) && parse_int(s, 0, 64, &dev)) { fprintf(stderr, "dream: bad --device\n"); return -1; }
    if ((s = opt_get(o, "threads", NULL)) && parse_int(s, 0, 1024, &threads)) { fprintf(stderr, "dream: bad --threads\n"); return -1; }
    dream_prec_t prec = DREAM_PREC_BF16;
    if ((s = opt_get(o, "prec", NULL)) && dream_prec_parse(s, &prec)) {
        fprintf(stderr, "dream: --prec must be fp32, tf32 or bf16, not '%s'\n", s);
        return -1;
    }
    if (opt_unused(o, cmd)) return -1;
    /* everything parsed: now the heavy part */
    if (strcmp(pfile, "none") != 0) {
        c->prior = dream_prior_load(pfile, c->p.prior_kind, &err);
        if (!c->prior) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    }
    c->model = dream_model_open(wfile, &err);
    if (!c->model) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    if (!build_engine) return 0;
    c->be = dream_backend_new(bname, (int)dev, (int)threads, prec, &err);
    if (!c->be) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    c->eng = dream_engine_new(c->model, c->prior, c->be, &err);
    if (!c->eng) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    char desc[768];
    dream_model_describe(c->model, desc, sizeof desc);
    dlog_info("dream", "model: %s", desc);
    dlog_info("dream", "backend: %s (%s)", c->be->name, c->be->device);
    return 0;
}

static const char *COMMON_HELP =
    "  --weights FILE|random   VGG-16/19 .safetensors (torchvision or timm naming); default\n"
    "                          data/weights/vgg16.safetensors if present, else random\n"
    "                          (UNTRAINED, deterministic He-normal init)\n"
    "  --class C               class id or name; repeat or use \"a + b\" for up to 4 subjects\n"
    "  --layout L              seed (default; 1 subject = the 2015 reference's [A, A]:\n"
    "                          lower-half mean + upper-half mean) | single (1 subject =\n"
    "                          one whole-grid mean) | bands | quadrants (3-4 subjects: bands)\n"
    "  --optimizer O           seed (default: the 2015 reference's update, betas on the new\n"
    "                          gradient) | adam (textbook Adam)\n"
    "  --prior FILE|none       patch prior (default data/prior.safetensors)\n"
    "  --prior-kind K          student (default) | gauss\n"
    "  --prior-strength S      default 10\n"
    "  --mean-weight W         weight of the mean-of-all-logits term, default 1\n"
    "  --pools LIST            prior pool sizes, default 1,4,8,16,32\n"
    "  --backend B             auto | cpu | cuda (default auto)\n"
    "  --device N --threads N --prec fp32|tf32|bf16\n";

/* ------------------------------------------------------------------ grad */

/* the input's pixel budget (w*h) is checked from its header, before any pixel buffer.
 * Returns 0, -2 over the budget (reported), -1 other errors (reported unless quiet). */
static int load_input(const char *path, uint64_t max_px, float **px, int *H, int *W, int quiet) {
    dream_err_t err = {{0}};
    size_t l = strlen(path);
    if (l > 4 && strcmp(path + l - 4, ".npy") == 0) {
        npy_array_t *a = npy_load(path, &err);
        if (!a) { if (!quiet) fprintf(stderr, "dream: %s\n", err.msg); return -1; }
        if (a->ndim == 3 && (uint64_t)a->shape[0] * (uint64_t)a->shape[1] > max_px) {
            fprintf(stderr, "dream: %s: %lldx%lld exceeds --max-pixels %llu\n", path, (long long)a->shape[1],
                    (long long)a->shape[0], (unsigned long long)max_px);
            npy_destroy(&a);
            return -2;
        }
        if (a->ndim != 3 || a->shape[2] != 3 || a->shape[0] > 16384 || a->shape[1] > 16384) {
            if (!quiet) fprintf(stderr, "dream: %s: expected shape (H, W, 3)\n", path);
            npy_destroy(&a);
            return -1;
        }
        *H = (int)a->shape[0];
        *W = (int)a->shape[1];
        *px = a->data;
        a->data = NULL;
        npy_destroy(&a);
        return 0;
    }
    dream_image_t *im = dream_image_load_max(path, max_px, &err);
    if (!im) {
        int over = strstr(err.msg, "exceeds the limit") != NULL;
        if (over) fprintf(stderr, "dream: %s (raise --max-pixels to allow it)\n", err.msg);
        else if (!quiet) fprintf(stderr, "dream: %s\n", err.msg);
        return over ? -2 : -1;
    }
    *H = im->h;
    *W = im->w;
    *px = im->px;
    im->px = NULL;
    dream_image_destroy(&im);
    return 0;
}

/* --max-pixels (default 2048x2048: a VGG gradient at that size already needs GBs);
 * -1 after printing the error */
static int opt_max_pixels(opts_t *o, const char *cmd, long *maxpx) {
    *maxpx = 4L << 20;
    const char *s = opt_get(o, "max-pixels", NULL);
    if (s && parse_int(s, 1, (long)DREAM_IMAGE_MAX_PIXELS, maxpx)) {
        fprintf(stderr, "dream %s: bad --max-pixels '%s' (1..%u)\n", cmd, s, DREAM_IMAGE_MAX_PIXELS);
        return -1;
    }
    return 0;
}

static int cmd_grad(int argc, char **argv) {
    int rc = 1;
    opts_t o;
    char perr[256];
    common_t c = {0};
    float *img = NULL, *grad = NULL;
    if (opts_parse(&o, argc, argv, " help ", perr, sizeof perr)) FAIL("dream grad: %s", perr);
    if (opt_get(&o, "help", NULL)) {
        printf("usage: dream grad --image IN.png|IN.npy --class C [...] --out-grad G.npy [options]\n"
               "Prints {\"loss\",\"net\",\"prior\",\"grid\"} as JSON and writes dL/dx as float32 (H, W, 3).\n"
               "  --max-pixels N          largest input W*H accepted (default 4194304 = 2048x2048)\n%s",
               COMMON_HELP);
        return 0;
    }
    const char *in = opt_get(&o, "image", NULL), *out = opt_get(&o, "out-grad", NULL);
    if (!in) FAIL("dream grad: --image is required");
    long maxpx;
    if (opt_max_pixels(&o, "grad", &maxpx)) goto out;
    int H, W;
    /* an input over the budget is refused before the weights load; other input errors are
     * reported after the options are checked */
    int pre = load_input(in, (uint64_t)maxpx, &img, &H, &W, 1);
    if (pre == -2) goto out;
    if (common_setup(&c, &o, "grad", 1, 1)) goto out;
    if (pre != 0 && load_input(in, (uint64_t)maxpx, &img, &H, &W, 0)) goto out;
    grad = malloc(sizeof(float) * H * W * 3);
    if (!grad) FAIL("dream grad: out of memory");
    dream_losses_t l;
    dream_err_t err = {{0}};
    if (dream_engine_grad(c.eng, img, H, W, &c.p, grad, &l, &err)) FAIL("dream grad: %s", err.msg);
    if (out) {
        int64_t shape[3] = {H, W, 3};
        if (npy_save_f32(out, grad, 3, shape, &err)) FAIL("dream grad: %s", err.msg);
    }
    printf("{\"loss\":%.9g,\"net\":%.9g,\"prior\":%.9g,\"grid\":[%d,%d],\"size\":[%d,%d],\"backend\":\"%s\","
           "\"model\":\"%s\",\"trained\":%s}\n",
           l.total, l.net, l.prior, l.gh, l.gw, W, H, c.be->name, c.model->arch,
           c.model->trained ? "true" : "false");
    rc = 0;
out:
    free(img);
    free(grad);
    common_free(&c);
    return rc;
}

/* ------------------------------------------------------------------ steps */

/* One keyframe's optimisation of an image, written as float32: what the PyTorch reference
 * test follows step by step (tests/python/test_torch_reference.py). */
static int cmd_steps(int argc, char **argv) {
    int rc = 1;
    opts_t o;
    char perr[256];
    common_t c = {0};
    float *img = NULL;
    if (opts_parse(&o, argc, argv, " help ", perr, sizeof perr)) FAIL("dream steps: %s", perr);
    if (opt_get(&o, "help", NULL)) {
        printf("usage: dream steps --image IN.png|IN.npy --class C [...] --steps N --out OUT.npy [options]\n"
               "Runs N optimiser steps (one keyframe: state reset, pixels clipped to [0, 255]) and writes\n"
               "the image as float32 (H, W, 3); prints {\"loss\",\"net\",\"prior\"} of the last step.\n"
               "  --steps N --lr LR --jitter J --seed S\n"
               "  --max-pixels N          largest input W*H accepted (default 4194304 = 2048x2048)\n%s",
               COMMON_HELP);
        return 0;
    }
    const char *in = opt_get(&o, "image", NULL), *out = opt_get(&o, "out", NULL);
    if (!in || !out) FAIL("dream steps: --image and --out are required");
    long maxpx;
    if (opt_max_pixels(&o, "steps", &maxpx)) goto out;
    int H, W;
    int pre = load_input(in, (uint64_t)maxpx, &img, &H, &W, 1);     /* over the budget: before the weights */
    if (pre == -2) goto out;
    if (common_setup(&c, &o, "steps", 1, 1)) goto out;
    if (pre != 0 && load_input(in, (uint64_t)maxpx, &img, &H, &W, 0)) goto out;
    dream_losses_t l;
    dream_err_t err = {{0}};
    if (dream_engine_run(c.eng, img, H, W, &c.p, &l, &err)) FAIL("dream steps: %s", err.msg);
    int64_t shape[3] = {H, W, 3};
    if (npy_save_f32(out, img, 3, shape, &err)) FAIL("dream steps: %s", err.msg);
    printf("{\"loss\":%.9g,\"net\":%.9g,\"prior\":%.9g,\"steps\":%d,\"optimizer\":\"%s\",\"layout\":\"%s\"}\n",
           l.total, l.net, l.prior, c.p.steps, dream_optim_name(c.p.optim), dream_layout_name(c.p.layout));
    rc = 0;
out:
    free(img);
    common_free(&c);
    return rc;
}

/* ------------------------------------------------------------------ render */

static void progress(int done, int total, double secs) {
    if (!isatty(STDERR_FILENO)) return;
    const int width = 40;
    int fill = total ? done * width / total : width;
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d keyframes  %.1fs", done, total, secs);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

static int cmd_render(int argc, char **argv) {
    int rc = 1;
    opts_t o;
    char perr[256];
    common_t c = {0};
    dream_image_t *cur = NULL, *next = NULL;
    if (opts_parse(&o, argc, argv, " help ", perr, sizeof perr)) FAIL("dream render: %s", perr);
    if (opt_get(&o, "help", NULL)) {
        printf("usage: dream render --class NAME [...] --size WxH --steps N --keyframes K --out DIR\n"
               "  --size WxH       canvas (default 840x472, the 2015 stream's)\n"
               "  --fps F          output frames per second the motion is counted in (default 25)\n"
               "  --frames-per-keyframe N  output frames one keyframe covers (default 25: one per second)\n"
               "  --zoom-per-sec Z zoom per second of video (default 1.05, dreamd's)\n"
               "  --rotate-per-sec R  degrees per second of video (default -0.25, dreamd's: clockwise)\n"
               "  --zoom Z / --rotate R  per-keyframe zoom / degrees instead (the old flags)\n"
               "  --start-image IMG  start from a PNG/JPEG resized to --size (default: a synthetic canvas)\n"
               "  --init IMG       start from an image at its own size\n"
               "  --jitter J       random roll of up to J pixels per step (default 0)\n"
               "  --max-pixels N   largest W*H (--size, --init or --start-image) accepted (default 4194304 = 2048x2048)\n%s",
               COMMON_HELP);
        return 0;
    }
    int W = 840, H = 472;
    long K = 10, npk = 25;
    double fps = 25, zps = 1.05, rps = -0.25;
    const char *s, *outdir = opt_get(&o, "out", NULL), *init = opt_get(&o, "init", NULL);
    const char *start_image = opt_get(&o, "start-image", NULL);
    if ((s = opt_get(&o, "size", NULL)) && parse_size(s, &W, &H)) FAIL("dream render: bad --size '%s' (WxH)", s);
    if ((s = opt_get(&o, "keyframes", NULL)) && parse_int(s, 1, 1000000, &K)) FAIL("dream render: bad --keyframes");
    /* the motion in video time, as dreamd's (server/motion.h): per keyframe zps^(N/fps), rps N/fps */
    if ((s = opt_get(&o, "fps", NULL)) && parse_float(s, 1, 240, &fps)) FAIL("dream render: bad --fps (1..240)");
    if ((s = opt_get(&o, "frames-per-keyframe", NULL)) && parse_int(s, 1, 100000, &npk))
        FAIL("dream render: bad --frames-per-keyframe (1..100000)");
    if ((s = opt_get(&o, "zoom-per-sec", NULL)) && parse_float(s, 0.5, 2.0, &zps)) FAIL("dream render: bad --zoom-per-sec (0.5..2)");
    if ((s = opt_get(&o, "rotate-per-sec", NULL)) && parse_float(s, -90, 90, &rps)) FAIL("dream render: bad --rotate-per-sec (-90..90)");
    double zoom = pow(pow(zps, 1.0 / fps), (double)npk), rot = rps / fps * (double)npk;
    if ((s = opt_get(&o, "zoom", NULL)) && parse_float(s, 0.5, 2.0, &zoom)) FAIL("dream render: bad --zoom (0.5..2)");
    if ((s = opt_get(&o, "rotate", NULL)) && parse_float(s, -90, 90, &rot)) FAIL("dream render: bad --rotate (-90..90)");
    if (init && start_image) FAIL("dream render: --init and --start-image exclude each other");
    if (!outdir) FAIL("dream render: --out DIR is required");
    long maxpx;
    if (opt_max_pixels(&o, "render", &maxpx)) goto out;
    if ((uint64_t)W * (uint64_t)H > (uint64_t)maxpx) FAIL("dream render: --size %dx%d exceeds --max-pixels %ld", W, H, maxpx);
    dream_err_t err = {{0}};
    if (init) {     /* before the weights: an image over the budget is refused from its header */
        cur = dream_image_load_max(init, (uint64_t)maxpx, &err);
        if (!cur && strstr(err.msg, "exceeds the limit")) FAIL("dream render: %s (raise --max-pixels to allow it)", err.msg);
    }
    if (common_setup(&c, &o, "render", 1, 1)) goto out;
    if (mkdir(outdir, 0755) && errno != EEXIST) FAIL("dream render: cannot create %s: %s", outdir, strerror(errno));
    if (init) {
        if (!cur) FAIL("dream render: %s", err.msg);
        W = cur->w; H = cur->h;
    } else if (start_image) {
        dream_image_t *src = dream_image_load_max(start_image, (uint64_t)maxpx, &err);
        if (!src) FAIL("dream render: --start-image: %s", err.msg);
        if (!(cur = dream_image_new(W, H, 3, &err)) || dream_image_resize(src, cur, DREAM_INTERP_BICUBIC, &err)) {
            dream_image_destroy(&src);
            FAIL("dream render: --start-image: %s", err.msg);
        }
        dream_image_destroy(&src);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) cur->px[i] = cur->px[i] < 0 ? 0 : cur->px[i] > 255 ? 255 : cur->px[i];
    } else {
        if (!(cur = dream_image_new(W, H, 3, &err))) FAIL("dream render: %s", err.msg);
        dream_canvas_synthetic(cur, c.p.seed);     /* dreamd's start canvas (common/canvas.h) */
    }
    if (!(next = dream_image_new(W, H, 3, &err))) FAIL("dream render: %s", err.msg);
    double t0 = dream_now_s();
    progress(0, (int)K, 0);
    for (long k = 0; k < K; k++) {
        dream_losses_t l;
        c.p.seed = c.p.seed * 31 + (uint64_t)k;
        if (dream_engine_run(c.eng, cur->px, H, W, &c.p, &l, &err)) FAIL("dream render: %s", err.msg);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/keyframe_%05ld.png", outdir, k);
        if (dream_image_save(cur, path, &err)) FAIL("dream render: %s", err.msg);
        dlog_debug("render", "keyframe %ld loss %.4f (net %.4f prior %.4f)", k, l.total, l.net, l.prior);
        if (dream_warp(cur, next, zoom, rot, DREAM_INTERP_BICUBIC, &err)) FAIL("dream render: %s", err.msg);
        dream_image_t *t = cur; cur = next; next = t;
        progress((int)k + 1, (int)K, dream_now_s() - t0);
    }
    printf("{\"keyframes\":%ld,\"size\":[%d,%d],\"seconds\":%.2f,\"out\":\"%s\",\"trained\":%s,"
           "\"fps\":%g,\"frames_per_keyframe\":%ld,\"zoom_per_keyframe\":%.6f,\"rotate_per_keyframe\":%.4f}\n", K, W, H,
           dream_now_s() - t0, outdir, c.model->trained ? "true" : "false", fps, npk, zoom, rot);
    rc = 0;
out:
    dream_image_destroy(&cur);
    dream_image_destroy(&next);
    common_free(&c);
    return rc;
}

/* ------------------------------------------------------------------ classes */

static int cmd_classes(int argc, char **argv) {
    dream_err_t err = {{0}};
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: dream classes [WORD]\n  lists the 1000 classes, or resolves WORD (\"tree frog\", \"volcano + broccoli\", 31)\n");
        return 0;
    }
    dream_classes_t *cl = dream_classes_load_default(&err);
    if (!cl) { fprintf(stderr, "dream: %s\n", err.msg); return 1; }
    int rc = 0;
    if (argc == 0) {
        for (int i = 0; i < dream_classes_count(cl); i++) printf("%d\t%s\n", i, dream_classes_synonyms(cl, i));
    } else {
        char q[512] = "";
        for (int i = 0; i < argc; i++) {
            if (strlen(q) + strlen(argv[i]) + 2 >= sizeof q) { fprintf(stderr, "dream classes: query too long\n"); rc = 1; goto done; }
            if (i) strcat(q, " ");
            strcat(q, argv[i]);
        }
        int ids[DREAM_MAX_SUBJECTS];
        int n = dream_classes_parse(cl, q, ids, DREAM_MAX_SUBJECTS, &err);
        if (n < 0) { fprintf(stderr, "dream classes: %s\n", err.msg); rc = 1; }
        for (int i = 0; i < n; i++) printf("%d\t%s\n", ids[i], dream_classes_synonyms(cl, ids[i]));
    }
done:
    dream_classes_destroy(&cl);
    return rc;
}

/* ------------------------------------------------------------------ bench */

static int cmd_bench(int argc, char **argv) {
    int rc = 1;
    opts_t o;
    char perr[256];
    common_t c = {0};
    float *img = NULL;
    if (opts_parse(&o, argc, argv, " help ", perr, sizeof perr)) FAIL("dream bench: %s", perr);
    if (opt_get(&o, "help", NULL)) {
        printf("usage: dream bench --size WxH [--backend B] [--prec P] [--steps N] [--warmup N]\n"
               "Times dream steps (forward + input gradient + prior + Adam) and prints one JSON line.\n%s",
               COMMON_HELP);
        return 0;
    }
    int W = 224, H = 224;
    long warm = 1;
    const char *s;
    if ((s = opt_get(&o, "size", NULL)) && parse_size(s, &W, &H)) FAIL("dream bench: bad --size '%s'", s);
    if ((s = opt_get(&o, "warmup", NULL)) && parse_int(s, 0, 100, &warm)) FAIL("dream bench: bad --warmup");
    int default_steps = opt_get(&o, "steps", NULL) == NULL;
    if (common_setup(&c, &o, "bench", 0, 1)) goto out;
    if (default_steps) c.p.steps = 3;
    img = malloc(sizeof(float) * W * H * 3);
    if (!img) FAIL("dream bench: out of memory");
    for (int i = 0; i < W * H * 3; i++) img[i] = (float)((i * 2654435761u >> 8) % 256);
    dream_err_t err = {{0}};
    dream_params_t p = c.p;
    int steps = p.steps;
    p.steps = (int)warm;
    if (warm && dream_engine_run(c.eng, img, H, W, &p, NULL, &err)) FAIL("dream bench: %s", err.msg);
    p.steps = steps;
    int is_cuda = strcmp(c.be->name, "cuda") == 0;
    if (is_cuda) dream_cuda_reset_peak(c.be);
    double t0 = dream_now_s();
    if (dream_engine_run(c.eng, img, H, W, &p, NULL, &err)) FAIL("dream bench: %s", err.msg);
    size_t peak = is_cuda ? dream_cuda_peak_bytes(c.be) : 0;
    double ms = (dream_now_s() - t0) * 1000.0 / (steps ? steps : 1);
    double fl = dream_engine_step_flops(c.model, H, W, &p);
    printf("{\"backend\":\"%s\",\"prec\":\"%s\",\"size\":[%d,%d],\"steps\":%d,\"ms_per_step\":%.3f,"
           "\"tflops\":%.4f,\"step_tflop\":%.4f,\"peak_bytes\":%zu,\"device\":\"%s\"}\n",
           c.be->name, dream_prec_name(c.be->prec), W, H, steps, ms, fl / (ms * 1e-3) / 1e12, fl / 1e12,
           peak, c.be->device);
    rc = 0;
out:
    free(img);
    common_free(&c);
    return rc;
}

/* ------------------------------------------------------------------ misc */

static int cmd_inspect(int argc, char **argv) {
    if (argc != 1 || !strcmp(argv[0], "--help")) {
        printf("usage: dream inspect FILE.safetensors\n  checks a weights file structurally and describes it\n");
        return argc == 1 ? 0 : 1;
    }
    dream_err_t err = {{0}};
    if (dream_weights_inspect(argv[0], stdout, &err)) { fprintf(stderr, "dream inspect: %s\n", err.msg); return 1; }
    return 0;
}

static int cmd_backends(int argc, char **argv) {
    if (argc > 0) { printf("usage: dream backends\n  one line per backend: name, compiled in, usable now, device\n"); return 0; }
    printf("cpu\tcompiled:yes\tusable:yes\tdevice:%ld cores, OpenBLAS\n", sysconf(_SC_NPROCESSORS_ONLN));
    char name[256];
    size_t mem = 0;
    dream_err_t err = {{0}};
    if (!dream_cuda_compiled()) {
        printf("cuda\tcompiled:no\tusable:no\treason:built without nvcc\n");
    } else if (dream_cuda_probe(0, name, sizeof name, &mem, &err) == 0) {
        printf("cuda\tcompiled:yes\tusable:yes\tdevice:%s, %.1f GiB\n", name, mem / 1073741824.0);
    } else {
        printf("cuda\tcompiled:yes\tusable:no\treason:%s\n", err.msg);
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: dream COMMAND [options]   (dream COMMAND --help for details)\n"
            "  grad       loss and dL/dx of an image (JSON + .npy)\n"
            "  steps      one keyframe's optimiser steps on an image (.npy out)\n"
            "  render     an offline zooming dream to PNG keyframes\n"
            "  classes    list or look up ImageNet classes\n"
            "  bench      time dream steps on a backend\n"
            "  inspect    check a weights file\n"
            "  backends   list backends and devices\n");
}

int main(int argc, char **argv) {
    const char *lvl = getenv("DREAM_LOG");
    dlog_level_t L;
    if (lvl && dlog_parse_level(lvl, &L) == 0) dlog_set_level(L);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "grad")) return cmd_grad(argc, argv);
    if (!strcmp(cmd, "steps")) return cmd_steps(argc, argv);
    if (!strcmp(cmd, "render")) return cmd_render(argc, argv);
    if (!strcmp(cmd, "classes")) return cmd_classes(argc, argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc, argv);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc, argv);
    if (!strcmp(cmd, "backends")) return cmd_backends(argc, argv);
    fprintf(stderr, "dream: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
