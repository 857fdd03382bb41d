/*
 * test_proto.c — farm protocol framing (common/wire.c): round trips of every
 * message kind over real ZeroMQ sockets, and malformed input (garbage header,
 * oversized header/frames, wrong version, pixel size mismatch, too many frames,
 * bad rectangles) dropped without disturbing the next valid message; the
 * tile-resident job (held part of the window, 8.8 frames) and 8.8 results.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <zmq.h>
#include "wire.h"

typedef struct pair { void *ctx, *router, *dealer; } pair_t;

static int setup(void **state) {
    static int n = 0;
    pair_t *p = calloc(1, sizeof *p);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://proto-%d", n++);
    p->ctx = zmq_ctx_new();
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    p->dealer = zmq_socket(p->ctx, ZMQ_DEALER);
    assert_int_equal(wire_socket_setup(p->router, 1 << 20, NULL), 0);
    assert_int_equal(wire_socket_setup(p->dealer, 1 << 20, NULL), 0);
    int to = 2000;
    zmq_setsockopt(p->router, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(p->dealer, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_bind(p->router, ep), 0);
    assert_int_equal(zmq_connect(p->dealer, ep), 0);
    *state = p;
    return 0;
}

static int teardown(void **state) {
    pair_t *p = *state;
    zmq_close(p->router);
    zmq_close(p->dealer);
    zmq_ctx_term(p->ctx);
    free(p);
    return 0;
}

static long send_job(void *s, int w, int h, size_t pxlen, uint32_t version, Dreamfarm__Rect *subj_rect) {
    Dreamfarm__Envelope env;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_JOB);
    env.version = version;
    Dreamfarm__Job job = DREAMFARM__JOB__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT, core = DREAMFARM__RECT__INIT;
    tile.x = 100; tile.y = 50; tile.w = w; tile.h = h;
    core.x = 10; core.y = 10; core.w = w - 20; core.h = h - 20;
    Dreamfarm__Subject s1 = DREAMFARM__SUBJECT__INIT, *sp[1] = {&s1};
    s1.class_id = 31;
    s1.rect = subj_rect;
    job.keyframe_id = 7; job.job_id = 42; job.tile = &tile; job.core = &core;
    job.n_subjects = 1; job.subjects = sp; job.steps = 10; job.deadline_ms = 1234;
    job.has_seed = 1; job.seed = 99;
    env.body_case = DREAMFARM__ENVELOPE__BODY_JOB;
    env.job = &job;
    uint8_t *px = calloc(1, pxlen ? pxlen : 1);
    for (size_t i = 0; i < pxlen; i++) px[i] = (uint8_t)(i * 7);
    long n = wire_send(s, NULL, 0, &env, px, pxlen, 0, NULL);
    free(px);
    return n;
}

static void send_heartbeat(void *s, uint64_t seq) {
    Dreamfarm__Envelope env;
    Dreamfarm__Heartbeat hb = DREAMFARM__HEARTBEAT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
    hb.has_seq = 1; hb.seq = seq;
    env.body_case = DREAMFARM__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    assert_true(wire_send(s, NULL, 0, &env, NULL, 0, 0, NULL) > 0);
}

/* the next valid message must be a heartbeat with this seq */
static void expect_heartbeat(void *router, uint64_t seq) {
    wire_msg_t m;
    dream_err_t err = {{0}};
    assert_int_equal(wire_recv(router, 1, 0, &m, &err), 1);
    assert_int_equal(m.env->type, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
    assert_int_equal(m.env->heartbeat->seq, seq);
    wire_msg_clear(&m);
}

static void test_job_round_trip(void **state) {
    pair_t *p = *state;
    Dreamfarm__Rect sr = DREAMFARM__RECT__INIT;
    sr.x = 0; sr.y = 0; sr.w = 32; sr.h = 16;
    assert_true(send_job(p->dealer, 64, 48, 64 * 48 * 3, DREAM_WIRE_VERSION, &sr) > 64 * 48 * 3);
    wire_msg_t m;
    dream_err_t err = {{0}};
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), 1);
    assert_true(m.identity_len > 0);
    assert_int_equal(m.env->version, DREAM_WIRE_VERSION);
    Dreamfarm__Job *j = m.env->job;
    assert_non_null(j);
    assert_int_equal(j->keyframe_id, 7);
    assert_int_equal(j->job_id, 42);
    assert_int_equal(j->tile->x, 100);
    assert_int_equal(j->tile->w, 64);
    assert_int_equal(j->core->w, 44);
    assert_int_equal(j->n_subjects, 1);
    assert_int_equal(j->subjects[0]->class_id, 31);
    assert_int_equal(j->subjects[0]->rect->w, 32);
    assert_int_equal(j->seed, 99);
    assert_float_equal(j->lr, 5.0, 1e-6);   /* proto default */
    assert_int_equal(m.pixels_len, 64 * 48 * 3);
    for (size_t i = 0; i < m.pixels_len; i++) assert_int_equal(m.pixels[i], (uint8_t)(i * 7));
    wire_msg_clear(&m);
}

