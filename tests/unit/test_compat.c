/* test_compat.c - the Avro schema resolution rules and the registry's compatibility
 * levels, as tests.
 *
 * Each test is named after the rule it proves and checks a compatible and an
 * incompatible pair where the rule has both. Schemas are written inline with ' for " so
 * they read like the .avsc they stand for; the longer ones (recursive types, records in
 * unions) are files under tests/unit/data/compat/ (found through CANON_TESTDATA_DIR).
 *
 * expect_levels(old, new, backward_ok, forward_ok) registers `new` after `old` under all
 * seven levels: BACKWARD asks "can new read old?", FORWARD "can old read new?", FULL
 * both, the transitive levels the same against the one existing version, NONE nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_data.h"

#include "registry/compat.h"
#include "registry/schema.h"

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                             */

/* Parses a schema written with ' for ". Fails the test if it does not parse. */
static reg_schema *sq(const char *text)
{
    size_t n = strlen(text);
    char *json = malloc(n + 1);
    assert_non_null(json);
    for (size_t i = 0; i <= n; i++)
        json[i] = text[i] == '\'' ? '"' : text[i];
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(json, n, NULL, 0, &s);
    if (err)
        fail_msg("schema does not parse: %s\n%s", cg_err_msg(err), json);
    free(json);
    return s;
}

/* Parses tests/unit/data/compat/<name>.avsc. */
static reg_schema *load(const char *name)
{
    const char *dir = getenv("CANON_TESTDATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/compat/%s.avsc", dir ? dir : "tests/unit/data", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (is CANON_TESTDATA_DIR set?)", path);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(buf, n, NULL, 0, &s);
    if (err)
        fail_msg("%s does not parse: %s", path, cg_err_msg(err));
    return s;
}

static void print_result(const reg_compat_result *r)
{
    for (size_t i = 0; i < reg_compat_result_count(r); i++)
        print_message("  %s\n", reg_compat_result_message(r, i));
}

/* Problems found registering `cand` after `olds` (versions 1..n) under level. */
static size_t check_n(reg_compat_level level, reg_schema *const *olds, size_t n, reg_schema *cand,
                      reg_compat_result **out)
{
    reg_compat_result *r = reg_compat_result_new();
    assert_non_null(r);
    int versions[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++)
        versions[i] = (int)i + 1;
    size_t c = reg_compat_check(level, cand, (const reg_schema *const *)olds, versions, n, r);
    assert_int_equal(c, reg_compat_result_count(r));
    if (out)
        *out = r;
    else
        reg_compat_result_free(r);
    return c;
}

static void expect_levels_s(reg_schema *o, reg_schema *n, int backward_ok, int forward_ok)
{
    static const reg_compat_level levels[] = {
        REG_COMPAT_NONE,
        REG_COMPAT_BACKWARD,
        REG_COMPAT_BACKWARD_TRANSITIVE,
        REG_COMPAT_FORWARD,
        REG_COMPAT_FORWARD_TRANSITIVE,
        REG_COMPAT_FULL,
        REG_COMPAT_FULL_TRANSITIVE,
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        reg_compat_level l = levels[i];
        int want;
        switch (l) {
        case REG_COMPAT_BACKWARD:
        case REG_COMPAT_BACKWARD_TRANSITIVE:
            want = backward_ok;
            break;
        case REG_COMPAT_FORWARD:
        case REG_COMPAT_FORWARD_TRANSITIVE:
            want = forward_ok;
            break;
        case REG_COMPAT_FULL:
        case REG_COMPAT_FULL_TRANSITIVE:
            want = backward_ok && forward_ok;
            break;
        default:
            want = 1;
            break;
        }
        reg_compat_result *r = NULL;
        size_t c = check_n(l, &o, 1, n, &r);
        if ((c == 0) != want) {
            print_message("level %s: expected %s, got %zu problem(s)\n", reg_compat_level_name(l),
                          want ? "compatible" : "incompatible", c);
            print_result(r);
            reg_compat_result_free(r);
            fail();
        }
        reg_compat_result_free(r);
    }
}

static void expect_levels(const char *old_sq, const char *new_sq, int backward_ok, int forward_ok)
{
    reg_schema *o = sq(old_sq), *n = sq(new_sq);
    expect_levels_s(o, n, backward_ok, forward_ok);
    reg_schema_free(o);
    reg_schema_free(n);
}

/* The messages of "can reader read writer?", joined by '\n', in a static buffer. */
static const char *problems_of(reg_schema *reader, reg_schema *writer, int version, unsigned flags,
                               size_t *count)
{
    static char buf[65536];
    reg_compat_result *r = reg_compat_result_new();
    assert_non_null(r);
    size_t c = reg_compat_can_read_ex(reader, writer, version, flags, r);
    assert_int_equal(c, reg_compat_result_count(r));
    buf[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < c; i++) {
        const char *m = reg_compat_result_message(r, i);
        size_t n = strlen(m);
        if (len + n + 2 > sizeof buf)
            break; /* keep what fits; tests look for short needles */
        memcpy(buf + len, m, n);
        buf[len + n] = '\n';
        len += n + 1;
        buf[len] = '\0';
    }
    reg_compat_result_free(r);
    if (count)
        *count = c;
    return buf;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("expected to find\n  %s\nin\n  %s", (needle), (hay));                         \
    } while (0)

/* A record R with the given fields (written with '). */
#define REC(fields) "{'type':'record','name':'R','namespace':'t','fields':[" fields "]}"

/* ---------------------------------------------------------------------------------- */
/* Primitive types and promotions                                                      */

static void test_primitive_resolution_matrix_follows_the_specification(void **state)
{
    (void)state;
    /* readable[w][r]: can data written as w be read as r? From the specification:
     * identical types, int->long/float/double, long->float/double, float->double,
     * string<->bytes. Nothing else, in particular no narrowing and no boolean<->int. */
    static const char *const names[] = {"null",  "boolean", "int",   "long",
                                        "float", "double",  "bytes", "string"};
    static const int readable[8][8] = {
        /*            null bool int long flt dbl byt str */
        /* null    */ {1, 0, 0, 0, 0, 0, 0, 0},
        /* boolean */ {0, 1, 0, 0, 0, 0, 0, 0},
        /* int     */ {0, 0, 1, 1, 1, 1, 0, 0},
        /* long    */ {0, 0, 0, 1, 1, 1, 0, 0},
        /* float   */ {0, 0, 0, 0, 1, 1, 0, 0},
        /* double  */ {0, 0, 0, 0, 0, 1, 0, 0},
        /* bytes   */ {0, 0, 0, 0, 0, 0, 1, 1},
        /* string  */ {0, 0, 0, 0, 0, 0, 1, 1},
    };
    for (int w = 0; w < 8; w++) {
        for (int r = 0; r < 8; r++) {
            char ws[64], rs[64];
            snprintf(ws, sizeof ws, "'%s'", names[w]);
            snprintf(rs, sizeof rs, "'%s'", names[r]);
            reg_schema *writer = sq(ws), *reader = sq(rs);
            size_t c = 0;
            const char *msgs = problems_of(reader, writer, 0, 0, &c);
            if ((c == 0) != readable[w][r])
                fail_msg("writer %s, reader %s: expected %s\n%s", names[w], names[r],
                         readable[w][r] ? "readable" : "unreadable", msgs);
            if (c)
                assert_contains(msgs, "errorType:'TYPE_MISMATCH'");
            reg_schema_free(writer);
            reg_schema_free(reader);
        }
    }
}

static void test_int_widened_to_long_is_backward_but_not_forward_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'n','type':'int'}"), REC("{'name':'n','type':'long'}"), 1, 0);
}

