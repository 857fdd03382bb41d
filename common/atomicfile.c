/*
 * atomicfile.c — tmp + rename file writes (see atomicfile.h).
 */
#include "atomicfile.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *dream_atomic_open(const char *path, char **tmp_out, dream_err_t *err) {
    *tmp_out = NULL;
    if (!path || !*path) { dream_err_set(err, "atomic write: empty path"); return NULL; }
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) { dream_err_set(err, "%s: out of memory", path); return NULL; }
    snprintf(tmp, pl + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        dream_err_set(err, "%s: cannot create file: %s", path, strerror(e));
        return NULL;
    }
    fchmod(fd, 0644);
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        int e = errno;
        close(fd); unlink(tmp); free(tmp);
        dream_err_set(err, "%s: cannot create file: %s", path, strerror(e));
        return NULL;
    }
    *tmp_out = tmp;
    return fp;
}

int dream_atomic_commit(FILE *fp, char *tmp, const char *path, int ok, dream_err_t *err) {
    int e = ok ? 0 : errno;
    if (fp && fclose(fp) != 0 && ok) { ok = 0; e = errno; }
    int rc = 0;
    if (!ok) {
        if (tmp) unlink(tmp);
        rc = dream_err_set(err, "%s: write failed: %s", path, strerror(e ? e : EIO));
    } else if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        rc = dream_err_set(err, "%s: cannot rename into place: %s", path, strerror(e));
    }
    free(tmp);
    return rc;
}

int dream_write_file_atomic(const char *path, const void *data, size_t len, dream_err_t *err) {
    char *tmp;
    FILE *fp = dream_atomic_open(path, &tmp, err);
    if (!fp) return -1;
    int ok = len == 0 || fwrite(data, 1, len, fp) == len;
    return dream_atomic_commit(fp, tmp, path, ok, err);
}
