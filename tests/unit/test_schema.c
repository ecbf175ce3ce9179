/* test_schema.c - the registry's Avro schema model: parsing, names, validation,
 * defaults, canonical and normalized forms. Each test is named after the rule it proves.
 * The conformance rows from Apache Avro are in test_vectors.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>

#include "registry/schema.h"

static reg_schema *parse_ok(const char *text)
{
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    if (err)
        fail_msg("expected valid, got: %s\n  schema: %s", cg_err_msg(err), text);
    assert_non_null(s);
    return s;
}

/* Asserts the schema is refused with code 42201 and a message containing `needle`. */
static void parse_bad(const char *text, const char *needle)
{
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    if (!err)
        fail_msg("expected refusal (%s), but accepted: %s", needle, text);
    assert_null(s);
    assert_int_equal(cg_err_code(err), CG_EINVALID_SCHEMA);
    if (!strstr(cg_err_msg(err), needle))
        fail_msg("message \"%s\" lacks \"%s\"", cg_err_msg(err), needle);
    cg_err_free(err);
}

static size_t n_warnings(const reg_schema *s)
{
    size_t n = 0;
    const char *const *w = reg_schema_warnings(s);
    while (w && w[n])
        n++;
    return n;
}

static void test_primitive_in_bare_and_object_forms(void **state)
{
    (void)state;
    reg_schema *a = parse_ok("\"long\"");
    reg_schema *b = parse_ok("{\"type\": \"long\"}");
    assert_int_equal(reg_schema_root(a)->type, REG_LONG);
    assert_int_equal(reg_schema_root(b)->type, REG_LONG);
    assert_string_equal(reg_schema_canonical(b), "\"long\"");
    assert_string_equal(reg_schema_normalized(b), "\"long\"");
    assert_string_equal(reg_type_name(REG_FIXED), "fixed");
    reg_schema_free(a);
    reg_schema_free(b);
}

static const char *person =
    "{\"type\": \"record\", \"name\": \"Person\", \"namespace\": \"org.ex\",\n"
    " \"doc\": \"a person\", \"aliases\": [\"Human\", \"other.Being\"], \"canon.key\": \"id\",\n"
    " \"fields\": [\n"
    "  {\"name\": \"id\", \"type\": {\"type\": \"string\", \"logicalType\": \"uuid\"}},\n"
    "  {\"name\": \"email\", \"type\": [\"null\", \"string\"], \"default\": null,\n"
    "   \"canon.writers\": [\"crm\"], \"aliases\": [\"mail\"], \"order\": \"descending\"},\n"
    "  {\"name\": \"address\", \"type\": {\"type\": \"record\", \"name\": \"Address\", \"fields\": "
    "[\n"
    "     {\"name\": \"city\", \"type\": \"string\", \"default\": \"\"}]}},\n"
    "  {\"name\": \"home\", \"type\": \"Address\"},\n"
    "  {\"name\": \"status\", \"type\": {\"type\": \"enum\", \"name\": \"Status\", \"namespace\": "
    "\"st\",\n"
    "     \"symbols\": [\"ACTIVE\", \"GONE\"], \"default\": \"ACTIVE\"}},\n"
    "  {\"name\": \"balance\", \"type\": {\"type\": \"bytes\", \"logicalType\": \"decimal\",\n"
    "     \"precision\": 10, \"scale\": 2}},\n"
    "  {\"name\": \"tags\", \"type\": {\"type\": \"map\", \"values\": {\"type\": \"array\", "
    "\"items\": \"int\"}}},\n"
    "  {\"name\": \"hash\", \"type\": {\"type\": \"fixed\", \"name\": \"MD5\", \"size\": 16}}\n"
    " ]}";

static void test_record_graph_keeps_what_the_registry_needs(void **state)
{
    (void)state;
    reg_schema *s = parse_ok(person);
    const reg_node *r = reg_schema_root(s);
    assert_int_equal(r->type, REG_RECORD);
    assert_string_equal(r->name, "Person");
    assert_string_equal(r->namespace_, "org.ex");
    assert_string_equal(r->fullname, "org.ex.Person");
    assert_string_equal(r->doc, "a person");
    assert_int_equal(r->n_aliases, 2);
    assert_string_equal(r->aliases[0], "org.ex.Human"); /* relative to the namespace */
    assert_string_equal(r->aliases[1], "other.Being");
    assert_null(r->aliases[2]);
    assert_string_equal(json_string_value(json_object_get(r->props, "canon.key")), "id");
    assert_int_equal(r->n_fields, 8);

    const reg_field *id = &r->fields[0];
    assert_int_equal(id->type->type, REG_STRING);
    assert_int_equal(id->type->logical, REG_LT_UUID);
    assert_null(id->default_json);

    const reg_field *email = &r->fields[1];
    assert_int_equal(email->index, 1);
    assert_int_equal(email->type->type, REG_UNION);
    assert_int_equal(email->type->n_branches, 2);
    assert_true(json_is_null(email->default_json));
    assert_int_equal(email->order, -1);
    assert_string_equal(email->aliases[0], "mail");
    assert_true(json_is_array(json_object_get(email->props, "canon.writers")));

    /* A nested named type inherits the namespace; a later reference is the same node. */
    const reg_node *addr = r->fields[2].type;
    assert_string_equal(addr->fullname, "org.ex.Address");
    assert_ptr_equal(r->fields[3].type, addr);
    assert_ptr_equal(reg_schema_find(s, "org.ex.Address"), addr);
    assert_null(reg_schema_find(s, "Address"));
    assert_string_equal(json_string_value(addr->fields[0].default_json), "");

    const reg_node *st = r->fields[4].type;
    assert_string_equal(st->fullname, "st.Status");
    assert_string_equal(st->enum_default, "ACTIVE");
    assert_int_equal(st->n_symbols, 2);

    const reg_node *bal = r->fields[5].type;
    assert_int_equal(bal->logical, REG_LT_DECIMAL);
    assert_int_equal(bal->precision, 10);
    assert_int_equal(bal->scale, 2);
    assert_null(bal->props); /* precision/scale belong to the logical type */

    const reg_node *tags = r->fields[6].type;
    assert_int_equal(tags->type, REG_MAP);
    assert_int_equal(tags->items->type, REG_ARRAY);
    assert_int_equal(tags->items->items->type, REG_INT);

    assert_int_equal(r->fields[7].type->size, 16);
    assert_int_equal(reg_schema_named_count(s), 4);
    assert_int_equal(n_warnings(s), 0);
    reg_schema_free(s);
}

