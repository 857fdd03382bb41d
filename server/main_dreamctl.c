/*
 * main_dreamctl.c — dreamctl, the operator's console of dreamd (ZeroMQ REQ to the admin
 * socket), plus `keygen` for CURVE key pairs.
 *   dreamctl [--admin EP] [--timeout-ms N] [--server-key Z85 --key-file FILE] [COMMAND ARGS...]
 * With a command: runs it once and prints the reply. Exit codes: 0 ok, 1 error reply
 * ("ERR ..."), 2 cannot reach dreamd (or bad options).
 * Without one: an interactive console (libedit): history in ~/.dreamctl_history, tab
 * completion of commands, worker names, config keys and class names, `help [COMMAND]`;
 * the command table and the completion words come from dreamd (`commands`, `names`).
 * `exit` / `quit` / Ctrl-D leave the console (one-shot `dreamctl quit` stops dreamd).
 * With stdin not a terminal, every line of it is one command (no prompt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zmq.h>
#include <editline/readline.h>
#include "config.h"
#include "dlog.h"
#include "wire.h"

typedef struct ctl_cfg {
    char admin[256];
    int timeout_ms;
    char server_key[64];
    char key_file[512];
} ctl_cfg_t;

static const cfg_opt_t ctl_opts[] = {
    CFG_STR(ctl_cfg_t, admin, "admin", "tcp://127.0.0.1:5556", "dreamd admin endpoint (tcp://HOST:PORT or ipc://PATH)"),
    CFG_INT(ctl_cfg_t, timeout_ms, "timeout-ms", "3000", 1, 600000, "reply timeout"),
    CFG_STR(ctl_cfg_t, server_key, "server-key", "", "CURVE: dreamd's admin public key (Z85) for a remote admin socket"),
    CFG_STR(ctl_cfg_t, key_file, "key-file", "", "CURVE: this operator's key pair (from dreamctl keygen)"),
    CFG_END};

static const char *SUMMARY =
    "Operator console of dreamd. Without COMMAND: interactive (history, tab completion, help).\n"
    "commands (`dreamctl help` asks dreamd for the full table):\n"
    "  status [SECTION] | workers | worker drain|kick|release NAME\n"
    "  queue | queue push TEXT | queue skip | queue remove N | queue clear | subject TEXT\n"
    "  pause | resume | config [get KEY] | config set KEY VALUE\n"
    "  ban word|ip add|remove|list X | ban list | snapshot FILE | record start FILE | record stop\n"
    "  log level LEVEL | shutdown | help [COMMAND]\n"
    "  keygen                 print a new CURVE key pair (no dreamd needed)\n"
    "exit codes: 0 ok, 1 error reply, 2 cannot reach dreamd";

static int keygen(void) {
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "dreamctl: keygen: %s (libzmq without CURVE?)\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("# dreamfarm CURVE key pair (keep the secret line private)\npublic = %s\nsecret = %s\n", pub, sec);
    return 0;
}

/* ---------- connection ---------- */

typedef struct conn {
    ctl_cfg_t *cfg;
    void *ctx, *sock;
    char pub[41], sec[41];
    int curve;
} conn_t;

static int conn_open(conn_t *c) {
    if (c->sock) return 0;
    c->sock = zmq_socket(c->ctx, ZMQ_REQ);
    if (!c->sock) return -1;
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c->sock, ZMQ_RCVTIMEO, &c->cfg->timeout_ms, sizeof c->cfg->timeout_ms);
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &c->cfg->timeout_ms, sizeof c->cfg->timeout_ms);
    int64_t maxmsg = 1 << 20;
    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (c->curve) {
        zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->cfg->server_key, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->pub, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->sec, 40);
    }
    if (zmq_connect(c->sock, c->cfg->admin) != 0) {
        fprintf(stderr, "dreamctl: connect %s: %s\n", c->cfg->admin, zmq_strerror(zmq_errno()));
        zmq_close(c->sock);
        c->sock = NULL;
        return -1;
    }
    return 0;
}

static void conn_reset(conn_t *c) {
    if (c->sock) zmq_close(c->sock);
    c->sock = NULL;
}

/* Sends one command; *reply malloc'd. 0 ok, 1 ERR reply, 2 unreachable. */
static int request(conn_t *c, const char *cmd, char **reply) {
    *reply = NULL;
    if (conn_open(c) != 0) return 2;
    if (zmq_send(c->sock, cmd, strlen(cmd), 0) < 0) { conn_reset(c); return 2; }
    char *r = malloc(1 << 20);
    int n = r ? zmq_recv(c->sock, r, (1 << 20) - 1, 0) : -1;
    if (n < 0) {
        free(r);
        conn_reset(c);      /* a REQ socket without its reply cannot send again */
        return 2;
    }
    if (n > (1 << 20) - 1) n = (1 << 20) - 1;
    r[n] = 0;
    *reply = r;
    return strncmp(r, "ERR", 3) ? 0 : 1;
}

