/*
 * classes.c — the 1000 ImageNet-1k class names and the words viewers type for them
 * (see classes.h and docs/images-and-classes.md).
 *
 * File format, one class per line, line N = class N (exactly DREAM_CLASSES_N lines):
 *     n01644373 tree frog, tree-frog
 * Each line is bounded (CLASSES_MAX_LINE bytes) and so is the file (CLASSES_MAX_FILE).
 *
 * Matching: every synonym of every class is a key, normalised the same way as what
 * viewers type: ASCII lower case, '-' and '_' become spaces, apostrophes are dropped,
 * runs of whitespace collapse to one space, ends trimmed. Keys live in a sorted array
 * (searched with bsearch); a key shared by several classes belongs to the lowest id.
 * A request of only digits is a class id. Unknown words get suggestions: classes with
 * a synonym that starts with the word, then classes with a word starting with it, then
 * the smallest edit distance (Levenshtein with adjacent transpositions) over all keys.
 */
#include "classes.h"
#include "paths.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DREAM_CLASSES_N 1000
#define CLASSES_MAX_LINE 1024                    /* bytes per line, newline excluded */
#define CLASSES_MAX_FILE (1024 * 1024)
#define REQUEST_MAX 256                          /* bytes per request (lookup or parse) */
#define SUGGEST_MAX_LEN 64                       /* edit distance uses this many chars */
#define SUGGEST_IN_ERROR 3

typedef struct {
    char *key;   /* normalised synonym */
    int id;
} class_key_t;

typedef struct {
    char wnid[16];
    char *synonyms;   /* as in the file: "tree frog, tree-frog" */
    char *name;       /* first synonym */
} class_entry_t;

struct dream_classes {
    int n;
    class_entry_t cls[DREAM_CLASSES_N];
    class_key_t *keys;          /* sorted by (key, id); a key shared by classes appears once per class */
    int nkeys;
    class_key_t *words;         /* single words of the keys, sorted by (word, id), unique pairs */
    int nwords;
};

/* Common words that never pick a class on their own ("the", "of", ...): see classes.h. */
static const char *const k_stopwords[] = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "i", "in", "is",
    "it", "its", "me", "my", "of", "on", "or", "our", "please", "s", "show", "so", "some", "that",
    "the", "this", "to", "us", "we", "with", "you", "your",
};

int dream_classes_is_stopword(const char *w) {
    if (!w) return 0;
    for (size_t i = 0; i < sizeof k_stopwords / sizeof k_stopwords[0]; i++)
        if (strcmp(w, k_stopwords[i]) == 0) return 1;
    return 0;
}

/* ------------------------------------------------------------------ helpers */

/* Normalises src[0..len) into dst (cap bytes, always terminated). Returns the length. */
static size_t normalise(const char *src, size_t len, char *dst, size_t cap) {
    size_t o = 0;
    int pending_space = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '\'') continue;
        if (ch == '-' || ch == '_' || isspace(ch) || ch < 0x20) {
            pending_space = o > 0;
            continue;
        }
        if (pending_space) {
            if (o + 2 >= cap) break;
            dst[o++] = ' ';
            pending_space = 0;
        }
        dst[o++] = (char)tolower(ch);
    }
    dst[o] = 0;
    return o;
}

/* Copies s into buf for an error message, replacing unprintable bytes by '?'. */
static const char *printable(const char *s, size_t len, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (len > 0 && o + 4 >= cap) { buf[o++] = '.'; buf[o++] = '.'; buf[o++] = '.'; }
    buf[o] = 0;
    return buf;
}

static int key_cmp(const void *a, const void *b) {
    const class_key_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return (x->id > y->id) - (x->id < y->id);
}

static void classes_free(dream_classes_t *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->cls[i].synonyms);
        free(c->cls[i].name);
    }
    for (int i = 0; i < c->nkeys; i++) free(c->keys[i].key);
    free(c->keys);
    for (int i = 0; i < c->nwords; i++) free(c->words[i].key);
    free(c->words);
    free(c);
}

void dream_classes_destroy(dream_classes_t **c) {
    if (!c || !*c) return;
    classes_free(*c);
    *c = NULL;
}

/* ------------------------------------------------------------------ load */

