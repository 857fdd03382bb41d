/*
 * test_dlog.c — the log helpers peers reach: dlog_escape (no raw control bytes or
 * newlines survive, truncation stays NUL-terminated) and the per-key token-bucket
 * rate limiter (per-key burst, refill, global cap across many keys, bounded table).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include "dlog.h"

static void test_escape(void **st) {
    (void)st;
    char out[64];
    dlog_escape("w1\n2026-01-01T00:00:00Z WARN [coord] forged", out, sizeof out);
    assert_null(strchr(out, '\n'));
    assert_non_null(strstr(out, "w1\\x0a2026"));
    dlog_escape("a\\b\r\x1b[31m\x7f\xc3\xa9", out, sizeof out);
    assert_string_equal(out, "a\\\\b\\x0d\\x1b[31m\\x7f\\xc3\\xa9");
    dlog_escape(NULL, out, sizeof out);
    assert_string_equal(out, "");
    char small[6];
    dlog_escape("\n\n\n", small, sizeof small);    /* no half escape */
    assert_string_equal(small, "\\x0a");
    for (size_t i = 0; i < strlen(out); i++) assert_true(out[i] >= 0x20 && out[i] < 0x7f);
}

static void test_rate_per_key(void **st) {
    (void)st;
    dlog_rl_t *rl = dlog_rl_new(16, 1.0, 3, 1000, 1000);
    assert_non_null(rl);
    double t = 1000;
    int ok = 0;
    for (int i = 0; i < 100; i++) ok += dlog_rl_allow(rl, "peerA:error", t, NULL);
    assert_int_equal(ok, 3);                        /* the burst, then nothing at the same instant */
    assert_true(dlog_rl_allow(rl, "peerB:error", t, NULL));    /* another key has its own bucket */
    unsigned long sup = 0;
    assert_true(dlog_rl_allow(rl, "peerA:error", t + 1001, &sup));   /* one token a second */
    assert_int_equal(sup, 97);
    assert_false(dlog_rl_allow(rl, "peerA:error", t + 1002, NULL));
    assert_int_equal(dlog_rl_dropped(rl), 98);
    dlog_rl_destroy(&rl);
    assert_null(rl);
    dlog_rl_destroy(&rl);
    assert_null(dlog_rl_new(0, 1, 1, 1, 1));
    assert_null(dlog_rl_new(4, 0, 1, 1, 1));
}

static void test_rate_global_and_bounded(void **st) {
    (void)st;
    /* 10000 distinct keys (peers) in 1 s: the global bucket (burst 20, 10/s) caps the total */
    dlog_rl_t *rl = dlog_rl_new(64, 1.0, 5, 10, 20);
    int ok = 0;
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "peer%d:hello", i);
        ok += dlog_rl_allow(rl, key, 5000 + i * 0.1, NULL);
    }
    assert_true(ok >= 20 && ok <= 20 + 10 + 1);
    dlog_rl_destroy(&rl);
}

/* runs dlog_write with stderr redirected to a file; returns the line written (no newline) */
static void capture(char *out, size_t n, dlog_level_t lvl, const char *mod, const char *msg) {
    fflush(stderr);
    int saved = dup(2);
    FILE *f = tmpfile();
    assert_non_null(f);
    dup2(fileno(f), 2);
    dlog_write(lvl, mod, "%s", msg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    if (!fgets(out, (int)n, f)) out[0] = 0;
    char extra[64];
    assert_null(fgets(extra, sizeof extra, f));     /* one event = one line */
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

/* a logfmt value at key in line, unquoted and unescaped into out; 0 if absent */
static int logfmt_get(const char *line, const char *key, char *out, size_t n) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (!p && !strncmp(line, pat + 1, strlen(pat + 1))) p = line - 1;
    if (!p) return 0;
    p += strlen(pat);
    size_t o = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && o + 1 < n; p++) {
            if (*p == '\\' && p[1] == 'n') { out[o++] = '\n'; p++; }
            else if (*p == '\\' && p[1] == 'x') { unsigned v; sscanf(p + 2, "%2x", &v); out[o++] = (char)v; p += 3; }
            else if (*p == '\\' && p[1]) { out[o++] = p[1]; p++; }
            else out[o++] = *p;
        }
    } else {
        while (*p && *p != ' ' && o + 1 < n) out[o++] = *p++;
    }
    out[o] = 0;
    return 1;
}

/* --log-format logfmt: one line of key=value pairs; the message round-trips through a logfmt
 * parser whatever it holds (quotes, backslashes, newlines, control bytes); event= messages
 * keep their own pairs; text stays the default */
static void test_logfmt(void **st) {
    (void)st;
    char line[2048], v[1024];
    dlog_format_t f;
    assert_int_equal(dlog_parse_format("logfmt", &f), 0);
    assert_int_equal(f, DLOG_FORMAT_LOGFMT);
    assert_int_equal(dlog_parse_format("json", &f), -1);
    capture(line, sizeof line, DLOG_WARN, "coord", "plain");
    assert_non_null(strstr(line, " WARN  [coord] plain"));      /* the default: text */
    dlog_set_format(DLOG_FORMAT_LOGFMT);
    const char *nasty = "worker \"w1\" said: a\\b\nlevel=error forged=1 \x01end";
    capture(line, sizeof line, DLOG_WARN, "coord", nasty);
    assert_int_equal(strncmp(line, "ts=", 3), 0);
    assert_true(logfmt_get(line, "level", v, sizeof v));
    assert_string_equal(v, "warn");
    assert_true(logfmt_get(line, "component", v, sizeof v));
    assert_string_equal(v, "coord");
    assert_true(logfmt_get(line, "msg", v, sizeof v));
    assert_string_equal(v, nasty);
    /* the top-level keys, quote-aware: exactly ts level component msg (no field forged) */
    char keys[8][32];
    int nk = 0;
    for (const char *p = line; *p && nk < 8;) {
        while (*p == ' ') p++;
        const char *eq = strchr(p, '=');
        if (!eq) break;
        snprintf(keys[nk++], sizeof keys[0], "%.*s", (int)(eq - p), p);
        p = eq + 1;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1]) p++;
            if (*p) p++;
        } else {
            while (*p && *p != ' ') p++;
        }
    }
    assert_int_equal(nk, 4);
    assert_string_equal(keys[0], "ts");
    assert_string_equal(keys[1], "level");
    assert_string_equal(keys[2], "component");
    assert_string_equal(keys[3], "msg");
    capture(line, sizeof line, DLOG_INFO, "admin", "event=pause source=operator");
    assert_non_null(strstr(line, " level=info component=admin event=pause source=operator"));
    assert_null(strstr(line, "msg="));
    dlog_set_format(DLOG_FORMAT_TEXT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_logfmt),
        cmocka_unit_test(test_rate_per_key),
        cmocka_unit_test(test_rate_global_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
