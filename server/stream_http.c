/*
 * stream_http.c — the stream's HTTP side (service thread only).
 *
 *   routing      GET /api/status, /api/classes, /snapshot.png, /metrics; POST /api/request
 *                (Content-Length required, no Transfer-Encoding, body <= HTTP_BODY_MAX, a
 *                global parse budget of cfg.parse_per_s before the body is read)
 *   answers      headers at once, the body (copied) in HTTP_WRITEABLE chunks; every answer
 *                carries the security headers (files too, through ADD_HEADERS in stream.c)
 *   admission    at most cfg.max_conns_per_ip open connections per address (/64)
 * Parsing and JSON of the request bodies live in server/http.c.
 */
#include "stream_internal.h"
#include "http.h"
#include "metrics.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define MOD STREAM_MOD

static void pss_free_http(pss_t *p) {
    free(p->body);
    p->body = NULL;
    free(p->resp);
    p->resp = NULL;
    free(p->wait_json);
    p->wait_json = NULL;
}

/* ---- parked 202s (durable requests, stream.h) */

static void waiting_remove(stream_t *s, struct lws *wsi) {
    for (int i = 0; i < s->nwaiting; i++)
        if (s->waiting[i] == wsi) {
            s->waiting[i] = s->waiting[--s->nwaiting];
            return;
        }
}

static int wait_over(stream_t *s, const pss_t *p) {
    return !atomic_load(&s->durable_on) || atomic_load(&s->durable_version) >= p->wait_version ||
           dream_now_ms() >= p->wait_deadline_ms;
}

void stream_http_wake_waiting(stream_t *s) {
    for (int i = 0; i < s->nwaiting; i++) {
        const pss_t *p = lws_wsi_user(s->waiting[i]);
        if (!p || wait_over(s, p)) lws_callback_on_writable(s->waiting[i]);
    }
}

/* The security headers of every answer (files and API). Like lws' "best practices" set, plus
 * media-src blob: for the MSE player. */
static const struct { const char *name, *value; } k_sec_headers[] = {
    {"content-security-policy:", "default-src 'none'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                 "script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
                                 "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
    {"x-content-type-options:", "nosniff"},
    {"x-frame-options:", "deny"},
    {"referrer-policy:", "no-referrer"},
};

int stream_http_security_headers(struct lws *wsi, uint8_t **p, uint8_t *end) {
    for (size_t i = 0; i < sizeof k_sec_headers / sizeof k_sec_headers[0]; i++)
        if (lws_add_http_header_by_name(wsi, (const uint8_t *)k_sec_headers[i].name, (const uint8_t *)k_sec_headers[i].value,
                                        (int)strlen(k_sec_headers[i].value), p, end))
            return -1;
    return 0;
}

/* Sends headers now and queues the body (copied) for HTTP_WRITEABLE. Returns 0 or -1 (close). */
static int http_respond(struct lws *wsi, pss_t *p, int status, const char *ctype, const void *body,
                        size_t len, int close_after) {
    uint8_t hb[LWS_PRE + 1024];
    uint8_t *start = hb + LWS_PRE, *ptr = start, *end = hb + sizeof hb - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &ptr, end)) return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const uint8_t *)"no-store", 8, &ptr, end)) return -1;
    if (stream_http_security_headers(wsi, &ptr, end)) return -1;
    if (close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &ptr, end)) return -1;
    if (lws_finalize_write_http_header(wsi, start, &ptr, end)) return -1;
    free(p->resp);
    p->resp = malloc(LWS_PRE + len + 1);
    if (!p->resp) return -1;
    if (len) memcpy(p->resp + LWS_PRE, body, len);
    p->resp_len = len;
    p->resp_sent = 0;
    p->close_after = close_after;
    lws_callback_on_writable(wsi);
    return 0;
}

static int http_json(struct lws *wsi, pss_t *p, int status, char *json_owned, int close_after) {
    if (!json_owned) return -1;
    int rc = http_respond(wsi, p, status, "application/json", json_owned, strlen(json_owned), close_after);
    free(json_owned);
    return rc;
}

static int http_error(struct lws *wsi, pss_t *p, int status, const char *msg, int close_after) {
    return http_json(wsi, p, status, http_error_json(msg), close_after);
}

