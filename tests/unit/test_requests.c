/*
 * test_requests.c — request queue with an injected clock: parsing and refusals, merging,
 * hold times (shorter when the queue is long), drift, rate limit, bans, bounded queue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "requests.h"

static double g_t;
static double fake_clock(void *ud) { (void)ud; return g_t; }

typedef struct { dream_classes_t *classes; } fx_t;

static int setup(void **state) {
    dream_err_t err = {{0}};
    fx_t *f = calloc(1, sizeof *f);
    f->classes = dream_classes_load_default(&err);
    if (!f->classes) { fprintf(stderr, "classes: %s\n", err.msg); free(f); return -1; }
    *state = f;
    return 0;
}
static int teardown(void **state) {
    fx_t *f = *state;
    dream_classes_destroy(&f->classes);
    free(f);
    return 0;
}

static requests_t *mkq(fx_t *f, double hold, int drift, int qmax) {
    requests_config_t c;
    requests_config_defaults(&c);
    c.hold_s = hold; c.min_hold_s = hold / 4; c.drift = drift; c.queue_max = qmax;
    c.initial_subject = 1; c.seed = 42;
    dream_err_t err = {{0}};
    requests_t *q = requests_new(&c, f->classes, &err);
    assert_non_null(q);
    g_t = 1000.0;
    requests_set_clock(q, fake_clock, NULL);
    return q;
}

static int id_of(fx_t *f, const char *w) { return dream_classes_lookup(f->classes, w, NULL); }

static void test_refusals(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 0, 50);
    requests_result_t r;
    assert_int_equal(requests_submit(q, "", "1.1.1.1", &r), -1);
    assert_int_equal(r.code, REQ_EMPTY); assert_int_equal(r.http_status, 400);
    assert_int_equal(requests_submit(q, "  +  + ", "1.1.1.1", &r), -1);
    assert_int_equal(r.code, REQ_EMPTY);
    assert_int_equal(requests_submit(q, "treee frgo", "1.1.1.1", &r), -1);
    assert_int_equal(r.code, REQ_UNKNOWN);
    assert_true(r.n_closest >= 1);
    assert_int_equal(r.closest[0], id_of(f, "tree frog"));
    assert_non_null(strstr(r.message, "tree frog"));
    /* only common words: nothing to match (another address: its token is not 1.1.1.1's) */
    assert_int_equal(requests_submit(q, "the of and", "1.1.1.9", &r), -1);
    assert_int_equal(r.code, REQ_UNKNOWN);
    assert_int_equal(requests_submit(q, "a+b+c+d+e", "1.1.1.1", &r), -1);
    assert_int_equal(r.code, REQ_TOO_MANY);
    char big[400]; memset(big, 'a', sizeof big - 1); big[sizeof big - 1] = 0;
    assert_int_equal(requests_submit(q, big, "1.1.1.1", &r), -1);
    assert_int_equal(r.code, REQ_INVALID);
    assert_int_equal(requests_submit(q, "tree\x01frog", "1.1.1.1", &r), -1);
    assert_int_equal(r.code, REQ_INVALID);
    assert_int_equal(requests_submit(q, NULL, NULL, &r), -1);
    /* none of these touched the queue; the two that reached the class lookup (unknown, too
     * many) cost a token each (docs/security.md: refused requests are not free), the
     * malformed ones (empty, too long, control characters) are refused before the limiter */
    assert_int_equal(requests_queue_len(q), 0);
    assert_int_equal(requests_submit(q, "volcano", "1.1.1.1", &r), 0);
    assert_int_equal(requests_submit(q, "broccoli", "1.1.1.1", &r), -1);
    assert_int_equal(r.code, REQ_RATE);
    for (int i = 0; i < 3; i++) {
        const char *w[] = {"broccoli", "goldfish", "daisy"};
        assert_int_equal(requests_submit(q, w[i], "1.1.1.2", &r), 0);
    }
    requests_destroy(&q);
    assert_null(q);
    requests_destroy(&q);
}

