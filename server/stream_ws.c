/*
 * stream_ws.c — the stream's websocket viewers and JSON events (service thread only).
 *
 *   /ws         raw VP9 frames (STREAM_MSG_VIDEO), /ws/webm a WebM byte stream
 *               (STREAM_MSG_WEBM_INIT once, then STREAM_MSG_WEBM_MEDIA), /ws/events events only
 *   events      hello (once), subject, queue, status: text JSON, resent when they change
 *   fan-out     the encoder's packets (stream.c's packet ring) -> GOP caches and every
 *               viewer's bounded queue; writes only in LWS_CALLBACK_SERVER_WRITEABLE
 *   tick        every TICK_US: advance the request queue, refresh the events
 */
#include "stream_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MOD STREAM_MOD

/* ---------------------------------------------------------------- events */

char *stream_event_json(const char *type, cJSON *obj) {
    cJSON_AddStringToObject(obj, "type", type);
    char *s = cJSON_PrintUnformatted(obj);
    return s;
}

static void mark_viewers(stream_t *s, int subject, int queue, int status) {
    for (viewer_t *v = s->viewers; v; v = v->next) {
        v->need_subject |= subject;
        v->need_queue |= queue;
        v->need_status |= status;
        lws_callback_on_writable(v->wsi);
    }
}

/* subject + queue events from the request queue state (service thread) */
void stream_events_rebuild_requests(stream_t *s) {
    char *js = requests_state_json(s->req);
    cJSON *st = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!st) return;
    cJSON *cur = cJSON_DetachItemFromObject(st, "current");
    cJSON *queue = cJSON_DetachItemFromObject(st, "queue");
    cJSON *ev = cJSON_CreateObject();
    if (cur) {
        /* names for the overlay */
        cJSON *names = cJSON_CreateArray();
        cJSON *id;
        cJSON_ArrayForEach(id, cJSON_GetObjectItem(cur, "ids")) {
            const char *n = dream_classes_name(s->classes, id->valueint);
            cJSON_AddItemToArray(names, cJSON_CreateString(n ? n : "?"));
        }
        cJSON_AddItemToObject(cur, "names", names);
        cJSON_AddItemToObject(ev, "current", cur);
    }
    char *sub = stream_event_json("subject", ev);
    cJSON_Delete(ev);
    ev = cJSON_CreateObject();
    if (queue) cJSON_AddItemToObject(ev, "queue", queue);
    char *q = stream_event_json("queue", ev);
    cJSON_Delete(ev);
    cJSON_Delete(st);
    int sub_changed = !s->ev_subject || !sub || strcmp(s->ev_subject, sub) != 0;
    int q_changed = !s->ev_queue || !q || strcmp(s->ev_queue, q) != 0;
    free(s->ev_subject);
    free(s->ev_queue);
    s->ev_subject = sub;
    s->ev_queue = q;
    mark_viewers(s, sub_changed, q_changed, 0);
}

void stream_events_rebuild_status(stream_t *s) {
    cJSON *o = stream_status_object(s);
    char *ev = stream_event_json("status", o);
    cJSON_Delete(o);
    if (!ev) return;
    int changed = !s->ev_status || strcmp(s->ev_status, ev) != 0;
    free(s->ev_status);
    s->ev_status = ev;
    if (changed) mark_viewers(s, 0, 0, 1);
}

