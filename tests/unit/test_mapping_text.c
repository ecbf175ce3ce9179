/* test_mapping_text.c - tr_mapping_apply_text() is json_loadb() + tr_mapping_apply().
 *
 * The fast path scans the record's text itself, so it must accept and refuse exactly what
 * jansson does and produce the same bytes. Proven on hand-picked records (escapes,
 * Unicode, duplicates, number ranges, every JSON error class) and on every truncation and
 * thousands of deterministic random mutations of them, for two mappings that read
 * scalars, nested members, array items and whole containers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry/canon_derive.h"
#include "translators/mapping.h"

static const char *THING =
    "{\"type\":\"record\",\"name\":\"Thing\",\"canon.key\":\"id\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"n_int\",\"type\":[\"null\",\"int\"],\"default\":null},"
    "{\"name\":\"n_long\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"n_double\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"flag\",\"type\":[\"null\",\"boolean\"],\"default\":null},"
    "{\"name\":\"label\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"nums\",\"type\":{\"type\":\"array\",\"items\":\"long\"},\"default\":[]},"
    "{\"name\":\"inner\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Inner\",\"fields\":["
    "{\"name\":\"a\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"c\",\"type\":[\"null\",\"string\"],\"default\":null}]}],\"default\":null}]}";

static const char *THING_MAP =
    "{\"source\": {\"topic\": \"t\"}, \"entity\": \"thing\", \"domain\": \"d\","
    " \"key\": {\"from\": [\"id\", \"sub[0]\"], \"separator\": \"/\"},"
    " \"event_time\": {\"from\": \"at\", \"if_missing\": \"record_timestamp\"},"
    " \"delete\": [{\"path\": \"in\", \"present\": false}, {\"path\": \"gone\", \"in\": [true, "
    "1]}],"
    " \"fields\": {\"n_int\": \"a.x\", \"n_long\": \"arr[1]\", \"n_double\": \"r\","
    " \"flag\": \"e\", \"label\": {\"from\": \"s\", \"clear_when_empty\": true},"
    " \"nums\": \"h\", \"inner.a\": \"in.a\", \"inner.c\": \"in[\\\"c.d\\\"]\"}}";

static const char *PERSON_MAP =
    "{\"source\": {\"topic\": \"hr.employees\"}, \"entity\": \"person\", \"domain\": \"hr\","
    " \"key\": {\"from\": \"work_email\", \"normalize\": [\"trim\", \"lower\"]},"
    " \"event_time\": {\"from\": \"updated_at\"},"
    " \"delete\": {\"path\": \"status\", \"equals\": \"deleted\"},"
    " \"fields\": {\"given_name\": \"name.first\", \"family_name\": \"name.last\","
    " \"birth_date\": {\"from\": \"dob\", \"format\": \"%d/%m/%Y\"},"
    " \"employment_status\": {\"from\": \"status\", \"enum\": {\"active\": \"ACTIVE\"},"
    " \"enum_default\": \"UNKNOWN\"},"
    " \"address.city\": \"home.city\", \"tags\": \"tags\"}}";

static const char *RECORDS[] = {
    /* thing */
    "{\"id\": \"k1\", \"sub\": [\"s\"], \"in\": {\"a\": \"A\", \"c.d\": \"C\"}, \"a\": {\"x\": 5},"
    " \"arr\": [1, 2, 3], \"r\": 1.5e3, \"e\": true, \"s\": \"x\", \"h\": [1, 2]}",
    "{\"id\": \"k\\u00e9\\ud83d\\ude00\", \"in\": {\"\\u0061\": \"\\\"q\\\"\\n\\t\\/\"}, \"at\": "
    "12}",
    "{\"id\": \"k\", \"in\": {\"a\": \"first\"}, \"in\": {\"c.d\": \"second\"}}",
    "{\"id\": \"k\", \"in\": {\"a\": {\"deep\": [1, {\"x\": null}]}}}",
    "{\"id\": \"k\", \"in\": {}, \"a\": {\"x\": -0}, \"arr\": [0, -9223372036854775808], \"r\": "
    "-0.0}",
    "{\"id\": \"k\", \"in\": {}, \"arr\": [0, 9223372036854775808]}",
    "{\"id\": \"k\", \"in\": {}, \"r\": 1e400}",
    "{\"id\": \"k\", \"in\": {}, \"r\": 1e-400, \"x\": 123456789012345678901234567890}",
    "{\"id\": \"k\", \"in\": {}, \"gone\": 1}",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"\", \"e\": false, \"h\": []}",
    "{\"id\": 7, \"in\": [], \"h\": [\"1\", 2.0]}",
    "[1, 2]",
    "  {\"id\": \"k\", \"in\": {}}  \n",
    "{\"id\": \"k\", \"in\": {}} x",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"a\\u0000b\"}",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"\\ud800\"}",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"\\udc00x\"}",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"\xc3\x28\"}",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"\xed\xa0\x80\"}",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"\xf0\x82\x82\xac\"}",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"tab\there\"}",
    "{\"id\": \"k\", \"in\": {}, \"r\": 01}",
    "{\"id\": \"k\", \"in\": {}, \"r\": 1.}",
    "{\"id\": \"k\", \"in\": {}, \"r\": .5}",
    "{\"id\": \"k\", \"in\": {}, \"r\": +1}",
    "{\"id\": \"k\", \"in\": {}, \"e\": tru}",
    "{\"id\": \"k\", \"in\": {}, \"e\": truex}",
    "{\"id\": \"k\", \"in\": {}, \"e\": True}",
    "{\"id\": \"k\" \"in\": {}}",
    "{\"id\": \"k\", \"in\": {},}",
    "{\"id\": \"k\", \"in\": [1,]}",
    "{id: \"k\"}",
    "",
    "   ",
    "\"just a string\"",
    "{\"id\": \"k\", \"in\": {}, \"s\": \"\\x\"}",
    /* person */
    "{\"employee_no\": 1, \"work_email\": \" Alice@Example.com\", \"name\": {\"first\": \"Alice\","
    " \"last\": \"Smith\"}, \"dob\": \"12/05/1990\", \"status\": \"active\", \"home\": {\"city\":"
    " \"Leeds\"}, \"tags\": [\"a\", \"b\"], \"updated_at\": \"2024-03-01T09:30:00Z\"}",
    "{\"work_email\": \"b@c\", \"status\": \"deleted\", \"updated_at\": \"2024-03-01T09:30:00Z\"}",
    "{\"work_email\": \"b@c\", \"dob\": \"31/02/1990\", \"updated_at\": \"2024-03-01T09:30:00Z\"}",
    "{\"work_email\": \"b@c\", \"tags\": \"x\", \"updated_at\": \"2024-03-01T09:30:00Z\"}",
};