static int add_key(dream_classes_t *c, int *cap, const char *syn, size_t len, int id) {
    char buf[CLASSES_MAX_LINE + 1];
    size_t n = normalise(syn, len, buf, sizeof buf);
    if (n == 0) return 0;
    if (c->nkeys == *cap) {
        int ncap = *cap ? *cap * 2 : 2048;
        class_key_t *nk = realloc(c->keys, (size_t)ncap * sizeof *nk);
        if (!nk) return -1;
        c->keys = nk;
        *cap = ncap;
    }
    char *k = strdup(buf);
    if (!k) return -1;
    c->keys[c->nkeys].key = k;
    c->keys[c->nkeys].id = id;
    c->nkeys++;
    return 0;
}

/* Parses one line (no newline) into class `id`. */
static int parse_line(dream_classes_t *c, int *cap, const char *line, size_t len, int lineno,
                      const char *path, dream_err_t *err) {
    size_t i = 0;
    while (i < len && line[i] != ' ' && line[i] != '\t') i++;
    size_t wl = i;
    int ok = wl == 9 && line[0] == 'n';
    for (size_t k = 1; ok && k < wl; k++) ok = isdigit((unsigned char)line[k]);
    if (!ok) {
        char pb[48];
        return dream_err_set(err, "%s:%d: expected a WordNet id like n01644373 at the start, got '%s'",
                             path, lineno, printable(line, wl < 32 ? wl : 32, pb, sizeof pb));
    }
    class_entry_t *e = &c->cls[c->n];
    memcpy(e->wnid, line, wl);
    e->wnid[wl] = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    size_t end = len;
    while (end > i && isspace((unsigned char)line[end - 1])) end--;
    if (i >= end) return dream_err_set(err, "%s:%d: class %s has no names", path, lineno, e->wnid);
    for (size_t k = i; k < end; k++) {
        unsigned char ch = (unsigned char)line[k];
        if (ch < 0x20 || ch >= 0x7f)
            return dream_err_set(err, "%s:%d: non-printable or non-ASCII byte 0x%02x in names",
                                 path, lineno, ch);
    }
    e->synonyms = strndup(line + i, end - i);
    if (!e->synonyms) return dream_err_set(err, "%s: out of memory", path);
    int id = c->n;
    c->n++;   /* from here the entry is owned by c (freed on error) */

    /* split on commas */
    size_t s = i;
    int nsyn = 0;
    while (s <= end) {
        size_t t = s;
        while (t < end && line[t] != ',') t++;
        size_t a = s, b = t;
        while (a < b && isspace((unsigned char)line[a])) a++;
        while (b > a && isspace((unsigned char)line[b - 1])) b--;
        char tmp[CLASSES_MAX_LINE + 1];
        if (b == a || normalise(line + a, b - a, tmp, sizeof tmp) == 0)
            return dream_err_set(err, "%s:%d: empty name in the list for %s", path, lineno, e->wnid);
        if (nsyn == 0) {
            e->name = strndup(line + a, b - a);
            if (!e->name) return dream_err_set(err, "%s: out of memory", path);
        }
        if (add_key(c, cap, line + a, b - a, id) < 0) return dream_err_set(err, "%s: out of memory", path);
        nsyn++;
        s = t + 1;
    }
    return 0;
}

/* The word index: every space-separated word of every key, with its class. */
static int build_words(dream_classes_t *c) {
    int cap = 0;
    for (int k = 0; k < c->nkeys; k++) {
        const char *p = c->keys[k].key;
        while (*p) {
            size_t l = strcspn(p, " ");
            if (l > 0) {
                if (c->nwords == cap) {
                    int ncap = cap ? cap * 2 : 4096;
                    class_key_t *nw = realloc(c->words, (size_t)ncap * sizeof *nw);
                    if (!nw) return -1;
                    c->words = nw;
                    cap = ncap;
                }
                char *w = strndup(p, l);
                if (!w) return -1;
                c->words[c->nwords].key = w;
                c->words[c->nwords].id = c->keys[k].id;
                c->nwords++;
            }
            p += l;
            while (*p == ' ') p++;
        }
    }
    if (c->nwords == 0) return 0;
    qsort(c->words, (size_t)c->nwords, sizeof *c->words, key_cmp);
    int o = 0;
    for (int i = 0; i < c->nwords; i++) {
        if (o > 0 && key_cmp(&c->words[o - 1], &c->words[i]) == 0) {
            free(c->words[i].key);
            continue;
        }
        c->words[o++] = c->words[i];
    }
    c->nwords = o;
    return 0;
}

/* Index of the first entry of arr (sorted by key) equal to key, or -1. */
static int first_of(const class_key_t *arr, int n, const char *key) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(arr[mid].key, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && strcmp(arr[lo].key, key) == 0 ? lo : -1;
}

