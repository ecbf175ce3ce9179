/* test_canon_avro_json.c - the JSON <-> Avro binary codec of the CLI tools.
 *
 * The expectations of the first two tests come from the Apache Avro project
 * (../shared/vectors/avro_binary_encoding.jsonl, 179 rows): every row is encoded from its
 * JSON and decoded from its bytes. The rest prove the rules of avro_json.h one by one
 * (field paths in errors, plain mode, defaults, recursion) and that the decoder survives
 * hostile bytes: every truncation, many single-byte mutations and random corruptions of a
 * value using every type, run under ASan + UBSan by the sanitizer build.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canon/avro_json.h"

/* ---- helpers ------------------------------------------------------------------------ */

static reg_schema *parse(const char *text)
{
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    if (err) {
        fprintf(stderr, "schema does not parse: %s\n%s\n", cg_err_msg(err), text);
        cg_err_free(err);
        fail();
    }
    return s;
}

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j) {
        fprintf(stderr, "bad JSON in test: %s: %s\n", text, e.text);
        fail();
    }
    return j;
}

static char *hex_of(const unsigned char *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        sprintf(s + 2 * i, "%02x", b[i]);
    s[2 * n] = '\0';
    return s;
}

static unsigned char *unhex(const char *h, size_t *n)
{
    size_t len = strlen(h) / 2;
    unsigned char *b = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        b[i] = (unsigned char)v;
    }
    *n = len;
    return b;
}

/* Encodes text (JSON) under schema; returns the hex, or NULL and *msg the error. */
static char *enc_hex(const reg_schema *s, const char *text, int flags, char **msg)
{
    json_t *v = js(text);
    unsigned char *out = NULL;
    size_t n = 0;
    cg_err *err = canon_avro_json_encode(reg_schema_root(s), v, flags, &out, &n);
    json_decref(v);
    if (err) {
        if (msg)
            *msg = strdup(cg_err_msg(err));
        cg_err_free(err);
        return NULL;
    }
    char *h = hex_of(out, n);
    free(out);
    return h;
}

/* Equality of decoded JSON with a row's datum: a float decoded to a double is equal when
 * it rounds to the same float (3.4 is stored as 3.4000000953674316). */
static int same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return x == y || (float)x == (float)y;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (!w || !same(v, w))
                return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

typedef struct rows {
    json_t **v;
    size_t n;
} rows;

static rows load_vectors(void)
{
    const char *dir = getenv("CANON_VECTORS_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/avro_binary_encoding.jsonl", dir ? dir : "../shared/vectors");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s (set CANON_VECTORS_DIR)\n", path);
        fail();
    }
    rows r = {0};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] != '{')
            continue;
        r.v = realloc(r.v, (r.n + 1) * sizeof(*r.v));
        r.v[r.n++] = js(line);
    }
    free(line);
    fclose(f);
    return r;
}

static void free_rows(rows r)
{
    for (size_t i = 0; i < r.n; i++)
        json_decref(r.v[i]);
    free(r.v);
}

static int row_plain(const json_t *row)
{
    const char *note = json_string_value(json_object_get(row, "note"));
    return note && strstr(note, "plain values") ? CANON_AVRO_JSON_PLAIN : 0;
}

/* ---- the Apache Avro vectors -------------------------------------------------------- */

static void test_every_vector_row_encodes_from_json_to_its_bytes(void **state)
{
    (void)state;
    rows r = load_vectors();
    assert_int_equal(r.n, 179);
    size_t bad = 0;
    for (size_t i = 0; i < r.n; i++) {
        const json_t *row = r.v[i];
        reg_schema *s = parse(json_string_value(json_object_get(row, "schema")));
        char *datum = json_dumps(json_object_get(row, "datum"), JSON_ENCODE_ANY);
        char *msg = NULL;
        char *h = enc_hex(s, datum, row_plain(row), &msg);
        const char *want = json_string_value(json_object_get(row, "hex"));
        if (!h || strcmp(h, want)) {
            fprintf(stderr, "row %zu: %s under %s: got %s, want %s\n", i + 1, datum,
                    json_string_value(json_object_get(row, "schema")), h ? h : msg, want);
            bad++;
        }
        free(h);
        free(msg);
        free(datum);
        reg_schema_free(s);
    }
    free_rows(r);
    assert_int_equal(bad, 0);
}

