/*
 * backend.c — backend selection ("auto" | "cpu" | "cuda"), precision and optimiser names, and the
 * 3x3 conv composed from a backend's own gemm and elementwise ops (the CPU op and the
 * CUDA "gemm" algorithm). The op tables themselves live in backend_cpu.c and the
 * worker/cuda/ sources.
 */
#include "backend.h"
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const prec_names[] = {"fp32", "tf32", "bf16"};
#define N_PREC ((int)(sizeof prec_names / sizeof prec_names[0]))

int dream_prec_parse(const char *s, dream_prec_t *out) {
    int i = dream_name_index(prec_names, N_PREC, s);     /* common/config.h */
    if (i < 0) return -1;
    *out = (dream_prec_t)i;
    return 0;
}

const char *dream_prec_name(dream_prec_t p) { return dream_name_of(prec_names, N_PREC, (int)p); }

static const char *optim_names[] = {"seed", "adam"};

int dream_optim_parse(const char *s, dream_optim_t *out) {
    for (int i = 0; i < 2; i++)
        if (s && strcasecmp(s, optim_names[i]) == 0) { *out = (dream_optim_t)i; return 0; }
    return -1;
}

const char *dream_optim_name(dream_optim_t o) {
    return (o >= DREAM_OPTIM_SEED && o <= DREAM_OPTIM_ADAM) ? optim_names[o] : "?";
}

dream_backend_t *dream_backend_new(const char *name, int device, int threads, dream_prec_t prec,
                                   dream_err_t *err) {
    if (!name) name = "auto";
    if (strcmp(name, "auto") && strcmp(name, "cpu") && strcmp(name, "cuda")) {
        dream_err_set(err, "unknown backend '%s' (expected auto, cpu or cuda)", name);
        return NULL;
    }
    dream_backend_t *be = calloc(1, sizeof *be);
    if (!be) { dream_err_set(err, "out of memory"); return NULL; }
    dream_err_t cerr = {{0}};
    if (strcmp(name, "cpu") != 0) {
        if (dream_backend_cuda_init(be, device, prec, &cerr) == 0) {
            if (strcmp(name, "auto") == 0)
                dlog_info("backend", "auto: using cuda (%s, %s)", be->device, dream_prec_name(be->prec));
            return be;
        }
        if (strcmp(name, "cuda") == 0) {
            dream_err_set(err, "cuda backend unavailable: %s", cerr.msg);
            free(be);
            return NULL;
        }
        dlog_info("backend", "auto: cuda unavailable (%s); using cpu", cerr.msg);
        memset(be, 0, sizeof *be);
    }
    if (dream_backend_cpu_init(be, threads, err) != 0) { free(be); return NULL; }
    return be;
}

void dream_backend_destroy(dream_backend_t **pbe) {
    if (!pbe || !*pbe) return;
    dream_backend_t *be = *pbe;
    if (be->iface && be->iface->destroy) be->iface->destroy(be->ctx);
    free(be);
    *pbe = NULL;
}

/* 3x3 / pad-1 conv as 9 shifted gemms over the padded buffer: with Wp = W+2, output row
 * r = i*Wp + j (written at r + Wp + 1) reads input rows r + kh*Wp + kw, so every tap is one
 * gemm (M = H*Wp - 2 keeps every read in bounds, K = cin, N = cout) with no im2col copy.
 * Rows with j >= W land on the output's border, which is zeroed afterwards. */
int dream_conv3x3_fwd_gemms(const dream_backend_i *op, void *ctx, const float *x, int H, int W, int cin,
                            int cout, const float *w, const float *b, int relu, float *y) {
    const int Wp = W + 2, M = H * Wp - 2;
    float *o = y + (size_t)(Wp + 1) * cout;                        // (M, cout) view
    for (int t = 0; t < 9; t++)
        if (op->gemm(ctx, 0, 0, M, cout, cin, 1.f, x + (size_t)((t / 3) * Wp + t % 3) * cin, cin,
                     w + (size_t)t * cin * cout, cout, t ? 1.f : 0.f, o, cout, DREAM_GEMM_B_CONST))
            return -1;
    if (op->bias_act(ctx, y, (H + 2) * Wp, cout, cout, b, relu)) return -1;
    return op->zero_border(ctx, y, H, W, cout);
}

/* its adjoint: dx rows r + kh*Wp + kw accumulate dy row r times W_t^T */
int dream_conv3x3_bwd_gemms(const dream_backend_i *op, void *ctx, const float *dy, int H, int W, int cin,
                            int cout, const float *w, const float *mask, float *dx) {
    const int Wp = W + 2, M = H * Wp - 2;
    const size_t n = (size_t)(H + 2) * Wp * cin;
    const float *d = dy + (size_t)(Wp + 1) * cout;                 // (M, cout) view
    if (op->zero(ctx, dx, n * sizeof(float))) return -1;
    for (int t = 0; t < 9; t++)
        if (op->gemm(ctx, 0, 1, M, cin, cout, 1.f, d, cout, w + (size_t)t * cin * cout, cout, 1.f,
                     dx + (size_t)((t / 3) * Wp + t % 3) * cin, cin, DREAM_GEMM_B_CONST))
            return -1;
    if (mask && op->relu_bwd(ctx, dx, mask, n)) return -1;
    return op->zero_border(ctx, dx, H, W, cin);
}
