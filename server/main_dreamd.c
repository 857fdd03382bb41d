/*
 * main_dreamd.c — dreamd, the render-farm coordinator: keyframe loop over the
 * workers, fixed-rate frame clock, frame sinks (PNG directories; the live
 * stream when built with it), admin socket for dreamctl.
 *   dreamd --worker-bind tcp://0.0.0.0:5555 --http-port 8080 --weights FILE|random|any --size WxH --fps N --frames-out DIR
 * The farm's model is pinned at startup from --weights / --model-hash (coord_cfg_model): a bad
 * weights file stops dreamd here, before any socket is bound.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>
#include "classes.h"
#include "config.h"
#include "coord.h"
#include "dlog.h"
#include "sinks.h"
#include "stream.h"

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
    /* the farm's model (--weights / --model-hash): a bad weights file stops here */
    if (coord_cfg_model(&cfg, &err) != 0) {
        dlog_error("dreamd", "%s", err.msg);
        return 2;
    }
    dream_signals_install(on_signal);

    dream_sinks_t frames = {0};
    if (cfg.frames_out[0]) {
        dream_sink_t *s = dream_sink_png_new(cfg.frames_out, "frame_", cfg.frames_every, &err);
        if (!s || dream_sinks_add(&frames, s, &err) != 0) {
            dlog_error("dreamd", "%s", err.msg);
            return 1;
        }
    }
    stream_t *stream = NULL;
    if (cfg.http_port > 0) {
        stream_config_t sc;
        stream_config_defaults(&sc);
        sc.http_port = cfg.http_port;
        sc.bind_addr = cfg.http_bind[0] ? cfg.http_bind : NULL;
        /* encoded size: the canvas, scaled down into 1920x1080 keeping the aspect, even sides */
        double k = 1.0;
        if (cfg.W > STREAM_MAX_WIDTH) k = (double)STREAM_MAX_WIDTH / cfg.W;
        if (cfg.H * k > STREAM_MAX_HEIGHT) k = (double)STREAM_MAX_HEIGHT / cfg.H;
        sc.width = cfg.stream_width > 0 ? cfg.stream_width : ((int)(cfg.W * k) & ~1);
        sc.height = cfg.stream_height > 0 ? cfg.stream_height : ((int)(cfg.H * k) & ~1);
        sc.fps = cfg.fps;
        sc.bitrate_kbps = cfg.bitrate_kbps;
        sc.record_path = cfg.record[0] ? cfg.record : NULL;
        sc.tls_cert = cfg.tls_cert[0] ? cfg.tls_cert : NULL;
        sc.tls_key = cfg.tls_key[0] ? cfg.tls_key : NULL;
        sc.web_root = cfg.web_root[0] ? cfg.web_root : NULL;
        sc.ban_file = cfg.ban_file[0] ? cfg.ban_file : NULL;
        sc.cpu_used = cfg.encoder_speed;
        sc.max_viewers = cfg.max_viewers;
        sc.max_conns_per_ip = cfg.viewer_conns_per_ip;
        sc.parse_per_s = cfg.viewer_parse_per_s;
        sc.hold_s = cfg.hold_s;
        sc.min_hold_s = cfg.min_hold_s;
        sc.queue_max = cfg.queue_max;
        sc.rate_per_min = cfg.rate_per_min;
        sc.rate_burst = cfg.rate_burst;
        sc.drift = cfg.drift;
        sc.trust_forwarded_for = cfg.trust_forwarded_for;
        /* start on the configured subject(s) rather than a random class */
        int ids[STREAM_MAX_SUBJECTS], nids = 0;
        dream_classes_t *cls = dream_classes_load_default(&err);
        if (cls) nids = dream_classes_parse(cls, cfg.subjects, ids, STREAM_MAX_SUBJECTS, &err);
        dream_classes_destroy(&cls);
        if (nids < 1) {
            dlog_error("dreamd", "option 'subjects': %s", err.msg);
            dream_sinks_clear(&frames);
            return 1;
        }
        sc.initial_subject = ids[0];
        stream = stream_new(&sc, &err);
        if (!stream) {
            dlog_error("dreamd", "live stream: %s", err.msg);
            dream_sinks_clear(&frames);
            return 1;
        }
        if (nids > 1 && stream_request(stream, cfg.subjects, "config", &err) < 0)
            dlog_warn("dreamd", "initial subjects: %s", err.msg);
        dream_sink_t *s = dream_sink_stream_new(stream, &err);
        if (!s || dream_sinks_add(&frames, s, &err) != 0) {
            dlog_error("dreamd", "%s", err.msg);
            dream_sink_destroy(&s);
            dream_sinks_clear(&frames);
            stream_destroy(&stream);
            return 1;
        }
        dlog_info("dreamd", "live page on %s://%s:%d/ (%dx%d VP9)", sc.tls_cert ? "https" : "http",
                  cfg.http_bind[0] ? cfg.http_bind : "localhost",
                  stream_port(stream), sc.width, sc.height);
    }
    void *zctx = zmq_ctx_new();
    coord_t *c = coord_new(&cfg, zctx, &frames, &err);
    if (!c) {
        dlog_error("dreamd", "%s", err.msg);
        dream_sinks_clear(&frames);
        stream_destroy(&stream);
        zmq_ctx_term(zctx);
        return 1;
    }
    if (stream) coord_set_stream(c, stream);
    rc = coord_run(c, &g_stop);
    coord_destroy(&c);          /* stops the frame clock: no more frames into the sinks */
    dream_sinks_clear(&frames);
    stream_destroy(&stream);
    zmq_ctx_term(zctx);
    dlog_info("dreamd", "stopped");
    return rc == 0 ? 0 : 1;
}