static int wnid_ptr_cmp(const void *a, const void *b) {
    return strcmp(((const class_entry_t *const *)a)[0]->wnid, ((const class_entry_t *const *)b)[0]->wnid);
}

dream_classes_t *dream_classes_load(const char *path, dream_err_t *err) {
    if (!path) { dream_err_set(err, "dream_classes_load: NULL path"); return NULL; }
    FILE *f = fopen(path, "rb");
    if (!f) { dream_err_set(err, "%s: %s", path, strerror(errno)); return NULL; }
    char *data = malloc(CLASSES_MAX_FILE + 1);
    if (!data) { fclose(f); dream_err_set(err, "%s: out of memory", path); return NULL; }
    size_t len = fread(data, 1, CLASSES_MAX_FILE + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) { free(data); dream_err_set(err, "%s: read error", path); return NULL; }
    if (len > CLASSES_MAX_FILE) {
        free(data);
        dream_err_set(err, "%s: file larger than %d bytes", path, CLASSES_MAX_FILE);
        return NULL;
    }
    data[len] = 0;

    dream_classes_t *c = calloc(1, sizeof *c);
    if (!c) { free(data); dream_err_set(err, "%s: out of memory", path); return NULL; }
    int cap = 0, lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t eol = pos;
        while (eol < len && data[eol] != '\n') eol++;
        lineno++;
        size_t ll = eol - pos;
        if (ll > 0 && data[pos + ll - 1] == '\r') ll--;
        if (ll > CLASSES_MAX_LINE) {
            dream_err_set(err, "%s:%d: line longer than %d bytes", path, lineno, CLASSES_MAX_LINE);
            goto fail;
        }
        if (memchr(data + pos, 0, ll)) {
            dream_err_set(err, "%s:%d: NUL byte in line", path, lineno);
            goto fail;
        }
        int blank = 1;
        for (size_t k = 0; k < ll && blank; k++) blank = isspace((unsigned char)data[pos + k]);
        if (blank) {
            /* only allowed as trailing lines at the end of the file */
            size_t k = eol;
            while (k < len && isspace((unsigned char)data[k])) k++;
            if (k < len) {
                dream_err_set(err, "%s:%d: empty line (line N must be class N-1)", path, lineno);
                goto fail;
            }
            break;
        }
        if (c->n >= DREAM_CLASSES_N) {
            dream_err_set(err, "%s:%d: more than %d classes", path, lineno, DREAM_CLASSES_N);
            goto fail;
        }
        if (parse_line(c, &cap, data + pos, ll, lineno, path, err) < 0) goto fail;
        pos = eol + 1;
    }
    if (c->n != DREAM_CLASSES_N) {
        dream_err_set(err, "%s: %d classes, expected exactly %d (one per line)", path, c->n, DREAM_CLASSES_N);
        goto fail;
    }
    {   /* duplicate WordNet ids mean a broken conversion */
        const class_entry_t *sorted[DREAM_CLASSES_N];
        for (int i = 0; i < c->n; i++) sorted[i] = &c->cls[i];
        qsort(sorted, (size_t)c->n, sizeof sorted[0], wnid_ptr_cmp);
        for (int i = 1; i < c->n; i++)
            if (strcmp(sorted[i]->wnid, sorted[i - 1]->wnid) == 0) {
                dream_err_set(err, "%s: WordNet id %s appears twice (classes %d and %d)", path,
                              sorted[i]->wnid, (int)(sorted[i - 1] - c->cls), (int)(sorted[i] - c->cls));
                goto fail;
            }
    }
    /* sort keys; drop repeats of the same (key, id); a key shared by classes stays once per class */
    qsort(c->keys, (size_t)c->nkeys, sizeof *c->keys, key_cmp);
    int o = 0;
    for (int i = 0; i < c->nkeys; i++) {
        if (o > 0 && key_cmp(&c->keys[o - 1], &c->keys[i]) == 0) {
            free(c->keys[i].key);
            continue;
        }
        c->keys[o++] = c->keys[i];
    }
    c->nkeys = o;
    if (build_words(c) != 0) {
        dream_err_set(err, "%s: out of memory", path);
        goto fail;
    }
    free(data);
    return c;
fail:
    free(data);
    classes_free(c);
    return NULL;
}

