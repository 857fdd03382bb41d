/*
 * fuzz_config.c — libFuzzer harness: a config file's text (common/config.c cfg_parse_text:
 * lines, comments, quoting, every option type, bounds) into a table with one option of
 * each kind (a list, an included table with an INIT row too), then formatted back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

typedef struct fz_inner {
    float f;
    unsigned long long u;
} fz_inner_t;

static void fz_inner_init(void *base) {
    fz_inner_t *in = base;
    in->f = 1.5f;
    in->u = 7;
}

static const cfg_opt_t inner_opts[] = {
    CFG_INIT(fz_inner_init),
    CFG_FLOAT(fz_inner_t, f, "gain", NULL, -10, 10, "a float (default from INIT)"),
    CFG_U64(fz_inner_t, u, "seed", NULL, 0, 1e12, "a u64"),
    CFG_END};

typedef struct fz_cfg {
    char s[64];
    int i;
    double d;
    int b;
    char l[3][12];
    int nl;
    fz_inner_t in;
} fz_cfg_t;

static const cfg_opt_t opts[] = {
    CFG_STR(fz_cfg_t, s, "name", "x", "a string"),
    CFG_INT(fz_cfg_t, i, "count", "3", -5, 1000, "an int"),
    CFG_DOUBLE(fz_cfg_t, d, "ratio", "0.5", 0, 1e6, "a double"),
    CFG_BOOL(fz_cfg_t, b, "flag", "false", "a bool"),
    CFG_STRLIST(fz_cfg_t, l, nl, "item", "a repeatable string"),
    CFG_SUB(fz_cfg_t, in, inner_opts),
    CFG_END};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_cfg_t c;
    dream_err_t err = {{0}};
    if (cfg_defaults(opts, &c, &err) != 0) abort();
    if (cfg_parse_text(opts, &c, (const char *)data, size, "fuzz.conf", &err) == 0) {
        if (c.i < -5 || c.i > 1000 || !(c.d >= 0 && c.d <= 1e6)) abort();
        if (c.nl < 0 || c.nl > 3 || !(c.in.f >= -10 && c.in.f <= 10) || c.in.u > 1000000000000ULL) abort();
        for (int k = 0; k < c.nl; k++)
            if (!memchr(c.l[k], 0, sizeof c.l[k])) abort();
        char buf[4096];
        cfg_info(opts, &c, buf, sizeof buf);
    }
    return 0;
}
