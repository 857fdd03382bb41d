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
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>
#include <zmq.h>
#include "classes.h"
#include "config.h"
#include "heap.h"
#include "coord.h"
#include "dlog.h"
#include "irc.h"
#include "overlay.h"
#include "requests.h"
#include "metrics.h"
#include "sinks.h"
#include "stream.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

/* IRC chat bridge -> the viewers' request queue (same rate limits and bans, keyed by nick).
 * Accepted requests (and "already on screen") are answered; refusals stay silent so that
 * ordinary chat is not answered line by line. "!dream X" works as well as plain "X". */
static void irc_to_requests(void *ud, const char *nick, const char *text, char *reply, size_t n) {
    stream_t *s = ud;
    reply[0] = 0;
    if (!strncasecmp(text, "!dream ", 7)) text += 7;
    char key[64];
    snprintf(key, sizeof key, "irc:%.40s", nick);
    char msg[400];
    int accepted = 0;
    if (stream_submit_as(s, text, key, nick, &accepted, msg, sizeof msg) == 0) snprintf(reply, n, "%s", msg);
}

/* The burned-in text without a live stream: the configured subjects, "a & b". */
static void fixed_overlay_text(overlay_t *ov, const char *subjects) {
    dream_err_t err = {{0}};
    dream_classes_t *cls = dream_classes_load_default(&err);
    int ids[DREAM_MAX_SUBJECTS];
    int n = cls ? dream_classes_parse(cls, subjects, ids, DREAM_MAX_SUBJECTS, &err) : -1;
    char label[OVERLAY_MAX_TEXT] = "";
    if (n > 0) requests_label(cls, ids, n, NULL, label, sizeof label);
    overlay_set_text(ov, label);
    dream_classes_destroy(&cls);
}

/* OpenMP's idle threads spin by default, and libgomp reads OMP_WAIT_POLICY once, when it
 * loads: dreamd shares its cores with the encoder, the frame clock and often workers, and the
 * spinning took ~15 % of a 2-core machine's CPU between its short parallel loops (blend,
 * tile cut; bench/farm_bench.sh 4 workers: 11-26 % -> 30-35 % of ideal). So dreamd starts
 * itself again with PASSIVE unless the operator chose a policy. */
static void omp_passive(char **argv) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);    /* the real path: ps shows "dreamd" */
    if (n <= 0 || getenv("OMP_WAIT_POLICY") || setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    self[n] = 0;
    execv(self, argv);      /* returns only on failure: go on as we are */
}

