/*
 * test_http.c — HTTP API helpers: subject parsing (form / JSON / text, bounds, bad escapes),
 * JSON replies, class list, PNG snapshots (decoded back with libpng).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <cjson/cJSON.h>
#include <unistd.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "http.h"
#include "requests.h"
#include "stream.h"

static void test_form(void **state) {
    (void)state;
    char out[256];
    int st = 0;
    dream_err_t err = {{0}};
    const char *b = "x=1&subject=tree+frog%20%2B+volcano&y=2";
    assert_int_equal(http_parse_subject(b, strlen(b), "application/x-www-form-urlencoded; charset=UTF-8", out, sizeof out, &st, &err), 0);
    assert_string_equal(out, "tree frog + volcano");
    b = "subject=broccoli";
    assert_int_equal(http_parse_subject(b, strlen(b), NULL, out, sizeof out, &st, &err), 0);
    assert_string_equal(out, "broccoli");
    b = "subject=bad%zzescape";
    assert_int_equal(http_parse_subject(b, strlen(b), NULL, out, sizeof out, &st, &err), -1);
    assert_int_equal(st, 400);
    assert_non_null(strstr(err.msg, "escape"));
    b = "subject=trunc%4";
    assert_int_equal(http_parse_subject(b, strlen(b), NULL, out, sizeof out, &st, &err), -1);
    b = "subject=nul%00byte";
    assert_int_equal(http_parse_subject(b, strlen(b), NULL, out, sizeof out, &st, &err), -1);
    b = "other=1";
    assert_int_equal(http_parse_subject(b, strlen(b), NULL, out, sizeof out, &st, &err), -1);
    assert_non_null(strstr(err.msg, "subject"));
    /* bounds */
    char big[HTTP_BODY_MAX + 10];
    memset(big, 'a', sizeof big);
    assert_int_equal(http_parse_subject(big, sizeof big, NULL, out, sizeof out, &st, &err), -1);
    assert_int_equal(st, 413);
    char small[8];
    b = "subject=abcdefghijkl";
    assert_int_equal(http_parse_subject(b, strlen(b), NULL, small, sizeof small, &st, &err), -1);
    assert_int_equal(http_parse_subject("sub\0ject=x", 10, NULL, out, sizeof out, &st, &err), -1);
    assert_int_equal(http_parse_subject(NULL, 0, NULL, out, sizeof out, &st, &err), -1);
}

static void test_json_text(void **state) {
    (void)state;
    char out[256];
    int st = 0;
    dream_err_t err = {{0}};
    const char *b = "{\"subject\": \"Tree frog\"}";
    assert_int_equal(http_parse_subject(b, strlen(b), "application/json", out, sizeof out, &st, &err), 0);
    assert_string_equal(out, "Tree frog");
    b = "{\"subject\": 42}";
    assert_int_equal(http_parse_subject(b, strlen(b), "application/json", out, sizeof out, &st, &err), -1);
    assert_int_equal(st, 400);
    b = "[\"subject\"]";
    assert_int_equal(http_parse_subject(b, strlen(b), "application/json", out, sizeof out, &st, &err), -1);
    b = "{\"subject\": \"unterminated";
    assert_int_equal(http_parse_subject(b, strlen(b), "application/json", out, sizeof out, &st, &err), -1);
    assert_non_null(strstr(err.msg, "JSON"));
    b = "volcano\r\nignored";
    assert_int_equal(http_parse_subject(b, strlen(b), "text/plain", out, sizeof out, &st, &err), 0);
    assert_string_equal(out, "volcano");
    b = "<xml/>";
    assert_int_equal(http_parse_subject(b, strlen(b), "application/xml", out, sizeof out, &st, &err), -1);
    assert_int_equal(st, 415);
}

/* hostile bodies (docs/security.md): invalid UTF-8, a JSON \u0000 past the NUL check, control
 * characters — each refused with a clean error (400), never echoed */