static void test_recursive_type_points_back_to_itself(void **state)
{
    (void)state;
    reg_schema *s = parse_ok("{\"type\": \"record\", \"name\": \"LinkedList\", \"fields\": ["
                             "{\"name\": \"value\", \"type\": \"int\"},"
                             "{\"name\": \"next\", \"type\": [\"null\", \"LinkedList\"]}]}");
    const reg_node *r = reg_schema_root(s);
    assert_ptr_equal(r->fields[1].type->branches[1], r);
    assert_string_equal(reg_schema_canonical(s),
                        "{\"name\":\"LinkedList\",\"type\":\"record\",\"fields\":[{\"name\":"
                        "\"value\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\","
                        "\"LinkedList\"]}]}");
    reg_schema_free(s);
}

static void test_short_name_resolves_only_in_the_enclosing_namespace(void **state)
{
    (void)state;
    /* Z is defined in the null namespace and referenced by short name from inside
     * namespace x: the specification (and Avro C) look only for x.Z. Java would fall back
     * to Z; the message says so. */
    parse_bad("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
              "{\"name\": \"z\", \"type\": {\"type\": \"fixed\", \"name\": \"Z\", \"size\": 1}},"
              "{\"name\": \"y\", \"type\": {\"type\": \"record\", \"name\": \"x.Y\", \"fields\": ["
              "  {\"name\": \"z2\", \"type\": \"Z\"}]}}]}",
              "field 'x.Y.z2': unknown type 'Z' (there is a 'Z' in the null namespace");
    /* In the enclosing namespace it resolves, by short or full name. */
    reg_schema *s =
        parse_ok("{\"type\": \"record\", \"name\": \"R\", \"namespace\": \"x\", \"fields\": ["
                 "{\"name\": \"z\", \"type\": {\"type\": \"fixed\", \"name\": \"Z\", \"size\": 1}},"
                 "{\"name\": \"a\", \"type\": \"Z\"}, {\"name\": \"b\", \"type\": \"x.Z\"}]}");
    const reg_node *r = reg_schema_root(s);
    assert_ptr_equal(r->fields[1].type, reg_schema_find(s, "x.Z"));
    assert_ptr_equal(r->fields[2].type, reg_schema_find(s, "x.Z"));
    reg_schema_free(s);
}

static void test_type_object_naming_a_named_type_is_a_reference(void **state)
{
    (void)state;
    reg_schema *s = parse_ok("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
                             "{\"name\": \"a\", \"type\": {\"type\": \"enum\", \"name\": \"E\", "
                             "\"symbols\": [\"X\"]}},"
                             "{\"name\": \"b\", \"type\": {\"type\": \"E\"}}]}");
    const reg_node *r = reg_schema_root(s);
    assert_ptr_equal(r->fields[0].type, r->fields[1].type);
    reg_schema_free(s);
}

static void test_names_namespaces_and_duplicates_are_validated(void **state)
{
    (void)state;
    parse_bad("{\"type\": \"record\", \"name\": \"9lives\", \"fields\": []}",
              "not a valid Avro name");
    parse_bad("{\"type\": \"record\", \"name\": \"R\", \"namespace\": \"a..b\", \"fields\": []}",
              "namespace");
    parse_bad("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
              "{\"name\": \"a\", \"type\": \"int\"}, {\"name\": \"a\", \"type\": \"long\"}]}",
              "duplicate field 'a'");
    parse_bad("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
              "{\"name\": \"a-b\", \"type\": \"int\"}]}",
              "field name 'a-b'");
    parse_bad("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
              "{\"name\": \"a\", \"type\": {\"type\": \"fixed\", \"name\": \"R\", \"size\": 1}}]}",
              "already defined");
    parse_bad("{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\", \"A\"]}", "duplicate");
    parse_bad("{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\", \"b c\"]}", "b c");
    parse_bad("{\"type\": \"enum\", \"name\": \"long\", \"symbols\": [\"A\"]}", "primitive");
    parse_bad("{\"type\": \"fixed\", \"name\": \"F\", \"size\": -1}", "size");
    parse_bad("{\"type\": \"fixed\", \"name\": \"F\", \"size\": 1.5}", "size");
    parse_bad("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
              "{\"name\": \"a\", \"type\": \"Nope\"}]}",
              "field 'R.a': unknown type 'Nope'");
    parse_bad("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
              "{\"name\": \"a\", \"type\": \"int\", \"order\": \"sideways\"}]}",
              "order");
    parse_bad("{\"type\": \"array\"}", "items");
    parse_bad("{\"type\": \"map\", \"items\": \"int\"}", "values");
    parse_bad("42", "not a schema");
}

/* Text of a schema built in a growing buffer (the long-list tests need thousands of
 * entries). */
typedef struct {
    char *p;
    size_t len, cap;
} text_buf;