static void test_every_vector_row_decodes_from_its_bytes_to_json(void **state)
{
    (void)state;
    rows r = load_vectors();
    assert_int_equal(r.n, 179);
    size_t bad = 0;
    for (size_t i = 0; i < r.n; i++) {
        const json_t *row = r.v[i];
        reg_schema *s = parse(json_string_value(json_object_get(row, "schema")));
        size_t n;
        unsigned char *b = unhex(json_string_value(json_object_get(row, "hex")), &n);
        json_t *got = NULL;
        cg_err *err = canon_avro_json_decode(reg_schema_root(s), b, n, row_plain(row), &got);
        const json_t *want = json_object_get(row, "datum");
        if (err || !same(got, want)) {
            char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
            char *w = json_dumps(want, JSON_ENCODE_ANY);
            fprintf(stderr, "row %zu: decoded %s, want %s\n", i + 1, err ? cg_err_msg(err) : g, w);
            free(g);
            free(w);
            bad++;
        } else if (!row_plain(row)) {
            /* and back again: the decoder's output is valid input with the same bytes */
            unsigned char *again = NULL;
            size_t m = 0;
            cg_err *e2 = canon_avro_json_encode(reg_schema_root(s), got, 0, &again, &m);
            if (e2 || m != n || memcmp(again, b, n)) {
                fprintf(stderr, "row %zu: re-encoding the decoded value differs\n", i + 1);
                bad++;
            }
            cg_err_free(e2);
            free(again);
        }
        cg_err_free(err);
        json_decref(got);
        free(b);
        reg_schema_free(s);
    }
    free_rows(r);
    assert_int_equal(bad, 0);
}

/* ---- rules -------------------------------------------------------------------------- */

static const char *UPDATE_SCHEMA =
    "{\"type\":\"record\",\"name\":\"PersonUpdate\",\"namespace\":\"org.ex\",\"fields\":["
    "{\"name\":\"person_id\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"source\",\"type\":\"string\"},"
    "{\"name\":\"seq\",\"type\":\"long\",\"default\":0},"
    "{\"name\":\"values\",\"type\":{\"type\":\"record\",\"name\":\"PersonValues\",\"fields\":["
    " {\"name\":\"email\",\"type\":[\"null\",\"string\"],\"default\":null},"
    " {\"name\":\"status\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":\"Status\","
    "   \"symbols\":[\"ACTIVE\",\"GONE\"]}],\"default\":null},"
    " {\"name\":\"address\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Address\","
    "   \"fields\":[{\"name\":\"city\",\"type\":[\"null\",\"string\"],\"default\":null}]}],"
    "   \"default\":null},"
    " {\"name\":\"tags\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"string\"}],"
    "   \"default\":null}"
    "]}}]}";

static void expect_error(const reg_schema *s, const char *json, int flags, const char *want)
{
    char *msg = NULL;
    char *h = enc_hex(s, json, flags, &msg);
    if (h)
        fprintf(stderr, "%s encoded to %s, expected error %s\n", json, h, want);
    assert_null(h);
    if (!strstr(msg, want))
        fprintf(stderr, "error '%s' does not contain '%s'\n", msg, want);
    assert_non_null(strstr(msg, want));
    free(msg);
}

static void test_errors_name_the_field_path(void **state)
{
    (void)state;
    reg_schema *s = parse(UPDATE_SCHEMA);
    expect_error(s, "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"email\":12}}",
                 CANON_AVRO_JSON_PLAIN, "values.email: expected null or string, got 12");
    expect_error(s,
                 "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"address\":"
                 "{\"city\":true}}}",
                 CANON_AVRO_JSON_PLAIN, "values.address.city: expected null or string, got true");
    expect_error(s, "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"tags\":[\"a\",3]}}",
                 CANON_AVRO_JSON_PLAIN, "values.tags[1]: expected string, got 3");
    expect_error(s, "{\"person_id\":\"k\",\"values\":{}}", 0, "source: missing");
    expect_error(s, "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"mail\":null}}", 0,
                 "values: unknown field 'mail'");
    expect_error(s,
                 "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"status\":"
                 "{\"org.ex.Status\":\"LOST\"}}}",
                 0, "values.status: 'LOST' is not a symbol of enum org.ex.Status");
    expect_error(s, "{\"person_id\":\"k\",\"source\":\"hr\",\"seq\":1.5,\"values\":{}}", 0,
                 "seq: expected long, got 1.5");
    reg_schema_free(s);
}

