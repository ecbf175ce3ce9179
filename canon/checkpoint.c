/* checkpoint.c - the aggregator's incremental SQLite checkpoint (see checkpoint.h).
 *
 * Tables (format 3, PRAGMA user_version = 3):
 *   cp_partition(entity, part, canonical_id, canon_offset, saved_ms, n_keys, blob_format)
 *   cp_source(entity, part, id, name)      WITHOUT ROWID, primary key (entity, part, id)
 *   cp_key(entity, part, key, body)        WITHOUT ROWID, primary key (entity, part, key)
 * cp_key is clustered on its primary key, so an upsert touches one B-tree and a load reads
 * one partition's keys as one sequential range; a save inserts its keys sorted, in that
 * order. A file of another format (1: before incremental saves, a rowid cp_key with a
 * body of its own; 2: a development version) is emptied on open rather than migrated: a
 * checkpoint is a cache of the canon topic and the next save refills it.
 *
 * body is the key's blob exactly as the state holds it (state.h "raw blobs"; format
 * CANON_STATE_BLOB_FORMAT, stored as blob_format: another value makes the partition
 * unusable). Its source ids are the state's; cp_source keeps their names, and a load
 * interns them in id order into the empty state, which reproduces the ids. A state's ids
 * only grow, so an incremental save adds the new sources; a full save replaces them.
 * Loading checks every blob (canon_state_put_raw()), as the file could be damaged.
 *
 * Consistency: a save is one SQLite transaction holding the changed keys and the new
 * offset; the journal is WAL with synchronous=NORMAL, so a process crash (kill -9) never
 * loses a committed save and a power loss may lose the last few, which only makes the
 * next restore read more of the canon topic. The state's dirty marks are cleared only
 * after COMMIT succeeded. */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define CP_FORMAT 3
#define STR_(x)   #x
#define STR(x)    STR_(x)

struct canon_cp {
    sqlite3 *db;
    sqlite3_stmt *ins_key;  /* upsert one key */
    sqlite3_stmt *del_keys; /* delete every key of a partition */
    sqlite3_stmt *del_srcs; /* delete every source of a partition */
    sqlite3_stmt *ins_src;  /* upsert one source */
    sqlite3_stmt *get_srcs; /* the sources of a partition, by id */
    sqlite3_stmt *get_part; /* the partition row */
    sqlite3_stmt *put_part; /* upsert the partition row */
    sqlite3_stmt *get_keys; /* every key of a partition */
};

/* One key to write: pointers into the state. */
typedef struct cp_item {
    const uint8_t *key, *blob;
    size_t key_len, len;
} cp_item;

/* SQLite's BLOB order (memcmp, then the shorter first): rows are inserted in index order,
 * so a save appends to the B-tree's pages instead of touching random ones. */
