/*
 * test_encoder.c — VP9 encoder: round trip through libvpx's decoder (PSNR), keyframe spacing,
 * config validation, colour conversion and resize helpers, codec strings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vp8dx.h>
#include <stdio.h>
#include <unistd.h>
#include <libavformat/avformat.h>
#include "encoder.h"
#include "recorder.h"
#include "ws_webm.h"

static int quick(void) { return getenv("DREAM_TEST_QUICK") != NULL; }

/* A smooth moving pattern with some texture: what a dream roughly looks like to an encoder. */
static void make_frame(uint8_t *rgb, int w, int h, int t) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            double fx = x + 2.0 * t, fy = y + 1.0 * t;
            p[0] = (uint8_t)(128 + 100 * sin(fx * 0.05) * cos(fy * 0.03));
            p[1] = (uint8_t)(128 + 90 * sin((fx + fy) * 0.02));
            p[2] = (uint8_t)((x * 255) / w);
        }
}

typedef struct {
    vpx_codec_ctx_t dec;
    int frames, keys, first_key, last_key_at, max_key_gap;
    double psnr_sum, psnr_min;
    uint8_t *ref_y;
    int w, h;
} rt_t;

static double psnr_plane(const uint8_t *a, int as, const uint8_t *b, int bs, int w, int h) {
    double se = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double d = (double)a[(size_t)y * as + x] - b[(size_t)y * bs + x];
            se += d * d;
        }
    double mse = se / ((double)w * h);
    return mse <= 1e-10 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

static void on_packet(const encoder_packet_t *p, void *ud) {
    rt_t *rt = ud;
    if (rt->frames == 0) rt->first_key = p->keyframe;
    if (p->keyframe) {
        if (rt->keys > 0 && rt->frames - rt->last_key_at > rt->max_key_gap) rt->max_key_gap = rt->frames - rt->last_key_at;
        rt->keys++;
        rt->last_key_at = rt->frames;
    }
    assert_int_equal(vpx_codec_decode(&rt->dec, p->data, (unsigned)p->len, NULL, 0), VPX_CODEC_OK);
    vpx_codec_iter_t it = NULL;
    vpx_image_t *img = vpx_codec_get_frame(&rt->dec, &it);
    assert_non_null(img);
    assert_int_equal((int)img->d_w, rt->w);
    assert_int_equal((int)img->d_h, rt->h);
    double ps = psnr_plane(img->planes[VPX_PLANE_Y], img->stride[VPX_PLANE_Y], rt->ref_y, rt->w, rt->w, rt->h);
    rt->psnr_sum += ps;
    if (ps < rt->psnr_min) rt->psnr_min = ps;
    rt->frames++;
}

static void test_roundtrip_psnr(void **state) {
    (void)state;
    const int w = 320, h = 240, n = quick() ? 12 : 40;
    encoder_config_t cfg;
    encoder_config_defaults(&cfg);
    cfg.width = w; cfg.height = h; cfg.fps = 10; cfg.bitrate_kbps = 1500; cfg.keyframe_max_s = 1.0;
    dream_err_t err = {{0}};
    encoder_t *e = encoder_new(&cfg, &err);
    assert_non_null(e);
    rt_t rt = {.w = w, .h = h, .psnr_min = 1e9};
    assert_int_equal(vpx_codec_dec_init(&rt.dec, vpx_codec_vp9_dx(), NULL, 0), VPX_CODEC_OK);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    rt.ref_y = malloc((size_t)w * h);
    uint8_t *u = malloc((size_t)w * h / 4), *v = malloc((size_t)w * h / 4);
    for (int t = 0; t < n; t++) {
        make_frame(rgb, w, h, t);
        encoder_rgb_to_i420(rgb, w, h, rt.ref_y, w, u, w / 2, v, w / 2);
        int np = encoder_encode_rgb(e, rgb, 0, on_packet, &rt, &err);
        assert_int_equal(np, 1);
    }
    double avg = rt.psnr_sum / rt.frames;
    print_message("# frames %d, keyframes %d, PSNR avg %.2f dB min %.2f dB, max key gap %d\n",
                  rt.frames, rt.keys, avg, rt.psnr_min, rt.max_key_gap);
    assert_int_equal(rt.frames, n);
    assert_true(rt.first_key);
    assert_true(avg > 30.0);
    assert_true(rt.psnr_min > 25.0);
    /* keyframe at least every keyframe_max_s * fps = 10 frames */
    assert_true(rt.keys >= (n - 1) / 10);
    assert_true(rt.max_key_gap <= 10);
    assert_true(n - 1 - rt.last_key_at <= 10);
    /* forced keyframe */
    int before = rt.keys;
    make_frame(rgb, w, h, n);
    encoder_rgb_to_i420(rgb, w, h, rt.ref_y, w, u, w / 2, v, w / 2);
    assert_int_equal(encoder_encode_rgb(e, rgb, 1, on_packet, &rt, &err), 1);
    assert_int_equal(rt.keys, before + 1);
    vpx_codec_destroy(&rt.dec);
    free(rgb); free(rt.ref_y); free(u); free(v);
    encoder_destroy(&e);
    assert_null(e);
    encoder_destroy(&e);   /* NULL-safe */
}

