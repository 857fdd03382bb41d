/*
 * hostile_peer.c — a misbehaving worker for the regression tests of docs/security.md
 * (tests/integration/farm_hostile.sh). It speaks the worker protocol (proto/dreamfarm.proto)
 * over one or more DEALER connections and does what a hostile process on the worker port
 * could do: claim any name / model hash / speed, answer jobs at once with its own pixels,
 * hold a job and say hello again, send Error floods with newlines in the text, or just sit
 * in worker slots. It prints one summary line:
 *   welcome=N refused=N jobs=N results=N hellos=N errors=N first_refusal=...
 *
 *   hostile_peer ENDPOINT [--name S] [--hash S] [--claim MS] [--conns N] [--seconds S]
 *                [--reply-ms MS] [--hello-on-job MS] [--errors N]
 *   --reply-ms MS    answer each job after MS with mid-grey pixels (-1 = never answer)
 *   --hello-on-job MS  instead of answering, say Hello again MS after a job arrives
 *   --errors N       after the welcome, send N Error messages (no job id)
 *   --error-code N   answer every job at once with Error code N for it (5: "no kept canvas or
 *                    tile", which an honest worker sends only for a job that carried one); the
 *                    hello offers the resident canvas, the tile warp and tile-resident jobs
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "dlog.h"
#include "wire.h"

#define MAXC 256

typedef struct peer {
    void *s;
    uint64_t job_id, job_kf;
    int tile[4];
    double job_at;
    int welcomed, refused;
} peer_t;

static const char *g_name = "hostile", *g_hash = "sim";
static double g_claim = 0.001;
static int g_error_code = -1;

static void hello(void *s) {
    Dreamfarm__Envelope env;
    Dreamfarm__Hello h = DREAMFARM__HELLO__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HELLO);
    h.name = (char *)g_name;
    h.backend = "cuda";
    h.device = "forged\nINFO line";
    h.max_tile_pixels = 4096ull * 4096;
    h.ms_per_mpix_step = g_claim;
    h.model_hash = (char *)g_hash;
    if (g_error_code >= 0) {
        h.has_resident_canvas = h.resident_canvas = 1;
        h.has_tile_warp = h.tile_warp = 1;
        h.has_tile_resident = h.tile_resident = 1;
    }
    env.body_case = DREAMFARM__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    wire_send(s, NULL, 0, &env, NULL, 0, 0, NULL);
}

static void send_error(void *s, int code, const char *msg, uint64_t job) {
    Dreamfarm__Envelope env;
    Dreamfarm__Error e = DREAMFARM__ERROR__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_ERROR);
    e.code = code;
    e.message = (char *)msg;
    if (job) { e.has_job_id = 1; e.job_id = job; }
    env.body_case = DREAMFARM__ENVELOPE__BODY_ERROR;
    env.error = &e;
    wire_send(s, NULL, 0, &env, NULL, 0, 0, NULL);
}

static void heartbeat(void *s) {
    Dreamfarm__Envelope env;
    Dreamfarm__Heartbeat hb = DREAMFARM__HEARTBEAT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
    env.body_case = DREAMFARM__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    wire_send(s, NULL, 0, &env, NULL, 0, ZMQ_DONTWAIT, NULL);
}

static int result(peer_t *p) {
    size_t n = (size_t)p->tile[2] * p->tile[3] * 3;
    uint8_t *px = malloc(n ? n : 1);
    if (!px) return -1;
    memset(px, 128, n);
    Dreamfarm__Envelope env;
    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    Dreamfarm__Rect rect = DREAMFARM__RECT__INIT;
    rect.x = p->tile[0]; rect.y = p->tile[1]; rect.w = p->tile[2]; rect.h = p->tile[3];
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    r.keyframe_id = p->job_kf;
    r.job_id = p->job_id;
    r.tile = &rect;
    r.compute_ms = 0.001;
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    long rc = wire_send(p->s, NULL, 0, &env, px, n, 0, NULL);
    free(px);
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: hostile_peer ENDPOINT [--name S] [--hash S] [--claim MS] [--conns N] [--seconds S]"
                        " [--reply-ms MS] [--hello-on-job MS] [--errors N] [--error-code N]\n");
        return 2;
    }
    const char *ep = argv[1];
    int conns = 1, errors = 0;
    double seconds = 5, reply_ms = -1, hello_on_job = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--name")) g_name = v;
        else if (!strcmp(k, "--hash")) g_hash = v;
        else if (!strcmp(k, "--claim")) g_claim = atof(v);
        else if (!strcmp(k, "--conns")) conns = atoi(v);
        else if (!strcmp(k, "--seconds")) seconds = atof(v);
        else if (!strcmp(k, "--reply-ms")) reply_ms = atof(v);
        else if (!strcmp(k, "--hello-on-job")) hello_on_job = atof(v);
        else if (!strcmp(k, "--errors")) errors = atoi(v);
        else if (!strcmp(k, "--error-code")) g_error_code = atoi(v);
        else { fprintf(stderr, "hostile_peer: unknown option %s\n", k); return 2; }
    }
    if (conns < 1 || conns > MAXC) { fprintf(stderr, "hostile_peer: --conns 1..%d\n", MAXC); return 2; }
    /* "\n" in the name as the two characters backslash-n: the shell cannot pass a newline easily */
    char *name = strdup(g_name);
    for (char *p = name; (p = strstr(p, "\\n"));) { *p = '\n'; memmove(p + 1, p + 2, strlen(p + 2) + 1); }
    g_name = name;
    void *ctx = zmq_ctx_new();
    static peer_t P[MAXC];
    for (int i = 0; i < conns; i++) {
        P[i].s = zmq_socket(ctx, ZMQ_DEALER);
        int linger = 0;
        zmq_setsockopt(P[i].s, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(P[i].s, ep) != 0) { fprintf(stderr, "hostile_peer: connect %s failed\n", ep); return 1; }
        hello(P[i].s);
    }
    long nwel = 0, nref = 0, njobs = 0, nres = 0, nhello = conns, nerr = 0;
    char last_ref[256] = "-";
    double t0 = dream_now_ms(), last_hb = t0;
    zmq_pollitem_t items[MAXC];
    while (dream_now_ms() - t0 < seconds * 1000) {
        for (int i = 0; i < conns; i++) items[i] = (zmq_pollitem_t){P[i].s, 0, ZMQ_POLLIN, 0};
        zmq_poll(items, conns, 10);
        double now = dream_now_ms();
        for (int i = 0; i < conns; i++) {
            peer_t *p = &P[i];
            while (items[i].revents & ZMQ_POLLIN) {
                wire_msg_t m;
                int rc = wire_recv(p->s, 0, ZMQ_DONTWAIT, &m, NULL);
                if (rc <= 0) break;
                switch (m.env->type) {
                case DREAMFARM__MSG_TYPE__MSG_WELCOME:
                    nwel++;
                    p->welcomed = 1;
                    for (int k = 0; k < errors; k++, nerr++)
                        send_error(p->s, 1, "boom\n2026-01-01T00:00:00.000Z WARN  [coord] FORGED line", 0);
                    break;
                case DREAMFARM__MSG_TYPE__MSG_REFUSAL:
                    nref++;
                    p->refused = 1;
                    p->welcomed = 0;
                    if (!strcmp(last_ref, "-")) snprintf(last_ref, sizeof last_ref, "%s", m.env->refusal->reason ? m.env->refusal->reason : "");
                    break;
                case DREAMFARM__MSG_TYPE__MSG_JOB: {
                    Dreamfarm__Job *j = m.env->job;
                    njobs++;
                    p->job_id = j->job_id;
                    p->job_kf = j->keyframe_id;
                    p->tile[0] = j->tile->x; p->tile[1] = j->tile->y; p->tile[2] = j->tile->w; p->tile[3] = j->tile->h;
                    p->job_at = now;
                    if (g_error_code >= 0) {
                        send_error(p->s, g_error_code, "no resident canvas (hostile)", p->job_id);
                        nerr++;
                        p->job_id = 0;
                    }
                    break;
                }
                default: break;
                }
                wire_msg_clear(&m);
            }
            if (p->job_id && reply_ms >= 0 && now - p->job_at >= reply_ms) {
                if (result(p) == 0) nres++;
                p->job_id = 0;
            } else if (p->job_id && hello_on_job >= 0 && now - p->job_at >= hello_on_job) {
                hello(p->s);
                nhello++;
                p->job_id = 0;
            }
        }
        if (now - last_hb > 200) {
            last_hb = now;
            for (int i = 0; i < conns; i++)
                if (P[i].welcomed) heartbeat(P[i].s);
        }
    }
    for (int i = 0; i < conns; i++) zmq_close(P[i].s);
    zmq_ctx_term(ctx);
    for (char *q = last_ref; *q; q++) if (*q == ' ') *q = '_';
    printf("welcome=%ld refused=%ld jobs=%ld results=%ld hellos=%ld errors=%ld first_refusal=%s\n", nwel, nref, njobs,
           nres, nhello, nerr, last_ref);
    free(name);
    return 0;
}