static void test_strict_mode_wants_unions_wrapped_plain_mode_takes_bare_values(void **state)
{
    (void)state;
    reg_schema *s = parse(UPDATE_SCHEMA);
    const char *bare = "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"email\":\"x\","
                       "\"status\":\"GONE\",\"address\":{\"city\":\"Oslo\"},\"tags\":[\"a\"]}}";
    const char *wrapped =
        "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"email\":{\"string\":\"x\"},"
        "\"status\":{\"org.ex.Status\":\"GONE\"},\"address\":{\"org.ex.Address\":"
        "{\"city\":{\"string\":\"Oslo\"}}},\"tags\":{\"array\":[\"a\"]}}}";
    expect_error(s, bare, 0, "values.email: expected null or string as a union value");
    char *a = enc_hex(s, bare, CANON_AVRO_JSON_PLAIN, NULL);
    char *b = enc_hex(s, wrapped, 0, NULL);
    char *c = enc_hex(s, wrapped, CANON_AVRO_JSON_PLAIN, NULL); /* wrapped is fine in plain */
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    /* key, source, seq 0, then email branch 1 "x", status branch 1 index 1, ... */
    assert_string_equal(a, "026b046872000202780202020208"
                           "4f736c6f0202026100");
    /* the short name of a named branch is accepted too */
    char *d = enc_hex(s,
                      "{\"person_id\":\"k\",\"source\":\"hr\",\"values\":{\"status\":"
                      "{\"Status\":\"GONE\"}}}",
                      0, NULL);
    assert_non_null(d);
    free(a);
    free(b);
    free(c);
    free(d);

    /* decoding in plain mode writes union values bare */
    size_t n;
    unsigned char *bytes = unhex("026b046872000202780202020208"
                                 "4f736c6f0202026100",
                                 &n);
    json_t *got = NULL;
    assert_null(canon_avro_json_decode(reg_schema_root(s), bytes, n, CANON_AVRO_JSON_PLAIN, &got));
    json_t *want = js(bare);
    json_object_set_new(want, "seq", json_integer(0));
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    assert_null(canon_avro_json_decode(reg_schema_root(s), bytes, n, 0, &got));
    want = js(wrapped);
    json_object_set_new(want, "seq", json_integer(0));
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    free(bytes);
    reg_schema_free(s);
}

static void test_plain_mode_refuses_an_ambiguous_bare_value(void **state)
{
    (void)state;
    reg_schema *s = parse("[\"null\",\"int\",\"long\",\"string\",\"double\"]");
    expect_error(s, "5", CANON_AVRO_JSON_PLAIN, "5 fits union branches int and long");
    /* a real goes to double (exact), a string to string */
    char *h = enc_hex(s, "2.5", CANON_AVRO_JSON_PLAIN, NULL);
    assert_string_equal(h, "080000000000000440");
    free(h);
    h = enc_hex(s, "{\"long\": 5}", CANON_AVRO_JSON_PLAIN, NULL);
    assert_string_equal(h, "040a");
    free(h);
    reg_schema_free(s);

    /* an integer too large for int fits long only */
    s = parse("[\"int\",\"long\"]");
    h = enc_hex(s, "4000000000", CANON_AVRO_JSON_PLAIN, NULL);
    assert_string_equal(h, "0280a0d9e61d");
    free(h);
    reg_schema_free(s);

    /* loose fits: an integer for a double when no integer branch exists */
    s = parse("[\"null\",\"double\"]");
    h = enc_hex(s, "3", CANON_AVRO_JSON_PLAIN, NULL);
    assert_string_equal(h, "020000000000000840");
    free(h);
    reg_schema_free(s);
}

static void test_missing_fields_take_their_defaults(void **state)
{
    (void)state;
    reg_schema *s =
        parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
              "{\"name\":\"a\",\"type\":[\"string\",\"null\"],\"default\":\"d\"},"
              "{\"name\":\"b\",\"type\":{\"type\":\"array\",\"items\":\"int\"},\"default\":[1,2]},"
              "{\"name\":\"c\",\"type\":\"bytes\",\"default\":\"\\u00ff\"},"
              "{\"name\":\"e\",\"type\":{\"type\":\"record\",\"name\":\"S\",\"fields\":["
              "  {\"name\":\"x\",\"type\":[\"int\",\"null\"]}]},\"default\":{\"x\":7}}]}");
    char *h = enc_hex(s, "{}", 0, NULL);
    /* a: branch 0 "d"; b: [1,2]; c: 1 byte ff; e.x: branch 0, 7 */
    assert_string_equal(h, "00026404020400"
                           "02ff"
                           "000e");
    free(h);
    reg_schema_free(s);
}