static void tb_add(text_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A record of n string fields f0..f(n-1), then "dup" as one more field when dup >= 0. */
static char *long_record(size_t n, long dup)
{
    text_buf b = {0};
    tb_add(&b, "{\"type\": \"record\", \"name\": \"Long\", \"fields\": [");
    for (size_t i = 0; i < n; i++)
        tb_add(&b, "%s{\"name\": \"f%zu\", \"type\": \"string\"}", i ? ", " : "", i);
    if (dup >= 0)
        tb_add(&b, ", {\"name\": \"f%ld\", \"type\": \"int\"}", dup);
    tb_add(&b, "]}");
    return b.p;
}

/* Long field lists, symbol lists and many named types take the hashed duplicate checks
 * and name index (short ones scan): both paths must give the same verdicts. */
static void test_long_lists_find_duplicates_and_names_like_short_ones(void **state)
{
    (void)state;
    char *ok = long_record(20000, -1);
    reg_schema *s = parse_ok(ok);
    const reg_node *root = reg_schema_root(s);
    assert_int_equal(root->n_fields, 20000);
    assert_string_equal(root->fields[19999].name, "f19999");
    reg_schema_free(s);
    free(ok);
    for (long dup = 0; dup < 20000; dup += 6666) {
        char *bad = long_record(20000, dup);
        char want[64];
        snprintf(want, sizeof(want), "duplicate field 'f%ld'", dup);
        parse_bad(bad, want);
        free(bad);
    }

    text_buf e = {0};
    tb_add(&e, "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [");
    for (int i = 0; i < 5000; i++)
        tb_add(&e, "%s\"S%d\"", i ? ", " : "", i);
    size_t open_end = e.len;
    tb_add(&e, "]}");
    s = parse_ok(e.p);
    assert_int_equal(reg_schema_root(s)->n_symbols, 5000);
    reg_schema_free(s);
    e.len = open_end;
    tb_add(&e, ", \"S4321\"]}");
    parse_bad(e.p, "duplicate symbols entry 'S4321'");
    free(e.p);

    /* 40 named records, each field referring to the previous one by name: the index
     * must resolve every reference, and a redefinition past the scan limit is caught. */
    text_buf r = {0};
    tb_add(&r, "{\"type\": \"record\", \"name\": \"N0\", \"namespace\": \"ns\", \"fields\": [");
    for (int i = 1; i < 40; i++)
        tb_add(&r,
               "%s{\"name\": \"r%d\", \"type\": {\"type\": \"record\", \"name\": \"N%d\", "
               "\"fields\": [{\"name\": \"back\", \"type\": [\"null\", \"N%d\"]}]}}",
               i > 1 ? ", " : "", i, i, i - 1);
    open_end = r.len;
    tb_add(&r, "]}");
    s = parse_ok(r.p);
    assert_non_null(reg_schema_find(s, "ns.N39"));
    assert_non_null(reg_schema_find(s, "ns.N0"));
    assert_null(reg_schema_find(s, "ns.N40"));
    reg_schema_free(s);
    r.len = open_end;
    tb_add(&r, ", {\"name\": \"again\", \"type\": {\"type\": \"fixed\", \"name\": \"N33\", "
               "\"size\": 1}}]}");
    parse_bad(r.p, "the name 'ns.N33' is already defined");
    free(r.p);
}

static void test_unions_refuse_nesting_and_duplicate_branches(void **state)
{
    (void)state;
    parse_bad("[\"null\", [\"int\"]]", "immediately contain another union");
    parse_bad("[\"int\", {\"type\": \"int\", \"logicalType\": \"date\"}]",
              "two branches of type int");
    parse_bad(
        "[{\"type\": \"map\", \"values\": \"int\"}, {\"type\": \"map\", \"values\": \"long\"}]",
        "two branches of type map");
    parse_bad("[{\"type\": \"fixed\", \"name\": \"A\", \"size\": 1}, \"A\"]",
              "two branches of type A");
    /* Two named types of the same kind but different names are fine. */
    reg_schema *s = parse_ok("[{\"type\": \"fixed\", \"name\": \"A\", \"size\": 1},"
                             " {\"type\": \"fixed\", \"name\": \"B\", \"size\": 1}]");
    reg_schema_free(s);
}

static void test_json_syntax_and_duplicate_keys_are_refused(void **state)
{
    (void)state;
    parse_bad("{\"type\": \"int\"", "not valid JSON");
    parse_bad("{\"type\": \"int\", \"type\": \"string\"}", "not valid JSON");
    parse_bad("\"int\" \"long\"", "not valid JSON");
    parse_bad("{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\\u0000B\"]}", "\\u0000");
}

static void test_invalid_logical_types_are_ignored_with_a_warning(void **state)
{
    (void)state;
    reg_schema *s =
        parse_ok("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
                 "{\"name\": \"d\", \"type\": {\"type\": \"long\", \"logicalType\": \"date\"}},"
                 "{\"name\": \"x\", \"type\": {\"type\": \"bytes\", \"logicalType\": \"decimal\","
                 " \"precision\": 2, \"scale\": 3}}]}");
    const reg_node *r = reg_schema_root(s);
    assert_int_equal(r->fields[0].type->logical, REG_LT_NONE);
    assert_int_equal(r->fields[1].type->logical, REG_LT_NONE);
    assert_int_equal(n_warnings(s), 2);
    assert_non_null(strstr(reg_schema_warnings(s)[0], "field 'R.d'"));
    assert_non_null(strstr(reg_schema_warnings(s)[0], "requires literal type int"));
    /* What was written stays part of the identity even though it is ignored. */
    assert_string_equal(json_string_value(json_object_get(r->fields[0].type->props, "logicalType")),
                        "date");
    assert_non_null(strstr(reg_schema_normalized(s), "\"logicalType\":\"date\""));
    reg_schema_free(s);

    /* fixed(5) holds at most 11 decimal digits. */
    s = parse_ok("{\"type\": \"fixed\", \"name\": \"F\", \"size\": 5, \"logicalType\": \"decimal\","
                 " \"precision\": 12}");
    assert_int_equal(reg_schema_root(s)->logical, REG_LT_NONE);
    assert_int_equal(n_warnings(s), 1);
    reg_schema_free(s);
    s = parse_ok("{\"type\": \"fixed\", \"name\": \"F\", \"size\": 5, \"logicalType\": \"decimal\","
                 " \"precision\": 11}");
    assert_int_equal(reg_schema_root(s)->logical, REG_LT_DECIMAL);
    assert_int_equal(n_warnings(s), 0);
    reg_schema_free(s);
}

static void test_logical_types_on_their_base_types(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        reg_logical want;
    } cases[] = {
        {"{\"type\": \"int\", \"logicalType\": \"date\"}", REG_LT_DATE},
        {"{\"type\": \"int\", \"logicalType\": \"time-millis\"}", REG_LT_TIME_MILLIS},
        {"{\"type\": \"long\", \"logicalType\": \"time-micros\"}", REG_LT_TIME_MICROS},
        {"{\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}", REG_LT_TIMESTAMP_MILLIS},
        {"{\"type\": \"long\", \"logicalType\": \"timestamp-micros\"}", REG_LT_TIMESTAMP_MICROS},
        {"{\"type\": \"long\", \"logicalType\": \"timestamp-nanos\"}", REG_LT_TIMESTAMP_NANOS},
        {"{\"type\": \"long\", \"logicalType\": \"local-timestamp-millis\"}",
         REG_LT_LOCAL_TIMESTAMP_MILLIS},
        {"{\"type\": \"long\", \"logicalType\": \"local-timestamp-micros\"}",
         REG_LT_LOCAL_TIMESTAMP_MICROS},
        {"{\"type\": \"long\", \"logicalType\": \"local-timestamp-nanos\"}",
         REG_LT_LOCAL_TIMESTAMP_NANOS},
        {"{\"type\": \"string\", \"logicalType\": \"uuid\"}", REG_LT_UUID},
        {"{\"type\": \"fixed\", \"name\": \"U\", \"size\": 16, \"logicalType\": \"uuid\"}",
         REG_LT_UUID},
        {"{\"type\": \"fixed\", \"name\": \"D\", \"size\": 12, \"logicalType\": \"duration\"}",
         REG_LT_DURATION},
        {"{\"type\": \"fixed\", \"name\": \"D\", \"size\": 11, \"logicalType\": \"duration\"}",
         REG_LT_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reg_schema *s = parse_ok(cases[i].text);
        assert_int_equal(reg_schema_root(s)->logical, cases[i].want);
        assert_int_equal(n_warnings(s), cases[i].want == REG_LT_NONE);
        if (cases[i].want != REG_LT_NONE) {
            /* The normalized form writes the logical type back under its own name. */
            json_t *n = json_loads(reg_schema_normalized(s), 0, NULL);
            assert_non_null(n);
            const char *lt = json_string_value(json_object_get(n, "logicalType"));
            assert_non_null(lt);
            assert_string_equal(lt, reg_logical_name(cases[i].want));
            json_decref(n);
        }
        reg_schema_free(s);
    }
}

static void test_defaults_must_match_their_types(void **state)
{
    (void)state;
#define REC(ftype, def)                                                                            \
    "{\"type\": \"record\", \"name\": \"Person\", \"fields\": [{\"name\": \"f\", \"type\": " ftype \
    ", \"default\": " def "}]}"
    parse_bad(REC("\"string\"", "1"), "field 'Person.f': default 1 does not match type string");
    parse_bad(REC("[\"null\", \"string\"]", "\"x\""), "first branch");
    parse_bad(REC("[\"string\", \"null\"]", "null"), "first branch");
    parse_bad(REC("\"int\"", "2147483648"), "32-bit");
    parse_bad(REC("\"int\"", "1.0"), "does not match type int");
    parse_bad(REC("\"long\"", "\"1\""), "does not match type long");
    parse_bad(REC("\"boolean\"", "0"), "boolean");
    parse_bad(REC("\"null\"", "false"), "null");
    parse_bad(REC("\"double\"", "\"NaN\""), "double");
    parse_bad(REC("\"bytes\"", "\"\\u0100\""), "U+00FF");
    parse_bad(REC("{\"type\": \"fixed\", \"name\": \"F\", \"size\": 2}", "\"abc\""),
              "3 bytes, not 2");
    parse_bad(REC("{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\"]}", "\"B\""),
              "symbols");
    parse_bad(REC("{\"type\": \"array\", \"items\": \"int\"}", "[1, \"x\"]"),
              "field 'Person.f[1]'");
    parse_bad(REC("{\"type\": \"map\", \"values\": \"int\"}", "{\"k\": null}"), "Person.f[\"k\"]");
    parse_bad(REC("{\"type\": \"record\", \"name\": \"In\", \"fields\": [{\"name\": \"a\", "
                  "\"type\": \"int\"}]}",
                  "{}"),
              "lacks field 'a'");
    parse_bad(REC("{\"type\": \"record\", \"name\": \"In\", \"fields\": [{\"name\": \"a\", "
                  "\"type\": \"int\"}]}",
                  "{\"a\": \"s\"}"),
              "field 'Person.f.a'");
    parse_bad("{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\"], \"default\": \"B\"}",
              "not one of its symbols");

    const char *good[] = {
        REC("\"string\"", "\"\""),
        REC("[\"null\", \"string\"]", "null"),
        REC("[\"string\", \"null\"]", "\"x\""),
        REC("\"int\"", "-2147483648"),
        REC("\"long\"", "9007199254740993"),
        REC("\"double\"", "1"),
        REC("\"float\"", "1.5"),
        REC("\"bytes\"", "\"\\u00ff\\u0000\""),
        REC("{\"type\": \"fixed\", \"name\": \"F\", \"size\": 2}", "\"\\u00e9a\""),
        REC("{\"type\": \"record\", \"name\": \"In\", \"fields\": [{\"name\": \"a\", \"type\": "
            "\"int\","
            " \"default\": 3}, {\"name\": \"b\", \"type\": \"string\"}]}",
            "{\"b\": \"x\"}"),
        REC("{\"type\": \"map\", \"values\": [\"int\", \"null\"]}", "{\"a\": 1}"),
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        reg_schema_free(parse_ok(good[i]));
#undef REC
}

static void test_default_may_use_a_type_defined_later(void **state)
{
    (void)state;
    /* The default of `a` is checked once E (defined in `b`'s type... here in a's own
     * type) is known; a forward reference must not be mistaken for an unknown type. */
    reg_schema *s = parse_ok("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
                             "{\"name\": \"a\", \"type\": {\"type\": \"array\", \"items\": "
                             "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\"]}},"
                             " \"default\": [\"Y\"]},"
                             "{\"name\": \"b\", \"type\": \"E\", \"default\": \"X\"}]}");
    reg_schema_free(s);
}

static void test_reg_default_check_names_the_path(void **state)
{
    (void)state;
    reg_schema *s = parse_ok("\"string\"");
    json_t *one = json_integer(1);
    cg_err *e = reg_default_check(reg_schema_root(s), one, "person.email");
    assert_non_null(e);
    assert_string_equal(cg_err_msg(e),
                        "field 'person.email': default 1 does not match type string");
    cg_err_free(e);
    json_t *str = json_string("x");
    assert_null(reg_default_check(reg_schema_root(s), str, "p"));
    json_decref(one);
    json_decref(str);
    reg_schema_free(s);
}

static void test_schema_references_make_named_types_visible(void **state)
{
    (void)state;
    const char *addr = "{\"type\": \"record\", \"name\": \"Address\", \"namespace\": \"ex\","
                       " \"fields\": [{\"name\": \"city\", \"type\": \"string\"}]}";
    reg_schema *ref = parse_ok(addr);
    const char *text = "{\"type\": \"record\", \"name\": \"Person\", \"namespace\": \"ex\","
                       " \"fields\": [{\"name\": \"home\", \"type\": \"Address\"},"
                       " {\"name\": \"work\", \"type\": \"ex.Address\"}]}";
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    assert_non_null(err); /* without the reference, Address is unknown */
    assert_non_null(strstr(cg_err_msg(err), "unknown type 'Address'"));
    cg_err_free(err);

    const reg_schema *refs[] = {ref};
    err = reg_schema_parse(text, strlen(text), refs, 1, &s);
    assert_null(err);
    const reg_node *r = reg_schema_root(s);
    assert_ptr_equal(r->fields[0].type, reg_schema_root(ref));
    assert_ptr_equal(r->fields[1].type, reg_schema_root(ref));
    assert_ptr_equal(reg_schema_find(s, "ex.Address"), reg_schema_root(ref));
    assert_int_equal(reg_schema_named_count(s), 1);
    /* Canonical form inlines the referenced type at first use, as Java does. */
    assert_string_equal(
        reg_schema_canonical(s),
        "{\"name\":\"ex.Person\",\"type\":\"record\",\"fields\":[{\"name\":\"home\","
        "\"type\":{\"name\":\"ex.Address\",\"type\":\"record\",\"fields\":[{\"name\":"
        "\"city\",\"type\":\"string\"}]}},{\"name\":\"work\",\"type\":\"ex.Address\"}]}");
    /* Redefining a referenced name is refused. */
    const char *redef = "{\"type\": \"record\", \"name\": \"ex.Address\", \"fields\": []}";
    reg_schema *s2 = NULL;
    err = reg_schema_parse(redef, strlen(redef), refs, 1, &s2);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "already defined"));
    cg_err_free(err);
    reg_schema_free(s);
    reg_schema_free(ref);
}