static void test_long_narrowed_to_int_is_backward_incompatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'n','type':'long'}"), REC("{'name':'n','type':'int'}"), 0, 1);
}

static void test_float_widened_to_double_is_backward_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'n','type':'float'}"), REC("{'name':'n','type':'double'}"), 1, 0);
}

static void test_string_to_bytes_is_fully_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'s','type':'string'}"), REC("{'name':'s','type':'bytes'}"), 1, 1);
    expect_levels(REC("{'name':'s','type':'bytes'}"), REC("{'name':'s','type':'string'}"), 1, 1);
}

static void test_type_change_reports_type_mismatch_with_field_path(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'a','type':'int'},{'name':'b','type':'string'}"));
    reg_schema *n = sq(REC("{'name':'a','type':'int'},{'name':'b','type':'double'}"));
    size_t c;
    const char *m = problems_of(n, o, 2, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "{errorType:'TYPE_MISMATCH', description:'The type (path "
                       "'/fields/1/type') of a field in the new schema does not match with "
                       "the old schema', additionalInfo:'reader type: DOUBLE not compatible "
                       "with writer type: STRING'");
    assert_contains(m, "readerFragment:'\"double\"', writerFragment:'\"string\"'");
    assert_contains(m, "version: 2");
    expect_levels_s(o, n, 0, 0);
    reg_schema_free(o);
    reg_schema_free(n);
}

/* ---------------------------------------------------------------------------------- */
/* Records and fields                                                                  */

static void test_field_added_with_default_is_fully_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'a','type':'int'}"),
                  REC("{'name':'a','type':'int'},{'name':'b','type':'string','default':'x'}"), 1,
                  1);
}

static void test_field_added_without_default_is_backward_incompatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'a','type':'int'}"),
                  REC("{'name':'a','type':'int'},{'name':'b','type':'string'}"), 0, 1);
}

static void test_field_removed_without_default_is_forward_incompatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'a','type':'int'},{'name':'b','type':'string'}"),
                  REC("{'name':'a','type':'int'}"), 1, 0);
}

static void test_field_removed_with_default_is_fully_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'a','type':'int'},{'name':'b','type':'string','default':''}"),
                  REC("{'name':'a','type':'int'}"), 1, 1);
}

static void test_fields_reordered_is_fully_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'a','type':'int'},{'name':'b','type':'string'}"),
                  REC("{'name':'b','type':'string'},{'name':'a','type':'int'}"), 1, 1);
}

static void test_field_renamed_with_alias_is_backward_compatible_only(void **state)
{
    (void)state;
    /* The new reader finds the old field through its alias; an old reader does not know
     * the new name and has no default. */
    expect_levels(REC("{'name':'name','type':'string'}"),
                  REC("{'name':'full_name','aliases':['name'],'type':'string'}"), 1, 0);
}

static void test_field_renamed_without_alias_is_incompatible_both_ways(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'name','type':'string'}"),
                  REC("{'name':'full_name','type':'string'}"), 0, 0);
}

static void test_reader_field_missing_default_message_matches_confluent(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'f1','type':'string'}"));
    reg_schema *n = sq(REC("{'name':'f1','type':'string'},{'name':'f2','type':'string'}"));
    reg_compat_result *r = NULL;
    size_t c = check_n(REG_COMPAT_BACKWARD, &o, 1, n, &r);
    assert_int_equal(c, 1);
    const char *m = reg_compat_result_message(r, 0);
    const char *want =
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'f2' at path "
        "'/fields/1' in the new schema has no default value and is missing in the old schema', "
        "additionalInfo:'f2', readerPath:'/fields/1', writerPath:'/', field:'f2', "
        "readerFragment:'{\"name\":\"f2\",\"type\":\"string\"}', "
        "writerFragment:'{\"name\":\"t.R\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
        "\"type\":\"string\"}]}', version: 1}";
    assert_string_equal(m, want);
    reg_compat_result_free(r);

    /* Under FORWARD the old schema reads: the wording swaps "new" and "old". */
    c = check_n(REG_COMPAT_FORWARD, &n, 1, o, &r);
    assert_int_equal(c, 1);
    assert_contains(reg_compat_result_message(r, 0),
                    "in the old schema has no default value and is missing in the new schema");
    reg_compat_result_free(r);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_message_field_names_follow_the_side_the_rule_is_about(void **state)
{
    (void)state;
    /* The reader renamed "old" to "full" (alias). A type problem names the reader's
     * field; a writer union branch the reader lacks names the writer's field. */
    reg_schema *o = sq(REC("{'name':'old','type':['null','string','int']}"));
    reg_schema *n = sq(REC("{'name':'full','aliases':['old'],'type':['null','string']}"));
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "errorType:'MISSING_UNION_BRANCH'");
    assert_contains(m, "field:'old'");
    reg_schema_free(o);
    reg_schema_free(n);

    o = sq(REC("{'name':'old','type':'string'}"));
    n = sq(REC("{'name':'full','aliases':['old'],'type':'int'}"));
    m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "errorType:'TYPE_MISMATCH'");
    assert_contains(m, "field:'full'");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_every_problem_is_reported_not_only_the_first(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'a','type':'int'},{'name':'b','type':'string'}"));
    reg_schema *n = sq(REC("{'name':'a','type':'boolean'},{'name':'b','type':'string'},"
                           "{'name':'c','type':'int'},{'name':'d','type':'int'}"));
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 3);
    assert_contains(m, "path '/fields/0/type'");
    assert_contains(m, "The field 'c' at path '/fields/2'");
    assert_contains(m, "The field 'd' at path '/fields/3'");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_record_renamed_is_name_mismatch(void **state)
{
    (void)state;
    reg_schema *o = sq("{'type':'record','name':'A','fields':[{'name':'x','type':'int'}]}");
    reg_schema *n = sq("{'type':'record','name':'B','fields':[{'name':'x','type':'int'}]}");
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "errorType:'NAME_MISMATCH', description:'The name of the schema has "
                       "changed (path '/name')', additionalInfo:'expected: A'");
    expect_levels_s(o, n, 0, 0);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_record_renamed_with_alias_is_backward_compatible(void **state)
{
    (void)state;
    expect_levels(
        "{'type':'record','name':'A','namespace':'ns','fields':[{'name':'x','type':'int'}]}",
        "{'type':'record','name':'B','namespace':'ns','aliases':['A'],"
        "'fields':[{'name':'x','type':'int'}]}",
        1, 0);
}

