/*
 * sinks.h — where the coordinator's frames and keyframes go. A sink is a small
 * interface (frame callback + destroy); dreamd attaches a PNG directory sink
 * (--frames-out / --keyframes-out) and, when built with the stream module, the
 * live VP9/WebSocket stream. With an overlay set (dream_sinks_set_overlay) the text is
 * burned in here, once for all the sinks of the set. Sinks are called from the frame clock thread
 * (frames) or the coordinator thread (keyframes); each sink is only ever called
 * from one thread.
 */
#ifndef DREAM_SINKS_H
#define DREAM_SINKS_H
#include <stdint.h>
#include "dlog.h"
#include "image.h"

#define DREAM_SINKS_MAX 8

typedef struct dream_sink {
    char name[32];
    void *ctx;
    /* returns 0, or -1 (logged by the caller, the sink stays attached) */
    int (*frame)(void *ctx, const dream_image_t *im, uint64_t seq, dream_err_t *err);
    void (*destroy)(void *ctx);
} dream_sink_t;

struct overlay;
typedef struct dream_sinks {
    int n;
    dream_sink_t *s[DREAM_SINKS_MAX];
    uint64_t errors;
    struct overlay *overlay;    /* owned; burned into a copy of each frame before any sink */
    dream_image_t *burned;      /* that copy (reused) */
} dream_sinks_t;

/* Writes DIR/<prefix>NNNNNNNN.png for every `every`-th frame (creates DIR). */
dream_sink_t *dream_sink_png_new(const char *dir, const char *prefix, int every, dream_err_t *err);
/* Pushes every frame (as 8-bit RGB) to the live stream (stream.h; not owned). */
struct stream;
dream_sink_t *dream_sink_stream_new(struct stream *st, dream_err_t *err);
void dream_sink_destroy(dream_sink_t **s);

int dream_sinks_add(dream_sinks_t *ss, dream_sink_t *s, dream_err_t *err);
/* Burns the text overlay (overlay.h) into every frame pushed from now on, once, before all
 * sinks (the stream, its recording, PNG frames). Takes ownership; NULL removes it. */
void dream_sinks_set_overlay(dream_sinks_t *ss, struct overlay *ov);
/* Calls every sink; returns the number of sinks that failed. */
int dream_sinks_push(dream_sinks_t *ss, const dream_image_t *im, uint64_t seq);
void dream_sinks_clear(dream_sinks_t *ss);

#endif
