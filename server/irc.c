/*
 * irc.c — IRC line parser and the chat bridge's client thread (see irc.h).
 *
 * Thread shape: irc_new() starts one thread that owns the socket (and the TLS session).
 * It loops: connect -> register -> read lines (poll, 200 ms ticks so stop and the reply
 * timer are seen) -> on error close and wait the backoff. The only shared state is the
 * stop flag and the stats (mutex); the handler is called on this thread.
 */
#include "irc.h"
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define MOD "irc"
#define BACKOFF_MAX_S 60.0
#define RECV_BUF 8192

/* ------------------------------------------------------------------ parser */

int irc_parse(const char *line, size_t len, irc_msg_t *m, dream_err_t *err) {
    if (!line || !m) return dream_err_set(err, "irc: NULL line");
    memset(m, 0, sizeof *m);
    if (len > 0 && line[len - 1] == '\n') len--;
    if (len > 0 && line[len - 1] == '\r') len--;
    if (len == 0) return dream_err_set(err, "irc: empty line");
    if (len > IRC_MAX_LINE - 2) return dream_err_set(err, "irc: line of %zu bytes, longer than %d", len, IRC_MAX_LINE - 2);
    for (size_t i = 0; i < len; i++)
        if (line[i] == 0 || line[i] == '\r' || line[i] == '\n') return dream_err_set(err, "irc: NUL, CR or LF inside a line");
    memcpy(m->buf, line, len);
    m->buf[len] = 0;
    char *p = m->buf;
    if (*p == '@') {            /* IRCv3 message tags: skipped */
        char *sp = strchr(p, ' ');
        if (!sp) return dream_err_set(err, "irc: tags and no command");
        p = sp;
        while (*p == ' ') p++;
    }
    if (*p == ':') {
        char *sp = strchr(p, ' ');
        if (!sp || sp == p + 1) return dream_err_set(err, "irc: prefix and no command");
        *sp = 0;
        m->prefix = p + 1;
        p = sp + 1;
        while (*p == ' ') p++;
    }
    if (!*p) return dream_err_set(err, "irc: no command");
    char *cmd = p;
    while (*p && *p != ' ') p++;
    if (*p) *p++ = 0;
    size_t cl = strlen(cmd);
    int digits = cl == 3 && isdigit((unsigned char)cmd[0]) && isdigit((unsigned char)cmd[1]) && isdigit((unsigned char)cmd[2]);
    int alpha = 1;
    for (size_t i = 0; i < cl && alpha; i++) alpha = isalpha((unsigned char)cmd[i]);
    if (!digits && !(alpha && cl <= 20)) return dream_err_set(err, "irc: bad command '%.20s'", cmd);
    for (size_t i = 0; i < cl; i++) cmd[i] = (char)toupper((unsigned char)cmd[i]);
    m->command = cmd;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        if (m->nparams == IRC_MAX_PARAMS) return dream_err_set(err, "irc: more than %d parameters", IRC_MAX_PARAMS);
        if (*p == ':') { m->params[m->nparams++] = p + 1; break; }
        m->params[m->nparams++] = p;
        while (*p && *p != ' ') p++;
        if (*p) *p++ = 0;
    }
    return 0;
}

int irc_prefix_nick(const char *prefix, char *out, size_t n) {
    if (!out || n == 0) return -1;
    out[0] = 0;
    if (!prefix) return -1;
    size_t l = strcspn(prefix, "!@");
    if (l == 0 || (prefix[l] == 0 && strchr(prefix, '.'))) return -1;   /* a server name */
    if (l >= n) l = n - 1;
    memcpy(out, prefix, l);
    out[l] = 0;
    return 0;
}