static void test_bad_config(void **state) {
    (void)state;
    encoder_config_t cfg;
    dream_err_t err = {{0}};
    encoder_config_defaults(&cfg);
    cfg.width = 1023;
    assert_null(encoder_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "even"));
    encoder_config_defaults(&cfg);
    cfg.cpu_used = 2;
    assert_null(encoder_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "cpu-used"));
    encoder_config_defaults(&cfg);
    cfg.bitrate_kbps = 0;
    assert_null(encoder_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "bitrate"));
    assert_null(encoder_new(NULL, &err));
}

static void test_colour(void **state) {
    (void)state;
    /* uniform colours map to the BT.601 limited-range values */
    uint8_t rgb[4 * 4 * 3], y[16], u[4], v[4];
    struct { uint8_t r, g, b, y, u, v; } c[] = {
        {0, 0, 0, 16, 128, 128}, {255, 255, 255, 235, 128, 128},
        {255, 0, 0, 82, 90, 240}, {0, 0, 255, 41, 240, 110},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        for (int i = 0; i < 16; i++) { rgb[i * 3] = c[k].r; rgb[i * 3 + 1] = c[k].g; rgb[i * 3 + 2] = c[k].b; }
        encoder_rgb_to_i420(rgb, 4, 4, y, 4, u, 2, v, 2);
        for (int i = 0; i < 16; i++) assert_in_range(y[i], c[k].y - 1, c[k].y + 1);
        for (int i = 0; i < 4; i++) {
            assert_in_range(u[i], c[k].u - 1, c[k].u + 1);
            assert_in_range(v[i], c[k].v - 1, c[k].v + 1);
        }
    }
}

static void test_resize(void **state) {
    (void)state;
    /* uniform stays uniform; a horizontal ramp stays monotonic */
    int sw = 64, sh = 36, dw = 100, dh = 50;
    uint8_t *src = malloc((size_t)sw * sh * 3), *dst = malloc((size_t)dw * dh * 3);
    memset(src, 77, (size_t)sw * sh * 3);
    encoder_resize_rgb(src, sw, sh, dst, dw, dh);
    for (int i = 0; i < dw * dh * 3; i++) assert_int_equal(dst[i], 77);
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) src[(y * sw + x) * 3] = (uint8_t)(x * 4);
    encoder_resize_rgb(src, sw, sh, dst, dw, dh);
    for (int x = 1; x < dw; x++) assert_true(dst[(10 * dw + x) * 3] >= dst[(10 * dw + x - 1) * 3]);
    assert_true(dst[0] <= 2);
    assert_true(dst[(dw - 1) * 3] >= 250);
    free(src); free(dst);
}

