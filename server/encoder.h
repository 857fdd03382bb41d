/*
 * encoder.h — VP9 realtime encoder (libvpx) fed with 8-bit RGB frames.
 *
 * One encoder serves every viewer: frames go in once, compressed packets come out through a
 * callback. Settings follow libvpx's realtime recipe: no lag (g_lag_in_frames 0), CBR,
 * cpu-used 5..9, row-mt, tile columns, error resilient, a keyframe at least every
 * keyframe_max_s seconds. Colour: RGB -> I420 BT.601 limited range (signalled in the stream).
 */
#ifndef DREAM_ENCODER_H
#define DREAM_ENCODER_H
#include <stdint.h>
#include <stddef.h>
#include "config.h"
#include "dlog.h"

typedef struct encoder_config {
    int width, height;          /* even, 16..1920 x 16..1080 (up to 4096 accepted) */
    int fps;                    /* 1..120 */
    int bitrate_kbps;           /* CBR target, 50..50000 */
    int cpu_used;               /* 5..9 */
    double keyframe_max_s;      /* > 0 */
    int threads;                /* 1..16 */
} encoder_config_t;

typedef struct encoder_packet {
    const uint8_t *data;        /* one VP9 frame (superframe) */
    size_t len;
    int keyframe;
    int64_t pts;                /* frame index */
} encoder_packet_t;

typedef void (*encoder_packet_fn)(const encoder_packet_t *pkt, void *ud);

typedef struct encoder encoder_t;

/* The encoder's settings table (bitrate-kbps, encoder-speed: dreamd's options through the
 * stream's table, server/stream.h); its INIT row gives the rest (1024x576 @ 25, 2 s, 2 threads). */
extern const cfg_opt_t encoder_cfg_opts[];
void encoder_config_defaults(encoder_config_t *cfg);   /* = cfg_defaults(encoder_cfg_opts) */
encoder_t *encoder_new(const encoder_config_t *cfg, dream_err_t *err);
void encoder_destroy(encoder_t **e);

/* Encodes one (h, w, 3) RGB frame of the configured size; calls fn for every packet produced
 * (normally exactly one). force_key = 1 asks for a keyframe. Returns number of packets, -1 on error. */
int encoder_encode_rgb(encoder_t *e, const uint8_t *rgb, int force_key, encoder_packet_fn fn,
                       void *ud, dream_err_t *err);

/* "vp09.00.LL.08" for WebCodecs with the level fitting the size and rate. */
void encoder_codec_string(int width, int height, int fps, char *buf, size_t n);

/* RGB (h, w, 3) -> I420 planes, BT.601 limited range, 2x2 chroma averaging. w, h even. */
void encoder_rgb_to_i420(const uint8_t *rgb, int w, int h, uint8_t *y, int ystride, uint8_t *u,
                         int ustride, uint8_t *v, int vstride);
/* Bilinear resize of RGB (sh, sw, 3) -> (dh, dw, 3). */
void encoder_resize_rgb(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* Changes the CBR target and the speed of a running encoder (from the encoding thread). */
int encoder_set_rate(encoder_t *e, int bitrate_kbps, int cpu_used, dream_err_t *err);

#endif