static void test_takeover_hold_and_queue(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 0, 50);
    int ids[4];
    assert_int_equal(requests_current(q, ids, 4), 1);
    assert_int_equal(ids[0], 1);
    uint64_t s0 = requests_serial(q);
    requests_result_t r;
    /* nobody asked for the initial subject: the first request takes over at once */
    assert_int_equal(requests_submit(q, "Tree-Frog", "10.0.0.1", &r), 0);
    assert_int_equal(r.position, 0);
    assert_int_equal(r.http_status, 202);
    assert_true(strlen(r.message) > 10);
    assert_int_equal(requests_current(q, ids, 4), 1);
    assert_int_equal(ids[0], id_of(f, "tree frog"));
    assert_true(requests_serial(q) > s0);
    /* the next ones queue */
    assert_int_equal(requests_submit(q, "volcano + broccoli", "10.0.0.2", &r), 0);
    assert_int_equal(r.position, 1);
    assert_int_equal(r.n, 2);
    assert_non_null(strstr(r.message, "1"));
    /* typed order kept: the first subject typed is ids[0] (the seed layout's lower half) */
    assert_int_equal(r.ids[0], id_of(f, "volcano"));
    assert_int_equal(r.ids[1], id_of(f, "broccoli"));
    /* identical request (other case, other spacing) merges */
    assert_int_equal(requests_submit(q, "VOLCANO+broccoli", "10.0.0.3", &r), 0);
    assert_int_equal(r.position, 1);
    assert_true(r.merged);
    assert_int_equal(r.votes, 2);
    assert_int_equal(requests_queue_len(q), 1);
    /* same as current: answered as already on screen, not queued */
    assert_int_equal(requests_submit(q, "tree frog", "10.0.0.4", &r), 0);
    assert_int_equal(r.position, 0);
    assert_true(r.already);
    assert_non_null(strstr(r.message, "already on screen"));
    assert_int_equal(r.votes, 2);
    assert_int_equal(requests_queue_len(q), 1);
    /* hold: nothing changes before 60 s */
    g_t += 59.0;
    assert_int_equal(requests_tick(q), 0);
    assert_int_equal(requests_current(q, ids, 4), 1);
    g_t += 1.5;
    assert_int_equal(requests_tick(q), 1);
    assert_int_equal(requests_current(q, ids, 4), 2);
    assert_int_equal(ids[0], id_of(f, "volcano"));
    assert_int_equal(ids[1], id_of(f, "broccoli"));
    assert_int_equal(requests_queue_len(q), 0);
    /* the other order is another layout (broccoli below): its own entry, not a vote */
    assert_int_equal(requests_submit(q, "broccoli + volcano", "10.0.0.5", &r), 0);
    assert_int_equal(r.position, 1);
    assert_false(r.merged);
    assert_int_equal(r.ids[0], id_of(f, "broccoli"));
    g_t += 61;
    assert_int_equal(requests_tick(q), 1);
    assert_int_equal(requests_current(q, ids, 4), 2);
    assert_int_equal(ids[0], id_of(f, "broccoli"));
    assert_int_equal(requests_queue_len(q), 0);
    /* drift off + empty queue: keeps the subject */
    g_t += 1000;
    assert_int_equal(requests_tick(q), 0);
    assert_int_equal(requests_current(q, ids, 4), 2);
    /* json state */
    char *js = requests_state_json(q);
    assert_non_null(strstr(js, "\"current\""));
    assert_non_null(strstr(js, "volcano"));
    free(js);
    requests_destroy(&q);
}

