/*
 * coord_curve.c — optional CURVE encryption/authentication of the worker
 * socket: the coordinator's key pair from a key file ("public = Z85" /
 * "secret = Z85" lines, as written by `dreamctl keygen`) and a ZAP handler
 * thread that admits only worker public keys listed in an allow file (one Z85
 * key per line, '#' comments). Off unless --curve-secret-file is given.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "coord.h"
#include "dlog.h"
#include "wire.h"

#define MAX_KEYS 1024

typedef struct zap {
    void *sock;
    int nkeys;
    uint8_t keys[MAX_KEYS][32];
    unsigned long long refused;
} zap_t;

static void *zap_main(void *arg) {
    zap_t *z = arg;
    for (;;) {
        zmq_msg_t f[8];
        int n = 0, more = 1, bad = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z->sock, 0) < 0) {
                zmq_msg_close(&m);
                for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
                zmq_close(z->sock);
                free(z);
                return NULL;
            }
            more = zmq_msg_more(&m);
            if (n < 8) f[n++] = m;
            else { zmq_msg_close(&m); bad = 1; }
        }
        /* version, request id, domain, address, identity, mechanism, credentials */
        int ok = 0;
        if (!bad && n >= 7 && zmq_msg_size(&f[5]) == 5 && !memcmp(zmq_msg_data(&f[5]), "CURVE", 5) &&
            zmq_msg_size(&f[6]) == 32) {
            for (int i = 0; i < z->nkeys && !ok; i++) ok = !memcmp(z->keys[i], zmq_msg_data(&f[6]), 32);
        }
        if (!ok) {     /* a peer can connect in a loop: log the 1st, 2nd, 4th, 8th ... refusal */
            z->refused++;
            if ((z->refused & (z->refused - 1)) == 0)
                dlog_warn("curve", "refused a worker connection (key not in the allow list; %llu so far)",
                          (unsigned long long)z->refused);
        }
        const char *status = ok ? "200" : "400";
        zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
        if (n >= 2) zmq_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
        else zmq_send(z->sock, "", 0, ZMQ_SNDMORE);
        zmq_send(z->sock, status, 3, ZMQ_SNDMORE);
        zmq_send(z->sock, ok ? "OK" : "key not allowed", ok ? 2 : 15, ZMQ_SNDMORE);
        char uid[41] = "";     /* User-Id: the worker's public key (Z85), its identity in dreamd */
        if (ok) zmq_z85_encode(uid, zmq_msg_data(&f[6]), 32);
        zmq_send(z->sock, uid, strlen(uid), ZMQ_SNDMORE);
        zmq_send(z->sock, "", 0, 0);
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    }
}

int coord_curve_setup(void *zctx, void *router, const char *secret_file, const char *allow_file, dream_err_t *err) {
    char pub[41], sec[41];
    if (wire_curve_read_keyfile(secret_file, pub, sec, err) != 0) return -1;
    if (!allow_file || !*allow_file) return dream_err_set(err, "CURVE needs --curve-allow-file (worker public keys)");
    zap_t *z = calloc(1, sizeof *z);
    if (!z) return dream_err_set(err, "out of memory");
    FILE *f = fopen(allow_file, "r");
    if (!f) { free(z); return dream_err_set(err, "CURVE allow file %s: cannot open", allow_file); }
    char line[256];
    int lineno = 0;
    while (fgets(line, sizeof line, f) && z->nkeys < MAX_KEYS) {
        lineno++;
        char v[64];
        if (line[0] == '#' || sscanf(line, " %63s", v) != 1) continue;
        if (strlen(v) != 40 || !zmq_z85_decode(z->keys[z->nkeys], v)) {
            fclose(f);
            free(z);
            return dream_err_set(err, "%s:%d: not a 40-character Z85 public key", allow_file, lineno);
        }
        z->nkeys++;
    }
    fclose(f);
    z->sock = zmq_socket(zctx, ZMQ_REP);
    if (!z->sock || zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0) {
        if (z->sock) zmq_close(z->sock);
        free(z);
        return dream_err_set(err, "ZAP handler: %s", zmq_strerror(zmq_errno()));
    }
    int one = 1;
    if (zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, sec, 40) != 0) {
        zmq_close(z->sock);
        free(z);
        return dream_err_set(err, "CURVE: %s (libzmq built without CURVE?)", zmq_strerror(zmq_errno()));
    }
    pthread_t th;
    if (pthread_create(&th, NULL, zap_main, z) != 0) {
        zmq_close(z->sock);
        free(z);
        return dream_err_set(err, "ZAP handler: cannot start thread");
    }
    pthread_detach(th);
    dlog_info("curve", "CURVE on: server key %s, %d allowed worker keys", pub, z->nkeys);
    return 0;
}
