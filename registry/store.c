/* store.c - SQLite storage of the registry (see store.h).
 *
 * Tables:
 *   schemas(id, type, text, identity, refs, metadata, ruleset): one row per schema id,
 *     never deleted, so ids cannot be reused;
 *   subject_versions(subject, version, schema_id, deleted);
 *   settings(kind, scope, subject, value): compatibility ('config') and mode ('mode'),
 *     scope 0 for the global value, 1 for a subject's;
 *   meta(key, value): the id counter 'next_id'.
 * Statements are prepared once; the registry serialises all calls under its write lock.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_PUT_SCHEMA,
    ST_PUT_VERSION,
    ST_DEL_VERSION,
    ST_BUMP_ID,
    ST_SET_SETTING,
    ST_DEL_SETTING,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_PUT_SCHEMA] = "INSERT OR REPLACE INTO schemas(id, type, text, identity, refs, metadata, "
                      "ruleset) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_PUT_VERSION] = "INSERT OR REPLACE INTO subject_versions(subject, version, schema_id, "
                       "deleted) VALUES (?1, ?2, ?3, ?4)",
    [ST_DEL_VERSION] = "DELETE FROM subject_versions WHERE subject = ?1 AND version = ?2",
    [ST_BUMP_ID] = "UPDATE meta SET value = max(value, ?1) WHERE key = 'next_id'",
    [ST_SET_SETTING] = "INSERT OR REPLACE INTO settings(kind, scope, subject, value) "
                       "VALUES (?1, ?2, ?3, ?4)",
    [ST_DEL_SETTING] = "DELETE FROM settings WHERE kind = ?1 AND scope = ?2 AND subject = ?3",
};

struct reg_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schemas ("
    " id INTEGER PRIMARY KEY, type TEXT NOT NULL, text TEXT NOT NULL,"
    " identity TEXT NOT NULL, refs TEXT, metadata TEXT, ruleset TEXT);"
    "CREATE TABLE IF NOT EXISTS subject_versions ("
    " subject TEXT NOT NULL, version INTEGER NOT NULL, schema_id INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (subject, version));"
    "CREATE TABLE IF NOT EXISTS settings ("
    " kind TEXT NOT NULL, scope INTEGER NOT NULL, subject TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (kind, scope, subject));"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('next_id', 1);";

static cg_err *db_err(sqlite3 *db, const char *what)
{
    return cg_err_new(CG_ESTORE, "store: %s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

static cg_err *exec(reg_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cg_err *e = cg_err_new(CG_ESTORE, "store: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return e;
    }
    return NULL;
}

cg_err *reg_store_open(const char *path, reg_store **out)
{
    cg_err *err = NULL;
    reg_store *s = calloc(1, sizeof(*s));
    if (!s)
        return cg_err_new(CG_ENOMEM, "out of memory");
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        err = cg_err_new(CG_ESTORE, "store: cannot open %s: %s", path,
                         s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto done;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* EXCLUSIVE before the first access, for two reasons. The registry serves from memory
     * and writes through, so a second process on the same file would diverge from it
     * unseen; with the lock held for the connection's life that process cannot start.
     * And SQLite then keeps the WAL index in heap memory instead of mmapping a -shm file:
     * a mapped page whose file turns immutable, or whose filesystem fails, faults with
     * SIGBUS inside SQLite where an error code is owed. WAL + FULL: each commit is
     * fsynced before it returns, which is what makes an acknowledged registration
     * durable. */
    err = exec(s, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; "
                  "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;");
    if (!err)
        err = exec(s, schema_sql); /* a write: it takes the lock now, not at the first request */
    if (err) {
        if (sqlite3_errcode(s->db) == SQLITE_BUSY) {
            cg_err_free(err);
            err = cg_err_new(CG_ESTORE,
                             "store: %s is in use by another process (another canon registry "
                             "or canon serve with the same --db?); it stays locked while that "
                             "process runs",
                             path);
        }
        goto done;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v2(s->db, stmt_sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
            err = db_err(s->db, stmt_sql[i]);
            goto done;
        }
    }
    *out = s;
    s = NULL;
done:
    reg_store_close(s);
    return err;
}

