/*
 * compute.c — the registry of dream-worker's computes (`--backend` names -> implementation);
 * see compute.h. Adding a compute = one row here.
 */
#include "compute.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*init)(dream_compute_t *c, const node_cfg_t *cfg, dream_err_t *err);
} registry[] = {
    {"auto", dream_compute_engine_init},    /* cuda when usable, else cpu (backend.c) */
    {"cpu", dream_compute_engine_init},
    {"cuda", dream_compute_engine_init},
    {"sim", dream_compute_sim_init},        /* tests and benchmarks only */
};
#define N_REGISTRY ((int)(sizeof registry / sizeof registry[0]))

static int find(const char *name) {
    for (int i = 0; name && i < N_REGISTRY; i++)
        if (!strcmp(name, registry[i].name)) return i;
    return -1;
}

int dream_compute_known(const char *name) { return find(name) >= 0; }

const char *dream_compute_names(char *buf, size_t n) {
    size_t o = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < N_REGISTRY && o < n; i++) {
        int k = snprintf(buf + o, n - o, "%s%s", i ? "|" : "", registry[i].name);
        if (k < 0) break;
        o += (size_t)k;
    }
    return buf;
}

dream_compute_t *dream_compute_new(const node_cfg_t *cfg, dream_err_t *err) {
    int i = find(cfg->backend);
    if (i < 0) {
        char names[64];
        dream_err_set(err, "option 'backend': '%s' is not %s", cfg->backend, dream_compute_names(names, sizeof names));
        return NULL;
    }
    dream_compute_t *c = calloc(1, sizeof *c);
    if (!c) { dream_err_set(err, "out of memory"); return NULL; }
    if (registry[i].init(c, cfg, err) != 0) {
        dream_compute_destroy(&c);
        return NULL;
    }
    return c;
}

void dream_compute_destroy(dream_compute_t **pc) {
    if (!pc || !*pc) return;
    dream_compute_t *c = *pc;
    if (c->iface && c->iface->destroy) c->iface->destroy(c->ctx);
    free(c);
    *pc = NULL;
}
