/*
 * ws_load.c — websocket load and conformance client for the dreamfarm stream (raw sockets,
 * epoll, one thread). Opens N viewers on the "dreamfarm.v1" subprotocol and checks what
 * each one receives:
 *   - a "hello" text event before any video,
 *   - the first video message is a keyframe (GOP cache join),
 *   - with --path /ws/webm (MSE viewers): the WebM init segment (type 2) before media (type 3),
 *   - frame numbers are contiguous except where the stream resumes at a keyframe
 *     (a lagging viewer skipping ahead); a gap landing on a delta frame is an error.
 * Some viewers can be made slow (stop reading for a while, tiny receive buffer) to exercise
 * the server's per-viewer queues.
 *
 *   ws_load --port P [--host 127.0.0.1] [--clients 50] [--seconds 10] [--ramp-ms 0]
 *           [--slow K --slow-after S --slow-pause S] [--rcvbuf BYTES] [--path /ws]
 *           [--proto dreamfarm.v1]
 * Prints one JSON line with totals; exit 0 if no protocol errors, 1 otherwise, 2 on bad use.
 * Build: cc -O2 -o build/bin/ws_load bench/ws_load.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TEXT 65536

typedef struct client {
    int fd, idx;
    int state;              /* 0 connecting, 1 handshake sent, 2 open, 3 closed */
    int slow, paused;
    char hs[4096];
    size_t hs_len;
    /* frame parser */
    uint8_t fh[14];
    size_t fh_len, fh_need;
    uint64_t pay_left;
    int opcode, msg_opcode, fin;
    uint8_t head[16];       /* first 16 bytes of a binary message */
    size_t head_len;
    char *text;
    size_t text_len;
    uint64_t msg_len;
    /* checks */
    int got_hello, got_video, got_init;
    int64_t last_seq;
    uint64_t msgs, video, keys, texts, bytes, resyncs, errors;
    double t_connect, t_first_video;
    char err[128];
} client_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fail(client_t *c, const char *why) {
    c->errors++;
    if (!c->err[0]) snprintf(c->err, sizeof c->err, "%s", why);
}

static void on_message(client_t *c) {
    c->msgs++;
    if (c->msg_opcode == 1) {
        c->texts++;
        if (c->text && strstr(c->text, "\"type\":\"hello\"")) c->got_hello = 1;
    } else if (c->msg_opcode == 2) {
        if (c->head_len >= 16 && c->head[0] == 2) {      /* WebM init segment (MSE viewers) */
            if (c->got_video) fail(c, "WebM init segment after video");
            c->got_init = 1;
            return;
        }
        if (c->head_len < 16 || (c->head[0] != 1 && c->head[0] != 3)) { fail(c, "binary message without a video header"); return; }
        if (c->head[0] == 3 && !c->got_init) fail(c, "WebM media before the init segment");
        int key = c->head[1] & 1;
        int64_t seq = (int64_t)((uint32_t)c->head[8] << 24 | (uint32_t)c->head[9] << 16 | (uint32_t)c->head[10] << 8 | c->head[11]);
        if (!c->got_hello) fail(c, "video before hello");
        if (!c->got_video) {
            c->got_video = 1;
            c->t_first_video = now_s();
            if (!key) fail(c, "first video message is not a keyframe");
        } else if (seq != c->last_seq + 1) {
            if (key) c->resyncs++;
            else fail(c, "frame gap onto a delta frame");
        }
        c->last_seq = seq;
        c->video++;
        c->keys += key;
    }
}

