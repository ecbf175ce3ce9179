/* test_checkpoint.c - the incremental SQLite checkpoint (canon/checkpoint.c): what is
 * saved loads back key for key; a save after a load writes only the changed keys (proved
 * by a stored row that is left alone); a state not derived from the file replaces the
 * partition; a save that fails midway leaves the previous checkpoint and the dirty marks;
 * a stored copy for another schema or offset, or none, is refused with the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "canon/checkpoint.h"
#include "canon/state.h"

#define NF 5

typedef struct fixture {
    char path[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->path, sizeof(f->path), "/tmp/test_checkpoint_XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0) {
        free(f);
        return -1;
    }
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[80];
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

/* Puts key i in generation g: fields derived from (i, g), a DELETE version on odd g, the
 * source chosen among three (so the sources of the two states get different ids). */
static void put(canon_state *st, uint32_t i, uint32_t g)
{
    static const char *const src[] = {"support", "hr", "crm"};
    uint8_t vals[NF][16];
    canon_field_state fs[NF];
    char key[32];
    snprintf(key, sizeof(key), "key-%u", i);
    memset(fs, 0, sizeof(fs));
    for (uint32_t f = 1; f < NF; f++) {
        uint32_t h = i * 31 + g * 7 + f;
        if (h % 4 == 0)
            continue;
        const char *s = src[(i + g + f) % 3];
        fs[f].present = 1;
        fs[f].cleared = h % 5 == 0;
        fs[f].ver = (canon_version){.event_time = 1000 + g,
                                    .seq = f,
                                    .source = canon_state_source(st, s, strlen(s)),
                                    .partition = (int32_t)(f % 3) - 1,
                                    .offset = h % 3 ? (int64_t)h * 100000 : -1};
        if (!fs[f].cleared) {
            uint32_t len = h % 16;
            for (uint32_t k = 0; k < len; k++)
                vals[f][k] = (uint8_t)(h + k);
            fs[f].val = vals[f];
            fs[f].len = len;
        }
    }
    canon_entity e = {
        .key = (const uint8_t *)key, .key_len = strlen(key), .version = g + 1, .fields = fs};
    if (g % 2) {
        e.has_deleted = 1;
        e.deleted = (canon_version){.event_time = 999 + g,
                                    .seq = 0,
                                    .source = canon_state_source(st, "hr", 2),
                                    .partition = 4,
                                    .offset = 3000000000LL + g};
    }
    assert_null(canon_state_put(st, &e));
}

static void assert_ver_equal(canon_state *a, const canon_version *x, canon_state *b,
                             const canon_version *y)
{
    size_t la = 0, lb = 0;
    const char *na = canon_state_source_name(a, x->source, &la);
    const char *nb = canon_state_source_name(b, y->source, &lb);
    assert_int_equal(x->event_time, y->event_time);
    assert_int_equal(x->seq, y->seq);
    assert_int_equal(x->partition, y->partition);
    assert_int_equal(x->offset, y->offset);
    assert_int_equal(la, lb);
    assert_true(na && nb);
    assert_memory_equal(na, nb, la);
}

/* a and b hold the same keys with the same content (sources compared by name). */
static void assert_states_equal(canon_state *a, canon_state *b)
{
    canon_field_state fa[NF], fb[NF];
    canon_entity ea = {.fields = fa}, eb = {.fields = fb};
    size_t cur = 0;
    assert_int_equal(canon_state_count(a), canon_state_count(b));
    while (canon_state_next(a, &cur, &ea)) {
        assert_int_equal(canon_state_get(b, ea.key, ea.key_len, &eb), 1);
        assert_int_equal(ea.version, eb.version);
        assert_int_equal(ea.has_deleted, eb.has_deleted);
        if (ea.has_deleted)
            assert_ver_equal(a, &ea.deleted, b, &eb.deleted);
        for (int f = 1; f < NF; f++) {
            assert_int_equal(fa[f].present, fb[f].present);
            if (!fa[f].present)
                continue;
            assert_int_equal(fa[f].cleared, fb[f].cleared);
            assert_ver_equal(a, &fa[f].ver, b, &fb[f].ver);
            assert_int_equal(fa[f].len, fb[f].len);
            if (fa[f].len)
                assert_memory_equal(fa[f].val, fb[f].val, fa[f].len);
        }
    }
}