void stream_tick_cb(lws_sorted_usec_list_t *sul) {
    stream_t *s = lws_container_of(sul, stream_t, sul);
    if (s->nwaiting) stream_http_wake_waiting(s);     /* parked 202s past their wait */
    requests_tick(s->req);
    uint64_t ver = requests_version(s->req);
    if (ver != s->req_version) {
        s->req_version = ver;
        stream_events_rebuild_requests(s);
    }
    double t = dream_now_s();
    if (t - s->last_status_t >= 1.0) {
        uint64_t fin = stream_stat_frames_in(s);
        if (s->last_status_t > 0) {
            double inst = (double)(fin - s->last_frames_in) / (t - s->last_status_t);
            s->fps_measured = s->fps_measured > 0 ? 0.5 * s->fps_measured + 0.5 * inst : inst;
        }
        s->last_frames_in = fin;
        s->last_status_t = t;
        stream_events_rebuild_status(s);
        /* the remaining time changes every second: resend the subject every 5 s */
        if (t - s->last_subject_t >= 5.0) {
            s->last_subject_t = t;
            stream_events_rebuild_requests(s);
        }
    }
    lws_sul_schedule(s->ctx, 0, &s->sul, stream_tick_cb, TICK_US);
}
static int ws_send_text(stream_t *s, struct lws *wsi, const char *txt) {
    size_t n = strlen(txt);
    if (LWS_PRE + n > s->scratch_cap) {
        uint8_t *nb = realloc(s->scratch, LWS_PRE + n + 1024);
        if (!nb) return -1;
        s->scratch = nb;
        s->scratch_cap = LWS_PRE + n + 1024;
    }
    memcpy(s->scratch + LWS_PRE, txt, n);
    if (lws_write(wsi, s->scratch + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n) return -1;
    stream_stat_add(s, &s->stats.bytes_sent, n);
    return 0;
}

void stream_ws_drain_packets(stream_t *s) {
    for (;;) {
        pthread_mutex_lock(&s->pmu);
        if (s->pcount == 0) { pthread_mutex_unlock(&s->pmu); break; }
        gop_packet_t *p = s->pring[s->phead].raw, *wp = s->pring[s->phead].webm;
        s->pring[s->phead].raw = s->pring[s->phead].webm = NULL;
        s->phead = (s->phead + 1) % PKT_RING;
        s->pcount--;
        pthread_mutex_unlock(&s->pmu);

        if (s->last_seq >= 0 && p->seq != (uint32_t)(s->last_seq + 1) && !p->keyframe) {
            /* a packet was lost between threads: everyone resyncs on the next keyframe */
            dlog_warn(MOD, "packet gap %lld -> %u: viewers wait for a keyframe", (long long)s->last_seq, p->seq);
            gop_cache_destroy(&s->gop);
            gop_cache_destroy(&s->gop_webm);
            s->gop = gop_cache_new(s->kf_frames * 2 + 8);
            s->gop_webm = gop_cache_new(s->kf_frames * 2 + 8);
            for (viewer_t *v = s->viewers; v; v = v->next) gop_queue_join(v->q, NULL);
        }
        s->last_seq = p->seq;
        gop_cache_push(s->gop, p);
        gop_cache_push(s->gop_webm, wp);
        uint64_t fell = 0;
        for (viewer_t *v = s->viewers; v; v = v->next) {
            if (v->novideo) continue;
            fell += (uint64_t)gop_queue_push(v->q, v->webm ? wp : p);
            if (gop_queue_count(v->q) > 0) lws_callback_on_writable(v->wsi);
        }
        if (fell) stream_stat_add(s, &s->stats.viewer_fallbacks, fell);
        gop_packet_unref(&p);
        gop_packet_unref(&wp);
    }
}

int stream_ws_cb(stream_t *s, struct lws *wsi, enum lws_callback_reasons reason, pss_t *p, void *in, size_t len) {
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char wuri[64] = "";     /* websocket upgrades only on the stream paths */
        if (lws_hdr_copy(wsi, wuri, sizeof wuri, WSI_TOKEN_GET_URI) <= 0) return 1;
        wuri[strcspn(wuri, "?")] = 0;
        if (strcmp(wuri, "/ws") && strcmp(wuri, "/ws/webm") && strcmp(wuri, "/ws/events")) return 1;
        int n = stream_stat_viewers_now(s);
        if (n >= s->cfg.max_viewers) {
            s->viewers_refused++;   /* logged at the 1st, 2nd, 4th, 8th ... (a client can retry in a loop) */
            if ((s->viewers_refused & (s->viewers_refused - 1)) == 0)
                dlog_warn(MOD, "viewer refused: %d viewers already (%llu refused so far)", n,
                          (unsigned long long)s->viewers_refused);
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        viewer_t *v = calloc(1, sizeof *v);
        if (!v) return -1;
        v->q = gop_queue_new(s->cfg.viewer_queue_max);
        if (!v->q) { free(v); return -1; }
        v->wsi = wsi;
        char uri[128] = "";
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        v->webm = strstr(uri, "webm") != NULL;
        v->novideo = strstr(uri, "events") != NULL;
        if (!v->novideo) gop_queue_join(v->q, v->webm ? s->gop_webm : s->gop);
        v->need_hello = v->need_subject = v->need_queue = v->need_status = 1;
        v->need_init = v->webm;
        stream_client_ip(s, wsi, v->ip, sizeof v->ip);
        /* bound the kernel's send buffer (autotuning would let a stalled viewer park megabytes
         * there, and hide that it lags): about half a second of video, at least 64 KB */
        int sndbuf = s->cfg.enc.bitrate_kbps * 1000 / 8 / 2;
        if (sndbuf < 65536) sndbuf = 65536;
        lws_sockfd_type fd = lws_get_socket_fd(wsi);
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        v->next = s->viewers;
        s->viewers = v;
        p->kind = PSS_VIEWER;
        p->v = v;
        stream_stat_viewer(s, +1);
        dlog_debug(MOD, "viewer %s joined (%d cached packets)", v->ip, gop_queue_count(v->q));
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED: {
        viewer_t *v = p->v;
        if (!v) return 0;
        for (viewer_t **pp = &s->viewers; *pp; pp = &(*pp)->next)
            if (*pp == v) { *pp = v->next; break; }
        gop_queue_destroy(&v->q);
        free(v);
        p->v = NULL;
        stream_stat_viewer(s, -1);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        viewer_t *v = p->v;
        if (!v) return 0;
        if (v->need_hello) {
            v->need_hello = 0;
            if (ws_send_text(s, wsi, s->ev_hello) < 0) return -1;
        } else if (v->need_init) {
            v->need_init = 0;
            if (lws_write(wsi, s->webm_init->payload, s->webm_init->len, LWS_WRITE_BINARY) < (int)s->webm_init->len) return -1;
        } else if (v->need_subject && s->ev_subject) {
            v->need_subject = 0;
            if (ws_send_text(s, wsi, s->ev_subject) < 0) return -1;
        } else if (v->need_queue && s->ev_queue) {
            v->need_queue = 0;
            if (ws_send_text(s, wsi, s->ev_queue) < 0) return -1;
        } else if (v->need_status && s->ev_status) {
            v->need_status = 0;
            if (ws_send_text(s, wsi, s->ev_status) < 0) return -1;
        } else {
            v->need_subject = v->need_queue = v->need_status = 0;
            gop_packet_t *pk = gop_queue_peek(v->q);
            if (!pk) return 0;
            if (lws_write(wsi, pk->payload, pk->len, LWS_WRITE_BINARY) < (int)pk->len) return -1;
            stream_stat_add(s, &s->stats.bytes_sent, pk->len);
            gop_queue_pop(v->q);
        }
        if (v->need_subject || v->need_queue || v->need_status || gop_queue_count(v->q) > 0)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        /* viewers only listen: any data message is refused (control frames - ping, pong,
         * close - are answered by lws itself). This also closes on frames lws tolerates,
         * such as unmasked client frames. */
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"viewers only listen", 19);
        return -1;
    default:
        return 0;
    }
}
