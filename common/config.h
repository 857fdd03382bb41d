/*
 * config.h — one table drives a program's configuration: defaults, config
 * files ("key = value" lines, '#' comments), command-line flags
 * ("--name value", "--name=value", "--no-name" for bools), the generated
 * --help text and INFO-style dumps ("# Config" then "key:value" lines).
 *
 * Each entry names a field of the program's config struct by offset:
 *
 *   typedef struct { int fps; char out[256]; } my_cfg_t;
 *   static const cfg_opt_t opts[] = {
 *       CFG_INT(my_cfg_t, fps, "fps", "25", 1, 240, "frames per second"),
 *       CFG_STR(my_cfg_t, out, "frames-out", "", "directory for PNG frames"),
 *       CFG_END };
 *
 * Names may use '-' or '_' interchangeably (file keys usually use '_').
 */
#ifndef DREAM_CONFIG_H
#define DREAM_CONFIG_H
#include <stddef.h>
#include <stdio.h>
#include "dlog.h"

#define CFG_MAX_LINE 1024
#define CFG_MAX_FILE (1024 * 1024)
#define CFG_MAX_LINES 10000

typedef enum { CFG_T_INT = 0, CFG_T_DOUBLE, CFG_T_STRING, CFG_T_BOOL } cfg_type_t;

typedef struct cfg_opt {
    const char *name;
    cfg_type_t type;
    const char *def;        /* default, as text */
    const char *help;
    size_t offset;          /* offsetof(struct, field) */
    size_t size;            /* bytes of a string field (char array) */
    double min, max;        /* numeric range (min > max: unbounded) */
} cfg_opt_t;

#define CFG_INT(T, f, n, d, lo, hi, h)    { n, CFG_T_INT, d, h, offsetof(T, f), sizeof(int), lo, hi }
#define CFG_DOUBLE(T, f, n, d, lo, hi, h) { n, CFG_T_DOUBLE, d, h, offsetof(T, f), sizeof(double), lo, hi }
#define CFG_STR(T, f, n, d, h)            { n, CFG_T_STRING, d, h, offsetof(T, f), sizeof(((T *)0)->f), 1, 0 }
#define CFG_BOOL(T, f, n, d, h)           { n, CFG_T_BOOL, d, h, offsetof(T, f), sizeof(int), 0, 1 }
#define CFG_END                           { NULL, CFG_T_INT, NULL, NULL, 0, 0, 0, 0 }

/* The one "WxH" parser (sizes in options, flags and saved state): decimal W, 'x' or 'X',
 * decimal H, each 1..DREAM_SIZE_MAX, nothing else (no signs, spaces or trailing text).
 * 0, or -1 leaving *w and *h alone. Callers check their own range. */
#define DREAM_SIZE_MAX 65535
int dream_parse_size(const char *s, int *w, int *h);

/* The one name-table parser (enum <-> name: precisions, layouts, ...): the index of s in
 * names[0..n) (case-insensitive), or -1; and names[i], or "?" out of range. */
int dream_name_index(const char *const *names, int n, const char *s);
const char *dream_name_of(const char *const *names, int n, int i);

const cfg_opt_t *cfg_find(const cfg_opt_t *opts, const char *name);
/* Writes every default into base. */
int cfg_defaults(const cfg_opt_t *opts, void *base, dream_err_t *err);
/* Parses value for one option (by name); errors name the option and the bad value. */
int cfg_set(const cfg_opt_t *opts, void *base, const char *name, const char *value, dream_err_t *err);
/* Parses a "key = value" text (bounded); errors carry "<origin>:<line>: ...". */
int cfg_parse_text(const cfg_opt_t *opts, void *base, const char *text, size_t len,
                   const char *origin, dream_err_t *err);
int cfg_parse_file(const cfg_opt_t *opts, void *base, const char *path, dream_err_t *err);

/* Parses argv: defaults first, then "--config FILE" (if given anywhere), then flags.
 * Returns 0 ok, 1 if --help was asked (help printed to stdout), -1 on error (err set).
 * Positional arguments are not accepted. */
int cfg_parse_args(const cfg_opt_t *opts, void *base, int argc, char **argv, const char *prog,
                   const char *summary, dream_err_t *err);
void cfg_print_help(const cfg_opt_t *opts, const char *prog, const char *summary, FILE *f);

/* Value of one option as text. */
int cfg_format(const cfg_opt_t *opts, const void *base, const char *name, char *buf, size_t n);
/* "# Config\nkey:value\n..." into buf (truncated safely); returns length written. */
size_t cfg_info(const cfg_opt_t *opts, const void *base, char *buf, size_t n);

#endif
