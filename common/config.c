/*
 * config.c — the table-driven configuration of dreamd / dream-worker / dreamctl
 * (defaults, config files, flags, --help, INFO dumps); see config.h.
 */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>

static int name_eq(const char *a, const char *b, size_t blen) {
    size_t i = 0;
    for (; i < blen && a[i]; i++) {
        char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
        if (tolower((unsigned char)x) != tolower((unsigned char)y)) return 0;
    }
    return i == blen && a[i] == 0;
}

#define CFG_MAX_DEPTH 4   /* tables within tables */

/* the row named name[0..n) and (off) where its struct starts in the caller's base */
static const cfg_opt_t *find_in(const cfg_opt_t *opts, const char *name, size_t n, size_t *off, int depth) {
    for (const cfg_opt_t *o = opts; o->name; o++) {
        if (o->type == CFG_T_INIT) continue;
        if (o->type == CFG_T_SUB) {
            if (depth >= CFG_MAX_DEPTH || !o->sub) continue;
            size_t sub = 0;
            const cfg_opt_t *r = find_in(o->sub, name, n, &sub, depth + 1);
            if (r) { *off = o->offset + sub; return r; }
            continue;
        }
        if (name_eq(o->name, name, n)) { *off = 0; return o; }
    }
    return NULL;
}

static const cfg_opt_t *find_n(const cfg_opt_t *opts, const char *name, size_t n, size_t *off) {
    size_t o = 0;
    const cfg_opt_t *r = find_in(opts, name, n, &o, 0);
    if (off) *off = o;
    return r;
}

const cfg_opt_t *cfg_find(const cfg_opt_t *opts, const char *name) {
    return find_n(opts, name, strlen(name), NULL);
}

static void each_in(const cfg_opt_t *opts, size_t off, int depth,
                    void (*fn)(const cfg_opt_t *o, size_t off, void *ud), void *ud) {
    for (const cfg_opt_t *o = opts; o->name; o++) {
        if (o->type == CFG_T_INIT) continue;
        if (o->type == CFG_T_SUB) {
            if (depth < CFG_MAX_DEPTH && o->sub) each_in(o->sub, off + o->offset, depth + 1, fn, ud);
            continue;
        }
        fn(o, off, ud);
    }
}

void cfg_each(const cfg_opt_t *opts, void (*fn)(const cfg_opt_t *o, size_t off, void *ud), void *ud) {
    each_in(opts, 0, 0, fn, ud);
}

static int parse_bool(const char *v, int *out) {
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) { *out = 1; return 0; }
    if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) { *out = 0; return 0; }
    return -1;
}

static int set_opt(const cfg_opt_t *o, void *base, const char *value, dream_err_t *err) {
    char *p = (char *)base + o->offset;
    char *end = NULL;
    switch (o->type) {
    case CFG_T_INT: {
        errno = 0;
        long v = strtol(value, &end, 0);
        if (errno || end == value || *end)
            return dream_err_set(err, "option '%s': '%s' is not an integer", o->name, value);
        if (o->min <= o->max && (v < o->min || v > o->max))
            return dream_err_set(err, "option '%s': %ld is outside [%g, %g]", o->name, v, o->min, o->max);
        if (v < -2147483647L || v > 2147483647L)
            return dream_err_set(err, "option '%s': %ld does not fit an int", o->name, v);
        *(int *)p = (int)v;
        return 0;
    }
    case CFG_T_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v))
            return dream_err_set(err, "option '%s': '%s' is not a number", o->name, value);
        if (o->min <= o->max && (v < o->min || v > o->max))
            return dream_err_set(err, "option '%s': %g is outside [%g, %g]", o->name, v, o->min, o->max);
        *(double *)p = v;
        return 0;
    }
    case CFG_T_FLOAT: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v) || fabs(v) > 3.0e38)
            return dream_err_set(err, "option '%s': '%s' is not a number", o->name, value);
        if (o->min <= o->max && (v < o->min || v > o->max))
            return dream_err_set(err, "option '%s': %g is outside [%g, %g]", o->name, v, o->min, o->max);
        float f = (float)v;
        memcpy(p, &f, sizeof f);
        return 0;
    }
    case CFG_T_U64: {
        errno = 0;
        const char *q = value;
        while (isspace((unsigned char)*q)) q++;
        unsigned long long v = *q == '-' ? 0 : strtoull(value, &end, 0);
        if (*q == '-' || errno || end == value || *end)
            return dream_err_set(err, "option '%s': '%s' is not a non-negative integer", o->name, value);
        if (o->min <= o->max && ((double)v < o->min || (double)v > o->max))
            return dream_err_set(err, "option '%s': %llu is outside [%g, %g]", o->name, v, o->min, o->max);
        uint64_t u = (uint64_t)v;
        memcpy(p, &u, sizeof u);
        return 0;
    }
    case CFG_T_STRING: {
        size_t n = strlen(value);
        if (n >= o->size)
            return dream_err_set(err, "option '%s': value is %zu characters (max %zu)", o->name, n, o->size - 1);
        memcpy(p, value, n + 1);
        return 0;
    }
    case CFG_T_STRLIST: {
        int *count = (int *)((char *)base + o->count_offset);
        size_t n = strlen(value);
        if (n >= o->size)
            return dream_err_set(err, "option '%s': value is %zu characters (max %zu)", o->name, n, o->size - 1);
        if (*count < 0 || *count >= o->max_items)
            return dream_err_set(err, "option '%s': more than %d values (it is given once per value)", o->name,
                                 o->max_items);
        memcpy(p + (size_t)*count * o->size, value, n + 1);
        (*count)++;
        return 0;
    }
    case CFG_T_SUB:
    case CFG_T_INIT:
        break;
    case CFG_T_BOOL: {
        int b;
        if (parse_bool(value, &b))
            return dream_err_set(err, "option '%s': '%s' is not a boolean (true/false/1/0/yes/no)", o->name, value);
        *(int *)p = b;
        return 0;
    }
    }
    return dream_err_set(err, "option '%s': bad type", o->name);
}

