/*
 * state.h — the coordinator's durable state in SQLite: the quarantine list,
 * the history of subject requests, and named counters. Path ":memory:" (or "")
 * keeps it in memory (tests).
 */
#ifndef DREAM_STATE_H
#define DREAM_STATE_H
#include <stdint.h>
#include <stddef.h>
#include "dlog.h"

typedef struct dream_state dream_state_t;

dream_state_t *dream_state_open(const char *path, dream_err_t *err);
void dream_state_destroy(dream_state_t **st);

int dream_state_quarantine_add(dream_state_t *st, const char *name, const char *reason, dream_err_t *err);
/* 1 removed, 0 not present, -1 error */
int dream_state_quarantine_remove(dream_state_t *st, const char *name, dream_err_t *err);
/* 1 yes, 0 no */
int dream_state_is_quarantined(dream_state_t *st, const char *name);
/* Bounds the quarantine: drops rows older than max_age_s and all but the newest max_rows.
 * Returns the rows dropped (0 on error). */
int dream_state_quarantine_prune(dream_state_t *st, int max_rows, double max_age_s);
int dream_state_quarantine_count(dream_state_t *st);
/* "name<TAB>reason\n" lines into buf; returns count */
int dream_state_quarantine_list(dream_state_t *st, char *buf, size_t n);

int dream_state_request_add(dream_state_t *st, const char *source, const char *text, const int *ids,
                            int nids, dream_err_t *err);

int dream_state_counter_add(dream_state_t *st, const char *key, int64_t delta);

/* Operator state (server/admin.c): key -> blob (queue, canvas, paused, "config:KEY" live
 * settings) and named sets of strings (bans). Writes are single statements in WAL mode. */
int dream_state_kv_set(dream_state_t *st, const char *key, const void *data, size_t len);
/* 1 found (*data malloc'd, NUL-terminated, caller frees), 0 absent, -1 error */
int dream_state_kv_get(dream_state_t *st, const char *key, void **data, size_t *len);
int dream_state_kv_del(dream_state_t *st, const char *key);
/* calls fn for every key starting with prefix (value as text), oldest first; returns count */
int dream_state_kv_each(dream_state_t *st, const char *prefix,
                        void (*fn)(const char *key, const char *value, void *ud), void *ud);
int dream_state_set_add(dream_state_t *st, const char *name, const char *value);
int dream_state_set_remove(dream_state_t *st, const char *name, const char *value);   /* rows removed */
int dream_state_set_each(dream_state_t *st, const char *name, void (*fn)(const char *value, void *ud), void *ud);

#endif