/* References that share references (diamonds, 40 levels deep here): a lookup reads each
 * schema once, not once per path to it (2^40 of them), and finds the nearest definition
 * first, as a depth-first walk would. */
static void test_shared_references_are_read_once(void **state)
{
    (void)state;
    enum { LEVELS = 40 };
    reg_schema *b[LEVELS], *c[LEVELS];
    char text[256];
    for (int k = 0; k < LEVELS; k++) {
        const reg_schema *below[2] = {k ? b[k - 1] : NULL, k ? c[k - 1] : NULL};
        size_t n = k ? 2 : 0;
        snprintf(text, sizeof(text), "{\"type\": \"record\", \"name\": \"d.B%d\", \"fields\": []}",
                 k);
        assert_null(reg_schema_parse(text, strlen(text), below, n, &b[k]));
        snprintf(text, sizeof(text), "{\"type\": \"record\", \"name\": \"d.C%d\", \"fields\": []}",
                 k);
        assert_null(reg_schema_parse(text, strlen(text), below, n, &c[k]));
    }
    const reg_schema *top_refs[2] = {b[LEVELS - 1], c[LEVELS - 1]};
    const char *top = "{\"type\": \"record\", \"name\": \"d.Top\", \"fields\": ["
                      "{\"name\": \"x\", \"type\": \"d.B0\"}]}";
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(top, strlen(top), top_refs, 2, &s));
    assert_ptr_equal(reg_schema_find(s, "d.B0"), reg_schema_root(b[0]));
    assert_ptr_equal(reg_schema_find(s, "d.C20"), reg_schema_root(c[20]));
    assert_null(reg_schema_find(s, "d.Nope"));
    reg_schema_free(s);
    for (int k = LEVELS; k-- > 0;) {
        reg_schema_free(b[k]);
        reg_schema_free(c[k]);
    }
}