int main(int argc, char **argv) {
    coord_cfg_t cfg;
    dream_err_t err = {{0}};
    omp_passive(argv);
    dream_heap_keep();     /* results of up to 32 MB reuse the heap (heap.h) */
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

    /* everything below is released at `out`, in reverse order of creation */
    dream_sinks_t frames = {0};
    stream_t *stream = NULL;
    irc_t *irc = NULL;
    void *zctx = NULL;
    coord_t *c = NULL;
    int metrics_on = 0;
    rc = 1;
    if (cfg.frames_out[0]) {
        dream_sink_t *s = dream_sink_png_new(cfg.frames_out, "frame_", cfg.frames_every, &err);
        if (!s || dream_sinks_add(&frames, s, &err) != 0) {
            dlog_error("dreamd", "%s", err.msg);
            dream_sink_destroy(&s);
            goto out;
        }
    }
    if (cfg.stream.http_port > 0) {
        /* the stream's settings are its own rows of the config table (cfg.stream); dreamd adds
         * the encoded size and rate of its frame clock (coord_cfg_finish: --stream-width/height,
         * or the canvas scaled down into 1920x1080 keeping the aspect, even sides) */
        stream_config_t sc = cfg.stream;
        sc.enc.width = cfg.SW;
        sc.enc.height = cfg.SH;
        sc.enc.fps = cfg.fps;
        /* start on the configured subject(s) rather than a random class */
        int ids[DREAM_MAX_SUBJECTS], nids = 0;
        dream_classes_t *cls = dream_classes_load_default(&err);
        if (cls) nids = dream_classes_parse(cls, cfg.subjects, ids, DREAM_MAX_SUBJECTS, &err);
        dream_classes_destroy(&cls);
        if (nids < 1) {
            dlog_error("dreamd", "option 'subjects': %s", err.msg);
            goto out;
        }
        sc.req.initial_subject = ids[0];
        stream = stream_new(&sc, &err);
        if (!stream) {
            dlog_error("dreamd", "live stream: %s", err.msg);
            goto out;
        }
        if (nids > 1 && stream_request(stream, cfg.subjects, "config", &err) < 0)
            dlog_warn("dreamd", "initial subjects: %s", err.msg);
        dream_sink_t *s = dream_sink_stream_new(stream, &err);
        if (!s || dream_sinks_add(&frames, s, &err) != 0) {
            dlog_error("dreamd", "%s", err.msg);
            dream_sink_destroy(&s);
            goto out;
        }
        dlog_info("dreamd", "live page on %s://%s:%d/ (%dx%d VP9)", sc.tls_cert[0] ? "https" : "http",
                  sc.bind_addr[0] ? sc.bind_addr : "localhost",
                  stream_port(stream), sc.enc.width, sc.enc.height);
    }
    /* the text overlay, burned in once for all frame sinks (stream, recording, PNG frames) */
    if (cfg.burn_in) {
        overlay_t *ov = overlay_new(cfg.overlay_font, cfg.overlay_px, &err);
        if (!ov) dlog_warn("dreamd", "%s: running without burned-in text (--burn-in off silences this)", err.msg);
        else {
            if (stream) overlay_set_source(ov, stream_overlay_label, stream);
            else fixed_overlay_text(ov, cfg.subjects);
            dream_sinks_set_overlay(&frames, ov);
        }
    }
    if (cfg.irc_server[0]) {
        if (!stream) {
            dlog_error("dreamd", "--irc-server needs the live stream's request queue (--http-port > 0)");
            rc = 2;
            goto out;
        }
        irc_config_t ic;
        irc_config_defaults(&ic);
        ic.server = cfg.irc_server;
        ic.channel = cfg.irc_channel;
        ic.nick = cfg.irc_nick;
        ic.password_file = cfg.irc_password_file[0] ? cfg.irc_password_file : NULL;
        ic.tls = cfg.irc_tls;
        ic.tls_verify = cfg.irc_tls_verify;
        ic.handler = irc_to_requests;
        ic.handler_ud = stream;
        irc = irc_new(&ic, &err);
        if (!irc) {
            dlog_error("dreamd", "%s", err.msg);
            rc = 2;
            goto out;
        }
        dlog_info("dreamd", "IRC chat bridge: %s %s as %s", cfg.irc_server, cfg.irc_channel, cfg.irc_nick);
    }
    zctx = zmq_ctx_new();
    /* before the first socket: the context starts its I/O threads then */
    if (zctx && cfg.io_threads > 1 && zmq_ctx_set(zctx, ZMQ_IO_THREADS, cfg.io_threads) != 0)
        dlog_warn("dreamd", "--io-threads %d: %s (1 is used)", cfg.io_threads, zmq_strerror(zmq_errno()));
    c = coord_new(&cfg, zctx, &frames, &err);
    if (!c) {
        dlog_error("dreamd", "%s", err.msg);
        goto out;
    }
    if (stream) coord_set_stream(c, stream);
    if (cfg.metrics_bind[0]) {
        if (metrics_serve_start(cfg.metrics_bind, stream, &err) != 0) {
            dlog_error("dreamd", "%s", err.msg);
            goto out;
        }
        metrics_on = 1;
    }
    rc = coord_run(c, &g_stop) == 0 ? 0 : 1;
    dlog_info("dreamd", "stopped");
out:
    if (metrics_on) metrics_serve_stop();
    coord_destroy(&c);          /* stops the frame clock: no more frames into the sinks */
    irc_destroy(&irc);          /* before the stream: its handler submits to the stream's queue */
    dream_sinks_clear(&frames);
    stream_destroy(&stream);
    if (zctx) zmq_ctx_term(zctx);
    return rc;
}
