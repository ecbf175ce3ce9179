/* test_state_dirty.c - what the incremental checkpoint needs from the state store
 * (canon/state.c): dirty tracking (every put marks its key, a clear unmarks all, the marks
 * survive table growth and blob rewrites of every size, the dirty bit never leaks into
 * what a key holds) and raw blobs (they copy into another state unchanged, and a damaged
 * blob, as a file could give, is refused at every byte it could be cut or changed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canon/state.h"

#define NF 4

/* Puts key i with a value of `len` bytes derived from (i, g) in field 1. */
static void put(canon_state *st, uint32_t i, uint32_t g, uint32_t len)
{
    static uint8_t val[8192];
    char key[32];
    canon_field_state fs[NF];
    snprintf(key, sizeof(key), "k%u", i);
    memset(fs, 0, sizeof(fs));
    for (uint32_t k = 0; k < len; k++)
        val[k] = (uint8_t)(i + g + k);
    fs[1].present = 1;
    fs[1].ver =
        (canon_version){.event_time = g, .seq = 0, .source = canon_state_source(st, "hr", 2)};
    fs[1].val = val;
    fs[1].len = len;
    canon_entity e = {
        .key = (const uint8_t *)key, .key_len = strlen(key), .version = g, .fields = fs};
    assert_null(canon_state_put(st, &e));
}

static void check(canon_state *st, uint32_t i, uint32_t g, uint32_t len)
{
    char key[32];
    canon_field_state fs[NF];
    canon_entity e = {.fields = fs};
    snprintf(key, sizeof(key), "k%u", i);
    assert_int_equal(canon_state_get(st, key, strlen(key), &e), 1);
    assert_int_equal(e.version, g);
    assert_int_equal(fs[1].len, len);
    for (uint32_t k = 0; k < len; k++)
        assert_int_equal(fs[1].val[k], (uint8_t)(i + g + k));
}

/* The keys canon_state_next_dirty() visits, as a bitmap over key numbers < n. */
static size_t dirty_keys(canon_state *st, uint8_t *seen, size_t n)
{
    canon_field_state fs[NF];
    canon_entity e = {.fields = fs};
    size_t cur = 0, count = 0;
    memset(seen, 0, n);
    while (canon_state_next_dirty(st, &cur, &e)) {
        char key[32];
        assert_true(e.key_len < sizeof(key));
        memcpy(key, e.key, e.key_len);
        key[e.key_len] = 0;
        unsigned long i = strtoul(key + 1, NULL, 10);
        assert_true(i < n);
        assert_int_equal(seen[i], 0); /* each once */
        seen[i] = 1;
        count++;
    }
    return count;
}

static void test_new_state_is_dirty_all_until_cleared(void **state)
{
    (void)state;
    canon_state *st;
    assert_null(canon_state_new(NF, &st));
    assert_int_equal(canon_state_dirty_all(st), 1);
    assert_int_equal(canon_state_dirty_count(st), 0);
    put(st, 1, 1, 10);
    put(st, 2, 1, 10);
    put(st, 1, 2, 10); /* the same key again counts once */
    assert_int_equal(canon_state_dirty_count(st), 2);
    assert_int_equal(canon_state_dirty_all(st), 1);
    canon_state_clear_dirty(st);
    assert_int_equal(canon_state_dirty_all(st), 0);
    assert_int_equal(canon_state_dirty_count(st), 0);
    uint8_t seen[4];
    assert_int_equal(dirty_keys(st, seen, 4), 0);
    check(st, 1, 2, 10);
    check(st, 2, 1, 10);
    canon_state_free(st);
}

static void test_version_reads_a_key_without_changing_it(void **state)
{
    (void)state;
    canon_state *st = NULL;
    assert_null(canon_state_new(NF, &st));
    assert_int_equal(canon_state_version(st, "k1", 2), 0); /* absent */
    put(st, 1, 7, 10);                                     /* key "k1", version 7 */
    put(st, 2, 3, 300);
    canon_state_clear_dirty(st);
    assert_int_equal(canon_state_version(st, "k1", 2), 7);
    assert_int_equal(canon_state_version(st, "k2", 2), 3);
    assert_int_equal(canon_state_version(st, "k3", 2), 0);
    assert_int_equal(canon_state_dirty_count(st), 0); /* read-only */
    assert_int_equal(canon_state_count(st), 2);
    canon_state_free(st);
}