/* the 2015 matching: single words of class names, shared names at random (seeded), names */
static void test_word_matching_and_names(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 0, 50);
    requests_result_t r;
    int frogs[2] = {id_of(f, "tree frog"), id_of(f, "tailed frog")};
    int seen[2] = {0, 0};
    for (int i = 0; i < 40; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.9.%d.1", i);
        assert_int_equal(requests_submit(q, i % 2 ? "Frog" : "the frog please", ip, &r), 0);
        assert_int_equal(r.n, 1);
        assert_true(r.ids[0] == frogs[0] || r.ids[0] == frogs[1]);
        seen[r.ids[0] == frogs[1]]++;
    }
    assert_true(seen[0] > 0 && seen[1] > 0);      /* both frog classes get picked */
    /* same seed, same picks: testable */
    requests_t *a = mkq(f, 60, 0, 50), *b = mkq(f, 60, 0, 50);
    for (int i = 0; i < 10; i++) {
        requests_result_t ra, rb;
        assert_int_equal(requests_submit(a, "spider", NULL, &ra), 0);
        assert_int_equal(requests_submit(b, "spider", NULL, &rb), 0);
        assert_int_equal(ra.ids[0], rb.ids[0]);
        const char *nm = dream_classes_name(f->classes, ra.ids[0]);
        assert_non_null(strstr(dream_classes_synonyms(f->classes, ra.ids[0]), "spider"));
        (void)nm;
    }
    requests_destroy(&a);
    requests_destroy(&b);
    /* a shared whole name ("crane": the bird and the machine) picks either */
    int seen_crane[1000] = {0}, kinds = 0;
    for (int i = 0; i < 30; i++) {
        assert_int_equal(requests_submit(q, "crane", NULL, &r), 0);
        if (!seen_crane[r.ids[0]]++) kinds++;
    }
    assert_int_equal(kinds, 2);
    /* an unknown part is dropped when another part resolves; typed order kept */
    assert_int_equal(requests_submit(q, "xqzzy + volcano", NULL, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ids[0], id_of(f, "volcano"));
    requests_destroy(&q);

    /* names: sanitised, bounded, shown in the label */
    q = mkq(f, 60, 0, 50);
    assert_int_equal(requests_submit_named(q, "volcano", NULL, "@Ann <b>\x1b", &r), 0);
    char label[128];
    assert_int_equal(requests_current_label(q, label, sizeof label), 1);
    assert_string_equal(label, "@Ann_b: volcano");
    char big[300];
    memset(big, 'n', sizeof big - 1); big[sizeof big - 1] = 0;
    char clean[64];
    requests_sanitise_name(big, clean, sizeof clean);
    assert_int_equal(strlen(clean), REQUESTS_MAX_NAME);
    requests_sanitise_name("\x01\x02", clean, sizeof clean);
    assert_string_equal(clean, "");
    requests_sanitise_name(NULL, clean, sizeof clean);
    assert_string_equal(clean, "");
    g_t += 61;
    requests_tick(q);
    assert_int_equal(requests_submit(q, "volcano + broccoli", NULL, &r), 0);
    assert_int_equal(requests_current_label(q, label, sizeof label), 2);
    assert_string_equal(label, "volcano & broccoli");
    char *js = requests_state_json(q);
    assert_non_null(strstr(js, "\"label\":\"volcano & broccoli\""));
    free(js);
    requests_destroy(&q);
}

/* default config: the 2015 stream (60 s hold, no drift) */
static void test_defaults_2015(void **state) {
    (void)state;
    requests_config_t c;
    requests_config_defaults(&c);
    assert_int_equal(c.drift, 0);
    assert_true(c.hold_s == 60);
}