static int item_cmp(const void *a, const void *b)
{
    const cp_item *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

/* ---- open / close ------------------------------------------------------------------- */

void canon_cp_close(canon_cp *cp)
{
    if (!cp)
        return;
    sqlite3_finalize(cp->ins_key);
    sqlite3_finalize(cp->del_keys);
    sqlite3_finalize(cp->del_srcs);
    sqlite3_finalize(cp->ins_src);
    sqlite3_finalize(cp->get_srcs);
    sqlite3_finalize(cp->get_part);
    sqlite3_finalize(cp->put_part);
    sqlite3_finalize(cp->get_keys);
    sqlite3_close(cp->db);
    free(cp);
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

static int prepare(canon_cp *cp, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(cp->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : -1;
}

cg_err *canon_cp_open(const char *path, canon_cp **out)
{
    canon_cp *cp = calloc(1, sizeof(*cp));
    if (!cp)
        return cg_err_new(CG_ENOMEM, "out of memory opening a checkpoint");
    if (sqlite3_open(path, &cp->db) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(cp->db, 5000);
    /* A 32 MB page cache: a full save of a large partition then rarely re-reads pages. */
    if (sqlite3_exec(cp->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA cache_size=-32768;",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    int v = user_version(cp->db);
    if (v < 0)
        goto fail;
    if (v != CP_FORMAT &&
        sqlite3_exec(cp->db,
                     "BEGIN; DROP TABLE IF EXISTS cp_key; DROP TABLE IF EXISTS cp_partition;"
                     "DROP TABLE IF EXISTS cp_source;"
                     "CREATE TABLE cp_partition(entity TEXT NOT NULL, part INTEGER NOT NULL, "
                     "canonical_id INTEGER NOT NULL, canon_offset INTEGER NOT NULL, "
                     "saved_ms INTEGER NOT NULL, n_keys INTEGER NOT NULL, blob_format INTEGER "
                     "NOT NULL, PRIMARY KEY(entity, part));"
                     "CREATE TABLE cp_source(entity TEXT NOT NULL, part INTEGER NOT NULL, id "
                     "INTEGER NOT NULL, name BLOB NOT NULL, PRIMARY KEY(entity, part, id)) "
                     "WITHOUT ROWID;"
                     "CREATE TABLE cp_key(entity TEXT NOT NULL, part INTEGER NOT NULL, key BLOB "
                     "NOT NULL, body BLOB NOT NULL, PRIMARY KEY(entity, part, key)) WITHOUT "
                     "ROWID;"
                     "PRAGMA user_version = " STR(CP_FORMAT) "; COMMIT;",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (prepare(cp, "INSERT OR REPLACE INTO cp_key(entity, part, key, body) VALUES(?1, ?2, ?3, ?4)",
                &cp->ins_key) ||
        prepare(cp, "DELETE FROM cp_key WHERE entity=?1 AND part=?2", &cp->del_keys) ||
        prepare(cp, "DELETE FROM cp_source WHERE entity=?1 AND part=?2", &cp->del_srcs) ||
        prepare(cp,
                "INSERT OR REPLACE INTO cp_source(entity, part, id, name) VALUES(?1, ?2, ?3, ?4)",
                &cp->ins_src) ||
        prepare(cp, "SELECT id, name FROM cp_source WHERE entity=?1 AND part=?2 ORDER BY id",
                &cp->get_srcs) ||
        prepare(cp,
                "SELECT canonical_id, canon_offset, blob_format FROM cp_partition WHERE "
                "entity=?1 AND part=?2",
                &cp->get_part) ||
        prepare(cp,
                "INSERT OR REPLACE INTO cp_partition(entity, part, canonical_id, canon_offset, "
                "saved_ms, n_keys, blob_format) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &cp->put_part) ||
        prepare(cp, "SELECT body FROM cp_key WHERE entity=?1 AND part=?2", &cp->get_keys))
        goto fail;
    *out = cp;
    return NULL;
fail:;
    cg_err *err = cg_err_new(CG_EIO, "checkpoint %s: %s", path,
                             cp->db ? sqlite3_errmsg(cp->db) : "cannot open");
    canon_cp_close(cp);
    return err;
}

/* ---- save ---------------------------------------------------------------------------- */

/* The partition's stored row: returns 1 and fills what is asked, or 0 when none. */
static int stored_partition(canon_cp *cp, const char *entity, int32_t part, int64_t *cid,
                            int64_t *offset, int64_t *format)
{
    int found = 0;
    sqlite3_reset(cp->get_part);
    sqlite3_bind_text(cp->get_part, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_int(cp->get_part, 2, part);
    if (sqlite3_step(cp->get_part) == SQLITE_ROW) {
        found = 1;
        *cid = sqlite3_column_int64(cp->get_part, 0);
        *offset = sqlite3_column_int64(cp->get_part, 1);
        *format = sqlite3_column_int64(cp->get_part, 2);
    }
    sqlite3_reset(cp->get_part);
    return found;
}

static int step_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int bind_part(sqlite3_stmt *q, const char *entity, int32_t part)
{
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, part);
    return 0;
}

cg_err *canon_cp_save(canon_cp *cp, const char *entity, int32_t part, int32_t canonical_id,
                      int64_t offset, canon_state *st, canon_cp_stats *stats)
{
    cg_err *err = NULL;
    cp_item *items = NULL;
    size_t n = 0;
    int in_txn = 0;
    int64_t cid = -1, off = -1, fmt = -1;
    if (sqlite3_exec(cp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto sqlfail;
    in_txn = 1;
    /* A state not derived from the stored copy, or stored for another canonical schema
     * (field numbering) or blob format: the stored keys cannot be patched, replace them. */
    int full = canon_state_dirty_all(st) || !stored_partition(cp, entity, part, &cid, &off, &fmt) ||
               cid != canonical_id || fmt != CANON_STATE_BLOB_FORMAT;
    if (full) {
        bind_part(cp->del_keys, entity, part);
        bind_part(cp->del_srcs, entity, part);
        if (step_done(cp->del_keys) || step_done(cp->del_srcs))
            goto sqlfail;
    }
    /* Sources are few: all of them every time (ids never change meaning in one state). */
    for (uint32_t id = 1; id <= canon_state_n_sources(st); id++) {
        size_t nl = 0;
        const char *name = canon_state_source_name(st, id, &nl);
        bind_part(cp->ins_src, entity, part);
        sqlite3_bind_int64(cp->ins_src, 3, id);
        sqlite3_bind_blob(cp->ins_src, 4, name, (int)nl, SQLITE_STATIC);
        if (step_done(cp->ins_src))
            goto sqlfail;
    }
    size_t want = full ? canon_state_count(st) : canon_state_dirty_count(st);
    items = malloc((want ? want : 1) * sizeof(*items));
    if (!items) {
        err = cg_err_new(CG_ENOMEM, "out of memory saving a checkpoint");
        goto rollback;
    }
    size_t cur = 0;
    cp_item it;
    while (n < want &&
           canon_state_next_raw(st, &cur, !full, &it.key, &it.key_len, &it.blob, &it.len))
        items[n++] = it;
    qsort(items, n, sizeof(*items), item_cmp);
    for (size_t i = 0; i < n; i++) {
        bind_part(cp->ins_key, entity, part);
        sqlite3_bind_blob(cp->ins_key, 3, items[i].key, (int)items[i].key_len, SQLITE_STATIC);
        sqlite3_bind_blob(cp->ins_key, 4, items[i].blob, (int)items[i].len, SQLITE_STATIC);
        if (step_done(cp->ins_key))
            goto sqlfail;
    }
    bind_part(cp->put_part, entity, part);
    sqlite3_bind_int(cp->put_part, 3, canonical_id);
    sqlite3_bind_int64(cp->put_part, 4, offset);
    sqlite3_bind_int64(cp->put_part, 5, (sqlite3_int64)time(NULL) * 1000);
    sqlite3_bind_int64(cp->put_part, 6, (sqlite3_int64)canon_state_count(st));
    sqlite3_bind_int(cp->put_part, 7, CANON_STATE_BLOB_FORMAT);
    if (step_done(cp->put_part) || sqlite3_exec(cp->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto sqlfail;
    in_txn = 0;
    canon_state_clear_dirty(st);
    if (stats) {
        stats->written = n;
        stats->keys = canon_state_count(st);
        stats->full = full;
    }
    goto done;
sqlfail:
    err = cg_err_new(CG_EIO, "checkpoint %s [%d]: %s", entity, (int)part, sqlite3_errmsg(cp->db));
rollback:
    if (in_txn)
        sqlite3_exec(cp->db, "ROLLBACK", NULL, NULL, NULL);
done:
    free(items);
    return err;
}

/* ---- load ---------------------------------------------------------------------------- */

cg_err *canon_cp_load(canon_cp *cp, const char *entity, int32_t part, int32_t canonical_id,
                      int64_t lo, int64_t hi, canon_state *st, int64_t *from, size_t *keys)
{
    cg_err *err = NULL;
    int64_t cid = -1, off = -1, fmt = -1;
    size_t n = 0;
    int rc;
    *from = -1;
    *keys = 0;
    if (!stored_partition(cp, entity, part, &cid, &off, &fmt))
        return cg_err_new(CG_ESTATE, "none for this partition");
    if (cid != canonical_id)
        return cg_err_new(CG_ESTATE, "canonical schema id %lld, current %d: ignored",
                          (long long)cid, (int)canonical_id);
    if (fmt != CANON_STATE_BLOB_FORMAT)
        return cg_err_new(CG_ESTATE, "blob format %lld, current %d: ignored", (long long)fmt,
                          CANON_STATE_BLOB_FORMAT);
    if (off < lo || off > hi)
        return cg_err_new(CG_ESTATE, "offset %lld outside the topic's [%lld, %lld]: ignored",
                          (long long)off, (long long)lo, (long long)hi);
    if (canon_state_count(st) || canon_state_n_sources(st))
        return cg_err_new(CG_EINVAL, "checkpoint load into a state that is not empty");

    sqlite3_stmt *q = cp->get_srcs;
    bind_part(q, entity, part);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        const void *name = sqlite3_column_blob(q, 1);
        int nl = sqlite3_column_bytes(q, 1);
        if (!name || nl <= 0 || id != (int64_t)canon_state_n_sources(st) + 1 ||
            canon_state_source(st, name, (size_t)nl) != (uint32_t)id) {
            err = cg_err_new(CG_EINVAL, "a malformed source table: ignored");
            goto done;
        }
    }
    if (rc != SQLITE_DONE)
        goto sqlfail;
    sqlite3_reset(q);

    q = cp->get_keys;
    bind_part(q, entity, part);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const uint8_t *body = sqlite3_column_blob(q, 0);
        size_t blen = (size_t)sqlite3_column_bytes(q, 0);
        if (!body || (err = canon_state_put_raw(st, body, blen))) {
            cg_err_free(err);
            err = cg_err_new(CG_EINVAL, "a malformed key: ignored");
            goto done;
        }
        n++;
    }
    if (rc != SQLITE_DONE)
        goto sqlfail;
    canon_state_clear_dirty(st);
    *from = off;
    *keys = n;
    goto done;
sqlfail:
    err = cg_err_new(CG_EIO, "%s: ignored", sqlite3_errmsg(cp->db));
done:
    sqlite3_reset(q);
    return err;
}