int irc_clean_text(const char *in, char *out, size_t n) {
    if (!out || n == 0) return -1;
    out[0] = 0;
    if (!in) return -1;
    if (in[0] == '\001') {      /* CTCP */
        if (strncmp(in + 1, "ACTION ", 7) != 0) return -1;
        in += 8;
    }
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && k + 1 < n; p++) {
        unsigned char c = *p;
        if (c == 0x03) {        /* colour: ^C[fg[,bg]] with 1-2 digits each */
            int d = 0;
            while (d < 2 && isdigit(p[1])) { p++; d++; }
            if (d && p[1] == ',' && isdigit(p[2])) {
                p++;
                d = 0;
                while (d < 2 && isdigit(p[1])) { p++; d++; }
            }
            continue;
        }
        if (c == 0x04) {        /* hex colour ^D RRGGBB */
            int d = 0;
            while (d < 6 && isxdigit(p[1])) { p++; d++; }
            continue;
        }
        if (c < 0x20 || c == 0x7f) continue;   /* bold, italic, reset, CTCP end, ... */
        if (c == ' ' && (k == 0 || out[k - 1] == ' ')) continue;
        out[k++] = (char)c;
    }
    while (k > 0 && out[k - 1] == ' ') k--;
    out[k] = 0;
    return (int)k;
}

/* ------------------------------------------------------------------ client */

struct irc {
    irc_config_t cfg;
    char host[256], port[16], channel[64], nick[IRC_MAX_NICK + 1], password[256];
    int tls;
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    int stop;
    irc_stats_t st;
    /* connection (thread only) */
    int fd;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    char rbuf[RECV_BUF];
    size_t rlen;
    int discarding;             /* inside an oversize line: drop until LF */
    int registered, nick_tries;
    char cur_nick[IRC_MAX_NICK + 1];
    char pending[IRC_MAX_LINE];
    double last_reply;
};

void irc_config_defaults(irc_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->nick = "dreamfarm";
    cfg->tls_verify = 1;
    cfg->reply_interval_s = 5.0;
}

