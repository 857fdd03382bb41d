/*
 * test_classes.c — ImageNet class names and what viewers type (common/classes.c).
 *
 * Uses the real data/imagenet_classes.txt (via dream_classes_load_default) for the
 * matching rules, and broken copies of it written to a temp dir for the loader's
 * error messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "classes.h"
#include "paths.h"

static dream_classes_t *C;
static char tmpdir[256];
static char *orig;          /* the real file's text */
static size_t orig_len;

static int setup(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    C = dream_classes_load_default(&err);
    if (!C) {
        fprintf(stderr, "cannot load classes from %s: %s\n", dream_data_dir(), err.msg);
        return -1;
    }
    char path[4096];
    dream_data_path("imagenet_classes.txt", path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    orig = malloc(1 << 20);
    orig_len = fread(orig, 1, (1 << 20) - 1, f);
    orig[orig_len] = 0;
    fclose(f);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_classes.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    dream_classes_destroy(&C);
    free(orig);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int lookup(const char *w) {
    dream_err_t err = {{0}};
    int id = dream_classes_lookup(C, w, &err);
    if (id < 0) print_message("# lookup '%s': %s\n", w, err.msg);
    return id;
}

static void test_loaded(void **state) {
    (void)state;
    assert_int_equal(dream_classes_count(C), 1000);
    assert_string_equal(dream_classes_name(C, 0), "tench");
    assert_string_equal(dream_classes_wnid(C, 0), "n01440764");
    assert_string_equal(dream_classes_name(C, 31), "tree frog");
    assert_string_equal(dream_classes_synonyms(C, 31), "tree frog, tree-frog");
    assert_string_equal(dream_classes_wnid(C, 31), "n01644373");
    assert_string_equal(dream_classes_name(C, 980), "volcano");
    assert_string_equal(dream_classes_name(C, 999), "toilet tissue");
    assert_null(dream_classes_name(C, 1000));
    assert_null(dream_classes_name(C, -1));
    assert_null(dream_classes_wnid(NULL, 3));
    assert_int_equal(dream_classes_count(NULL), 0);
}

static void test_lookup_normalisation(void **state) {
    (void)state;
    assert_int_equal(lookup("tree frog"), 31);
    assert_int_equal(lookup("Tree-Frog"), 31);
    assert_int_equal(lookup("  TREE   frog "), 31);
    assert_int_equal(lookup("tree_frog"), 31);
    assert_int_equal(lookup("tree\tfrog\n"), 31);
    assert_int_equal(lookup("broccoli"), 937);
    assert_int_equal(lookup("Carcharodon carcharias"), 2);        /* every synonym is a key */
    assert_int_equal(lookup("man-eater"), 2);
    assert_int_equal(lookup("jack o lantern"), 607);              /* apostrophes dropped */
    assert_int_equal(lookup("jack-o'-lantern"), 607);
    assert_int_equal(lookup("carpenters kit"), 477);
    /* "crane" is both a bird (134) and a machine (517): the first wins */
    assert_int_equal(lookup("crane"), 134);
    assert_int_equal(lookup("maillot"), 638);
}

static void test_lookup_ids(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    assert_int_equal(lookup("31"), 31);
    assert_int_equal(lookup(" 0 "), 0);
    assert_int_equal(lookup("999"), 999);
    assert_int_equal(lookup("0031"), 31);
    assert_int_equal(dream_classes_lookup(C, "1000", &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_non_null(strstr(err.msg, "1000"));
    assert_int_equal(dream_classes_lookup(C, "99999999999999999999999", &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(dream_classes_lookup(C, "-1", &err), -1);   /* not a negative id */
}

/* whole names first (all classes sharing one), then single words of names, common words skipped */
static void test_candidates(void **state) {
    (void)state;
    int ids[64], by_word = -1;
    /* whole name: one class */
    assert_int_equal(dream_classes_candidates(C, "Tree-Frog", ids, 64, &by_word), 1);
    assert_int_equal(ids[0], lookup("tree frog"));
    assert_int_equal(by_word, 0);
    /* a whole name shared by two classes: both (lookup keeps the lowest) */
    int n = dream_classes_candidates(C, "crane", ids, 64, &by_word);
    assert_int_equal(n, 2);
    assert_int_equal(by_word, 0);
    assert_true(ids[0] < ids[1]);
    assert_int_equal(lookup("crane"), ids[0]);
    /* one word of names: every frog class that has "frog" as a word (bullfrog is one word) */
    n = dream_classes_candidates(C, "frog", ids, 64, &by_word);
    assert_int_equal(by_word, 1);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], lookup("tree frog"));
    assert_int_equal(ids[1], lookup("tailed frog"));
    /* the first word (in typed order) that names a class wins; common words skipped */
    n = dream_classes_candidates(C, "the big spider of doom", ids, 64, &by_word);
    assert_true(n >= 5);
    for (int i = 0; i < n; i++) assert_non_null(strstr(dream_classes_synonyms(C, ids[i]), "spider"));
    assert_int_equal(dream_classes_candidates(C, "the of and a", ids, 64, &by_word), 0);
    assert_true(dream_classes_is_stopword("the"));
    assert_false(dream_classes_is_stopword("frog"));
    /* ids, bounds, nothing */
    assert_int_equal(dream_classes_candidates(C, "31", ids, 64, NULL), 1);
    assert_int_equal(ids[0], 31);
    assert_int_equal(dream_classes_candidates(C, "1000", ids, 64, NULL), 0);
    assert_int_equal(dream_classes_candidates(C, "xqzzy", ids, 64, NULL), 0);
    assert_int_equal(dream_classes_candidates(C, "frog", ids, 1, NULL), 1);   /* max respected */
    char big[400];
    memset(big, 'a', sizeof big - 1); big[sizeof big - 1] = 0;
    assert_int_equal(dream_classes_candidates(C, big, ids, 64, NULL), 0);
    assert_int_equal(dream_classes_candidates(NULL, "frog", ids, 64, NULL), 0);
}

static void test_unknown_suggests(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    assert_int_equal(dream_classes_lookup(C, "treefrgo", &err), -1);
    print_message("# %s\n", err.msg);
    assert_non_null(strstr(err.msg, "unknown class 'treefrgo'"));
    assert_non_null(strstr(err.msg, "closest: tree frog"));
    int ids[5];
    assert_int_equal(dream_classes_suggest(C, "treefrgo", ids, 5), 5);
    assert_int_equal(ids[0], 31);
    for (int i = 1; i < 5; i++) assert_int_not_equal(ids[i], 31);   /* distinct classes */
    /* prefix matches come first: "volc" -> volcano */
    assert_int_equal(dream_classes_suggest(C, "volc", ids, 1), 1);
    assert_int_equal(ids[0], 980);
    assert_int_equal(dream_classes_lookup(C, "brocoli", &err), -1);
    assert_non_null(strstr(err.msg, "broccoli"));
    assert_int_equal(dream_classes_suggest(C, "  ", ids, 3), 0);
    assert_int_equal(dream_classes_suggest(C, "x", ids, 0), 0);
    /* unprintable bytes are not echoed raw */
    assert_int_equal(dream_classes_lookup(C, "bad\x01\x7fword\xff", &err), -1);
    for (const char *p = err.msg; *p; p++) assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_parse(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    int ids[4];
    assert_int_equal(dream_classes_parse(C, "volcano + broccoli", ids, 4, &err), 2);
    assert_int_equal(ids[0], 980);
    assert_int_equal(ids[1], 937);
    assert_int_equal(dream_classes_parse(C, "Tree-Frog", ids, 4, &err), 1);
    assert_int_equal(ids[0], 31);
    assert_int_equal(dream_classes_parse(C, "1+2+  Volcano+tree frog", ids, 4, &err), 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 980);
    assert_int_equal(ids[3], 31);

    assert_int_equal(dream_classes_parse(C, "volcano + + broccoli", ids, 4, &err), -1);
    assert_non_null(strstr(err.msg, "empty subject"));
    assert_int_equal(dream_classes_parse(C, "volcano +", ids, 4, &err), -1);
    assert_non_null(strstr(err.msg, "empty subject"));
    assert_int_equal(dream_classes_parse(C, "   ", ids, 4, &err), -1);
    assert_non_null(strstr(err.msg, "no class"));
    assert_int_equal(dream_classes_parse(C, "a + b + c + d + e", ids, 4, &err), -1);
    assert_non_null(strstr(err.msg, "too many subjects (5)"));
    assert_int_equal(dream_classes_parse(C, "volcano + broccoli", ids, 1, &err), -1);
    assert_non_null(strstr(err.msg, "at most 1"));
    assert_int_equal(dream_classes_parse(C, "volcano + treefrgo", ids, 4, &err), -1);
    assert_non_null(strstr(err.msg, "tree frog"));
    assert_int_equal(dream_classes_parse(C, "volcano + 1000", ids, 4, &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(dream_classes_parse(C, "---", ids, 4, &err), -1);
}

static void test_request_bounds(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    int ids[4];
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(dream_classes_lookup(C, big, &err), -1);
    assert_non_null(strstr(err.msg, "longer than 256"));
    assert_int_equal(dream_classes_parse(C, big, ids, 4, &err), -1);
    assert_non_null(strstr(err.msg, "longer than 256"));
    /* 256 bytes is still accepted (and unknown) */
    big[256] = 0;
    assert_int_equal(dream_classes_lookup(C, big, &err), -1);
    assert_non_null(strstr(err.msg, "unknown class"));
    assert_int_equal(dream_classes_suggest(C, big, ids, 4), 4);
    /* padded request within the bound */
    char padded[257];
    memset(padded, ' ', 256);
    memcpy(padded + 100, "tree frog", 9);
    padded[256] = 0;
    assert_int_equal(lookup(padded), 31);
}

/* ---- malformed files: copies of the real file with one thing broken */

static char *write_tmp(const char *name, const char *text, size_t len) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

/* orig with line `lineno` (1-based) replaced by `repl` (NULL: removed) */
static char *replace_line(int lineno, const char *repl, size_t *out_len) {
    char *out = malloc(orig_len + (repl ? strlen(repl) : 0) + 16);
    size_t o = 0;
    const char *p = orig;
    for (int ln = 1; *p; ln++) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) + 1 : strlen(p);
        if (ln == lineno) {
            if (repl) { memcpy(out + o, repl, strlen(repl)); o += strlen(repl); out[o++] = '\n'; }
        } else {
            memcpy(out + o, p, l);
            o += l;
        }
        p += l;
    }
    *out_len = o;
    return out;
}

static void expect_load_error(const char *name, const char *text, size_t len, const char *needle) {
    dream_err_t err = {{0}};
    char *path = write_tmp(name, text, len);
    dream_classes_t *c = dream_classes_load(path, &err);
    print_message("# %s: %s\n", name, c ? "(loaded)" : err.msg);
    assert_null(c);
    assert_non_null(strstr(err.msg, needle));
}

static void test_malformed_files(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    size_t len;
    char *t;
    /* a clean copy (with CRLF line ends) loads */
    char *crlf = malloc(orig_len * 2 + 1);
    size_t o = 0;
    for (size_t i = 0; i < orig_len; i++) {
        if (orig[i] == '\n') crlf[o++] = '\r';
        crlf[o++] = orig[i];
    }
    dream_classes_t *c = dream_classes_load(write_tmp("crlf.txt", crlf, o), &err);
    assert_non_null(c);
    assert_string_equal(dream_classes_name(c, 31), "tree frog");
    assert_string_equal(dream_classes_synonyms(c, 999), "toilet tissue, toilet paper, bathroom tissue");
    dream_classes_destroy(&c);
    assert_null(c);
    dream_classes_destroy(&c);
    dream_classes_destroy(NULL);
    free(crlf);

    t = replace_line(5, "hammerhead, hammerhead shark", &len);
    expect_load_error("nownid.txt", t, len, ":5: expected a WordNet id");
    free(t);
    t = replace_line(7, "n01514668", &len);
    expect_load_error("nonames.txt", t, len, ":7: class n01514668 has no names");
    free(t);
    t = replace_line(8, "n01514859 hen, , chicken", &len);
    expect_load_error("emptyname.txt", t, len, ":8: empty name");
    free(t);
    char longline[2100];
    memcpy(longline, "n01514859 ", 10);
    memset(longline + 10, 'x', 2000);
    longline[2010] = 0;
    t = replace_line(9, longline, &len);
    expect_load_error("longline.txt", t, len, ":9: line longer than 1024 bytes");
    free(t);
    t = replace_line(1000, NULL, &len);
    expect_load_error("999.txt", t, len, "999 classes, expected exactly 1000");
    free(t);
    t = malloc(orig_len + 64);
    memcpy(t, orig, orig_len);
    len = orig_len + (size_t)sprintf(t + orig_len, "n99999999 extra class\n");
    expect_load_error("1001.txt", t, len, ":1001: more than 1000 classes");
    free(t);
    t = replace_line(10, "", &len);
    expect_load_error("blank.txt", t, len, ":10: empty line");
    free(t);
    t = replace_line(11, "n01440764 tench again", &len);
    expect_load_error("dupwnid.txt", t, len, "n01440764 appears twice");
    free(t);
    t = replace_line(12, "n01531178 gold\x01" "finch", &len);
    expect_load_error("ctrl.txt", t, len, ":12: non-printable");
    free(t);
    expect_load_error("empty.txt", "", 0, "0 classes");
    /* trailing blank lines are fine */
    t = malloc(orig_len + 8);
    memcpy(t, orig, orig_len);
    memcpy(t + orig_len, "\n\n  \n", 5);
    c = dream_classes_load(write_tmp("trailing.txt", t, orig_len + 5), &err);
    assert_non_null(c);
    dream_classes_destroy(&c);
    free(t);
    /* missing file and oversized file */
    assert_null(dream_classes_load("/nonexistent/classes.txt", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/classes.txt"));
    char *huge = malloc(2 << 20);
    memset(huge, 'a', 2 << 20);
    expect_load_error("huge.txt", huge, 2 << 20, "larger than");
    free(huge);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded),
        cmocka_unit_test(test_lookup_normalisation),
        cmocka_unit_test(test_lookup_ids),
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_unknown_suggests),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_request_bounds),
        cmocka_unit_test(test_malformed_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
