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

/* The options of grad, steps, render and bench: one config table each (common/config.h), like
 * dreamd's and dream-worker's: --name value / --name=value / --config FILE, --help generated
 * from the rows, errors "option 'X': 'V' is not ...". The engine options all four share are
 * one table (common_opts) included in each; the engine parameters (steps, lr, ...) are rows
 * into dream_params_t, their defaults dream_params_default()'s (the INIT row). */
#define CLI_MAX_CLASS_TEXT 256

typedef struct cli_common {
    char weights[PATH_MAX];     /* "" = data/weights/vgg16.safetensors if present, else random */
    char prior[PATH_MAX];       /* "" = data/prior.safetensors; "none" */
    char prior_kind[16];
    char pools[128];
    char layout[16];            /* "" = seed (3-4 subjects: bands) */
    char optimizer[16];
    char cls[DREAM_MAX_SUBJECTS][CLI_MAX_CLASS_TEXT];   /* --class, repeated */
    int ncls;
    char backend[16];
    int device, threads;
    char prec[16];
    dream_params_t p;
} cli_common_t;

typedef struct cli {
    cli_common_t c;
    char image[PATH_MAX], out[PATH_MAX], out_grad[PATH_MAX];
    int max_pixels;
    char size[32];
    int keyframes, npk, warmup;
    double fps, zps, rps, zoom, rot;    /* zoom / rot: NAN = from zps / rps */
    char start_image[PATH_MAX], init[PATH_MAX];
} cli_t;

static void pools_text(const dream_params_t *p, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < p->npools && len < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%d", i ? "," : "", p->pools[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
}

/* the engine's defaults, and their names for the text options */
static void common_init(void *base) {
    cli_common_t *c = base;
    memset(c, 0, sizeof *c);
    dream_params_default(&c->p);
    snprintf(c->prior_kind, sizeof c->prior_kind, "%s", c->p.prior_kind == DREAM_PRIOR_GAUSS ? "gauss" : "student");
    snprintf(c->optimizer, sizeof c->optimizer, "%s", dream_optim_name(c->p.optim));
    pools_text(&c->p, c->pools, sizeof c->pools);
}

static const cfg_opt_t common_opts[] = {
    CFG_INIT(common_init),
    CFG_STR(cli_common_t, weights, "weights", "", "VGG-16/19 .safetensors (torchvision or timm naming), or random (UNTRAINED, deterministic He-normal init); empty = data/weights/vgg16.safetensors if present, else random"),
    CFG_STRLIST(cli_common_t, cls, ncls, "class", "class id or name; repeat or use \"a + b\" for up to 4 subjects"),
    CFG_STR(cli_common_t, layout, "layout", "", "seed (empty: 1 subject = the 2015 reference's [A, A]: lower-half mean + upper-half mean; 3-4 subjects: bands) | single (1 subject = one whole-grid mean) | bands | quadrants"),
    CFG_STR(cli_common_t, optimizer, "optimizer", NULL, "seed (the 2015 reference's update, betas on the new gradient) | adam (textbook Adam)"),
    CFG_STR(cli_common_t, prior, "prior", "", "patch prior FILE, or none (empty = data/prior.safetensors)"),
    CFG_STR(cli_common_t, prior_kind, "prior-kind", NULL, "student | gauss"),
    CFG_FLOAT(cli_common_t, p.prior_strength, "prior-strength", NULL, 0, 1e6, "patch prior strength"),
    CFG_FLOAT(cli_common_t, p.mean_weight, "mean-weight", NULL, -1e6, 1e6, "weight of the mean-of-all-logits term"),
    CFG_STR(cli_common_t, pools, "pools", NULL, "prior pool sizes, comma-separated (up to 8, each 1..1024)"),
    CFG_STR(cli_common_t, backend, "backend", "auto", "auto | cpu | cuda"),
    CFG_INT(cli_common_t, device, "device", "0", 0, 64, "CUDA device"),
    CFG_INT(cli_common_t, threads, "threads", "0", 0, 1024, "CPU backend threads (0 = all cores)"),
    CFG_STR(cli_common_t, prec, "prec", "bf16", "fp32 | tf32 | bf16 (CUDA matrix precision)"),
    CFG_INT(cli_common_t, p.steps, "steps", NULL, 0, 100000, "optimiser steps (one keyframe)"),
    CFG_FLOAT(cli_common_t, p.lr, "lr", NULL, 0, 1e4, "learning rate (pixel units)"),
    CFG_INT(cli_common_t, p.jitter, "jitter", NULL, 0, 256, "random roll of up to J pixels per step"),
    CFG_U64(cli_common_t, p.seed, "seed", NULL, 0, 9.2e18, "seed of the jitter (render: of the start canvas too)"),
    CFG_END};

