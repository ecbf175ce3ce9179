/* test_canon_state.c - the per-partition state store (canon/state.c): what goes in comes
 * out, byte for byte and version for version, across table growth, blob rewrites of every
 * size class, large blobs and iteration; versions order by source name, not id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canon/state.h"

#define NF 6

/* The content that key i holds in generation g, derived from (i, g) so that a reader
 * can check it without keeping a copy. Field 0 is the key field (unused). */
static void make(uint32_t i, uint32_t g, canon_state *st, canon_field_state *fs, uint8_t *vals,
                 canon_entity *e, char *key)
{
    snprintf(key, 32, "key-%08u", i);
    memset(fs, 0, NF * sizeof(*fs));
    uint8_t *v = vals;
    static const char *const src[] = {"hr", "crm", "support"};
    for (uint32_t f = 1; f < NF; f++) {
        uint32_t h = (i * 2654435761u) ^ (g * 40503u) ^ (f * 977u);
        if (h % 5 == 0)
            continue; /* absent */
        fs[f].present = 1;
        fs[f].cleared = h % 7 == 0;
        fs[f].ver.event_time = 1700000000000LL + (int64_t)(h % 1000) - 500;
        fs[f].ver.seq = (int64_t)(h % 3) - 1;
        fs[f].ver.source = canon_state_source(st, src[h % 3], strlen(src[h % 3]));
        /* origins: unknown (-1), small, and past 32 bits */
        fs[f].ver.partition = h % 4 == 0 ? -1 : (int32_t)(h % 6);
        fs[f].ver.offset = h % 4 == 0 ? -1 : (int64_t)(h % 9) * 1000000007LL;
        if (!fs[f].cleared) {
            uint32_t len = (h >> 8) % 40 + (g % 3 == 2 && f == 1 ? 3000 : 0);
            for (uint32_t k = 0; k < len; k++)
                v[k] = (uint8_t)(h + k);
            fs[f].val = v;
            fs[f].len = len;
            v += len;
        }
    }
    e->key = (const uint8_t *)key;
    e->key_len = strlen(key);
    e->version = (uint64_t)g * 3 + i;
    e->has_deleted = g % 2;
    e->deleted = (canon_version){.event_time = -(int64_t)i,
                                 .seq = g,
                                 .source = e->has_deleted ? 1 : 0,
                                 .partition = (int32_t)(i % 3) - 1,
                                 .offset = (int64_t)g * 5000000000LL - 1};
    e->fields = fs;
}

static void check(canon_state *st, uint32_t i, uint32_t g)
{
    canon_field_state want[NF], got[NF];
    static uint8_t vals[8192];
    char key[32];
    canon_entity w, e = {.fields = got};
    make(i, g, st, want, vals, &w, key);
    assert_int_equal(canon_state_get(st, key, strlen(key), &e), 1);
    assert_int_equal(e.key_len, strlen(key));
    assert_memory_equal(e.key, key, e.key_len);
    assert_int_equal(e.version, w.version);
    assert_int_equal(e.has_deleted, w.has_deleted);
    if (w.has_deleted) {
        assert_int_equal(e.deleted.event_time, w.deleted.event_time);
        assert_int_equal(e.deleted.seq, w.deleted.seq);
        assert_int_equal(e.deleted.source, w.deleted.source);
        assert_int_equal(e.deleted.partition, w.deleted.partition);
        assert_int_equal(e.deleted.offset, w.deleted.offset);
    }
    for (int f = 1; f < NF; f++) {
        assert_int_equal(got[f].present, want[f].present);
        if (!want[f].present)
            continue;
        assert_int_equal(got[f].cleared, want[f].cleared);
        assert_int_equal(got[f].ver.event_time, want[f].ver.event_time);
        assert_int_equal(got[f].ver.seq, want[f].ver.seq);
        assert_int_equal(got[f].ver.source, want[f].ver.source);
        assert_int_equal(got[f].ver.partition, want[f].ver.partition);
        assert_int_equal(got[f].ver.offset, want[f].ver.offset);
        if (!want[f].cleared) {
            assert_int_equal(got[f].len, want[f].len);
            assert_memory_equal(got[f].val, want[f].val, want[f].len);
        }
    }
}

