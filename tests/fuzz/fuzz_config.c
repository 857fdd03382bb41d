/*
 * fuzz_config.c — libFuzzer harness: a config file's text (common/config.c cfg_parse_text:
 * lines, comments, quoting, every option type, bounds) into a table with one option of
 * each kind, then formatted back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "config.h"

typedef struct fz_cfg {
    char s[64];
    int i;
    double d;
    int b;
} fz_cfg_t;

static const cfg_opt_t opts[] = {
    CFG_STR(fz_cfg_t, s, "name", "x", "a string"),
    CFG_INT(fz_cfg_t, i, "count", "3", -5, 1000, "an int"),
    CFG_DOUBLE(fz_cfg_t, d, "ratio", "0.5", 0, 1e6, "a double"),
    CFG_BOOL(fz_cfg_t, b, "flag", "false", "a bool"),
    CFG_END};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_cfg_t c;
    dream_err_t err = {{0}};
    if (cfg_defaults(opts, &c, &err) != 0) abort();
    if (cfg_parse_text(opts, &c, (const char *)data, size, "fuzz.conf", &err) == 0) {
        if (c.i < -5 || c.i > 1000 || !(c.d >= 0 && c.d <= 1e6)) abort();
        char buf[4096];
        cfg_info(opts, &c, buf, sizeof buf);
    }
    return 0;
}