static canon_state *load(canon_cp *cp, const char *ent, int32_t part, int64_t *from, size_t *keys)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    cg_err *err = canon_cp_load(cp, ent, part, 7, 0, 1000000, st, from, keys);
    if (err) {
        fprintf(stderr, "load: %s\n", cg_err_msg(err));
        fail();
    }
    assert_int_equal(canon_state_dirty_all(st), 0);
    assert_int_equal(canon_state_dirty_count(st), 0);
    return st;
}

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, msg);
        fail();
    }
    sqlite3_close(db);
}

static void test_save_load_round_trip_and_incremental_saves(void **state)
{
    fixture *fx = *state;
    canon_cp *cp;
    canon_state *st, *back;
    canon_cp_stats cs;
    int64_t from;
    size_t keys;
    assert_null(canon_cp_open(fx->path, &cp));
    assert_null(canon_state_new(NF, &st));
    for (uint32_t i = 0; i < 500; i++)
        put(st, i, i % 3);
    /* a state built from elsewhere is saved whole */
    assert_null(canon_cp_save(cp, "person", 2, 7, 1234, st, &cs));
    assert_int_equal(cs.full, 1);
    assert_int_equal(cs.written, 500);
    assert_int_equal(cs.keys, 500);
    assert_int_equal(canon_state_dirty_count(st), 0);
    back = load(cp, "person", 2, &from, &keys);
    assert_int_equal(from, 1234);
    assert_int_equal(keys, 500);
    assert_states_equal(st, back);
    canon_state_free(back);

    /* change 3 keys (one gets a DELETE) and add 2: the next save writes those 5 only.
     * Proof: a stored row of an unchanged key, replaced by garbage behind our back, is
     * still garbage afterwards (so the next load refuses it). */
    sql_exec(fx->path, "UPDATE cp_key SET body = x'00' WHERE key = CAST('key-9' AS BLOB)");
    put(st, 1, 4);
    put(st, 2, 5);
    put(st, 3, 6);
    put(st, 600, 0);
    put(st, 601, 1);
    assert_int_equal(canon_state_dirty_count(st), 5);
    assert_null(canon_cp_save(cp, "person", 2, 7, 1300, st, &cs));
    assert_int_equal(cs.full, 0);
    assert_int_equal(cs.written, 5);
    assert_int_equal(cs.keys, 502);
    assert_int_equal(
        sql_int(fx->path, "SELECT length(body) FROM cp_key WHERE key = CAST('key-9' AS BLOB)"), 1);
    assert_int_equal(sql_int(fx->path, "SELECT canon_offset FROM cp_partition WHERE part = 2"),
                     1300);
    canon_state *bad;
    assert_null(canon_state_new(NF, &bad));
    cg_err *err = canon_cp_load(cp, "person", 2, 7, 0, 2000, bad, &from, &keys);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EINVAL);
    assert_int_equal(from, -1);
    cg_err_free(err);
    canon_state_free(bad);

    /* a fresh state (the full restore) replaces the partition: the garbage row goes too */
    canon_state *fresh;
    assert_null(canon_state_new(NF, &fresh));
    for (uint32_t i = 100; i < 700; i++)
        put(fresh, i, 2);
    assert_null(canon_cp_save(cp, "person", 2, 7, 1400, fresh, &cs));
    assert_int_equal(cs.full, 1);
    assert_int_equal(cs.written, 600);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM cp_key WHERE part = 2"), 600);
    back = load(cp, "person", 2, &from, &keys);
    assert_int_equal(keys, 600);
    assert_states_equal(fresh, back);

    /* a loaded state saves incrementally, and the result loads back equal */
    put(back, 150, 3);
    assert_null(canon_cp_save(cp, "person", 2, 7, 1500, back, &cs));
    assert_int_equal(cs.full, 0);
    assert_int_equal(cs.written, 1);
    canon_state *again = load(cp, "person", 2, &from, &keys);
    assert_int_equal(from, 1500);
    assert_states_equal(back, again);
    canon_state_free(again);
    /* nothing changed: a save writes the offset only */
    assert_null(canon_cp_save(cp, "person", 2, 7, 1600, back, &cs));
    assert_int_equal(cs.written, 0);
    assert_int_equal(sql_int(fx->path, "SELECT canon_offset FROM cp_partition WHERE part = 2"),
                     1600);

    canon_state_free(back);
    canon_state_free(fresh);
    canon_state_free(st);
    canon_cp_close(cp);
}