static char *status_json(stream_t *s) {
    cJSON *o = stream_status_object(s);
    stream_stats_t st;
    stream_get_stats(s, &st);
    cJSON_AddNumberToObject(o, "viewers_total", (double)st.viewers_total);
    cJSON_AddNumberToObject(o, "viewer_fallbacks", (double)st.viewer_fallbacks);
    cJSON_AddNumberToObject(o, "frames_in", (double)st.frames_in);
    cJSON_AddNumberToObject(o, "frames_dropped", (double)st.frames_dropped);
    cJSON_AddNumberToObject(o, "frames_encoded", (double)st.frames_encoded);
    cJSON_AddNumberToObject(o, "keyframes", (double)st.keyframes);
    cJSON_AddNumberToObject(o, "bytes_encoded", (double)st.bytes_encoded);
    cJSON_AddNumberToObject(o, "bytes_sent", (double)st.bytes_sent);
    cJSON_AddNumberToObject(o, "encode_ms_avg", (double)(long)(st.encode_ms_avg * 100) / 100.0);
    cJSON_AddNumberToObject(o, "requests_accepted", (double)st.requests_accepted);
    cJSON_AddNumberToObject(o, "requests_refused", (double)st.requests_refused);
    char *rj = requests_state_json(s->req);
    cJSON *r = rj ? cJSON_Parse(rj) : NULL;
    free(rj);
    if (r) {
        cJSON *cur = cJSON_DetachItemFromObject(r, "current");
        cJSON *q = cJSON_DetachItemFromObject(r, "queue");
        if (cur) cJSON_AddItemToObject(o, "current", cur);
        if (q) cJSON_AddItemToObject(o, "queue", q);
        cJSON_Delete(r);
    }
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

/* GET /metrics (Prometheus text; server/metrics.h) */
static int http_metrics(stream_t *s, struct lws *wsi, pss_t *p) {
    size_t len = 0;
    char *txt = metrics_render(s, &len);
    if (!txt) return http_error(wsi, p, 500, "out of memory", 1);
    int rc = http_respond(wsi, p, 200, "text/plain; version=0.0.4; charset=utf-8", txt, len, 0);
    free(txt);
    return rc;
}

/* The newest frame as PNG; re-encoded at most once a second (PNG costs ~20 ms a frame, and
 * the service thread must stay free for the viewers). */
static int http_snapshot(stream_t *s, struct lws *wsi, pss_t *p) {
    size_t bytes = (size_t)s->cfg.enc.width * s->cfg.enc.height * 3;
    double t = dream_now_s();
    pthread_mutex_lock(&s->snap_mu);
    uint64_t seq = s->snap_seq;
    int stale = seq != s->png_seq && (!s->png || t - s->png_time >= 1.0);
    uint8_t *copy = NULL;
    if (seq && stale) {
        copy = malloc(bytes);
        if (copy) memcpy(copy, s->snap, bytes);
    }
    pthread_mutex_unlock(&s->snap_mu);
    if (seq == 0) return http_error(wsi, p, 503, "no frame yet", 0);
    if (copy) {
        uint8_t *png = NULL;
        size_t len = 0;
        dream_err_t err = {{0}};
        int rc = http_png_rgb(copy, s->cfg.enc.width, s->cfg.enc.height, &png, &len, &err);
        free(copy);
        if (rc < 0) return http_error(wsi, p, 500, err.msg, 0);
        free(s->png);
        s->png = png;
        s->png_len = len;
        s->png_seq = seq;
        s->png_time = t;
    }
    if (!s->png) return http_error(wsi, p, 500, "out of memory", 0);
    return http_respond(wsi, p, 200, "image/png", s->png, s->png_len, 0);
}

/* The client's address: the peer, or (trust_forwarded_for) the last X-Forwarded-For entry. */
void stream_client_ip(stream_t *s, struct lws *wsi, char *ip, size_t n) {
    ip[0] = 0;
    if (s->cfg.trust_forwarded_for) {
        char xff[256];
        if (lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) > 0) {
            char *last = strrchr(xff, ',');
            last = last ? last + 1 : xff;
            while (*last == ' ') last++;
            size_t len = strcspn(last, " \t");
            last[len] = 0;
            if (len > 0 && len < n && strspn(last, "0123456789abcdefABCDEF:.") == len) {
                memcpy(ip, last, len + 1);
                return;
            }
        }
    }
    lws_get_peer_simple(wsi, ip, n);
}

