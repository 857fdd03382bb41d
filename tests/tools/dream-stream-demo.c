/*
 * dream-stream-demo.c — the streaming stack without the farm: synthetic moving frames
 * (a plasma tinted by the current subject's class id, a bouncing disc) -> stream_t.
 * For development, the integration tests, the browser test and the benchmark: a test tool
 * (build/tests/dream-stream-demo), not a product binary.
 *
 *   dream-stream-demo [--port 8080] [--bind ADDR] [--web-root DIR] [--size 1024x576]
 *                     [--fps 25] [--bitrate 2500] [--speed 8] [--keyint 2] [--record FILE]
 *                     [--hold 60] [--min-hold 60] [--queue 50] [--rate 3] [--burst 3]
 *                     [--no-drift] [--ban-file F] [--classes F] [--viewer-queue N]
 *                     [--max-viewers N] [--tls-cert F --tls-key F] [--input-size WxH]
 *                     [--untrained] [--duration S] [--port-file F] [--log-level L]
 *                     [--trust-forwarded-for]
 */
#include "stream.h"
#include "config.h"
#include "dlog.h"
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static void usage(void) {
    fprintf(stderr,
            "usage: dream-stream-demo [--port N] [--bind ADDR] [--web-root DIR] [--size WxH] [--fps N]\n"
            "  [--bitrate KBPS] [--speed 5..9] [--keyint S] [--record FILE(.ivf|.webm)] [--hold S]\n"
            "  [--min-hold S] [--queue N] [--rate PER_MIN] [--burst N] [--no-drift] [--ban-file F]\n"
            "  [--classes F] [--viewer-queue N] [--max-viewers N] [--conns-per-ip N (0 = no cap)]\n"
            "  [--parse-per-s N (request bodies parsed a second, all viewers; 0 = no cap)] [--tls-cert F --tls-key F]\n"
            "  [--input-size WxH] [--untrained] [--duration S] [--port-file F] [--log-level L]\n"
            "  [--trust-forwarded-for]\n");
}

/* (h, w, 3): plasma tinted by the subject, a bouncing disc; t in frames */
static void draw(uint8_t *rgb, int w, int h, int t, int subject, const float *sinlut) {
    float hue = (float)(subject % 12) / 12.0f * 6.2831853f;
    float cr = 0.6f + 0.4f * cosf(hue), cg = 0.6f + 0.4f * cosf(hue - 2.094f), cb = 0.6f + 0.4f * cosf(hue + 2.094f);
    int cx = (int)(w / 2 + (w / 3) * sinf(t * 0.031f)), cy = (int)(h / 2 + (h / 3) * cosf(t * 0.047f));
    int r2 = (h / 8) * (h / 8);
    for (int y = 0; y < h; y++) {
        uint8_t *row = rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            float v = sinlut[(x * 2 + t * 3) & 1023] + sinlut[(y * 3 - t * 2) & 1023] +
                      sinlut[((x + y) + t * 5) & 1023] + sinlut[(((x * x + y * y) >> 8) + t * 7) & 1023];
            float g = 0.5f + 0.125f * v;   /* 0..1 */
            uint8_t *p = row + x * 3;
            int dx = x - cx, dy = y - cy;
            if (dx * dx + dy * dy < r2) { p[0] = 250; p[1] = 250; p[2] = 240; continue; }
            p[0] = (uint8_t)(255.0f * g * cr);
            p[1] = (uint8_t)(255.0f * (1.0f - g) * cg);
            p[2] = (uint8_t)(255.0f * (0.5f + 0.5f * g) * cb);
        }
    }
}

