/*
 * test_admin.c — the pieces under the operator's console: the queue's operator controls
 * (remove, clear, skip, move to front, unban, live settings) and its export/import with the
 * remaining hold, the state database's key/value and set tables across a reopen, the admin
 * socket's locality rule, and the metrics registry (histogram, label escaping).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "admin.h"
#include "metrics.h"
#include "requests.h"
#include "state.h"

static double g_t;
static double fake_clock(void *ud) { (void)ud; return g_t; }
static dream_classes_t *g_classes;

static requests_t *mkq(double hold) {
    requests_config_t c;
    requests_config_defaults(&c);
    c.hold_s = hold; c.min_hold_s = hold / 4; c.drift = 0; c.queue_max = 20;
    c.initial_subject = 1; c.seed = 7;
    dream_err_t err = {{0}};
    requests_t *q = requests_new(&c, g_classes, &err);
    assert_non_null(q);
    g_t = 500.0;
    requests_set_clock(q, fake_clock, NULL);
    return q;
}

static int id(const char *w) { return dream_classes_lookup(g_classes, w, NULL); }

static int queue_id(requests_t *q, int i) {
    int ids[4], v;
    return requests_queue_get(q, i, ids, 4, &v) > 0 ? ids[0] : -1;
}

static void test_queue_controls(void **s) {
    requests_t *q = mkq(60);
    requests_result_t r;
    assert_int_equal(requests_submit(q, "tree frog", NULL, &r), 0);   /* now */
    assert_int_equal(r.position, 0);
    assert_int_equal(requests_submit(q, "volcano", NULL, &r), 0);
    assert_int_equal(requests_submit(q, "broccoli", NULL, &r), 0);
    assert_int_equal(requests_submit(q, "goldfish", NULL, &r), 0);
    assert_int_equal(requests_queue_len(q), 3);
    assert_int_equal(requests_remove(q, 0), -1);
    assert_int_equal(requests_remove(q, 4), -1);
    assert_int_equal(requests_remove(q, 2), 0);          /* broccoli */
    assert_int_equal(queue_id(q, 0), id("volcano"));
    assert_int_equal(queue_id(q, 1), id("goldfish"));
    assert_int_equal(requests_move_to_front(q, 2), 0);   /* goldfish first */
    assert_int_equal(queue_id(q, 0), id("goldfish"));
    assert_int_equal(requests_skip(q), 1);
    int ids[4];
    assert_int_equal(requests_current(q, ids, 4), 1);
    assert_int_equal(ids[0], id("goldfish"));
    assert_int_equal(requests_clear(q), 1);
    assert_int_equal(requests_queue_len(q), 0);
    requests_destroy(&q);
}

static void test_bans_and_live(void **s) {
    requests_t *q = mkq(60);
    requests_result_t r;
    assert_int_equal(requests_ban_word(q, "Gold-Fish"), 0);
    assert_int_equal(requests_ban_ip(q, "10.0.0.9"), 0);
    assert_int_equal(requests_submit(q, "goldfish", "1.2.3.4", &r), 0);    /* "goldfish" != "gold fish" */
    assert_int_equal(requests_submit(q, "gold fish", "1.2.3.4", &r), -1);
    assert_int_equal(r.code, REQ_BANNED);
    char buf[256];
    assert_int_equal(requests_bans_text(q, 1, 1, buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "word gold fish\n"));
    assert_non_null(strstr(buf, "ip 10.0.0.9\n"));
    assert_int_equal(requests_unban_word(q, "gold fish"), 1);
    assert_int_equal(requests_unban_word(q, "gold fish"), 0);
    assert_int_equal(requests_unban_ip(q, "10.0.0.9"), 1);
    assert_int_equal(requests_bans_text(q, 1, 1, buf, sizeof buf), 0);
    dream_err_t err = {{0}};
    assert_int_equal(requests_set_live(q, 10, 20, 3, 3, 0, &err), -1);    /* min hold > hold */
    assert_non_null(strstr(err.msg, "min hold"));
    assert_int_equal(requests_set_live(q, 10, 5, 3, 3, 0, &err), 0);
    g_t += 11;
    assert_int_equal(requests_remaining_s(q) < 0, 1);    /* the new, shorter hold applies */
    requests_destroy(&q);
}

static void test_export_import(void **s) {
    requests_t *a = mkq(100);
    requests_result_t r;
    requests_submit(a, "tree frog", NULL, &r);
    requests_submit(a, "volcano", NULL, &r);
    requests_submit(a, "volcano", "9.9.9.9", &r);      /* a vote */
    requests_submit(a, "broccoli + goldfish", NULL, &r);
    g_t += 30;
    requests_snapshot_t *sn = calloc(1, sizeof *sn);
    assert_int_equal(requests_export(a, sn), 2);
    double rem = sn->cur_remaining_s;
    assert_true(rem > 0 && rem < 100);
    requests_t *b = mkq(100);
    g_t = 9000;      /* later: the hold resumes where it was, not from the start */
    requests_set_clock(b, fake_clock, NULL);
    assert_int_equal(requests_import(b, sn), 2);
    int ids[4], v = 0;
    assert_int_equal(requests_current(b, ids, 4), 1);
    assert_int_equal(ids[0], id("tree frog"));
    assert_true(requests_remaining_s(b) > rem - 0.01 && requests_remaining_s(b) < rem + 0.01);
    assert_int_equal(requests_queue_get(b, 0, ids, 4, &v), 1);
    assert_int_equal(ids[0], id("volcano"));
    assert_int_equal(v, 2);
    assert_int_equal(requests_queue_get(b, 1, ids, 4, &v), 2);
    /* out-of-range ids are skipped, not trusted */
    sn->n = 1;
    sn->q[0].n = 1;
    sn->q[0].ids[0] = 100000;
    assert_int_equal(requests_import(b, sn), 0);
    free(sn);
    requests_destroy(&a);
    requests_destroy(&b);
}