static int defaults_in(const cfg_opt_t *opts, char *base, int depth, dream_err_t *err) {
    for (const cfg_opt_t *o = opts; o->name; o++) {
        if (o->type == CFG_T_INIT) {
            if (o->init) o->init(base);
        } else if (o->type == CFG_T_SUB) {
            if (depth >= CFG_MAX_DEPTH || !o->sub) return dream_err_set(err, "config table nested too deep");
            if (defaults_in(o->sub, base + o->offset, depth + 1, err)) return -1;
        } else if (o->type == CFG_T_STRLIST) {
            *(int *)(base + o->count_offset) = 0;
            memset(base + o->offset, 0, o->size * (size_t)o->max_items);
        } else if (o->def && set_opt(o, base, o->def, err)) {
            return dream_err_prefix(err, "default");
        }
    }
    return 0;
}

int cfg_defaults(const cfg_opt_t *opts, void *base, dream_err_t *err) {
    return defaults_in(opts, base, 0, err);
}

int cfg_set(const cfg_opt_t *opts, void *base, const char *name, const char *value, dream_err_t *err) {
    size_t off = 0;
    const cfg_opt_t *o = find_n(opts, name, strlen(name), &off);
    if (!o) return dream_err_set(err, "unknown option '%s'", name);
    return set_opt(o, (char *)base + off, value, err);
}

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int cfg_parse_text(const cfg_opt_t *opts, void *base, const char *text, size_t len,
                   const char *origin, dream_err_t *err) {
    if (len > CFG_MAX_FILE) return dream_err_set(err, "%s: larger than %d bytes", origin, CFG_MAX_FILE);
    char line[CFG_MAX_LINE + 1];
    size_t pos = 0;
    int lineno = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        lineno++;
        if (lineno > CFG_MAX_LINES) return dream_err_set(err, "%s: more than %d lines", origin, CFG_MAX_LINES);
        if (e - pos > CFG_MAX_LINE)
            return dream_err_set(err, "%s:%d: line longer than %d characters", origin, lineno, CFG_MAX_LINE);
        size_t ll = e - pos;
        memcpy(line, text + pos, ll);
        line[ll] = 0;
        pos = e + 1;
        if (strlen(line) != ll) return dream_err_set(err, "%s:%d: NUL byte in line", origin, lineno);
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') continue;
        char *eq = strchr(s, '=');
        if (!eq) return dream_err_set(err, "%s:%d: expected 'key = value', got '%.60s'", origin, lineno, s);
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && ((v[0] == '"' && v[vl - 1] == '"') || (v[0] == '\'' && v[vl - 1] == '\''))) {
            v[vl - 1] = 0;
            v++;
        }
        if (!*k) return dream_err_set(err, "%s:%d: empty key", origin, lineno);
        if (cfg_set(opts, base, k, v, err)) return dream_err_prefix(err, "%s:%d", origin, lineno);
    }
    return 0;
}