int main(int argc, char **argv) {
    stream_config_t cfg;
    stream_config_defaults(&cfg);
    int in_w = 0, in_h = 0, untrained = 0;
    double duration = 0;
    const char *port_file = NULL;
    enum { O_PORT = 1000, O_BIND, O_WEB, O_SIZE, O_FPS, O_BITRATE, O_SPEED, O_KEYINT, O_RECORD, O_HOLD, O_MINHOLD,
           O_QUEUE, O_RATE, O_BURST, O_NODRIFT, O_BAN, O_CLASSES, O_VQ, O_MAXV, O_CONNS, O_PARSE, O_CERT, O_KEY, O_INSIZE,
           O_UNTRAINED, O_DURATION, O_PORTFILE, O_LOG, O_XFF, O_HELP };
    static const struct option opts[] = {
        {"port", 1, 0, O_PORT}, {"bind", 1, 0, O_BIND}, {"web-root", 1, 0, O_WEB}, {"size", 1, 0, O_SIZE},
        {"fps", 1, 0, O_FPS}, {"bitrate", 1, 0, O_BITRATE}, {"speed", 1, 0, O_SPEED}, {"keyint", 1, 0, O_KEYINT},
        {"record", 1, 0, O_RECORD}, {"hold", 1, 0, O_HOLD}, {"min-hold", 1, 0, O_MINHOLD}, {"queue", 1, 0, O_QUEUE},
        {"rate", 1, 0, O_RATE}, {"burst", 1, 0, O_BURST}, {"no-drift", 0, 0, O_NODRIFT}, {"ban-file", 1, 0, O_BAN},
        {"classes", 1, 0, O_CLASSES}, {"viewer-queue", 1, 0, O_VQ}, {"max-viewers", 1, 0, O_MAXV}, {"conns-per-ip", 1, 0, O_CONNS}, {"parse-per-s", 1, 0, O_PARSE},
        {"tls-cert", 1, 0, O_CERT}, {"tls-key", 1, 0, O_KEY}, {"input-size", 1, 0, O_INSIZE},
        {"untrained", 0, 0, O_UNTRAINED}, {"duration", 1, 0, O_DURATION}, {"port-file", 1, 0, O_PORTFILE},
        {"log-level", 1, 0, O_LOG}, {"trust-forwarded-for", 0, 0, O_XFF}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_PORT: cfg.http_port = atoi(optarg); break;
        case O_BIND: snprintf(cfg.bind_addr, sizeof cfg.bind_addr, "%s", optarg); break;
        case O_WEB: snprintf(cfg.web_root, sizeof cfg.web_root, "%s", optarg); break;
        case O_SIZE: if (dream_parse_size(optarg, &cfg.enc.width, &cfg.enc.height) < 0) { fprintf(stderr, "bad --size '%s' (want WxH)\n", optarg); return 2; } break;
        case O_FPS: cfg.enc.fps = atoi(optarg); break;
        case O_BITRATE: cfg.enc.bitrate_kbps = atoi(optarg); break;
        case O_SPEED: cfg.enc.cpu_used = atoi(optarg); break;
        case O_KEYINT: cfg.enc.keyframe_max_s = atof(optarg); break;
        case O_RECORD: snprintf(cfg.record_path, sizeof cfg.record_path, "%s", optarg); break;
        case O_HOLD: cfg.req.hold_s = atof(optarg); break;
        case O_MINHOLD: cfg.req.min_hold_s = atof(optarg); break;
        case O_QUEUE: cfg.req.queue_max = atoi(optarg); break;
        case O_RATE: cfg.req.rate_per_min = atof(optarg); break;
        case O_BURST: cfg.req.rate_burst = atoi(optarg); break;
        case O_NODRIFT: cfg.req.drift = 0; break;
        case O_BAN: snprintf(cfg.ban_file, sizeof cfg.ban_file, "%s", optarg); break;
        case O_CLASSES: cfg.classes_path = optarg; break;
        case O_VQ: cfg.viewer_queue_max = atoi(optarg); break;
        case O_MAXV: cfg.max_viewers = atoi(optarg); break;
        case O_CONNS: cfg.max_conns_per_ip = atoi(optarg); break;
        case O_PARSE: cfg.parse_per_s = atof(optarg); break;
        case O_CERT: snprintf(cfg.tls_cert, sizeof cfg.tls_cert, "%s", optarg); break;
        case O_KEY: snprintf(cfg.tls_key, sizeof cfg.tls_key, "%s", optarg); break;
        case O_INSIZE: if (dream_parse_size(optarg, &in_w, &in_h) < 0) { fprintf(stderr, "bad --input-size '%s'\n", optarg); return 2; } break;
        case O_UNTRAINED: untrained = 1; break;
        case O_DURATION: duration = atof(optarg); break;
        case O_PORTFILE: port_file = optarg; break;
        case O_XFF: cfg.trust_forwarded_for = 1; break;
        case O_LOG: {
            dlog_level_t l;
            if (dlog_parse_level(optarg, &l) < 0) { fprintf(stderr, "bad --log-level '%s'\n", optarg); return 2; }
            dlog_set_level(l);
            break;
        }
        default: usage(); return c == O_HELP ? 0 : 2;
        }
    }
    if (cfg.req.min_hold_s > cfg.req.hold_s) cfg.req.min_hold_s = cfg.req.hold_s;
    if (cfg.enc.fps < 1 || cfg.enc.fps > 120) { fprintf(stderr, "bad --fps %d (1..120)\n", cfg.enc.fps); return 2; }
    if (!in_w) { in_w = cfg.enc.width; in_h = cfg.enc.height; }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    dream_err_t err = {{0}};
    stream_t *s = stream_new(&cfg, &err);
    if (!s) { dlog_error("demo", "%s", err.msg); return 1; }
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) { fprintf(f, "%d\n", stream_port(s)); fclose(f); }
    }
    stream_status_t st = {.workers = 0, .keyframe_rate = 0, .fps = 0, .untrained = untrained};
    snprintf(st.model, sizeof st.model, "synthetic demo (no network)%s", untrained ? ", untrained" : "");
    stream_set_status(s, &st);

    float sinlut[1024];
    for (int i = 0; i < 1024; i++) sinlut[i] = sinf((float)i * 6.2831853f / 1024.0f);
    uint8_t *rgb = malloc((size_t)in_w * in_h * 3);
    if (!rgb) { dlog_error("demo", "out of memory"); stream_destroy(&s); return 1; }
    double t0 = dream_now_s(), next = t0, period = 1.0 / cfg.enc.fps, last_log = t0;
    for (int t = 0; !g_stop; t++) {
        if (duration > 0 && dream_now_s() - t0 >= duration) break;
        int ids[DREAM_MAX_SUBJECTS];
        int n = stream_current_subjects(s, ids, DREAM_MAX_SUBJECTS);
        draw(rgb, in_w, in_h, t, n > 0 ? ids[0] : 0, sinlut);
        stream_push_frame(s, rgb, in_w, in_h);
        next += period;
        double now = dream_now_s();
        if (next > now) {
            struct timespec ts = {(time_t)(next - now), (long)((next - now - (time_t)(next - now)) * 1e9)};
            nanosleep(&ts, NULL);
        } else if (now - next > 1.0) {
            next = now;   /* fell far behind: do not try to catch up */
        }
        if (now - last_log >= 10.0) {
            stream_stats_t ss;
            stream_get_stats(s, &ss);
            dlog_info("demo", "frames %llu (dropped %llu), encode %.1f ms, viewers %d, sent %.1f MB, fallbacks %llu",
                      (unsigned long long)ss.frames_encoded, (unsigned long long)ss.frames_dropped, ss.encode_ms_avg,
                      ss.viewers, ss.bytes_sent / 1e6, (unsigned long long)ss.viewer_fallbacks);
            last_log = now;
        }
    }
    /* let the encoder finish the frames already pushed (at most 2 s), so that the counts
     * printed are those of the recording stream_destroy() closes */
    stream_stats_t ss;
    for (double t_end = dream_now_s() + 2.0;;) {
        stream_get_stats(s, &ss);
        if (ss.frames_encoded + ss.frames_dropped >= ss.frames_in || dream_now_s() > t_end) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("{\"frames_in\":%llu,\"frames_encoded\":%llu,\"frames_dropped\":%llu,\"keyframes\":%llu,"
           "\"encode_ms_avg\":%.2f,\"bytes_sent\":%llu,\"viewers_total\":%llu,\"viewer_fallbacks\":%llu}\n",
           (unsigned long long)ss.frames_in, (unsigned long long)ss.frames_encoded, (unsigned long long)ss.frames_dropped,
           (unsigned long long)ss.keyframes, ss.encode_ms_avg, (unsigned long long)ss.bytes_sent,
           (unsigned long long)ss.viewers_total, (unsigned long long)ss.viewer_fallbacks);
    fflush(stdout);
    stream_destroy(&s);
    free(rgb);
    return 0;
}
