/*
 * coord_curve.c — optional CURVE encryption/authentication of the worker
 * socket: the coordinator's key pair from a key file ("public = Z85" /
 * "secret = Z85" lines, as written by `dreamctl keygen`) and a ZAP handler
 * thread that admits only worker public keys listed in an allow file (one Z85
 * key per line, '#' comments). Off unless --curve-secret-file is given.
 * The ZAP thread itself is server/zap.c (shared with the admin socket).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "coord.h"
#include "dlog.h"
#include "wire.h"
#include "zap.h"

#define MAX_KEYS 1024

struct coord_curve {
    zap_t *zap;
    int nkeys;
    uint8_t keys[MAX_KEYS][32];
    unsigned long long refused;
};

/* a worker key in the allow list: its User-Id (its identity in dreamd) is the key in Z85 */
static int worker_key_ok(const uint8_t key[32], char *user, size_t n, void *ud) {
    coord_curve_t *cc = ud;
    for (int i = 0; i < cc->nkeys; i++)
        if (!memcmp(cc->keys[i], key, 32)) {
            if (n >= 41) zmq_z85_encode(user, key, 32);
            return 1;
        }
    return 0;
}

/* a peer can connect in a loop: log the 1st, 2nd, 4th, 8th ... refusal (ZAP thread only) */
static void worker_key_refused(void *ud) {
    coord_curve_t *cc = ud;
    cc->refused++;
    if ((cc->refused & (cc->refused - 1)) == 0)
        dlog_warn("curve", "refused a worker connection (key not in the allow list; %llu so far)", cc->refused);
}

/* the allow file: one Z85 key per line, '#' comments */
static int read_allow_file(coord_curve_t *cc, const char *allow_file, dream_err_t *err) {
    FILE *f = fopen(allow_file, "r");
    if (!f) return dream_err_set(err, "CURVE allow file %s: cannot open", allow_file);
    char line[256];
    int lineno = 0;
    while (fgets(line, sizeof line, f) && cc->nkeys < MAX_KEYS) {
        lineno++;
        char v[64];
        if (line[0] == '#' || sscanf(line, " %63s", v) != 1) continue;
        if (strlen(v) != 40 || !zmq_z85_decode(cc->keys[cc->nkeys], v)) {
            fclose(f);
            return dream_err_set(err, "%s:%d: not a 40-character Z85 public key", allow_file, lineno);
        }
        cc->nkeys++;
    }
    fclose(f);
    return 0;
}

coord_curve_t *coord_curve_new(void *zctx, void *router, const char *secret_file, const char *allow_file,
                               dream_err_t *err) {
    char pub[41], sec[41];
    if (wire_curve_read_keyfile(secret_file, pub, sec, err) != 0) return NULL;
    if (!allow_file || !*allow_file) { dream_err_set(err, "CURVE needs --curve-allow-file (worker public keys)"); return NULL; }
    coord_curve_t *cc = calloc(1, sizeof *cc);
    if (!cc) { dream_err_set(err, "out of memory"); return NULL; }
    if (read_allow_file(cc, allow_file, err) != 0) goto fail;
    int one = 1;
    if (zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, sec, 40) != 0) {
        dream_err_set(err, "CURVE: %s (libzmq built without CURVE?)", zmq_strerror(zmq_errno()));
        goto fail;
    }
    cc->zap = zap_new(zctx, worker_key_ok, worker_key_refused, cc, err);
    if (!cc->zap) goto fail;
    dlog_info("curve", "CURVE on: server key %s, %d allowed worker keys", pub, cc->nkeys);
    return cc;
fail:
    free(cc);
    return NULL;
}

void coord_curve_destroy(coord_curve_t **pcc) {
    if (!pcc || !*pcc) return;
    zap_destroy(&(*pcc)->zap);      /* stops and joins the ZAP thread */
    free(*pcc);
    *pcc = NULL;
}
