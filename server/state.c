/*
 * state.c — SQLite-backed durable state of dreamd (quarantine, requests, counters).
 */
#include "state.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dream_state {
    sqlite3 *db;
};

static const char *SCHEMA =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS quarantine(name TEXT PRIMARY KEY, reason TEXT, since INTEGER);"
    "CREATE TABLE IF NOT EXISTS requests(id INTEGER PRIMARY KEY AUTOINCREMENT, t INTEGER,"
    " source TEXT, text TEXT, classes TEXT);"
    "CREATE TABLE IF NOT EXISTS counters(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value BLOB, t INTEGER);"
    "CREATE TABLE IF NOT EXISTS sets(name TEXT NOT NULL, value TEXT NOT NULL, t INTEGER, PRIMARY KEY(name, value));";

dream_state_t *dream_state_open(const char *path, dream_err_t *err) {
    dream_state_t *st = calloc(1, sizeof *st);
    if (!st) { dream_err_set(err, "out of memory"); return NULL; }
    const char *p = path && *path ? path : ":memory:";
    if (sqlite3_open(p, &st->db) != SQLITE_OK) {
        dream_err_set(err, "state database %s: %s", p, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        dream_state_destroy(&st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 2000);
    char *msg = NULL;
    if (sqlite3_exec(st->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        dream_err_set(err, "state database %s: %s", p, msg ? msg : "schema failed");
        sqlite3_free(msg);
        dream_state_destroy(&st);
        return NULL;
    }
    return st;
}

void dream_state_destroy(dream_state_t **pst) {
    if (!pst || !*pst) return;
    if ((*pst)->db) sqlite3_close((*pst)->db);
    free(*pst);
    *pst = NULL;
}

static sqlite3_stmt *prep(dream_state_t *st, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        dlog_error("state", "prepare '%s': %s", sql, sqlite3_errmsg(st->db));
        return NULL;
    }
    return s;
}

int dream_state_quarantine_add(dream_state_t *st, const char *name, const char *reason, dream_err_t *err) {
    sqlite3_stmt *s = prep(st, "INSERT OR REPLACE INTO quarantine(name, reason, since) VALUES(?,?,?)");
    if (!s) return dream_err_set(err, "state: %s", sqlite3_errmsg(st->db));
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : dream_err_set(err, "state: %s", sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return rc;
}

int dream_state_quarantine_remove(dream_state_t *st, const char *name, dream_err_t *err) {
    sqlite3_stmt *s = prep(st, "DELETE FROM quarantine WHERE name = ?");
    if (!s) return dream_err_set(err, "state: %s", sqlite3_errmsg(st->db));
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s) == SQLITE_DONE ? (sqlite3_changes(st->db) > 0) : dream_err_set(err, "state: %s", sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return rc;
}

int dream_state_is_quarantined(dream_state_t *st, const char *name) {
    sqlite3_stmt *s = prep(st, "SELECT 1 FROM quarantine WHERE name = ?");
    if (!s) return 0;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int yes = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return yes;
}

int dream_state_quarantine_prune(dream_state_t *st, int max_rows, double max_age_s) {
    int dropped = 0;
    sqlite3_stmt *s = prep(st, "DELETE FROM quarantine WHERE since < ?");
    if (s) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)time(NULL) - (sqlite3_int64)max_age_s);
        if (sqlite3_step(s) == SQLITE_DONE) dropped += sqlite3_changes(st->db);
        sqlite3_finalize(s);
    }
    s = prep(st, "DELETE FROM quarantine WHERE rowid NOT IN "
                 "(SELECT rowid FROM quarantine ORDER BY since DESC, rowid DESC LIMIT ?)");
    if (s) {
        sqlite3_bind_int(s, 1, max_rows < 0 ? 0 : max_rows);
        if (sqlite3_step(s) == SQLITE_DONE) dropped += sqlite3_changes(st->db);
        sqlite3_finalize(s);
    }
    return dropped;
}

/* the single integer a COUNT(*) query returns (0 when it fails) */
static int64_t count_rows(dream_state_t *st, const char *sql) {
    sqlite3_stmt *s = prep(st, sql);
    if (!s) return 0;
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return n;
}

