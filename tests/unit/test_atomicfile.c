/*
 * test_atomicfile.c — common/atomicfile.h: a write replaces the file whole, a failed write
 * (ok = 0, or a missing directory) leaves the old file and no temporary behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atomicfile.h"

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void read_back(const char *path, char *buf, size_t n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t got = fread(buf, 1, n - 1, fp);
    buf[got] = 0;
    fclose(fp);
}

static void test_atomic(void **st) {
    (void)st;
    char dir[] = "/tmp/dream_atomic_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], buf[64];
    snprintf(path, sizeof path, "%s/f.bin", dir);
    dream_err_t err = {{0}};
    assert_int_equal(dream_write_file_atomic(path, "first", 5, &err), 0);
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "first");
    assert_int_equal(dream_write_file_atomic(path, "second!", 7, &err), 0);
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "second!");
    /* a write that failed half way: the old file stays, no temporary is left */
    char *tmp = NULL;
    FILE *fp = dream_atomic_open(path, &tmp, &err);
    assert_non_null(fp);
    assert_non_null(tmp);
    fputs("half", fp);
    assert_int_equal(dream_atomic_commit(fp, tmp, path, 0, &err), -1);
    assert_non_null(strstr(err.msg, "write failed"));
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "second!");
    assert_int_equal(count_entries(dir), 1);
    /* no such directory */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing/f.bin", dir);
    assert_int_equal(dream_write_file_atomic(bad, "x", 1, &err), -1);
    assert_non_null(strstr(err.msg, "cannot create"));
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_atomic)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