int cfg_parse_file(const cfg_opt_t *opts, void *base, const char *path, dream_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return dream_err_set(err, "config file %s: %s", path, strerror(errno));
    char *buf = malloc(CFG_MAX_FILE + 1);
    if (!buf) { fclose(f); return dream_err_set(err, "out of memory"); }
    size_t n = fread(buf, 1, CFG_MAX_FILE + 1, f);
    fclose(f);
    int rc;
    if (n > CFG_MAX_FILE) rc = dream_err_set(err, "%s: larger than %d bytes", path, CFG_MAX_FILE);
    else rc = cfg_parse_text(opts, base, buf, n, path, err);
    free(buf);
    return rc;
}

static const char *type_name(cfg_type_t t) {
    switch (t) {
    case CFG_T_INT: case CFG_T_U64: return "N";
    case CFG_T_DOUBLE: case CFG_T_FLOAT: return "X";
    case CFG_T_STRING: case CFG_T_STRLIST: return "S";
    case CFG_T_BOOL: case CFG_T_SUB: case CFG_T_INIT: return "";
    }
    return "";
}

/* the value of row o in the struct at base (a list: entries joined with ", ") */
static void format_opt(const cfg_opt_t *o, const void *base, char *buf, size_t n) {
    const char *p = (const char *)base + o->offset;
    buf[0] = 0;
    switch (o->type) {
    case CFG_T_INT: snprintf(buf, n, "%d", *(const int *)p); break;
    case CFG_T_DOUBLE: snprintf(buf, n, "%g", *(const double *)p); break;
    case CFG_T_FLOAT: { float f; memcpy(&f, p, sizeof f); snprintf(buf, n, "%g", (double)f); break; }
    case CFG_T_U64: { uint64_t u; memcpy(&u, p, sizeof u); snprintf(buf, n, "%llu", (unsigned long long)u); break; }
    case CFG_T_STRING: snprintf(buf, n, "%s", p); break;
    case CFG_T_BOOL: snprintf(buf, n, "%s", *(const int *)p ? "true" : "false"); break;
    case CFG_T_STRLIST: {
        int cnt = *(const int *)((const char *)base + o->count_offset);
        size_t len = 0;
        for (int i = 0; i < cnt && i < o->max_items && len < n; i++) {
            int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", p + (size_t)i * o->size);
            if (w < 0) break;
            len += (size_t)w;
        }
        break;
    }
    case CFG_T_SUB: case CFG_T_INIT: break;
    }
}

typedef struct help_ctx {
    FILE *f;
    const void *base;
} help_ctx_t;

static void help_row(const cfg_opt_t *o, size_t off, void *ud) {
    help_ctx_t *h = ud;
    char lhs[96], def[256];
    if (o->type == CFG_T_BOOL) snprintf(lhs, sizeof lhs, "--%s / --no-%s", o->name, o->name);
    else snprintf(lhs, sizeof lhs, "--%s %s", o->name, type_name(o->type));
    if (o->type == CFG_T_STRLIST) snprintf(def, sizeof def, "none; repeat for more, at most %d", o->max_items);
    else if (o->def) snprintf(def, sizeof def, "%s", *o->def ? o->def : "\"\"");
    else if (h->base) {
        format_opt(o, (const char *)h->base + off, def, sizeof def);
        if (!strcmp(def, "nan")) snprintf(def, sizeof def, "none");
        else if (!def[0]) snprintf(def, sizeof def, "\"\"");
    } else snprintf(def, sizeof def, "built in");
    fprintf(h->f, "  %-28s %s (default: %s)\n", lhs, o->help ? o->help : "", def);
}

void cfg_print_help_base(const cfg_opt_t *opts, const void *base, const char *prog, const char *summary, FILE *f) {
    fprintf(f, "usage: %s [--config FILE] [options]\n", prog);
    if (summary) fprintf(f, "%s\n", summary);
    fprintf(f, "\noptions (also accepted as 'name = value' lines in the config file):\n");
    fprintf(f, "  %-28s %s\n", "--config FILE", "read options from FILE first (flags override it)");
    fprintf(f, "  %-28s %s\n", "--help", "show this help");
    help_ctx_t h = {f, base};
    cfg_each(opts, help_row, &h);
}