static int http_handle_request_body(stream_t *s, struct lws *wsi, pss_t *p) {
    char subject[REQUESTS_MAX_TEXT * 2 + 8];
    int status = 400;
    dream_err_t err = {{0}};
    if (http_parse_subject(p->body ? p->body : "", p->body_len, p->ctype, subject, sizeof subject, &status, &err) < 0) {
        stream_stat_request(s, 0);
        return http_error(wsi, p, status, err.msg, 0);
    }
    char ip[64] = "";
    stream_client_ip(s, wsi, ip, sizeof ip);
    char name[REQUESTS_MAX_NAME * 4 + 1] = "";   /* optional; sanitised and cut by requests */
    http_parse_optional_field(p->body ? p->body : "", p->body_len, p->ctype, "name", name, sizeof name);
    requests_result_t r;
    int rc = requests_submit_named(s->req, subject, ip[0] ? ip : "unknown", name, &r);
    stream_stat_request(s, rc == 0);
    metrics_count_request(r.http_status);
    /* refusals at debug level: a spammer must not flood the log */
    dlog_write(rc == 0 ? DLOG_INFO : DLOG_DEBUG, MOD, "request '%.80s' from %s: %d %s", subject, ip, r.http_status, r.message);
    if (rc == 0) lws_cancel_service(s->ctx);   /* broadcast the queue soon */
    if (rc == 0 && atomic_load(&s->durable_on) && s->nwaiting < STREAM_WAIT_MAX) {
        /* the 202 promises the request survives a restart: answer once the queue version that
         * holds it is committed (stream_mark_durable), at most STREAM_DURABLE_WAIT_MS from now */
        uint64_t need = requests_version(s->req);
        if (atomic_load(&s->durable_version) < need) {
            free(p->wait_json);
            p->wait_json = http_request_reply(&r, s->classes);
            if (!p->wait_json) return -1;
            p->wait_status = r.http_status;
            p->wait_version = need;
            p->wait_deadline_ms = dream_now_ms() + STREAM_DURABLE_WAIT_MS;
            s->waiting[s->nwaiting++] = wsi;
            return 0;
        }
    }
    return http_json(wsi, p, r.http_status, http_request_reply(&r, s->classes), 0);
}

/* POST uri: checks the framing and the parse budget, then waits for the body (0), or answers
 * an error (0 or 1 = answered, -1 = close). */
static int http_begin_post(stream_t *s, struct lws *wsi, pss_t *p, const char *uri) {
    if (strcmp(uri, "/api/request") != 0) return http_error(wsi, p, 405, "POST only to /api/request", 1) ? -1 : 0;
    char cl[32] = "";
    /* lws 4.1 does not de-chunk request bodies: a length is required */
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return http_error(wsi, p, 411, "Content-Length required (no chunked bodies)", 1) ? -1 : 0;
    /* both framings at once is request smuggling's recipe: refused */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return http_error(wsi, p, 400, "Content-Length with Transfer-Encoding is not accepted", 1) ? -1 : 0;
    char *end = NULL;
    long long n = strtoll(cl, &end, 10);
    if (end == cl || *end || n < 0) return http_error(wsi, p, 400, "bad Content-Length", 1) ? -1 : 0;
    if (n > HTTP_BODY_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than %d bytes", HTTP_BODY_MAX);
        return http_error(wsi, p, 413, msg, 1) ? -1 : 0;
    }
    if (n == 0) return http_error(wsi, p, 400, "empty body: send subject=...", 0) ? -1 : 0;
    if (s->cfg.parse_per_s > 0) {   /* all viewers together: parsing is not free */
        double now = dream_now_ms(), burst = s->cfg.parse_per_s > 1 ? s->cfg.parse_per_s : 1;
        if (s->parse_at > 0) s->parse_tokens += (now - s->parse_at) / 1000.0 * s->cfg.parse_per_s;
        else s->parse_tokens = burst;
        if (s->parse_tokens > burst) s->parse_tokens = burst;
        s->parse_at = now;
        if (s->parse_tokens < 1) {
            stream_stat_request(s, 0);
            return http_error(wsi, p, 503, "too many requests right now: try again in a second", 1) ? -1 : 0;
        }
        s->parse_tokens -= 1;
    }
    p->ctype[0] = 0;
    lws_hdr_copy(wsi, p->ctype, sizeof p->ctype, WSI_TOKEN_HTTP_CONTENT_TYPE);
    p->body = malloc(HTTP_BODY_MAX + 1);
    if (!p->body) return -1;
    p->body_len = 0;
    p->body_overflow = 0;
    return 0;   /* wait for the body */
}