/* feed received bytes into the websocket frame parser */
static void parse(client_t *c, const uint8_t *p, size_t n) {
    while (n > 0) {
        if (c->pay_left == 0 && c->fh_need == 0) { c->fh_len = 0; c->fh_need = 2; }
        if (c->fh_need > 0) {
            while (n > 0 && c->fh_len < c->fh_need) {
                c->fh[c->fh_len++] = *p++;
                n--;
                if (c->fh_len == 2) {
                    if (c->fh[1] & 0x80) { fail(c, "server frame is masked"); }
                    int l7 = c->fh[1] & 0x7f;
                    c->fh_need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
                }
            }
            if (c->fh_len < c->fh_need) return;
            int l7 = c->fh[1] & 0x7f;
            uint64_t len = (uint64_t)l7;
            if (l7 == 126) len = (uint64_t)c->fh[2] << 8 | c->fh[3];
            else if (l7 == 127) { len = 0; for (int i = 0; i < 8; i++) len = len << 8 | c->fh[2 + i]; }
            c->fin = (c->fh[0] & 0x80) != 0;
            c->opcode = c->fh[0] & 0x0f;
            c->fh_need = 0;
            c->pay_left = len;
            if (c->opcode == 1 || c->opcode == 2) {
                c->msg_opcode = c->opcode;
                c->head_len = 0;
                c->text_len = 0;
                c->msg_len = 0;
            } else if (c->opcode == 8) {
                c->state = 3;
            } else if (c->opcode != 0 && c->opcode != 9 && c->opcode != 10) {
                fail(c, "unknown opcode");
            }
            if (len == 0 && c->fin && (c->opcode <= 2)) on_message(c);
            continue;
        }
        size_t take = c->pay_left < n ? (size_t)c->pay_left : n;
        if (c->opcode <= 2) {
            if (c->msg_opcode == 2 && c->head_len < 16) {
                size_t h = 16 - c->head_len < take ? 16 - c->head_len : take;
                memcpy(c->head + c->head_len, p, h);
                c->head_len += h;
            } else if (c->msg_opcode == 1 && c->text_len + take < MAX_TEXT) {
                memcpy(c->text + c->text_len, p, take);
                c->text_len += take;
                c->text[c->text_len] = 0;
            }
            c->msg_len += take;
        }
        p += take;
        n -= take;
        c->pay_left -= take;
        if (c->pay_left == 0 && c->fin && c->opcode <= 2) on_message(c);
    }
}