static void each_kv(const char *k, const char *v, void *ud) {
    char *acc = ud;
    strcat(acc, k);
    strcat(acc, "=");
    strcat(acc, v);
    strcat(acc, ";");
}
static void each_set(const char *v, void *ud) { strcat((char *)ud, v); strcat((char *)ud, ";"); }

static void test_state_kv_sets(void **s) {
    char path[] = "/tmp/test_admin_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    dream_err_t err = {{0}};
    dream_state_t *st = dream_state_open(path, &err);
    assert_non_null(st);
    uint8_t blob[1000];
    for (int i = 0; i < 1000; i++) blob[i] = (uint8_t)(i * 7);
    assert_int_equal(dream_state_kv_set(st, "canvas", blob, sizeof blob), 0);
    assert_int_equal(dream_state_kv_set(st, "config:steps", "3", 1), 0);
    assert_int_equal(dream_state_kv_set(st, "config:lr", "2.5", 3), 0);
    assert_int_equal(dream_state_kv_set(st, "config:steps", "4", 1), 0);    /* replaced */
    assert_int_equal(dream_state_set_add(st, "ban_word", "goldfish"), 0);
    assert_int_equal(dream_state_set_add(st, "ban_word", "goldfish"), 0);   /* a set */
    assert_int_equal(dream_state_set_add(st, "ban_ip", "10.0.0.1"), 0);
    dream_state_destroy(&st);
    st = dream_state_open(path, &err);      /* reopened: all of it is there */
    assert_non_null(st);
    void *d;
    size_t len;
    assert_int_equal(dream_state_kv_get(st, "canvas", &d, &len), 1);
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(d, blob, sizeof blob);
    free(d);
    assert_int_equal(dream_state_kv_get(st, "nothing", &d, &len), 0);
    char acc[256] = "";
    assert_int_equal(dream_state_kv_each(st, "config:", each_kv, acc), 2);
    assert_non_null(strstr(acc, "config:steps=4;"));
    assert_non_null(strstr(acc, "config:lr=2.5;"));
    acc[0] = 0;
    assert_int_equal(dream_state_set_each(st, "ban_word", each_set, acc), 1);
    assert_string_equal(acc, "goldfish;");
    assert_int_equal(dream_state_set_remove(st, "ban_word", "goldfish"), 1);
    assert_int_equal(dream_state_set_remove(st, "ban_word", "goldfish"), 0);
    assert_int_equal(dream_state_kv_del(st, "canvas"), 0);
    assert_int_equal(dream_state_kv_get(st, "canvas", &d, &len), 0);
    dream_state_destroy(&st);
    unlink(path);
    char side[64];
    snprintf(side, sizeof side, "%s-wal", path); unlink(side);
    snprintf(side, sizeof side, "%s-shm", path); unlink(side);
}

static void test_locality(void **s) {
    assert_true(admin_endpoint_is_local("ipc:///run/dreamd/admin.sock"));
    assert_true(admin_endpoint_is_local("tcp://127.0.0.1:5556"));
    assert_true(admin_endpoint_is_local("tcp://localhost:5556"));
    assert_true(admin_endpoint_is_local("tcp://[::1]:5556"));
    assert_false(admin_endpoint_is_local("tcp://0.0.0.0:5556"));
    assert_false(admin_endpoint_is_local("tcp://*:5556"));
    assert_false(admin_endpoint_is_local("tcp://192.0.2.2:5556"));
    assert_false(admin_endpoint_is_local("tcp://127example.org:5556"));
    assert_false(admin_endpoint_is_local("inproc://x"));
}

static void test_metrics(void **s) {
    char out[64];
    metrics_escape_label("a\"b\\c\nd\x01", out, sizeof out);
    assert_string_equal(out, "a\\\"b\\\\c\\nd?");
    metrics_observe_tile_ms(30);      /* 0.03 s: in le=0.05 and up, not in le=0.025 */
    metrics_observe_tile_ms(-5);      /* ignored */
    metrics_count_request(429);
    size_t len = 0;
    char *t = metrics_render(NULL, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    assert_non_null(strstr(t, "# TYPE dreamfarm_tile_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "dreamfarm_tile_duration_seconds_bucket{le=\"0.025\"} 0\n"));
    assert_non_null(strstr(t, "dreamfarm_tile_duration_seconds_bucket{le=\"0.05\"} 1\n"));
    assert_non_null(strstr(t, "dreamfarm_tile_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(t, "dreamfarm_tile_duration_seconds_count 1\n"));
    assert_non_null(strstr(t, "dreamfarm_requests_total{outcome=\"rate_limited\"} 1\n"));
    assert_true(metrics_on_public_port());
    free(t);
}

int main(void) {
    dream_err_t err = {{0}};
    g_classes = dream_classes_load_default(&err);
    if (!g_classes) { fprintf(stderr, "classes: %s\n", err.msg); return 1; }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_controls), cmocka_unit_test(test_bans_and_live),
        cmocka_unit_test(test_export_import), cmocka_unit_test(test_state_kv_sets),
        cmocka_unit_test(test_locality), cmocka_unit_test(test_metrics),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    dream_classes_destroy(&g_classes);
    return rc;
}
