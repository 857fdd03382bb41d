/*
 * ws_webm.h — live WebM byte stream for Media Source Extensions viewers (browsers without
 * WebCodecs). An init segment (EBML header, Segment of unknown size, Info, Tracks: one V_VP9
 * track) is sent once; then each VP9 frame becomes a SimpleBlock, and every keyframe opens a
 * new Cluster of unknown size (so a viewer can start at any keyframe). Timecodes in ms.
 */
#ifndef DREAM_WS_WEBM_H
#define DREAM_WS_WEBM_H
#include <stdint.h>
#include <stddef.h>

#define WS_WEBM_INIT_MAX 256
#define WS_WEBM_FRAME_OVERHEAD 48          /* cluster header + block header, upper bound */

/* Writes the init segment into out (cap >= WS_WEBM_INIT_MAX); returns its length. */
size_t ws_webm_init_segment(uint8_t *out, size_t cap, int width, int height);

/* Writes one frame (cap >= len + WS_WEBM_FRAME_OVERHEAD): a Cluster start when keyframe (or
 * when the block timecode would overflow), then a SimpleBlock. *cluster_ms carries the current
 * cluster's start between calls (start with -1). Returns bytes written, 0 if cap is too small. */
size_t ws_webm_frame(uint8_t *out, size_t cap, const uint8_t *vp9, size_t len, int keyframe,
                     int64_t pts_ms, int64_t *cluster_ms);

#endif
