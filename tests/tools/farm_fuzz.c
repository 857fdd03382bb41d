/*
 * farm_fuzz.c — a robustness probe of the coordinator's worker port (a test tool, not a
 * product binary: it was `dreamctl fuzz`): N rounds of garbage (1..4 parts), a well-formed
 * result with a short pixel frame and one with a wrong protocol version, then one
 * oversized frame of BIG bytes on its own connection (the coordinator drops a peer past
 * ZMQ_MAXMSGSIZE). Used by tests/integration/farm_garbage.sh and tests/soak/farm_chaos.sh.
 *
 *   build/tests/farm_fuzz ENDPOINT [N (default 100)] [BIG_BYTES (default 64 MiB)]
 * Exit 0 after sending ("OK sent ..."), 1 cannot connect, 2 bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "wire.h"

/* Robustness probe: garbage, wrong versions, bad pixel frames and an oversized frame. */
static int fuzz(const char *ep, int n, long big) {
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 2000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, ep) != 0) {
        fprintf(stderr, "farm_fuzz: connect %s: %s\n", ep, zmq_strerror(zmq_errno()));
        return 1;
    }
    uint64_t st = 0x243F6A8885A308D3ull;
    uint8_t buf[4096];
    for (int i = 0; i < n; i++) {
        size_t len = 1 + (size_t)(i * 7919 % (int)sizeof buf);
        for (size_t k = 0; k < len; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            buf[k] = (uint8_t)(st >> 56);
        }
        int parts = 1 + i % 4;
        for (int p = 0; p < parts; p++) zmq_send(s, buf, len / parts + 1, p + 1 < parts ? ZMQ_SNDMORE : 0);
        /* a well-formed envelope with a wrong version, and a result with a short pixel frame */
        Dreamfarm__Envelope env;
        Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
        Dreamfarm__Rect rect = DREAMFARM__RECT__INIT;
        rect.w = 64; rect.h = 64;
        wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
        r.tile = &rect;
        r.job_id = (uint64_t)i;
        env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
        env.result = &r;
        wire_send(s, NULL, 0, &env, buf, 100, 0, NULL);
        env.version = DREAM_WIRE_VERSION + 1 + (unsigned)i;
        wire_send(s, NULL, 0, &env, buf, 64 * 64 * 3 < sizeof buf ? 64 * 64 * 3 : sizeof buf, 0, NULL);
    }
    if (big > 0) {   /* on its own connection: the coordinator drops a peer that exceeds ZMQ_MAXMSGSIZE */
        void *b = zmq_socket(ctx, ZMQ_DEALER);
        zmq_setsockopt(b, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect(b, ep);
        uint8_t *huge = calloc(1, (size_t)big);
        if (huge) zmq_send(b, huge, (size_t)big, 0);
        free(huge);
        zmq_close(b);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    printf("OK sent %d malformed messages%s\n", n * 3, big > 0 ? " and one oversized frame" : "");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: farm_fuzz ENDPOINT [N] [BIG_BYTES]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 100;
    long big = argc > 3 ? atol(argv[3]) : 64L << 20;
    if (n < 0 || n > 1000000 || big < 0 || big > (1L << 30)) {
        fprintf(stderr, "farm_fuzz: N must be 0..1000000 and BIG 0..1 GiB\n");
        return 2;
    }
    return fuzz(argv[1], n, big);
}
