/*
 * stream_ctl.c — the stream's controls from other threads: the viewers' request queue
 * (current subjects, requests from the coordinator, the IRC bridge, the overlay label) and
 * the operator's (dreamctl: live encoder settings, recording start/stop).
 * Any thread; the encoder thread applies encoder settings before its next frame.
 */
#include "stream_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD STREAM_MOD

/* ---------------------------------------------------------------- requests */

int stream_current_subjects(stream_t *s, int *ids, int max) {
    if (!s || !ids || max < 1) return 0;
    if (requests_tick(s->req)) lws_cancel_service(s->ctx);
    return requests_current(s->req, ids, max);
}

uint64_t stream_subject_serial(stream_t *s) { return s ? requests_serial(s->req) : 0; }

int stream_request(stream_t *s, const char *text, const char *from_ip, dream_err_t *err) {
    if (!s) return dream_err_set(err, "stream: none");
    requests_result_t r;
    /* the coordinator's own requests are trusted: no rate limit or address ban */
    int rc = requests_submit(s->req, text, NULL, &r);
    dlog_info(MOD, "request '%.80s' from %s: %d %s", text ? text : "", from_ip ? from_ip : "local", r.http_status, r.message);
    stream_stat_request(s, rc == 0);
    if (rc < 0) return dream_err_set(err, "%s", r.message);
    lws_cancel_service(s->ctx);
    return r.position;
}

int stream_submit_as(stream_t *s, const char *text, const char *key, const char *name,
                     int *accepted, char *reply, size_t n) {
    if (accepted) *accepted = 0;
    if (reply && n) reply[0] = 0;
    if (!s) return -1;
    requests_result_t r;
    int rc = requests_submit_named(s->req, text, key && *key ? key : "unknown", name, &r);
    stream_stat_request(s, rc == 0);
    dlog_write(rc == 0 ? DLOG_INFO : DLOG_DEBUG, MOD, "request '%.80s' from %s: %d %s", text ? text : "",
               key ? key : "?", r.http_status, r.message);
    if (rc == 0) lws_cancel_service(s->ctx);
    if (accepted) *accepted = rc == 0 && !r.already;
    if (reply && n) snprintf(reply, n, "%s", r.message);
    return rc;
}

void stream_overlay_label(void *ud, char *buf, size_t n) {
    stream_t *s = ud;
    if (!buf || n == 0) return;
    buf[0] = 0;
    if (s) requests_current_label(s->req, buf, n);
}

/* ---------------------------------------------------------------- operator controls (dreamctl) */

struct requests *stream_requests(stream_t *s) { return s ? s->req : NULL; }
const dream_classes_t *stream_classes(stream_t *s) { return s ? s->classes : NULL; }

int stream_set_encoder(stream_t *s, int bitrate_kbps, int cpu_used, dream_err_t *err) {
    if (bitrate_kbps < 100 || bitrate_kbps > 50000)
        return dream_err_set(err, "bitrate %d kbps out of range 100..50000", bitrate_kbps);
    if (cpu_used < 5 || cpu_used > 9) return dream_err_set(err, "encoder speed %d out of range 5..9", cpu_used);
    pthread_mutex_lock(&s->fmu);
    s->want_bitrate = bitrate_kbps;
    s->want_cpu_used = cpu_used;
    pthread_mutex_unlock(&s->fmu);
    pthread_mutex_lock(&s->smu);
    s->cfg.enc.bitrate_kbps = bitrate_kbps;
    s->cfg.enc.cpu_used = cpu_used;
    pthread_mutex_unlock(&s->smu);
    return 0;
}

int stream_record_start(stream_t *s, const char *path, dream_err_t *err) {
    pthread_mutex_lock(&s->rmu);
    int busy = s->rec != NULL;
    pthread_mutex_unlock(&s->rmu);
    if (busy) return dream_err_set(err, "already recording to %s (record stop first)", s->record_path ? s->record_path : "?");
    recorder_t *r = recorder_open(path, s->cfg.enc.width, s->cfg.enc.height, s->cfg.enc.fps, err);
    if (!r) return -1;
    char *dup = strdup(path);
    pthread_mutex_lock(&s->rmu);
    free(s->record_path);
    s->record_path = dup;
    snprintf(s->cfg.record_path, sizeof s->cfg.record_path, "%s", dup);
    s->rec = r;
    s->rec_wait_key = 1;
    pthread_mutex_unlock(&s->rmu);
    stream_force_keyframe(s);
    dlog_info(MOD, "recording to %s (%s)", path, recorder_is_webm(path) ? "WebM" : "IVF");
    return 0;
}

int stream_record_stop(stream_t *s, char *what, size_t n, dream_err_t *err) {
    pthread_mutex_lock(&s->rmu);
    if (!s->rec) {
        pthread_mutex_unlock(&s->rmu);
        return dream_err_set(err, "not recording");
    }
    uint64_t frames = recorder_frames(s->rec);
    int rc = recorder_close(&s->rec, err);
    if (what) snprintf(what, n, "%llu frames in %s", (unsigned long long)frames, s->record_path ? s->record_path : "?");
    pthread_mutex_unlock(&s->rmu);
    if (rc == 0) dlog_info(MOD, "recording finished: %llu frames", (unsigned long long)frames);
    return rc;
}

int stream_recording(stream_t *s, char *path, size_t n) {
    pthread_mutex_lock(&s->rmu);
    int on = s->rec != NULL;
    if (path && n) snprintf(path, n, "%s", on && s->record_path ? s->record_path : "");
    pthread_mutex_unlock(&s->rmu);
    return on;
}

void stream_set_durable(stream_t *s, int on) {
    if (s) atomic_store(&s->durable_on, on ? 1 : 0);
}

void stream_mark_durable(stream_t *s, uint64_t version) {
    if (!s) return;
    uint64_t cur = atomic_load(&s->durable_version);
    while (version > cur && !atomic_compare_exchange_weak(&s->durable_version, &cur, version)) {}
    if (s->ctx) lws_cancel_service(s->ctx);     /* the service thread answers the parked 202s */
}
