/*
 * atomicfile.h — the one way dreamfarm writes a file: to a temporary name beside the
 * target (PATH.tmpXXXXXX, mode 0644), then rename() over it, so a reader (or a crash)
 * never sees half a file. Used by dream_image_save and st_write (safetensors).
 *
 *   char *tmp;
 *   FILE *fp = dream_atomic_open(path, &tmp, &err);       // NULL + err on failure
 *   ok = fwrite(...) == n && ...;
 *   if (dream_atomic_commit(fp, tmp, path, ok, &err) < 0) ...   // renames or removes; frees tmp
 */
#ifndef DREAM_ATOMICFILE_H
#define DREAM_ATOMICFILE_H
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include "dlog.h"

/* A new temporary file beside path, open for writing; *tmp (malloc'd) is its name. */
FILE *dream_atomic_open(const char *path, char **tmp, dream_err_t *err);
/* Closes fp; when ok and the close worked, renames tmp to path, else removes tmp. Frees tmp.
 * 0, or -1 with err ("PATH: write failed: ..." / "PATH: cannot rename into place: ..."). */
int dream_atomic_commit(FILE *fp, char *tmp, const char *path, int ok, dream_err_t *err);
/* The whole of data[0..len) as path. */
int dream_write_file_atomic(const char *path, const void *data, size_t len, dream_err_t *err);

#endif
