/*
 * main_dreamd.c — dreamd, the render-farm coordinator: keyframe loop over the
 * workers, fixed-rate frame clock, frame sinks (PNG directories; the live
 * stream when built with it), admin socket for dreamctl.
 *   dreamd --worker-bind tcp://0.0.0.0:5555 --http-port 8080 --weights FILE|random --size WxH --fps N --frames-out DIR
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>
#include "config.h"
#include "coord.h"
#include "dlog.h"
#include "sinks.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

int main(int argc, char **argv) {
    coord_cfg_t cfg;
    dream_err_t err = {{0}};
    int rc = cfg_parse_args(coord_cfg_opts, &cfg, argc, argv, "dreamd",
                            "Render-farm coordinator: tiles keyframes over dream-workers and streams the result.",
                            &err);
    if (rc == 1) return 0;
    if (rc != 0 || coord_cfg_finish(&cfg, &err) != 0) {
        fprintf(stderr, "dreamd: %s\n", err.msg);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    dream_sinks_t frames = {0};
    if (cfg.frames_out[0]) {
        dream_sink_t *s = dream_sink_png_new(cfg.frames_out, "frame_", cfg.frames_every, &err);
        if (!s || dream_sinks_add(&frames, s, &err) != 0) {
            dlog_error("dreamd", "%s", err.msg);
            return 1;
        }
    }
    if (cfg.http_port > 0)
        dlog_warn("dreamd", "live stream not built into this dreamd yet: --http-port %d unused", cfg.http_port);
    void *zctx = zmq_ctx_new();
    coord_t *c = coord_new(&cfg, zctx, &frames, &err);
    if (!c) {
        dlog_error("dreamd", "%s", err.msg);
        dream_sinks_clear(&frames);
        zmq_ctx_term(zctx);
        return 1;
    }
    rc = coord_run(c, &g_stop);
    coord_destroy(&c);
    dream_sinks_clear(&frames);
    zmq_ctx_term(zctx);
    dlog_info("dreamd", "stopped");
    return rc == 0 ? 0 : 1;
}