static void test_codec_string(void **state) {
    (void)state;
    char b[32];
    encoder_codec_string(1024, 576, 25, b, sizeof b);
    assert_string_equal(b, "vp09.00.31.08");
    encoder_codec_string(1280, 720, 25, b, sizeof b);
    assert_string_equal(b, "vp09.00.31.08");
    encoder_codec_string(1920, 1080, 25, b, sizeof b);
    assert_string_equal(b, "vp09.00.40.08");
    encoder_codec_string(320, 240, 25, b, sizeof b);
    assert_string_equal(b, "vp09.00.20.08");
}

typedef struct { recorder_t *ivf, *webm; int keys; } rec_t;
static void on_rec(const encoder_packet_t *p, void *ud) {
    rec_t *r = ud;
    dream_err_t err = {{0}};
    assert_int_equal(recorder_write(r->ivf, p->data, p->len, p->keyframe, p->pts, &err), 0);
    assert_int_equal(recorder_write(r->webm, p->data, p->len, p->keyframe, p->pts, &err), 0);
    r->keys += p->keyframe;
}

static void test_recorder(void **state) {
    (void)state;
    const int w = 160, h = 96, n = 25;
    char ivf[] = "/tmp/dream-rec-XXXXXX", webm[64];
    int fd = mkstemp(ivf);
    assert_true(fd >= 0);
    close(fd);
    snprintf(webm, sizeof webm, "%s.webm", ivf);
    assert_true(recorder_is_webm(webm));
    assert_false(recorder_is_webm(ivf));
    dream_err_t err = {{0}};
    encoder_config_t cfg;
    encoder_config_defaults(&cfg);
    cfg.width = w; cfg.height = h; cfg.fps = 10; cfg.bitrate_kbps = 300; cfg.keyframe_max_s = 1.0;
    encoder_t *e = encoder_new(&cfg, &err);
    assert_non_null(e);
    rec_t r = {0};
    r.ivf = recorder_open(ivf, w, h, 10, &err);
    assert_non_null(r.ivf);
    r.webm = recorder_open(webm, w, h, 10, &err);
    assert_non_null(r.webm);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int t = 0; t < n; t++) { make_frame(rgb, w, h, t); assert_int_equal(encoder_encode_rgb(e, rgb, 0, on_rec, &r, &err), 1); }
    assert_int_equal(recorder_frames(r.ivf), n);
    assert_int_equal(recorder_close(&r.ivf, &err), 0);
    assert_null(r.ivf);
    assert_int_equal(recorder_close(&r.webm, &err), 0);
    /* IVF: header says VP90, size, frame count; then n frames */
    FILE *f = fopen(ivf, "rb");
    uint8_t hd[32];
    assert_int_equal(fread(hd, 1, 32, f), 32);
    assert_memory_equal(hd, "DKIF", 4);
    assert_memory_equal(hd + 8, "VP90", 4);
    assert_int_equal(hd[12] | hd[13] << 8, w);
    assert_int_equal(hd[14] | hd[15] << 8, h);
    assert_int_equal(hd[24] | hd[25] << 8, n);
    int frames = 0;
    uint8_t fh[12];
    while (fread(fh, 1, 12, f) == 12) {
        uint32_t len = (uint32_t)fh[0] | (uint32_t)fh[1] << 8 | (uint32_t)fh[2] << 16 | (uint32_t)fh[3] << 24;
        assert_true(len > 0 && len < 1000000);
        assert_int_equal(fseek(f, len, SEEK_CUR), 0);
        frames++;
    }
    fclose(f);
    assert_int_equal(frames, n);
    /* WebM: libavformat reads it back as one VP9 stream with n packets */
    AVFormatContext *ic = NULL;
    assert_int_equal(avformat_open_input(&ic, webm, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(ic, NULL) >= 0);
    assert_int_equal(ic->nb_streams, 1);
    assert_int_equal(ic->streams[0]->codecpar->codec_id, AV_CODEC_ID_VP9);
    assert_int_equal(ic->streams[0]->codecpar->width, w);
    AVPacket *pkt = av_packet_alloc();
    int np = 0, nk = 0;
    while (av_read_frame(ic, pkt) >= 0) { np++; nk += (pkt->flags & AV_PKT_FLAG_KEY) != 0; av_packet_unref(pkt); }
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    assert_int_equal(np, n);
    assert_int_equal(nk, r.keys);
    unlink(ivf);
    unlink(webm);
    /* errors */
    assert_null(recorder_open("/nonexistent-dir/x.ivf", w, h, 10, &err));
    assert_null(recorder_open("/nonexistent-dir/x.webm", w, h, 10, &err));
    assert_non_null(strstr(err.msg, "x.webm"));
    free(rgb);
    encoder_destroy(&e);
}