static void test_normalized_form_ignores_whitespace_key_order_and_doc(void **state)
{
    (void)state;
    const char *a =
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"doc\":\"one\",\"fields\":["
        "{\"name\":\"a\",\"type\":[\"null\",\"string\"],\"default\":null,\"x-prop\":{\"b\":1,\"a\":"
        "2}},"
        "{\"name\":\"d\",\"type\":\"double\",\"default\":1}]}";
    const char *b =
        "{\r\n  \"fields\" : [\r\n    { \"default\" : null, \"type\" : [ \"null\", \"string\" "
        "],\r\n"
        "      \"x-prop\": {\"a\": 2, \"b\": 1}, \"name\" : \"a\", \"doc\": \"field doc\" },\r\n"
        "    {\"type\": \"double\", \"name\": \"d\", \"default\": 1.0}\r\n  ],\r\n"
        "  \"name\" : \"n.R\",\r\n  \"doc\" : \"two\",\r\n  \"type\" : \"record\"\r\n}\r\n";
    reg_schema *sa = parse_ok(a), *sb = parse_ok(b);
    assert_string_equal(reg_schema_normalized(sa), reg_schema_normalized(sb));
    /* doc on a primitive or an array is not a property either. */
    reg_schema *p1 = parse_ok(
        "{\"type\": \"array\", \"items\": {\"type\": \"int\", \"doc\": \"x\"}, \"doc\": \"y\"}");
    reg_schema *p2 = parse_ok("{\"type\": \"array\", \"items\": \"int\"}");
    assert_string_equal(reg_schema_normalized(p1), reg_schema_normalized(p2));
    reg_schema_free(p1);
    reg_schema_free(p2);
    assert_string_equal(reg_schema_canonical(sa), reg_schema_canonical(sb));
    assert_null(strstr(reg_schema_normalized(sa), "doc"));
    assert_string_equal(
        reg_schema_normalized(sa),
        "{\"name\":\"n.R\",\"type\":\"record\",\"fields\":[{\"name\":\"a\",\"type\":"
        "[\"null\",\"string\"],\"default\":null,\"x-prop\":{\"a\":2,\"b\":1}},"
        "{\"name\":\"d\",\"type\":\"double\",\"default\":1.0}]}");
    reg_schema_free(sa);
    reg_schema_free(sb);
}