void cfg_print_help(const cfg_opt_t *opts, const char *prog, const char *summary, FILE *f) {
    cfg_print_help_base(opts, NULL, prog, summary, f);
}

int cfg_parse_args(const cfg_opt_t *opts, void *base, int argc, char **argv, const char *prog,
                   const char *summary, dream_err_t *err) {
    if (cfg_defaults(opts, base, err)) return -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cfg_print_help_base(opts, base, prog, summary, stdout);
            return 1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *cf = NULL;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) return dream_err_set(err, "--config needs a file name");
            cf = argv[i + 1];
        } else if (!strncmp(argv[i], "--config=", 9)) cf = argv[i] + 9;
        if (cf && cfg_parse_file(opts, base, cf, err)) return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return dream_err_set(err, "unexpected argument '%s' (options start with --; see --help)", a);
        a += 2;
        if (!strcmp(a, "config")) { i++; continue; }
        if (!strncmp(a, "config=", 7)) continue;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        size_t off = 0;
        const cfg_opt_t *o = find_n(opts, a, nl, &off);
        if (!o && !eq && !strncmp(a, "no-", 3)) {
            size_t boff = 0;
            const cfg_opt_t *b = find_n(opts, a + 3, strlen(a + 3), &boff);
            if (b && b->type == CFG_T_BOOL) {
                if (set_opt(b, (char *)base + boff, "false", err)) return -1;
                continue;
            }
        }
        if (!o) return dream_err_set(err, "unknown option '--%.*s' (see --help)", (int)nl, a);
        const char *val;
        if (eq) val = eq + 1;
        else if (o->type == CFG_T_BOOL) {
            if (i + 1 < argc && (argv[i + 1][0] != '-' || argv[i + 1][1] != '-')) {
                int dummy;
                if (parse_bool(argv[i + 1], &dummy) == 0) val = argv[++i];
                else val = "true";
            } else val = "true";
        } else {
            if (i + 1 >= argc) return dream_err_set(err, "option '--%s' needs a value", o->name);
            val = argv[++i];
        }
        if (set_opt(o, (char *)base + off, val, err)) return -1;
    }
    return 0;
}

int cfg_format(const cfg_opt_t *opts, const void *base, const char *name, char *buf, size_t n) {
    size_t off = 0;
    const cfg_opt_t *o = find_n(opts, name, strlen(name), &off);
    if (!o || !n) return -1;
    format_opt(o, (const char *)base + off, buf, n);
    return 0;
}

typedef struct info_ctx {
    const void *base;
    char *buf;
    size_t n, len;
} info_ctx_t;

static void info_row(const cfg_opt_t *o, size_t off, void *ud) {
    info_ctx_t *c = ud;
    if (c->len >= c->n) return;
    char v[512];
    format_opt(o, (const char *)c->base + off, v, sizeof v);
    int w = snprintf(c->buf + c->len, c->n - c->len, "%s:%s\n", o->name, v);
    if (w > 0) c->len += (size_t)w;
}

size_t cfg_info(const cfg_opt_t *opts, const void *base, char *buf, size_t n) {
    if (!n) return 0;
    buf[0] = 0;
    int w = snprintf(buf, n, "# Config\n");
    info_ctx_t c = {base, buf, n, w > 0 ? (size_t)w : 0};
    cfg_each(opts, info_row, &c);
    if (c.len >= n) c.len = n - 1;
    return c.len;
}

/* one side of a WxH: 1..DREAM_SIZE_MAX decimal digits up to *end */
static int size_side(const char *s, const char **end) {
    long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && p - s < 6) v = v * 10 + (*p++ - '0');
    *end = p;
    return p == s || v < 1 || v > DREAM_SIZE_MAX ? -1 : (int)v;
}

int dream_parse_size(const char *s, int *w, int *h) {
    if (!s || !w || !h) return -1;
    const char *p;
    int a = size_side(s, &p);
    if (a < 0 || (*p != 'x' && *p != 'X')) return -1;
    int b = size_side(p + 1, &p);
    if (b < 0 || *p) return -1;
    *w = a;
    *h = b;
    return 0;
}

int dream_name_index(const char *const *names, int n, const char *s) {
    if (!names || !s) return -1;
    for (int i = 0; i < n; i++)
        if (names[i] && strcasecmp(s, names[i]) == 0) return i;
    return -1;
}

const char *dream_name_of(const char *const *names, int n, int i) {
    return names && i >= 0 && i < n && names[i] ? names[i] : "?";
}
