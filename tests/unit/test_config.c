/*
 * test_config.c — the table-driven configuration (common/config.c): defaults,
 * config files with line-numbered errors, flags in every form, --config
 * precedence, --help, bounds, and the INFO dump; repeatable (list) options, included
 * tables and INIT rows; and that dreamd's stream, request-queue and encoder settings have
 * one row each (their structs are filled from it, no second list of defaults).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <fcntl.h>
#include "config.h"
#include "coord.h"
#include "encoder.h"
#include "requests.h"
#include "stream.h"

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


/* ---- repeatable options, included tables, INIT rows */
typedef struct t_inner {
    int hidden;                 /* not an option: INIT sets it */
    int rate;
    float gain;
} t_inner_t;

static void inner_init(void *base) {
    t_inner_t *in = base;
    memset(in, 0, sizeof *in);
    in->hidden = 42;
    in->gain = 0.5f;
}

static const cfg_opt_t inner_opts[] = {
    CFG_INIT(inner_init),
    CFG_INT(t_inner_t, rate, "rate", "7", 1, 100, "inner rate"),
    CFG_FLOAT(t_inner_t, gain, "gain", NULL, 0, 10, "gain (default from the INIT row)"),
    CFG_END};

typedef struct t_list {
    char cls[3][16];
    int ncls;
    unsigned long long seed;
    t_inner_t in;
} t_list_t;

static const cfg_opt_t list_opts[] = {
    CFG_STRLIST(t_list_t, cls, ncls, "class", "a subject; repeat for more"),
    CFG_U64(t_list_t, seed, "seed", "1", 0, 9.2e18, "seed"),
    CFG_SUB(t_list_t, in, inner_opts),
    CFG_END};

static void test_list_option(void **st) {
    (void)st;
    t_list_t c;
    memset(&c, 0x55, sizeof c);
    dream_err_t err = {{0}};
    assert_int_equal(cfg_defaults(list_opts, &c, &err), 0);
    assert_int_equal(c.ncls, 0);
    /* appended per occurrence, in order, flags and --name=value alike */
    char *a1[] = {"prog", "--class", "volcano", "--class=tree frog", NULL};
    assert_int_equal(cfg_parse_args(list_opts, &c, 4, a1, "prog", NULL, &err), 0);
    assert_int_equal(c.ncls, 2);
    assert_string_equal(c.cls[0], "volcano");
    assert_string_equal(c.cls[1], "tree frog");
    char v[64];
    assert_int_equal(cfg_format(list_opts, &c, "class", v, sizeof v), 0);
    assert_string_equal(v, "volcano, tree frog");
    /* past the count bound: a clear error naming the option and the bound */
    char *a2[] = {"prog", "--class", "a", "--class", "b", "--class", "c", "--class", "d", NULL};
    assert_int_equal(cfg_parse_args(list_opts, &c, 9, a2, "prog", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "option 'class': more than 3 values"));
    /* past the length bound */
    char *a3[] = {"prog", "--class", "0123456789abcdef", NULL};
    assert_int_equal(cfg_parse_args(list_opts, &c, 3, a3, "prog", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "option 'class': value is 16 characters (max 15)"));
    /* a config file appends one value per line, before the flags */
    cfg_defaults(list_opts, &c, NULL);
    const char *text = "class = frog\nclass = 'sea lion'\n";
    assert_int_equal(cfg_parse_text(list_opts, &c, text, strlen(text), "l.conf", &err), 0);
    assert_int_equal(c.ncls, 2);
    assert_string_equal(c.cls[1], "sea lion");
    const char *over = "class = a\nclass = b\nclass = c\nclass = d\n";
    cfg_defaults(list_opts, &c, NULL);
    assert_int_equal(cfg_parse_text(list_opts, &c, over, strlen(over), "m.conf", &err), -1);
    assert_non_null(strstr(err.msg, "m.conf:4"));
    /* defaults start the list empty again */
    cfg_defaults(list_opts, &c, NULL);
    assert_int_equal(c.ncls, 0);
    assert_int_equal(cfg_format(list_opts, &c, "class", v, sizeof v), 0);
    assert_string_equal(v, "");
}