static void test_normalized_form_keeps_what_canonical_form_drops(void **state)
{
    (void)state;
    static const char *pairs[][2] = {
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
         "\"default\":1}]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
         "\"default\":2}]}"},
        {"{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}",
         "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
         "{\"type\":\"record\",\"name\":\"R\",\"aliases\":[\"Q\"],\"fields\":[]}"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
         "{\"type\":\"record\",\"name\":\"R\",\"canon.key\":\"id\",\"fields\":[]}"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
         "\"order\":\"ignore\"}]}"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        reg_schema *x = parse_ok(pairs[i][0]), *y = parse_ok(pairs[i][1]);
        assert_string_equal(reg_schema_canonical(x), reg_schema_canonical(y));
        if (strcmp(reg_schema_normalized(x), reg_schema_normalized(y)) == 0)
            fail_msg("pair %zu normalizes equally: %s", i, reg_schema_normalized(x));
        reg_schema_free(x);
        reg_schema_free(y);
    }
}

static void test_defaults_are_normalized_against_their_types(void **state)
{
    (void)state;
    /* A record default lists its fields in order, filled from their own defaults; a
     * double default is a real; map keys are sorted. */
    const char *a =
        "{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"in\", "
        "\"type\": {\"type\": \"record\", \"name\": \"In\", \"fields\": ["
        "{\"name\": \"a\", \"type\": \"int\", \"default\": 3}, {\"name\": \"b\", \"type\": "
        "\"string\"},"
        "{\"name\": \"d\", \"type\": \"double\", \"default\": 2},"
        "{\"name\": \"m\", \"type\": {\"type\": \"map\", \"values\": \"int\"}, \"default\": {}}]},"
        " \"default\": {\"m\": {\"z\": 1, \"y\": 2}, \"b\": \"x\", \"junk\": true}}]}";
    reg_schema *s = parse_ok(a);
    const reg_field *f = &reg_schema_root(s)->fields[0];
    json_t *n = reg_default_normalize(f->type, f->default_json);
    assert_non_null(n);
    char *text = json_dumps(n, JSON_COMPACT);
    assert_string_equal(text, "{\"a\":3,\"b\":\"x\",\"d\":2.0,\"m\":{\"y\":2,\"z\":1}}");
    assert_non_null(strstr(reg_schema_normalized(s), text));
    free(text);
    json_decref(n);
    /* A value that does not match gives NULL. */
    json_t *bad = json_string("nope");
    assert_null(reg_default_normalize(f->type, bad));
    json_decref(bad);
    reg_schema_free(s);
}

static void test_normalized_form_is_a_valid_schema_and_a_fixpoint(void **state)
{
    (void)state;
    reg_schema *s = parse_ok(person);
    const char *n1 = reg_schema_normalized(s);
    reg_schema *again = parse_ok(n1);
    assert_string_equal(reg_schema_normalized(again), n1);
    assert_string_equal(reg_schema_canonical(again), reg_schema_canonical(s));
    assert_int_equal(reg_schema_fingerprint(again), reg_schema_fingerprint(s));

    /* With doc, the JSON still parses to the same schema. */
    json_t *j = reg_node_json(reg_schema_root(s), REG_JSON_DOC);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "doc")), "a person");
    char *text = json_dumps(j, JSON_COMPACT);
    reg_schema *withdoc = parse_ok(text);
    assert_string_equal(reg_schema_normalized(withdoc), n1);
    free(text);
    json_decref(j);
    reg_schema_free(withdoc);
    reg_schema_free(again);
    reg_schema_free(s);
}

