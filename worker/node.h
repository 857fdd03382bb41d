/*
 * node.h — dream-worker's farm node: a DEALER connection to dreamd with hello,
 * heartbeats (kept beating by the network thread while a separate compute
 * thread runs the tile), reconnect with exponential backoff (1 s -> 32 s,
 * recreating the socket), and a graceful stop that finishes the current job
 * and says bye. Jobs run through the compute chosen by --backend from the one
 * registry in compute.h: the dream engine (auto|cpu|cuda) or the simulated
 * compute (sim, tests and benchmarks only).
 */
#ifndef DREAM_NODE_H
#define DREAM_NODE_H
#include <signal.h>
#include "config.h"
#include "dlog.h"

typedef struct node_cfg {
    char connect[256];
    char backend[16];
    int threads;
    int device;
    char prec[16];
    char weights[512];
    char prior[512];
    char name[128];
    int heartbeat_ms;
    int liveness;
    int backoff_max_s;
    double sim_ms_per_mpix_step;
    double sim_link_mbps;       /* sim: modelled link speed (0 = none) */
    int sim_device_warp;        /* sim: a tile-resident job's warp is modelled device work */
    int sim_device_thread;      /* sim: the modelled device's pixel work on a thread of its own, 10 nice levels down */
    double speed_ms;            /* claimed ms per MPx-step (0 = measure) */
    int max_tile_pixels;        /* 0 = auto */
    char log_level[16];
    char log_format[16];        /* logfmt | text */
    double run_seconds;
    char curve_server_key[64];
    char curve_key_file[512];
} node_cfg_t;

extern const cfg_opt_t node_cfg_opts[];
int node_cfg_finish(node_cfg_t *cfg, dream_err_t *err);

typedef struct node node_t;

/* Sets up the compute (compute.h: model and backend, or the sim); does not connect yet. */
node_t *node_new(const node_cfg_t *cfg, dream_err_t *err);
void node_destroy(node_t **n);
/* Runs until *stop; then finishes the job in hand, says bye, returns 0. Returns -1 (after
 * the failed job's error and a bye) when the backend is lost (CUDA sticky error): the
 * process must exit non-zero so its supervisor restarts it. */
int node_run(node_t *n, volatile sig_atomic_t *stop);

#endif