static void test_recursive_types_encode_and_decode(void **state)
{
    (void)state;
    reg_schema *s = parse("{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
                          "{\"name\":\"v\",\"type\":\"int\"},"
                          "{\"name\":\"next\",\"type\":[\"null\",\"Node\"],\"default\":null}]}");
    const char *list = "{\"v\":1,\"next\":{\"Node\":{\"v\":2,\"next\":{\"Node\":{\"v\":3,"
                       "\"next\":null}}}}}";
    char *h = enc_hex(s, list, 0, NULL);
    assert_string_equal(h, "020204020600");
    size_t n;
    unsigned char *b = unhex(h, &n);
    json_t *got = NULL;
    assert_null(canon_avro_json_decode(reg_schema_root(s), b, n, 0, &got));
    json_t *want = js(list);
    assert_true(json_equal(got, want));
    json_decref(want);
    json_decref(got);
    free(b);
    free(h);

    /* plain mode picks each level's branch once: a 90-deep bare list is linear work (a
     * trial-and-redo at every level would be 2^90 encodings) */
    json_t *deep_json = json_null();
    for (int i = 0; i < 90; i++)
        deep_json = json_pack("{s:i,s:o}", "v", i, "next", deep_json);
    unsigned char *out = NULL;
    size_t out_len = 0;
    assert_null(canon_avro_json_encode(reg_schema_root(s), deep_json, CANON_AVRO_JSON_PLAIN, &out,
                                       &out_len));
    assert_int_equal(out_len, 64 + 26 * 2 + 90); /* v: 1 byte below 64, else 2; a branch each */
    json_decref(deep_json);
    free(out);

    /* a list deeper than the recursion bound is refused, not a stack overflow */
    size_t depth = 1000;
    unsigned char *deep = malloc(3 * depth + 2);
    size_t k = 0;
    for (size_t i = 0; i < depth; i++) {
        deep[k++] = 0x02; /* v = 1 */
        deep[k++] = 0x02; /* next: branch Node */
    }
    deep[k++] = 0x02;
    deep[k++] = 0x00;
    cg_err *err = canon_avro_json_decode(reg_schema_root(s), deep, k, 0, &got);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EDECODE);
    assert_non_null(strstr(cg_err_msg(err), "nested deeper"));
    cg_err_free(err);
    free(deep);
    reg_schema_free(s);
}

/* Every type and logical type in one record. */
static const char *ALL_TYPES =
    "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"E\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"F4\",{\"type\":\"map\",\"values\":\"int\"}]},"
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "  \"precision\":9,\"scale\":2}},"
    "{\"name\":\"decf\",\"type\":{\"type\":\"fixed\",\"name\":\"D8\",\"size\":8,"
    "  \"logicalType\":\"decimal\",\"precision\":10,\"scale\":3}},"
    "{\"name\":\"uuid\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"date\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"tm\",\"type\":{\"type\":\"int\",\"logicalType\":\"time-millis\"}},"
    "{\"name\":\"tu\",\"type\":{\"type\":\"long\",\"logicalType\":\"time-micros\"}},"
    "{\"name\":\"tsm\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"tsu\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
    "{\"name\":\"ltm\",\"type\":{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}},"
    "{\"name\":\"dur\",\"type\":{\"type\":\"fixed\",\"name\":\"Dur\",\"size\":12,"
    "  \"logicalType\":\"duration\"}},"
    "{\"name\":\"nan\",\"type\":\"double\"},"
    "{\"name\":\"inf\",\"type\":\"float\"}]}";

static const char *ALL_VALUE =
    "{\"n\":null,\"b\":true,\"i\":-2147483648,\"l\":9223372036854775807,\"f\":1.5,"
    "\"d\":-0.25,\"by\":\"\\u0000\\u0001\\u007f\\u0080\\u00ff\",\"s\":\"h\\u00e9llo \\u2603\","
    "\"e\":\"B\",\"fx\":\"ab\\u00ffd\",\"a\":[1,-1,300],"
    "\"m\":{\"x\":{\"t.E\":\"A\"},\"y\":null},"
    "\"u\":{\"map\":{\"k\":1}},\"dec\":\"\\u0001\\u00e2\\u0040\","
    "\"decf\":\"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0004\\u00d2\","
    "\"uuid\":\"0b7c6a5e-2f3d-4c1b-9a8e-7d6f5e4c3b2a\",\"date\":19000,\"tm\":3600000,"
    "\"tu\":3600000000,\"tsm\":1700000000000,\"tsu\":1700000000000000,\"ltm\":-1,"
    "\"dur\":\"\\u0001\\u0000\\u0000\\u0000\\u0002\\u0000\\u0000\\u0000\\u0003\\u0000\\u0000"
    "\\u0000\",\"nan\":\"NaN\",\"inf\":\"-Infinity\"}";