static void test_hostile_subjects(void **state) {
    (void)state;
    char out[128];
    int st = 0;
    dream_err_t err = {{0}};
    const char *j0 = "{\"subject\":\"volcano\\u0000garbage\"}";
    assert_int_equal(http_parse_subject(j0, strlen(j0), "application/json", out, sizeof out, &st, &err), -1);
    assert_int_equal(st, 400);
    assert_non_null(strstr(err.msg, "NUL"));
    const char *bad[] = {"subject=volc\xff\xfe" "ano", "subject=%C0%AF", "subject=%ED%A0%80", "subject=a%0Ab", "subject=%00x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        assert_int_equal(http_parse_subject(bad[i], strlen(bad[i]), NULL, out, sizeof out, &st, &err), -1);
        assert_int_equal(st, 400);
        assert_true(err.msg[0] != 0);
    }
    const char *jb = "{\"subject\":\"tr\xc3\x28" "e\"}";
    assert_int_equal(http_parse_subject(jb, strlen(jb), "application/json", out, sizeof out, &st, &err), -1);
    assert_non_null(strstr(err.msg, "UTF-8"));
    const char *tb = "volc\x80" "ano";
    assert_int_equal(http_parse_subject(tb, strlen(tb), "text/plain", out, sizeof out, &st, &err), -1);
    /* valid UTF-8 still passes */
    const char *ok = "subject=caf%C3%A9";
    assert_int_equal(http_parse_subject(ok, strlen(ok), NULL, out, sizeof out, &st, &err), 0);
    assert_string_equal(out, "caf\xc3\xa9");
    const char *jok = "{\"subject\":\"\\u00e9clair\"}";
    assert_int_equal(http_parse_subject(jok, strlen(jok), "application/json", out, sizeof out, &st, &err), 0);
    assert_string_equal(out, "\xc3\xa9" "clair");
}

static void test_replies(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_classes_t *c = dream_classes_load_default(&err);
    assert_non_null(c);
    requests_result_t r = {0};
    r.code = REQ_OK; r.http_status = 202; r.position = 2; r.n = 1; r.ids[0] = 1; r.votes = 1;
    snprintf(r.message, sizeof r.message, "Noted \"quoted\"");
    char *s = http_request_reply(&r, c);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "position")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(j, "message")->valuestring, "Noted \"quoted\"");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "subjects"), 0)->valuestring, dream_classes_name(c, 1));
    cJSON_Delete(j);
    free(s);
    memset(&r, 0, sizeof r);
    r.code = REQ_UNKNOWN; r.http_status = 400; r.n_closest = 2; r.closest[0] = 0; r.closest[1] = 1;
    snprintf(r.message, sizeof r.message, "unknown");
    s = http_request_reply(&r, c);
    j = cJSON_Parse(s);
    assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, "unknown");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "closest")), 2);
    assert_null(cJSON_GetObjectItem(j, "position"));
    cJSON_Delete(j);
    free(s);
    s = http_classes_json(c);
    j = cJSON_Parse(s);
    assert_int_equal(cJSON_GetObjectItem(j, "count")->valueint, dream_classes_count(c));
    cJSON *arr = cJSON_GetObjectItem(j, "classes");
    assert_int_equal(cJSON_GetArraySize(arr), dream_classes_count(c));
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "synonyms")) >= 1);
    cJSON_Delete(j);
    free(s);
    s = http_error_json("a \"b\"");
    assert_string_equal(s, "{\"error\":\"a \\\"b\\\"\"}");
    free(s);
    assert_string_equal(http_status_text(413), "Payload Too Large");
    dream_classes_destroy(&c);
}

typedef struct { const uint8_t *p; size_t n, off; } rd_t;
static void rd(png_structp png, png_bytep d, png_size_t n) {
    rd_t *r = png_get_io_ptr(png);
    if (r->off + n > r->n) png_error(png, "eof");
    memcpy(d, r->p + r->off, n);
    r->off += n;
}