static void put(canon_state *st, uint32_t i, uint32_t g)
{
    canon_field_state fs[NF];
    static uint8_t vals[8192];
    char key[32];
    canon_entity e;
    make(i, g, st, fs, vals, &e, key);
    assert_null(canon_state_put(st, &e));
}

static void test_entities_round_trip_through_growth_and_rewrites(void **state)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    const uint32_t n = 30000;
    for (uint32_t i = 0; i < n; i++)
        put(st, i, 0);
    assert_int_equal(canon_state_count(st), n);
    for (uint32_t i = 0; i < n; i++)
        check(st, i, 0);
    /* rewrite every key twice (other sizes, large blobs for g == 2) */
    for (uint32_t g = 1; g <= 2; g++) {
        for (uint32_t i = 0; i < n; i++)
            put(st, i, g);
    }
    assert_int_equal(canon_state_count(st), n);
    for (uint32_t i = 0; i < n; i++)
        check(st, i, 2);
    /* back to small blobs: freed chunks are reused, memory does not keep growing */
    size_t before = canon_state_bytes(st);
    for (uint32_t r = 0; r < 4; r++) {
        for (uint32_t i = 0; i < n; i++)
            put(st, i, 3 + (r % 2) * 2);
    }
    for (uint32_t i = 0; i < n; i++)
        check(st, i, 5);
    assert_true(canon_state_bytes(st) <= before + 2 * 1024 * 1024);
    canon_state_free(st);
}

/* Prefetching is a hint: for keys present and absent, before and after the table grows
 * and blobs move (large ones included), it changes nothing a reader sees, and it reads
 * only memory of the state (ASan checks the blob range it walks). */
static void test_prefetch_changes_nothing(void **state)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    char key[32];
    for (uint32_t g = 0; g < 3; g++) {
        for (uint32_t i = 0; i < 5000; i++) {
            snprintf(key, sizeof(key), "key-%08u", i);
            uint32_t h = canon_state_prefetch_slot(st, key, strlen(key));
            canon_state_prefetch_blob(st, h);
            put(st, i, g);
            canon_state_prefetch_blob(st, h);
            assert_int_equal(canon_state_prefetch_slot(st, key, strlen(key)), h);
        }
        canon_state_prefetch_blob(st, canon_state_prefetch_slot(st, "absent", 6));
        canon_state_prefetch_blob(st, canon_state_prefetch_slot(st, "", 0));
        canon_state_prefetch_blob(st, 0xdeadbeefu); /* any hash: a slot, maybe a blob */
        size_t dirty = canon_state_dirty_count(st);
        for (uint32_t i = 0; i < 5000; i++) {
            snprintf(key, sizeof(key), "key-%08u", i);
            canon_state_prefetch_blob(st, canon_state_prefetch_slot(st, key, strlen(key)));
            check(st, i, g);
        }
        assert_int_equal(canon_state_count(st), 5000);
        assert_int_equal(canon_state_dirty_count(st), dirty);
    }
    canon_state_free(st);
}

static void test_unknown_key_reads_as_empty(void **state)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    put(st, 1, 0);
    canon_field_state fs[NF];
    canon_entity e = {.fields = fs};
    assert_int_equal(canon_state_get(st, "nope", 4, &e), 0);
    assert_int_equal(e.version, 0);
    assert_int_equal(e.has_deleted, 0);
    for (int f = 0; f < NF; f++)
        assert_int_equal(fs[f].present, 0);
    /* a key that is a prefix of a stored one is another key */
    assert_int_equal(canon_state_get(st, "key-0000000", 11, &e), 0);
    canon_state_free(st);
}