static int stopping(irc_t *c) {
    pthread_mutex_lock(&c->mu);
    int s = c->stop;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static int valid_nick(const char *s) {
    size_t l = strlen(s);
    if (l < 1 || l > IRC_MAX_NICK || isdigit((unsigned char)s[0]) || s[0] == '-') return 0;
    for (size_t i = 0; i < l; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-_[]\\`^{}|", s[i])) return 0;
    return 1;
}

static void close_conn(irc_t *c) {
    if (c->ssl) { SSL_shutdown(c->ssl); SSL_free(c->ssl); c->ssl = NULL; }
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->rlen = 0;
    c->discarding = 0;
    c->registered = 0;
    pthread_mutex_lock(&c->mu);
    c->st.connected = 0;
    pthread_mutex_unlock(&c->mu);
}

static int send_line(irc_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int send_line(irc_t *c, const char *fmt, ...) {
    char line[IRC_MAX_LINE + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, IRC_MAX_LINE - 1, fmt, ap);      /* room for CR LF */
    va_end(ap);
    if (n < 0) return -1;
    if (n > IRC_MAX_LINE - 2) n = IRC_MAX_LINE - 2;
    for (int i = 0; i < n; i++) if (line[i] == '\r' || line[i] == '\n' || line[i] == 0) line[i] = ' ';
    line[n++] = '\r';
    line[n++] = '\n';
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w;
        if (c->ssl) {
            int r = SSL_write(c->ssl, line + off, n - (int)off);
            w = r > 0 ? r : -1;
        } else {
            w = send(c->fd, line + off, (size_t)n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
        }
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

static int connect_tcp(irc_t *c) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc) { dlog_warn(MOD, "%s:%s: %s", c->host, c->port, gai_strerror(rc)); return -1; }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {10, 0};     /* bounds connect, the TLS handshake and a stalled write */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) { dlog_warn(MOD, "cannot connect to %s:%s: %s", c->host, c->port, strerror(errno)); return -1; }
    c->fd = fd;
    if (!c->tls) return 0;
    c->ssl = SSL_new(c->ssl_ctx);
    if (!c->ssl) return -1;
    SSL_set_fd(c->ssl, fd);
    SSL_set_tlsext_host_name(c->ssl, c->host);
    if (c->cfg.tls_verify) SSL_set1_host(c->ssl, c->host);
    if (SSL_connect(c->ssl) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        dlog_warn(MOD, "TLS to %s:%s failed: %s", c->host, c->port, e);
        return -1;
    }
    return 0;
}

static void flush_reply(irc_t *c) {
    if (!c->pending[0] || !c->registered) return;
    double now = dream_now_s();
    if (now - c->last_reply < c->cfg.reply_interval_s) return;
    if (send_line(c, "PRIVMSG %s :%s", c->channel, c->pending) == 0) {
        c->last_reply = now;
        pthread_mutex_lock(&c->mu);
        c->st.replies_sent++;
        pthread_mutex_unlock(&c->mu);
    }
    c->pending[0] = 0;
}

static int handle(irc_t *c, const irc_msg_t *m) {
    const char *cmd = m->command;
    if (!strcmp(cmd, "PING")) return send_line(c, "PONG :%s", m->nparams ? m->params[m->nparams - 1] : c->host);
    if (!strcmp(cmd, "001")) {
        c->registered = 1;
        if (m->nparams >= 1 && valid_nick(m->params[0])) snprintf(c->cur_nick, sizeof c->cur_nick, "%s", m->params[0]);
        dlog_info(MOD, "registered on %s:%s as %s, joining %s", c->host, c->port, c->cur_nick, c->channel);
        return send_line(c, "JOIN %s", c->channel);
    }
    if (!strcmp(cmd, "433") || !strcmp(cmd, "436")) {   /* nick in use / collision */
        if (c->registered) return 0;
        if (++c->nick_tries > 50) { dlog_warn(MOD, "no free nick after 50 tries"); return -1; }
        char next[64];
        snprintf(next, sizeof next, "%.*s%d", IRC_MAX_NICK - 3, c->nick, c->nick_tries % 100);
        memcpy(c->cur_nick, next, sizeof c->cur_nick - 1);
        c->cur_nick[sizeof c->cur_nick - 1] = 0;
        dlog_info(MOD, "nick taken, trying %s", c->cur_nick);
        return send_line(c, "NICK %s", c->cur_nick);
    }
    if (!strcmp(cmd, "JOIN") && m->nparams >= 1) {
        char who[IRC_MAX_NICK + 8];
        if (irc_prefix_nick(m->prefix, who, sizeof who) == 0 && !strcasecmp(who, c->cur_nick) &&
            !strcasecmp(m->params[0], c->channel)) {
            pthread_mutex_lock(&c->mu);
            c->st.connected = 1;
            snprintf(c->st.nick, sizeof c->st.nick, "%s", c->cur_nick);
            pthread_mutex_unlock(&c->mu);
            dlog_info(MOD, "joined %s", c->channel);
        }
        return 0;
    }
    if (!strcmp(cmd, "NICK") && m->nparams >= 1) {
        char who[IRC_MAX_NICK + 8];
        if (irc_prefix_nick(m->prefix, who, sizeof who) == 0 && !strcasecmp(who, c->cur_nick) && valid_nick(m->params[0]))
            snprintf(c->cur_nick, sizeof c->cur_nick, "%s", m->params[0]);
        return 0;
    }
    if (!strcmp(cmd, "ERROR")) {
        dlog_warn(MOD, "server says: %.200s", m->nparams ? m->params[m->nparams - 1] : "");
        return -1;
    }
    if (!strcmp(cmd, "PRIVMSG") && m->nparams >= 2 && !strcasecmp(m->params[0], c->channel)) {
        char who[IRC_MAX_NICK + 8], text[IRC_MAX_LINE];
        if (irc_prefix_nick(m->prefix, who, sizeof who) != 0 || !strcasecmp(who, c->cur_nick)) return 0;
        if (irc_clean_text(m->params[1], text, sizeof text) <= 0) return 0;
        pthread_mutex_lock(&c->mu);
        c->st.messages++;
        pthread_mutex_unlock(&c->mu);
        char reply[IRC_MAX_LINE] = "";
        if (c->cfg.handler) c->cfg.handler(c->cfg.handler_ud, who, text, reply, sizeof reply);
        char clean[IRC_MAX_LINE - 80];
        if (irc_clean_text(reply, clean, sizeof clean) > 0) {
            if (c->pending[0]) {
                pthread_mutex_lock(&c->mu);
                c->st.replies_dropped++;
                pthread_mutex_unlock(&c->mu);
            }
            snprintf(c->pending, sizeof c->pending, "%s: %s", who, clean);
        }
        flush_reply(c);
    }
    return 0;
}

/* Splits the receive buffer into lines; -1 = drop the connection. */
static int process_buffer(irc_t *c) {
    size_t start = 0;
    for (size_t i = 0; i < c->rlen; i++) {
        if (c->rbuf[i] != '\n') continue;
        size_t len = i + 1 - start;
        if (c->discarding) c->discarding = 0;
        else {
            irc_msg_t m;
            dream_err_t err = {{0}};
            pthread_mutex_lock(&c->mu);
            c->st.lines_in++;
            pthread_mutex_unlock(&c->mu);
            if (irc_parse(c->rbuf + start, len, &m, &err) == 0) {
                if (handle(c, &m) < 0) return -1;
            } else if (len > 2) {
                pthread_mutex_lock(&c->mu);
                unsigned long bad = c->st.malformed++;
                pthread_mutex_unlock(&c->mu);
                if (bad < 10) dlog_debug(MOD, "%s", err.msg);
            }
        }
        start = i + 1;
    }
    memmove(c->rbuf, c->rbuf + start, c->rlen - start);
    c->rlen -= start;
    if (c->rlen >= IRC_MAX_LINE) {      /* an oversize line: drop it up to its end */
        c->rlen = 0;
        c->discarding = 1;
        pthread_mutex_lock(&c->mu);
        c->st.malformed++;
        pthread_mutex_unlock(&c->mu);
    }
    return 0;
}

static void session(irc_t *c) {
    c->nick_tries = 0;
    snprintf(c->cur_nick, sizeof c->cur_nick, "%s", c->nick);
    pthread_mutex_lock(&c->mu);
    c->st.connects++;
    pthread_mutex_unlock(&c->mu);
    if ((c->password[0] && send_line(c, "PASS %s", c->password) < 0) || send_line(c, "NICK %s", c->cur_nick) < 0 ||
        send_line(c, "USER %s 0 * :dreamfarm chat bridge", c->nick) < 0)
        return;
    while (!stopping(c)) {
        struct pollfd pf = {c->fd, POLLIN, 0};
        int pending_tls = c->ssl && SSL_pending(c->ssl) > 0;
        int rc = pending_tls ? 1 : poll(&pf, 1, 200);
        if (rc < 0 && errno != EINTR) return;
        if (rc > 0) {
            ssize_t r;
            size_t room = sizeof c->rbuf - c->rlen;
            if (c->ssl) {
                int k = SSL_read(c->ssl, c->rbuf + c->rlen, (int)room);
                if (k <= 0) {
                    int e = SSL_get_error(c->ssl, k);
                    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
                    dlog_warn(MOD, "connection to %s:%s closed", c->host, c->port);
                    return;
                }
                r = k;
            } else {
                r = recv(c->fd, c->rbuf + c->rlen, room, 0);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) { dlog_warn(MOD, "connection to %s:%s closed", c->host, c->port); return; }
            }
            c->rlen += (size_t)r;
            if (process_buffer(c) < 0) return;
        }
        flush_reply(c);
    }
    send_line(c, "QUIT :dreamfarm stopping");
}

static void *irc_main(void *arg) {
    irc_t *c = arg;
    double backoff = 1.0;
    while (!stopping(c)) {
        double t0 = dream_now_s();
        if (connect_tcp(c) == 0) {
            dlog_info(MOD, "connected to %s:%s%s", c->host, c->port, c->tls ? " (TLS)" : "");
            session(c);
        }
        int was_registered = c->registered;
        close_conn(c);
        if (stopping(c)) break;
        /* a session that lasted (registered, over a minute) resets the backoff */
        if (was_registered && dream_now_s() - t0 > 60) backoff = 1.0;
        dlog_info(MOD, "reconnecting in %.0f s", backoff);
        for (double w = 0; w < backoff && !stopping(c); w += 0.2) usleep(200000);
        backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
    }
    return NULL;
}

irc_t *irc_new(const irc_config_t *cfg, dream_err_t *err) {
    if (!cfg || !cfg->server || !*cfg->server) { dream_err_set(err, "irc: no server (HOST:PORT)"); return NULL; }
    irc_t *c = calloc(1, sizeof *c);
    if (!c) { dream_err_set(err, "irc: out of memory"); return NULL; }
    c->cfg = *cfg;
    c->fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    const char *colon = strrchr(cfg->server, ':');
    size_t hl = colon ? (size_t)(colon - cfg->server) : strlen(cfg->server);
    const char *port = colon ? colon + 1 : "6667";
    int pn = atoi(port);
    if (hl == 0 || hl >= sizeof c->host || strspn(port, "0123456789") != strlen(port) || pn < 1 || pn > 65535) {
        dream_err_set(err, "irc: server '%.100s' is not HOST:PORT", cfg->server);
        goto fail;
    }
    memcpy(c->host, cfg->server, hl);
    if (c->host[0] == '[' && c->host[hl - 1] == ']') { memmove(c->host, c->host + 1, hl - 2); c->host[hl - 2] = 0; }
    snprintf(c->port, sizeof c->port, "%d", pn);
    const char *ch = cfg->channel ? cfg->channel : "";
    if (!(ch[0] == '#' || ch[0] == '&') || strlen(ch) < 2 || strlen(ch) >= sizeof c->channel || strpbrk(ch, " ,\a\r\n")) {
        dream_err_set(err, "irc: channel '%.60s' must look like #name (no spaces or commas)", ch);
        goto fail;
    }
    snprintf(c->channel, sizeof c->channel, "%s", ch);
    const char *nick = cfg->nick && *cfg->nick ? cfg->nick : "dreamfarm";
    if (!valid_nick(nick)) { dream_err_set(err, "irc: nick '%.40s' is not a valid IRC nick", nick); goto fail; }
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    if (cfg->password_file && *cfg->password_file) {
        FILE *f = fopen(cfg->password_file, "r");
        if (!f) { dream_err_set(err, "irc: cannot read password file %s: %s", cfg->password_file, strerror(errno)); goto fail; }
        char line[256] = "";
        if (!fgets(line, sizeof line, f)) line[0] = 0;
        fclose(f);
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || strchr(line, ' ')) { dream_err_set(err, "irc: password file %s: first line must be the password (no spaces)", cfg->password_file); goto fail; }
        snprintf(c->password, sizeof c->password, "%s", line);
    }
    if (!(c->cfg.reply_interval_s >= 0)) c->cfg.reply_interval_s = 5.0;
    c->tls = cfg->tls || pn == 6697;
    if (c->tls) {
        c->ssl_ctx = SSL_CTX_new(TLS_client_method());
        if (!c->ssl_ctx) { dream_err_set(err, "irc: TLS context failed"); goto fail; }
        SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
        if (cfg->tls_verify) {
            SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
            SSL_CTX_set_default_verify_paths(c->ssl_ctx);
        }
    }
    c->last_reply = -1e9;
    if (pthread_create(&c->th, NULL, irc_main, c) != 0) { dream_err_set(err, "irc: cannot start thread"); goto fail; }
    c->started = 1;
    return c;
fail:
    irc_destroy(&c);
    return NULL;
}

void irc_destroy(irc_t **pc) {
    if (!pc || !*pc) return;
    irc_t *c = *pc;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->th, NULL);
    }
    close_conn(c);
    if (c->ssl_ctx) SSL_CTX_free(c->ssl_ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *pc = NULL;
}

void irc_get_stats(irc_t *c, irc_stats_t *out) {
    if (!c || !out) return;
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}
