/*
 * ws_webm.c — minimal live WebM writer for MSE viewers (see ws_webm.h). EBML sizes use the
 * 8-byte form, "unknown size" (0x01FFFFFFFFFFFFFF) for the Segment and Clusters.
 */
#include "ws_webm.h"
#include <string.h>

typedef struct { uint8_t *p; size_t n, cap; int overflow; } wbuf_t;

static void put(wbuf_t *b, const void *d, size_t n) {
    if (b->n + n > b->cap) { b->overflow = 1; return; }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_id(wbuf_t *b, uint32_t id) {
    uint8_t t[4];
    int k = id > 0xFFFFFF ? 4 : id > 0xFFFF ? 3 : id > 0xFF ? 2 : 1;
    for (int i = 0; i < k; i++) t[i] = (uint8_t)(id >> (8 * (k - 1 - i)));
    put(b, t, (size_t)k);
}
static void put_size8(wbuf_t *b, uint64_t v) {
    uint8_t t[8] = {0x01};
    for (int i = 1; i < 8; i++) t[i] = (uint8_t)(v >> (8 * (7 - i)));
    put(b, t, 8);
}
static void put_unknown(wbuf_t *b) {
    static const uint8_t t[8] = {0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    put(b, t, 8);
}
static void put_uint(wbuf_t *b, uint32_t id, uint64_t v) {
    uint8_t t[8];
    int k = 1;
    while (k < 8 && (v >> (8 * k)) != 0) k++;
    for (int i = 0; i < k; i++) t[i] = (uint8_t)(v >> (8 * (k - 1 - i)));
    put_id(b, id);
    uint8_t sz = (uint8_t)(0x80 | k);
    put(b, &sz, 1);
    put(b, t, (size_t)k);
}
static void put_str(wbuf_t *b, uint32_t id, const char *s) {
    size_t n = strlen(s);
    put_id(b, id);
    uint8_t sz = (uint8_t)(0x80 | n);   /* short strings only (< 127) */
    put(b, &sz, 1);
    put(b, s, n);
}
/* master element with a known size: write the id + placeholder, return the offset of the size */
static size_t open_master(wbuf_t *b, uint32_t id) {
    put_id(b, id);
    size_t at = b->n;
    put_size8(b, 0);
    return at;
}
static void close_master(wbuf_t *b, size_t at) {
    if (b->overflow) return;
    uint64_t size = b->n - at - 8;
    wbuf_t t = {b->p + at, 0, 8, 0};
    put_size8(&t, size);
}

size_t ws_webm_init_segment(uint8_t *out, size_t cap, int width, int height) {
    wbuf_t b = {out, 0, cap, 0};
    size_t ebml = open_master(&b, 0x1A45DFA3);
    put_uint(&b, 0x4286, 1);        /* EBMLVersion */
    put_uint(&b, 0x42F7, 1);        /* EBMLReadVersion */
    put_uint(&b, 0x42F2, 4);        /* EBMLMaxIDLength */
    put_uint(&b, 0x42F3, 8);        /* EBMLMaxSizeLength */
    put_str(&b, 0x4282, "webm");    /* DocType */
    put_uint(&b, 0x4287, 4);        /* DocTypeVersion */
    put_uint(&b, 0x4285, 2);        /* DocTypeReadVersion */
    close_master(&b, ebml);
    put_id(&b, 0x18538067);         /* Segment, unknown size */
    put_unknown(&b);
    size_t info = open_master(&b, 0x1549A966);
    put_uint(&b, 0x2AD7B1, 1000000);    /* TimecodeScale: 1 ms */
    put_str(&b, 0x4D80, "dreamfarm");   /* MuxingApp */
    put_str(&b, 0x5741, "dreamfarm");   /* WritingApp */
    close_master(&b, info);
    size_t tracks = open_master(&b, 0x1654AE6B);
    size_t entry = open_master(&b, 0xAE);
    put_uint(&b, 0xD7, 1);          /* TrackNumber */
    put_uint(&b, 0x73C5, 1);        /* TrackUID */
    put_uint(&b, 0x83, 1);          /* TrackType: video */
    put_uint(&b, 0x9C, 0);          /* FlagLacing */
    put_str(&b, 0x86, "V_VP9");     /* CodecID */
    size_t video = open_master(&b, 0xE0);
    put_uint(&b, 0xB0, (uint64_t)width);
    put_uint(&b, 0xBA, (uint64_t)height);
    close_master(&b, video);
    close_master(&b, entry);
    close_master(&b, tracks);
    return b.overflow ? 0 : b.n;
}

size_t ws_webm_frame(uint8_t *out, size_t cap, const uint8_t *vp9, size_t len, int keyframe,
                     int64_t pts_ms, int64_t *cluster_ms) {
    wbuf_t b = {out, 0, cap, 0};
    int64_t rel = *cluster_ms < 0 ? -1 : pts_ms - *cluster_ms;
    if (keyframe || rel < 0 || rel > 30000) {
        put_id(&b, 0x1F43B675);     /* Cluster, unknown size */
        put_unknown(&b);
        put_uint(&b, 0xE7, (uint64_t)(pts_ms < 0 ? 0 : pts_ms));   /* Timecode */
        *cluster_ms = pts_ms;
        rel = 0;
    }
    put_id(&b, 0xA3);               /* SimpleBlock */
    put_size8(&b, (uint64_t)len + 4);
    uint8_t h[4] = {0x81, (uint8_t)((uint16_t)rel >> 8), (uint8_t)rel, (uint8_t)(keyframe ? 0x80 : 0x00)};
    put(&b, h, 4);
    put(&b, vp9, len);
    return b.overflow ? 0 : b.n;
}