static void test_json_writer_assembles_fields_into_one_valid_schema(void **state)
{
    (void)state;
    /* A derived record built from person's fields: Address appears in two fields and
     * must be defined once. */
    reg_schema *s = parse_ok(person);
    const reg_node *r = reg_schema_root(s);
    reg_json_writer *w = reg_json_writer_new(0);
    assert_non_null(w);
    json_t *fields = json_array();
    for (size_t i = 0; i < r->n_fields; i++) {
        json_t *f = reg_json_writer_field(w, &r->fields[i]);
        assert_non_null(f);
        json_array_append_new(fields, f);
    }
    json_t *rec = json_pack("{s:s, s:s, s:o}", "type", "record", "name", "org.ex.PersonUpdate",
                            "fields", fields);
    char *text = json_dumps(rec, JSON_COMPACT);
    reg_schema *d = parse_ok(text);
    const reg_node *dr = reg_schema_root(d);
    assert_int_equal(dr->n_fields, r->n_fields);
    assert_ptr_equal(dr->fields[2].type, dr->fields[3].type); /* one Address */
    assert_string_equal(dr->fields[2].type->fullname, "org.ex.Address");
    assert_true(json_is_null(dr->fields[1].default_json));
    assert_int_equal(dr->fields[1].order, -1);
    free(text);
    json_decref(rec);

    /* Marked types are written by name: a recursive field refers to the record. */
    json_t *t = reg_json_writer_type(w, r->fields[2].type);
    assert_string_equal(json_string_value(t), "org.ex.Address");
    json_decref(t);
    reg_json_writer *w2 = reg_json_writer_new(0);
    assert_int_equal(reg_json_writer_mark(w2, r), 0);
    t = reg_json_writer_type(w2, r);
    assert_string_equal(json_string_value(t), "org.ex.Person");
    json_decref(t);
    reg_json_writer_free(w2);
    reg_json_writer_free(w);
    reg_schema_free(d);
    reg_schema_free(s);
}

static void test_avro_c_bugs_do_not_refuse_valid_schemas(void **state)
{
    (void)state;
    /* Avro C 1.11.1 reads a reference to a type named "record" as the keyword, does not
     * know the "error" type, and refuses the empty union; all three are valid Avro. */
    reg_schema *s = parse_ok("{\"type\": \"record\", \"name\": \"record\", \"fields\": ["
                             "{\"name\": \"next\", \"type\": [\"null\", \"record\"]}]}");
    assert_ptr_equal(reg_schema_root(s)->fields[0].type->branches[1], reg_schema_root(s));
    reg_schema_free(s);
    s = parse_ok("{\"type\": \"error\", \"name\": \"Oops\", \"fields\": []}");
    assert_true(reg_schema_root(s)->is_error);
    assert_string_equal(reg_schema_canonical(s),
                        "{\"name\":\"Oops\",\"type\":\"record\",\"fields\":[]}");
    reg_schema_free(s);
    s = parse_ok("[]");
    assert_int_equal(reg_schema_root(s)->n_branches, 0);
    reg_schema_free(s);
    s = parse_ok("{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [], \"aliases\": []}");
    assert_int_equal(reg_schema_root(s)->n_symbols, 0);
    assert_null(reg_schema_root(s)->aliases); /* an empty list is none */
    assert_non_null(strstr(reg_schema_warnings(s)[0], "at least one symbol"));
    reg_schema_free(s);
    static const char *const keyword_names[] = {"record", "fixed", "map", "array", "enum", "error"};
    for (size_t i = 0; i < sizeof(keyword_names) / sizeof(keyword_names[0]); i++) {
        char text[300];
        snprintf(
            text, sizeof(text),
            "{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
            "{\"name\": \"a\", \"type\": {\"type\": \"fixed\", \"name\": \"%s\", \"size\": 1}},"
            "{\"name\": \"b\", \"type\": \"%s\"}]}",
            keyword_names[i], keyword_names[i]);
        s = parse_ok(text);
        assert_ptr_equal(reg_schema_root(s)->fields[1].type, reg_schema_root(s)->fields[0].type);
        reg_schema_free(s);
    }
    /* A bytes default with U+0000 is valid; Avro C's JSON reader refuses it. */
    s = parse_ok("{\"type\": \"record\", \"name\": \"R\", \"fields\": ["
                 "{\"name\": \"b\", \"type\": \"bytes\", \"default\": \"\\u0000\"}]}");
    assert_int_equal(json_string_length(reg_schema_root(s)->fields[0].default_json), 1);
    reg_schema_free(s);
}

static void test_hostile_nesting_is_refused_not_crashed(void **state)
{
    (void)state;
    size_t depth = 5000;
    char *text = malloc(depth * 40 + 16);
    char *p = text;
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "{\"type\":\"array\",\"items\":");
    p += sprintf(p, "\"int\"");
    for (size_t i = 0; i < depth; i++)
        *p++ = '}';
    *p = '\0';
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    assert_non_null(err);
    assert_null(s);
    cg_err_free(err);
    free(text);
}

static void test_unknown_custom_props_are_kept_on_every_kind_of_type(void **state)
{
    (void)state;
    reg_schema *s =
        parse_ok("{\"type\": \"map\", \"values\": {\"type\": \"int\", \"x\": 1}, \"cp\": true}");
    const reg_node *r = reg_schema_root(s);
    assert_true(json_is_true(json_object_get(r->props, "cp")));
    assert_int_equal(json_integer_value(json_object_get(r->items->props, "x")), 1);
    assert_string_equal(reg_schema_canonical(s), "{\"type\":\"map\",\"values\":\"int\"}");
    assert_string_equal(reg_schema_normalized(s),
                        "{\"type\":\"map\",\"values\":{\"type\":\"int\",\"x\":1},\"cp\":true}");
    reg_schema_free(s);
}

/* Parses on many threads at once, as the HTTP pool does. Each schema is refused by Avro C
 * with its own message (a known bug each), which must reach the right schema's warnings
 * even though Avro C keeps its message in one global buffer. */
