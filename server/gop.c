/*
 * gop.c — shared packets, GOP cache, bounded per-viewer queues (see gop.h).
 */
#include "gop.h"
#include <stdlib.h>
#include <string.h>

gop_packet_t *gop_packet_new(const void *data, size_t len, size_t headroom, int keyframe, uint32_t seq) {
    if (len > (64u << 20) || headroom > 4096) return NULL;
    gop_packet_t *p = malloc(sizeof *p + headroom + len);
    if (!p) return NULL;
    p->refs = 1;
    p->keyframe = keyframe;
    p->seq = seq;
    p->headroom = headroom;
    p->len = len;
    p->payload = p->buf + headroom;
    if (data) memcpy(p->payload, data, len);
    else memset(p->payload, 0, len);
    return p;
}

gop_packet_t *gop_packet_ref(gop_packet_t *p) {
    if (p) p->refs++;
    return p;
}

void gop_packet_unref(gop_packet_t **pp) {
    if (!pp || !*pp) return;
    if (--(*pp)->refs <= 0) free(*pp);
    *pp = NULL;
}

struct gop_cache {
    int max, n;
    size_t bytes;
    gop_packet_t **pk;
};

gop_cache_t *gop_cache_new(int max_packets) {
    if (max_packets < 1) max_packets = 1;
    gop_cache_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->pk = calloc((size_t)max_packets, sizeof *c->pk);
    if (!c->pk) { free(c); return NULL; }
    c->max = max_packets;
    return c;
}

static void cache_clear(gop_cache_t *c) {
    for (int i = 0; i < c->n; i++) gop_packet_unref(&c->pk[i]);
    c->n = 0;
    c->bytes = 0;
}

void gop_cache_destroy(gop_cache_t **pc) {
    if (!pc || !*pc) return;
    cache_clear(*pc);
    free((*pc)->pk);
    free(*pc);
    *pc = NULL;
}

void gop_cache_push(gop_cache_t *c, gop_packet_t *p) {
    if (!c || !p) return;
    if (p->keyframe) cache_clear(c);
    else if (c->n == 0) return;                 /* no keyframe to start from */
    else if (c->n >= c->max) { cache_clear(c); return; }
    c->pk[c->n++] = gop_packet_ref(p);
    c->bytes += p->len;
}

int gop_cache_count(const gop_cache_t *c) { return c ? c->n : 0; }
gop_packet_t *gop_cache_get(const gop_cache_t *c, int i) { return c && i >= 0 && i < c->n ? c->pk[i] : NULL; }
size_t gop_cache_bytes(const gop_cache_t *c) { return c ? c->bytes : 0; }

struct gop_queue {
    int max, head, n;
    int waiting;
    uint64_t fallbacks;
    gop_packet_t **pk;          /* ring */
};

gop_queue_t *gop_queue_new(int max_packets) {
    if (max_packets < 2) max_packets = 2;
    gop_queue_t *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->pk = calloc((size_t)max_packets, sizeof *q->pk);
    if (!q->pk) { free(q); return NULL; }
    q->max = max_packets;
    q->waiting = 1;
    return q;
}

static void queue_clear(gop_queue_t *q) {
    while (q->n > 0) gop_queue_pop(q);
}

void gop_queue_destroy(gop_queue_t **pq) {
    if (!pq || !*pq) return;
    queue_clear(*pq);
    free((*pq)->pk);
    free(*pq);
    *pq = NULL;
}

static void queue_append(gop_queue_t *q, gop_packet_t *p) {
    q->pk[(q->head + q->n) % q->max] = gop_packet_ref(p);
    q->n++;
}

void gop_queue_join(gop_queue_t *q, const gop_cache_t *c) {
    if (!q) return;
    queue_clear(q);
    q->waiting = 1;
    int n = gop_cache_count(c);
    if (n == 0 || n >= q->max) return;          /* wait for the next keyframe */
    for (int i = 0; i < n; i++) queue_append(q, c->pk[i]);
    q->waiting = 0;
}

int gop_queue_push(gop_queue_t *q, gop_packet_t *p) {
    if (!q || !p) return 0;
    int fell = 0;
    if (!q->waiting && q->n >= q->max) {
        queue_clear(q);
        q->waiting = 1;
        q->fallbacks++;
        fell = 1;
    }
    if (q->waiting) {
        if (!p->keyframe) return fell;
        q->waiting = 0;
        queue_clear(q);
    }
    queue_append(q, p);
    return fell;
}

gop_packet_t *gop_queue_peek(const gop_queue_t *q) { return q && q->n > 0 ? q->pk[q->head] : NULL; }

void gop_queue_pop(gop_queue_t *q) {
    if (!q || q->n == 0) return;
    gop_packet_unref(&q->pk[q->head]);
    q->head = (q->head + 1) % q->max;
    q->n--;
}

int gop_queue_count(const gop_queue_t *q) { return q ? q->n : 0; }
int gop_queue_waiting(const gop_queue_t *q) { return q ? q->waiting : 1; }
uint64_t gop_queue_fallbacks(const gop_queue_t *q) { return q ? q->fallbacks : 0; }