#define IMAGE_ROW CFG_STR(cli_t, image, "image", "", "input image: PNG/JPEG or float32 (H, W, 3) .npy (required)")
#define MAX_PIXELS_ROW \
    CFG_INT(cli_t, max_pixels, "max-pixels", "4194304", 1, DREAM_IMAGE_MAX_PIXELS, \
            "largest input W*H accepted (4194304 = 2048x2048: a VGG gradient at that size already needs GBs)")

static const cfg_opt_t grad_opts[] = {
    CFG_SUB(cli_t, c, common_opts),
    IMAGE_ROW,
    CFG_STR(cli_t, out_grad, "out-grad", "", "write dL/dx as float32 (H, W, 3) .npy here"),
    MAX_PIXELS_ROW,
    CFG_END};

static const cfg_opt_t steps_opts[] = {
    CFG_SUB(cli_t, c, common_opts),
    IMAGE_ROW,
    CFG_STR(cli_t, out, "out", "", "the image after the steps, float32 (H, W, 3) .npy (required)"),
    MAX_PIXELS_ROW,
    CFG_END};

static void render_init(void *base) {
    cli_t *o = base;
    o->zoom = NAN;
    o->rot = NAN;
}

static const cfg_opt_t render_opts[] = {
    CFG_SUB(cli_t, c, common_opts),
    CFG_INIT(render_init),
    CFG_STR(cli_t, out, "out", "", "directory of the PNG keyframes (required)"),
    CFG_STR(cli_t, size, "size", DREAM_CANVAS_SIZE, "canvas WxH (the 2015 stream's)"),
    CFG_INT(cli_t, keyframes, "keyframes", "10", 1, 1000000, "keyframes to render"),
    CFG_DOUBLE(cli_t, fps, "fps", DREAM_XSTR(DREAM_FPS), 1, 240, "output frames per second the motion is counted in"),
    CFG_INT(cli_t, npk, "frames-per-keyframe", "25", 1, 100000, "output frames one keyframe covers (25: one per second)"),
    CFG_DOUBLE(cli_t, zps, "zoom-per-sec", DREAM_XSTR(DREAM_ZOOM_PER_SEC), 0.5, 2, "zoom per second of video (dreamd's)"),
    CFG_DOUBLE(cli_t, rps, "rotate-per-sec", DREAM_XSTR(DREAM_ROTATE_DEG_PER_SEC), -90, 90, "degrees per second of video (dreamd's: clockwise)"),
    CFG_DOUBLE(cli_t, zoom, "zoom", NULL, 0.5, 2, "per-keyframe zoom instead (the old flag)"),
    CFG_DOUBLE(cli_t, rot, "rotate", NULL, -90, 90, "per-keyframe degrees instead (the old flag)"),
    CFG_STR(cli_t, start_image, "start-image", "", "start from a PNG/JPEG resized to --size (empty: a synthetic canvas)"),
    CFG_STR(cli_t, init, "init", "", "start from an image at its own size"),
    MAX_PIXELS_ROW,
    CFG_END};

/* dream bench times 3 steps unless --steps says otherwise */
static void bench_init(void *base) {
    cli_t *o = base;
    o->c.p.steps = 3;
}

static const cfg_opt_t bench_opts[] = {
    CFG_SUB(cli_t, c, common_opts),
    CFG_INIT(bench_init),
    CFG_STR(cli_t, size, "size", "224x224", "image WxH"),
    CFG_INT(cli_t, warmup, "warmup", "1", 0, 100, "untimed steps first"),
    CFG_END};

/* Parses argv (argv[0] = the command) through table; 0 go on, 1 help printed, -1 error
 * printed ("dream CMD: option 'X': ..."). */