static void test_result_and_small_messages(void **state) {
    pair_t *p = *state;
    /* hello dealer -> router, then welcome/result router -> dealer */
    Dreamfarm__Envelope env;
    Dreamfarm__Hello h = DREAMFARM__HELLO__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HELLO);
    h.name = "w1"; h.backend = "cpu"; h.max_tile_pixels = 1 << 20; h.ms_per_mpix_step = 12.5;
    h.model_hash = "abcd";
    env.body_case = DREAMFARM__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    assert_true(wire_send(p->dealer, NULL, 0, &env, NULL, 0, 0, NULL) > 0);
    wire_msg_t m;
    assert_int_equal(wire_recv(p->router, 1, 0, &m, NULL), 1);
    assert_string_equal(m.env->hello->name, "w1");
    assert_float_equal(m.env->hello->ms_per_mpix_step, 12.5, 1e-9);
    uint8_t id[256];
    size_t idlen = m.identity_len;
    memcpy(id, m.identity, idlen);
    wire_msg_clear(&m);

    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT;
    tile.w = 8; tile.h = 4;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    r.keyframe_id = 3; r.job_id = 9; r.tile = &tile; r.compute_ms = 77; r.has_loss_total = 1; r.loss_total = -1.5;
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    uint8_t px[8 * 4 * 3];
    memset(px, 200, sizeof px);
    assert_true(wire_send(p->router, id, idlen, &env, px, sizeof px, 0, NULL) > 0);
    assert_int_equal(wire_recv(p->dealer, 0, 0, &m, NULL), 1);
    assert_int_equal(m.env->result->job_id, 9);
    assert_float_equal(m.env->result->loss_total, -1.5, 1e-12);
    assert_int_equal(m.pixels_len, sizeof px);
    assert_int_equal(m.pixels[5], 200);
    wire_msg_clear(&m);

    /* a result whose pixel frame does not match its rect is dropped */
    assert_true(wire_send(p->router, id, idlen, &env, px, sizeof px - 3, 0, NULL) > 0);
    dream_err_t err = {{0}};
    assert_int_equal(wire_recv(p->dealer, 0, 0, &m, &err), -1);
    assert_non_null(strstr(err.msg, "pixel frame"));
}

/* error and refusal codes survive the wire; a refusal without a code (an older
 * coordinator) reads as has_code = 0, so a peer knows to fall back to the text */
static void test_codes_round_trip(void **state) {
    pair_t *p = *state;
    /* an identity first: the router only answers a dealer it has heard from */
    assert_true(wire_send_bye(p->dealer, NULL, 0, "hi") > 0);
    wire_msg_t m;
    assert_int_equal(wire_recv(p->router, 1, 0, &m, NULL), 1);
    assert_int_equal(m.env->type, DREAMFARM__MSG_TYPE__MSG_BYE);
    assert_string_equal(m.env->bye->reason, "hi");
    uint8_t id[256];
    size_t idlen = m.identity_len;
    memcpy(id, m.identity, idlen);
    wire_msg_clear(&m);

    /* the enum keeps the values peers have always sent */
    assert_int_equal(DREAMFARM__ERROR_CODE__ERR_FAILED, 1);
    assert_int_equal(DREAMFARM__ERROR_CODE__ERR_STOPPING, 2);
    assert_int_equal(DREAMFARM__ERROR_CODE__ERR_BAD_JOB, 3);
    assert_int_equal(DREAMFARM__ERROR_CODE__ERR_BUSY, 4);
    assert_int_equal(DREAMFARM__ERROR_CODE__ERR_NO_RESIDENT, 5);
    for (int code = DREAMFARM__ERROR_CODE__ERR_FAILED; code <= DREAMFARM__ERROR_CODE__ERR_NO_RESIDENT; code++) {
        assert_true(wire_send_error(p->dealer, NULL, 0, 40 + (uint64_t)code, code, "why") > 0);
        assert_int_equal(wire_recv(p->router, 1, 0, &m, NULL), 1);
        assert_int_equal(m.env->type, DREAMFARM__MSG_TYPE__MSG_ERROR);
        assert_int_equal(m.env->error->code, code);
        assert_true(m.env->error->has_job_id);
        assert_int_equal(m.env->error->job_id, 40 + (uint64_t)code);
        assert_string_equal(m.env->error->message, "why");
        wire_msg_clear(&m);
    }

    assert_true(wire_send_refusal(p->router, id, idlen, DREAMFARM__REFUSAL_CODE__REFUSE_MODEL,
                                  "model hash x differs") > 0);
    assert_int_equal(wire_recv(p->dealer, 0, 0, &m, NULL), 1);
    assert_int_equal(m.env->type, DREAMFARM__MSG_TYPE__MSG_REFUSAL);
    assert_true(m.env->refusal->has_code);
    assert_int_equal(m.env->refusal->code, DREAMFARM__REFUSAL_CODE__REFUSE_MODEL);
    assert_string_equal(m.env->refusal->reason, "model hash x differs");
    wire_msg_clear(&m);

    /* an old coordinator's refusal: no code field at all */
    Dreamfarm__Envelope env;
    Dreamfarm__Refusal r = DREAMFARM__REFUSAL__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_REFUSAL);
    r.reason = "too many workers";
    env.body_case = DREAMFARM__ENVELOPE__BODY_REFUSAL;
    env.refusal = &r;
    assert_true(wire_send(p->router, id, idlen, &env, NULL, 0, 0, NULL) > 0);
    assert_int_equal(wire_recv(p->dealer, 0, 0, &m, NULL), 1);
    assert_false(m.env->refusal->has_code);
    assert_string_equal(m.env->refusal->reason, "too many workers");
    wire_msg_clear(&m);
}

