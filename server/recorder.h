/*
 * recorder.h — writes the encoded VP9 stream to a file: IVF (plain), or WebM (libavformat's
 * matroska muxer) when the name ends in ".webm". Packets are written as they come; the file
 * is finalised (IVF frame count, WebM cues/duration) by recorder_close().
 */
#ifndef DREAM_RECORDER_H
#define DREAM_RECORDER_H
#include <stdint.h>
#include <stddef.h>
#include "dlog.h"

typedef struct recorder recorder_t;

recorder_t *recorder_open(const char *path, int width, int height, int fps, dream_err_t *err);
/* pts in frames (1/fps). Returns 0 or -1 (write error; the recorder stops writing). */
int recorder_write(recorder_t *r, const uint8_t *data, size_t len, int keyframe, int64_t pts, dream_err_t *err);
/* Finalises and closes; NULL-safe, clears *r. Returns 0 or -1 if finalising failed. */
int recorder_close(recorder_t **r, dream_err_t *err);
uint64_t recorder_frames(const recorder_t *r);
int recorder_is_webm(const char *path);

#endif
