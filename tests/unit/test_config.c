/*
 * test_config.c — the table-driven configuration (common/config.c): defaults,
 * config files with line-numbered errors, flags in every form, --config
 * precedence, --help, bounds, and the INFO dump.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include "config.h"

typedef struct t_cfg {
    int fps;
    double zoom;
    char out[16];
    int verbose;
} t_cfg_t;

static const cfg_opt_t opts[] = {
    CFG_INT(t_cfg_t, fps, "fps", "25", 1, 120, "frames per second"),
    CFG_DOUBLE(t_cfg_t, zoom, "zoom-per-sec", "1.03", 0.5, 2, "zoom"),
    CFG_STR(t_cfg_t, out, "frames-out", "", "dir"),
    CFG_BOOL(t_cfg_t, verbose, "verbose", "false", "talk more"),
    CFG_END};

static void test_defaults_and_set(void **s) {
    (void)s;
    t_cfg_t c;
    memset(&c, 0x55, sizeof c);
    assert_int_equal(cfg_defaults(opts, &c, NULL), 0);
    assert_int_equal(c.fps, 25);
    assert_float_equal(c.zoom, 1.03, 1e-12);
    assert_string_equal(c.out, "");
    assert_int_equal(c.verbose, 0);
    dream_err_t err = {{0}};
    assert_int_equal(cfg_set(opts, &c, "zoom_per_sec", "1.5", &err), 0);   /* '_' == '-' */
    assert_float_equal(c.zoom, 1.5, 1e-12);
    assert_int_equal(cfg_set(opts, &c, "fps", "0", &err), -1);
    assert_non_null(strstr(err.msg, "fps"));
    assert_non_null(strstr(err.msg, "outside"));
    assert_int_equal(cfg_set(opts, &c, "fps", "12abc", &err), -1);
    assert_non_null(strstr(err.msg, "not an integer"));
    assert_int_equal(cfg_set(opts, &c, "frames-out", "0123456789abcdefXYZ", &err), -1);
    assert_non_null(strstr(err.msg, "max 15"));
    assert_int_equal(cfg_set(opts, &c, "nope", "1", &err), -1);
    assert_non_null(strstr(err.msg, "unknown option 'nope'"));
    assert_int_equal(cfg_set(opts, &c, "verbose", "maybe", &err), -1);
    assert_int_equal(cfg_set(opts, &c, "verbose", "yes", &err), 0);
    assert_int_equal(c.verbose, 1);
    assert_int_equal(cfg_set(opts, &c, "zoom-per-sec", "nan", &err), -1);
}

static void test_text_parsing(void **s) {
    (void)s;
    t_cfg_t c;
    cfg_defaults(opts, &c, NULL);
    const char *good = "# comment\n\n  fps = 30  \nframes_out = \"/tmp/x\"\n; also comment\nverbose=on\n";
    dream_err_t err = {{0}};
    assert_int_equal(cfg_parse_text(opts, &c, good, strlen(good), "a.conf", &err), 0);
    assert_int_equal(c.fps, 30);
    assert_string_equal(c.out, "/tmp/x");
    assert_int_equal(c.verbose, 1);
    const char *bad1 = "fps = 30\n\nzoom-per-sec 1.1\n";
    assert_int_equal(cfg_parse_text(opts, &c, bad1, strlen(bad1), "b.conf", &err), -1);
    assert_non_null(strstr(err.msg, "b.conf:3:"));
    const char *bad2 = "fps = 30\nwho = 1\n";
    assert_int_equal(cfg_parse_text(opts, &c, bad2, strlen(bad2), "c.conf", &err), -1);
    assert_non_null(strstr(err.msg, "c.conf:2"));
    assert_non_null(strstr(err.msg, "unknown option 'who'"));
    char longline[CFG_MAX_LINE + 50];
    memset(longline, 'a', sizeof longline - 1);
    longline[sizeof longline - 1] = 0;
    assert_int_equal(cfg_parse_text(opts, &c, longline, strlen(longline), "d.conf", &err), -1);
    assert_non_null(strstr(err.msg, "d.conf:1: line longer"));
    const char nul[] = "fps = 3\0 0\n";
    assert_int_equal(cfg_parse_text(opts, &c, nul, sizeof nul - 1, "e.conf", &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));
}