static int cli_parse(const cfg_opt_t *table, cli_t *o, int argc, char **argv, const char *cmd, const char *summary) {
    char prog[32];
    snprintf(prog, sizeof prog, "dream %s", cmd);
    dream_err_t err = {{0}};
    int rc = cfg_parse_args(table, o, argc, argv, prog, summary, &err);
    if (rc < 0) fprintf(stderr, "dream %s: %s\n", cmd, err.msg);
    return rc;
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

/* Checks the common options' text values (after the table's own checks) into c->p, then
 * loads the prior and the model and (build_engine) makes the backend and engine. */
static int common_setup(common_t *c, cli_common_t *o, const char *cmd, int need_classes, int build_engine) {
    dream_err_t err = {{0}};
    c->p = o->p;
    const char *wfile = o->weights[0] ? o->weights : default_weights();
    if (!strcmp(o->prior_kind, "student")) c->p.prior_kind = DREAM_PRIOR_STUDENT;
    else if (!strcmp(o->prior_kind, "gauss")) c->p.prior_kind = DREAM_PRIOR_GAUSS;
    else { fprintf(stderr, "dream %s: option 'prior-kind': '%s' is not student or gauss\n", cmd, o->prior_kind); return -1; }
    {
        char buf[sizeof o->pools];
        snprintf(buf, sizeof buf, "%s", o->pools);
        c->p.npools = 0;
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *end;
            errno = 0;
            long v = strtol(tok, &end, 10);
            if (c->p.npools >= DREAM_MAX_POOLS || errno || end == tok || *end || v < 1 || v > 1024) {
                fprintf(stderr, "dream %s: option 'pools': '%s' is not up to %d sizes 1..1024 (e.g. 1,4,8,16,32)\n", cmd,
                        o->pools, DREAM_MAX_POOLS);
                return -1;
            }
            c->p.pools[c->p.npools++] = (int)v;
        }
        if (c->p.npools == 0) {
            fprintf(stderr, "dream %s: option 'pools': '%s' is not a list of pool sizes (e.g. 1,4,8,16,32)\n", cmd, o->pools);
            return -1;
        }
    }
    char pbuf[PATH_MAX];
    const char *pfile = o->prior[0] ? o->prior : dream_data_path("prior.safetensors", pbuf, sizeof pbuf);
    if (o->layout[0] && dream_layout_parse(o->layout, &c->p.layout)) {
        fprintf(stderr, "dream %s: option 'layout': '%s' is not single, seed, bands or quadrants\n", cmd, o->layout);
        return -1;
    }
    if (dream_optim_parse(o->optimizer, &c->p.optim)) {
        fprintf(stderr, "dream %s: option 'optimizer': '%s' is not seed or adam\n", cmd, o->optimizer);
        return -1;
    }
    dream_prec_t prec;
    if (dream_prec_parse(o->prec, &prec)) {
        fprintf(stderr, "dream %s: option 'prec': '%s' is not fp32, tf32 or bf16\n", cmd, o->prec);
        return -1;
    }
    /* classes: repeated --class, each may itself be "a + b" */
    c->p.nsubj = 0;
    for (int i = 0; i < o->ncls; i++) {
        if (!c->classes && !(c->classes = dream_classes_load_default(&err))) {
            fprintf(stderr, "dream %s: %s\n", cmd, err.msg);
            return -1;
        }
        int ids[DREAM_MAX_SUBJECTS];
        int n = dream_classes_parse(c->classes, o->cls[i], ids, DREAM_MAX_SUBJECTS, &err);
        if (n < 0) { fprintf(stderr, "dream %s: option 'class': %s\n", cmd, err.msg); return -1; }
        for (int k = 0; k < n; k++) {
            if (c->p.nsubj >= DREAM_MAX_SUBJECTS) {
                fprintf(stderr, "dream %s: option 'class': at most %d subjects\n", cmd, DREAM_MAX_SUBJECTS);
                return -1;
            }
            c->p.cls[c->p.nsubj++] = ids[k];
        }
    }
    if (!o->ncls && need_classes) { fprintf(stderr, "dream %s: --class is required\n", cmd); return -1; }
    if (!o->ncls) { c->p.nsubj = 1; c->p.cls[0] = 0; }
    /* default layout: seed (one subject = the reference's [A, A], two = lower/upper half);
     * 3 or 4 subjects do not fit it: bands */
    if (c->p.nsubj > 2 && !o->layout[0]) c->p.layout = DREAM_LAYOUT_BANDS;
    /* everything parsed: now the heavy part */
    if (strcmp(pfile, "none") != 0) {
        c->prior = dream_prior_load(pfile, c->p.prior_kind, &err);
        if (!c->prior) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    }
    c->model = dream_model_open(wfile, &err);
    if (!c->model) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    if (!build_engine) return 0;
    c->be = dream_backend_new(o->backend, o->device, o->threads, prec, &err);
    if (!c->be) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    c->eng = dream_engine_new(c->model, c->prior, c->be, &err);
    if (!c->eng) { fprintf(stderr, "dream: %s\n", err.msg); return -1; }
    char desc[768];
    dream_model_describe(c->model, desc, sizeof desc);
    dlog_info("dream", "model: %s", desc);
    dlog_info("dream", "backend: %s (%s)", c->be->name, c->be->device);
    return 0;
}

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

