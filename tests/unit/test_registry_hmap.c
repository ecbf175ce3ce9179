/* test_registry_hmap.c - the registry's hash map (registry/hmap.h), as tests.
 *
 * The map must behave like a dictionary under any mix of puts, replaces and deletes:
 * deletion shifts later probe-run members back (no tombstones), which is where such maps
 * go wrong, so a long random sequence is checked against a plain array model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry/hmap.h"

static void test_put_get_replace_and_string_and_int_keys(void **state)
{
    (void)state;
    reg_hmap *m = reg_hmap_new();
    assert_non_null(m);
    int a = 1, b = 2, c = 3;
    assert_int_equal(reg_hmap_puts(m, "subject/with/slash", &a), 0);
    assert_int_equal(reg_hmap_puti(m, 42, &b), 0);
    assert_ptr_equal(reg_hmap_gets(m, "subject/with/slash"), &a);
    assert_ptr_equal(reg_hmap_geti(m, 42), &b);
    assert_null(reg_hmap_gets(m, "subject/with"));
    assert_null(reg_hmap_geti(m, 43));
    assert_int_equal(reg_hmap_puts(m, "subject/with/slash", &c), 0); /* replace */
    assert_ptr_equal(reg_hmap_gets(m, "subject/with/slash"), &c);
    assert_int_equal(reg_hmap_count(m), 2);
    /* Keys are bytes: an embedded NUL makes a different key. */
    assert_int_equal(reg_hmap_put(m, "a\0b", 3, &a), 0);
    assert_null(reg_hmap_get(m, "a\0c", 3));
    assert_ptr_equal(reg_hmap_get(m, "a\0b", 3), &a);
    reg_hmap_free(m);
}

static void test_random_puts_and_deletes_match_a_model(void **state)
{
    (void)state;
    enum { KEYS = 2000, STEPS = 60000 };
    static int present[KEYS];
    static int values[KEYS];
    memset(present, 0, sizeof(present));
    reg_hmap *m = reg_hmap_new();
    assert_non_null(m);
    unsigned seed = 12345;
    size_t count = 0;
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % KEYS);
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        if ((seed >> 4) % 3) {
            values[k] = step;
            assert_int_equal(reg_hmap_puts(m, key, &values[k]), 0);
            if (!present[k])
                count++;
            present[k] = 1;
        } else {
            void *old = reg_hmap_del(m, key, strlen(key));
            assert_ptr_equal(old, present[k] ? &values[k] : NULL);
            if (present[k])
                count--;
            present[k] = 0;
        }
        if (step % 5000 == 0) {
            for (int i = 0; i < KEYS; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                assert_ptr_equal(reg_hmap_gets(m, key), present[i] ? &values[i] : NULL);
            }
        }
    }
    assert_int_equal(reg_hmap_count(m), count);
    /* Iteration visits each live entry once. */
    size_t seen = 0;
    const void *k;
    size_t kl;
    void *v;
    for (size_t pos = 0; reg_hmap_next(m, &pos, &k, &kl, &v);) {
        char buf[16] = {0};
        assert_true(kl < sizeof(buf));
        memcpy(buf, k, kl); /* keys are bytes, not NUL-terminated */
        int idx = atoi(buf + 1);
        assert_true(present[idx]);
        assert_ptr_equal(v, &values[idx]);
        seen++;
    }
    assert_int_equal(seen, count);
    reg_hmap_free(m);
}

/* Keys longer than a slot holds: copied ones must not depend on the caller's buffer,
 * borrowed ones are the caller's memory; both survive growth and backward shifts. */
static void test_long_keys_copied_and_borrowed(void **state)
{
    (void)state;
    enum { N = 600 };
    static char borrowed[N][40];
    static int values[N];
    reg_hmap *m = reg_hmap_new();
    assert_non_null(m);
    for (int i = 0; i < N; i++) {
        snprintf(borrowed[i], sizeof(borrowed[i]), "a-rather-long-subject-name-%d", i);
        if (i % 2) {
            char tmp[40];
            memcpy(tmp, borrowed[i], sizeof(tmp));
            assert_int_equal(reg_hmap_puts(m, tmp, &values[i]), 0);
            memset(tmp, 'x', sizeof(tmp)); /* the map kept its own copy */
        } else {
            assert_int_equal(reg_hmap_put_ref(m, borrowed[i], strlen(borrowed[i]), &values[i]), 0);
        }
    }
    for (int i = 0; i < N; i += 3)
        assert_ptr_equal(reg_hmap_del(m, borrowed[i], strlen(borrowed[i])), &values[i]);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(reg_hmap_gets(m, borrowed[i]), i % 3 ? &values[i] : NULL);
    /* 64-bit keys live in the slot */
    assert_int_equal(reg_hmap_putu64(m, 0x0123456789abcdefULL, &values[1]), 0);
    assert_ptr_equal(reg_hmap_getu64(m, 0x0123456789abcdefULL), &values[1]);
    assert_null(reg_hmap_getu64(m, 0x0123456789abcdeeULL));
    reg_hmap_free(m);
}

/* reg_hash64 keys the lookup cache and the text index: it must depend on every byte,
 * on the length and on the seed, and not on where the bytes sit in memory. */
static void test_hash64_depends_on_every_byte(void **state)
{
    (void)state;
    unsigned char buf[130], copy[131];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= 129; len++) {
        uint64_t h = reg_hash64(buf, len, 0);
        memcpy(copy + 1, buf, len); /* unaligned */
        assert_true(h == reg_hash64(copy + 1, len, 0));
        assert_true(h != reg_hash64(buf, len, 1));
        if (len < 129)
            assert_true(h != reg_hash64(buf, len + 1, 0));
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                buf[i] ^= (unsigned char)(1u << bit);
                assert_true(h != reg_hash64(buf, len, 0));
                buf[i] ^= (unsigned char)(1u << bit);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_and_string_and_int_keys),
        cmocka_unit_test(test_random_puts_and_deletes_match_a_model),
        cmocka_unit_test(test_long_keys_copied_and_borrowed),
        cmocka_unit_test(test_hash64_depends_on_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