static void test_sub_init_u64_float(void **st) {
    (void)st;
    t_list_t c;
    memset(&c, 0x55, sizeof c);
    dream_err_t err = {{0}};
    assert_int_equal(cfg_defaults(list_opts, &c, &err), 0);
    assert_int_equal(c.in.hidden, 42);          /* INIT row */
    assert_int_equal(c.in.rate, 7);             /* the included table's row */
    assert_float_equal(c.in.gain, 0.5, 1e-7);   /* NULL default: what INIT set */
    assert_int_equal(c.seed, 1);
    /* rows of an included table are found by name and written at the right offset */
    assert_int_equal(cfg_set(list_opts, &c, "rate", "9", &err), 0);
    assert_int_equal(c.in.rate, 9);
    assert_int_equal(cfg_set(list_opts, &c, "rate", "0", &err), -1);
    assert_non_null(strstr(err.msg, "option 'rate': 0 is outside [1, 100]"));
    assert_int_equal(cfg_set(list_opts, &c, "gain", "2.25", &err), 0);
    assert_float_equal(c.in.gain, 2.25, 1e-7);
    assert_int_equal(cfg_set(list_opts, &c, "gain", "11", &err), -1);
    assert_int_equal(cfg_set(list_opts, &c, "seed", "18446744073709551615", &err), -1);   /* > max */
    assert_int_equal(cfg_set(list_opts, &c, "seed", "-1", &err), -1);
    assert_non_null(strstr(err.msg, "option 'seed': '-1' is not"));
    assert_int_equal(cfg_set(list_opts, &c, "seed", "4000000000", &err), 0);
    assert_true(c.seed == 4000000000ULL);
    char buf[2048];
    size_t n = cfg_info(list_opts, &c, buf, sizeof buf);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "\nrate:9\n"));
    assert_non_null(strstr(buf, "\ngain:2.25\n"));
    assert_non_null(strstr(buf, "\nseed:4000000000\n"));
    assert_null(strstr(buf, "\n:"));            /* SUB / INIT rows are not options */
    /* help: the NULL default is shown from the defaulted struct */
    cfg_defaults(list_opts, &c, NULL);
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cfg_print_help_base(list_opts, &c, "prog", NULL, f);
    fclose(f);
    assert_non_null(strstr(buf, "--rate N"));
    assert_non_null(strstr(buf, "(default: 0.5)"));
    assert_non_null(strstr(buf, "--class S"));
    assert_non_null(strstr(buf, "at most 3"));
}

/* ---- one row per setting: dreamd's table (its stream, queue and encoder rows included) */
typedef struct names_ctx {
    const char *names[256];
    int n;
} names_ctx_t;

static void collect(const cfg_opt_t *o, size_t off, void *ud) {
    (void)off;
    names_ctx_t *c = ud;
    assert_true(c->n < 256);
    c->names[c->n++] = o->name;
}

static void no_twice(const cfg_opt_t *table) {
    names_ctx_t c = {{0}, 0};
    cfg_each(table, collect, &c);
    assert_true(c.n > 10);
    for (int i = 0; i < c.n; i++)
        for (int j = i + 1; j < c.n; j++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "%s", c.names[i]);
            snprintf(b, sizeof b, "%s", c.names[j]);
            for (char *p = a; *p; p++) if (*p == '_') *p = '-';
            for (char *p = b; *p; p++) if (*p == '_') *p = '-';
            if (!strcasecmp(a, b)) fail_msg("option '%s' has two rows (two defaults)", c.names[i]);
        }
    /* and every row is found by cfg_find as itself */
    for (int i = 0; i < c.n; i++) assert_ptr_equal(cfg_find(table, c.names[i])->name, c.names[i]);
}