typedef struct fixture {
    reg_schema *canon[2], *upd[2];
    tr_mapping *m[2];
} fixture;

static fixture fx;

static reg_schema *parse_schema(const char *text)
{
    reg_schema *s = NULL;
    cg_err *e = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    assert_null(e);
    return s;
}

static void load(int i, const char *schema, const char *map)
{
    fx.canon[i] = parse_schema(schema);
    char *u = NULL;
    assert_null(reg_canon_derive_update(fx.canon[i], &u));
    fx.upd[i] = parse_schema(u);
    free(u);
    assert_null(tr_mapping_parse(map, strlen(map), "m.json", &fx.m[i]));
    cg_err *e = tr_mapping_bind(fx.m[i], fx.canon[i], fx.upd[i], 3);
    if (e) {
        fprintf(stderr, "%s\n", cg_err_msg(e));
        fail();
    }
}

static int setup(void **state)
{
    (void)state;
    const char *d = getenv("CANON_TESTDATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/../../../schemas/person.avsc", d ? d : "tests/unit/data");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    load(0, THING, THING_MAP);
    load(1, buf, PERSON_MAP);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        tr_mapping_free(fx.m[i]);
        reg_schema_free(fx.canon[i]);
        reg_schema_free(fx.upd[i]);
    }
    return 0;
}

/* Compares both paths on text; returns 1 when the record was valid JSON. */
static int same(const tr_mapping *m, const char *text, size_t len, tr_output *a, tr_output *b)
{
    json_error_t je;
    json_t *r = json_loadb(text, len, 0, &je);
    cg_err *ea = r ? tr_mapping_apply(m, r, 99, 5, a) : NULL;
    cg_err *eb = tr_mapping_apply_text(m, text, len, 99, 5, b);
    int ok = 1;
    if (!r) {
        if (!eb || cg_err_code(eb) != CG_EPARSE) {
            fprintf(stderr, "jansson refuses (%s) but the scanner says %s\n", je.text,
                    eb ? cg_err_msg(eb) : "ok");
            ok = 0;
        }
    } else if (ea || eb) {
        if (!ea || !eb || strcmp(cg_err_msg(ea), cg_err_msg(eb)) != 0) {
            fprintf(stderr, "errors differ: tree '%s', text '%s'\n", ea ? cg_err_msg(ea) : "ok",
                    eb ? cg_err_msg(eb) : "ok");
            ok = 0;
        }
    } else if (a->key.len != b->key.len || memcmp(a->key.data, b->key.data, a->key.len) != 0 ||
               a->value.len != b->value.len ||
               memcmp(a->value.data, b->value.data, a->value.len) != 0 ||
               a->is_delete != b->is_delete) {
        fprintf(stderr, "updates differ\n");
        ok = 0;
    }
    if (!ok) {
        fprintf(stderr, "record (%zu bytes): %.*s\n", len, (int)len, text);
        fail();
    }
    cg_err_free(ea);
    cg_err_free(eb);
    json_decref(r);
    return r != NULL;
}

