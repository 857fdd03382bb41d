/*
 * gop.h — shared video packets, the group-of-pictures cache and per-viewer packet queues.
 *
 * A packet is encoded once and shared by every viewer (reference counted, not thread-safe:
 * only the websocket service thread touches packets after they are created). Each packet
 * keeps `headroom` spare bytes in front of its payload (LWS_PRE for lws_write).
 *
 * The GOP cache holds the last keyframe and every delta since, so a viewer that joins
 * starts decoding at once. A viewer queue is bounded: when it is full the viewer has fallen
 * behind; its queue is dropped and it waits for the next keyframe ("fallback"), so a slow
 * viewer never holds up the encoder or anyone else.
 */
#ifndef DREAM_GOP_H
#define DREAM_GOP_H
#include <stdint.h>
#include <stddef.h>

typedef struct gop_packet {
    int refs;
    int keyframe;
    uint32_t seq;               /* frame index */
    size_t headroom;
    size_t len;                 /* payload bytes */
    uint8_t *payload;           /* = buf + headroom */
    uint8_t buf[];
} gop_packet_t;

/* New packet (refs = 1) with `len` payload bytes copied from data (data may be NULL: zeroed). */
gop_packet_t *gop_packet_new(const void *data, size_t len, size_t headroom, int keyframe, uint32_t seq);
gop_packet_t *gop_packet_ref(gop_packet_t *p);
void gop_packet_unref(gop_packet_t **p);   /* frees at 0; NULL-safe, clears *p */

typedef struct gop_cache gop_cache_t;
gop_cache_t *gop_cache_new(int max_packets);
void gop_cache_destroy(gop_cache_t **c);
/* Adds a packet: a keyframe starts a new group. Deltas before the first keyframe, or beyond
 * max_packets, are not kept (the cache is then empty until the next keyframe). */
void gop_cache_push(gop_cache_t *c, gop_packet_t *p);
int gop_cache_count(const gop_cache_t *c);
gop_packet_t *gop_cache_get(const gop_cache_t *c, int i);   /* borrowed; i = 0 is the keyframe */
size_t gop_cache_bytes(const gop_cache_t *c);

typedef struct gop_queue gop_queue_t;
gop_queue_t *gop_queue_new(int max_packets);
void gop_queue_destroy(gop_queue_t **q);
/* Starts a viewer: queues the cached group (if it fits), else waits for the next keyframe. */
void gop_queue_join(gop_queue_t *q, const gop_cache_t *c);
/* Offers a live packet. Returns 1 if the viewer fell behind now (queue dropped, waiting for a
 * keyframe), else 0. A keyframe offered to a waiting viewer is taken. */
int gop_queue_push(gop_queue_t *q, gop_packet_t *p);
gop_packet_t *gop_queue_peek(const gop_queue_t *q);    /* borrowed, NULL if empty */
void gop_queue_pop(gop_queue_t *q);
int gop_queue_count(const gop_queue_t *q);
int gop_queue_waiting(const gop_queue_t *q);           /* 1 = skipping to the next keyframe */
uint64_t gop_queue_fallbacks(const gop_queue_t *q);

#endif