static void test_one_row_per_setting(void **st) {
    (void)st;
    no_twice(coord_cfg_opts);
    no_twice(stream_cfg_opts);
    /* the stream's, the queue's and the encoder's rows are dreamd's options */
    const char *inc[] = {"http-port", "http-bind", "bitrate-kbps", "encoder-speed", "record", "tls-cert",
                         "web-root", "max-viewers", "hold-s", "min-hold-s", "queue-max", "rate-per-min",
                         "rate-burst", "drift", "ban-file", "trust-forwarded-for", "viewer-conns-per-ip",
                         "viewer-parse-per-s", NULL};
    for (int i = 0; inc[i]; i++) assert_non_null(cfg_find(coord_cfg_opts, inc[i]));
    for (int i = 0; requests_cfg_opts[i].name; i++)
        if (requests_cfg_opts[i].name[0])
            assert_ptr_equal(cfg_find(coord_cfg_opts, requests_cfg_opts[i].name), &requests_cfg_opts[i]);
    for (int i = 0; encoder_cfg_opts[i].name; i++)
        if (encoder_cfg_opts[i].name[0])
            assert_ptr_equal(cfg_find(coord_cfg_opts, encoder_cfg_opts[i].name), &encoder_cfg_opts[i]);
}

/* The structs the stream, the queue and the encoder get are what dreamd's table fills: the
 * same values from the same rows (and the documented defaults). */
static void test_stream_defaults_from_table(void **st) {
    (void)st;
    coord_cfg_t d;
    dream_err_t err = {{0}};
    assert_int_equal(cfg_defaults(coord_cfg_opts, &d, &err), 0);
    stream_config_t s;
    memset(&s, 0x55, sizeof s);
    stream_config_defaults(&s);
    assert_memory_equal(&s, &d.stream, sizeof s);
    requests_config_t r;
    memset(&r, 0x55, sizeof r);
    requests_config_defaults(&r);
    assert_memory_equal(&r, &s.req, sizeof r);
    encoder_config_t e;
    encoder_config_defaults(&e);
    assert_int_equal(e.bitrate_kbps, s.enc.bitrate_kbps);
    assert_int_equal(e.cpu_used, s.enc.cpu_used);
    assert_int_equal(e.width, s.enc.width);
    assert_int_equal(e.fps, s.enc.fps);
    assert_true(s.enc.threads >= 1 && s.enc.threads <= 8);
    /* the documented defaults (README / docs/operations.md) */
    assert_int_equal(s.http_port, 8080);
    assert_int_equal(s.max_viewers, 1000);
    assert_int_equal(s.max_conns_per_ip, 16);
    assert_float_equal(s.parse_per_s, 100, 0);
    assert_int_equal(s.enc.bitrate_kbps, 2500);
    assert_int_equal(s.enc.cpu_used, 8);
    assert_int_equal(s.enc.width, 1024);
    assert_int_equal(s.enc.height, 576);
    assert_float_equal(s.enc.keyframe_max_s, 2.0, 0);
    assert_float_equal(s.req.hold_s, 60, 0);
    assert_float_equal(s.req.min_hold_s, 60, 0);
    assert_int_equal(s.req.queue_max, 50);
    assert_float_equal(s.req.rate_per_min, 3, 0);
    assert_int_equal(s.req.rate_burst, 3);
    assert_int_equal(s.req.drift, 0);
    assert_int_equal(s.req.initial_subject, -1);
    assert_string_equal(s.bind_addr, "");
    assert_null(s.classes_path);
    /* a flag lands in the struct the stream gets, through the same row */
    assert_int_equal(cfg_set(coord_cfg_opts, &d, "hold-s", "90", &err), 0);
    assert_float_equal(d.stream.req.hold_s, 90, 0);
    assert_int_equal(cfg_set(coord_cfg_opts, &d, "encoder-speed", "6", &err), 0);
    assert_int_equal(d.stream.enc.cpu_used, 6);
    assert_int_equal(cfg_set(coord_cfg_opts, &d, "http-bind", "127.0.0.1", &err), 0);
    assert_string_equal(d.stream.bind_addr, "127.0.0.1");
    assert_int_equal(cfg_set(coord_cfg_opts, &d, "encoder-speed", "4", &err), -1);
    assert_non_null(strstr(err.msg, "option 'encoder-speed'"));
    char v[32];
    assert_int_equal(cfg_format(coord_cfg_opts, &d, "hold-s", v, sizeof v), 0);
    assert_string_equal(v, "90");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_set),
        cmocka_unit_test(test_text_parsing),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_help_and_info),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_name_table),
        cmocka_unit_test(test_list_option),
        cmocka_unit_test(test_sub_init_u64_float),
        cmocka_unit_test(test_one_row_per_setting),
        cmocka_unit_test(test_stream_defaults_from_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
