/*
 * main_dreamctl.c — dreamctl, the admin console of dreamd (ZeroMQ REQ to the
 * admin socket), plus `keygen` for CURVE key pairs.
 *   dreamctl [--admin tcp://127.0.0.1:5556] [--timeout-ms N] COMMAND [ARGS]
 *   commands: status | workers | config | release WORKER | subject "tree frog + volcano" | quit | keygen
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "config.h"
#include "dlog.h"
#include "wire.h"

typedef struct ctl_cfg {
    char admin[256];
    int timeout_ms;
} ctl_cfg_t;

static const cfg_opt_t ctl_opts[] = {
    CFG_STR(ctl_cfg_t, admin, "admin", "tcp://127.0.0.1:5556", "dreamd admin endpoint"),
    CFG_INT(ctl_cfg_t, timeout_ms, "timeout-ms", "3000", 1, 600000, "reply timeout"),
    CFG_END};

static const char *SUMMARY =
    "Admin console of dreamd.\n"
    "commands:\n"
    "  status                 INFO-style # Server / # Workers / # Keyframes\n"
    "  workers                one line per worker, and the quarantine list\n"
    "  config                 dreamd's configuration (# Config, key:value)\n"
    "  release WORKER         release a quarantined worker\n"
    "  subject \"TEXT\"         set the dream subjects, e.g. \"tree frog + volcano\"\n"
    "  quit                   stop dreamd gracefully\n"
    "  keygen                 print a new CURVE key pair (no dreamd needed)\n"
    "  fuzz ENDPOINT [N] [BIG] send N malformed messages and one BIG-byte frame to a worker port (testing)";

static int keygen(void) {
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "dreamctl: keygen: %s (libzmq without CURVE?)\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("# dreamfarm CURVE key pair (keep the secret line private)\npublic = %s\nsecret = %s\n", pub, sec);
    return 0;
}

/* Robustness probe: garbage, wrong versions, bad pixel frames and an oversized frame. */
static int fuzz(const char *ep, int n, long big) {
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 2000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, ep) != 0) {
        fprintf(stderr, "dreamctl: connect %s: %s\n", ep, zmq_strerror(zmq_errno()));
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
    int first = 1;
    while (first < argc && !strncmp(argv[first], "--", 2)) {
        if (!strchr(argv[first], '=') && strcmp(argv[first], "--help") && first + 1 < argc) first++;
        first++;
    }
    ctl_cfg_t cfg;
    dream_err_t err = {{0}};
    int rc = cfg_parse_args(ctl_opts, &cfg, first, argv, "dreamctl", SUMMARY, &err);
    if (rc == 1) return 0;
    if (rc != 0) {
        fprintf(stderr, "dreamctl: %s\n", err.msg);
        return 2;
    }
    if (first >= argc) {
        cfg_print_help(ctl_opts, "dreamctl", SUMMARY, stderr);
        return 2;
    }
    if (!strcmp(argv[first], "keygen")) return keygen();
    if (!strcmp(argv[first], "fuzz")) {
        if (first + 1 >= argc) {
            fprintf(stderr, "dreamctl: usage: fuzz ENDPOINT [N] [BIG_BYTES]\n");
            return 2;
        }
        int n = first + 2 < argc ? atoi(argv[first + 2]) : 100;
        long big = first + 3 < argc ? atol(argv[first + 3]) : 64L << 20;
        if (n < 0 || n > 1000000 || big < 0 || big > (1L << 30)) {
            fprintf(stderr, "dreamctl: fuzz: N must be 0..1000000 and BIG 0..1 GiB\n");
            return 2;
        }
        return fuzz(argv[first + 1], n, big);
    }
    char cmd[1024] = "";
    size_t len = 0;
    for (int i = first; i < argc; i++) {
        int w = snprintf(cmd + len, sizeof cmd - len, "%s%s", i > first ? " " : "", argv[i]);
        if (w < 0 || (size_t)w >= sizeof cmd - len) {
            fprintf(stderr, "dreamctl: command too long\n");
            return 2;
        }
        len += (size_t)w;
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_REQ);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &cfg.timeout_ms, sizeof cfg.timeout_ms);
    int64_t maxmsg = 1 << 20;
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_connect(s, cfg.admin) != 0) {
        fprintf(stderr, "dreamctl: connect %s: %s\n", cfg.admin, zmq_strerror(zmq_errno()));
        return 1;
    }
    zmq_send(s, cmd, len, 0);
    char *reply = malloc(1 << 20);
    int n = reply ? zmq_recv(s, reply, (1 << 20) - 1, 0) : -1;
    rc = 0;
    if (n < 0) {
        fprintf(stderr, "dreamctl: no reply from %s within %d ms\n", cfg.admin, cfg.timeout_ms);
        rc = 1;
    } else {
        if (n > (1 << 20) - 1) n = (1 << 20) - 1;
        reply[n] = 0;
        fputs(reply, stdout);
        if (!strncmp(reply, "ERR", 3)) rc = 1;
    }
    free(reply);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}