static void test_args(void **s) {
    (void)s;
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *file = "fps = 50\nframes-out = fromfile\n";
    assert_int_equal(write(fd, file, strlen(file)), (ssize_t)strlen(file));
    close(fd);
    t_cfg_t c;
    dream_err_t err = {{0}};
    /* flags override the file wherever --config appears */
    char *a1[] = {"prog", "--fps", "60", "--config", path, "--zoom-per-sec=1.2", "--verbose", NULL};
    assert_int_equal(cfg_parse_args(opts, &c, 7, a1, "prog", NULL, &err), 0);
    assert_int_equal(c.fps, 60);
    assert_string_equal(c.out, "fromfile");
    assert_float_equal(c.zoom, 1.2, 1e-12);
    assert_int_equal(c.verbose, 1);
    char *a2[] = {"prog", "--no-verbose", "--verbose", "false", NULL};
    assert_int_equal(cfg_parse_args(opts, &c, 4, a2, "prog", NULL, &err), 0);
    assert_int_equal(c.verbose, 0);
    char *a3[] = {"prog", "--fps", NULL};
    assert_int_equal(cfg_parse_args(opts, &c, 2, a3, "prog", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "needs a value"));
    char *a4[] = {"prog", "stray", NULL};
    assert_int_equal(cfg_parse_args(opts, &c, 2, a4, "prog", NULL, &err), -1);
    char *a5[] = {"prog", "--bogus=1", NULL};
    assert_int_equal(cfg_parse_args(opts, &c, 2, a5, "prog", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "--bogus"));
    char *a6[] = {"prog", "--config", "/nonexistent/x.conf", NULL};
    assert_int_equal(cfg_parse_args(opts, &c, 3, a6, "prog", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/x.conf"));
    fflush(stdout);
    int saved = dup(1), dn = open("/dev/null", O_WRONLY);
    dup2(dn, 1);
    char *a7[] = {"prog", "--fps", "9", "--help", NULL};
    int rc = cfg_parse_args(opts, &c, 4, a7, "prog", NULL, &err);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(dn);
    assert_int_equal(rc, 1);
    unlink(path);
}

static void test_help_and_info(void **s) {
    (void)s;
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cfg_print_help(opts, "prog", "does things", f);
    fclose(f);
    assert_non_null(strstr(buf, "--fps N"));
    assert_non_null(strstr(buf, "frames per second (default: 25)"));
    assert_non_null(strstr(buf, "--verbose / --no-verbose"));
    t_cfg_t c;
    cfg_defaults(opts, &c, NULL);
    c.fps = 12;
    size_t n = cfg_info(opts, &c, buf, sizeof buf);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "# Config\n"));
    assert_non_null(strstr(buf, "\nfps:12\n"));
    assert_non_null(strstr(buf, "\nverbose:false\n"));
    assert_non_null(strstr(buf, "\nframes-out:\n"));
    /* truncation is safe */
    char small[20];
    n = cfg_info(opts, &c, small, sizeof small);
    assert_true(n < sizeof small);
    assert_int_equal(strlen(small), n);
}

/* dream_parse_size: the one WxH parser */
static void test_parse_size(void **st) {
    (void)st;
    int w = -1, h = -1;
    assert_int_equal(dream_parse_size("1024x576", &w, &h), 0);
    assert_int_equal(w, 1024); assert_int_equal(h, 576);
    assert_int_equal(dream_parse_size("16X9", &w, &h), 0);
    assert_int_equal(w, 16); assert_int_equal(h, 9);
    assert_int_equal(dream_parse_size("65535x1", &w, &h), 0);
    const char *bad[] = {"", "x", "1024", "1024x", "x576", "0x576", "1024x0", "-4x5", "4x-5", "65536x2",
                         "1024x576junk", " 1024x576", "1024 x 576", "1024*576", "99999999999x1", NULL};
    for (int i = 0; bad[i]; i++) {
        w = h = 7;
        assert_int_equal(dream_parse_size(bad[i], &w, &h), -1);
        assert_int_equal(w, 7); assert_int_equal(h, 7);     /* untouched */
    }
    assert_int_equal(dream_parse_size(NULL, &w, &h), -1);
}

/* dream_name_index / dream_name_of: the one name-table parser */
static void test_name_table(void **st) {
    (void)st;
    static const char *const names[] = {"single", "seed", "bands", "quadrants"};
    assert_int_equal(dream_name_index(names, 4, "single"), 0);
    assert_int_equal(dream_name_index(names, 4, "QUADRANTS"), 3);
    assert_int_equal(dream_name_index(names, 4, "quadrant"), -1);
    assert_int_equal(dream_name_index(names, 4, ""), -1);
    assert_int_equal(dream_name_index(names, 4, NULL), -1);
    assert_int_equal(dream_name_index(names, 2, "bands"), -1);     /* only the first n */
    assert_string_equal(dream_name_of(names, 4, 2), "bands");
    assert_string_equal(dream_name_of(names, 4, 4), "?");
    assert_string_equal(dream_name_of(names, 4, -1), "?");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_set),
        cmocka_unit_test(test_text_parsing),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_help_and_info),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_name_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
