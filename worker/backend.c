/*
 * backend.c — backend selection ("auto" | "cpu" | "cuda") and precision names.
 * The op tables themselves live in backend_cpu.c and the worker/cuda/ sources.
 */
#include "backend.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *prec_names[] = {"fp32", "tf32", "bf16"};

int dream_prec_parse(const char *s, dream_prec_t *out) {
    for (int i = 0; i < 3; i++)
        if (s && strcasecmp(s, prec_names[i]) == 0) { *out = (dream_prec_t)i; return 0; }
    return -1;
}

const char *dream_prec_name(dream_prec_t p) {
    return (p >= DREAM_PREC_FP32 && p <= DREAM_PREC_BF16) ? prec_names[p] : "?";
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
