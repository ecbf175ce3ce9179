/* test_pct.c - cg_pct_decode (common/pct.h), the one percent-decoder of the registry's
 * query strings (registry/http.c, with '+' as space) and the registry client's URL
 * credentials (canon/registry_client.c, without). Proves the rules both callers relied
 * on before they shared it: escapes in either case, '+' only with the flag, an escape
 * that is cut short or not hexadecimal kept as written, nothing read past the span, and
 * NUL bytes (decoded or raw) stored in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/pct.h"

/* Decodes the whole of s (strlen) and checks the result against want. */
static void check(const char *s, unsigned flags, const char *want)
{
    char *got = cg_pct_decode(s, strlen(s), flags);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_escapes_decode_in_either_case(void **state)
{
    (void)state;
    check("a%41b", 0, "aAb");
    check("%4a%4A", 0, "JJ");
    check("%2F%3a%40%25", 0, "/:@%");
    check("%e2%82%ac", 0, "\xe2\x82\xac"); /* UTF-8 bytes, one escape each */
    check("%25%34%31", 0, "%41");          /* decoded once, never twice */
    check("", 0, "");
    check("plain", CG_PCT_PLUS_SPACE, "plain");
}

static void test_plus_is_a_space_only_with_the_flag(void **state)
{
    (void)state;
    check("a+b", CG_PCT_PLUS_SPACE, "a b");
    check("a+b", 0, "a+b");               /* userinfo: '+' is a character of the password */
    check("%2B", CG_PCT_PLUS_SPACE, "+"); /* an escaped '+' stays a '+' */
    check("%2B", 0, "+");
    check("++", CG_PCT_PLUS_SPACE, "  ");
}

static void test_short_or_invalid_escapes_are_kept_as_written(void **state)
{
    (void)state;
    check("%", 0, "%");
    check("ab%", 0, "ab%");
    check("%4", 0, "%4");
    check("x%4", CG_PCT_PLUS_SPACE, "x%4");
    check("%zz", 0, "%zz");
    check("%4g", 0, "%4g");
    check("%g4", 0, "%g4");
    check("%%41", 0, "%A");               /* the first '%' is kept, the second decodes */
    check("%+", CG_PCT_PLUS_SPACE, "% "); /* the kept '%' does not swallow the '+' */
    check("%+1", CG_PCT_PLUS_SPACE, "% 1");
}

static void test_nothing_past_the_span_is_read(void **state)
{
    (void)state;
    /* "%41" cut to two bytes: the escape is short inside the span, so it is kept */
    char *got = cg_pct_decode("%41", 2, 0);
    assert_non_null(got);
    assert_string_equal(got, "%4");
    free(got);
    got = cg_pct_decode("user:pass", 4, 0);
    assert_non_null(got);
    assert_string_equal(got, "user");
    free(got);
    got = cg_pct_decode("anything", 0, CG_PCT_PLUS_SPACE);
    assert_non_null(got);
    assert_string_equal(got, "");
    free(got);
}

static void test_nul_bytes_are_stored_in_place(void **state)
{
    (void)state;
    /* "%00" decodes to a NUL inside the result; what follows is still decoded after it,
     * and the terminator comes after all of it (the callers read up to the first NUL) */
    static const char want[] = {'a', '\0', 'b', ' ', '\0'};
    char *got = cg_pct_decode("a%00b+", 6, CG_PCT_PLUS_SPACE);
    assert_non_null(got);
    assert_memory_equal(got, want, sizeof(want));
    assert_int_equal(strlen(got), 1);
    free(got);
    /* a raw NUL inside the span is copied like any byte */
    static const char raw[] = {'x', '\0', '%', '4', '1'};
    static const char want_raw[] = {'x', '\0', 'A', '\0'};
    got = cg_pct_decode(raw, sizeof(raw), 0);
    assert_non_null(got);
    assert_memory_equal(got, want_raw, sizeof(want_raw));
    free(got);
    /* a NUL where an escape's second digit should be ends the escape: all is kept */
    static const char cut[] = {'%', '0', '\0', '1'};
    static const char want_cut[] = {'%', '0', '\0', '1', '\0'};
    got = cg_pct_decode(cut, sizeof(cut), 0);
    assert_non_null(got);
    assert_memory_equal(got, want_cut, sizeof(want_cut));
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_decode_in_either_case),
        cmocka_unit_test(test_plus_is_a_space_only_with_the_flag),
        cmocka_unit_test(test_short_or_invalid_escapes_are_kept_as_written),
        cmocka_unit_test(test_nothing_past_the_span_is_read),
        cmocka_unit_test(test_nul_bytes_are_stored_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