static int run_print(conn_t *c, const char *cmd) {
    char *reply;
    int rc = request(c, cmd, &reply);
    if (rc == 2) {
        fprintf(stderr, "dreamctl: cannot reach dreamd at %s (no reply within %d ms)\n", c->cfg->admin, c->cfg->timeout_ms);
        return 2;
    }
    fputs(reply, rc ? stderr : stdout);
    if (*reply && reply[strlen(reply) - 1] != '\n') fputc('\n', rc ? stderr : stdout);
    free(reply);
    return rc;
}

/* ---------- interactive console ---------- */

#define MAX_WORDS 4096
static conn_t *g_conn;
static char *g_cmds[256];           /* command names from the table */
static int g_ncmds;
static char *g_words[MAX_WORDS];    /* completion candidates for the current position */
static int g_nwords;
static char *g_classes[1100];
static int g_nclasses;

static void words_clear(void) {
    for (int i = 0; i < g_nwords; i++) free(g_words[i]);
    g_nwords = 0;
}

static void words_add(const char *w) {
    if (g_nwords < MAX_WORDS && *w) g_words[g_nwords++] = strdup(w);
}

/* lines of a `names WHAT` reply into list */
static int fetch_names(const char *what, char **list, int max) {
    char cmd[64], *reply;
    snprintf(cmd, sizeof cmd, "names %s", what);
    if (request(g_conn, cmd, &reply) != 0) { free(reply); return 0; }
    int n = 0;
    for (char *save = NULL, *l = strtok_r(reply, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        list[n++] = strdup(l);
    free(reply);
    return n;
}

static void load_table(void) {
    char *reply;
    if (g_ncmds || request(g_conn, "commands", &reply) != 0) return;
    for (char *save = NULL, *l = strtok_r(reply, "\n", &save); l && g_ncmds < 256; l = strtok_r(NULL, "\n", &save)) {
        l[strcspn(l, "\t")] = 0;
        g_cmds[g_ncmds++] = strdup(l);
    }
    free(reply);
}

static char *gen_words(const char *text, int state) {
    static int i;
    static size_t len;
    if (!state) { i = 0; len = strlen(text); }
    while (i < g_nwords) {
        const char *w = g_words[i++];
        if (!strncasecmp(w, text, len)) return strdup(w);
    }
    return NULL;
}

static int starts(const char *line, const char *prefix) { return !strncmp(line, prefix, strlen(prefix)); }

static char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1;
    load_table();
    words_clear();
    char line[1024];
    snprintf(line, sizeof line, "%.*s", start, rl_line_buffer);
    /* collapse blanks so "worker   drain " matches */
    char norm[1024];
    size_t k = 0;
    int sp = 1;
    for (const char *p = line; *p && k + 1 < sizeof norm; p++) {
        if (*p == ' ' || *p == '\t') { if (!sp) norm[k++] = ' '; sp = 1; }
        else { norm[k++] = *p; sp = 0; }
    }
    norm[k] = 0;
    if (starts(norm, "worker drain ") || starts(norm, "worker kick ") || starts(norm, "worker release ") ||
        starts(norm, "release ")) {
        char *tmp[256];
        int n = fetch_names("workers", tmp, 256);
        for (int i = 0; i < n; i++) { words_add(tmp[i]); free(tmp[i]); }
    } else if (starts(norm, "config get ")) {
        char *tmp[256];
        int n = fetch_names("config", tmp, 256);
        for (int i = 0; i < n; i++) { words_add(tmp[i]); free(tmp[i]); }
    } else if (starts(norm, "config set ")) {
        if (strchr(norm + 11, ' ')) return NULL;   /* the value: nothing to offer */
        char *tmp[256];
        int n = fetch_names("live", tmp, 256);
        for (int i = 0; i < n; i++) { words_add(tmp[i]); free(tmp[i]); }
    } else if (starts(norm, "status ")) {
        char *tmp[32];
        int n = fetch_names("sections", tmp, 32);
        for (int i = 0; i < n; i++) { words_add(tmp[i]); free(tmp[i]); }
    } else if (starts(norm, "log level ")) {
        words_add("debug"); words_add("info"); words_add("warn"); words_add("error");
    } else if (starts(norm, "subject ") || starts(norm, "queue push ") || starts(norm, "ban word add ")) {
        if (!g_nclasses) g_nclasses = fetch_names("classes", g_classes, 1100);
        /* class names are matched on their first word: "tree fr" completes only "tree" */
        for (int i = 0; i < g_nclasses; i++) {
            char w[128];
            snprintf(w, sizeof w, "%s", g_classes[i]);
            w[strcspn(w, " ")] = 0;
            int dup = 0;
            for (int j = 0; j < g_nwords && !dup; j++) dup = !strcmp(g_words[j], w);
            if (!dup) words_add(w);
        }
    } else {
        /* the next word of a command name whose earlier words are already typed */
        const char *typed = norm;
        if (starts(typed, "help ")) typed += 5;
        size_t tl = strlen(typed);
        for (int i = 0; i < g_ncmds; i++) {
            if (strncmp(g_cmds[i], typed, tl)) continue;
            char w[128];
            snprintf(w, sizeof w, "%s", g_cmds[i] + tl);
            w[strcspn(w, " ")] = 0;
            int dup = 0;
            for (int j = 0; j < g_nwords && !dup; j++) dup = !strcmp(g_words[j], w);
            if (!dup) words_add(w);
        }
        if (!*typed) { words_add("exit"); }
    }
    return rl_completion_matches(text, gen_words);
}

static int interactive(conn_t *c) {
    g_conn = c;
    int tty = isatty(0);
    char hist[1024] = "";
    const char *home = getenv("HOME");
    if (home && *home) snprintf(hist, sizeof hist, "%s/.dreamctl_history", home);
    if (tty) {
        rl_readline_name = "dreamctl";
        rl_attempted_completion_function = complete;
        stifle_history(1000);
        if (hist[0]) read_history(hist);
        char *reply;
        int rc = request(c, "status server", &reply);
        if (rc == 2) printf("dreamctl: dreamd at %s does not answer (yet); commands will retry\n", c->cfg->admin);
        else printf("connected to dreamd at %s. help lists the commands, Tab completes, exit leaves.\n", c->cfg->admin);
        free(reply);
    }
    int last = 0;
    char prompt[300];
    snprintf(prompt, sizeof prompt, "dreamctl> ");
    for (;;) {
        char *line = NULL;
        if (tty) line = readline(prompt);
        else {
            static char buf[1024];
            if (!fgets(buf, sizeof buf, stdin)) break;
            buf[strcspn(buf, "\r\n")] = 0;
            line = strdup(buf);
        }
        if (!line) break;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        size_t l = strlen(p);
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t')) p[--l] = 0;
        if (!*p || *p == '#') { free(line); continue; }
        if (!strcmp(p, "exit") || !strcmp(p, "quit") || !strcmp(p, "\\q")) { free(line); break; }
        if (tty) {
            add_history(p);
            if (hist[0]) write_history(hist);
        }
        last = run_print(c, p);
        fflush(stdout);
        free(line);
    }
    if (tty) printf("\n");
    words_clear();
    for (int i = 0; i < g_ncmds; i++) free(g_cmds[i]);
    for (int i = 0; i < g_nclasses; i++) free(g_classes[i]);
    return tty ? 0 : last;
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
    if (first < argc && !strcmp(argv[first], "keygen")) return keygen();
    conn_t c = {.cfg = &cfg};
    if (cfg.server_key[0] || cfg.key_file[0]) {
        if (!cfg.server_key[0] || !cfg.key_file[0] || strlen(cfg.server_key) != 40) {
            fprintf(stderr, "dreamctl: CURVE needs both --server-key (40-character Z85) and --key-file\n");
            return 2;
        }
        if (wire_curve_read_keyfile(cfg.key_file, c.pub, c.sec, &err) != 0) {
            fprintf(stderr, "dreamctl: %s\n", err.msg);
            return 2;
        }
        c.curve = 1;
    }
    c.ctx = zmq_ctx_new();
    if (first >= argc) {
        rc = interactive(&c);
    } else {
        char cmd[1024] = "";
        size_t len = 0;
        for (int i = first; i < argc; i++) {
            int w = snprintf(cmd + len, sizeof cmd - len, "%s%s", i > first ? " " : "", argv[i]);
            if (w < 0 || (size_t)w >= sizeof cmd - len) {
                fprintf(stderr, "dreamctl: command too long\n");
                zmq_ctx_term(c.ctx);
                return 2;
            }
            len += (size_t)w;
        }
        rc = run_print(&c, cmd);
    }
    conn_reset(&c);
    zmq_ctx_term(c.ctx);
    return rc;
}