static void test_record_alias_matches_a_writer_in_another_namespace(void **state)
{
    (void)state;
    /* The alias 'A' is qualified by the reader's namespace (new.A), the writer is old.A:
     * names compare unqualified (the specification's rule), aliases too. */
    expect_levels(
        "{'type':'record','name':'A','namespace':'old','fields':[{'name':'x','type':'int'}]}",
        "{'type':'record','name':'B','namespace':'new','aliases':['A'],"
        "'fields':[{'name':'x','type':'int'}]}",
        1, 0);
}

static void test_namespace_change_is_compatible_names_compare_unqualified(void **state)
{
    (void)state;
    /* The specification: "both schemas are records with the same (unqualified) name". */
    expect_levels(
        "{'type':'record','name':'P','namespace':'old.ns','fields':[{'name':'x','type':'int'}]}",
        "{'type':'record','name':'P','namespace':'new.ns','fields':[{'name':'x','type':'int'}]}", 1,
        1);
    /* Nested named types too, also when referenced by name. */
    expect_levels("{'type':'record','name':'P','namespace':'a','fields':["
                  "{'name':'e','type':{'type':'enum','name':'E','symbols':['X']}},"
                  "{'name':'f','type':'E'}]}",
                  "{'type':'record','name':'P','namespace':'b','fields':["
                  "{'name':'e','type':{'type':'enum','name':'E','symbols':['X']}},"
                  "{'name':'f','type':'E'}]}",
                  1, 1);
}

static void test_nested_record_field_problem_has_nested_path(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'in','type':{'type':'record','name':'I','fields':["
                           "{'name':'a','type':'int'}]}}"));
    reg_schema *n = sq(REC("{'name':'in','type':{'type':'record','name':'I','fields':["
                           "{'name':'a','type':'int'},{'name':'b','type':'int'}]}}"));
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "The field 'b' at path '/fields/0/type/fields/1' in the new schema");
    assert_contains(m, "writerPath:'/fields/0/type'");
    reg_schema_free(o);
    reg_schema_free(n);
}

/* ---------------------------------------------------------------------------------- */
/* Enums                                                                               */

#define ENUM_REC(enum_body) REC("{'name':'e','type':{'type':'enum','name':'E'," enum_body "}}")

static void test_enum_symbol_added_without_default_is_forward_incompatible(void **state)
{
    (void)state;
    expect_levels(ENUM_REC("'symbols':['A','B']"), ENUM_REC("'symbols':['A','B','C']"), 1, 0);
}

static void test_enum_symbol_added_with_old_reader_default_is_fully_compatible(void **state)
{
    (void)state;
    /* An old reader with an enum default reads the unknown C as its default. */
    expect_levels(ENUM_REC("'symbols':['UNKNOWN','A','B'],'default':'UNKNOWN'"),
                  ENUM_REC("'symbols':['UNKNOWN','A','B','C'],'default':'UNKNOWN'"), 1, 1);
}

static void test_enum_symbol_removed_without_default_is_backward_incompatible(void **state)
{
    (void)state;
    expect_levels(ENUM_REC("'symbols':['A','B','C']"), ENUM_REC("'symbols':['A','B']"), 0, 1);
}

static void test_enum_symbol_removed_with_new_reader_default_is_fully_compatible(void **state)
{
    (void)state;
    expect_levels(ENUM_REC("'symbols':['A','B','C']"),
                  ENUM_REC("'symbols':['A','B'],'default':'A'"), 1, 1);
}

static void test_enum_missing_symbols_message_lists_them_sorted(void **state)
{
    (void)state;
    reg_schema *o = sq(ENUM_REC("'symbols':['A','D','B','C']"));
    reg_schema *n = sq(ENUM_REC("'symbols':['A','B']"));
    size_t c;
    const char *m = problems_of(n, o, 4, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "{errorType:'MISSING_ENUM_SYMBOLS', description:'The new schema is "
                       "missing enum symbols '[C, D]' at path '/fields/0/type/symbols' in the "
                       "old schema', additionalInfo:'[C, D]'");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_enum_renamed_is_name_mismatch(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'e','type':{'type':'enum','name':'E','symbols':['A']}}"),
                  REC("{'name':'e','type':{'type':'enum','name':'F','symbols':['A']}}"), 0, 0);
    expect_levels(REC("{'name':'e','type':{'type':'enum','name':'E','symbols':['A']}}"),
                  REC("{'name':'e','type':{'type':'enum','name':'F','aliases':['E'],"
                      "'symbols':['A']}}"),
                  1, 0);
}

/* ---------------------------------------------------------------------------------- */
/* Fixed                                                                               */

static void test_fixed_size_change_is_incompatible(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'h','type':{'type':'fixed','name':'H','size':16}}"));
    reg_schema *n = sq(REC("{'name':'h','type':{'type':'fixed','name':'H','size':8}}"));
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "{errorType:'FIXED_SIZE_MISMATCH', description:'The size of FIXED type "
                       "field at path '/fields/0/type/size' in the new schema does not match "
                       "with the old schema', additionalInfo:'expected: 16, found: 8'");
    expect_levels_s(o, n, 0, 0);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_fixed_same_size_and_name_is_fully_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'h','type':{'type':'fixed','name':'H','size':16}}"),
                  REC("{'name':'h','type':{'type':'fixed','name':'H','size':16,'doc':'d'}}"), 1, 1);
}

static void test_fixed_renamed_is_name_mismatch(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'h','type':{'type':'fixed','name':'H','size':16}}"),
                  REC("{'name':'h','type':{'type':'fixed','name':'G','size':16}}"), 0, 0);
}

static void test_fixed_to_bytes_is_type_mismatch(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'h','type':{'type':'fixed','name':'H','size':16}}"),
                  REC("{'name':'h','type':'bytes'}"), 0, 0);
}

/* ---------------------------------------------------------------------------------- */
/* Arrays and maps                                                                     */

static void test_array_items_widened_is_backward_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'v','type':{'type':'array','items':'int'}}"),
                  REC("{'name':'v','type':{'type':'array','items':'long'}}"), 1, 0);
}

static void test_map_values_narrowed_is_backward_incompatible_at_values_path(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'m','type':{'type':'map','values':'double'}}"));
    reg_schema *n = sq(REC("{'name':'m','type':{'type':'map','values':'float'}}"));
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "path '/fields/0/type/values'");
    expect_levels_s(o, n, 0, 1);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_array_to_map_is_type_mismatch(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'v','type':{'type':'array','items':'int'}}"),
                  REC("{'name':'v','type':{'type':'map','values':'int'}}"), 0, 0);
}

static void test_array_of_records_checks_items_in_depth(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'v','type':{'type':'array','items':{'type':'record','name':'I',"
                      "'fields':[{'name':'a','type':'int'}]}}}"),
                  REC("{'name':'v','type':{'type':'array','items':{'type':'record','name':'I',"
                      "'fields':[{'name':'a','type':'int'},{'name':'b','type':'int'}]}}}"),
                  0, 1);
}

/* ---------------------------------------------------------------------------------- */
/* Unions                                                                              */

static void test_field_made_optional_is_backward_compatible_only(void **state)
{
    (void)state;
    /* New reader ["null","string"] reads an old string; an old string reader cannot read
     * a null the new writer may write. */
    expect_levels(REC("{'name':'s','type':'string'}"),
                  REC("{'name':'s','type':['null','string'],'default':null}"), 1, 0);
}