static int set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *path = "/ws", *proto = "dreamfarm.v1";
    int port = 0, nclients = 50, nslow = 0, rcvbuf = 0, ramp_ms = 0;
    double seconds = 10, slow_after = 2, slow_pause = 5;
    static const struct option opts[] = {
        {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"clients", 1, 0, 'n'}, {"seconds", 1, 0, 's'},
        {"slow", 1, 0, 'S'}, {"slow-after", 1, 0, 'A'}, {"slow-pause", 1, 0, 'P'}, {"rcvbuf", 1, 0, 'r'},
        {"path", 1, 0, 'u'}, {"proto", 1, 0, 'o'}, {"ramp-ms", 1, 0, 'R'}, {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': nclients = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'S': nslow = atoi(optarg); break;
        case 'A': slow_after = atof(optarg); break;
        case 'P': slow_pause = atof(optarg); break;
        case 'r': rcvbuf = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'o': proto = optarg; break;
        case 'R': ramp_ms = atoi(optarg); break;
        default: fprintf(stderr, "usage: ws_load --port P [--clients N] [--seconds S] [--slow K] ...\n"); return 2;
        }
    }
    if (port <= 0 || nclients < 1 || nclients > 20000) { fprintf(stderr, "ws_load: need --port and 1..20000 clients\n"); return 2; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nclients + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)nclients + 64 ? rl.rlim_max : (rlim_t)nclients + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { fprintf(stderr, "ws_load: host must be an IPv4 address\n"); return 2; }

    client_t *cl = calloc((size_t)nclients, sizeof *cl);
    int ep = epoll_create1(0);
    double t0 = now_s();
    int opened = 0;
    uint8_t buf[65536];
    char req[1024];
    int reqlen = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: %s\r\nOrigin: http://%s:%d\r\n\r\n",
                          path, host, port, proto, host, port);
    while (now_s() - t0 < seconds) {
        /* open more clients (ramp) */
        while (opened < nclients && (ramp_ms == 0 || (now_s() - t0) * 1000.0 >= (double)opened * ramp_ms)) {
            client_t *c = &cl[opened];
            c->idx = opened;
            c->slow = opened < nslow;
            c->last_seq = -1;
            c->text = malloc(MAX_TEXT + 1);
            c->fd = socket(AF_INET, SOCK_STREAM, 0);
            if (c->fd < 0) { fail(c, "socket() failed (fd limit?)"); c->state = 3; opened++; continue; }
            if (rcvbuf > 0 && c->slow) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
            set_nonblock(c->fd);
            c->t_connect = now_s();
            if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
                fail(c, "connect failed");
                close(c->fd);
                c->fd = -1;
                c->state = 3;
            } else {
                struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            }
            opened++;
        }
        /* slow clients: pause / resume reading */
        double t = now_s() - t0;
        for (int i = 0; i < nslow && i < opened; i++) {
            client_t *c = &cl[i];
            if (c->state != 2) continue;
            int want_pause = t >= slow_after && t < slow_after + slow_pause;
            if (want_pause != c->paused) {
                c->paused = want_pause;
                struct epoll_event ev = {.events = want_pause ? 0 : EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 20);
        for (int i = 0; i < n; i++) {
            client_t *c = evs[i].data.ptr;
            if (c->state == 3) continue;
            if (c->state == 0 && (evs[i].events & EPOLLOUT)) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
                if (e) { fail(c, "connect refused"); c->state = 3; close(c->fd); continue; }
                if (write(c->fd, req, (size_t)reqlen) != reqlen) { fail(c, "handshake write failed"); c->state = 3; close(c->fd); continue; }
                c->state = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (c->state != 3) fail(c, c->state == 2 ? "server closed the connection" : "closed during handshake");
                c->state = 3;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                continue;
            }
            c->bytes += (uint64_t)r;
            if (c->state == 1) {
                size_t room = sizeof c->hs - 1 - c->hs_len;
                size_t take = (size_t)r < room ? (size_t)r : room;
                memcpy(c->hs + c->hs_len, buf, take);
                c->hs_len += take;
                c->hs[c->hs_len] = 0;
                char *end = strstr(c->hs, "\r\n\r\n");
                if (!end) {
                    if (c->hs_len >= sizeof c->hs - 1) { fail(c, "handshake reply too long"); c->state = 3; close(c->fd); }
                    continue;
                }
                if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0) { fail(c, "handshake refused"); c->state = 3; close(c->fd); continue; }
                if (!strcasestr(c->hs, proto)) fail(c, "subprotocol not confirmed");
                c->state = 2;
                size_t hdr = (size_t)(end + 4 - c->hs);
                /* bytes after the handshake in this read belong to frames */
                size_t consumed_before = c->hs_len - take;     /* bytes of hs from earlier reads */
                size_t off = hdr - consumed_before;
                if (off < (size_t)r) parse(c, buf + off, (size_t)r - off);
            } else if (c->state == 2) {
                parse(c, buf, (size_t)r);
            }
        }
    }
    /* totals */
    uint64_t msgs = 0, video = 0, keys = 0, bytes = 0, resyncs = 0, errors = 0;
    int open_ok = 0, first_key_ok = 0, with_video = 0, still_open = 0, slow_resynced = 0;
    uint64_t fast_resyncs = 0;
    double join_sum = 0;
    const char *first_err = NULL;
    int first_err_idx = -1;
    for (int i = 0; i < opened; i++) {
        client_t *c = &cl[i];
        msgs += c->msgs; video += c->video; keys += c->keys; bytes += c->bytes;
        resyncs += c->resyncs; errors += c->errors;
        if (c->state >= 2 && c->hs_len) open_ok++;
        if (c->state == 2) still_open++;
        if (c->got_video) { with_video++; join_sum += c->t_first_video - c->t_connect; }
        if (c->got_video && !strstr(c->err, "keyframe")) first_key_ok++;
        if (c->slow && c->resyncs > 0) slow_resynced++;
        if (!c->slow) fast_resyncs += c->resyncs;
        if (c->errors && !first_err) { first_err = c->err; first_err_idx = i; }
        if (c->fd > 0 && c->state != 3) close(c->fd);
        free(c->text);
    }
    double el = now_s() - t0;
    printf("{\"clients\":%d,\"opened\":%d,\"still_open\":%d,\"with_video\":%d,\"first_key_ok\":%d,"
           "\"messages\":%llu,\"video\":%llu,\"keyframes\":%llu,\"bytes\":%llu,\"mbit_s\":%.2f,"
           "\"resyncs\":%llu,\"fast_resyncs\":%llu,\"slow_clients\":%d,\"slow_resynced\":%d,\"join_ms_avg\":%.1f,\"errors\":%llu,"
           "\"first_error\":\"%s\",\"first_error_client\":%d,\"seconds\":%.1f}\n",
           nclients, open_ok, still_open, with_video, first_key_ok, (unsigned long long)msgs,
           (unsigned long long)video, (unsigned long long)keys, (unsigned long long)bytes,
           bytes * 8.0 / 1e6 / (el > 0 ? el : 1), (unsigned long long)resyncs, (unsigned long long)fast_resyncs, nslow, slow_resynced,
           with_video ? join_sum / with_video * 1000.0 : 0.0, (unsigned long long)errors,
           first_err ? first_err : "", first_err_idx, el);
    free(cl);
    close(ep);
    return errors ? 1 : 0;
}