static void test_png(void **state) {
    (void)state;
    const int w = 37, h = 21;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 7);
    uint8_t *png_buf = NULL;
    size_t len = 0;
    dream_err_t err = {{0}};
    assert_int_equal(http_png_rgb(rgb, w, h, &png_buf, &len, &err), 0);
    assert_true(len > 8);
    assert_memory_equal(png_buf, "\x89PNG\r\n\x1a\n", 8);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    rd_t r = {png_buf, len, 0};
    uint8_t *back = malloc((size_t)w * h * 3);
    if (setjmp(png_jmpbuf(png))) fail_msg("png decode failed");
    png_set_read_fn(png, &r, rd);
    png_read_info(png, info);
    assert_int_equal(png_get_image_width(png, info), w);
    assert_int_equal(png_get_image_height(png, info), h);
    for (int y = 0; y < h; y++) png_read_row(png, back + (size_t)y * w * 3, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    assert_memory_equal(back, rgb, (size_t)w * h * 3);
    free(back);
    free(png_buf);
    assert_int_equal(http_png_rgb(NULL, w, h, &png_buf, &len, &err), -1);
    assert_int_equal(http_png_rgb(rgb, 0, h, &png_buf, &len, &err), -1);
    free(rgb);
}

static void test_form_decode(void **state) {
    (void)state;
    char s[] = "a%41+b%2b";
    assert_int_equal(http_form_decode(s, strlen(s)), 5);
    assert_string_equal(s, "aA b+");
    char t[] = "%4";
    assert_int_equal(http_form_decode(t, strlen(t)), -1);
    char u[] = "%";
    assert_int_equal(http_form_decode(u, strlen(u)), -1);
}

/* one HTTP/1.0 exchange over a raw socket; returns the status code, body into out */
static int http_get(int port, const char *req, char *out, size_t n) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { close(fd); return -1; }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) { close(fd); return -1; }
    size_t k = 0;
    ssize_t r;
    while (k + 1 < n && (r = read(fd, out + k, n - 1 - k)) > 0) k += (size_t)r;
    out[k] = 0;
    close(fd);
    int code = -1;
    if (sscanf(out, "HTTP/1.%*d %d", &code) != 1) return -1;
    char *body = strstr(out, "\r\n\r\n");
    if (body) memmove(out, body + 4, strlen(body + 4) + 1);
    return code;
}

/* a tiny stream on an ephemeral loopback port, starting on class 5 */
static void small_stream_config(stream_config_t *cfg) {
    stream_config_defaults(cfg);
    cfg->http_port = 0;
    snprintf(cfg->bind_addr, sizeof cfg->bind_addr, "127.0.0.1");
    cfg->enc.width = 64; cfg->enc.height = 48; cfg->enc.fps = 10; cfg->enc.bitrate_kbps = 200; cfg->enc.threads = 1;
    cfg->req.initial_subject = 5;
}

