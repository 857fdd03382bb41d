/*
 * zap.c — the ZAP handler thread (see zap.h).
 */
#include "zap.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_POLL_MS 100
#define ZAP_FRAMES 8

struct zap {
    void *sock;
    zap_check_fn check;
    zap_refuse_fn on_refuse;
    void *ud;
    pthread_t th;
    atomic_int stop;
};

/* one request: 0 answered, -1 the socket is gone (ETERM) */
static int zap_answer(zap_t *z) {
    zmq_msg_t f[ZAP_FRAMES];
    int n = 0, more = 1, bad = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->sock, 0) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (n < ZAP_FRAMES) f[n++] = m;
        else { zmq_msg_close(&m); bad = 1; }
    }
    /* version, request id, domain, address, identity, mechanism, credentials */
    char user[64] = "";
    int ok = !bad && n >= 7 && zmq_msg_size(&f[5]) == 5 && !memcmp(zmq_msg_data(&f[5]), "CURVE", 5) &&
             zmq_msg_size(&f[6]) == 32 && z->check(zmq_msg_data(&f[6]), user, sizeof user, z->ud);
    if (!ok) {
        user[0] = 0;
        if (z->on_refuse) z->on_refuse(z->ud);
    }
    zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2) zmq_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else zmq_send(z->sock, "", 0, ZMQ_SNDMORE);
    zmq_send(z->sock, ok ? "200" : "400", 3, ZMQ_SNDMORE);
    zmq_send(z->sock, ok ? "OK" : "key not allowed", ok ? 2 : 15, ZMQ_SNDMORE);
    zmq_send(z->sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(z->sock, "", 0, 0);
    for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    return 0;
}

static void *zap_main(void *arg) {
    zap_t *z = arg;
    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = {z->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, ZAP_POLL_MS);
        if (rc < 0) {
            if (zmq_errno() == EINTR) continue;
            break;      /* ETERM: the context is going away */
        }
        if (rc > 0 && zap_answer(z) < 0) break;
    }
    /* the socket is closed here, in its own thread: zmq_ctx_term() waits for it */
    zmq_close(z->sock);
    z->sock = NULL;
    return NULL;
}

zap_t *zap_new(void *zctx, zap_check_fn check, zap_refuse_fn on_refuse, void *ud, dream_err_t *err) {
    if (!zctx || !check) { dream_err_set(err, "ZAP handler: bad arguments"); return NULL; }
    zap_t *z = calloc(1, sizeof *z);
    if (!z) { dream_err_set(err, "out of memory"); return NULL; }
    z->check = check;
    z->on_refuse = on_refuse;
    z->ud = ud;
    z->sock = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    if (z->sock) zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (!z->sock || zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0) {
        dream_err_set(err, "ZAP handler: %s", zmq_strerror(zmq_errno()));
        if (z->sock) zmq_close(z->sock);
        free(z);
        return NULL;
    }
    if (pthread_create(&z->th, NULL, zap_main, z) != 0) {
        dream_err_set(err, "ZAP handler: cannot start thread");
        zmq_close(z->sock);
        free(z);
        return NULL;
    }
    return z;
}

void zap_destroy(zap_t **pz) {
    if (!pz || !*pz) return;
    zap_t *z = *pz;
    atomic_store(&z->stop, 1);
    pthread_join(z->th, NULL);
    free(z);
    *pz = NULL;
}