static void test_malformed_dropped(void **state) {
    pair_t *p = *state;
    dream_err_t err = {{0}};
    wire_msg_t m;
    /* 1: garbage header */
    const char junk[] = "\xff\xfe\x01garbage that is not protobuf\x00\x13";
    zmq_send(p->dealer, junk, sizeof junk, 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    assert_true(m.identity_len > 0);
    assert_null(m.env);
    /* 2: header too large (but under the socket's frame cap) */
    size_t big = DREAM_WIRE_MAX_HEADER + 10;
    char *b = calloc(1, big);
    zmq_send(p->dealer, b, big, 0);
    free(b);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    assert_non_null(strstr(err.msg, "header frame"));
    /* 3: wrong version */
    assert_true(send_job(p->dealer, 32, 32, 32 * 32 * 3, DREAM_WIRE_VERSION + 1, NULL) > 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    assert_non_null(strstr(err.msg, "protocol version"));
    /* 4: pixel frame does not match the rect */
    assert_true(send_job(p->dealer, 32, 32, 32 * 32 * 3 - 1, DREAM_WIRE_VERSION, NULL) > 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    assert_non_null(strstr(err.msg, "pixel frame"));
    /* 5: a job without pixels */
    assert_true(send_job(p->dealer, 32, 32, 0, DREAM_WIRE_VERSION, NULL) > 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    /* 6: too many frames; the rest of that message must be drained */
    zmq_send(p->dealer, "a", 1, ZMQ_SNDMORE);
    zmq_send(p->dealer, "b", 1, ZMQ_SNDMORE);
    zmq_send(p->dealer, "c", 1, ZMQ_SNDMORE);
    zmq_send(p->dealer, "d", 1, 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    assert_non_null(strstr(err.msg, "frames"));
    /* 7: subject rectangle outside the tile */
    Dreamfarm__Rect sr = DREAMFARM__RECT__INIT;
    sr.x = 20; sr.y = 0; sr.w = 20; sr.h = 10;
    assert_true(send_job(p->dealer, 32, 32, 32 * 32 * 3, DREAM_WIRE_VERSION, &sr) > 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    assert_non_null(strstr(err.msg, "outside tile"));
    /* 8: empty message */
    zmq_send(p->dealer, "", 0, 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    /* the channel still works */
    send_heartbeat(p->dealer, 5);
    expect_heartbeat(p->router, 5);
    /* nothing left */
    assert_int_equal(wire_recv(p->router, 1, ZMQ_DONTWAIT, &m, &err), 0);
}

static void test_oversized_frame_rejected_by_socket(void **state) {
    pair_t *p = *state;
    /* the router allows 1 MiB frames: a 2 MiB frame closes that peer's connection
     * (libzmq enforces ZMQ_MAXMSGSIZE on tcp/ipc; inproc bypasses it, so use tcp) */
    void *r = zmq_socket(p->ctx, ZMQ_ROUTER), *d = zmq_socket(p->ctx, ZMQ_DEALER), *d2 = zmq_socket(p->ctx, ZMQ_DEALER);
    wire_socket_setup(r, 1 << 20, NULL);
    int to = 2000;
    zmq_setsockopt(r, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_bind(r, "tcp://127.0.0.1:*"), 0);
    char ep[128];
    size_t el = sizeof ep;
    zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, ep, &el);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d2, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(d, ep), 0);
    assert_int_equal(zmq_connect(d2, ep), 0);
    size_t big = 2u << 20;
    char *b = calloc(1, big);
    zmq_send(d, b, big, 0);
    free(b);
    send_heartbeat(d2, 11);
    wire_msg_t m;
    dream_err_t err = {{0}};
    assert_int_equal(wire_recv(r, 1, 0, &m, &err), 1);   /* the oversized one never arrives */
    assert_int_equal(m.env->heartbeat->seq, 11);
    wire_msg_clear(&m);
    zmq_close(d);
    zmq_close(d2);
    zmq_close(r);
}

static void test_validate_bounds(void **state) {
    (void)state;
    Dreamfarm__Envelope env;
    dream_err_t err = {{0}};
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HELLO);
    assert_int_equal(wire_validate(&env, 0, &err), -1);       /* type without body */
    wire_envelope_init(&env, (Dreamfarm__MsgType)99);
    assert_int_equal(wire_validate(&env, 0, &err), -1);
    Dreamfarm__Rect r = DREAMFARM__RECT__INIT;
    r.w = 20000; r.h = 10;
    assert_int_equal(wire_rect_bytes(&r), 0);
    r.w = 10; r.x = -1;
    assert_int_equal(wire_rect_bytes(&r), 0);
    r.x = 0;
    assert_int_equal(wire_rect_bytes(&r), 300);
    Dreamfarm__Heartbeat hb = DREAMFARM__HEARTBEAT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
    env.body_case = DREAMFARM__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    assert_int_equal(wire_validate(&env, 0, &err), 0);
    assert_int_equal(wire_validate(&env, 12, &err), -1);      /* unexpected pixels */
    /* the job's optimizer: absent = seed, adam accepted, an unknown value refused */
    Dreamfarm__Job job = DREAMFARM__JOB__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT, core = DREAMFARM__RECT__INIT;
    tile.w = tile.h = core.w = core.h = 16;
    job.tile = &tile; job.core = &core; job.steps = 10;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_JOB);
    env.body_case = DREAMFARM__ENVELOPE__BODY_JOB;
    env.job = &job;
    assert_int_equal(job.optimizer, DREAMFARM__OPTIMIZER__OPTIM_SEED);
    assert_int_equal(wire_validate(&env, 16 * 16 * 3, &err), 0);
    job.has_optimizer = 1; job.optimizer = DREAMFARM__OPTIMIZER__OPTIM_ADAM;
    assert_int_equal(wire_validate(&env, 16 * 16 * 3, &err), 0);
    job.optimizer = (Dreamfarm__Optimizer)7;
    assert_int_equal(wire_validate(&env, 16 * 16 * 3, &err), -1);
    assert_non_null(strstr(err.msg, "optimizer"));
}

/* resident canvas jobs (issue 14): from_resident has no pixel frame and sane warp fields;
 * float_pixels has a float32 frame (w*h*12); both only for a tile at 0,0; the hash is stable */
static void test_resident_job_validation(void **state) {
    (void)state;
    Dreamfarm__Envelope env;
    dream_err_t err = {{0}};
    Dreamfarm__Job job = DREAMFARM__JOB__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT, core = DREAMFARM__RECT__INIT;
    tile.w = 40; tile.h = 30;
    core.w = 40; core.h = 30;
    job.tile = &tile; job.core = &core; job.steps = 2;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_JOB);
    env.body_case = DREAMFARM__ENVELOPE__BODY_JOB;
    env.job = &job;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), 0);           /* ordinary job */
    job.has_from_resident = 1; job.from_resident = 1;
    job.has_warp_zoom = 1; job.warp_zoom = 1.002;
    job.has_warp_angle = 1; job.warp_angle = -0.01;
    job.has_resident_keyframe_id = 1; job.resident_keyframe_id = 7;
    assert_int_equal(wire_validate(&env, 0, &err), 0);
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);          /* pixels too */
    job.warp_zoom = NAN;
    assert_int_equal(wire_validate(&env, 0, &err), -1);
    assert_non_null(strstr(err.msg, "resident"));
    job.warp_zoom = 1.002;
    job.has_warp_interp = 1; job.warp_interp = 7;
    assert_int_equal(wire_validate(&env, 0, &err), -1);
    job.warp_interp = 1;
    tile.x = 8;                                                             /* not the whole canvas */
    assert_int_equal(wire_validate(&env, 0, &err), -1);
    tile.x = 0;
    job.has_resident_keyframe_id = 0;
    assert_int_equal(wire_validate(&env, 0, &err), -1);
    job.from_resident = 0;
    job.has_float_pixels = 1; job.float_pixels = 1;
    assert_int_equal(wire_validate(&env, 40 * 30 * 12, &err), 0);
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);
    /* tile warp: a window of the canvas, 2 bytes a channel, inside canvas_w x canvas_h */
    job.has_float_pixels = 0; job.float_pixels = 0;
    Dreamfarm__Rect win = DREAMFARM__RECT__INIT;
    win.x = 2; win.y = 1; win.w = 44; win.h = 33;
    tile.x = 4; tile.y = 2;
    job.warp_source = &win;
    job.has_canvas_w = 1; job.canvas_w = 100;
    job.has_canvas_h = 1; job.canvas_h = 80;
    assert_int_equal(wire_validate(&env, 44 * 33 * 3 * 2, &err), 0);
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);          /* the tile's size: no */
    win.x = 60;                                                             /* past the canvas */
    assert_int_equal(wire_validate(&env, 44 * 33 * 3 * 2, &err), -1);
    assert_non_null(strstr(err.msg, "warp source"));
    win.x = 2;
    job.has_canvas_h = 0;
    assert_int_equal(wire_validate(&env, 44 * 33 * 3 * 2, &err), -1);
    job.has_canvas_h = 1;
    job.warp_angle = INFINITY;
    assert_int_equal(wire_validate(&env, 44 * 33 * 3 * 2, &err), -1);
    assert_non_null(strstr(err.msg, "tile warp"));
    job.warp_angle = -0.01;
    assert_int_equal(wire_validate(&env, 44 * 33 * 3 * 2, &err), 0);
    uint8_t a[100] = {0}, b[100] = {0};
    b[99] = 1;
    assert_true(wire_hash64(a, 100) == wire_hash64(a, 100));
    assert_true(wire_hash64(a, 100) != wire_hash64(b, 100));
    assert_true(wire_hash64(a, 100) != wire_hash64(a, 99));
}