static void test_hand_picked_records_give_the_same_result(void **state)
{
    (void)state;
    tr_output a, b;
    tr_output_init(&a);
    tr_output_init(&b);
    int valid = 0, n = (int)(sizeof RECORDS / sizeof RECORDS[0]);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++)
            valid += same(fx.m[k], RECORDS[i], strlen(RECORDS[i]), &a, &b);
    /* both kinds are represented */
    assert_true(valid > 20);
    assert_true(valid < 2 * n);
    tr_output_free(&a);
    tr_output_free(&b);
}

static void test_the_scanner_builds_the_values_a_mapping_reads(void **state)
{
    (void)state;
    tr_output b;
    tr_output_init(&b);
    const char *r = RECORDS[0];
    assert_null(tr_mapping_apply_text(fx.m[0], r, strlen(r), 0, 0, &b));
    assert_false(b.is_delete);
    assert_int_equal(b.key.len, 4);
    assert_memory_equal(b.key.data, "k1/s", 4);
    cg_err *e = tr_mapping_apply_text(fx.m[0], "{\"id\": 1e400}", 13, 0, 0, &b);
    assert_non_null(e);
    assert_int_equal(cg_err_code(e), CG_EPARSE);
    assert_string_equal(cg_err_msg(e), "record is not valid JSON: real number overflow at byte 7");
    cg_err_free(e);
    tr_output_free(&b);
}

static void test_truncations_and_mutations_give_the_same_result(void **state)
{
    (void)state;
    tr_output a, b;
    tr_output_init(&a);
    tr_output_init(&b);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    static const char alphabet[] = "{}[]\",:\\u0123456789.eE+-truefalsn \t\n\x80\xc3\xff";
    char buf[512];
    for (size_t i = 0; i < sizeof RECORDS / sizeof RECORDS[0]; i++) {
        size_t len = strlen(RECORDS[i]);
        int k = i < 36 ? 0 : 1;
        for (size_t cut = 0; cut < len; cut++)
            same(fx.m[k], RECORDS[i], cut, &a, &b);
        for (int round = 0; round < 300 && len > 0 && len < sizeof buf; round++) {
            memcpy(buf, RECORDS[i], len);
            int muts = 1 + (int)(rng % 3);
            for (int j = 0; j < muts; j++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                buf[rng % len] = alphabet[(rng >> 20) % (sizeof alphabet - 1)];
            }
            same(fx.m[k], buf, len, &a, &b);
        }
    }
    tr_output_free(&a);
    tr_output_free(&b);
}

/* The scanner reads strings eight bytes at a time and points at the ones a mapping reads
 * where they stand: a quote, escape, control byte or non-ASCII byte at every offset of a
 * long string, in values the mapping reads and in values it skips, and every truncation,
 * must still give what jansson + tr_mapping_apply give. */
static void test_special_bytes_at_every_offset_give_the_same_result(void **state)
{
    (void)state;
    tr_output a, b;
    tr_output_init(&a);
    tr_output_init(&b);
    static const char *const specials[] = {"\\n",  "\\\"", "\\u00e9", "\xc3\xa9", "\xe2\x82\xac",
                                           "\x01", "\xff", "\\q",     "\""};
    static const char *const where[] = {"s", "x", "id"};
    char rec[256], str[64];
    int valid = 0;
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++)
        for (size_t w = 0; w < sizeof where / sizeof where[0]; w++)
            for (int off = 0; off <= 24; off++) {
                snprintf(str, sizeof str, "%.*s%s%.*s", off, "abcdefghijklmnopqrstuvwxyz",
                         specials[k], 20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
                int n = snprintf(rec, sizeof rec, "{\"id\": \"k\", \"in\": {}, \"%s\": \"%s\"}",
                                 where[w], str);
                if (!strcmp(where[w], "id"))
                    n = snprintf(rec, sizeof rec, "{\"id\": \"%s\", \"in\": {}}", str);
                assert_true(n > 0 && (size_t)n < sizeof rec);
                valid += same(fx.m[0], rec, (size_t)n, &a, &b);
                for (int cut = n - 12; cut < n; cut++)
                    same(fx.m[0], rec, (size_t)cut, &a, &b);
            }
    assert_true(valid > 0);
    /* a string read in place is the key, and is compared by a delete condition */
    const char *r = "{\"work_email\": \"  Some.One@Example.COM \", \"status\": \"deleted\","
                    " \"updated_at\": \"2024-03-01T09:30:00Z\"}";
    assert_null(tr_mapping_apply_text(fx.m[1], r, strlen(r), 0, 0, &b));
    assert_true(b.is_delete);
    assert_int_equal(b.key.len, 36);
    assert_true(same(fx.m[1], r, strlen(r), &a, &b));
    tr_output_free(&a);
    tr_output_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_picked_records_give_the_same_result),
        cmocka_unit_test(test_the_scanner_builds_the_values_a_mapping_reads),
        cmocka_unit_test(test_truncations_and_mutations_give_the_same_result),
        cmocka_unit_test(test_special_bytes_at_every_offset_give_the_same_result),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
