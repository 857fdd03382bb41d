/*
 * test_irc.c — the IRC chat bridge's line parser and text cleaning (server/irc.h): well-formed
 * lines, prefixes, trailing parameters, tags, malformed and oversize lines, NUL / CR inside,
 * too many parameters, CTCP (ACTION kept, others ignored), mIRC colours and control characters
 * stripped, bounds of every output; plus irc_new's config validation (no network).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "irc.h"

static void test_parse_ok(void **state) {
    (void)state;
    irc_msg_t m;
    dream_err_t err = {{0}};
    const char *l = ":tester!~t@127.0.0.1 PRIVMSG #dream :the goldfish please\r\n";
    assert_int_equal(irc_parse(l, strlen(l), &m, &err), 0);
    assert_string_equal(m.prefix, "tester!~t@127.0.0.1");
    assert_string_equal(m.command, "PRIVMSG");
    assert_int_equal(m.nparams, 2);
    assert_string_equal(m.params[0], "#dream");
    assert_string_equal(m.params[1], "the goldfish please");
    char nick[32];
    assert_int_equal(irc_prefix_nick(m.prefix, nick, sizeof nick), 0);
    assert_string_equal(nick, "tester");

    l = "PING :irc.example.net";
    assert_int_equal(irc_parse(l, strlen(l), &m, &err), 0);
    assert_null(m.prefix);
    assert_string_equal(m.command, "PING");
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0], "irc.example.net");
    /* numeric, several middle params, lower-case command upper-cased, extra spaces */
    l = ":irc.example.net 433 *  dreambot :Nickname already in use\n";
    assert_int_equal(irc_parse(l, strlen(l), &m, &err), 0);
    assert_string_equal(m.command, "433");
    assert_int_equal(m.nparams, 3);
    assert_string_equal(m.params[1], "dreambot");
    assert_int_equal(irc_prefix_nick(m.prefix, nick, sizeof nick), -1);   /* a server */
    l = "privmsg #c :x";
    assert_int_equal(irc_parse(l, strlen(l), &m, &err), 0);
    assert_string_equal(m.command, "PRIVMSG");
    /* IRCv3 tags are skipped; an empty trailing parameter is a parameter */
    l = "@time=2026-01-01T00:00:00Z :a!b@c PRIVMSG #c :";
    assert_int_equal(irc_parse(l, strlen(l), &m, &err), 0);
    assert_string_equal(m.command, "PRIVMSG");
    assert_int_equal(m.nparams, 2);
    assert_string_equal(m.params[1], "");
    /* exactly 510 bytes + CR LF is fine */
    char big[600];
    memset(big, 'a', sizeof big);
    memcpy(big, "PRIVMSG #c :", 12);
    big[510] = '\r'; big[511] = '\n';
    assert_int_equal(irc_parse(big, 512, &m, &err), 0);
    assert_int_equal(strlen(m.params[1]), 510 - 12);
    /* nick bound */
    assert_int_equal(irc_prefix_nick("averyveryverylongnick!u@h", nick, 8), 0);
    assert_string_equal(nick, "averyve");
}