static int cmd_grad(int argc, char **argv) {
    int rc = 1;
    cli_t o;
    common_t c = {0};
    float *img = NULL, *grad = NULL;
    int pr = cli_parse(grad_opts, &o, argc, argv, "grad",
                       "--image IN.png|IN.npy --class C [...] --out-grad G.npy: prints {\"loss\",\"net\",\"prior\",\"grid\"}\n"
                       "as JSON and writes dL/dx as float32 (H, W, 3).");
    if (pr) return pr > 0 ? 0 : 1;
    const char *in = o.image, *out = o.out_grad[0] ? o.out_grad : NULL;
    if (!in[0]) FAIL("dream grad: --image is required");
    long maxpx = o.max_pixels;
    int H, W;
    /* an input over the budget is refused before the weights load; other input errors are
     * reported after the options are checked */
    int pre = load_input(in, (uint64_t)maxpx, &img, &H, &W, 1);
    if (pre == -2) goto out;
    if (common_setup(&c, &o.c, "grad", 1, 1)) goto out;
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
    cli_t o;
    common_t c = {0};
    float *img = NULL;
    int pr = cli_parse(steps_opts, &o, argc, argv, "steps",
                       "--image IN.png|IN.npy --class C [...] --steps N --out OUT.npy: runs N optimiser steps\n"
                       "(one keyframe: state reset, pixels clipped to [0, 255]), writes the image as float32\n"
                       "(H, W, 3) and prints {\"loss\",\"net\",\"prior\"} of the last step.");
    if (pr) return pr > 0 ? 0 : 1;
    const char *in = o.image, *out = o.out;
    if (!in[0] || !out[0]) FAIL("dream steps: --image and --out are required");
    long maxpx = o.max_pixels;
    int H, W;
    int pre = load_input(in, (uint64_t)maxpx, &img, &H, &W, 1);     /* over the budget: before the weights */
    if (pre == -2) goto out;
    if (common_setup(&c, &o.c, "steps", 1, 1)) goto out;
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
    cli_t o;
    common_t c = {0};
    dream_image_t *cur = NULL, *next = NULL;
    int pr = cli_parse(render_opts, &o, argc, argv, "render",
                       "--class NAME [...] --size WxH --steps N --keyframes K --out DIR: an offline zooming\n"
                       "dream to PNG keyframes, with dreamd's motion in video time (per keyframe zoom-per-sec^(N/fps),\n"
                       "rotate-per-sec * N/fps, N = frames-per-keyframe).");
    if (pr) return pr > 0 ? 0 : 1;
    int W, H;
    if (parse_size(o.size, &W, &H)) FAIL("dream render: option 'size': '%s' is not WxH (each side 1..16384)", o.size);
    long K = o.keyframes, npk = o.npk;
    double fps = o.fps;
    const char *outdir = o.out[0] ? o.out : NULL, *init = o.init[0] ? o.init : NULL;
    const char *start_image = o.start_image[0] ? o.start_image : NULL;
    /* the motion in video time, as dreamd's (server/motion.h): per keyframe zps^(N/fps), rps N/fps */
    double zoom = isnan(o.zoom) ? pow(pow(o.zps, 1.0 / fps), (double)npk) : o.zoom;
    double rot = isnan(o.rot) ? o.rps / fps * (double)npk : o.rot;
    if (init && start_image) FAIL("dream render: --init and --start-image exclude each other");
    if (!outdir) FAIL("dream render: --out DIR is required");
    long maxpx = o.max_pixels;
    if ((uint64_t)W * (uint64_t)H > (uint64_t)maxpx) FAIL("dream render: --size %dx%d exceeds --max-pixels %ld", W, H, maxpx);
    dream_err_t err = {{0}};
    if (init) {     /* before the weights: an image over the budget is refused from its header */
        cur = dream_image_load_max(init, (uint64_t)maxpx, &err);
        if (!cur && strstr(err.msg, "exceeds the limit")) FAIL("dream render: %s (raise --max-pixels to allow it)", err.msg);
    }
    if (common_setup(&c, &o.c, "render", 1, 1)) goto out;
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
        char path[PATH_MAX + 32];
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
    cli_t o;
    common_t c = {0};
    float *img = NULL;
    int pr = cli_parse(bench_opts, &o, argc, argv, "bench",
                       "--size WxH [--backend B] [--prec P] [--steps N] [--warmup N]: times dream steps\n"
                       "(forward + input gradient + prior + optimiser) and prints one JSON line.");
    if (pr) return pr > 0 ? 0 : 1;
    int W, H;
    if (parse_size(o.size, &W, &H)) FAIL("dream bench: option 'size': '%s' is not WxH (each side 1..16384)", o.size);
    long warm = o.warmup;
    if (common_setup(&c, &o.c, "bench", 0, 1)) goto out;
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
    /* the table-driven commands see argv[0] = the command, as cfg_parse_args() expects */
    if (!strcmp(cmd, "grad")) return cmd_grad(argc - 1, argv + 1);
    if (!strcmp(cmd, "steps")) return cmd_steps(argc - 1, argv + 1);
    if (!strcmp(cmd, "render")) return cmd_render(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "classes")) return cmd_classes(argc, argv);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc, argv);
    if (!strcmp(cmd, "backends")) return cmd_backends(argc, argv);
    fprintf(stderr, "dream: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