static void test_long_queue_shortens_hold(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 0, 50);
    requests_result_t r;
    const char *w[] = {"goldfish", "tench", "volcano", "broccoli", "bubble", "gondola", "cheeseburger", "spider web", "tree frog", "daisy", "teapot"};
    char ip[32];
    for (int i = 0; i < 11; i++) {
        snprintf(ip, sizeof ip, "10.1.0.%d", i);
        assert_int_equal(requests_submit(q, w[i], ip, &r), 0);
        assert_int_equal(r.position, i);
    }
    /* 10 waiting: hold = max(15, 60*3/12 = 15) = 15 s */
    assert_true(requests_remaining_s(q) <= 15.0 + 1e-9);
    g_t += 15.0;
    assert_int_equal(requests_tick(q), 1);
    assert_int_equal(requests_queue_len(q), 9);
    int id; requests_current(q, &id, 1);
    assert_int_equal(id, id_of(f, "tench"));
    /* as the queue shrinks the hold grows back to 60 s */
    int changes = 0;
    for (int s = 0; s < 2000 && requests_queue_len(q) > 0; s++) { g_t += 1.0; changes += requests_tick(q); }
    assert_int_equal(changes, 9);
    /* the last one just started with an empty queue behind it: a full 60 s hold */
    assert_true(requests_remaining_s(q) > 60.0 - 1e-6 && requests_remaining_s(q) < 60.0 + 1e-6);
    requests_destroy(&q);
}

static void test_drift(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 10, 1, 50);
    int a, b;
    requests_current(q, &a, 1);
    g_t += 10.0;
    assert_int_equal(requests_tick(q), 1);
    requests_current(q, &b, 1);
    assert_true(b != a);
    assert_true(b >= 0 && b < dream_classes_count(f->classes));
    requests_destroy(&q);
}

static void test_rate_limit(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 0, 50);
    requests_result_t r;
    const char *w[] = {"goldfish", "tench", "volcano", "broccoli", "bubble"};
    for (int i = 0; i < 3; i++) assert_int_equal(requests_submit(q, w[i], "9.9.9.9", &r), 0);
    assert_int_equal(requests_submit(q, w[3], "9.9.9.9", &r), -1);
    assert_int_equal(r.code, REQ_RATE);
    assert_int_equal(r.http_status, 429);
    assert_true(r.retry_after_s > 0 && r.retry_after_s <= 20.0 + 1e-6);
    /* another address is not affected; a local (NULL) one never limited */
    assert_int_equal(requests_submit(q, w[3], "9.9.9.8", &r), 0);
    assert_int_equal(requests_submit(q, w[4], NULL, &r), 0);
    /* 3 per minute: one token back after 20 s */
    g_t += 20.5;
    assert_int_equal(requests_submit(q, "daisy", "9.9.9.9", &r), 0);
    assert_int_equal(requests_submit(q, "teapot", "9.9.9.9", &r), -1);
    requests_destroy(&q);
}

/* hostile viewers (docs/security.md): an IPv6 /64 is one key, whatever the host part;
 * a refused request costs a token too */
static void test_rate_keying(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 0, 50);
    requests_result_t r;
    char k[64];
    requests_rate_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    requests_rate_key("::ffff:10.1.2.3", k, sizeof k);
    assert_string_equal(k, "10.1.2.3");
    requests_rate_key("10.1.2.3", k, sizeof k);
    assert_string_equal(k, "10.1.2.3");
    const char *w[] = {"goldfish", "tench", "volcano", "broccoli"};
    char ip[64];
    int ok = 0;
    for (int i = 0; i < 1000; i++) {     /* 1000 source addresses of one /64 */
        snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
        ok += requests_submit(q, w[i % 4], ip, &r) == 0;
    }
    assert_int_equal(ok, 3);            /* the burst, once */
    assert_int_equal(requests_submit(q, "daisy", "2001:db8:1:3::1", &r), 0);    /* the next /64 is another key */
    /* refused (unknown subject) requests drain the bucket too */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(requests_submit(q, "xyzzyplugh", "7.7.7.7", &r), -1);
        assert_int_equal(r.code, REQ_UNKNOWN);
    }
    assert_int_equal(requests_submit(q, "volcano", "7.7.7.7", &r), -1);
    assert_int_equal(r.code, REQ_RATE);
    requests_destroy(&q);
}

