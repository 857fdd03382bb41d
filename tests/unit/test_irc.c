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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_clean_text),
        cmocka_unit_test(test_config_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