static void expect_bad(const char *l, size_t len, const char *needle) {
    irc_msg_t m;
    dream_err_t err = {{0}};
    assert_int_equal(irc_parse(l, len, &m, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("'%s' not in '%s'", needle, err.msg);
}

static void test_parse_malformed(void **state) {
    (void)state;
    expect_bad("", 0, "empty");
    expect_bad("\r\n", 2, "empty");
    expect_bad(":prefixonly", 11, "no command");
    expect_bad(": PRIVMSG #c :x", 15, "prefix");
    expect_bad("@tagsonly", 9, "tags");
    expect_bad("PRIV-MSG #c :x", 14, "bad command");
    expect_bad("12 x", 4, "bad command");
    expect_bad("PRIVMSG #c :a\rb", 15, "CR");
    expect_bad("PRIVMSG #c :a\nb", 15, "LF");
    expect_bad("PRIVMSG #c :a\0b", 15, "NUL");
    char big[700];
    memset(big, 'a', sizeof big);
    memcpy(big, "PRIVMSG #c :", 12);
    expect_bad(big, 511, "longer than 510");
    expect_bad(big, sizeof big, "longer than 510");
    expect_bad("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", 42, "more than 15");
    irc_msg_t m;
    assert_int_equal(irc_parse(NULL, 0, &m, NULL), -1);
    /* random bytes: never crash, outputs inside the buffer */
    uint32_t x = 2463534242u;
    for (int i = 0; i < 20000; i++) {
        char l[600];
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        size_t len = x % sizeof l;
        for (size_t k = 0; k < len; k++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; l[k] = (char)(k % 7 == 0 ? ' ' : k % 11 == 0 ? ':' : (x & 0xff)); }
        if (irc_parse(l, len, &m, NULL) == 0) {
            assert_true(m.command >= m.buf && m.command < m.buf + sizeof m.buf);
            assert_true(m.nparams <= IRC_MAX_PARAMS);
            for (int k = 0; k < m.nparams; k++) assert_true(strlen(m.params[k]) < IRC_MAX_LINE);
        }
    }
}

static void test_clean_text(void **state) {
    (void)state;
    char out[64];
    /* colours, bold, underline, reset stripped; spaces collapsed and trimmed */
    assert_int_equal(irc_clean_text("\x02\x03" "04,12tree\x03  frog\x0f \x1f", out, sizeof out), 9);
    assert_string_equal(out, "tree frog");
    assert_int_equal(irc_clean_text("\x03" "12volcano", out, sizeof out), 7);
    assert_string_equal(out, "volcano");
    assert_int_equal(irc_clean_text("\x04" "ff00aavolcano", out, sizeof out), 7);
    assert_string_equal(out, "volcano");
    /* CTCP: ACTION is chat, anything else is ignored */
    assert_int_equal(irc_clean_text("\001ACTION wants a goldfish\001", out, sizeof out), 16);
    assert_string_equal(out, "wants a goldfish");
    assert_int_equal(irc_clean_text("\001VERSION\001", out, sizeof out), -1);
    assert_int_equal(irc_clean_text("\001PING 123\001", out, sizeof out), -1);
    /* other control characters and DEL stripped, UTF-8 kept */
    assert_int_equal(irc_clean_text("a\x07" "b\x7f" "c \xc3\xa9", out, sizeof out), 6);
    assert_string_equal(out, "abc \xc3\xa9");
    /* bounded */
    char small[5];
    assert_int_equal(irc_clean_text("goldfish", small, sizeof small), 4);
    assert_string_equal(small, "gold");
    assert_int_equal(irc_clean_text(NULL, out, sizeof out), -1);
    assert_int_equal(irc_clean_text("x", out, 0), -1);
}

static void test_config_validation(void **state) {
    (void)state;
    irc_config_t c;
    dream_err_t err = {{0}};
    irc_config_defaults(&c);
    assert_true(c.reply_interval_s == 5.0);
    assert_null(irc_new(&c, &err));                      /* no server */
    c.server = "localhost:notaport"; c.channel = "#dream";
    assert_null(irc_new(&c, &err));
    assert_non_null(strstr(err.msg, "HOST:PORT"));
    c.server = "localhost:70000";
    assert_null(irc_new(&c, &err));
    c.server = "127.0.0.1:1"; c.channel = "dream";       /* no '#' */
    assert_null(irc_new(&c, &err));
    assert_non_null(strstr(err.msg, "#name"));
    c.channel = "#a,#b";
    assert_null(irc_new(&c, &err));
    c.channel = "#dream"; c.nick = "9lives";
    assert_null(irc_new(&c, &err));
    assert_non_null(strstr(err.msg, "nick"));
    c.nick = "bot"; c.password_file = "/nonexistent/irc-password";
    assert_null(irc_new(&c, &err));
    assert_non_null(strstr(err.msg, "password file"));
    /* valid: starts (the connection to port 1 fails and backs off); destroy stops it at once */
    c.password_file = NULL;
    irc_t *i = irc_new(&c, &err);
    assert_non_null(i);
    irc_stats_t st;
    irc_get_stats(i, &st);
    assert_int_equal(st.connected, 0);
    irc_destroy(&i);
    assert_null(i);
    irc_destroy(&i);
}

/* ---- the client against a scripted fake server on loopback */

static int g_calls;
static char g_nick[64], g_text[256];
static void handler(void *ud, const char *nick, const char *text, char *reply, size_t n) {
    (void)ud;
    g_calls++;
    snprintf(g_nick, sizeof g_nick, "%s", nick);
    snprintf(g_text, sizeof g_text, "%s", text);
    snprintf(reply, n, "dreaming of %s", text);
}

/* reads from fd until a line containing want arrives (or timeout); returns 1 if seen */
static int expect_line(int fd, const char *want, int timeout_ms, char *got, size_t gn) {
    static char buf[8192];
    static size_t len;
    double end = dream_now_ms() + timeout_ms;
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', len)) != NULL) {
            size_t l = (size_t)(nl - buf) + 1;
            char line[1024];
            size_t cl = l < sizeof line ? l : sizeof line - 1;
            memcpy(line, buf, cl);
            line[cl] = 0;
            memmove(buf, buf + l, len - l);
            len -= l;
            if (strstr(line, want)) { if (got) snprintf(got, gn, "%s", line); return 1; }
        }
        int left = (int)(end - dream_now_ms());
        if (left <= 0) return 0;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, left) <= 0) return 0;
        ssize_t r = recv(fd, buf + len, sizeof buf - len - 1, 0);
        if (r <= 0) return 0;
        len += (size_t)r;
    }
}