static void test_optional_field_made_required_is_forward_compatible_only(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'s','type':['null','string'],'default':null}"));
    reg_schema *n = sq(REC("{'name':'s','type':'string'}"));
    expect_levels_s(o, n, 0, 1);
    /* The writer's null branch is the problem, at its index in the writer union. */
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "errorType:'TYPE_MISMATCH'");
    assert_contains(m, "reader type: STRING not compatible with writer type: NULL");
    assert_contains(m, "writerPath:'/fields/0/type/0'");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_union_branch_added_is_forward_incompatible(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'u','type':['null','string']}"));
    reg_schema *n = sq(REC("{'name':'u','type':['null','string','int']}"));
    expect_levels_s(o, n, 1, 0);
    /* Old reads new: the new writer's int branch has no reader branch. */
    size_t c;
    const char *m = problems_of(o, n, 1, REG_COMPAT_READER_IS_OLD, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "{errorType:'MISSING_UNION_BRANCH', description:'The old schema is "
                       "missing a type inside a union field at path '/fields/0/type/2' in the "
                       "new schema', additionalInfo:'reader union lacking writer type: INT'");
    assert_contains(m, "field:'u'");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_union_branch_removed_is_backward_incompatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'u','type':['null','string','int']}"),
                  REC("{'name':'u','type':['null','string']}"), 0, 1);
}

static void test_union_branches_reordered_is_fully_compatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'u','type':['null','string','int'],'default':null}"),
                  REC("{'name':'u','type':['null','int','string'],'default':null}"), 1, 1);
}

static void test_non_union_read_by_union_through_promotion(void **state)
{
    (void)state;
    /* int written, ["null","long"] reads it as long; not the other way. */
    expect_levels(REC("{'name':'n','type':'int'}"),
                  REC("{'name':'n','type':['null','long'],'default':null}"), 1, 0);
}

static void test_union_without_matching_branch_is_missing_union_branch(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'n','type':'boolean'}"));
    reg_schema *n = sq(REC("{'name':'n','type':['null','string'],'default':null}"));
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "errorType:'MISSING_UNION_BRANCH'");
    assert_contains(m, "additionalInfo:'reader union lacking writer type: BOOLEAN'");
    expect_levels_s(o, n, 0, 0);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_record_nested_in_union_reports_the_field_inside_it(void **state)
{
    (void)state;
    reg_schema *o = load("person_v1");
    reg_schema *n = load("person_v2_address_country_required");
    expect_levels_s(o, n, 0, 1);
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field "
                       "'country' at path '/fields/2/type/1/fields/2' in the new schema");
    assert_contains(m, "writerPath:'/fields/2/type/1', field:'address.country'");
    reg_schema_free(n);

    n = load("person_v2_address_country_optional");
    expect_levels_s(o, n, 1, 1);
    reg_schema_free(n);
    reg_schema_free(o);
}

static void test_reader_union_selects_record_branch_by_name(void **state)
{
    (void)state;
    /* Two records in the union: the writer's B is read by the reader's B, selected by
     * name, and checked in depth. */
    const char *old_s = REC("{'name':'u','type':["
                            "{'type':'record','name':'A','fields':[]},"
                            "{'type':'record','name':'B','fields':[{'name':'x','type':'int'}]}]}");
    const char *new_ok =
        REC("{'name':'u','type':["
            "{'type':'record','name':'A','fields':[]},"
            "{'type':'record','name':'B','fields':[{'name':'x','type':'long'}]}]}");
    const char *new_bad = REC("{'name':'u','type':["
                              "{'type':'record','name':'A','fields':[]},"
                              "{'type':'record','name':'B','fields':[{'name':'x','type':'int'},"
                              "{'name':'y','type':'int'}]}]}");
    expect_levels(old_s, new_ok, 1, 0);
    expect_levels(old_s, new_bad, 0, 1);
}

static void test_reader_union_selects_named_branch_by_alias(void **state)
{
    (void)state;
    /* No branch has the writer's name; C declares it as an alias, so C is selected
     * rather than the first record of the union. */
    expect_levels(REC("{'name':'u','type':{'type':'record','name':'B','fields':["
                      "{'name':'x','type':'int'}]}}"),
                  REC("{'name':'u','type':[{'type':'record','name':'X','fields':[]},"
                      "{'type':'record','name':'C','aliases':['B'],'fields':["
                      "{'name':'x','type':'int'}]}]}"),
                  1, 0);
}

/* ---------------------------------------------------------------------------------- */
/* Recursive types                                                                     */

static void test_recursive_type_check_terminates_and_accepts_itself(void **state)
{
    (void)state;
    reg_schema *a = load("linked_list_v1"), *b = load("linked_list_v1");
    expect_levels_s(a, b, 1, 1);
    reg_schema_free(b);
    reg_schema_free(a);
}