int dream_state_quarantine_count(dream_state_t *st) {
    return (int)count_rows(st, "SELECT COUNT(*) FROM quarantine");
}

int dream_state_quarantine_list(dream_state_t *st, char *buf, size_t n) {
    if (n) buf[0] = 0;
    sqlite3_stmt *s = prep(st, "SELECT name, reason FROM quarantine ORDER BY since");
    if (!s) return 0;
    int count = 0;
    size_t len = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        count++;
        if (len < n) {
            int w = snprintf(buf + len, n - len, "%s\t%s\n", (const char *)sqlite3_column_text(s, 0),
                             (const char *)sqlite3_column_text(s, 1));
            if (w > 0) len += (size_t)w;
        }
    }
    sqlite3_finalize(s);
    return count;
}

int dream_state_request_add(dream_state_t *st, const char *source, const char *text, const int *ids,
                            int nids, dream_err_t *err) {
    char cls[128] = "";
    size_t len = 0;
    for (int i = 0; i < nids && len < sizeof cls; i++) {
        int w = snprintf(cls + len, sizeof cls - len, "%s%d", i ? "," : "", ids[i]);
        if (w > 0) len += (size_t)w;
    }
    sqlite3_stmt *s = prep(st, "INSERT INTO requests(t, source, text, classes) VALUES(?,?,?,?)");
    if (!s) return dream_err_set(err, "state: %s", sqlite3_errmsg(st->db));
    sqlite3_bind_int64(s, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(s, 2, source ? source : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, text ? text : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, cls, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : dream_err_set(err, "state: %s", sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return rc;
}

int dream_state_counter_add(dream_state_t *st, const char *key, int64_t delta) {
    sqlite3_stmt *s = prep(st, "INSERT INTO counters(key, value) VALUES(?, ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, delta);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

/* ---------- operator state: key/value blobs and named sets (bans) ---------- */

int dream_state_kv_set(dream_state_t *st, const char *key, const void *data, size_t len) {
    sqlite3_stmt *s = prep(st, "INSERT OR REPLACE INTO kv(key, value, t) VALUES(?,?,?)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, data, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    if (rc) dlog_warn("state", "save %s: %s", key, sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return rc;
}

int dream_state_kv_get(dream_state_t *st, const char *key, void **data, size_t *len) {
    *data = NULL;
    *len = 0;
    sqlite3_stmt *s = prep(st, "SELECT value FROM kv WHERE key = ?");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int rc = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(s, 0);
        const void *p = sqlite3_column_blob(s, 0);
        *data = malloc((size_t)n + 1);
        if (*data) {
            if (n) memcpy(*data, p, (size_t)n);
            ((char *)*data)[n] = 0;
            *len = (size_t)n;
            rc = 1;
        } else rc = -1;
    }
    sqlite3_finalize(s);
    return rc;
}

int dream_state_kv_del(dream_state_t *st, const char *key) {
    sqlite3_stmt *s = prep(st, "DELETE FROM kv WHERE key = ?");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

int dream_state_kv_each(dream_state_t *st, const char *prefix,
                        void (*fn)(const char *key, const char *value, void *ud), void *ud) {
    sqlite3_stmt *s = prep(st, "SELECT key, value FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY t, key");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        fn((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1), ud);
        n++;
    }
    sqlite3_finalize(s);
    return n;
}

int dream_state_set_add(dream_state_t *st, const char *name, const char *value) {
    sqlite3_stmt *s = prep(st, "INSERT OR IGNORE INTO sets(name, value, t) VALUES(?,?,?)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

int dream_state_set_remove(dream_state_t *st, const char *name, const char *value) {
    sqlite3_stmt *s = prep(st, "DELETE FROM sets WHERE name = ? AND value = ?");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s) == SQLITE_DONE ? sqlite3_changes(st->db) : -1;
    sqlite3_finalize(s);
    return rc;
}

int dream_state_set_each(dream_state_t *st, const char *name, void (*fn)(const char *value, void *ud), void *ud) {
    sqlite3_stmt *s = prep(st, "SELECT value FROM sets WHERE name = ? ORDER BY t, value");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        fn((const char *)sqlite3_column_text(s, 0), ud);
        n++;
    }
    sqlite3_finalize(s);
    return n;
}