static void test_every_type_round_trips(void **state)
{
    (void)state;
    reg_schema *s = parse(ALL_TYPES);
    json_t *v = js(ALL_VALUE);
    unsigned char *b = NULL;
    size_t n = 0;
    cg_err *err = canon_avro_json_encode(reg_schema_root(s), v, 0, &b, &n);
    if (err)
        fprintf(stderr, "%s\n", cg_err_msg(err));
    assert_null(err);
    /* spot checks on the bytes: bytes field is length 5 then the five raw bytes */
    const unsigned char by[] = {0x0a, 0x00, 0x01, 0x7f, 0x80, 0xff};
    assert_non_null(memmem(b, n, by, sizeof(by)));
    json_t *got = NULL;
    assert_null(canon_avro_json_decode(reg_schema_root(s), b, n, 0, &got));
    if (!json_equal(got, v)) {
        char *g = json_dumps(got, 0);
        fprintf(stderr, "decoded %s\n", g);
        free(g);
    }
    assert_true(json_equal(got, v));
    json_decref(got);
    json_decref(v);
    free(b);
    reg_schema_free(s);
}

static void test_bytes_refuse_code_points_above_255(void **state)
{
    (void)state;
    reg_schema *s = parse("\"bytes\"");
    expect_error(s, "\"\\u0100\"", 0, "got code point 256");
    reg_schema_free(s);
    s = parse("{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}");
    expect_error(s, "\"abc\"", 0, "fixed F holds 2 bytes, got 3");
    reg_schema_free(s);
    s = parse("\"int\"");
    expect_error(s, "2147483648", 0, "out of range for int");
    reg_schema_free(s);
    s = parse("\"float\"");
    expect_error(s, "1e300", 0, "out of range for float");
    reg_schema_free(s);
}

/* ---- hostile bytes ------------------------------------------------------------------ */

static void expect_decode_error(const char *schema, const char *hex, const char *want)
{
    reg_schema *s = parse(schema);
    size_t n;
    unsigned char *b = unhex(hex, &n);
    json_t *got = NULL;
    cg_err *err = canon_avro_json_decode(reg_schema_root(s), b, n, 0, &got);
    if (!err)
        fprintf(stderr, "%s decoded under %s, expected error %s\n", hex, schema, want);
    assert_non_null(err);
    assert_null(got);
    assert_int_equal(cg_err_code(err), CG_EDECODE);
    if (!strstr(cg_err_msg(err), want))
        fprintf(stderr, "error '%s' does not contain '%s'\n", cg_err_msg(err), want);
    assert_non_null(strstr(cg_err_msg(err), want));
    cg_err_free(err);
    free(b);
    reg_schema_free(s);
}

static void test_decoder_refuses_bad_bytes_with_path_and_offset(void **state)
{
    (void)state;
    expect_decode_error("\"string\"", "0a6162", "string length 5 but only 2 bytes left");
    expect_decode_error("\"string\"", "01", "negative string length");
    expect_decode_error("\"long\"", "ffffffffffffffffffff01", "varint longer than 10 bytes");
    expect_decode_error("\"long\"", "ff", "truncated");
    expect_decode_error("\"int\"", "8080808020", "out of range for int");
    expect_decode_error("\"boolean\"", "02", "invalid boolean byte 0x02");
    expect_decode_error("[\"null\",\"int\"]", "04", "union branch index 2 out of range");
    expect_decode_error("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}", "02",
                        "enum index 1 out of range");
    expect_decode_error("\"int\"", "0202", "1 bytes left after the value");
    expect_decode_error("\"string\"", "04c328", "not valid UTF-8");
    /* a count no input could hold, for items that take bytes and items that take none */
    expect_decode_error("{\"type\":\"array\",\"items\":\"int\"}", "feffffffffffffffff01",
                        "items but only");
    expect_decode_error("{\"type\":\"array\",\"items\":\"null\"}", "feffffffffffffffff01",
                        "zero-byte items");
    expect_decode_error("{\"type\":\"map\",\"values\":\"int\"}", "0202",
                        "map key length 1 but only 0 bytes left");
    expect_decode_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                        "\"type\":{\"type\":\"array\",\"items\":\"string\"}}]}",
                        "04000a", "a[1]: string length 5 but only 0 bytes left (at byte 3)");
    expect_decode_error("\"double\"", "00000000", "truncated");
    expect_decode_error("{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}", "000000", "truncated");
}

