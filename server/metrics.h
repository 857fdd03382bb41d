/*
 * metrics.h — GET /metrics in the Prometheus text format (version 0.0.4).
 *
 * Two threads feed it: the coordinator publishes its block (keyframes, workers by state,
 * per-worker tiles/failures/speed, requeues, queue length, untrained flag) once a second with
 * metrics_publish_coord(), and observes keyframe and tile durations into histograms; the
 * page's service thread (or the --metrics-bind thread) renders that block plus the stream's
 * live counters (viewers, encoder, bytes sent, requests by outcome) on every scrape.
 * Process-wide (one dreamd per process); every function is thread-safe.
 *
 *   coord thread:  metrics_observe_keyframe_ms(ms); metrics_observe_tile_ms(ms);
 *                  metrics_publish_coord(c)                  (every second)
 *   HTTP thread:   char *t = metrics_render(stream, &len);   (malloc'd)
 *   dreamd:        metrics_serve_start("127.0.0.1:9100", stream, &err)  (--metrics-bind)
 */
#ifndef DREAM_METRICS_H
#define DREAM_METRICS_H
#include <stddef.h>
#include "dlog.h"

struct stream;
struct coord;

void metrics_observe_keyframe_ms(double ms);
void metrics_observe_tile_ms(double ms);
void metrics_count_request(int http_status);    /* POST /api/request outcomes */
/* Renders the coordinator's block now (coordinator thread) and keeps it for scrapes. */
void metrics_publish_coord(struct coord *c);
/* The whole exposition (malloc'd, *len set); s may be NULL. */
char *metrics_render(struct stream *s, size_t *len);
/* 1 unless metrics_serve_start() moved /metrics off the public port. */
int metrics_on_public_port(void);
/* Serves GET /metrics on "HOST:PORT" from its own thread (plain HTTP, one request per
 * connection). Returns 0, or -1 with err (bad address, bind failed). */
int metrics_serve_start(const char *bind, struct stream *s, dream_err_t *err);
void metrics_serve_stop(void);
/* Escapes a label value (\\, ", newline) into out. */
void metrics_escape_label(const char *in, char *out, size_t n);

#endif