typedef struct { FILE *f; int64_t cluster; int keys, n, fps; } live_t;
static void on_live(const encoder_packet_t *p, void *ud) {
    live_t *l = ud;
    uint8_t *buf = malloc(p->len + WS_WEBM_FRAME_OVERHEAD);
    size_t n = ws_webm_frame(buf, p->len + WS_WEBM_FRAME_OVERHEAD, p->data, p->len, p->keyframe,
                             p->pts * 1000 / l->fps, &l->cluster);
    assert_true(n > p->len);
    assert_int_equal(fwrite(buf, 1, n, l->f), n);
    /* too small a buffer is refused, not overrun */
    assert_int_equal(ws_webm_frame(buf, p->len, p->data, p->len, p->keyframe, 0, &(int64_t){-1}), 0);
    free(buf);
    l->keys += p->keyframe;
    l->n++;
}

/* the live WebM byte stream (MSE viewers) parses as WebM: libavformat reads every frame back */
static void test_live_webm(void **state) {
    (void)state;
    const int w = 160, h = 96, n = 25, fps = 10;
    char path[] = "/tmp/dream-live-XXXXXX.webm";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    close(fd);
    live_t l = {.cluster = -1, .fps = fps};
    l.f = fopen(path, "wb");
    uint8_t init[WS_WEBM_INIT_MAX];
    size_t in = ws_webm_init_segment(init, sizeof init, w, h);
    assert_true(in > 40);
    assert_memory_equal(init, "\x1a\x45\xdf\xa3", 4);
    assert_int_equal(ws_webm_init_segment(init, 20, w, h), 0);
    fwrite(init, 1, in, l.f);
    dream_err_t err = {{0}};
    encoder_config_t cfg;
    encoder_config_defaults(&cfg);
    cfg.width = w; cfg.height = h; cfg.fps = fps; cfg.bitrate_kbps = 300; cfg.keyframe_max_s = 1.0;
    encoder_t *e = encoder_new(&cfg, &err);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int t = 0; t < n; t++) { make_frame(rgb, w, h, t); encoder_encode_rgb(e, rgb, 0, on_live, &l, &err); }
    fclose(l.f);
    AVFormatContext *ic = NULL;
    assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(ic, NULL) >= 0);
    assert_int_equal(ic->streams[0]->codecpar->codec_id, AV_CODEC_ID_VP9);
    assert_int_equal(ic->streams[0]->codecpar->width, w);
    AVPacket *pkt = av_packet_alloc();
    int np = 0, nk = 0;
    int64_t last = -1;
    while (av_read_frame(ic, pkt) >= 0) {
        int64_t ms = av_rescale_q(pkt->pts, ic->streams[0]->time_base, (AVRational){1, 1000});
        assert_int_equal(ms, np * 1000 / fps);
        assert_true(ms > last);
        last = ms;
        np++;
        nk += (pkt->flags & AV_PKT_FLAG_KEY) != 0;
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    assert_int_equal(np, n);
    assert_int_equal(nk, l.keys);
    assert_true(l.keys >= 3);
    unlink(path);
    free(rgb);
    encoder_destroy(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_psnr),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_colour),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_codec_string),
        cmocka_unit_test(test_recorder),
        cmocka_unit_test(test_live_webm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