/* wire_hash64 is XXH3-64 (seed 0): known answers from the xxhsum tool (`xxhsum -H3`, Debian's
 * xxhash package), and the streaming form gives the same value for any split into pieces */
static void test_wire_hash(void **state) {
    (void)state;
    uint8_t b[1000];
    for (int i = 0; i < 1000; i++) b[i] = (uint8_t)(i * 7 + 3);
    assert_true(wire_hash64(b, 0) == 0x2d06800538d394c2ull);
    assert_true(wire_hash64(b, 241) == 0x8beadd3a8874fe17ull);
    assert_true(wire_hash64(b, 1000) == 0x6c4f14bd97bd9e82ull);
    uint64_t seed = 12345;
    for (int trial = 0; trial < 50; trial++) {
        wire_hash_t hs;
        wire_hash_init(&hs);
        size_t at = 0;
        while (at < 1000) {     /* pieces of 0..300 bytes, also across XXH3's 256-byte stripes */
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t n = (size_t)(seed >> 33) % 301;
            if (n > 1000 - at) n = 1000 - at;
            wire_hash_update(&hs, b + at, n);
            at += n;
        }
        assert_true(wire_hash_final(&hs) == 0x6c4f14bd97bd9e82ull);
    }
    b[500] ^= 1;    /* one bit anywhere changes it */
    assert_true(wire_hash64(b, 1000) != 0x6c4f14bd97bd9e82ull);
}

