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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_and_string_and_int_keys),
        cmocka_unit_test(test_random_puts_and_deletes_match_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