static void test_put_may_reuse_pointers_into_the_current_blob(void **state)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    put(st, 7, 0);
    canon_field_state fs[NF];
    canon_entity e = {.fields = fs};
    char key[32];
    snprintf(key, sizeof(key), "key-%08u", 7);
    assert_int_equal(canon_state_get(st, key, strlen(key), &e), 1);
    /* e.key and values point into the stored blob; storing them back must work */
    e.version = 12345;
    assert_null(canon_state_put(st, &e));
    canon_field_state fs2[NF];
    canon_entity e2 = {.fields = fs2};
    assert_int_equal(canon_state_get(st, key, strlen(key), &e2), 1);
    assert_int_equal(e2.version, 12345);
    assert_int_equal(canon_state_count(st), 1);
    canon_state_free(st);
}

static void test_iteration_visits_every_key_once(void **state)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    const uint32_t n = 5000;
    for (uint32_t i = 0; i < n; i++)
        put(st, i, 1);
    uint8_t *seen = calloc(n, 1);
    size_t cur = 0, count = 0;
    canon_field_state fs[NF];
    canon_entity e = {.fields = fs};
    while (canon_state_next(st, &cur, &e)) {
        unsigned i;
        char k[32] = {0};
        assert_true(e.key_len < sizeof(k));
        memcpy(k, e.key, e.key_len);
        assert_int_equal(sscanf(k, "key-%08u", &i), 1);
        assert_true(i < n);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        count++;
    }
    assert_int_equal(count, n);
    free(seen);
    canon_state_free(st);
}

static void test_versions_order_by_time_then_source_name_then_seq(void **state)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    /* interned in an order unlike their names' */
    uint32_t zz = canon_state_source(st, "zz", 2), a = canon_state_source(st, "a", 1),
             ab = canon_state_source(st, "ab", 2);
    assert_int_equal(canon_state_source(st, "a", 1), a);
    size_t n;
    assert_memory_equal(canon_state_source_name(st, ab, &n), "ab", 2);
    assert_int_equal(n, 2);
    assert_null(canon_state_source_name(st, 99, &n));
    /* the origin (offset, partition) takes no part: v4 comes from an earlier message */
    canon_version v1 = {10, 5, 900, zz, 0}, v2 = {11, 0, 800, a, 1}, v3 = {11, 0, 700, ab, 2},
                  v4 = {11, 1, 5, ab, 0}, none = {0};
    assert_true(canon_version_cmp(st, &v1, &v2) < 0); /* time first */
    assert_true(canon_version_cmp(st, &v2, &v3) < 0); /* "a" < "ab" */
    assert_true(canon_version_cmp(st, &v3, &v4) < 0); /* then seq */
    assert_true(canon_version_cmp(st, &v4, &v3) > 0);
    assert_int_equal(canon_version_cmp(st, &v4, &v4), 0);
    assert_true(canon_version_cmp(st, &none, &v1) < 0);
    canon_version v5 = {11, 0, -1, zz, -1};
    assert_true(canon_version_cmp(st, &v5, &v4) > 0); /* "zz" > "ab" though interned first */
    canon_state_free(st);
}

static void test_memory_per_key_is_small(void **state)
{
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    const uint32_t n = 100000;
    for (uint32_t i = 0; i < n; i++)
        put(st, i, 0);
    /* about 5 fields of up to 40 bytes each: well under 200 bytes per key all told */
    size_t per_key = canon_state_bytes(st) / n;
    print_message("state: %zu bytes per key (%zu of blobs)\n", per_key,
                  canon_state_blob_bytes(st) / n);
    assert_true(per_key < 200);
    canon_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entities_round_trip_through_growth_and_rewrites),
        cmocka_unit_test(test_prefetch_changes_nothing),
        cmocka_unit_test(test_unknown_key_reads_as_empty),
        cmocka_unit_test(test_put_may_reuse_pointers_into_the_current_blob),
        cmocka_unit_test(test_iteration_visits_every_key_once),
        cmocka_unit_test(test_versions_order_by_time_then_source_name_then_seq),
        cmocka_unit_test(test_memory_per_key_is_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
