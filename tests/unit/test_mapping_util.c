/* test_mapping_util.c - the small machines under the declarative mapping
 * (translators/mapping_internal.h): the JSON line table, domain paths, the date/time
 * format parser, normalisation, suggestions and UUIDs. Expected instants were computed
 * with Python's datetime; expected UUIDs with Python's uuid module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "translators/mapping.h"
#include "translators/mapping_internal.h"

static void test_line_table_follows_the_json_grammar(void **state)
{
    (void)state;
    /* braces, brackets, quotes and "newlines" inside strings must not confuse it */
    const char *t = "{\n"
                    "  \"a\": \"x{[\\\"\\n\",\n"
                    "  \"b\": [\n"
                    "    1,\n"
                    "    {\"c\": 2}\n"
                    "  ],\n"
                    "  \"d/e~f\": {\n"
                    "    \"\\u00e9t\\u00e9\": true\n"
                    "  }\n"
                    "}\n";
    tr_lines *l = tr_lines_scan(t, strlen(t));
    assert_non_null(l);
    assert_int_equal(tr_lines_find(l, ""), 1);
    assert_int_equal(tr_lines_find(l, "/a"), 2);
    assert_int_equal(tr_lines_find(l, "/b"), 3);
    assert_int_equal(tr_lines_find(l, "/b/0"), 4);
    assert_int_equal(tr_lines_find(l, "/b/1"), 5);
    assert_int_equal(tr_lines_find(l, "/b/1/c"), 5);
    assert_int_equal(tr_lines_find(l, "/d~1e~0f"), 7);
    assert_int_equal(tr_lines_find(l, "/d~1e~0f/\xc3\xa9t\xc3\xa9"), 8);
    /* unknown pointers fall back to the nearest ancestor */
    assert_int_equal(tr_lines_find(l, "/b/1/zz/yy"), 5);
    assert_int_equal(tr_lines_find(l, "/nope"), 1);
    tr_lines_free(l);

    char buf[32] = "/x";
    assert_int_equal(tr_pointer_append(buf, sizeof buf, "a/b~c"), 0);
    assert_string_equal(buf, "/x/a~1b~0c");
    assert_int_equal(tr_pointer_append(buf, sizeof buf, "a very long key that cannot fit"), -1);
}

static void test_paths(void **state)
{
    (void)state;
    tr_path p;
    assert_null(tr_path_parse("a.b[2][0].c[\"x.y[z]\"]", &p));
    assert_int_equal(p.n_steps, 6);
    assert_string_equal(p.steps[0].key, "a");
    assert_string_equal(p.steps[1].key, "b");
    assert_null(p.steps[2].key);
    assert_int_equal(p.steps[2].index, 2);
    assert_int_equal(p.steps[3].index, 0);
    assert_string_equal(p.steps[4].key, "c");
    assert_string_equal(p.steps[5].key, "x.y[z]");
    json_t *j = json_loads("{\"a\": {\"b\": [0, 1, [{\"c\": {\"x.y[z]\": 5}}]]}}", 0, NULL);
    const json_t *v = tr_path_get(&p, j);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 5);
    tr_path_clear(&p);
    assert_null(tr_path_parse("a[9]", &p));
    assert_null(tr_path_get(&p, j)); /* not an array */
    tr_path_clear(&p);
    json_decref(j);

    const char *bad[] = {"", ".a", "a.", "a..b", "a[", "a[x]", "a[1", "a[\"x]", "a[0]b", "[0]."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cg_err *e = tr_path_parse(bad[i], &p);
        if (!e) {
            fprintf(stderr, "path '%s' was accepted\n", bad[i]);
            fail();
        }
        assert_int_equal(cg_err_code(e), CG_EINVAL);
        cg_err_free(e);
    }
}

static int64_t us(const char *fmt, const char *s)
{
    tr_instant t;
    if (tr_time_parse(fmt, s, strlen(s), &t) != 0) {
        fprintf(stderr, "'%s' does not parse with '%s'\n", s, fmt);
        fail();
    }
    return t.epoch_us;
}

static void expect_no_parse(const char *fmt, const char *s)
{
    tr_instant t;
    if (tr_time_parse(fmt, s, strlen(s), &t) == 0) {
        fprintf(stderr, "'%s' parsed with '%s'\n", s, fmt);
        fail();
    }
}