static void test_partitions_and_entities_are_separate(void **state)
{
    fixture *fx = *state;
    canon_cp *cp;
    canon_state *a, *b, *back;
    int64_t from;
    size_t keys;
    assert_null(canon_cp_open(fx->path, &cp));
    assert_null(canon_state_new(NF, &a));
    assert_null(canon_state_new(NF, &b));
    for (uint32_t i = 0; i < 50; i++)
        put(a, i, 0);
    for (uint32_t i = 0; i < 30; i++)
        put(b, i, 1);
    assert_null(canon_cp_save(cp, "person", 0, 7, 10, a, NULL));
    assert_null(canon_cp_save(cp, "person", 1, 7, 20, b, NULL));
    assert_null(canon_cp_save(cp, "company", 0, 7, 30, b, NULL));
    back = load(cp, "person", 0, &from, &keys);
    assert_int_equal(keys, 50);
    assert_int_equal(from, 10);
    assert_states_equal(a, back);
    canon_state_free(back);
    back = load(cp, "company", 0, &from, &keys);
    assert_int_equal(from, 30);
    assert_states_equal(b, back);
    canon_state_free(back);
    canon_state_free(a);
    canon_state_free(b);
    canon_cp_close(cp);
}

static void test_failed_save_keeps_previous_checkpoint_and_dirty_marks(void **state)
{
    fixture *fx = *state;
    canon_cp *cp;
    canon_state *st, *back;
    canon_cp_stats cs;
    int64_t from;
    size_t keys;
    assert_null(canon_cp_open(fx->path, &cp));
    assert_null(canon_state_new(NF, &st));
    for (uint32_t i = 0; i < 100; i++)
        put(st, i, 0);
    assert_null(canon_cp_save(cp, "person", 0, 7, 100, st, NULL));
    canon_state *before = load(cp, "person", 0, &from, &keys);
    /* a fault in the middle of the next save: the write of key-50 fails after others were
     * written in the same transaction */
    sql_exec(fx->path,
             "CREATE TRIGGER boom BEFORE INSERT ON cp_key WHEN new.key = CAST('key-50' AS "
             "BLOB) BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
    for (uint32_t i = 0; i < 100; i += 10)
        put(st, i, 1);
    assert_int_equal(canon_state_dirty_count(st), 10);
    cg_err *err = canon_cp_save(cp, "person", 0, 7, 200, st, &cs);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO);
    assert_non_null(strstr(cg_err_msg(err), "injected fault"));
    cg_err_free(err);
    assert_int_equal(canon_state_dirty_count(st), 10); /* kept for the next save */
    back = load(cp, "person", 0, &from, &keys);
    assert_int_equal(from, 100); /* the previous checkpoint, whole */
    assert_states_equal(before, back);
    canon_state_free(back);
    /* the fault gone, the same keys are written */
    sql_exec(fx->path, "DROP TRIGGER boom");
    assert_null(canon_cp_save(cp, "person", 0, 7, 200, st, &cs));
    assert_int_equal(cs.written, 10);
    back = load(cp, "person", 0, &from, &keys);
    assert_int_equal(from, 200);
    assert_states_equal(st, back);
    canon_state_free(back);
    canon_state_free(before);
    canon_state_free(st);
    canon_cp_close(cp);
}

