/*
 * test_zap.c — server/zap.c: a CURVE client whose key check() accepts gets through with the
 * User-Id check() wrote; another key is refused (on_refuse called, nothing arrives);
 * zap_destroy() stops and joins the thread while the context lives (then zmq_ctx_term
 * returns), and also after the context was shut down (the thread ended on ETERM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <string.h>
#include <zmq.h>
#include "zap.h"

typedef struct { uint8_t good[32]; atomic_int refused; } fx_t;

static int check(const uint8_t key[32], char *user, size_t n, void *ud) {
    fx_t *f = ud;
    if (memcmp(key, f->good, 32)) return 0;
    snprintf(user, n, "%s", "tester");
    return 1;
}
static void refused(void *ud) { atomic_fetch_add(&((fx_t *)ud)->refused, 1); }

/* a REQ client with key pair (pub, sec) sends "hi"; returns the server's User-Id or "" */
static void try_client(void *ctx, void *srv, const char *ep, const char *spub, const char *cpub, const char *csec,
                       char *user, size_t n) {
    user[0] = 0;
    void *c = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, tmo = 1500;
    zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, spub, 40);
    zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, cpub, 40);
    zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, csec, 40);
    assert_int_equal(zmq_connect(c, ep), 0);
    zmq_send(c, "hi", 2, ZMQ_DONTWAIT);
    zmq_setsockopt(srv, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_msg_t id, m;
    zmq_msg_init(&id);
    zmq_msg_init(&m);
    if (zmq_msg_recv(&id, srv, 0) >= 0 && zmq_msg_recv(&m, srv, 0) == 2) {
        const char *u = zmq_msg_gets(&m, "User-Id");
        snprintf(user, n, "%s", u ? u : "?");
    }
    zmq_msg_close(&id);
    zmq_msg_close(&m);
    zmq_close(c);
}

static void run(int shutdown_first) {
    char spub[41], ssec[41], gpub[41], gsec[41], bpub[41], bsec[41];
    if (zmq_curve_keypair(spub, ssec) != 0) { skip(); }
    assert_int_equal(zmq_curve_keypair(gpub, gsec), 0);
    assert_int_equal(zmq_curve_keypair(bpub, bsec), 0);
    fx_t f;
    memset(&f, 0, sizeof f);
    zmq_z85_decode(f.good, gpub);
    void *ctx = zmq_ctx_new();
    dream_err_t err = {{0}};
    zap_t *z = zap_new(ctx, check, refused, &f, &err);
    assert_non_null(z);
    assert_null(zap_new(ctx, check, refused, &f, &err));    /* one handler per context */
    void *srv = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(srv, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(srv, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(srv, ZMQ_CURVE_SECRETKEY, ssec, 40);
    assert_int_equal(zmq_bind(srv, "tcp://127.0.0.1:*"), 0);
    char ep[128];
    size_t epn = sizeof ep;
    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &epn);
    char user[64];
    try_client(ctx, srv, ep, spub, gpub, gsec, user, sizeof user);
    assert_string_equal(user, "tester");
    try_client(ctx, srv, ep, spub, bpub, bsec, user, sizeof user);
    assert_string_equal(user, "");
    assert_true(atomic_load(&f.refused) >= 1);
    zmq_close(srv);
    if (shutdown_first) zmq_ctx_shutdown(ctx);
    zap_destroy(&z);                    /* joins: returns only once the thread ended */
    assert_null(z);
    zap_destroy(&z);
    assert_int_equal(zmq_ctx_term(ctx), 0);
}

static void test_zap_live(void **st) { (void)st; run(0); }
static void test_zap_after_shutdown(void **st) { (void)st; run(1); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zap_live),
        cmocka_unit_test(test_zap_after_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