dream_classes_t *dream_classes_load_default(dream_err_t *err) {
    char path[4096];
    dream_data_path("imagenet_classes.txt", path, sizeof path);
    return dream_classes_load(path, err);
}

/* ------------------------------------------------------------------ accessors */

int dream_classes_count(const dream_classes_t *c) { return c ? c->n : 0; }

const char *dream_classes_name(const dream_classes_t *c, int id) {
    return c && id >= 0 && id < c->n ? c->cls[id].name : NULL;
}

const char *dream_classes_synonyms(const dream_classes_t *c, int id) {
    return c && id >= 0 && id < c->n ? c->cls[id].synonyms : NULL;
}

const char *dream_classes_wnid(const dream_classes_t *c, int id) {
    return c && id >= 0 && id < c->n ? c->cls[id].wnid : NULL;
}

/* ------------------------------------------------------------------ suggestions */

/* Optimal string alignment distance (Levenshtein + adjacent transpositions). */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb) {
    int d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];
    if (la > SUGGEST_MAX_LEN) la = SUGGEST_MAX_LEN;
    if (lb > SUGGEST_MAX_LEN) lb = SUGGEST_MAX_LEN;
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* Score of one key against the normalised word: lower is better. */
static int key_score(const char *w, size_t wl, const char *key) {
    size_t kl = strlen(key);
    if (kl >= wl && strncmp(key, w, wl) == 0) return 0;                 /* prefix of the name */
    for (const char *p = strchr(key, ' '); p; p = strchr(p + 1, ' '))
        if (strncmp(p + 1, w, wl) == 0) return 1;                        /* prefix of a word */
    return 2 + edit_distance(w, wl, key, kl);
}

int dream_classes_suggest(const dream_classes_t *c, const char *word, int *ids, int n) {
    if (!c || !word || !ids || n <= 0) return 0;
    char w[REQUEST_MAX + 1];
    size_t wl = normalise(word, strnlen(word, REQUEST_MAX), w, sizeof w);
    if (wl == 0) return 0;
    int best[DREAM_CLASSES_N];
    for (int i = 0; i < c->n; i++) best[i] = INT_MAX;
    for (int k = 0; k < c->nkeys; k++) {
        int s = key_score(w, wl, c->keys[k].key);
        if (s < best[c->keys[k].id]) best[c->keys[k].id] = s;
    }
    /* pick the n best (score, then id); n is small */
    int count = 0;
    for (; count < n && count < c->n; count++) {
        int bi = -1;
        for (int i = 0; i < c->n; i++) {
            if (best[i] == INT_MAX) continue;
            if (bi < 0 || best[i] < best[bi]) bi = i;
        }
        if (bi < 0) break;
        ids[count] = bi;
        best[bi] = INT_MAX;
    }
    return count;
}

/* ------------------------------------------------------------------ lookup / parse */