static void test_stream_lifecycle(void **state) {
    (void)state;
    stream_config_t cfg;
    small_stream_config(&cfg);
    cfg.req.drift = 0;
    dream_err_t err = {{0}};
    stream_t *s = stream_new(&cfg, &err);
    assert_non_null(s);
    int port = stream_port(s);
    assert_true(port > 0);
    int ids[DREAM_MAX_SUBJECTS];
    assert_int_equal(stream_current_subjects(s, ids, DREAM_MAX_SUBJECTS), 1);
    assert_int_equal(ids[0], 5);
    uint64_t serial = stream_subject_serial(s);
    /* frames of another size are rescaled; bad ones refused */
    uint8_t *rgb = calloc(100 * 80 * 3, 1);
    for (int i = 0; i < 12; i++) {
        memset(rgb, i * 20, 100 * 80 * 3);
        assert_int_equal(stream_push_frame(s, rgb, 100, 80), 0);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(stream_push_frame(s, NULL, 10, 10), -1);
    assert_int_equal(stream_push_frame(s, rgb, 0, 10), -1);
    stream_stats_t st;
    for (int t = 0; t < 200; t++) {
        stream_get_stats(s, &st);
        if (st.frames_encoded + st.frames_dropped >= 12) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(st.frames_in, 12);
    assert_true(st.frames_encoded >= 1);
    assert_int_equal(st.frames_encoded + st.frames_dropped, 12);
    assert_true(st.keyframes >= 1);
    stream_status_t ss = {.workers = 3, .keyframe_rate = 1.5, .fps = 10, .untrained = 1};
    snprintf(ss.model, sizeof ss.model, "test model");
    stream_set_status(s, &ss);
    /* HTTP over a socket */
    char *buf = malloc(1 << 20);
    assert_int_equal(http_get(port, "GET /api/status HTTP/1.0\r\n\r\n", buf, 1 << 20), 200);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "workers")->valueint, 3);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "untrained")));
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "test model");
    assert_int_equal(cJSON_GetObjectItem(j, "width")->valueint, 64);
    cJSON_Delete(j);
    const char *post = "POST /api/request HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 17\r\n\r\nsubject=tree+frog";
    assert_int_equal(http_get(port, post, buf, 1 << 20), 202);
    assert_non_null(strstr(buf, "\"position\":0"));
    assert_int_equal(stream_current_subjects(s, ids, DREAM_MAX_SUBJECTS), 1);
    assert_true(ids[0] != 5);
    assert_true(stream_subject_serial(s) > serial);
    assert_int_equal(http_get(port, "GET /snapshot.png HTTP/1.0\r\n\r\n", buf, 1 << 20), 200);
    /* the coordinator's requests: trusted (no rate limit), still validated */
    assert_int_equal(stream_request(s, "volcano", "admin", &err), 1);
    assert_int_equal(stream_request(s, "broccoli", "admin", &err), 2);
    assert_int_equal(stream_request(s, "goldfish", "admin", &err), 3);
    assert_int_equal(stream_request(s, "daisy", "admin", &err), 4);
    assert_int_equal(stream_request(s, "no such thing", "admin", &err), -1);
    assert_true(strlen(err.msg) > 0);
    free(buf);
    free(rgb);
    stream_destroy(&s);
    assert_null(s);
    stream_destroy(&s);
    /* bad configs */
    stream_config_defaults(&cfg);
    cfg.enc.width = 5000;
    assert_null(stream_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "size"));
    stream_config_defaults(&cfg);
    snprintf(cfg.tls_cert, sizeof cfg.tls_cert, "/nonexistent.pem");
    snprintf(cfg.tls_key, sizeof cfg.tls_key, "/nonexistent.key");
    assert_null(stream_new(&cfg, &err));
    assert_non_null(strstr(err.msg, "TLS"));
}


/* durable requests: with a persister on, the 202 waits until the queue version that holds the
 * request is marked durable (or STREAM_DURABLE_WAIT_MS passed); refusals go at once */
typedef struct post_job {
    int port;
    const char *req;
    int code;
    char out[4096];
    atomic_int done;
} post_job_t;

static void *post_main(void *ud) {
    post_job_t *j = ud;
    j->code = http_get(j->port, j->req, j->out, sizeof j->out);
    atomic_store(&j->done, 1);
    return NULL;
}

static int wait_done(post_job_t *j, int ms) {
    for (int t = 0; t < ms / 10 && !atomic_load(&j->done); t++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&j->done);
}

