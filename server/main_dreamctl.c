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
    "  keygen                 print a new CURVE key pair (no dreamd needed)";

static int keygen(void) {
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "dreamctl: keygen: %s (libzmq without CURVE?)\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("# dreamfarm CURVE key pair (keep the secret line private)\npublic = %s\nsecret = %s\n", pub, sec);
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