int stream_http_cb(stream_t *s, struct lws *wsi, enum lws_callback_reasons reason, pss_t *p, void *in, size_t len) {
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        p->kind = PSS_HTTP;
        char uri[256] = "";
        int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
        if (is_post) lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_POST_URI);
        else if (is_get) lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        else return http_error(wsi, p, 405, "only GET and POST", 1) ? -1 : 0;
        uri[strcspn(uri, "?")] = 0;
        if (is_post) return http_begin_post(s, wsi, p, uri) ? -1 : 0;
        if (strcmp(uri, "/api/status") == 0) return http_json(wsi, p, 200, status_json(s), 0) ? -1 : 0;
        if (strcmp(uri, "/metrics") == 0 && metrics_on_public_port()) return http_metrics(s, wsi, p) ? -1 : 0;
        if (strcmp(uri, "/api/classes") == 0)
            return http_respond(wsi, p, 200, "application/json", s->classes_json, s->classes_json_len, 0) ? -1 : 0;
        if (strcmp(uri, "/snapshot.png") == 0) return http_snapshot(s, wsi, p) ? -1 : 0;
        if (strcmp(uri, "/api/request") == 0) return http_error(wsi, p, 405, "use POST for /api/request", 0) ? -1 : 0;
        return http_error(wsi, p, 404, "no such API", 0) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!p->body) return -1;
        if (p->body_overflow || p->body_len + len > HTTP_BODY_MAX) {
            p->body_overflow = 1;
            return 0;   /* discard; answered at completion */
        }
        memcpy(p->body + p->body_len, in, len);
        p->body_len += len;
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p->body) return -1;
        if (p->body_overflow) {
            char msg[96];
            snprintf(msg, sizeof msg, "request body larger than %d bytes", HTTP_BODY_MAX);
            return http_error(wsi, p, 413, msg, 1) ? -1 : 0;
        }
        p->body[p->body_len] = 0;
        return http_handle_request_body(s, wsi, p) ? -1 : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (p->wait_json) {
            if (!wait_over(s, p)) return 0;     /* woken for another connection */
            char *j = p->wait_json;
            p->wait_json = NULL;
            waiting_remove(s, wsi);
            return http_json(wsi, p, p->wait_status, j, 0) ? -1 : 0;
        }
        if (!p->resp) return 0;
        size_t left = p->resp_len - p->resp_sent;
        size_t chunk = left > 32768 ? 32768 : left;
        int final = chunk == left;
        uint8_t *ptr = p->resp + LWS_PRE + p->resp_sent;
        if (chunk > 0 || final) {
            if (lws_write(wsi, ptr, chunk, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk) return -1;
        }
        p->resp_sent += chunk;
        stream_stat_add(s, &s->stats.bytes_sent, chunk);
        if (!final) { lws_callback_on_writable(wsi); return 0; }
        free(p->resp);
        p->resp = NULL;
        free(p->body);
        p->body = NULL;
        if (p->close_after) return -1;
        if (lws_http_transaction_completed(wsi)) return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p->wait_json) waiting_remove(s, wsi);
        pss_free_http(p);
        return 0;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------- connection admission */

static int sock_key(int fd, int peer, char *key, size_t n, uint16_t *port) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) : getsockname(fd, (struct sockaddr *)&ss, &sl)) != 0) return -1;
    char ip[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        if (port) *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        if (port) *port = ntohs(a->sin6_port);
    } else return -1;
    if (key) requests_rate_key(ip, key, n);
    return 0;
}

/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: at most max_conns_per_ip open connections from
 * one address (/64): slowloris or a viewer-slot grab from one client stays with that client */
int stream_conn_admit(stream_t *s, int fd) {
    if (s->cfg.max_conns_per_ip <= 0 || !s->conns || fd < 0 || fd >= s->nconns) return 0;
    char key[48];
    uint16_t lport = 0;
    if (sock_key(fd, 1, key, sizeof key, NULL) != 0 || sock_key(fd, 0, NULL, 0, &lport) != 0) return 0;
    int open_n = 0;
    for (int i = 0; i < s->nconns; i++) {
        if (i == fd || s->conns[i].key[0] != key[0] || strcmp(s->conns[i].key, key)) continue;
        char k2[48];
        uint16_t lp2 = 0;
        if (sock_key(i, 1, k2, sizeof k2, NULL) == 0 && sock_key(i, 0, NULL, 0, &lp2) == 0 && lp2 == s->conns[i].lport &&
            !strcmp(k2, key))
            open_n++;
        else s->conns[i].key[0] = 0;     /* closed (or reused by something else) */
    }
    if (open_n >= s->cfg.max_conns_per_ip) {
        s->conns_refused++;
        if ((s->conns_refused & (s->conns_refused - 1)) == 0)   /* 1, 2, 4, 8 ...: a flood logs ~log2(n) lines */
            dlog_warn(MOD, "connection from %s refused: %d already open (%llu refused so far)", key, open_n,
                      (unsigned long long)s->conns_refused);
        return 1;
    }
    snprintf(s->conns[fd].key, sizeof s->conns[fd].key, "%s", key);
    s->conns[fd].lport = lport;
    return 0;
}
