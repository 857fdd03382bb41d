/*
 * encode_bench.c — VP9 encoder throughput (server/encoder.c) on dream-like frames: detailed
 * textures that drift, zoom and change, like the deep-dream stream (not flat test patterns).
 *   encode_bench [--size 1024x576] [--frames 150] [--fps 25] [--bitrate 2500] [--speed 8]
 *                [--threads N]
 * Prints one JSON line: fps (frames encoded per second of wall time), mean/max ms per frame,
 * kbps produced at the nominal fps, keyframes.
 * Build: see bench/stream_bench.sh (links build/lib/libserver.a + libcommon.a + libvpx).
 */
#include "encoder.h"
#include "config.h"
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

typedef struct { uint64_t bytes; int keys; } acc_t;
static void on_pkt(const encoder_packet_t *p, void *ud) {
    acc_t *a = ud;
    a->bytes += p->len;
    a->keys += p->keyframe;
}

int main(int argc, char **argv) {
    encoder_config_t cfg;
    encoder_config_defaults(&cfg);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.threads = n < 1 ? 1 : n > 8 ? 8 : (int)n;
    int frames = 150;
    static const struct option opts[] = {
        {"size", 1, 0, 's'}, {"frames", 1, 0, 'n'}, {"fps", 1, 0, 'f'}, {"bitrate", 1, 0, 'b'},
        {"speed", 1, 0, 'c'}, {"threads", 1, 0, 't'}, {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's': if (dream_parse_size(optarg, &cfg.width, &cfg.height) != 0) { fprintf(stderr, "bad --size\n"); return 2; } break;
        case 'n': frames = atoi(optarg); break;
        case 'f': cfg.fps = atoi(optarg); break;
        case 'b': cfg.bitrate_kbps = atoi(optarg); break;
        case 'c': cfg.cpu_used = atoi(optarg); break;
        case 't': cfg.threads = atoi(optarg); break;
        default: fprintf(stderr, "usage: encode_bench [--size WxH] [--frames N] [--fps N] [--bitrate K] [--speed S] [--threads T]\n"); return 2;
        }
    }
    dream_err_t err = {{0}};
    encoder_t *e = encoder_new(&cfg, &err);
    if (!e) { fprintf(stderr, "encode_bench: %s\n", err.msg); return 1; }
    const int W = cfg.width, H = cfg.height;
    /* a detailed base texture (sum of octaves of hashed noise), then zoomed + shifted per frame */
    const int T = 512;
    float *tex = malloc(sizeof *tex * T * T * 3);
    uint32_t seed = 12345;
    for (int i = 0; i < T * T * 3; i++) { seed = seed * 1664525u + 1013904223u; tex[i] = (float)(seed >> 24); }
    for (int pass = 0; pass < 2; pass++)   /* blur a little: structured detail, not white noise */
        for (int y = 1; y < T - 1; y++)
            for (int x = 1; x < T - 1; x++)
                for (int c = 0; c < 3; c++) {
                    float *p = &tex[(y * T + x) * 3 + c];
                    *p = (p[0] * 4 + p[3] + p[-3] + p[T * 3] + p[-T * 3]) / 8.0f;
                }
    uint8_t *rgb = malloc((size_t)W * H * 3);
    acc_t acc = {0};
    double total = 0, worst = 0;
    for (int f = 0; f < frames; f++) {
        float zoom = 1.0f + 0.004f * f, ang = 0.002f * f, ca = cosf(ang) / zoom, sa = sinf(ang) / zoom;
        for (int y = 0; y < H; y++) {
            float fy = (float)y - H / 2;
            for (int x = 0; x < W; x++) {
                float fx = (float)x - W / 2;
                int u = ((int)(ca * fx - sa * fy) + 4 * T) % T, v = ((int)(sa * fx + ca * fy) + 4 * T) % T;
                const float *t = &tex[(v * T + u) * 3];
                uint8_t *o = rgb + ((size_t)y * W + x) * 3;
                o[0] = (uint8_t)t[0];
                o[1] = (uint8_t)t[1];
                o[2] = (uint8_t)(t[2] * 0.5f + 60.0f * (1.0f + sinf(0.02f * x + 0.1f * f)));
            }
        }
        double t0 = now_ms();
        if (encoder_encode_rgb(e, rgb, 0, on_pkt, &acc, &err) < 0) { fprintf(stderr, "encode_bench: %s\n", err.msg); return 1; }
        double dt = now_ms() - t0;
        total += dt;
        if (dt > worst) worst = dt;
    }
    printf("{\"size\":\"%dx%d\",\"frames\":%d,\"speed\":%d,\"threads\":%d,\"bitrate_kbps\":%d,\"fps\":%.1f,"
           "\"ms_mean\":%.2f,\"ms_max\":%.2f,\"kbps_out\":%.0f,\"keyframes\":%d}\n",
           W, H, frames, cfg.cpu_used, cfg.threads, cfg.bitrate_kbps, frames / (total / 1000.0), total / frames, worst,
           acc.bytes * 8.0 / 1000.0 / (frames / (double)cfg.fps), acc.keys);
    free(rgb);
    free(tex);
    encoder_destroy(&e);
    return 0;
}
