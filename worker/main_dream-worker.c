/*
 * main_dream-worker.c — dream-worker: joins a dreamd render farm and computes
 * dream tiles (cpu/cuda engine, or the simulated path for tests).
 *   dream-worker --connect tcp://HOST:5555 --backend auto|cpu|cuda|sim --threads N --weights FILE|random
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "dlog.h"
#include "heap.h"
#include "node.h"
#include "parfor.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

int main(int argc, char **argv) {
    node_cfg_t cfg;
    dream_err_t err = {{0}};
    dream_heap_keep();      /* jobs and results of up to 32 MB reuse the heap (heap.h) */
    int rc = cfg_parse_args(node_cfg_opts, &cfg, argc, argv, "dream-worker",
                            "Render-farm worker: computes dream tiles for dreamd.", &err);
    if (rc == 1) return 0;
    if (rc != 0 || node_cfg_finish(&cfg, &err) != 0) {
        fprintf(stderr, "dream-worker: %s\n", err.msg);
        return 2;
    }
    dream_signals_install(on_signal);
    dream_parallel_set_max(cfg.threads);    /* the host-side passes too, not only the engine */
    node_t *n = node_new(&cfg, &err);
    if (!n) {
        dlog_error("worker", "%s", err.msg);
        return 1;
    }
    rc = node_run(n, &g_stop);
    node_destroy(&n);
    return rc == 0 ? 0 : 1;
}