static void expect_refused(canon_cp *cp, const char *ent, int32_t part, int32_t cid, int64_t lo,
                           int64_t hi, const char *why)
{
    canon_state *st;
    int64_t from = 5;
    size_t keys = 5;
    assert_null(canon_state_new(NF, &st));
    cg_err *err = canon_cp_load(cp, ent, part, cid, lo, hi, st, &from, &keys);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_ESTATE);
    if (!strstr(cg_err_msg(err), why)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", cg_err_msg(err), why);
        fail();
    }
    assert_int_equal(from, -1);
    assert_int_equal(keys, 0);
    assert_int_equal(canon_state_count(st), 0);
    cg_err_free(err);
    canon_state_free(st);
}

static void test_unusable_checkpoints_are_refused_with_the_reason(void **state)
{
    fixture *fx = *state;
    canon_cp *cp;
    canon_state *st;
    canon_cp_stats cs;
    assert_null(canon_cp_open(fx->path, &cp));
    assert_null(canon_state_new(NF, &st));
    put(st, 1, 0);
    assert_null(canon_cp_save(cp, "person", 0, 7, 100, st, NULL));
    expect_refused(cp, "person", 1, 7, 0, 1000, "none for this partition");
    expect_refused(cp, "other", 0, 7, 0, 1000, "none for this partition");
    expect_refused(cp, "person", 0, 8, 0, 1000, "canonical schema id 7, current 8");
    expect_refused(cp, "person", 0, 7, 0, 99, "offset 100 outside");
    expect_refused(cp, "person", 0, 7, 101, 1000, "offset 100 outside");
    /* a clean state saved under another canonical id rewrites the partition whole */
    canon_state_clear_dirty(st);
    put(st, 2, 0);
    assert_null(canon_cp_save(cp, "person", 0, 9, 110, st, &cs));
    assert_int_equal(cs.full, 1);
    assert_int_equal(cs.written, 2);
    canon_state_free(st);
    canon_cp_close(cp);
}

static void test_format_1_file_is_emptied(void **state)
{
    fixture *fx = *state;
    canon_cp *cp;
    sql_exec(fx->path,
             "CREATE TABLE cp_partition(entity TEXT NOT NULL, part INTEGER NOT NULL, canonical_id "
             "INTEGER NOT NULL, canon_offset INTEGER NOT NULL, saved_ms INTEGER NOT NULL, PRIMARY "
             "KEY(entity, part));"
             "CREATE TABLE cp_key(entity TEXT NOT NULL, part INTEGER NOT NULL, key BLOB NOT NULL, "
             "body BLOB NOT NULL, PRIMARY KEY(entity, part, key));"
             "INSERT INTO cp_partition VALUES('person', 0, 7, 5, 0);"
             "INSERT INTO cp_key VALUES('person', 0, x'01', x'02');");
    assert_null(canon_cp_open(fx->path, &cp));
    expect_refused(cp, "person", 0, 7, 0, 1000, "none for this partition");
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), 3);
    canon_cp_close(cp);
    /* reopening a format 2 file keeps it */
    canon_state *st;
    assert_null(canon_cp_open(fx->path, &cp));
    assert_null(canon_state_new(NF, &st));
    put(st, 1, 0);
    assert_null(canon_cp_save(cp, "person", 0, 7, 1, st, NULL));
    canon_cp_close(cp);
    assert_null(canon_cp_open(fx->path, &cp));
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM cp_key"), 1);
    canon_cp_close(cp);
    canon_state_free(st);
}

static void test_open_reports_an_unusable_path(void **state)
{
    (void)state;
    canon_cp *cp = NULL;
    cg_err *err = canon_cp_open("/nonexistent-dir/cp.db", &cp);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO);
    assert_non_null(strstr(cg_err_msg(err), "/nonexistent-dir/cp.db"));
    assert_null(cp);
    cg_err_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_load_round_trip_and_incremental_saves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_partitions_and_entities_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_save_keeps_previous_checkpoint_and_dirty_marks,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_checkpoints_are_refused_with_the_reason,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_1_file_is_emptied, setup, teardown),
        cmocka_unit_test(test_open_reports_an_unusable_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
