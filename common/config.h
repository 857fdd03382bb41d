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

typedef enum {
    CFG_T_INT = 0, CFG_T_DOUBLE, CFG_T_STRING, CFG_T_BOOL,
    CFG_T_FLOAT,            /* a float field (engine parameters) */
    CFG_T_U64,              /* a uint64_t field (seeds) */
    CFG_T_STRLIST,          /* char f[N][L] + int count: every occurrence appends one value */
    CFG_T_SUB,              /* another table, applied to the struct embedded at offset */
    CFG_T_INIT,             /* no option: cfg_defaults() calls init(base) at this row */
} cfg_type_t;

typedef struct cfg_opt {
    const char *name;       /* NULL ends the table; "" for SUB / INIT rows */
    cfg_type_t type;
    const char *def;        /* default, as text; NULL = left as an INIT row set it */
    const char *help;
    size_t offset;          /* offsetof(struct, field) */
    size_t size;            /* bytes of a string field (char array; one entry of a list) */
    double min, max;        /* numeric range (min > max: unbounded) */
    size_t count_offset;    /* CFG_T_STRLIST: offsetof the int count */
    int max_items;          /* CFG_T_STRLIST: entries of the array */
    const struct cfg_opt *sub;      /* CFG_T_SUB */
    void (*init)(void *base);       /* CFG_T_INIT */
} cfg_opt_t;

#define CFG_ROW_(n, t, d, h, off, sz, lo, hi) \
    .name = n, .type = t, .def = d, .help = h, .offset = off, .size = sz, .min = lo, .max = hi
#define CFG_INT(T, f, n, d, lo, hi, h)    { CFG_ROW_(n, CFG_T_INT, d, h, offsetof(T, f), sizeof(int), lo, hi) }
#define CFG_DOUBLE(T, f, n, d, lo, hi, h) { CFG_ROW_(n, CFG_T_DOUBLE, d, h, offsetof(T, f), sizeof(double), lo, hi) }
#define CFG_FLOAT(T, f, n, d, lo, hi, h)  { CFG_ROW_(n, CFG_T_FLOAT, d, h, offsetof(T, f), sizeof(float), lo, hi) }
#define CFG_U64(T, f, n, d, lo, hi, h)    { CFG_ROW_(n, CFG_T_U64, d, h, offsetof(T, f), sizeof(unsigned long long), lo, hi) }
#define CFG_STR(T, f, n, d, h)            { CFG_ROW_(n, CFG_T_STRING, d, h, offsetof(T, f), sizeof(((T *)0)->f), 1, 0) }
#define CFG_BOOL(T, f, n, d, h)           { CFG_ROW_(n, CFG_T_BOOL, d, h, offsetof(T, f), sizeof(int), 0, 1) }
/* A repeatable option: field f is char f[N][L], count the int that counts the entries. Each
 * occurrence (flag or config-file line) appends one value; more than N, or one of L or more
 * bytes, is an error. The default is no entries. */
#define CFG_STRLIST(T, f, count, n, h) \
    { CFG_ROW_(n, CFG_T_STRLIST, "", h, offsetof(T, f), sizeof(((T *)0)->f[0]), 1, 0), \
      .count_offset = offsetof(T, count), .max_items = (int)(sizeof(((T *)0)->f) / sizeof(((T *)0)->f[0])) }
/* The rows of table `opts` for the struct T.f: one table can hold another module's settings
 * (the stream's in dreamd's), each default still in one row. */
#define CFG_SUB(T, f, opts)               { CFG_ROW_("", CFG_T_SUB, NULL, NULL, offsetof(T, f), sizeof(((T *)0)->f), 1, 0), .sub = opts }
/* cfg_defaults() calls fn(base) here: the defaults of fields that are not options (rows after
 * it override what it sets; rows with a NULL default keep it). */
#define CFG_INIT(fn)                      { CFG_ROW_("", CFG_T_INIT, NULL, NULL, 0, 0, 1, 0), .init = fn }
#define CFG_END                           { .name = NULL }

/* The one "WxH" parser (sizes in options, flags and saved state): decimal W, 'x' or 'X',
 * decimal H, each 1..DREAM_SIZE_MAX, nothing else (no signs, spaces or trailing text).
 * 0, or -1 leaving *w and *h alone. Callers check their own range. */
#define DREAM_SIZE_MAX 65535
int dream_parse_size(const char *s, int *w, int *h);

/* The one name-table parser (enum <-> name: precisions, layouts, ...): the index of s in
 * names[0..n) (case-insensitive), or -1; and names[i], or "?" out of range. */
int dream_name_index(const char *const *names, int n, const char *s);
const char *dream_name_of(const char *const *names, int n, int i);

/* The option row of name (in sub-tables too), or NULL. */
const cfg_opt_t *cfg_find(const cfg_opt_t *opts, const char *name);
/* Calls fn for every option row in table order (sub-tables flattened; INIT rows skipped);
 * off = where that row's struct starts inside the caller's base. */
void cfg_each(const cfg_opt_t *opts, void (*fn)(const cfg_opt_t *o, size_t off, void *ud), void *ud);
/* Writes every default into base (INIT rows first where they stand). */
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
/* The same, showing the defaults of rows without a text default from base (after cfg_defaults). */
void cfg_print_help_base(const cfg_opt_t *opts, const void *base, const char *prog, const char *summary, FILE *f);

/* Value of one option as text (a list: its entries joined with ", "). */
int cfg_format(const cfg_opt_t *opts, const void *base, const char *name, char *buf, size_t n);
/* "# Config\nkey:value\n..." into buf (truncated safely); returns length written. */
size_t cfg_info(const cfg_opt_t *opts, const void *base, char *buf, size_t n);

#endif