/* wire_recv_zc: pixels point into the received frame (no copy), right bytes; clear closes it;
 * a frame moved out of the message (as the coordinator keeps a deferred result) outlives the
 * clear and is the caller's to close (the ASan build's leak check fails if a frame leaks) */
static void test_recv_zero_copy(void **state) {
    pair_t *p = *state;
    Dreamfarm__Envelope env;
    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    r.keyframe_id = 3; r.job_id = 9; r.tile = &tile; r.compute_ms = 7;
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    uint8_t px[16 * 8 * 3];
    for (int k = 0; k < 3; k++) {
        tile.w = k == 1 ? 8 : 16; tile.h = 8;
        size_t n = (size_t)tile.w * tile.h * 3;
        for (size_t i = 0; i < n; i++) px[i] = (uint8_t)(i * 3 + k);
        assert_true(wire_send(p->dealer, NULL, 0, &env, px, n, 0, NULL) > 0);
        wire_msg_t m;
        assert_int_equal(wire_recv_zc(p->router, 1, 0, &m, NULL), 1);
        assert_int_equal(m.pixels_len, n);
        assert_true(m.pxmsg_live && m.pixels_borrowed);
        assert_ptr_equal(m.pixels, zmq_msg_data(&m.pxmsg));
        assert_memory_equal(m.pixels, px, n);
        if (k == 2) {   /* moved away: still readable after the clear */
            zmq_msg_t kept;
            zmq_msg_init(&kept);
            zmq_msg_move(&kept, &m.pxmsg);
            m.pxmsg_live = 0;
            wire_msg_clear(&m);
            assert_memory_equal(zmq_msg_data(&kept), px, n);
            zmq_msg_close(&kept);
        } else {
            wire_msg_clear(&m);
        }
        assert_null(m.pixels);
        assert_int_equal(m.pxmsg_live, 0);
    }
    /* a message without pixels has no frame to close */
    Dreamfarm__Heartbeat hb = DREAMFARM__HEARTBEAT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_HEARTBEAT);
    env.body_case = DREAMFARM__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    assert_true(wire_send(p->dealer, NULL, 0, &env, NULL, 0, 0, NULL) > 0);
    wire_msg_t m;
    assert_int_equal(wire_recv_zc(p->router, 1, 0, &m, NULL), 1);
    assert_int_equal(m.pxmsg_live, 0);
    assert_null(m.pixels);
    wire_msg_clear(&m);
}

/* wire_send_owned: the pixels go out as they are and are freed by the wire (the ASan build's
 * leak check fails if not), also when the send fails; the receiver sees the same bytes */
