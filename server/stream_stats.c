/*
 * stream_stats.c — the stream's counters (stream_stats_t) and status, behind smu.
 *
 * Every change to a counter goes through one stream_stat_* call here (one lock, one update,
 * one unlock), so stream_get_stats() always copies a consistent set; nothing else in the
 * stream touches s->stats or s->status without smu.
 */
#include "stream_internal.h"

void stream_stat_add(stream_t *s, uint64_t *counter, uint64_t n) {
    pthread_mutex_lock(&s->smu);
    *counter += n;
    pthread_mutex_unlock(&s->smu);
}

void stream_stat_request(stream_t *s, int accepted) {
    pthread_mutex_lock(&s->smu);
    if (accepted) s->stats.requests_accepted++;
    else s->stats.requests_refused++;
    pthread_mutex_unlock(&s->smu);
}

void stream_stat_viewer(stream_t *s, int delta) {
    pthread_mutex_lock(&s->smu);
    s->stats.viewers += delta;
    if (delta > 0) s->stats.viewers_total += (uint64_t)delta;
    pthread_mutex_unlock(&s->smu);
}

void stream_stat_encoded(stream_t *s, int keyframe, size_t bytes) {
    pthread_mutex_lock(&s->smu);
    s->stats.frames_encoded++;
    s->stats.keyframes += keyframe ? 1 : 0;
    s->stats.bytes_encoded += bytes;
    pthread_mutex_unlock(&s->smu);
}

void stream_stat_encode_ms(stream_t *s, double ms) {
    pthread_mutex_lock(&s->smu);
    s->enc_ms_total += ms;
    pthread_mutex_unlock(&s->smu);
}

int stream_stat_viewers_now(stream_t *s) {
    pthread_mutex_lock(&s->smu);
    int n = s->stats.viewers;
    pthread_mutex_unlock(&s->smu);
    return n;
}

uint64_t stream_stat_frames_in(stream_t *s) {
    pthread_mutex_lock(&s->smu);
    uint64_t n = s->stats.frames_in;
    pthread_mutex_unlock(&s->smu);
    return n;
}

void stream_get_stats(stream_t *s, stream_stats_t *out) {
    if (!s || !out) return;
    pthread_mutex_lock(&s->smu);
    *out = s->stats;
    out->encode_ms_avg = s->stats.frames_encoded ? s->enc_ms_total / (double)s->stats.frames_encoded : 0;
    pthread_mutex_unlock(&s->smu);
}

cJSON *stream_status_object(stream_t *s) {
    stream_status_t st;
    stream_stats_t stats;
    pthread_mutex_lock(&s->smu);
    st = s->status;
    stats = s->stats;
    pthread_mutex_unlock(&s->smu);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "workers", st.workers);
    cJSON_AddNumberToObject(o, "keyframe_rate", (double)(long)(st.keyframe_rate * 100 + 0.5) / 100.0);
    double fps = st.fps > 0 ? st.fps : s->fps_measured;
    cJSON_AddNumberToObject(o, "fps", (double)(long)(fps * 10 + 0.5) / 10.0);
    cJSON_AddBoolToObject(o, "untrained", st.untrained);
    cJSON_AddStringToObject(o, "model", st.model);
    cJSON_AddNumberToObject(o, "viewers", stats.viewers);
    cJSON_AddNumberToObject(o, "width", s->cfg.enc.width);
    cJSON_AddNumberToObject(o, "height", s->cfg.enc.height);
    cJSON_AddNumberToObject(o, "bitrate_kbps", s->cfg.enc.bitrate_kbps);
    cJSON_AddStringToObject(o, "codec", s->codec);
    return o;
}

