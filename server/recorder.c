/*
 * recorder.c — IVF and WebM (libavformat) recording of the VP9 stream (see recorder.h).
 */
#include "recorder.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>

struct recorder {
    int webm;
    int width, height, fps;
    uint64_t frames;
    int failed;
    /* IVF */
    FILE *f;
    /* WebM */
    AVFormatContext *oc;
    AVStream *st;
    AVPacket *pkt;
    int header_done;
};

int recorder_is_webm(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n >= 5 && strcasecmp(path + n - 5, ".webm") == 0;
}

static void put_le16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static int ivf_header(recorder_t *r) {
    uint8_t h[32] = {'D', 'K', 'I', 'F'};
    put_le16(h + 4, 0);
    put_le16(h + 6, 32);
    memcpy(h + 8, "VP90", 4);
    put_le16(h + 12, (unsigned)r->width);
    put_le16(h + 14, (unsigned)r->height);
    put_le32(h + 16, (uint32_t)r->fps);     /* timebase denominator (rate) */
    put_le32(h + 20, 1);                    /* numerator (scale) */
    put_le32(h + 24, (uint32_t)r->frames);
    put_le32(h + 28, 0);
    return fwrite(h, 1, 32, r->f) == 32 ? 0 : -1;
}

static const char *averr(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

recorder_t *recorder_open(const char *path, int width, int height, int fps, dream_err_t *err) {
    if (!path || !*path) { dream_err_set(err, "recorder: no file name"); return NULL; }
    if (width < 1 || height < 1 || width > 65535 || height > 65535 || fps < 1) {
        dream_err_set(err, "recorder: bad size %dx%d or fps %d", width, height, fps);
        return NULL;
    }
    recorder_t *r = calloc(1, sizeof *r);
    if (!r) { dream_err_set(err, "recorder: out of memory"); return NULL; }
    r->width = width; r->height = height; r->fps = fps;
    r->webm = recorder_is_webm(path);
    char eb[128];
    if (!r->webm) {
        r->f = fopen(path, "wb");
        if (!r->f) { dream_err_set(err, "recorder: cannot create %s", path); free(r); return NULL; }
        if (ivf_header(r) < 0) { dream_err_set(err, "recorder: write to %s failed", path); fclose(r->f); free(r); return NULL; }
        return r;
    }
    int rc = avformat_alloc_output_context2(&r->oc, NULL, "webm", path);
    if (rc < 0 || !r->oc) { dream_err_set(err, "recorder: webm muxer: %s", averr(rc, eb, sizeof eb)); goto fail; }
    r->st = avformat_new_stream(r->oc, NULL);
    if (!r->st) { dream_err_set(err, "recorder: cannot add a stream"); goto fail; }
    r->st->time_base = (AVRational){1, fps};
    r->st->avg_frame_rate = (AVRational){fps, 1};
    r->st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    r->st->codecpar->codec_id = AV_CODEC_ID_VP9;
    r->st->codecpar->width = width;
    r->st->codecpar->height = height;
    r->st->codecpar->format = AV_PIX_FMT_YUV420P;
    r->st->codecpar->color_range = AVCOL_RANGE_MPEG;
    r->st->codecpar->color_space = AVCOL_SPC_SMPTE170M;
    rc = avio_open(&r->oc->pb, path, AVIO_FLAG_WRITE);
    if (rc < 0) { dream_err_set(err, "recorder: cannot create %s: %s", path, averr(rc, eb, sizeof eb)); goto fail; }
    rc = avformat_write_header(r->oc, NULL);
    if (rc < 0) { dream_err_set(err, "recorder: webm header: %s", averr(rc, eb, sizeof eb)); goto fail; }
    r->header_done = 1;
    r->pkt = av_packet_alloc();
    if (!r->pkt) { dream_err_set(err, "recorder: out of memory"); goto fail; }
    return r;
fail:
    if (r->oc) {
        if (r->oc->pb) avio_closep(&r->oc->pb);
        avformat_free_context(r->oc);
    }
    av_packet_free(&r->pkt);
    free(r);
    return NULL;
}

int recorder_write(recorder_t *r, const uint8_t *data, size_t len, int keyframe, int64_t pts, dream_err_t *err) {
    if (!r) return dream_err_set(err, "recorder: closed");
    if (r->failed) return dream_err_set(err, "recorder: stopped after an earlier write error");
    if (len > (64u << 20)) return dream_err_set(err, "recorder: packet of %zu bytes too large", len);
    if (!r->webm) {
        uint8_t h[12];
        put_le32(h, (uint32_t)len);
        put_le64(h + 4, (uint64_t)pts);
        if (fwrite(h, 1, 12, r->f) != 12 || fwrite(data, 1, len, r->f) != len) {
            r->failed = 1;
            return dream_err_set(err, "recorder: write failed (disk full?)");
        }
        r->frames++;
        return 0;
    }
    char eb[128];
    int rc = av_new_packet(r->pkt, (int)len);
    if (rc < 0) return dream_err_set(err, "recorder: out of memory");
    memcpy(r->pkt->data, data, len);
    r->pkt->pts = r->pkt->dts = av_rescale_q(pts, (AVRational){1, r->fps}, r->st->time_base);
    r->pkt->duration = av_rescale_q(1, (AVRational){1, r->fps}, r->st->time_base);
    r->pkt->stream_index = r->st->index;
    if (keyframe) r->pkt->flags |= AV_PKT_FLAG_KEY;
    rc = av_write_frame(r->oc, r->pkt);
    av_packet_unref(r->pkt);
    if (rc < 0) {
        r->failed = 1;
        return dream_err_set(err, "recorder: webm write: %s", averr(rc, eb, sizeof eb));
    }
    r->frames++;
    return 0;
}

int recorder_close(recorder_t **pr, dream_err_t *err) {
    if (!pr || !*pr) return 0;
    recorder_t *r = *pr;
    int rc = 0;
    if (!r->webm) {
        if (fseek(r->f, 0, SEEK_SET) != 0 || ivf_header(r) < 0) rc = dream_err_set(err, "recorder: cannot finalise the IVF header");
        if (fclose(r->f) != 0) rc = dream_err_set(err, "recorder: close failed");
    } else {
        if (r->header_done && av_write_trailer(r->oc) < 0) rc = dream_err_set(err, "recorder: webm trailer failed");
        avio_closep(&r->oc->pb);
        avformat_free_context(r->oc);
        av_packet_free(&r->pkt);
    }
    free(r);
    *pr = NULL;
    return rc;
}

uint64_t recorder_frames(const recorder_t *r) { return r ? r->frames : 0; }