static void test_only_keys_put_since_the_clear_are_dirty(void **state)
{
    (void)state;
    const uint32_t n = 20000;
    uint8_t *seen = malloc(n);
    canon_state *st;
    assert_non_null(seen);
    assert_null(canon_state_new(NF, &st));
    for (uint32_t i = 0; i < n / 2; i++)
        put(st, i, 0, i % 50);
    canon_state_clear_dirty(st);
    /* rewrite every 7th old key (some grow to a malloc'ed blob), add the other half: the
     * table grows several times while marks are set */
    size_t want = 0;
    for (uint32_t i = 0; i < n / 2; i += 7, want++)
        put(st, i, 1, i % 3 ? 20 : 3000);
    for (uint32_t i = n / 2; i < n; i++, want++)
        put(st, i, 0, i % 50);
    assert_int_equal(canon_state_dirty_count(st), want);
    assert_int_equal(dirty_keys(st, seen, n), want);
    for (uint32_t i = 0; i < n; i++) {
        int d = i >= n / 2 || i % 7 == 0;
        assert_int_equal(seen[i], d);
    }
    /* the dirty bit is not part of any key's content */
    for (uint32_t i = 0; i < n / 2; i++) {
        if (i % 7 == 0)
            check(st, i, 1, i % 3 ? 20 : 3000);
        else
            check(st, i, 0, i % 50);
    }
    size_t blobs = canon_state_blob_bytes(st);
    canon_state_clear_dirty(st);
    assert_int_equal(canon_state_dirty_count(st), 0);
    assert_int_equal(dirty_keys(st, seen, n), 0);
    /* clearing touches no blob: sizes and accounting are unchanged, and freeing big blobs
     * after a clear still finds their size */
    assert_int_equal(canon_state_blob_bytes(st), blobs);
    for (uint32_t i = 0; i < n / 2; i += 7)
        put(st, i, 2, 10);
    assert_int_equal(canon_state_dirty_count(st), (n / 2 + 6) / 7);
    for (uint32_t i = 0; i < n / 2; i += 7)
        check(st, i, 2, 10);
    free(seen);
    canon_state_free(st);
}

static void test_raw_blobs_copy_between_states_and_are_checked(void **state)
{
    (void)state;
    canon_state *a, *b;
    assert_null(canon_state_new(NF, &a));
    assert_null(canon_state_new(NF, &b));
    for (uint32_t i = 0; i < 300; i++)
        put(a, i, i % 4, i % 3 ? i % 40 : 2500);
    canon_state_source(a, "crm", 3); /* a second source, unused by blobs */
    for (uint32_t id = 1; id <= canon_state_n_sources(a); id++) {
        size_t nl;
        const char *name = canon_state_source_name(a, id, &nl);
        assert_int_equal(canon_state_source(b, name, nl), id);
    }
    size_t cur = 0, n = 0, len, klen;
    const uint8_t *blob, *key;
    while (canon_state_next_raw(a, &cur, 0, &key, &klen, &blob, &len)) {
        assert_true(klen < len);
        assert_null(canon_state_put_raw(b, blob, len));
        n++;
    }
    assert_int_equal(n, 300);
    assert_int_equal(canon_state_count(b), 300);
    assert_int_equal(canon_state_dirty_count(b), 300);
    for (uint32_t i = 0; i < 300; i++)
        check(b, i, i % 4, i % 3 ? i % 40 : 2500);
    /* dirty_only visits the dirty keys alone */
    canon_state_clear_dirty(a);
    put(a, 5, 9, 7);
    cur = 0;
    n = 0;
    while (canon_state_next_raw(a, &cur, 1, &key, &klen, &blob, &len)) {
        assert_int_equal(klen, 2);
        assert_memory_equal(key, "k5", 2);
        n++;
    }
    assert_int_equal(n, 1);

    /* every truncation of a blob is refused, and so is every single-byte change that
     * would make it malformed rather than merely different */
    canon_state *c;
    assert_null(canon_state_new(NF, &c));
    assert_int_equal(canon_state_source(c, "hr", 2), 1);
    canon_field_state got[NF];
    canon_entity ge = {.fields = got};
    uint8_t buf[64];
    cur = 0; /* k5's blob: the only dirty key of a */
    assert_int_equal(canon_state_next_raw(a, &cur, 1, &key, &klen, &blob, &len), 1);
    assert_true(len <= sizeof(buf));
    memcpy(buf, blob, len);
    for (size_t cut = 0; cut < len; cut++) {
        cg_err *err = canon_state_put_raw(c, buf, cut);
        assert_non_null(err);
        assert_int_equal(cg_err_code(err), CG_EINVAL);
        cg_err_free(err);
    }
    size_t accepted = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1u << bit);
            cg_err *err = canon_state_put_raw(c, buf, len);
            if (!err) {
                /* accepted: then it must read back as a well-formed entity */
                accepted++;
                if (!(buf[0] & 0x80))
                    assert_int_equal(canon_state_get(c, buf + 1, buf[0], &ge), 1);
                for (int f = 0; f < NF; f++)
                    assert_true(!got[f].present || got[f].ver.source <= 1);
            }
            cg_err_free(err);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(accepted < len * 8); /* the checks refuse a good share of damage */
    assert_null(canon_state_put_raw(c, buf, len));
    canon_state_free(a);
    canon_state_free(b);
    canon_state_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_state_is_dirty_all_until_cleared),
        cmocka_unit_test(test_version_reads_a_key_without_changing_it),
        cmocka_unit_test(test_only_keys_put_since_the_clear_are_dirty),
        cmocka_unit_test(test_raw_blobs_copy_between_states_and_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