static void test_recursive_type_field_added_with_default_is_fully_compatible(void **state)
{
    (void)state;
    reg_schema *o = load("linked_list_v1"), *n = load("linked_list_v2_label_with_default");
    expect_levels_s(o, n, 1, 1);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_recursive_type_incompatible_change_is_found(void **state)
{
    (void)state;
    reg_schema *o = load("linked_list_v1"), *n = load("linked_list_v2_value_string");
    expect_levels_s(o, n, 0, 0);
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_true(c >= 1);
    assert_contains(m, "path '/fields/0/type')");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_mutually_recursive_types_are_checked_in_depth(void **state)
{
    (void)state;
    reg_schema *o = load("tree_v1"), *n = load("tree_v2_forest_size_required");
    expect_levels_s(o, o, 1, 1);
    expect_levels_s(o, n, 0, 1);
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_true(c >= 1);
    assert_contains(m, "The field 'size' at path '/fields/1/type/fields/2' in the new schema");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_shared_record_problem_is_reported_once_at_the_first_path(void **state)
{
    (void)state;
    /* A contains B, B contains A; T holds an A (p) and a B (q). A's field x changes type.
     * The pair (A, A) is checked once, under p; q reaches it again and is not walked
     * again, so there is one message, and the verdict is still "incompatible". */
#define T_WITH_X(xtype)                                                                            \
    "{'type':'record','name':'T','fields':["                                                       \
    "{'name':'p','type':{'type':'record','name':'A','fields':["                                    \
    "{'name':'b','type':['null',{'type':'record','name':'B','fields':["                            \
    "{'name':'a','type':['null','A']}]}]},"                                                        \
    "{'name':'x','type':'" xtype "'}]}},"                                                          \
    "{'name':'q','type':'B'}]}"
    const char *o_s = T_WITH_X("int"), *n_s = T_WITH_X("string");
#undef T_WITH_X
    reg_schema *o = sq(o_s), *n = sq(n_s);
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "readerPath:'/fields/0/type/fields/1/type'");
    assert_contains(m, "field:'p.x'");
    expect_levels_s(o, n, 0, 0);
    reg_schema_free(o);
    reg_schema_free(n);
}

static double now_ms(void);

static void test_record_shared_by_two_fields_at_every_level_is_checked_in_linear_time(void **state)
{
    (void)state;
    /* R0 {a: R1, b: R1}, R1 {a: R2, b: R2}, ... R23 {x}: 2^23 paths reach R23. Walking
     * each pair once keeps this instant and the report to one message. */
    enum { LEVELS = 24 }; /* walking every path would take seconds: 2^23 of them */
    static char o_s[16384], n_s[16384];
    for (int pass = 0; pass < 2; pass++) {
        char *buf = pass ? n_s : o_s;
        size_t len = 0;
        for (int i = 0; i < LEVELS - 1; i++)
            len +=
                (size_t)snprintf(buf + len, sizeof o_s - len,
                                 "{'type':'record','name':'R%d','fields':[{'name':'a','type':", i);
        len +=
            (size_t)snprintf(buf + len, sizeof o_s - len,
                             "{'type':'record','name':'R%d','fields':[{'name':'x','type':'%s'}]}",
                             LEVELS - 1, pass ? "string" : "int");
        for (int i = LEVELS - 2; i >= 0; i--)
            len += (size_t)snprintf(buf + len, sizeof o_s - len, "},{'name':'b','type':'R%d'}]}",
                                    i + 1);
    }
    reg_schema *o = sq(o_s), *n = sq(n_s);
    double t0 = now_ms();
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    double dt = now_ms() - t0;
    assert_int_equal(c, 1);
    assert_contains(m, "reader type: STRING not compatible with writer type: INT");
    assert_true(dt < 500.0);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_recursive_cycles_of_coprime_length_give_up_with_nesting_too_deep(void **state)
{
    (void)state;
    /* Reader: C0 -> C1 -> ... -> C36 -> C0; writer: the same with 41 records. Reading one
     * with the other nests 37 * 41 = 1517 distinct record pairs: more than the check
     * allows, so it stops, incompatible, instead of recursing without bound. */
    static char r_s[16384], w_s[16384];
    for (int pass = 0; pass < 2; pass++) {
        int len_cycle = pass ? 41 : 37;
        char *buf = pass ? w_s : r_s;
        size_t len = 0;
        for (int i = 0; i < len_cycle; i++)
            len += (size_t)snprintf(buf + len, sizeof r_s - len,
                                    "{'type':'record','name':'C%d','fields':[{'name':'n','type':"
                                    "{'type':'array','items':",
                                    i);
        len += (size_t)snprintf(buf + len, sizeof r_s - len, "'C0'");
        for (int i = 0; i < len_cycle; i++)
            len += (size_t)snprintf(buf + len, sizeof r_s - len, "}}]}");
    }
    reg_schema *r = sq(r_s), *w = sq(w_s);
    assert_true(reg_compat_can_read(r, w, 1, NULL) > 100);
    /* The names differ along the way (C1 reads C2, ...): 100 NAME_MISMATCH listed, the
     * give-up always listed, the rest summarised. */
    reg_compat_result *res = reg_compat_result_new();
    size_t c = reg_compat_can_read(r, w, 1, res);
    assert_int_equal(c, 102);
    assert_int_equal(reg_compat_result_count(res), 102);
    assert_contains(reg_compat_result_message(res, 99), "errorType:'NAME_MISMATCH'");
    assert_contains(reg_compat_result_message(res, 100), "errorType:'NESTING_TOO_DEEP'");
    assert_contains(reg_compat_result_message(res, 100), "more than 500 nested record pairs");
    /* Its path is longer than a path can hold (512 segments): it ends in "/...". */
    assert_contains(reg_compat_result_message(res, 100), "/items/...')'");
    assert_contains(reg_compat_result_message(res, 101), "{errorType:'MORE_PROBLEMS'");
    reg_compat_result_free(res);
    /* Each schema against itself is fine: the cycle closes on the same pair. */
    assert_int_equal(reg_compat_can_read(r, r, 1, NULL), 0);
    assert_int_equal(reg_compat_can_read(w, w, 1, NULL), 0);
    reg_schema_free(r);
    reg_schema_free(w);
}

static void test_recursive_fragment_names_the_type_instead_of_repeating_it(void **state)
{
    (void)state;
    reg_schema *o = load("linked_list_v1");
    reg_schema *n = sq("{'type':'record','name':'Node','namespace':'test.list','fields':["
                       "{'name':'value','type':'int'},{'name':'next','type':['null','Node'],"
                       "'default':null},{'name':'weight','type':'double'}]}");
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "writerFragment:'{\"name\":\"test.list.Node\",\"type\":\"record\","
                       "\"fields\":[{\"name\":\"value\",\"type\":\"int\"},{\"name\":"
                       "\"next\",\"type\":[\"null\",\"test.list.Node\"]}]}'");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_deeply_nested_problem_has_the_full_path(void **state)
{
    (void)state;
    /* 100 records nested in each other; the innermost field changes from int to string. */
    enum { DEPTH = 100 };
    static char o_s[16384], n_s[16384];
    char want[4096] = "";
    for (int pass = 0; pass < 2; pass++) {
        char *buf = pass ? n_s : o_s;
        size_t len = 0;
        for (int i = 0; i < DEPTH; i++)
            len +=
                (size_t)snprintf(buf + len, 16384 - len,
                                 "{'type':'record','name':'R%d','fields':[{'name':'f','type':", i);
        len += (size_t)snprintf(buf + len, 16384 - len, "'%s'", pass ? "string" : "int");
        for (int i = 0; i < DEPTH; i++)
            len += (size_t)snprintf(buf + len, 16384 - len, "}]}");
    }
    for (int i = 0; i < DEPTH; i++)
        strcat(want, "/fields/0/type");
    reg_schema *o = sq(o_s), *n = sq(n_s);
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    char needle[sizeof want * 2 + 64];
    snprintf(needle, sizeof needle, "readerPath:'%s', writerPath:'%s'", want, want);
    assert_contains(m, needle);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_result_accessors_are_safe_at_the_edges(void **state)
{
    (void)state;
    reg_compat_result *r = reg_compat_result_new();
    assert_non_null(r);
    assert_int_equal(reg_compat_result_count(r), 0);
    assert_null(reg_compat_result_message(r, 0));
    assert_int_equal(reg_compat_result_count(NULL), 0);
    assert_null(reg_compat_result_message(NULL, 0));
    reg_compat_result_free(r);
    reg_compat_result_free(NULL);
    assert_string_equal(reg_compat_level_name((reg_compat_level)99), "UNKNOWN");
}

/* ---------------------------------------------------------------------------------- */
/* Logical types (see the decision at the top of registry/compat.c)                    */

#define DEC(p, s) "{'type':'bytes','logicalType':'decimal','precision':" #p ",'scale':" #s "}"

static void test_decimal_precision_or_scale_change_is_incompatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'d','type':" DEC(10, 2) "}"),
                  REC("{'name':'d','type':" DEC(10, 2) "}"), 1, 1);
    expect_levels(REC("{'name':'d','type':" DEC(10, 2) "}"),
                  REC("{'name':'d','type':" DEC(12, 2) "}"), 0, 0);
    expect_levels(REC("{'name':'d','type':" DEC(10, 2) "}"),
                  REC("{'name':'d','type':" DEC(10, 3) "}"), 0, 0);
    reg_schema *o = sq(REC("{'name':'d','type':" DEC(10, 2) "}"));
    reg_schema *n = sq(REC("{'name':'d','type':" DEC(12, 2) "}"));
    size_t c;
    const char *m = problems_of(n, o, 1, 0, &c);
    assert_int_equal(c, 1);
    assert_contains(m, "reader decimal(12,2) not compatible with writer decimal(10,2)");
    assert_contains(m, "\"logicalType\":\"decimal\",\"precision\":12,\"scale\":2");
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_fixed_decimal_precision_change_is_incompatible(void **state)
{
    (void)state;
    expect_levels(REC("{'name':'d','type':{'type':'fixed','name':'D','size':8,"
                      "'logicalType':'decimal','precision':10,'scale':2}}"),
                  REC("{'name':'d','type':{'type':'fixed','name':'D','size':8,"
                      "'logicalType':'decimal','precision':12,'scale':2}}"),
                  0, 0);
}

static void test_timestamp_millis_to_micros_is_compatible_by_default(void **state)
{
    (void)state;
    /* The specification resolves on the underlying long (as Avro Java and Confluent). */
    expect_levels(REC("{'name':'t','type':{'type':'long','logicalType':'timestamp-millis'}}"),
                  REC("{'name':'t','type':{'type':'long','logicalType':'timestamp-micros'}}"), 1,
                  1);
}

static void test_timestamp_millis_to_micros_is_incompatible_in_strict_logical_mode(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'t','type':{'type':'long','logicalType':'timestamp-millis'}}"));
    reg_schema *n = sq(REC("{'name':'t','type':{'type':'long','logicalType':'timestamp-micros'}}"));
    reg_compat_result *r = reg_compat_result_new();
    const reg_schema *const ex[] = {o};
    size_t c = reg_compat_check_ex(REG_COMPAT_FULL, n, ex, NULL, 1, REG_COMPAT_STRICT_LOGICAL, r);
    assert_int_equal(c, 2); /* one per direction */
    assert_contains(reg_compat_result_message(r, 0),
                    "reader logical type timestamp-micros not compatible with writer logical "
                    "type timestamp-millis");
    assert_contains(reg_compat_result_message(r, 1),
                    "reader logical type timestamp-millis not compatible with writer logical "
                    "type timestamp-micros");
    reg_compat_result_free(r);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void
test_time_millis_promoted_to_timestamp_millis_is_caught_only_in_strict_mode(void **state)
{
    (void)state;
    /* int -> long is a legal promotion, but a time of day is not an instant. */
    reg_schema *o = sq(REC("{'name':'t','type':{'type':'int','logicalType':'time-millis'}}"));
    reg_schema *n = sq(REC("{'name':'t','type':{'type':'long','logicalType':'timestamp-millis'}}"));
    assert_int_equal(reg_compat_can_read_ex(n, o, 1, 0, NULL), 0);
    assert_int_equal(reg_compat_can_read_ex(n, o, 1, REG_COMPAT_STRICT_LOGICAL, NULL), 1);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_adding_or_removing_a_logical_annotation_is_compatible_even_strict(void **state)
{
    (void)state;
    reg_schema *o = sq(REC("{'name':'t','type':'long'}"));
    reg_schema *n = sq(REC("{'name':'t','type':{'type':'long','logicalType':'timestamp-millis'}}"));
    assert_int_equal(reg_compat_can_read_ex(n, o, 1, REG_COMPAT_STRICT_LOGICAL, NULL), 0);
    assert_int_equal(reg_compat_can_read_ex(o, n, 1, REG_COMPAT_STRICT_LOGICAL, NULL), 0);
    reg_schema_free(o);
    reg_schema_free(n);
}

/* ---------------------------------------------------------------------------------- */
/* Levels                                                                              */

static void test_backward_checks_only_the_last_version_transitive_checks_all(void **state)
{
    (void)state;
    /* v1 {f1}; v2 {f1, f2 = "x"}; v3 {f1, f2 without default}. v3 reads v2, not v1. */
    reg_schema *v[2] = {
        sq(REC("{'name':'f1','type':'string'}")),
        sq(REC("{'name':'f1','type':'string'},{'name':'f2','type':'string','default':'x'}")),
    };
    reg_schema *v3 = sq(REC("{'name':'f1','type':'string'},{'name':'f2','type':'string'}"));
    assert_int_equal(check_n(REG_COMPAT_BACKWARD, v, 2, v3, NULL), 0);
    assert_int_equal(check_n(REG_COMPAT_FULL, v, 2, v3, NULL), 0);
    reg_compat_result *r = NULL;
    assert_int_equal(check_n(REG_COMPAT_BACKWARD_TRANSITIVE, v, 2, v3, &r), 1);
    assert_contains(reg_compat_result_message(r, 0), "version: 1");
    reg_compat_result_free(r);
    assert_int_equal(check_n(REG_COMPAT_FULL_TRANSITIVE, v, 2, v3, NULL), 1);
    assert_int_equal(check_n(REG_COMPAT_FORWARD_TRANSITIVE, v, 2, v3, NULL), 0);
    reg_schema_free(v[0]);
    reg_schema_free(v[1]);
    reg_schema_free(v3);
}

static void test_forward_checks_only_the_last_version_transitive_checks_all(void **state)
{
    (void)state;
    /* v1 {f1, f2}; v2 {f1, f2 = "x"}; v3 {f1}. v2 reads v3 (default), v1 does not. */
    reg_schema *v[2] = {
        sq(REC("{'name':'f1','type':'string'},{'name':'f2','type':'string'}")),
        sq(REC("{'name':'f1','type':'string'},{'name':'f2','type':'string','default':'x'}")),
    };
    reg_schema *v3 = sq(REC("{'name':'f1','type':'string'}"));
    assert_int_equal(check_n(REG_COMPAT_FORWARD, v, 2, v3, NULL), 0);
    assert_int_equal(check_n(REG_COMPAT_FULL, v, 2, v3, NULL), 0);
    reg_compat_result *r = NULL;
    assert_int_equal(check_n(REG_COMPAT_FORWARD_TRANSITIVE, v, 2, v3, &r), 1);
    assert_contains(reg_compat_result_message(r, 0), "version: 1");
    assert_contains(reg_compat_result_message(r, 0),
                    "The field 'f2' at path '/fields/1' in the old schema has no default value "
                    "and is missing in the new schema");
    reg_compat_result_free(r);
    assert_int_equal(check_n(REG_COMPAT_FULL_TRANSITIVE, v, 2, v3, NULL), 1);
    assert_int_equal(check_n(REG_COMPAT_BACKWARD_TRANSITIVE, v, 2, v3, NULL), 0);
    reg_schema_free(v[0]);
    reg_schema_free(v[1]);
    reg_schema_free(v3);
}

static void test_transitive_reports_each_failing_version_in_version_order(void **state)
{
    (void)state;
    reg_schema *v[3] = {
        sq(REC("{'name':'a','type':'int'}")),
        sq(REC("{'name':'a','type':'int'}")),
        sq(REC("{'name':'a','type':'long'}")),
    };
    reg_schema *cand = sq(REC("{'name':'a','type':'string'}"));
    reg_compat_result *r = NULL;
    assert_int_equal(check_n(REG_COMPAT_BACKWARD_TRANSITIVE, v, 3, cand, &r), 3);
    assert_contains(reg_compat_result_message(r, 0), "version: 1");
    assert_contains(reg_compat_result_message(r, 1), "version: 2");
    assert_contains(reg_compat_result_message(r, 2), "version: 3");
    reg_compat_result_free(r);
    for (int i = 0; i < 3; i++)
        reg_schema_free(v[i]);
    reg_schema_free(cand);
}

static void test_none_accepts_anything_and_no_versions_is_compatible(void **state)
{
    (void)state;
    reg_schema *o = sq("'int'"), *n = sq("'string'");
    assert_int_equal(check_n(REG_COMPAT_NONE, &o, 1, n, NULL), 0);
    assert_int_equal(check_n(REG_COMPAT_FULL_TRANSITIVE, &o, 0, n, NULL), 0);
    assert_int_equal(check_n(REG_COMPAT_FULL, &o, 1, n, NULL), 2);
    /* Without a result object the count is still returned. */
    const reg_schema *const ex[] = {o};
    assert_int_equal(reg_compat_check(REG_COMPAT_FULL, n, ex, NULL, 1, NULL), 2);
    reg_schema_free(o);
    reg_schema_free(n);
}

static void test_level_names_round_trip_and_parse_case_insensitively(void **state)
{
    (void)state;
    static const char *const names[] = {
        "NONE", "BACKWARD",       "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
        "FULL", "FULL_TRANSITIVE"};
    for (int i = 0; i < 7; i++) {
        reg_compat_level l = REG_COMPAT_NONE;
        assert_int_equal(reg_compat_level_parse(names[i], &l), 0);
        assert_string_equal(reg_compat_level_name(l), names[i]);
    }
    reg_compat_level l = REG_COMPAT_NONE;
    assert_int_equal(reg_compat_level_parse("full_transitive", &l), 0);
    assert_int_equal(l, REG_COMPAT_FULL_TRANSITIVE);
    assert_int_equal(reg_compat_level_parse("Backward", &l), 0);
    assert_int_equal(l, REG_COMPAT_BACKWARD);
    assert_int_equal(reg_compat_level_parse("SIDEWAYS", &l), -1);
    assert_int_equal(reg_compat_level_parse("", &l), -1);
    assert_int_equal(reg_compat_level_parse(NULL, &l), -1);
    assert_int_equal(reg_compat_level_parse("FULL_TRANSITIVEX", &l), -1);
}

/* ---------------------------------------------------------------------------------- */
/* Cross-check with Avro Java (data/compat/avro_java/README.md)                        */

static char *read_file(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "compat/avro_java/%s", rel);
    return test_data_read(path, len);
}

static void test_verdicts_agree_with_avro_java_except_documented_departures(void **state)
{
    (void)state;
    enum { MAXS = 256 };
    static reg_schema *s[MAXS];
    static char expect[MAXS][MAXS]; /* Avro Java's verdict, then ours where documented */
    size_t n = 0;

    char *corpus = read_file("corpus.jsonl", NULL);
    for (char *line = corpus, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(n < MAXS);
        cg_err *err = reg_schema_parse(line, (size_t)(nl - line), NULL, 0, &s[n]);
        if (err)
            fail_msg("corpus line %zu does not parse: %s", n, cg_err_msg(err));
        n++;
    }
    free(corpus);
    assert_int_equal(n, 170);

    char *verdicts = read_file("verdicts.txt", NULL);
    char *line = verdicts;
    for (size_t r = 0; r < n; r++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_int_equal((size_t)(nl - line), n);
        memcpy(expect[r], line, n);
        line = nl + 1;
    }
    free(verdicts);

    size_t departures = 0;
    char *dep = read_file("departures.txt", NULL);
    for (char *l = dep, *nl; *l; l = nl + 1) {
        nl = strchr(l, '\n');
        assert_non_null(nl);
        *nl = '\0';
        unsigned r, w, ours;
        char reason[64];
        if (l[0] == '#')
            continue;
        assert_int_equal(sscanf(l, "%u %u %u %63s", &r, &w, &ours, reason), 4);
        assert_true(r < n && w < n && ours <= 1);
        assert_int_not_equal(expect[r][w], '0' + (int)ours); /* a departure departs */
        expect[r][w] = (char)('0' + ours);
        departures++;
    }
    free(dep);
    assert_true(departures > 0);

    size_t wrong = 0, compatible = 0;
    for (size_t r = 0; r < n; r++) {
        for (size_t w = 0; w < n; w++) {
            int ok = reg_compat_can_read(s[r], s[w], 0, NULL) == 0;
            compatible += (size_t)ok;
            if (ok != (expect[r][w] == '1')) {
                if (wrong++ < 10)
                    print_message("reader %zu, writer %zu: expected %c, got %d\n", r, w,
                                  expect[r][w], ok);
            }
        }
    }
    print_message("%zu pairs, %zu compatible, %zu documented departures\n", n * n, compatible,
                  departures);
    assert_int_equal(wrong, 0);
    /* The corpus must exercise both verdicts. */
    assert_true(compatible > n * n / 20 && compatible < n * n * 9 / 10);
    for (size_t i = 0; i < n; i++)
        reg_schema_free(s[i]);
}

/* ---------------------------------------------------------------------------------- */
/* Performance                                                                         */

/* A ~20-field record, version k: 17 stable fields (with a nested record, an enum, a
 * union, an array and a map) plus optional fields that come and go with defaults, so
 * every version is compatible with every other both ways. */
static reg_schema *perf_version(int k)
{
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "{'type':'record','name':'Person','namespace':'canon.person','fields':["
                     "{'name':'id','type':{'type':'string','logicalType':'uuid'}},"
                     "{'name':'name','type':'string'},{'name':'email','type':['null','string'],"
                     "'default':null},{'name':'age','type':'int'},{'name':'height','type':'float'},"
                     "{'name':'score','type':'double'},{'name':'born','type':{'type':'long',"
                     "'logicalType':'timestamp-millis'}},{'name':'active','type':'boolean'},"
                     "{'name':'photo','type':['null','bytes'],'default':null},"
                     "{'name':'status','type':{'type':'enum','name':'Status','symbols':["
                     "'UNKNOWN','ACTIVE','LEFT'],'default':'UNKNOWN'}},"
                     "{'name':'tags','type':{'type':'array','items':'string'}},"
                     "{'name':'attrs','type':{'type':'map','values':'string'}},"
                     "{'name':'address','type':['null',{'type':'record','name':'Address',"
                     "'fields':[{'name':'street','type':'string'},{'name':'city','type':"
                     "'string'},{'name':'zip','type':['null','string'],'default':null}]}],"
                     "'default':null},{'name':'balance','type':{'type':'bytes','logicalType':"
                     "'decimal','precision':12,'scale':2}},{'name':'phones','type':{'type':"
                     "'array','items':'string'},'default':[]},{'name':'nick','type':'string',"
                     "'default':''},{'name':'rank','type':'long','default':0}");
    for (int j = 0; j < 3; j++)
        n += snprintf(buf + n, sizeof buf - (size_t)n,
                      ",{'name':'opt_%d','type':['null','string'],'default':null}", (k + j) % 7);
    snprintf(buf + n, sizeof buf - (size_t)n, "]}");
    return sq(buf);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The 20 ms goal of issue 3 is measured by bench/registry, not asserted here: a timed
 * assertion fails on a loaded machine. This test checks the verdict on that workload and
 * prints the time for information. */
static void test_full_transitive_against_100_versions(void **state)
{
    (void)state;
    enum { N = 100 };
    reg_schema *v[N];
    int versions[N];
    for (int i = 0; i < N; i++) {
        v[i] = perf_version(i);
        versions[i] = i + 1;
    }
    reg_schema *cand = perf_version(N);
    reg_compat_result *r = reg_compat_result_new();
    double t0 = now_ms();
    size_t c = reg_compat_check(REG_COMPAT_FULL_TRANSITIVE, cand, (const reg_schema *const *)v,
                                versions, N, r);
    double dt = now_ms() - t0;
    if (c)
        print_result(r);
    assert_int_equal(c, 0);
    print_message("FULL_TRANSITIVE against %d versions: %.3f ms (information only)\n", N, dt);
    reg_compat_result_free(r);
    for (int i = 0; i < N; i++)
        reg_schema_free(v[i]);
    reg_schema_free(cand);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primitive_resolution_matrix_follows_the_specification),
        cmocka_unit_test(test_int_widened_to_long_is_backward_but_not_forward_compatible),
        cmocka_unit_test(test_long_narrowed_to_int_is_backward_incompatible),
        cmocka_unit_test(test_float_widened_to_double_is_backward_compatible),
        cmocka_unit_test(test_string_to_bytes_is_fully_compatible),
        cmocka_unit_test(test_type_change_reports_type_mismatch_with_field_path),
        cmocka_unit_test(test_field_added_with_default_is_fully_compatible),
        cmocka_unit_test(test_field_added_without_default_is_backward_incompatible),
        cmocka_unit_test(test_field_removed_without_default_is_forward_incompatible),
        cmocka_unit_test(test_field_removed_with_default_is_fully_compatible),
        cmocka_unit_test(test_fields_reordered_is_fully_compatible),
        cmocka_unit_test(test_field_renamed_with_alias_is_backward_compatible_only),
        cmocka_unit_test(test_field_renamed_without_alias_is_incompatible_both_ways),
        cmocka_unit_test(test_reader_field_missing_default_message_matches_confluent),
        cmocka_unit_test(test_message_field_names_follow_the_side_the_rule_is_about),
        cmocka_unit_test(test_every_problem_is_reported_not_only_the_first),
        cmocka_unit_test(test_record_renamed_is_name_mismatch),
        cmocka_unit_test(test_record_renamed_with_alias_is_backward_compatible),
        cmocka_unit_test(test_record_alias_matches_a_writer_in_another_namespace),
        cmocka_unit_test(test_namespace_change_is_compatible_names_compare_unqualified),
        cmocka_unit_test(test_nested_record_field_problem_has_nested_path),
        cmocka_unit_test(test_enum_symbol_added_without_default_is_forward_incompatible),
        cmocka_unit_test(test_enum_symbol_added_with_old_reader_default_is_fully_compatible),
        cmocka_unit_test(test_enum_symbol_removed_without_default_is_backward_incompatible),
        cmocka_unit_test(test_enum_symbol_removed_with_new_reader_default_is_fully_compatible),
        cmocka_unit_test(test_enum_missing_symbols_message_lists_them_sorted),
        cmocka_unit_test(test_enum_renamed_is_name_mismatch),
        cmocka_unit_test(test_fixed_size_change_is_incompatible),
        cmocka_unit_test(test_fixed_same_size_and_name_is_fully_compatible),
        cmocka_unit_test(test_fixed_renamed_is_name_mismatch),
        cmocka_unit_test(test_fixed_to_bytes_is_type_mismatch),
        cmocka_unit_test(test_array_items_widened_is_backward_compatible),
        cmocka_unit_test(test_map_values_narrowed_is_backward_incompatible_at_values_path),
        cmocka_unit_test(test_array_to_map_is_type_mismatch),
        cmocka_unit_test(test_array_of_records_checks_items_in_depth),
        cmocka_unit_test(test_field_made_optional_is_backward_compatible_only),
        cmocka_unit_test(test_optional_field_made_required_is_forward_compatible_only),
        cmocka_unit_test(test_union_branch_added_is_forward_incompatible),
        cmocka_unit_test(test_union_branch_removed_is_backward_incompatible),
        cmocka_unit_test(test_union_branches_reordered_is_fully_compatible),
        cmocka_unit_test(test_non_union_read_by_union_through_promotion),
        cmocka_unit_test(test_union_without_matching_branch_is_missing_union_branch),
        cmocka_unit_test(test_record_nested_in_union_reports_the_field_inside_it),
        cmocka_unit_test(test_reader_union_selects_record_branch_by_name),
        cmocka_unit_test(test_reader_union_selects_named_branch_by_alias),
        cmocka_unit_test(test_recursive_type_check_terminates_and_accepts_itself),
        cmocka_unit_test(test_recursive_type_field_added_with_default_is_fully_compatible),
        cmocka_unit_test(test_recursive_type_incompatible_change_is_found),
        cmocka_unit_test(test_mutually_recursive_types_are_checked_in_depth),
        cmocka_unit_test(test_shared_record_problem_is_reported_once_at_the_first_path),
        cmocka_unit_test(test_record_shared_by_two_fields_at_every_level_is_checked_in_linear_time),
        cmocka_unit_test(test_recursive_cycles_of_coprime_length_give_up_with_nesting_too_deep),
        cmocka_unit_test(test_recursive_fragment_names_the_type_instead_of_repeating_it),
        cmocka_unit_test(test_deeply_nested_problem_has_the_full_path),
        cmocka_unit_test(test_result_accessors_are_safe_at_the_edges),
        cmocka_unit_test(test_decimal_precision_or_scale_change_is_incompatible),
        cmocka_unit_test(test_fixed_decimal_precision_change_is_incompatible),
        cmocka_unit_test(test_timestamp_millis_to_micros_is_compatible_by_default),
        cmocka_unit_test(test_timestamp_millis_to_micros_is_incompatible_in_strict_logical_mode),
        cmocka_unit_test(
            test_time_millis_promoted_to_timestamp_millis_is_caught_only_in_strict_mode),
        cmocka_unit_test(test_adding_or_removing_a_logical_annotation_is_compatible_even_strict),
        cmocka_unit_test(test_backward_checks_only_the_last_version_transitive_checks_all),
        cmocka_unit_test(test_forward_checks_only_the_last_version_transitive_checks_all),
        cmocka_unit_test(test_transitive_reports_each_failing_version_in_version_order),
        cmocka_unit_test(test_none_accepts_anything_and_no_versions_is_compatible),
        cmocka_unit_test(test_level_names_round_trip_and_parse_case_insensitively),
        cmocka_unit_test(test_verdicts_agree_with_avro_java_except_documented_departures),
        cmocka_unit_test(test_full_transitive_against_100_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