/* Looks up s[0..len) (already bounded); -1 with err on failure. */
static int lookup_span(const dream_classes_t *c, const char *s, size_t len, dream_err_t *err) {
    char pb[REQUEST_MAX + 8];
    while (len > 0 && isspace((unsigned char)*s)) { s++; len--; }
    while (len > 0 && isspace((unsigned char)s[len - 1])) len--;
    if (len == 0) return dream_err_set(err, "empty class name");
    int digits = 1;
    for (size_t i = 0; i < len && digits; i++) digits = isdigit((unsigned char)s[i]);
    if (digits) {
        long v = 0;
        for (size_t i = 0; i < len && v <= DREAM_CLASSES_N; i++) v = v * 10 + (s[i] - '0');
        if (v >= c->n)
            return dream_err_set(err, "class id %s out of range 0..%d", printable(s, len, pb, sizeof pb),
                                 c->n - 1);
        return (int)v;
    }
    char key[REQUEST_MAX + 1];
    if (normalise(s, len, key, sizeof key) == 0)
        return dream_err_set(err, "empty class name '%s'", printable(s, len, pb, sizeof pb));
    int hit = first_of(c->keys, c->nkeys, key);     /* lowest id of a shared name */
    if (hit >= 0) return c->keys[hit].id;

    int sug[SUGGEST_IN_ERROR];
    char tmp[REQUEST_MAX + 1];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    int ns = dream_classes_suggest(c, tmp, sug, SUGGEST_IN_ERROR);
    char list[256] = "";
    size_t o = 0;
    for (int i = 0; i < ns && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", c->cls[sug[i]].name);
    return dream_err_set(err, "unknown class '%s'; closest: %s", printable(s, len, pb, sizeof pb),
                         ns ? list : "(none)");
}

int dream_classes_lookup(const dream_classes_t *c, const char *word, dream_err_t *err) {
    if (!c || !word) return dream_err_set(err, "dream_classes_lookup: NULL argument");
    size_t len = strnlen(word, REQUEST_MAX + 1);
    if (len > REQUEST_MAX) return dream_err_set(err, "request longer than %d bytes", REQUEST_MAX);
    return lookup_span(c, word, len, err);
}

int dream_classes_count_subjects(const char *text, size_t len) {
    int n = 1;
    for (size_t i = 0; i < len && text[i]; i++) n += text[i] == '+';
    return n;
}

int dream_classes_split(const char *text, size_t len, dream_subject_fn fn, void *ud) {
    if (!text || !fn) return 0;
    size_t s = 0;
    while (s <= len) {
        size_t t = s;
        while (t < len && text[t] != '+') t++;
        size_t a = s, b = t;
        while (a < b && isspace((unsigned char)text[a])) a++;
        while (b > a && isspace((unsigned char)text[b - 1])) b--;
        int rc = fn(text + a, b - a, ud);
        if (rc) return rc;
        s = t + 1;
    }
    return 0;
}

typedef struct parse_ctx {
    const dream_classes_t *c;
    int *ids, n;
    dream_err_t *err;
} parse_ctx_t;

static int parse_one(const char *part, size_t len, void *ud) {
    parse_ctx_t *x = ud;
    if (len == 0) return dream_err_set(x->err, "empty subject %d in '+' list", x->n + 1);
    int id = lookup_span(x->c, part, len, x->err);
    if (id < 0) return -1;
    x->ids[x->n++] = id;
    return 0;
}

int dream_classes_parse(const dream_classes_t *c, const char *text, int *ids, int max_ids,
                        dream_err_t *err) {
    if (!c || !text || !ids || max_ids <= 0)
        return dream_err_set(err, "dream_classes_parse: invalid arguments");
    size_t len = strnlen(text, REQUEST_MAX + 1);
    if (len > REQUEST_MAX) return dream_err_set(err, "request longer than %d bytes", REQUEST_MAX);
    /* count subjects first so "too many" is reported before any unknown word */
    int nsub = dream_classes_count_subjects(text, len);
    int all_blank = 1;
    for (size_t i = 0; i < len && all_blank; i++) all_blank = isspace((unsigned char)text[i]);
    if (all_blank) return dream_err_set(err, "no class given");
    if (nsub > max_ids)
        return dream_err_set(err, "too many subjects (%d); at most %d, joined with '+'", nsub, max_ids);
    parse_ctx_t x = {c, ids, 0, err};
    if (dream_classes_split(text, len, parse_one, &x) < 0) return -1;
    return x.n;
}

int dream_classes_candidates(const dream_classes_t *c, const char *subject, int *ids, int max,
                             int *by_word) {
    if (by_word) *by_word = 0;
    if (!c || !subject || !ids || max <= 0) return 0;
    size_t len = strnlen(subject, REQUEST_MAX + 1);
    if (len > REQUEST_MAX) return 0;
    while (len > 0 && isspace((unsigned char)*subject)) { subject++; len--; }
    while (len > 0 && isspace((unsigned char)subject[len - 1])) len--;
    if (len == 0) return 0;
    int digits = 1;
    for (size_t i = 0; i < len && digits; i++) digits = isdigit((unsigned char)subject[i]);
    if (digits) {
        int id = lookup_span(c, subject, len, NULL);
        if (id < 0) return 0;
        ids[0] = id;
        return 1;
    }
    char key[REQUEST_MAX + 1];
    if (normalise(subject, len, key, sizeof key) == 0) return 0;
    int n = 0;
    int k = first_of(c->keys, c->nkeys, key);
    if (k >= 0) {
        for (; k < c->nkeys && n < max && strcmp(c->keys[k].key, key) == 0; k++) ids[n++] = c->keys[k].id;
        return n;
    }
    /* single words, in typed order: the first that names any class wins */
    char *save = NULL;
    for (char *w = strtok_r(key, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (dream_classes_is_stopword(w)) continue;
        k = first_of(c->words, c->nwords, w);
        if (k < 0) continue;
        for (; k < c->nwords && n < max && strcmp(c->words[k].key, w) == 0; k++) ids[n++] = c->words[k].id;
        if (by_word) *by_word = 1;
        return n;
    }
    return 0;
}