void reg_store_close(reg_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

cg_err *reg_store_load(reg_store *s, const reg_store_loader *l, int64_t *next_id)
{
    cg_err *err = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    int64_t max_id = 0;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, type, text, identity, refs, metadata, ruleset FROM "
                           "schemas ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        err = db_err(s->db, "load schemas");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        reg_store_schema row = {
            .id = (int32_t)sqlite3_column_int64(st, 0),
            .type = col_text(st, 1),
            .text = col_text(st, 2),
            .identity = col_text(st, 3),
            .refs = col_text(st, 4),
            .metadata = col_text(st, 5),
            .ruleset = col_text(st, 6),
        };
        if (row.id > max_id)
            max_id = row.id;
        if (l->schema) {
            err = l->schema(l->ctx, &row);
            if (err)
                goto done;
        }
    }
    if (rc != SQLITE_DONE) {
        err = db_err(s->db, "load schemas");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT subject, version, schema_id, deleted FROM subject_versions "
                           "ORDER BY subject, version",
                           -1, &st, NULL) != SQLITE_OK) {
        err = db_err(s->db, "load versions");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (l->version) {
            err = l->version(l->ctx, col_text(st, 0), (int32_t)sqlite3_column_int64(st, 1),
                             (int32_t)sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3));
            if (err)
                goto done;
        }
    }
    if (rc != SQLITE_DONE) {
        err = db_err(s->db, "load versions");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(s->db, "SELECT kind, scope, subject, value FROM settings", -1, &st,
                           NULL) != SQLITE_OK) {
        err = db_err(s->db, "load settings");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = col_text(st, 0);
        const char *subject = sqlite3_column_int(st, 1) ? col_text(st, 2) : NULL;
        const char *value = col_text(st, 3);
        if (!strcmp(kind, "config") && l->config)
            err = l->config(l->ctx, subject, value);
        else if (!strcmp(kind, "mode") && l->mode)
            err = l->mode(l->ctx, subject, value);
        if (err)
            goto done;
    }
    if (rc != SQLITE_DONE) {
        err = db_err(s->db, "load settings");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'next_id'", -1, &st, NULL) !=
        SQLITE_OK) {
        err = db_err(s->db, "load meta");
        goto done;
    }
    int64_t next = 1;
    if (sqlite3_step(st) == SQLITE_ROW)
        next = sqlite3_column_int64(st, 0);
    /* The counter and the rows are written in one transaction, but trust the rows too. */
    if (next <= max_id)
        next = max_id + 1;
    *next_id = next;
done:
    sqlite3_finalize(st);
    return err;
}

cg_err *reg_store_begin(reg_store *s)
{
    return exec(s, "BEGIN IMMEDIATE");
}

cg_err *reg_store_commit(reg_store *s)
{
    return exec(s, "COMMIT");
}

void reg_store_rollback(reg_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static cg_err *run(reg_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    cg_err *err = rc == SQLITE_DONE ? NULL : db_err(s->db, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
}

cg_err *reg_store_put_schema(reg_store *s, const reg_store_schema *row)
{
    sqlite3_stmt *st = s->st[ST_PUT_SCHEMA];
    sqlite3_bind_int64(st, 1, row->id);
    bind_text_or_null(st, 2, row->type ? row->type : "AVRO");
    bind_text_or_null(st, 3, row->text);
    bind_text_or_null(st, 4, row->identity);
    bind_text_or_null(st, 5, row->refs);
    bind_text_or_null(st, 6, row->metadata);
    bind_text_or_null(st, 7, row->ruleset);
    cg_err *err = run(s, st, "put schema");
    if (!err)
        err = reg_store_bump_next_id(s, (int64_t)row->id + 1);
    return err;
}

cg_err *reg_store_put_version(reg_store *s, const char *subject, int32_t version, int32_t id,
                              int deleted)
{
    sqlite3_stmt *st = s->st[ST_PUT_VERSION];
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, version);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int(st, 4, deleted ? 1 : 0);
    return run(s, st, "put version");
}

cg_err *reg_store_delete_version(reg_store *s, const char *subject, int32_t version)
{
    sqlite3_stmt *st = s->st[ST_DEL_VERSION];
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, version);
    return run(s, st, "delete version");
}

cg_err *reg_store_bump_next_id(reg_store *s, int64_t next)
{
    sqlite3_stmt *st = s->st[ST_BUMP_ID];
    sqlite3_bind_int64(st, 1, next);
    return run(s, st, "bump id");
}

static cg_err *set_setting(reg_store *s, const char *kind, const char *subject, const char *value)
{
    sqlite3_stmt *st = s->st[value ? ST_SET_SETTING : ST_DEL_SETTING];
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, subject ? 1 : 0);
    sqlite3_bind_text(st, 3, subject ? subject : "", -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(st, 4, value, -1, SQLITE_STATIC);
    return run(s, st, kind);
}

cg_err *reg_store_set_config(reg_store *s, const char *subject, const char *level)
{
    return set_setting(s, "config", subject, level);
}

cg_err *reg_store_set_mode(reg_store *s, const char *subject, const char *mode)
{
    return set_setting(s, "mode", subject, mode);
}