static void test_send_owned(void **state) {
    pair_t *p = *state;
    Dreamfarm__Envelope env;
    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    tile.w = 32; tile.h = 16;
    r.keyframe_id = 3; r.job_id = 9; r.tile = &tile; r.compute_ms = 7;
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    size_t n = 32 * 16 * 3;
    uint8_t *px = malloc(n);
    assert_non_null(px);
    for (size_t i = 0; i < n; i++) px[i] = (uint8_t)(i * 13 + 1);
    long sent = wire_send_owned(p->dealer, NULL, 0, &env, px, n, 0, NULL);
    assert_true(sent >= (long)n);
    wire_msg_t m;
    assert_int_equal(wire_recv(p->router, 1, 0, &m, NULL), 1);
    assert_int_equal(m.pixels_len, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(m.pixels[i], (uint8_t)(i * 13 + 1));
    wire_msg_clear(&m);
    /* a send that cannot go (a DEALER with no peer, DONTWAIT): -1, and the pixels are freed */
    void *lonely = zmq_socket(p->ctx, ZMQ_DEALER);
    assert_non_null(lonely);
    uint8_t *px2 = malloc(n);
    assert_non_null(px2);
    memset(px2, 5, n);
    dream_err_t err = {{0}};
    assert_int_equal(wire_send_owned(lonely, NULL, 0, &env, px2, n, ZMQ_DONTWAIT, &err), -1);
    assert_non_null(strstr(err.msg, "send result"));
    zmq_close(lonely);
}

/* tile-resident jobs (Job.held, result_fixed; issue 14): the frame is the window less the held
 * part, 8.8 (6 bytes a pixel); held lies inside the window and needs resident_keyframe_id and
 * result_fixed; result_fixed needs a window; a Result with fixed_pixels is 6 bytes a pixel */
static void test_held_job_validation(void **state) {
    (void)state;
    Dreamfarm__Envelope env;
    dream_err_t err = {{0}};
    Dreamfarm__Job job = DREAMFARM__JOB__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT, core = DREAMFARM__RECT__INIT, win = DREAMFARM__RECT__INIT,
                    held = DREAMFARM__RECT__INIT;
    tile.x = 4; tile.y = 2; tile.w = 40; tile.h = 30;
    core.x = 0; core.y = 0; core.w = 40; core.h = 30;
    win.x = 2; win.y = 1; win.w = 44; win.h = 33;
    held.x = 10; held.y = 5; held.w = 20; held.h = 10;
    job.tile = &tile; job.core = &core; job.steps = 2;
    job.warp_source = &win;
    job.has_canvas_w = 1; job.canvas_w = 100;
    job.has_canvas_h = 1; job.canvas_h = 80;
    job.has_warp_zoom = 1; job.warp_zoom = 1.002;
    job.has_warp_angle = 1; job.warp_angle = -0.01;
    job.has_result_fixed = 1; job.result_fixed = 1;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_JOB);
    env.body_case = DREAMFARM__ENVELOPE__BODY_JOB;
    env.job = &job;
    const size_t whole = 44 * 33 * 6, frame = (44 * 33 - 20 * 10) * 6;
    /* result_fixed with a window, nothing held: the whole window */
    assert_int_equal(wire_validate(&env, whole, &err), 0);
    assert_int_equal(wire_validate(&env, frame, &err), -1);
    /* held inside the window with its keyframe: the window less the held part */
    job.held = &held;
    job.has_resident_keyframe_id = 1; job.resident_keyframe_id = 41;
    assert_int_equal(wire_validate(&env, frame, &err), 0);
    assert_int_equal(wire_validate(&env, frame - 1, &err), -1);
    assert_non_null(strstr(err.msg, "pixel frame"));
    assert_int_equal(wire_validate(&env, frame + 1, &err), -1);
    assert_non_null(strstr(err.msg, "pixel frame"));
    assert_int_equal(wire_validate(&env, whole, &err), -1);                 /* held part sent too */
    assert_int_equal(wire_validate(&env, frame / 2, &err), -1);             /* 8-bit, not 8.8 */
    /* held partly outside the window, on each side */
    static const int outside[4][4] = {{1, 5, 20, 10}, {10, 0, 20, 10}, {27, 5, 20, 10}, {10, 25, 20, 10}};
    for (int i = 0; i < 4; i++) {
        held.x = outside[i][0]; held.y = outside[i][1]; held.w = outside[i][2]; held.h = outside[i][3];
        size_t n = (size_t)(44 * 33 - held.w * held.h) * 6;
        err.msg[0] = 0;
        assert_int_equal(wire_validate(&env, n, &err), -1);
        assert_non_null(strstr(err.msg, "held"));
    }
    held.x = 10; held.y = 5; held.w = 0; held.h = 10;                      /* empty */
    assert_int_equal(wire_validate(&env, whole, &err), -1);
    held.w = 20;
    assert_int_equal(wire_validate(&env, frame, &err), 0);
    /* held without the keyframe it was kept from */
    job.has_resident_keyframe_id = 0;
    assert_int_equal(wire_validate(&env, frame, &err), -1);
    assert_non_null(strstr(err.msg, "held"));
    job.has_resident_keyframe_id = 1;
    /* held without result_fixed (absent, or false) */
    job.has_result_fixed = 0;
    assert_int_equal(wire_validate(&env, frame, &err), -1);
    job.has_result_fixed = 1; job.result_fixed = 0;
    assert_int_equal(wire_validate(&env, frame, &err), -1);
    job.result_fixed = 1;
    assert_int_equal(wire_validate(&env, frame, &err), 0);
    /* result_u8 (--tile-result 8) only with result_fixed */
    job.has_result_u8 = 1; job.result_u8 = 1;
    assert_int_equal(wire_validate(&env, frame, &err), 0);
    job.result_fixed = 0;
    assert_int_equal(wire_validate(&env, frame, &err), -1);
    job.result_fixed = 1;
    job.has_result_u8 = 0; job.result_u8 = 0;
    /* the whole window held: an empty frame, and nothing else */
    held = win;
    assert_int_equal(wire_validate(&env, 0, &err), 0);
    assert_int_equal(wire_validate(&env, 6, &err), -1);
    held.x = 10; held.y = 5; held.w = 20; held.h = 10;
    /* result_fixed (or held) without a window */
    job.warp_source = NULL;
    job.held = NULL;
    job.has_resident_keyframe_id = 0;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);
    assert_non_null(strstr(err.msg, "window"));
    assert_int_equal(wire_validate(&env, 40 * 30 * 6, &err), -1);
    job.held = &held;
    job.has_resident_keyframe_id = 1;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);
    job.has_result_fixed = 0;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);           /* held alone */
    job.held = NULL;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), 0);            /* a plain job again */
    /* nor with the resident-canvas jobs, which have no window */
    tile.x = tile.y = 0;
    job.has_result_fixed = 1; job.result_fixed = 1;
    job.has_from_resident = 1; job.from_resident = 1;
    assert_int_equal(wire_validate(&env, 0, &err), -1);
    job.has_result_fixed = 0;
    assert_int_equal(wire_validate(&env, 0, &err), 0);
    job.has_from_resident = 0; job.from_resident = 0;
    job.has_float_pixels = 1; job.float_pixels = 1;
    job.has_result_fixed = 1;
    assert_int_equal(wire_validate(&env, 40 * 30 * 12, &err), -1);
    job.has_result_fixed = 0;
    assert_int_equal(wire_validate(&env, 40 * 30 * 12, &err), 0);

    /* Result.fixed_pixels: 6 bytes a pixel; without it 3 */
    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    Dreamfarm__Rect rt = DREAMFARM__RECT__INIT;
    rt.x = 4; rt.y = 2; rt.w = 40; rt.h = 30;
    r.keyframe_id = 3; r.job_id = 9; r.tile = &rt; r.compute_ms = 7;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), 0);
    assert_int_equal(wire_validate(&env, 40 * 30 * 6, &err), -1);
    r.has_fixed_pixels = 1; r.fixed_pixels = 1;
    assert_int_equal(wire_validate(&env, 40 * 30 * 6, &err), 0);
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);
    assert_non_null(strstr(err.msg, "pixel frame"));
    assert_int_equal(wire_validate(&env, 40 * 30 * 6 - 1, &err), -1);
    r.fixed_pixels = 0;                                                     /* present but false */
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), 0);

    /* a result in two parts (Job.rest): the first frame is the tile less rest, the second
     * (rest_part) rest alone; rest inside the tile; rest_part needs rest */
    Dreamfarm__Rect rs = DREAMFARM__RECT__INIT;
    rs.x = 10; rs.y = 8; rs.w = 20; rs.h = 12;
    r.has_fixed_pixels = 1; r.fixed_pixels = 1;
    r.rest = &rs;
    assert_int_equal(wire_validate(&env, (40 * 30 - 20 * 12) * 6, &err), 0);
    assert_int_equal(wire_validate(&env, 40 * 30 * 6, &err), -1);
    assert_non_null(strstr(err.msg, "tile less rest"));
    r.has_rest_part = 1; r.rest_part = 1;
    assert_int_equal(wire_validate(&env, 20 * 12 * 6, &err), 0);
    assert_int_equal(wire_validate(&env, (40 * 30 - 20 * 12) * 6, &err), -1);
    r.fixed_pixels = 0;                                                     /* --tile-result 8 */
    assert_int_equal(wire_validate(&env, 20 * 12 * 3, &err), 0);
    rs.x = 30;                                                              /* past the tile's edge */
    assert_int_equal(wire_validate(&env, 20 * 12 * 3, &err), -1);
    assert_non_null(strstr(err.msg, "outside the tile"));
    rs.x = 10;
    r.rest = NULL;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);
    assert_non_null(strstr(err.msg, "without rest"));
    r.has_rest_part = 0; r.rest_part = 0;
    /* Job.rest: inside the tile, only with result_fixed */
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_JOB);
    env.body_case = DREAMFARM__ENVELOPE__BODY_JOB;
    env.job = &job;
    job.has_float_pixels = 0; job.float_pixels = 0;
    job.has_result_fixed = 0;
    job.rest = &rs;
    assert_int_equal(wire_validate(&env, 40 * 30 * 3, &err), -1);
    assert_non_null(strstr(err.msg, "rest part"));
    job.rest = NULL;
}

