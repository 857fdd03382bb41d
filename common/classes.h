/*
 * classes.h — the 1000 ImageNet-1k classes and what viewers type for them.
 *
 * Data: data/imagenet_classes.txt ("<wnid> syn1, syn2, ..." per line, line N = class N;
 * converted from ../shared/data/imagenet_synsets.txt). Matching is case-insensitive,
 * '-' and '_' count as spaces, runs of spaces collapse: "Tree-Frog" == "tree frog".
 * A number 0..999 is a class id. "volcano + broccoli" names several subjects.
 * A synonym shared by two classes maps to the first (lowest id) in dream_classes_lookup;
 * dream_classes_candidates lists them all (and falls back to single words of names).
 */
#ifndef DREAM_CLASSES_H
#define DREAM_CLASSES_H
#include "dlog.h"
#include <stddef.h>

/* The most subjects one request names ("a + b + c + d"): the one limit of the request queue
 * (REQUESTS_MAX_SUBJECTS), the stream (STREAM_MAX_SUBJECTS), the engine and the wire. */
#define DREAM_MAX_SUBJECTS 4

typedef struct dream_classes dream_classes_t;

dream_classes_t *dream_classes_load(const char *path, dream_err_t *err);
/* Loads <dream_data_dir()>/imagenet_classes.txt */
dream_classes_t *dream_classes_load_default(dream_err_t *err);
void dream_classes_destroy(dream_classes_t **c);

int dream_classes_count(const dream_classes_t *c);
const char *dream_classes_name(const dream_classes_t *c, int id);      /* first synonym */
const char *dream_classes_synonyms(const dream_classes_t *c, int id);  /* "tree frog, tree-frog" */
const char *dream_classes_wnid(const dream_classes_t *c, int id);

/* One subject -> class id, or -1 with err "unknown class 'x'; closest: a, b, c". */
int dream_classes_lookup(const dream_classes_t *c, const char *word, dream_err_t *err);
/* "a + b + c" -> up to max ids; returns count, or -1 with err (unknown word, too many, empty). */
int dream_classes_parse(const dream_classes_t *c, const char *text, int *ids, int max_ids,
                        dream_err_t *err);
/* The subject-text grammar, shared by dream_classes_parse and the viewers' queue
 * (server/requests.c): subjects are joined with '+'. count_subjects = 1 + the number of '+'
 * in the first len bytes. split calls fn for each part in order, trimmed of white space
 * (an empty part has n = 0) and stops at the first nonzero return of fn, which it returns. */
typedef int (*dream_subject_fn)(const char *part, size_t n, void *ud);
int dream_classes_count_subjects(const char *text, size_t len);
int dream_classes_split(const char *text, size_t len, dream_subject_fn fn, void *ud);
/* Every class one subject names (no '+'), for callers that pick among them (the request queue
 * picks one at random, as the 2015 stream did): a class id; else every class with that whole
 * name (a synonym shared by several classes gives them all); else, when the whole text names no
 * class, the classes having a single word of it as a word of one of their names ("frog" -> the
 * frog classes), trying the words in typed order and skipping common words (the, a, of, and, ...;
 * dream_classes_is_stopword); the first word that names any class wins (*by_word = 1).
 * Fills up to max ids (ascending), returns the count; 0 = nothing matched. */
int dream_classes_candidates(const dream_classes_t *c, const char *subject, int *ids, int max,
                             int *by_word);
/* 1 if w (normalised, lower case) is one of the common words skipped by word matching. */
int dream_classes_is_stopword(const char *w);
/* The n closest class ids to word (edit distance over all synonyms); returns count. */
int dream_classes_suggest(const dream_classes_t *c, const char *word, int *ids, int n);

#endif