static void test_time_formats(void **state)
{
    (void)state;
    /* datetime(2024,3,1,9,30,tzinfo=utc).timestamp() */
    assert_int_equal(us("iso8601", "2024-03-01T09:30:00Z"), 1709285400000000LL);
    assert_int_equal(us("iso8601", "2024-03-01 11:30+02:00"), 1709285400000000LL);
    assert_int_equal(us("iso8601", "2024-03-01T04:30:00.5-0500"), 1709285400500000LL);
    assert_int_equal(us("iso8601", "2024-03-01"), 1709251200000000LL);
    assert_int_equal(us("iso8601", "1969-12-31T23:59:59.999999Z"), -1);
    assert_int_equal(us("%F %T", "2024-03-01 09:30:00"), 1709285400000000LL);
    assert_int_equal(us("%d %b %Y", "1 MAR 2024"), 1709251200000000LL);
    assert_int_equal(us("%B %d, %Y", "march 1, 2024"), 1709251200000000LL);
    assert_int_equal(us("%y%m%d", "240301"), 1709251200000000LL);
    assert_int_equal(us("%y%m%d", "690301"), -26438400000000LL);   /* 1969 */
    assert_int_equal(us("%Y-%j", "2024-061"), 1709251200000000LL); /* day 61 of a leap year */
    assert_int_equal(us("%s", "1709285400"), 1709285400000000LL);
    assert_int_equal(us("%s.%f", "-1.25"), -1250000LL);
    assert_int_equal(us("%Y-%m", "2024-03"), 1709251200000000LL);
    assert_int_equal(us("%H:%M:%S.%f%z", "09:30:00.123456789Z"), 34200123456LL);
    assert_int_equal(us("100%% %Y", "100% 2024"), 1704067200000000LL);
    tr_instant t;
    assert_int_equal(tr_time_parse("%H:%M%z", "23:15+01:00", 11, &t), 0);
    assert_int_equal(t.time_of_day_us, (22 * 3600 + 15 * 60) * 1000000LL); /* in UTC */
    assert_int_equal(tr_time_parse("iso8601", "2024-01-01T23:00:00-05:00", 25, &t), 0);
    assert_int_equal(t.time_of_day_us, 4 * 3600 * 1000000LL); /* 2024-01-02T04:00Z */
    assert_int_equal(tr_time_parse("%H:%M%z", "00:30+01:00", 11, &t), 0);
    assert_int_equal(t.time_of_day_us, (23 * 3600 + 30 * 60) * 1000000LL); /* the day before */

    expect_no_parse("iso8601", "2024-02-30");
    expect_no_parse("iso8601", "2023-02-29");
    expect_no_parse("iso8601", "2024-03-01T24:00");
    expect_no_parse("iso8601", "2024-03-01T10:60");
    expect_no_parse("iso8601", "2024-03-01T10:00:00.1234567891");
    expect_no_parse("iso8601", "2024-03-01T10:00+25:00");
    expect_no_parse("iso8601", "2024-3-1");
    expect_no_parse("iso8601", "2024-03-01x");
    expect_no_parse("%Y-%j", "2023-366");
    expect_no_parse("%d/%m/%Y", "12/05/1990 ");
    expect_no_parse("%b", "Mrz");

    assert_null(tr_time_format_check("iso8601"));
    assert_null(tr_time_format_check("%d.%m.%Y %H:%M:%S.%f %z"));
    assert_non_null(tr_time_format_check("%Q"));
    assert_non_null(tr_time_format_check("%"));
    assert_non_null(tr_time_format_check(""));
    assert_int_equal(tr_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tr_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tr_days_from_civil(1600, 1, 1), -135140);
}

static void test_normalisations_compose_in_order(void **state)
{
    (void)state;
    char s[64];
    uint8_t ops[] = {TR_NORM_COLLAPSE, TR_NORM_TRIM, TR_NORM_LOWER};
    strcpy(s, " \t Ann  \n Marie\tO'Neil  ");
    size_t n = tr_normalize(s, strlen(s), ops, 3);
    assert_int_equal(n, strlen("ann marie o'neil"));
    assert_memory_equal(s, "ann marie o'neil", n);
    uint8_t up[] = {TR_NORM_UPPER};
    strcpy(s, "\xc3\xa9t\xc3\xa9-x"); /* UTF-8 is left alone */
    n = tr_normalize(s, strlen(s), up, 1);
    assert_memory_equal(s, "\xc3\xa9T\xc3\xa9-X", n);
    uint8_t trim[] = {TR_NORM_TRIM};
    strcpy(s, "   ");
    assert_int_equal(tr_normalize(s, 3, trim, 1), 0);
    assert_int_equal(tr_norm_parse("collapse_spaces"), TR_NORM_COLLAPSE);
    assert_int_equal(tr_norm_parse("Trim"), 0);
}