static void test_decoder_accepts_negative_block_counts(void **state)
{
    (void)state;
    /* a block of -2 items with its byte size (4), then the end */
    reg_schema *s = parse("{\"type\":\"array\",\"items\":\"int\"}");
    size_t n;
    unsigned char *b = unhex("03040204"
                             "00",
                             &n);
    json_t *got = NULL;
    assert_null(canon_avro_json_decode(reg_schema_root(s), b, n, 0, &got));
    json_t *want = js("[1,2]");
    assert_true(json_equal(got, want));
    json_decref(want);
    json_decref(got);
    free(b);
    reg_schema_free(s);
}

/* Decodes a mutated buffer: it must give a value or an error, never crash or leak (ASan),
 * and any value it gives must be valid input for the encoder. */
static int decode_mutant(const reg_node *root, const unsigned char *b, size_t n)
{
    json_t *got = NULL;
    cg_err *err = canon_avro_json_decode(root, b, n, 0, &got);
    if (err) {
        assert_null(got);
        assert_true(cg_err_code(err) == CG_EDECODE);
        cg_err_free(err);
        return 0;
    }
    unsigned char *again = NULL;
    size_t m = 0;
    cg_err *e2 = canon_avro_json_encode(root, got, 0, &again, &m);
    if (e2)
        fprintf(stderr, "decoded mutant does not re-encode: %s\n", cg_err_msg(e2));
    assert_null(e2);
    free(again);
    json_decref(got);
    return 1;
}

static void test_mutated_bytes_never_crash_the_decoder(void **state)
{
    (void)state;
    reg_schema *s = parse(ALL_TYPES);
    const reg_node *root = reg_schema_root(s);
    json_t *v = js(ALL_VALUE);
    unsigned char *b = NULL;
    size_t n = 0;
    assert_null(canon_avro_json_encode(root, v, 0, &b, &n));
    json_decref(v);
    size_t decoded = 0, refused = 0;

    /* every truncation: all refused (the value ends exactly at n) */
    for (size_t len = 0; len < n; len++) {
        unsigned char *cut = malloc(len ? len : 1); /* exact size, so ASan sees overreads */
        memcpy(cut, b, len);
        assert_int_equal(decode_mutant(root, cut, len), 0);
        free(cut);
    }
    /* every byte set to each of a few telling values */
    static const unsigned char probes[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff};
    unsigned char *m = malloc(n);
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < sizeof(probes); p++) {
            memcpy(m, b, n);
            m[i] = probes[p];
            if (decode_mutant(root, m, n))
                decoded++;
            else
                refused++;
        }
    /* random corruption of several bytes at once (fixed seed: reproducible) */
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        memcpy(m, b, n);
        int k = 1 + (int)(rand_r(&seed) % 4);
        for (int j = 0; j < k; j++)
            m[rand_r(&seed) % n] = (unsigned char)rand_r(&seed);
        size_t len = n - (size_t)(rand_r(&seed) % 3);
        if (decode_mutant(root, m, len))
            decoded++;
        else
            refused++;
    }
    /* the mutations reached both outcomes: the test exercises the checks and the values */
    assert_true(decoded > 0);
    assert_true(refused > 0);
    free(m);
    free(b);
    reg_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector_row_encodes_from_json_to_its_bytes),
        cmocka_unit_test(test_every_vector_row_decodes_from_its_bytes_to_json),
        cmocka_unit_test(test_errors_name_the_field_path),
        cmocka_unit_test(test_strict_mode_wants_unions_wrapped_plain_mode_takes_bare_values),
        cmocka_unit_test(test_plain_mode_refuses_an_ambiguous_bare_value),
        cmocka_unit_test(test_missing_fields_take_their_defaults),
        cmocka_unit_test(test_recursive_types_encode_and_decode),
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_bytes_refuse_code_points_above_255),
        cmocka_unit_test(test_decoder_refuses_bad_bytes_with_path_and_offset),
        cmocka_unit_test(test_decoder_accepts_negative_block_counts),
        cmocka_unit_test(test_mutated_bytes_never_crash_the_decoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