static void test_bans_and_bounds(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 0, 3);
    requests_result_t r;
    char path[] = "/tmp/dream-bans-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fprintf(fp, "# bans\nword Goldfish\n\nip 6.6.6.6\n");
    fclose(fp);
    dream_err_t err = {{0}};
    assert_int_equal(requests_load_bans(q, path, &err), 0);
    assert_int_equal(requests_submit(q, "goldfish", "1.2.3.4", &r), -1);
    assert_int_equal(r.code, REQ_BANNED);
    assert_int_equal(r.http_status, 403);
    assert_int_equal(requests_submit(q, "volcano", "6.6.6.6", &r), -1);
    assert_int_equal(r.code, REQ_BANNED);
    fp = fopen(path, "w");
    fprintf(fp, "word ok\nnonsense line\n");
    fclose(fp);
    assert_int_equal(requests_load_bans(q, path, &err), -1);
    assert_non_null(strstr(err.msg, ":2:"));
    unlink(path);
    assert_int_equal(requests_load_bans(q, "/nonexistent/bans", &err), -1);
    /* bounded: current + 3 waiting, then full */
    const char *w[] = {"tench", "volcano", "broccoli", "bubble", "gondola"};
    for (int i = 0; i < 4; i++) assert_int_equal(requests_submit(q, w[i], NULL, &r), 0);
    assert_int_equal(requests_queue_len(q), 3);
    assert_int_equal(requests_submit(q, w[4], NULL, &r), -1);
    assert_int_equal(r.code, REQ_FULL);
    assert_int_equal(r.http_status, 503);
    /* merging into a full queue is still fine */
    assert_int_equal(requests_submit(q, w[2], NULL, &r), 0);
    assert_true(r.merged);
    requests_destroy(&q);
}

static void test_bad_config(void **state) {
    fx_t *f = *state;
    requests_config_t c;
    dream_err_t err = {{0}};
    requests_config_defaults(&c);
    c.hold_s = 0;
    assert_null(requests_new(&c, f->classes, &err));
    assert_non_null(strstr(err.msg, "hold"));
    requests_config_defaults(&c);
    assert_null(requests_new(&c, NULL, &err));
    c.initial_subject = 5000;
    assert_null(requests_new(&c, f->classes, &err));
}

/* random texts: every answer is either accepted or a refusal with a message; the queue bound holds */
static void test_random_texts(void **state) {
    fx_t *f = *state;
    requests_t *q = mkq(f, 60, 1, 20);
    uint32_t x = 88172645u;
    const char alphabet[] = "abcdefghijklmnopqrstuvwxyz +-_0123456789\x01\xc3\xa9";
    int n = getenv("DREAM_TEST_QUICK") ? 300 : 2000, accepted = 0;
    for (int i = 0; i < n; i++) {
        char t[260];
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        size_t len = x % 240;
        for (size_t k = 0; k < len; k++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; t[k] = alphabet[x % (sizeof alphabet - 1)]; }
        t[len] = 0;
        if (i % 7 == 0) snprintf(t, sizeof t, "%u", x % 1200);   /* ids, some out of range */
        requests_result_t r;
        char ip[32];
        snprintf(ip, sizeof ip, "10.2.%u.%u", (x >> 8) % 256, x % 256);
        int rc = requests_submit(q, t, ip, &r);
        assert_true(strlen(r.message) > 0);
        if (rc == 0) { accepted++; assert_int_equal(r.http_status, 202); assert_true(r.n >= 1 && r.n <= 4); }
        else assert_true(r.http_status >= 400 && r.http_status < 600);
        assert_true(requests_queue_len(q) <= 20);
        if (i % 50 == 0) { g_t += 30; requests_tick(q); }
    }
    print_message("# %d of %d random requests accepted\n", accepted, n);
    assert_true(accepted > 0);
    requests_destroy(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_takeover_hold_and_queue),
        cmocka_unit_test(test_word_matching_and_names),
        cmocka_unit_test(test_defaults_2015),
        cmocka_unit_test(test_long_queue_shortens_hold),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_rate_keying),
        cmocka_unit_test(test_bans_and_bounds),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_random_texts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