/* a held job and a fixed-point result over real sockets: fields 46-48 and 41 survive */
static void test_held_job_round_trip(void **state) {
    pair_t *p = *state;
    Dreamfarm__Envelope env;
    Dreamfarm__Job job = DREAMFARM__JOB__INIT;
    Dreamfarm__Rect tile = DREAMFARM__RECT__INIT, core = DREAMFARM__RECT__INIT, win = DREAMFARM__RECT__INIT,
                    held = DREAMFARM__RECT__INIT;
    tile.x = 4; tile.y = 2; tile.w = 40; tile.h = 30;
    core.w = 40; core.h = 30;
    win.x = 2; win.y = 1; win.w = 44; win.h = 33;
    held.x = 10; held.y = 5; held.w = 20; held.h = 10;
    job.keyframe_id = 8; job.job_id = 77; job.tile = &tile; job.core = &core; job.steps = 2;
    job.warp_source = &win; job.held = &held;
    job.has_canvas_w = 1; job.canvas_w = 100;
    job.has_canvas_h = 1; job.canvas_h = 80;
    job.has_warp_zoom = 1; job.warp_zoom = 1.002;
    job.has_warp_angle = 1; job.warp_angle = -0.01;
    job.has_result_fixed = 1; job.result_fixed = 1;
    job.has_resident_keyframe_id = 1; job.resident_keyframe_id = 7;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_JOB);
    env.body_case = DREAMFARM__ENVELOPE__BODY_JOB;
    env.job = &job;
    size_t n = (44 * 33 - 20 * 10) * 6;
    uint8_t *px = malloc(n);
    assert_non_null(px);
    for (size_t i = 0; i < n; i++) px[i] = (uint8_t)(i * 11 + 3);
    assert_true(wire_send(p->dealer, NULL, 0, &env, px, n, 0, NULL) > (long)n);
    wire_msg_t m;
    dream_err_t err = {{0}};
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), 1);
    const Dreamfarm__Job *j = m.env->job;
    assert_non_null(j->warp_source);
    assert_non_null(j->held);
    assert_int_equal(j->held->x, 10);
    assert_int_equal(j->held->y, 5);
    assert_int_equal(j->held->w, 20);
    assert_int_equal(j->held->h, 10);
    assert_true(j->has_result_fixed && j->result_fixed);
    assert_true(j->has_resident_keyframe_id);
    assert_int_equal(j->resident_keyframe_id, 7);
    assert_int_equal(m.pixels_len, n);
    assert_memory_equal(m.pixels, px, n);
    uint8_t id[256];
    size_t idlen = m.identity_len;
    memcpy(id, m.identity, idlen);
    wire_msg_clear(&m);
    /* the same job with a frame one byte short is dropped */
    assert_true(wire_send(p->dealer, NULL, 0, &env, px, n - 1, 0, NULL) > 0);
    assert_int_equal(wire_recv(p->router, 1, 0, &m, &err), -1);
    free(px);
    /* an 8.8 result back */
    Dreamfarm__Result r = DREAMFARM__RESULT__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_RESULT);
    r.keyframe_id = 8; r.job_id = 77; r.tile = &tile; r.compute_ms = 5;
    r.has_input_hash = 1; r.input_hash = 0x1234567890abcdefull;
    r.has_fixed_pixels = 1; r.fixed_pixels = 1;
    env.body_case = DREAMFARM__ENVELOPE__BODY_RESULT;
    env.result = &r;
    size_t rn = 40 * 30 * 6;
    uint8_t *rp = calloc(1, rn);
    assert_non_null(rp);
    rp[rn - 1] = 0xff;
    assert_true(wire_send(p->router, id, idlen, &env, rp, rn, 0, NULL) > 0);
    assert_int_equal(wire_recv(p->dealer, 0, 0, &m, &err), 1);
    assert_true(m.env->result->has_fixed_pixels && m.env->result->fixed_pixels);
    assert_true(m.env->result->input_hash == 0x1234567890abcdefull);
    assert_int_equal(m.pixels_len, rn);
    assert_int_equal(m.pixels[rn - 1], 0xff);
    wire_msg_clear(&m);
    free(rp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_owned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_and_small_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codes_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_frame_rejected_by_socket, setup, teardown),
        cmocka_unit_test(test_wire_hash),
        cmocka_unit_test_setup_teardown(test_recv_zero_copy, setup, teardown),
        cmocka_unit_test(test_validate_bounds),
        cmocka_unit_test(test_resident_job_validation),
        cmocka_unit_test(test_held_job_validation),
        cmocka_unit_test_setup_teardown(test_held_job_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