static void say(int fd, const char *s) { assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s)); }

static int accept_within(int lfd, int ms) {
    struct pollfd pf = {lfd, POLLIN, 0};
    if (poll(&pf, 1, ms) <= 0) return -1;
    return accept(lfd, NULL, NULL);
}

static void test_client_session(void **state) {
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 4), 0);
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", ntohs(a.sin_port));
    char pw[] = "/tmp/test_irc_pw_XXXXXX";
    int pfd = mkstemp(pw);
    assert_true(pfd >= 0);
    assert_int_equal(write(pfd, "s3cret\n", 7), 7);
    close(pfd);

    irc_config_t c;
    irc_config_defaults(&c);
    c.server = server; c.channel = "#dream"; c.nick = "dreambot"; c.password_file = pw;
    c.reply_interval_s = 1.0;
    c.handler = handler;
    dream_err_t err = {{0}};
    irc_t *irc = irc_new(&c, &err);
    assert_non_null(irc);
    int fd = accept_within(lfd, 5000);
    assert_true(fd >= 0);
    char got[1024];
    assert_true(expect_line(fd, "PASS s3cret", 3000, NULL, 0));
    assert_true(expect_line(fd, "NICK dreambot", 3000, NULL, 0));
    assert_true(expect_line(fd, "USER dreambot", 3000, NULL, 0));
    /* nick collision: a suffix */
    say(fd, ":srv 433 * dreambot :Nickname is already in use\r\n");
    assert_true(expect_line(fd, "NICK dreambot1", 3000, NULL, 0));
    say(fd, ":srv 001 dreambot1 :Welcome\r\n");
    assert_true(expect_line(fd, "JOIN #dream", 3000, NULL, 0));
    say(fd, ":dreambot1!u@h JOIN #dream\r\n");
    /* PING -> PONG */
    say(fd, "PING :abc123\r\n");
    assert_true(expect_line(fd, "PONG :abc123", 3000, NULL, 0));
    /* an oversize line (no LF for 2000 bytes) is dropped whole; the next line still works */
    char big[2100];
    memset(big, 'x', sizeof big);
    memcpy(big, ":v!u@h PRIVMSG #dream :", 23);
    assert_int_equal(send(fd, big, sizeof big, MSG_NOSIGNAL), (ssize_t)sizeof big);
    say(fd, " more of it\r\n:v!u@h PRIVMSG #other :not our channel\r\n");
    say(fd, ":viewer!u@h PRIVMSG #dream :\x02tree\x02 frog\r\n");
    assert_true(expect_line(fd, "PRIVMSG #dream :viewer: dreaming of tree frog", 3000, got, sizeof got));
    assert_int_equal(g_calls, 1);
    assert_string_equal(g_nick, "viewer");
    assert_string_equal(g_text, "tree frog");
    /* replies are paced: two quick messages, the second reply waits for the interval */
    double t0 = dream_now_ms();
    say(fd, ":a!u@h PRIVMSG #dream :volcano\r\n");
    assert_true(expect_line(fd, "a: dreaming of volcano", 3000, NULL, 0));
    assert_true(dream_now_ms() - t0 > 600);      /* 1 s after the first reply */
    assert_int_equal(g_calls, 2);
    irc_stats_t st;
    for (int i = 0; i < 100; i++) {          /* the counter follows the write */
        irc_get_stats(irc, &st);
        if (st.replies_sent == 2) break;
        usleep(10000);
    }
    assert_int_equal(st.connected, 1);
    assert_string_equal(st.nick, "dreambot1");
    assert_true(st.malformed >= 1);
    assert_int_equal(st.replies_sent, 2);
    /* the server goes away: the client reconnects (backoff 1 s) */
    close(fd);
    fd = accept_within(lfd, 5000);
    assert_true(fd >= 0);
    assert_true(expect_line(fd, "NICK dreambot", 3000, NULL, 0));
    irc_get_stats(irc, &st);
    assert_int_equal(st.connects, 2);
    irc_destroy(&irc);
    assert_true(expect_line(fd, "QUIT", 3000, NULL, 0));
    close(fd);
    close(lfd);
    unlink(pw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_clean_text),
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_client_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