static void test_suggestions(void **state)
{
    (void)state;
    const char *c[] = {"given_name", "family_name", "email", "phone"};
    assert_string_equal(tr_suggest("emial", c, 4), "email");
    assert_string_equal(tr_suggest("given_nmae", c, 4), "given_name");
    assert_string_equal(tr_suggest("phon", c, 4), "phone");
    assert_null(tr_suggest("address", c, 4));
    assert_int_equal(tr_edit_distance("form", "from", 5), 1);
    assert_int_equal(tr_edit_distance("kitten", "sitting", 5), 3);
    assert_int_equal(tr_edit_distance("a", "abcdef", 2), 3); /* capped */
}

static void test_utf8_cut_backs_up_to_a_character_start(void **state)
{
    (void)state;
    const char *s = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* a b é € 😀 z */
    size_t len = strlen(s);
    assert_int_equal(tr_utf8_cut(s, len, 100), len); /* fits: all of it */
    assert_int_equal(tr_utf8_cut(s, len, len), len);
    assert_int_equal(tr_utf8_cut(s, len, 2), 2);
    assert_int_equal(tr_utf8_cut(s, len, 3), 2);  /* inside é */
    assert_int_equal(tr_utf8_cut(s, len, 4), 4);  /* after é */
    assert_int_equal(tr_utf8_cut(s, len, 5), 4);  /* inside € */
    assert_int_equal(tr_utf8_cut(s, len, 6), 4);  /* inside € */
    assert_int_equal(tr_utf8_cut(s, len, 7), 7);  /* after € */
    assert_int_equal(tr_utf8_cut(s, len, 10), 7); /* inside 😀 */
    assert_int_equal(tr_utf8_cut(s, len, 11), 11);
    assert_int_equal(tr_utf8_cut(s, len, 0), 0);
}

static void test_uuids(void **state)
{
    (void)state;
    uint8_t url[16], ns[16];
    char out[37];
    assert_int_equal(tr_uuid_parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8", 36, url), 0);
    /* uuid.uuid5(uuid.NAMESPACE_URL, "canongate:person") */
    assert_int_equal(tr_uuid_v5(url, "canongate:person", 16, out), 0);
    assert_string_equal(out, "140fb108-8f44-5aec-93a9-83bc5c4d1fd1");
    assert_int_equal(tr_uuid_parse(out, 36, ns), 0);
    assert_int_equal(tr_uuid_v5(ns, "alice@example.com", 17, out), 0);
    assert_string_equal(out, "aae2b3d4-93a0-51f4-91d7-80947e33e800");
    /* a long name goes through the heap path and still agrees with the short one's rule */
    char big[600];
    memset(big, 'a', sizeof big);
    assert_int_equal(tr_uuid_v5(ns, big, sizeof big, out), 0);
    assert_int_equal(out[14], '5');
    assert_true(strchr("89ab", out[19]) != NULL);
    assert_int_equal(tr_uuid_parse("6BA7B811-9DAD-11D1-80B4-00C04FD430C8", 36, ns), 0);
    assert_memory_equal(ns, url, 16);
    assert_int_equal(tr_uuid_parse("6ba7b8119dad11d180b400c04fd430c8", 32, ns), -1);
    assert_int_equal(tr_uuid_parse("6ba7b811-9dad-11d1-80b4-00c04fd430cg", 36, ns), -1);
    assert_int_equal(tr_uuid_parse("6ba7b811-9dad-11d1-80b4+00c04fd430c8", 36, ns), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_table_follows_the_json_grammar),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_normalisations_compose_in_order),
        cmocka_unit_test(test_suggestions),
        cmocka_unit_test(test_utf8_cut_backs_up_to_a_character_start),
        cmocka_unit_test(test_uuids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