static void test_durable_202(void **state) {
    (void)state;
    stream_config_t cfg;
    small_stream_config(&cfg);
    cfg.req.rate_burst = 100;       /* four requests from one address */
    dream_err_t err = {{0}};
    stream_t *s = stream_new(&cfg, &err);
    assert_non_null(s);
    stream_set_durable(s, 1);
    const char *post = "POST /api/request HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 15\r\nX-Test: 1\r\n\r\nsubject=volcano";
    post_job_t *j = calloc(1, sizeof *j);
    j->port = stream_port(s);
    j->req = post;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_main, j), 0);
    /* accepted (it is in the queue) but not answered: nothing is durable yet */
    uint64_t v = 0;
    for (int t = 0; t < 300 && (v = requests_version(stream_requests(s))) < 2; t++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(v >= 2);
    assert_false(wait_done(j, 300));
    stream_mark_durable(s, v - 1);                 /* an older version: still parked */
    assert_false(wait_done(j, 200));
    stream_mark_durable(s, requests_version(stream_requests(s)));
    assert_true(wait_done(j, 1000));
    pthread_join(th, NULL);
    assert_int_equal(j->code, 202);
    assert_non_null(strstr(j->out, "\"position\":0"));
    /* a refusal is not parked */
    memset(j, 0, sizeof *j);
    j->port = stream_port(s);
    j->req = "POST /api/request HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             "Content-Length: 18\r\n\r\nsubject=qqqzzzxxxx";
    assert_int_equal(pthread_create(&th, NULL, post_main, j), 0);
    assert_true(wait_done(j, 1000));
    pthread_join(th, NULL);
    assert_int_equal(j->code, 400);
    /* nothing ever marked: the 202 still goes after the longest wait */
    memset(j, 0, sizeof *j);
    j->port = stream_port(s);
    j->req = "POST /api/request HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             "Content-Length: 16\r\n\r\nsubject=broccoli";
    double t0 = dream_now_ms();
    assert_int_equal(pthread_create(&th, NULL, post_main, j), 0);
    assert_true(wait_done(j, STREAM_DURABLE_WAIT_MS + 3000));
    pthread_join(th, NULL);
    assert_int_equal(j->code, 202);
    assert_true(dream_now_ms() - t0 >= STREAM_DURABLE_WAIT_MS - 50);
    /* persister off: at once */
    stream_set_durable(s, 0);
    memset(j, 0, sizeof *j);
    j->port = stream_port(s);
    j->req = "POST /api/request HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             "Content-Length: 16\r\n\r\nsubject=goldfish";
    assert_int_equal(pthread_create(&th, NULL, post_main, j), 0);
    assert_true(wait_done(j, 1500));
    pthread_join(th, NULL);
    assert_int_equal(j->code, 202);
    free(j);
    stream_destroy(&s);
}

/* random and mutated bodies: never crash, always NUL-terminated and bounded output */
static void test_random_bodies(void **state) {
    (void)state;
    uint32_t x = 2463534242u;
    const char *ctypes[] = {NULL, "application/json", "text/plain", "application/x-www-form-urlencoded", "image/png"};
    const char *seeds[] = {"subject=tree+frog", "{\"subject\":\"volcano\"}", "subject=%41%42", "a=b&subject=c&subject=d"};
    int n = getenv("DREAM_TEST_QUICK") ? 3000 : 20000, ok = 0;
    char body[HTTP_BODY_MAX + 64], out[64];
    for (int i = 0; i < n; i++) {
        size_t len;
        if (i % 2) {   /* mutate a valid body */
            const char *sd = seeds[i % 4];
            len = strlen(sd);
            memcpy(body, sd, len);
            for (int k = 0; k < 3; k++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; body[x % len] = (char)(x >> 8); }
        } else {       /* random bytes */
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            len = x % (HTTP_BODY_MAX + 50);
            for (size_t k = 0; k < len; k++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; body[k] = (char)(x & 0xff); }
        }
        memset(out, 'Z', sizeof out);
        int st = 0;
        dream_err_t err = {{0}};
        int rc = http_parse_subject(body, len, ctypes[i % 5], out, sizeof out, &st, &err);
        if (rc == 0) { ok++; assert_true(memchr(out, 0, sizeof out) != NULL); }
        else { assert_true(st == 400 || st == 413 || st == 415); assert_true(strlen(err.msg) > 0); }
    }
    print_message("# %d of %d random bodies parsed\n", ok, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_hostile_subjects),
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_form_decode),
        cmocka_unit_test(test_stream_lifecycle),
        cmocka_unit_test(test_durable_202),
        cmocka_unit_test(test_random_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