static void *parse_many(void *arg)
{
    static const char *const texts[][2] = {
        {"{\"type\": \"error\", \"name\": \"E\", \"fields\": []}", "Unknown Avro \"type\": error"},
        {"[]", "Union type must have at least one branch"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"a\", \"type\": "
         "{\"type\": \"fixed\", \"name\": \"map\", \"size\": 1}}, {\"name\": \"b\", \"type\": "
         "\"map\"}]}",
         "Map type must have \"values\""},
    };
    size_t k = (size_t)(uintptr_t)arg % 3;
    long bad = 0;
    for (int i = 0; i < 300; i++) {
        reg_schema *s = NULL;
        cg_err *err = reg_schema_parse(texts[k][0], strlen(texts[k][0]), NULL, 0, &s);
        const char *const *w = s ? reg_schema_warnings(s) : NULL;
        if (err || !w || !w[0] || !strstr(w[0], texts[k][1]) || w[1])
            bad++;
        cg_err_free(err);
        reg_schema_free(s);
    }
    return (void *)bad;
}

static void test_parses_on_many_threads_keep_their_own_messages(void **state)
{
    (void)state;
    pthread_t t[6];
    for (uintptr_t i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&t[i], NULL, parse_many, (void *)i), 0);
    long bad = 0;
    for (int i = 0; i < 6; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    assert_int_equal(bad, 0);
}

/* Mutated schema text (bytes flipped, deleted, duplicated) must be refused or accepted,
 * never crash or leak; run under ASan this is a small deterministic fuzz. */
static void test_mutated_text_never_crashes(void **state)
{
    (void)state;
    size_t len = strlen(person);
    char *buf = malloc(len * 2 + 1);
    assert_non_null(buf);
    static const char tokens[] = "{}[]\",:0123456789.-eanull";
    unsigned long long seed = 0x9E3779B97F4A7C15ULL;
    int accepted = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, person, len + 1);
        size_t n = len;
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = (size_t)(seed >> 33) % n;
            char c = tokens[(seed >> 20) % (sizeof(tokens) - 1)];
            switch ((seed >> 12) % 3) {
            case 0: /* replace */
                buf[at] = c;
                break;
            case 1: /* delete */
                memmove(buf + at, buf + at + 1, n - at);
                n--;
                break;
            default: /* insert */
                if (n < len * 2) {
                    memmove(buf + at + 1, buf + at, n - at + 1);
                    buf[at] = c;
                    n++;
                }
            }
        }
        reg_schema *sc = NULL;
        cg_err *err = reg_schema_parse(buf, n, NULL, 0, &sc);
        if (!err) {
            accepted++;
            assert_non_null(reg_schema_canonical(sc));
            assert_non_null(reg_schema_normalized(sc));
        } else {
            assert_null(sc);
            assert_true(strlen(cg_err_msg(err)) > 0);
        }
        cg_err_free(err);
        reg_schema_free(sc);
    }
    /* Some mutations land in doc text or whitespace and keep the schema valid. */
    assert_true(accepted > 0);
    free(buf);
}

/* The registry holds thousands of parsed schemas (10,000 in under 50 MB with the rest of
 * the registry). A parsed ~1 KB schema must stay well under 8 KB of heap. */
static void test_parsed_schema_stays_small(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
    skip(); /* mallinfo2() sees nothing of ASan's allocator */
#else
    enum { N = 200 };
    reg_schema *v[N];
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < N; i++)
        v[i] = parse_ok(person);
    size_t per = (mallinfo2().uordblks - before) / N;
    for (int i = 0; i < N; i++)
        reg_schema_free(v[i]);
    printf("parsed schema of %zu bytes: %zu bytes of heap\n", strlen(person), per);
    assert_true(per < 8 * 1024);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primitive_in_bare_and_object_forms),
        cmocka_unit_test(test_record_graph_keeps_what_the_registry_needs),
        cmocka_unit_test(test_recursive_type_points_back_to_itself),
        cmocka_unit_test(test_short_name_resolves_only_in_the_enclosing_namespace),
        cmocka_unit_test(test_type_object_naming_a_named_type_is_a_reference),
        cmocka_unit_test(test_names_namespaces_and_duplicates_are_validated),
        cmocka_unit_test(test_long_lists_find_duplicates_and_names_like_short_ones),
        cmocka_unit_test(test_unions_refuse_nesting_and_duplicate_branches),
        cmocka_unit_test(test_json_syntax_and_duplicate_keys_are_refused),
        cmocka_unit_test(test_invalid_logical_types_are_ignored_with_a_warning),
        cmocka_unit_test(test_logical_types_on_their_base_types),
        cmocka_unit_test(test_defaults_must_match_their_types),
        cmocka_unit_test(test_default_may_use_a_type_defined_later),
        cmocka_unit_test(test_reg_default_check_names_the_path),
        cmocka_unit_test(test_schema_references_make_named_types_visible),
        cmocka_unit_test(test_shared_references_are_read_once),
        cmocka_unit_test(test_normalized_form_ignores_whitespace_key_order_and_doc),
        cmocka_unit_test(test_normalized_form_keeps_what_canonical_form_drops),
        cmocka_unit_test(test_defaults_are_normalized_against_their_types),
        cmocka_unit_test(test_normalized_form_is_a_valid_schema_and_a_fixpoint),
        cmocka_unit_test(test_json_writer_assembles_fields_into_one_valid_schema),
        cmocka_unit_test(test_avro_c_bugs_do_not_refuse_valid_schemas),
        cmocka_unit_test(test_hostile_nesting_is_refused_not_crashed),
        cmocka_unit_test(test_unknown_custom_props_are_kept_on_every_kind_of_type),
        cmocka_unit_test(test_parses_on_many_threads_keep_their_own_messages),
        cmocka_unit_test(test_mutated_text_never_crashes),
        cmocka_unit_test(test_parsed_schema_stays_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
