/*
 * fuzz_http.c — libFuzzer harness: a viewer's request body (server/http.c http_parse_subject)
 * under each content type, then the subject through the request queue (server/requests.c:
 * normalising, class lookup, suggestions, merging, rate limit) with a fake clock.
 * Input: [content-type selector byte][body].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"
#include "requests.h"

static dream_classes_t *g_classes;
static requests_t *g_q;
static double g_t;
static double fake_clock(void *ud) { (void)ud; return g_t; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_classes) {
        if (!getenv("DREAM_DATA_DIR")) setenv("DREAM_DATA_DIR", "data", 0);
        dream_err_t e = {{0}};
        g_classes = dream_classes_load_default(&e);
        if (!g_classes) abort();
        requests_config_t c;
        requests_config_defaults(&c);
        c.queue_max = 8;
        g_q = requests_new(&c, g_classes, &e);
        if (!g_q) abort();
        requests_set_clock(g_q, fake_clock, NULL);
    }
    if (size < 1) return 0;
    static const char *cts[] = {"application/x-www-form-urlencoded", "application/json", "text/plain", "", "image/png",
                                "application/json; charset=utf-8"};
    const char *ct = cts[data[0] % (sizeof cts / sizeof *cts)];
    char out[256];
    int status = 0;
    dream_err_t err = {{0}};
    g_t += 7;
    if (http_parse_subject((const char *)data + 1, size - 1, ct, out, sizeof out, &status, &err) == 0) {
        if (strlen(out) >= sizeof out) abort();
        requests_result_t r;
        char ip[32] = "10.0.0.1";
        ip[7] = (char)('0' + data[0] % 10);
        requests_submit(g_q, out, ip, &r);
        char *j = http_request_reply(&r, g_classes);
        free(j);
    } else {
        char *j = http_error_json(err.msg);
        free(j);
    }
    return 0;
}
