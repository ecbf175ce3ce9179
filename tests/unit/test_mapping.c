/* test_mapping.c - the declarative translator's mapping (translators/mapping.h).
 *
 * Every mapping feature and every error of docs/translators.md, proven on the real
 * canonical schema of person (schemas/person.avsc) and on a test entity that uses every
 * type a mapping can set. Updates are checked by decoding their bytes with the generic
 * decoder (canon/avro_json.h) against the update schema the registry derives
 * (registry/canon_derive.h), so the encoder under test is never its own judge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <unistd.h>

#include <cmocka.h>

#include "canon/avro_json.h"
#include "registry/canon_derive.h"
#include "translators/mapping.h"

/* ---- fixtures --------------------------------------------------------------------- */

static const char *THING_SCHEMA =
    "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"canon.key\":\"id\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"n_int\",\"type\":[\"null\",\"int\"],\"default\":null},"
    "{\"name\":\"n_long\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"n_float\",\"type\":[\"null\",\"float\"],\"default\":null},"
    "{\"name\":\"n_double\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"flag\",\"type\":[\"null\",\"boolean\"],\"default\":null},"
    "{\"name\":\"ts_ms\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-"
    "millis\"}],\"default\":null},"
    "{\"name\":\"ts_us\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-"
    "micros\"}],\"default\":null},"
    "{\"name\":\"t_ms\",\"type\":[\"null\",{\"type\":\"int\",\"logicalType\":\"time-millis\"}],"
    "\"default\":null},"
    "{\"name\":\"raw\",\"type\":[\"null\",\"bytes\"],\"default\":null},"
    "{\"name\":\"ref\",\"type\":[\"null\",{\"type\":\"string\",\"logicalType\":\"uuid\"}],"
    "\"default\":null},"
    "{\"name\":\"nums\",\"type\":{\"type\":\"array\",\"items\":\"long\"},\"default\":[]},"
    "{\"name\":\"multi\",\"type\":[\"null\",\"string\",\"long\"],\"default\":null},"
    "{\"name\":\"attrs\",\"type\":[\"null\",{\"type\":\"map\",\"values\":\"string\"}],\"default\":"
    "null},"
    "{\"name\":\"count\",\"type\":\"int\",\"default\":0},"
    "{\"name\":\"inner\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Inner\",\"fields\":["
    "{\"name\":\"a\",\"type\":\"string\"},"
    "{\"name\":\"b\",\"type\":\"int\",\"default\":7},"
    "{\"name\":\"c\",\"type\":[\"null\",\"string\"],\"default\":null}]}],\"default\":null}"
    "]}";

typedef struct ent {
    reg_schema *canon, *upd;
} ent;

static reg_schema *parse_schema(const char *text)
{
    reg_schema *s = NULL;
    cg_err *e = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    if (e) {
        fprintf(stderr, "schema: %s\n", cg_err_msg(e));
        cg_err_free(e);
        fail();
    }
    return s;
}

static void ent_load(ent *x, const char *canon_text)
{
    x->canon = parse_schema(canon_text);
    char *u = NULL;
    cg_err *e = reg_canon_derive_update(x->canon, &u);
    if (e) {
        fprintf(stderr, "derive: %s\n", cg_err_msg(e));
        cg_err_free(e);
        fail();
    }
    x->upd = parse_schema(u);
    free(u);
}

static char *read_person(void)
{
    const char *d = getenv("CANON_TESTDATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/../../../schemas/person.avsc", d ? d : "tests/unit/data");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static ent person, thing;

static int setup(void **state)
{
    (void)state;
    ent_load(&person, read_person());
    ent_load(&thing, THING_SCHEMA);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reg_schema_free(person.canon);
    reg_schema_free(person.upd);
    reg_schema_free(thing.canon);
    reg_schema_free(thing.upd);
    return 0;
}

/* Parses and binds; returns the mapping, or NULL with *msg (caller frees) the error. */
static tr_mapping *mk(const ent *x, const char *text, char **msg)
{
    tr_mapping *m = NULL;
    cg_err *e = tr_mapping_parse(text, strlen(text), "hr.json", &m);
    if (!e)
        e = tr_mapping_bind(m, x->canon, x->upd, 42);
    if (e) {
        if (msg)
            *msg = strdup(cg_err_msg(e));
        else
            fprintf(stderr, "unexpected error: %s\n", cg_err_msg(e));
        cg_err_free(e);
        tr_mapping_free(m);
        return NULL;
    }
    if (msg)
        *msg = NULL;
    return m;
}

/* The error message of parsing + binding text; fails the test if there is none. */
static char *mk_err(const ent *x, const char *text)
{
    char *msg = NULL;
    tr_mapping *m = mk(x, text, &msg);
    if (m) {
        fprintf(stderr, "expected an error for:\n%s\n", text);
        tr_mapping_free(m);
        fail();
    }
    return msg;
}

static void expect_err(const ent *x, const char *text, const char *want)
{
    char *msg = mk_err(x, text);
    if (strcmp(msg, want) != 0) {
        fprintf(stderr, "got:  %s\nwant: %s\n", msg, want);
        free(msg);
        fail();
    }
    free(msg);
}

static void expect_err_has(const ent *x, const char *text, const char *part)
{
    char *msg = mk_err(x, text);
    if (!strstr(msg, part)) {
        fprintf(stderr, "got:  %s\nwant a message containing: %s\n", msg, part);
        free(msg);
        fail();
    }
    free(msg);
}

/* Applies record (JSON text) and decodes the update; NULL with *msg on an apply error. */
static json_t *run(const ent *x, const tr_mapping *m, const char *record, int64_t ts, int64_t seq,
                   char **msg, char **key)
{
    json_error_t je;
    json_t *r = json_loads(record, 0, &je);
    assert_non_null(r);
    tr_output o;
    tr_output_init(&o);
    cg_err *e = tr_mapping_apply(m, r, ts, seq, &o);
    json_decref(r);
    json_t *out = NULL;
    if (e) {
        if (msg)
            *msg = strdup(cg_err_msg(e));
        else
            fprintf(stderr, "unexpected apply error: %s\n", cg_err_msg(e));
        cg_err_free(e);
        tr_output_free(&o);
        return NULL;
    }
    if (msg)
        *msg = NULL;
    /* Confluent frame with the bound id */
    assert_true(o.value.len > 5);
    assert_int_equal(o.value.data[0], 0);
    assert_int_equal((o.value.data[1] << 24) | (o.value.data[2] << 16) | (o.value.data[3] << 8) |
                         o.value.data[4],
                     42);
    e = canon_avro_json_decode(reg_schema_root(x->upd), o.value.data + 5, o.value.len - 5,
                               CANON_AVRO_JSON_PLAIN, &out);
    if (e) {
        fprintf(stderr, "update does not decode: %s\n", cg_err_msg(e));
        cg_err_free(e);
        fail();
    }
    /* the body's key is the Kafka key */
    const char *kf = tr_mapping_key_field(m);
    json_t *bk = json_object_get(out, kf);
    assert_true(json_is_string(bk));
    assert_int_equal(json_string_length(bk), o.key.len);
    assert_memory_equal(json_string_value(bk), o.key.data, o.key.len);
    assert_int_equal(o.is_delete,
                     strcmp(json_string_value(json_object_get(out, "op")), "DELETE") == 0);
    if (key)
        *key = strndup((const char *)o.key.data, o.key.len);
    tr_output_free(&o);
    return out;
}

static json_t *run_ok(const ent *x, const tr_mapping *m, const char *record)
{
    json_t *u = run(x, m, record, 1000, 7, NULL, NULL);
    assert_non_null(u);
    return u;
}

static char *run_err(const ent *x, const tr_mapping *m, const char *record)
{
    char *msg = NULL;
    json_t *u = run(x, m, record, 1000, 7, &msg, NULL);
    if (u) {
        char *d = json_dumps(u, JSON_COMPACT);
        fprintf(stderr, "expected an apply error for %s, got %s\n", record, d);
        free(d);
        json_decref(u);
        fail();
    }
    return msg;
}

static void expect_apply_err(const ent *x, const tr_mapping *m, const char *record,
                             const char *want)
{
    char *msg = run_err(x, m, record);
    if (strcmp(msg, want) != 0) {
        fprintf(stderr, "got:  %s\nwant: %s\n", msg, want);
        free(msg);
        fail();
    }
    free(msg);
}

/* expect_apply_err() for each {record, message} of a table. */
static void expect_apply_errs(const ent *x, const tr_mapping *m, const char *const (*cases)[2],
                              size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_apply_err(x, m, cases[i][0], cases[i][1]);
}

/* values.<name> of a decoded update */
static const json_t *val(const json_t *u, const char *name)
{
    const json_t *v = json_object_get(json_object_get(u, "values"), name);
    assert_non_null(v); /* every values field is present (null when not set) */
    return v;
}

/* The `provided` list joined by commas. */
static void expect_provided(const json_t *u, const char *want)
{
    char got[512] = "";
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(u, "provided"), i, it)
    {
        if (i)
            strcat(got, ",");
        strcat(got, json_string_value(it));
    }
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "provided: got '%s', want '%s'\n", got, want);
        fail();
    }
}

static void expect_json(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal((json_t *)got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "got:  %s\nwant: %s\n", g, want_text);
        free(g);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

/* Applies record and checks one field of the update's values. */
static void expect_field(const ent *x, const tr_mapping *m, const char *record, const char *name,
                         const char *want_text)
{
    json_t *u = run_ok(x, m, record);
    expect_json(val(u, name), want_text);
    json_decref(u);
}

/* A person mapping with the given extra fields (JSON members) and top-level additions. */
static char *person_map(const char *fields, const char *extra)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"source\": {\"topic\": \"hr.employees\", \"format\": \"json\"},\n"
             " \"entity\": \"person\", \"domain\": \"hr\",\n"
             " \"key\": {\"from\": \"email\", \"normalize\": [\"trim\", \"lower\"]},\n"
             " %s%s\"fields\": {%s}}\n",
             extra ? extra : "", extra ? ",\n " : "", fields);
    return buf;
}

static char *thing_map(const char *fields, const char *extra)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"source\": {\"topic\": \"t\"}, \"entity\": \"thing\", \"domain\": \"d\",\n"
             " \"key\": \"id\",\n %s%s\"fields\": {%s}}\n",
             extra ? extra : "", extra ? ",\n " : "", fields);
    return buf;
}

/* ---- parse: syntax and structure -------------------------------------------------------- */

static void test_accessors_and_default_dlq_topic(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person, person_map("\"email\": \"email\"", NULL), NULL);
    assert_non_null(m);
    assert_string_equal(tr_mapping_source_topic(m), "hr.employees");
    assert_int_equal(tr_mapping_format(m), TR_FORMAT_JSON);
    assert_string_equal(tr_mapping_entity(m), "person");
    assert_string_equal(tr_mapping_domain(m), "hr");
    assert_string_equal(tr_mapping_dlq_topic(m), "hr.employees.dlq");
    assert_string_equal(tr_mapping_key_field(m), "person_id");
    assert_string_equal(tr_mapping_name(m), "hr.json");
    tr_mapping_free(m);

    const char *t =
        "{\"source\": {\"topic\": \"crm.people\", \"format\": \"avro\"}, \"entity\": \"person\","
        " \"domain\": \"crm\", \"dlq_topic\": \"crm.bad\", \"key\": \"email\", \"fields\": {}}";
    m = mk(&person, t, NULL);
    assert_non_null(m);
    assert_int_equal(tr_mapping_format(m), TR_FORMAT_AVRO);
    assert_string_equal(tr_mapping_dlq_topic(m), "crm.bad");
    tr_mapping_free(m);
}

/* A dead-letter topic that is the source topic loops for ever (each dead letter is read
 * and dead-lettered again); one that is the updates topic feeds domain records to the
 * aggregator. Both are refused when the mapping is loaded. */
static void test_dlq_topic_may_not_be_the_source_or_the_updates_topic(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"hr.employees", "hr.json:4: 'dlq_topic' is the source topic 'hr.employees': dead "
                         "letters would be read again, for ever"},
        {"canon.person.updates", "hr.json:4: 'dlq_topic' is 'canon.person.updates', the "
                                 "canonical updates topic: dead letters would be read as updates"},
        {"", "hr.json:4: 'dlq_topic' is empty"},
    };
    char extra[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(extra, sizeof extra, "\"dlq_topic\": \"%s\"", cases[i][0]);
        expect_err(&person, person_map("", extra), cases[i][1]);
    }
    /* another entity's updates topic, or a name that merely starts alike, is a topic */
    tr_mapping *m =
        mk(&person, person_map("", "\"dlq_topic\": \"canon.person.updates.dlq\""), NULL);
    assert_non_null(m);
    assert_string_equal(tr_mapping_dlq_topic(m), "canon.person.updates.dlq");
    tr_mapping_free(m);
}

/* A translator reading its entity's updates topic (its own output) or canonical topic (the
 * aggregator's output of its own updates) would feed itself for ever; another entity's
 * canonical topic is a legitimate source (a derived entity). */
static void test_source_topic_may_not_be_the_entitys_own_topics(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"canon.person.updates", "hr.json:1: the source topic 'canon.person.updates' is the "
                                 "updates topic of entity 'person': the translator would read "
                                 "its own output as domain events"},
        {"canon.person", "hr.json:1: the source topic 'canon.person' is the canonical topic of "
                         "entity 'person': the translator would read its own output as domain "
                         "events"},
    };
    char text[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"source\": {\"topic\": \"%s\"}, \"entity\": \"person\", "
                 "\"domain\": \"hr\", \"key\": \"email\", \"fields\": {}}",
                 cases[i][0]);
        expect_err(&person, text, cases[i][1]);
    }
    const char *other = "{\"source\": {\"topic\": \"canon.company\"}, \"entity\": "
                        "\"person\", \"domain\": \"hr\", \"key\": \"email\", "
                        "\"fields\": {}}";
    tr_mapping *m = mk(&person, other, NULL);
    assert_non_null(m);
    assert_string_equal(tr_mapping_source_topic(m), "canon.company");
    tr_mapping_free(m);
}

static void test_json_syntax_error_names_line_and_column(void **state)
{
    (void)state;
    tr_mapping *m = NULL;
    const char *t = "{\n  \"entity\": \"person\",\n  \"domain\" \"hr\"\n}";
    cg_err *e = tr_mapping_parse(t, strlen(t), "hr.json", &m);
    assert_non_null(e);
    assert_int_equal(cg_err_code(e), CG_EPARSE);
    assert_non_null(strstr(cg_err_msg(e), "hr.json:3:"));
    cg_err_free(e);
    assert_null(m);
}

static void test_duplicate_keys_are_refused(void **state)
{
    (void)state;
    tr_mapping *m = NULL;
    const char *t = "{\"entity\": \"person\", \"entity\": \"account\"}";
    cg_err *e = tr_mapping_parse(t, strlen(t), "x.json", &m);
    assert_non_null(e);
    assert_int_equal(cg_err_code(e), CG_EPARSE);
    assert_non_null(strstr(cg_err_msg(e), "duplicate"));
    cg_err_free(e);
}

static void test_unknown_options_name_their_line_and_suggest(void **state)
{
    (void)state;
    const char *t = "{\"source\": {\"topic\": \"hr\"},\n"
                    " \"entity\": \"person\",\n"
                    " \"domain\": \"hr\",\n"
                    " \"key\": \"email\",\n"
                    " \"fields\": {\n"
                    "   \"email\": {\n"
                    "     \"form\": \"mail\"\n"
                    "   }\n"
                    " }\n"
                    "}\n";
    expect_err(&person, t,
               "hr.json:7: unknown option 'form' in field 'email'; did you mean 'from'?");
    expect_err(&person,
               "{\"source\": {\"topic\": \"hr\"}, \"entity\": \"person\", \"domain\": \"hr\",\n"
               "\"key\": \"email\", \"fields\": {},\n\"dlq_topc\": \"x\"}",
               "hr.json:3: unknown option 'dlq_topc' in the mapping; did you mean 'dlq_topic'?");
    expect_err(&person,
               "{\"source\": {\"topic\": \"hr\", \"fromat\": \"json\"}, \"entity\": \"person\","
               " \"domain\": \"hr\", \"key\": \"email\", \"fields\": {}}",
               "hr.json:1: unknown option 'fromat' in 'source'; did you mean 'format'?");
    expect_err_has(&person, person_map("", "\"delete\": [{\"path\": \"x\", \"eqals\": 1}]"),
                   "unknown option 'eqals' in delete condition; did you mean 'equals'?");
    expect_err_has(&person,
                   "{\"source\": {\"topic\": \"hr\"}, \"entity\": \"person\", \"domain\": \"hr\","
                   " \"key\": {\"from\": \"e\", \"normalise\": [\"trim\"]}, \"fields\": {}}",
                   "unknown option 'normalise' in 'key'; did you mean 'normalize'?");
}

static void test_required_options_and_their_types(void **state)
{
    (void)state;
    expect_err_has(&person, "{\"entity\": \"person\"}",
                   "hr.json:1: missing required option 'source'");
    expect_err_has(
        &person,
        "{\"source\": {\"topic\": \"t\"}, \"domain\": \"hr\", \"key\": \"e\", \"fields\": {}}",
        "missing required option 'entity'");
    expect_err_has(
        &person,
        "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"key\": \"e\", \"fields\": {}}",
        "missing required option 'domain'");
    expect_err_has(&person,
                   "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\", "
                   "\"fields\": {}}",
                   "missing required option 'key'");
    expect_err_has(&person,
                   "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\", "
                   "\"key\": \"e\"}",
                   "missing required option 'fields'");
    expect_err_has(&person,
                   "{\"source\": {\"topic\": \"t\", \"format\": \"xml\"}, \"entity\": \"person\","
                   " \"domain\": \"hr\", \"key\": \"e\", \"fields\": {}}",
                   "format 'xml' is not json or avro");
    expect_err_has(&person,
                   "{\"source\": {}, \"entity\": \"person\", \"domain\": \"hr\", \"key\": \"e\", "
                   "\"fields\": {}}",
                   "missing required option 'topic'");
    expect_err_has(&person, "[1]", "a mapping must be a JSON object");
    expect_err_has(&person, person_map("\"email\": 12", NULL),
                   "a mapping must be a path or an object");
    expect_err_has(&person, person_map("\"email\": {\"from\": \"a\", \"const\": \"b\"}", NULL),
                   "give 'from' or 'const', not both");
    expect_err_has(&person, person_map("\"email\": {\"normalize\": [\"trim\"]}", NULL),
                   "needs 'from' (a path) or 'const' (a value)");
    expect_err_has(&person, person_map("\"email\": {\"from\": \"a\", \"required\": \"yes\"}", NULL),
                   "option 'required' must be true or false");
}

static void test_bad_paths_normalisations_formats_and_units_are_refused(void **state)
{
    (void)state;
    expect_err(&person, person_map("\n\"email\": {\"from\": \"a..b\"}", NULL),
               "hr.json:5: path 'a..b': empty member name");
    expect_err_has(&person, person_map("\"email\": \"a[x]\"", NULL),
                   "expected an index or a quoted name");
    expect_err_has(&person, person_map("\"email\": \"a[1\"", NULL), "expected ']'");
    expect_err_has(&person, person_map("\"email\": \"a.\"", NULL), "ends with '.'");
    expect_err_has(&person, person_map("\"email\": \"a[0]b\"", NULL),
                   "expected '.' or '[' after ']'");
    expect_err_has(&person, person_map("\"email\": \"\"", NULL), "empty path");
    expect_err_has(
        &person,
        person_map("\"email\": {\"from\": \"a\",\n \"normalize\": [\"trim\",\n \"lowercase\"]}",
                   NULL),
        "hr.json:6: unknown normalisation 'lowercase'");
    expect_err_has(&person,
                   person_map("\"birth_date\": {\"from\": \"d\", \"format\": \"%d/%q\"}", NULL),
                   "date/time format '%d/%q': unknown directive");
    expect_err_has(&person,
                   person_map("\"birth_date\": {\"from\": \"d\", \"format\": \"%Y%\"}", NULL),
                   "format ends with '%'");
    expect_err_has(&person,
                   person_map("\"birth_date\": {\"from\": \"d\", \"unit\": \"hours\"}", NULL),
                   "'unit' must be one of days, s, ms, us");
    expect_err_has(&person, person_map("", "\"delete\": {\"path\": \"x\"}"),
                   "needs exactly one of 'equals', 'in', 'present'");
    expect_err_has(&person, person_map("", "\"delete\": {\"path\": \"x\", \"in\": 3}"),
                   "'in' must be a list");
    expect_err_has(&person, person_map("", "\"event_time\": \"now\""),
                   "'event_time' must be \"record_timestamp\"");
    expect_err_has(&person,
                   person_map("", "\"event_time\": {\"from\": \"t\", \"if_missing\": \"skip\"}"),
                   "'if_missing' must be \"error\" or \"record_timestamp\"");
    expect_err_has(&person, person_map("", "\"event_time\": {\"from\": \"t\", \"unit\": \"days\"}"),
                   "event time 'unit' must be s, ms or us");
    expect_err_has(&person,
                   "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\","
                   " \"key\": {\"from\": \"e\", \"uuid\": \"v4\"}, \"fields\": {}}",
                   "'uuid' must be \"v5\" or \"none\"");
    expect_err_has(&person,
                   "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\","
                   " \"key\": {\"from\": \"e\", \"namespace\": \"nope\"}, \"fields\": {}}",
                   "'namespace' must be a UUID");
}

/* ---- bind: against the canonical and update schemas --------------------------------------- */

static void test_unknown_field_names_line_and_suggests(void **state)
{
    (void)state;
    /* line 14 of the file, as in the issue's example */
    const char *t = "{\n"
                    "  \"source\": {\"topic\": \"hr.employees\", \"format\": \"json\"},\n"
                    "  \"entity\": \"person\",\n"
                    "  \"domain\": \"hr\",\n"
                    "  \"key\": {\n"
                    "    \"from\": \"work_email\",\n"
                    "    \"normalize\": [\"trim\", \"lower\"]\n"
                    "  },\n"
                    "  \"fields\": {\n"
                    "    \"given_name\": \"first\",\n"
                    "    \"family_name\": {\n"
                    "      \"from\": \"last\"\n"
                    "    },\n"
                    "    \"emial\": \"work_email\"\n"
                    "  }\n"
                    "}\n";
    expect_err(&person, t,
               "hr.json:14: field 'emial' is not in canonical person; did you mean 'email'?");
    expect_err(&person, person_map("\"zzz_unrelated\": \"a\"", NULL),
               "hr.json:4: field 'zzz_unrelated' is not in canonical person");
    expect_err(
        &person, person_map("\"address.cty\": \"a\"", NULL),
        "hr.json:4: field 'cty' is not in record address (PostalAddress); did you mean 'city'?");
}

static void test_writers_are_enforced(void **state)
{
    (void)state;
    const char *t = "{\"source\": {\"topic\": \"support.tickets\"}, \"entity\": \"person\",\n"
                    " \"domain\": \"support\", \"key\": \"email\",\n"
                    " \"fields\": {\"phone\": \"phone\",\n"
                    "   \"birth_date\": \"dob\"}}";
    char *msg = mk_err(&person, t);
    assert_string_equal(
        msg, "hr.json:4: domain 'support' may not write 'birth_date' (canon.writers: hr)");
    free(msg);
    /* a nested field is governed by its top-level field; writers absent: anyone */
    tr_mapping *m =
        mk(&person,
           "{\"source\": {\"topic\": \"s\"}, \"entity\": \"person\", \"domain\": \"support\","
           " \"key\": \"email\", \"fields\": {\"address.city\": \"c\", \"email\": \"email\"}}",
           NULL);
    assert_non_null(m);
    tr_mapping_free(m);
    expect_err(&person,
               "{\"source\": {\"topic\": \"s\"}, \"entity\": \"person\", \"domain\": \"crm\","
               " \"key\": \"email\", \"fields\": {\"employment_status\": \"s\"}}",
               "hr.json:1: domain 'crm' may not write 'employment_status' (canon.writers: hr)");
}

static void test_type_and_option_mismatches_are_bind_errors(void **state)
{
    (void)state;
    expect_err_has(
        &person, person_map("\"person_id\": \"id\"", NULL),
        "field 'person_id' is the universal identifier (canon.key): build it in \"key\"");
    expect_err_has(&person, person_map("\"address\": \"addr\"", NULL),
                   "field 'address' is a record (PostalAddress): map its fields one by one "
                   "('address.<field>')");
    expect_err_has(&person, person_map("\"address\": \"a\", \"address.city\": \"c\"", NULL),
                   "is mapped as a whole and by its fields");
    expect_err_has(&person, person_map("\"email.domain\": \"a\"", NULL),
                   "field 'email' is a string, not a record: 'email.domain' does not exist");
    expect_err_has(
        &person,
        person_map("\"employment_status\": {\"from\": \"s\",\n \"enum\": {\"leave\": \"ONLEAVE\"}}",
                   NULL),
        "hr.json:5: field 'employment_status': 'ONLEAVE' is not a symbol of enum EmploymentStatus; "
        "did you mean 'ON_LEAVE'?");
    expect_err_has(
        &person,
        person_map("\"employment_status\": {\"from\": \"s\", \"enum_default\": \"NONE\"}", NULL),
        "'NONE' is not a symbol of enum EmploymentStatus");
    expect_err_has(&person,
                   person_map("\"email\": {\"from\": \"s\", \"enum\": {\"a\": \"B\"}}", NULL),
                   "field 'email' is a string, not an enum: 'enum' does not apply");
    expect_err_has(&person, person_map("\"email\": {\"from\": \"s\", \"format\": \"%Y\"}", NULL),
                   "not a date or time: 'format' does not apply");
    expect_err_has(&person, person_map("\"email\": {\"from\": \"s\", \"unit\": \"ms\"}", NULL),
                   "not a date or time: 'unit' does not apply");
    expect_err_has(&person,
                   person_map("\"email\": {\"from\": \"s\", \"true_values\": [\"j\"]}", NULL),
                   "not a boolean");
    expect_err_has(&person, person_map("\"birth_date\": {\"const\": \"not a date\"}", NULL),
                   "const: field '(const)' (-> birth_date): 'not a date' is not a valid date for "
                   "format 'iso8601'");
    expect_err_has(
        &thing, thing_map("\"attrs\": \"a\"", NULL),
        "field 'attrs' has type map, which a declarative mapping cannot set (use a binding)");
    expect_err_has(&thing, thing_map("\"multi\": \"a\"", NULL),
                   "the field is a union of several types: say which with 'branch'");
    expect_err_has(&thing, thing_map("\"multi\": {\"from\": \"a\", \"branch\": \"int\"}", NULL),
                   "'branch' names no type of the union");
    expect_err_has(&thing, thing_map("\"inner.c\": \"c\"", NULL),
                   "field 'inner.a' is neither nullable nor defaulted: it must be mapped");
    expect_err_has(&thing,
                   thing_map("\"inner.a\": {\"from\": \"a\", \"clear_when_empty\": true}", NULL),
                   "field 'inner.a' is not nullable: it cannot be cleared");
    expect_err_has(&thing, thing_map("\"n_int\": {\"from\": [\"a\", \"b\"]}", NULL),
                   "a list of paths (joined as text) needs a text, enum or date/time field");
    expect_err_has(&thing, thing_map("\"n_int\": {\"from\": \"a\", \"unit\": \"days\"}", NULL),
                   "not a date or time: 'unit' does not apply");
    expect_err_has(&thing, thing_map("\"ts_ms\": {\"from\": \"a\", \"unit\": \"days\"}", NULL),
                   "unit 'days' applies to date fields only");
}

static void test_binding_twice_is_refused_and_apply_needs_a_bound_mapping(void **state)
{
    (void)state;
    const char *t = person_map("\"email\": \"email\"", NULL);
    tr_mapping *m = NULL;
    assert_null(tr_mapping_parse(t, strlen(t), "hr.json", &m));
    json_t *r = json_loads("{\"email\": \"a@b\"}", 0, NULL);
    tr_output o;
    tr_output_init(&o);
    cg_err *e = tr_mapping_apply(m, r, 0, 0, &o);
    assert_non_null(e);
    assert_int_equal(cg_err_code(e), CG_ESTATE);
    cg_err_free(e);
    /* a failed bind leaves the mapping bindable */
    e = tr_mapping_bind(m, thing.canon, thing.upd, 1);
    assert_non_null(e);
    cg_err_free(e);
    assert_null(tr_mapping_bind(m, person.canon, person.upd, 42));
    e = tr_mapping_bind(m, person.canon, person.upd, 42);
    assert_non_null(e);
    assert_int_equal(cg_err_code(e), CG_ESTATE);
    cg_err_free(e);
    assert_null(tr_mapping_apply(m, r, 0, 0, &o));
    tr_output_free(&o);
    json_decref(r);
    tr_mapping_free(m);
}

static void test_update_schema_of_another_entity_is_refused(void **state)
{
    (void)state;
    tr_mapping *m = NULL;
    const char *t = person_map("\"email\": \"email\"", NULL);
    assert_null(tr_mapping_parse(t, strlen(t), "hr.json", &m));
    cg_err *e = tr_mapping_bind(m, person.canon, thing.upd, 1);
    assert_non_null(e);
    assert_non_null(strstr(cg_err_msg(e), "update schema"));
    cg_err_free(e);
    tr_mapping_free(m);
}

/* ---- apply: the universal identifier --------------------------------------------------- */

static void test_key_is_uuid_v5_of_the_normalised_id(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person, person_map("\"email\": \"email\"", NULL), NULL);
    char *key = NULL;
    json_t *u = run(&person, m, "{\"email\": \"  Alice@Example.COM \"}", 1000, 7, NULL, &key);
    assert_non_null(u);
    /* Python: uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "canongate:person"), "alice@example.com")
     */
    assert_string_equal(key, "aae2b3d4-93a0-51f4-91d7-80947e33e800");
    expect_json(json_object_get(u, "person_id"), "\"aae2b3d4-93a0-51f4-91d7-80947e33e800\"");
    /* the field itself is not normalised: only the key is */
    expect_json(val(u, "email"), "\"  Alice@Example.COM \"");
    free(key);
    json_decref(u);
    tr_mapping_free(m);
}

static void test_key_concatenation_and_explicit_namespace(void **state)
{
    (void)state;
    const char *t =
        "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\","
        " \"key\": {\"from\": [\"name.last\", \"name.first\", \"dob\"], \"separator\": \"|\","
        "  \"normalize\": [\"collapse_spaces\", \"trim\", \"lower\"]}, \"fields\": {}}";
    tr_mapping *m = mk(&person, t, NULL);
    assert_non_null(m);
    char *key = NULL;
    json_t *u =
        run(&person, m,
            "{\"name\": {\"first\": \"Alice\", \"last\": \" Smith\"}, \"dob\": \"1990-05-12\"}", 0,
            0, NULL, &key);
    assert_non_null(u);
    assert_string_equal(key, "45a79818-df87-5d6f-8331-73075294ecb2"); /* "smith|alice|1990-05-12" */
    expect_provided(u, "");
    free(key);
    json_decref(u);
    tr_mapping_free(m);

    t = "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\","
        " \"key\": {\"from\": \"id\", \"namespace\": \"12345678-1234-5678-1234-567812345678\"}, "
        "\"fields\": {}}";
    m = mk(&person, t, NULL);
    u = run(&person, m, "{\"id\": \"x\"}", 0, 0, NULL, &key);
    assert_string_equal(key, "a3fabe7b-db47-50ac-bb4f-d93e4e254857");
    free(key);
    json_decref(u);
    tr_mapping_free(m);
}

static void test_key_without_uuid_must_be_a_uuid_or_a_string_key(void **state)
{
    (void)state;
    const char *t = "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\","
                    " \"key\": {\"from\": \"id\", \"uuid\": \"none\"}, \"fields\": {}}";
    tr_mapping *m = mk(&person, t, NULL);
    char *key = NULL;
    json_t *u =
        run(&person, m, "{\"id\": \"AAE2B3D4-93A0-51F4-91D7-80947E33E800\"}", 0, 0, NULL, &key);
    assert_string_equal(key, "aae2b3d4-93a0-51f4-91d7-80947e33e800");
    free(key);
    json_decref(u);
    expect_apply_err(&person, m, "{\"id\": \"bob\"}",
                     "key: 'bob' (from 'id') is not a UUID, and the mapping says uuid \"none\"");
    tr_mapping_free(m);

    /* a plain string key is used as is, numbers as decimal text */
    m = mk(&thing, thing_map("", NULL), NULL);
    u = run(&thing, m, "{\"id\": 1234}", 0, 0, NULL, &key);
    assert_string_equal(key, "1234");
    free(key);
    json_decref(u);
    tr_mapping_free(m);
}

/* A person mapping whose key joins id and k2 with "|", with extra key options. */
static char *two_part_key_map(const char *key_extra)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\","
             " \"key\": {\"from\": [\"id\", \"k2\"], \"separator\": \"|\"%s}, \"fields\": {}}",
             key_extra);
    return buf;
}

static void test_key_errors(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person, person_map("", NULL), NULL);
    expect_apply_err(&person, m, "{\"mail\": \"x\"}", "key: field 'email' is missing");
    expect_apply_err(&person, m, "{\"email\": null}", "key: field 'email' is null");
    expect_apply_err(&person, m, "{\"email\": \"   \"}",
                     "key: 'email' is empty after normalisation");
    expect_apply_err(&person, m, "{\"email\": {\"a\": 1}}",
                     "key: field 'email' is an object or array, not a value");
    expect_apply_err(&person, m, "[1]", "record is not a JSON object");
    tr_mapping_free(m);

    /* a key of several parts: an empty part is refused as an empty key of one part is (all
     * parts empty gave the key "|", one entity for every such record) */
    m = mk(&person, two_part_key_map(""), NULL);
    assert_non_null(m);
    static const char *const empty[][2] = {
        {"{\"id\": \"\", \"k2\": \"\"}", "key: field 'id' is empty"},
        {"{\"id\": \"a\", \"k2\": \"\"}", "key: field 'k2' is empty"},
        {"{\"id\": \"\", \"k2\": \"b\"}", "key: field 'id' is empty"},
    };
    expect_apply_errs(&person, m, empty, sizeof empty / sizeof empty[0]);
    char *key = NULL;
    json_decref(run(&person, m, "{\"id\": \" \", \"k2\": 0}", 0, 0, NULL, &key));
    assert_string_equal(key, "d985fabe-e00b-5b10-ad66-116fafdbca05"); /* " |0": not trimmed */
    free(key);
    tr_mapping_free(m);

    m = mk(&person, two_part_key_map(", \"normalize\": [\"trim\"]"), NULL);
    expect_apply_err(&person, m, "{\"id\": \" \", \"k2\": 0}",
                     "key: field 'id' is empty after normalisation");
    expect_apply_err(&person, m, "{\"id\": \"x\", \"k2\": \" \\t\"}",
                     "key: field 'k2' is empty after normalisation");
    json_decref(run(&person, m, "{\"id\": \" a \", \"k2\": \" b \"}", 0, 0, NULL, &key));
    assert_string_equal(key, "1dea20e2-a004-5ceb-9760-a58b883260db"); /* "a | b" */
    free(key);
    tr_mapping_free(m);
}

/* ---- apply: fields ---------------------------------------------------------------------- */

static void test_rename_nested_paths_and_array_index(void **state)
{
    (void)state;
    tr_mapping *m;
    m = mk(&person,
           person_map("\"given_name\": \"name.first\", \"family_name\": \"people[1].last\","
                      " \"email\": \"attrs[\\\"mail.work\\\"]\"",
                      NULL),
           NULL);
    assert_non_null(m);
    json_t *u = run_ok(&person, m,
                       "{\"email\": \"a@b\", \"name\": {\"first\": \"Alice\"},"
                       " \"people\": [{\"last\": \"X\"}, {\"last\": \"Smith\"}],"
                       " \"attrs\": {\"mail.work\": \"w@b\"}}");
    expect_json(val(u, "given_name"), "\"Alice\"");
    expect_json(val(u, "family_name"), "\"Smith\"");
    expect_json(val(u, "email"), "\"w@b\"");
    expect_provided(u, "given_name,family_name,email");
    expect_json(json_object_get(u, "source"), "\"hr\"");
    expect_json(json_object_get(u, "op"), "\"UPSERT\"");
    expect_json(json_object_get(u, "seq"), "7");
    expect_json(json_object_get(u, "event_time"), "1000");
    json_decref(u);

    /* absent paths (member missing, index past the end, step into a string) leave fields alone */
    u = run_ok(&person, m, "{\"email\": \"a@b\", \"name\": \"Alice\", \"people\": [{}]}");
    expect_provided(u, "");
    expect_json(val(u, "given_name"), "null");
    json_decref(u);
    tr_mapping_free(m);
}

static void test_constants_are_encoded_once(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person,
                       person_map("\"tags\": {\"const\": [\"employee\", \"hr\"]},"
                                  " \"employment_status\": {\"const\": \"ACTIVE\"},"
                                  " \"family_name\": {\"const\": null}",
                                  NULL),
                       NULL);
    assert_non_null(m);
    json_t *u = run_ok(&person, m, "{\"email\": \"a@b\"}");
    expect_json(val(u, "tags"), "[\"employee\", \"hr\"]");
    expect_json(val(u, "employment_status"), "\"ACTIVE\"");
    expect_json(val(u, "family_name"), "null");
    expect_provided(u, "family_name,employment_status,tags");
    json_decref(u);
    tr_mapping_free(m);
}

static void test_type_conversions(void **state)
{
    (void)state;
    tr_mapping *m =
        mk(&thing,
           thing_map("\"n_int\": \"a\", \"n_long\": \"b\", \"n_float\": \"c\", \"n_double\": \"d\","
                     " \"flag\": \"e\", \"raw\": \"f\", \"ref\": \"g\", \"nums\": \"h\","
                     " \"multi\": {\"from\": \"i\", \"branch\": \"long\"}, \"count\": \"j\"",
                     NULL),
           NULL);
    assert_non_null(m);
    json_t *u =
        run_ok(&thing, m,
               "{\"id\": \"1\", \"a\": \" 42 \", \"b\": 12.0, \"c\": \"1.5\", \"d\": 3,"
               " \"e\": \"Yes\", \"f\": \"xyz\", \"g\": \"AAE2B3D4-93A0-51F4-91D7-80947E33E800\","
               " \"h\": [1, \"2\", 3.0], \"i\": \"-9\", \"j\": true}");
    expect_json(val(u, "n_int"), "42");
    expect_json(val(u, "n_long"), "12");
    expect_json(val(u, "n_float"), "1.5");
    expect_json(val(u, "n_double"), "3.0");
    expect_json(val(u, "flag"), "true");
    expect_json(val(u, "raw"), "\"xyz\"");
    expect_json(val(u, "ref"), "\"aae2b3d4-93a0-51f4-91d7-80947e33e800\"");
    expect_json(val(u, "nums"), "[1, 2, 3]");
    expect_json(val(u, "multi"), "-9");
    expect_json(val(u, "count"), "1");
    expect_provided(u, "n_int,n_long,n_float,n_double,flag,raw,ref,nums,multi,count");
    json_decref(u);

    /* numbers and booleans into text */
    tr_mapping *s = mk(
        &person,
        person_map("\"given_name\": \"a\", \"family_name\": \"b\", \"email\": \"c\"", NULL), NULL);
    u = run_ok(&person, s, "{\"email\": \"x\", \"a\": 12, \"b\": 0.1, \"c\": false}");
    expect_json(val(u, "given_name"), "\"12\"");
    expect_json(val(u, "family_name"), "\"0.1\"");
    expect_json(val(u, "email"), "\"false\"");
    json_decref(u);
    tr_mapping_free(s);

    /* conversion errors name the domain field, the target and the value */
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"a\": \"4x\"}",
                     "field 'a' (-> n_int): '4x' is not an integer in the int range");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"a\": 3000000000}",
                     "field 'a' (-> n_int): 3000000000 is out of the int range");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"b\": 1.5}",
                     "field 'b' (-> n_long): 1.5 is not a whole number in range");
    expect_apply_err(
        &thing, m, "{\"id\": \"1\", \"b\": \"99999999999999999999\"}",
        "field 'b' (-> n_long): '99999999999999999999' is not an integer in the long range");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"c\": \"abc\"}",
                     "field 'c' (-> n_float): 'abc' is not a decimal number");
    expect_apply_err(
        &thing, m, "{\"id\": \"1\", \"e\": \"maybe\"}",
        "field 'e' (-> flag): 'maybe' is not a boolean (see true_values / false_values)");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"e\": 2}",
                     "field 'e' (-> flag): 2 is not a boolean (see true_values / false_values)");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"g\": \"nope\"}",
                     "field 'g' (-> ref): 'nope' is not a UUID (8-4-4-4-12 hex digits)");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"h\": 5}",
                     "field 'h' (-> nums): 5 is not an array");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"h\": [1, null]}",
                     "field 'h' (-> nums): null is not a valid array item");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"h\": [1, \"x\"]}",
                     "field 'h' (-> nums): 'x' is not an integer in the long range");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"a\": [1]}",
                     "field 'a' (-> n_int): [1] is an array, not a single value");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"a\": {\"v\": 1}}",
                     "field 'a' (-> n_int): {\"v\":1} is an object, not a value");
    tr_mapping_free(m);

    /* custom boolean words */
    m = mk(&thing,
           thing_map(
               "\"flag\": {\"from\": \"e\", \"true_values\": [\"J\"], \"false_values\": [\"N\"]}",
               NULL),
           NULL);
    u = run_ok(&thing, m, "{\"id\": \"1\", \"e\": \"j\"}");
    expect_json(val(u, "flag"), "true");
    json_decref(u);
    u = run_ok(&thing, m, "{\"id\": \"1\", \"e\": \"n\"}");
    expect_json(val(u, "flag"), "false");
    json_decref(u);
    expect_apply_err(
        &thing, m, "{\"id\": \"1\", \"e\": \"yes\"}",
        "field 'e' (-> flag): 'yes' is not a boolean (see true_values / false_values)");
    tr_mapping_free(m);
}

static void test_dates_and_times(void **state)
{
    (void)state;
    tr_mapping *m =
        mk(&person,
           person_map("\"birth_date\": {\"from\": \"dob\", \"format\": \"%d/%m/%Y\"}", NULL), NULL);
    assert_non_null(m);
    json_t *u = run_ok(&person, m, "{\"email\": \"x\", \"dob\": \"12/05/1990\"}");
    expect_json(val(u, "birth_date"), "7436");
    json_decref(u);
    u = run_ok(&person, m, "{\"email\": \"x\", \"dob\": \"1/1/1970\"}");
    expect_json(val(u, "birth_date"), "0");
    json_decref(u);
    expect_apply_err(
        &person, m, "{\"email\": \"x\", \"dob\": \"31/02/1990\"}",
        "field 'dob' (-> birth_date): '31/02/1990' is not a valid date for format '%d/%m/%Y'");
    expect_apply_err(
        &person, m, "{\"email\": \"x\", \"dob\": \"1990-05-12\"}",
        "field 'dob' (-> birth_date): '1990-05-12' is not a valid date for format '%d/%m/%Y'");
    tr_mapping_free(m);

    /* default iso8601, offsets, fractions; integers in units */
    m = mk(&thing,
           thing_map("\"ts_ms\": \"a\", \"ts_us\": \"b\", \"t_ms\": {\"from\": \"c\", \"format\": "
                     "\"%H:%M\"},"
                     " \"n_long\": \"z\"",
                     NULL),
           NULL);
    u = run_ok(&thing, m,
               "{\"id\": \"1\", \"a\": \"2024-03-01T09:30:00Z\", \"b\": \"2024-03-01 "
               "09:30:15.123456+02:00\","
               " \"c\": \"01:02\"}");
    expect_json(val(u, "ts_ms"), "1709285400000");
    expect_json(val(u, "ts_us"), "1709278215123456");
    expect_json(val(u, "t_ms"), "3720000");
    json_decref(u);
    u = run_ok(&thing, m, "{\"id\": \"1\", \"a\": 5, \"b\": 6}");
    expect_json(val(u, "ts_ms"), "5"); /* default unit: the field's own */
    expect_json(val(u, "ts_us"), "6");
    json_decref(u);
    expect_apply_err(
        &thing, m, "{\"id\": \"1\", \"a\": \"2024-13-01\"}",
        "field 'a' (-> ts_ms): '2024-13-01' is not a valid date/time for format 'iso8601'");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"a\": true}",
                     "field 'a' (-> ts_ms): true has the wrong type for the field");
    tr_mapping_free(m);

    m = mk(&thing,
           thing_map("\"ts_ms\": {\"from\": \"a\", \"unit\": \"s\"}, \"ts_us\": {\"from\": \"b\", "
                     "\"unit\": \"ms\"}",
                     NULL),
           NULL);
    u = run_ok(&thing, m, "{\"id\": \"1\", \"a\": 1709285400, \"b\": -1}");
    expect_json(val(u, "ts_ms"), "1709285400000");
    expect_json(val(u, "ts_us"), "-1000");
    json_decref(u);
    tr_mapping_free(m);

    m = mk(&person, person_map("\"birth_date\": {\"from\": \"d\", \"unit\": \"ms\"}", NULL), NULL);
    u = run_ok(&person, m, "{\"email\": \"x\", \"d\": -1}"); /* floor: the day before the epoch */
    expect_json(val(u, "birth_date"), "-1");
    json_decref(u);
    tr_mapping_free(m);
}

/* A number past float's range is refused, not written as Infinity (as `canon produce`
 * refuses it), from a JSON number, a string or a constant; text converted to a number
 * must be decimal: strtod's hexadecimal, inf and nan are refused. */
static void test_real_numbers_out_of_range_and_non_decimal_text_are_refused(void **state)
{
    (void)state;
    tr_mapping *m = mk(&thing, thing_map("\"n_float\": \"c\", \"n_double\": \"d\"", NULL), NULL);
    assert_non_null(m);
    static const char *const good[][3] = {
        /* record, field, value */
        {"{\"id\": \"1\", \"c\": 3.0e38}", "n_float", "3.0000000054977558e+38"},
        {"{\"id\": \"1\", \"c\": \" -2.5e3 \"}", "n_float", "-2500.0"},
        {"{\"id\": \"1\", \"c\": \"+.5\"}", "n_float", "0.5"},
        {"{\"id\": \"1\", \"c\": \"7.\"}", "n_float", "7.0"},
        {"{\"id\": \"1\", \"d\": \"1e300\"}", "n_double", "1e+300"},
        {"{\"id\": \"1\", \"d\": \"1e-400\"}", "n_double", "0.0"}, /* rounds to 0 */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        expect_field(&thing, m, good[i][0], good[i][1], good[i][2]);
    static const char *const bad[][2] = {
        {"{\"id\": \"1\", \"c\": 1e300}",
         "field 'c' (-> n_float): 1e+300 is out of range for float"},
        {"{\"id\": \"1\", \"c\": -3.5e38}",
         "field 'c' (-> n_float): -3.5e+38 is out of range for float"},
        {"{\"id\": \"1\", \"c\": \"1e300\"}",
         "field 'c' (-> n_float): '1e300' is out of range for float"},
        {"{\"id\": \"1\", \"c\": \"1e400\"}",
         "field 'c' (-> n_float): '1e400' is out of range for float"},
        {"{\"id\": \"1\", \"d\": \"-1e400\"}",
         "field 'd' (-> n_double): '-1e400' is out of range for double"},
        {"{\"id\": \"1\", \"c\": \"0x1p3\"}",
         "field 'c' (-> n_float): '0x1p3' is not a decimal number"},
        {"{\"id\": \"1\", \"d\": \"inf\"}",
         "field 'd' (-> n_double): 'inf' is not a decimal number"},
        {"{\"id\": \"1\", \"d\": \"-Infinity\"}",
         "field 'd' (-> n_double): '-Infinity' is not a decimal number"},
        {"{\"id\": \"1\", \"d\": \"nan\"}",
         "field 'd' (-> n_double): 'nan' is not a decimal number"},
        {"{\"id\": \"1\", \"d\": \"1e\"}", "field 'd' (-> n_double): '1e' is not a decimal number"},
        {"{\"id\": \"1\", \"d\": \".\"}", "field 'd' (-> n_double): '.' is not a decimal number"},
        {"{\"id\": \"1\", \"d\": \"\\n1\"}",
         "field 'd' (-> n_double): '\n1' is not a decimal number"},
    };
    expect_apply_errs(&thing, m, bad, sizeof bad / sizeof bad[0]);
    tr_mapping_free(m);

    expect_err(&thing, thing_map("\"n_float\": {\"const\": 1e300}", NULL),
               "hr.json:3: const: field '(const)' (-> n_float): 1e+300 is out of range for float");
    expect_err(&thing, thing_map("\"n_float\": {\"const\": \"nan\"}", NULL),
               "hr.json:3: const: field '(const)' (-> n_float): 'nan' is not a decimal number");
}

/* A date field takes the UTC date of the instant, and a time field its UTC time of day:
 * from 23:00 at -05:00 on 2024-01-01, 2024-01-02 and 04:00 (the time was 23:00, the
 * wall clock's, while the date was UTC's). */
static void test_date_and_time_of_an_instant_with_an_offset_are_utc(void **state)
{
    (void)state;
    tr_mapping *m = mk(&thing, thing_map("\"t_ms\": \"c\"", NULL), NULL);
    assert_non_null(m);
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": \"2024-01-01T23:00:00-05:00\"}", "t_ms",
                 "14400000");
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": \"2024-01-01T23:00:00Z\"}", "t_ms", "82800000");
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": \"2024-01-01T00:30:00.25+01:00\"}", "t_ms",
                 "84600250");
    tr_mapping_free(m);
    m = mk(&person, person_map("\"birth_date\": \"d\"", NULL), NULL);
    expect_field(&person, m, "{\"email\": \"x\", \"d\": \"2024-01-01T23:00:00-05:00\"}",
                 "birth_date", "19724"); /* 2024-01-02 */
    tr_mapping_free(m);
}

/* Date is an Avro int: a value past the int range is refused, whether the domain wrote it
 * as an integer, a real or a string, and so is such a constant (it was cast to int32:
 * 3000000000.0 became -1294967296, 4294967296.0 became 0). Time-millis is a time of day
 * (the Avro specification): from 0 to 86,399,999 ms; Java's LocalTime and Python's
 * datetime.time hold nothing else. */
static void test_int_time_fields_refuse_values_past_the_int_range(void **state)
{
    (void)state;
    tr_mapping *m = mk(&thing, thing_map("\"t_ms\": \"c\"", NULL), NULL);
    assert_non_null(m);
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": 3600000.0}", "t_ms", "3600000");
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": 0}", "t_ms", "0");
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": 86399999}", "t_ms", "86399999");
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": 86399999.0}", "t_ms", "86399999");
    static const char *const past[][2] = {
        {"{\"id\": \"1\", \"c\": 86400000}",
         "field 'c' (-> t_ms): 86400000 is not a time of day (from midnight, under 24 hours)"},
        {"{\"id\": \"1\", \"c\": -1}",
         "field 'c' (-> t_ms): -1 is not a time of day (from midnight, under 24 hours)"},
        {"{\"id\": \"1\", \"c\": 2147483647.0}",
         "field 'c' (-> t_ms): 2147483647.0 is not a time of day (from midnight, under 24 "
         "hours)"},
        {"{\"id\": \"1\", \"c\": 3000000000.0}",
         "field 'c' (-> t_ms): 3000000000.0 is not a time of day (from midnight, under 24 "
         "hours)"},
        {"{\"id\": \"1\", \"c\": -2147483649.0}",
         "field 'c' (-> t_ms): -2147483649.0 is not a time of day (from midnight, under 24 "
         "hours)"},
        {"{\"id\": \"1\", \"c\": 4294967296}",
         "field 'c' (-> t_ms): 4294967296 is not a time of day (from midnight, under 24 hours)"},
    };
    expect_apply_errs(&thing, m, past, sizeof past / sizeof past[0]);
    tr_mapping_free(m);

    m = mk(&thing, thing_map("\"t_ms\": {\"from\": \"c\", \"unit\": \"s\"}", NULL), NULL);
    expect_field(&thing, m, "{\"id\": \"1\", \"c\": 86399}", "t_ms", "86399000");
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"c\": 86400}",
                     "field 'c' (-> t_ms): 86400 is not a time of day (from midnight, under 24 "
                     "hours)");
    tr_mapping_free(m);

    m = mk(&person, person_map("\"birth_date\": \"d\"", NULL), NULL);
    expect_field(&person, m, "{\"email\": \"x\", \"d\": -2147483648.0}", "birth_date",
                 "-2147483648");
    expect_apply_err(&person, m, "{\"email\": \"x\", \"d\": 4294967296.0}",
                     "field 'd' (-> birth_date): 4294967296.0 is out of range for the field");
    tr_mapping_free(m);

    expect_err(&thing, thing_map("\"t_ms\": {\"const\": 4294967296.0}", NULL),
               "hr.json:3: const: field '(const)' (-> t_ms): 4294967296.0 is not a time of day "
               "(from midnight, under 24 hours)");
    expect_err_has(&person, person_map("\"birth_date\": {\"const\": 3000000000.0}", NULL),
                   "3000000000.0 is out of range for the field");
}

static void test_enum_mapping_and_default(void **state)
{
    (void)state;
    tr_mapping *m = mk(
        &person,
        person_map("\"employment_status\": {\"from\": \"s\", \"normalize\": [\"trim\", \"lower\"],"
                   " \"enum\": {\"active\": \"ACTIVE\", \"leave\": \"ON_LEAVE\"},"
                   " \"enum_default\": \"UNKNOWN\"}",
                   NULL),
        NULL);
    json_t *u = run_ok(&person, m, "{\"email\": \"x\", \"s\": \" Leave\"}");
    expect_json(val(u, "employment_status"), "\"ON_LEAVE\"");
    json_decref(u);
    u = run_ok(&person, m, "{\"email\": \"x\", \"s\": \"retired\"}");
    expect_json(val(u, "employment_status"), "\"UNKNOWN\"");
    json_decref(u);
    tr_mapping_free(m);

    /* without a map the value must be a symbol; without a default others are errors */
    m = mk(&person,
           person_map("\"employment_status\": {\"from\": \"s\", \"normalize\": \"upper\"}", NULL),
           NULL);
    u = run_ok(&person, m, "{\"email\": \"x\", \"s\": \"terminated\"}");
    expect_json(val(u, "employment_status"), "\"TERMINATED\"");
    json_decref(u);
    expect_apply_err(&person, m, "{\"email\": \"x\", \"s\": \"gone\"}",
                     "field 's' (-> employment_status): 'GONE' is not a symbol of the enum (and no "
                     "enum_default)");
    tr_mapping_free(m);
    m = mk(
        &person,
        person_map("\"employment_status\": {\"from\": \"s\", \"enum\": {\"1\": \"ACTIVE\"}}", NULL),
        NULL);
    u = run_ok(&person, m, "{\"email\": \"x\", \"s\": 1}");
    expect_json(val(u, "employment_status"), "\"ACTIVE\"");
    json_decref(u);
    expect_apply_err(
        &person, m, "{\"email\": \"x\", \"s\": 2}",
        "field 's' (-> employment_status): 2 is not in the mapping's 'enum' (and no enum_default)");
    tr_mapping_free(m);
}

static void test_missing_null_empty_and_clear_when_empty(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person,
                       person_map("\"given_name\": {\"from\": \"g\", \"normalize\": [\"trim\"]},"
                                  " \"family_name\": {\"from\": \"f\", \"normalize\": [\"trim\"], "
                                  "\"clear_when_empty\": true},"
                                  " \"email\": {\"from\": \"email\", \"required\": true}",
                                  NULL),
                       NULL);
    /* missing: not provided, with or without clear_when_empty */
    json_t *u = run_ok(&person, m, "{\"email\": \"x\"}");
    expect_provided(u, "email");
    json_decref(u);
    /* null: left alone by default, cleared with clear_when_empty */
    u = run_ok(&person, m, "{\"email\": \"x\", \"g\": null, \"f\": null}");
    expect_provided(u, "family_name,email");
    expect_json(val(u, "family_name"), "null");
    json_decref(u);
    /* empty after normalisation: set to "" by default, cleared with clear_when_empty */
    u = run_ok(&person, m, "{\"email\": \"x\", \"g\": \"  \", \"f\": \" \"}");
    expect_provided(u, "given_name,family_name,email");
    expect_json(val(u, "given_name"), "\"\"");
    expect_json(val(u, "family_name"), "null");
    json_decref(u);
    /* required */
    expect_apply_err(&person, m, "{\"email\": null}", "key: field 'email' is null");
    tr_mapping_free(m);
    m = mk(&person, person_map("\"given_name\": {\"from\": \"g\", \"required\": true}", NULL),
           NULL);
    expect_apply_err(&person, m, "{\"email\": \"x\"}",
                     "field 'g' (-> given_name) is missing, and the mapping requires it");
    expect_apply_err(&person, m, "{\"email\": \"x\", \"g\": null}",
                     "field 'g' (-> given_name) is null, and the mapping requires it");
    tr_mapping_free(m);
}

static void test_concatenated_fields(void **state)
{
    (void)state;
    tr_mapping *m =
        mk(&person,
           person_map(
               "\"given_name\": {\"from\": [\"first\", \"middle\"], \"clear_when_empty\": true}",
               NULL),
           NULL);
    json_t *u = run_ok(&person, m, "{\"email\": \"x\", \"first\": \"Mary\", \"middle\": \"Ann\"}");
    expect_json(val(u, "given_name"), "\"Mary Ann\"");
    json_decref(u);
    u = run_ok(&person, m, "{\"email\": \"x\", \"first\": \"Mary\"}");
    expect_json(val(u, "given_name"), "\"Mary\"");
    json_decref(u);
    u = run_ok(&person, m, "{\"email\": \"x\", \"first\": null}");
    expect_provided(u, "given_name");
    expect_json(val(u, "given_name"), "null");
    json_decref(u);
    u = run_ok(&person, m, "{\"email\": \"x\"}");
    expect_provided(u, "");
    json_decref(u);
    expect_apply_err(
        &person, m, "{\"email\": \"x\", \"first\": [1]}",
        "field 'first+middle' (-> given_name): field 'first' is an object or array, not a value");
    tr_mapping_free(m);
}

/* A value quoted in a message (the dead letter's canon.error.message header) is cut at 60
 * bytes; the cut backs up to a character's start, never splitting a UTF-8 sequence (it
 * did: the header was invalid UTF-8). 59 'a' and an 'é' (2 bytes) put the cut inside it. */
static void test_quoted_values_are_cut_at_a_character_boundary(void **state)
{
    (void)state;
    char a59[60], a53[54], rec[256], want[512];
    memset(a59, 'a', 59);
    a59[59] = 0;
    memset(a53, 'a', 53);
    a53[53] = 0;
    tr_mapping *m = mk(&thing, thing_map("\"n_int\": \"a\"", NULL), NULL);
    assert_non_null(m);
    snprintf(rec, sizeof rec, "{\"id\": \"1\", \"a\": \"%s\u00e9zz\"}", a59);
    snprintf(want, sizeof want, "field 'a' (-> n_int): '%s'... is not an integer in the int range",
             a59);
    expect_apply_err(&thing, m, rec, want);
    /* an object, quoted as JSON text: {"v":" is 6 bytes, then 53 'a' */
    snprintf(rec, sizeof rec, "{\"id\": \"1\", \"a\": {\"v\": \"%s\u00e9zz\"}}", a53);
    snprintf(want, sizeof want, "field 'a' (-> n_int): {\"v\":\"%s... is an object, not a value",
             a53);
    expect_apply_err(&thing, m, rec, want);
    tr_mapping_free(m);

    /* the key's and the event time's messages too */
    m = mk(&person,
           "{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\","
           " \"key\": {\"from\": \"id\", \"uuid\": \"none\"}, \"event_time\": {\"from\": \"t\"},"
           " \"fields\": {}}",
           NULL);
    assert_non_null(m);
    snprintf(rec, sizeof rec, "{\"id\": \"%s\u00e9zz\"}", a59);
    snprintf(want, sizeof want,
             "key: '%s' (from 'id') is not a UUID, and the mapping says uuid \"none\"", a59);
    expect_apply_err(&person, m, rec, want);
    snprintf(rec, sizeof rec,
             "{\"id\": \"aae2b3d4-93a0-51f4-91d7-80947e33e800\", \"t\": \"%s\u00e9zz\"}", a59);
    snprintf(want, sizeof want,
             "event time: field 't': '%s' is not a valid date/time for format 'iso8601'", a59);
    expect_apply_err(&person, m, rec, want);
    tr_mapping_free(m);
}

static void test_nested_canonical_records(void **state)
{
    (void)state;
    tr_mapping *m =
        mk(&person,
           person_map("\"address.city\": {\"from\": \"addr.city\", \"clear_when_empty\": true},"
                      " \"address.country\": {\"from\": \"addr.cc\", \"normalize\": [\"upper\"]}",
                      NULL),
           NULL);
    assert_non_null(m);
    json_t *u =
        run_ok(&person, m, "{\"email\": \"x\", \"addr\": {\"city\": \"Leeds\", \"cc\": \"gb\"}}");
    expect_provided(u, "address");
    expect_json(
        val(u, "address"),
        "{\"street\": null, \"city\": \"Leeds\", \"postal_code\": null, \"country\": \"GB\"}");
    json_decref(u);
    /* one sub-field set: the record is set whole, the others null */
    u = run_ok(&person, m, "{\"email\": \"x\", \"addr\": {\"cc\": \"fr\"}}");
    expect_json(val(u, "address"),
                "{\"street\": null, \"city\": null, \"postal_code\": null, \"country\": \"FR\"}");
    json_decref(u);
    /* nothing set, one cleared: the record is cleared */
    u = run_ok(&person, m, "{\"email\": \"x\", \"addr\": {\"city\": \"\"}}");
    expect_provided(u, "address");
    expect_json(val(u, "address"), "null");
    json_decref(u);
    /* all absent: not provided */
    u = run_ok(&person, m, "{\"email\": \"x\"}");
    expect_provided(u, "");
    json_decref(u);
    tr_mapping_free(m);

    /* defaults of unmapped sub-fields; a non-nullable sub-field that is missing */
    m = mk(&thing, thing_map("\"inner.a\": \"a\", \"inner.c\": \"c\"", NULL), NULL);
    assert_non_null(m);
    u = run_ok(&thing, m, "{\"id\": \"1\", \"a\": \"A\"}");
    expect_json(val(u, "inner"), "{\"a\": \"A\", \"b\": 7, \"c\": null}");
    json_decref(u);
    expect_apply_err(&thing, m, "{\"id\": \"1\", \"c\": \"C\"}",
                     "field 'a' (-> inner.a) is missing, and inner.a cannot be null");
    tr_mapping_free(m);
}

static void test_event_time(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person, person_map("", "\"event_time\": {\"from\": \"at\"}"), NULL);
    json_t *u = run(&person, m, "{\"email\": \"x\", \"at\": \"2024-03-01T11:30:00+02:00\"}", 5, 1,
                    NULL, NULL);
    expect_json(json_object_get(u, "event_time"), "1709285400000");
    json_decref(u);
    u = run(&person, m, "{\"email\": \"x\", \"at\": 1709285400000}", 5, 1, NULL, NULL);
    expect_json(json_object_get(u, "event_time"), "1709285400000");
    json_decref(u);
    expect_apply_err(&person, m, "{\"email\": \"x\"}", "event time: field 'at' is missing");
    expect_apply_err(
        &person, m, "{\"email\": \"x\", \"at\": \"yesterday\"}",
        "event time: field 'at': 'yesterday' is not a valid date/time for format 'iso8601'");
    expect_apply_err(&person, m, "{\"email\": \"x\", \"at\": [1]}",
                     "event time: field 'at' is not a date/time string or a number");
    tr_mapping_free(m);

    m = mk(&person,
           person_map("", "\"event_time\": {\"from\": \"at\", \"unit\": \"s\", \"if_missing\": "
                          "\"record_timestamp\"}"),
           NULL);
    u = run(&person, m, "{\"email\": \"x\", \"at\": 1709285400}", 5, 1, NULL, NULL);
    expect_json(json_object_get(u, "event_time"), "1709285400000");
    json_decref(u);
    u = run(&person, m, "{\"email\": \"x\"}", 5, 1, NULL, NULL);
    expect_json(json_object_get(u, "event_time"), "5");
    json_decref(u);
    tr_mapping_free(m);

    m = mk(&person,
           person_map("", "\"event_time\": {\"from\": \"at\", \"format\": \"%d.%m.%Y %H:%M\"}"),
           NULL);
    u = run(&person, m, "{\"email\": \"x\", \"at\": \"01.03.2024 09:30\"}", 5, 1, NULL, NULL);
    expect_json(json_object_get(u, "event_time"), "1709285400000");
    json_decref(u);
    tr_mapping_free(m);

    m = mk(&person, person_map("", "\"event_time\": \"record_timestamp\""), NULL);
    u = run(&person, m, "{\"email\": \"x\"}", 123456, 9, NULL, NULL);
    expect_json(json_object_get(u, "event_time"), "123456");
    expect_json(json_object_get(u, "seq"), "9");
    json_decref(u);
    tr_mapping_free(m);
}

static void test_delete_conditions(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person,
                       person_map("\"given_name\": \"g\", \"birth_date\": \"dob\"",
                                  "\"delete\": [{\"path\": \"status\", \"equals\": \"deleted\"},"
                                  " {\"path\": \"op\", \"in\": [\"d\", \"x\"]}, {\"path\": "
                                  "\"deleted_at\", \"present\": true}]"),
                       NULL);
    assert_non_null(m);
    const char *deletes[] = {
        "{\"email\": \"x\", \"g\": \"A\", \"status\": \"deleted\"}",
        "{\"email\": \"x\", \"op\": \"x\"}",
        /* the fields are not evaluated: a bad date does not stop a delete */
        "{\"email\": \"x\", \"deleted_at\": 0, \"dob\": \"garbage\"}",
    };
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        json_t *u = run_ok(&person, m, deletes[i]);
        expect_json(json_object_get(u, "op"), "\"DELETE\"");
        expect_provided(u, "");
        expect_json(val(u, "given_name"), "null");
        json_decref(u);
    }
    const char *upserts[] = {
        "{\"email\": \"x\", \"status\": \"Deleted\"}",
        "{\"email\": \"x\", \"op\": \"u\"}",
        "{\"email\": \"x\", \"deleted_at\": null}",
    };
    for (size_t i = 0; i < sizeof upserts / sizeof upserts[0]; i++) {
        json_t *u = run_ok(&person, m, upserts[i]);
        expect_json(json_object_get(u, "op"), "\"UPSERT\"");
        json_decref(u);
    }
    tr_mapping_free(m);

    m = mk(&person, person_map("", "\"delete\": {\"path\": \"active\", \"present\": false}"), NULL);
    json_t *u = run_ok(&person, m, "{\"email\": \"x\"}");
    expect_json(json_object_get(u, "op"), "\"DELETE\"");
    json_decref(u);
    u = run_ok(&person, m, "{\"email\": \"x\", \"active\": true}");
    expect_json(json_object_get(u, "op"), "\"UPSERT\"");
    json_decref(u);
    tr_mapping_free(m);
}

static void test_output_is_reused_across_records(void **state)
{
    (void)state;
    tr_mapping *m = mk(&person, person_map("\"given_name\": \"g\", \"tags\": \"t\"", NULL), NULL);
    tr_output o;
    tr_output_init(&o);
    json_t *big =
        json_loads("{\"email\": \"long.address.of.someone@example.com\", \"g\": \"Maximilian\","
                   " \"t\": [\"a\", \"b\", \"c\", \"d\"]}",
                   0, NULL);
    json_t *small = json_loads("{\"email\": \"a@b\"}", 0, NULL);
    assert_null(tr_mapping_apply(m, big, 1, 1, &o));
    size_t big_len = o.value.len;
    assert_null(tr_mapping_apply(m, small, 1, 1, &o));
    assert_true(o.value.len < big_len);
    json_t *u = NULL;
    assert_null(canon_avro_json_decode(reg_schema_root(person.upd), o.value.data + 5,
                                       o.value.len - 5, CANON_AVRO_JSON_PLAIN, &u));
    expect_provided(u, "");
    json_decref(u);
    /* a failed apply followed by a good one gives the good one's bytes */
    json_t *bad = json_loads("{\"email\": \"a@b\", \"t\": 3}", 0, NULL);
    cg_err *e = tr_mapping_apply(m, bad, 1, 1, &o);
    assert_non_null(e);
    cg_err_free(e);
    assert_null(tr_mapping_apply(m, big, 1, 1, &o));
    assert_int_equal(o.value.len, big_len);
    json_decref(bad);
    json_decref(big);
    json_decref(small);
    tr_output_free(&o);
    tr_mapping_free(m);
}

static void test_load_reads_a_file_and_reports_io_errors(void **state)
{
    (void)state;
    tr_mapping *m = NULL;
    cg_err *e = tr_mapping_load("/nonexistent/hr.json", &m);
    assert_non_null(e);
    assert_int_equal(cg_err_code(e), CG_EIO);
    cg_err_free(e);
    char path[] = "/tmp/test_mapping_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *t = person_map("\"emial\": \"e\"", NULL);
    FILE *f = fdopen(fd, "w");
    fputs(t, f);
    fclose(f);
    assert_null(tr_mapping_load(path, &m));
    e = tr_mapping_bind(m, person.canon, person.upd, 1);
    assert_non_null(e);
    char want[256];
    snprintf(want, sizeof want,
             "%s:4: field 'emial' is not in canonical person; did you mean 'email'?", path);
    assert_string_equal(cg_err_msg(e), want);
    cg_err_free(e);
    tr_mapping_free(m);
    unlink(path);
}

static void test_every_structural_error_has_a_message(void **state)
{
    (void)state;
    static const struct {
        const char *fields, *extra, *want;
    } cases[] = {
        {"\"email\": {\"from\": []}", NULL, "'from' must be a path or a non-empty list of paths"},
        {"\"email\": {\"from\": [1]}", NULL, "a path must be a string"},
        {"\"email\": {\"from\": [\"a\", \"b\"], \"separator\": 1}", NULL,
         "'separator' must be a string"},
        {"\"employment_status\": {\"from\": \"s\", \"enum\": [1]}", NULL,
         "'enum' must be an object"},
        {"\"employment_status\": {\"from\": \"s\", \"enum\": {\"a\": 1}}", NULL,
         "enum value 'a' must map to a symbol (a string)"},
        {"\"email\": {\"from\": \"s\", \"normalize\": {}}", NULL, "'normalize' must be a list"},
        {"\"email\": {\"from\": \"s\", \"normalize\": [\"trim\", \"trim\", \"trim\", \"trim\", "
         "\"trim\","
         " \"trim\", \"trim\", \"trim\", \"trim\"]}",
         NULL, "'normalize' has more than 8 steps"},
        {"\"email\": {\"from\": \"s\", \"normalize\": [3]}", NULL,
         "unknown normalisation (not a string)"},
        {"\"email\": {\"from\": \"s\", \"normalize\": \"lowr\"}", NULL,
         "unknown normalisation 'lowr'"},
        {"\"email\": {\"from\": \"s\", \"format\": 1}", NULL, "option 'format' must be a string"},
        {"\"flag\": {\"from\": \"s\", \"true_values\": \"y\"}", NULL,
         "'true_values' must be a list of strings"},
        {"\"flag\": {\"from\": \"s\", \"false_values\": [1]}", NULL,
         "'false_values' must be a list of strings"},
        {"\"address.\": \"s\"", NULL, "field 'address.': empty name"},
        {"", "\"delete\": [3]", "a delete condition must be an object"},
        {"", "\"delete\": {\"equals\": 3}", "delete condition needs 'path' (a string)"},
        {"", "\"delete\": {\"path\": \"a\", \"present\": 1}", "'present' must be true or false"},
        {"", "\"delete\": {\"path\": \"a..b\", \"present\": true}",
         "path 'a..b': empty member name"},
        {"", "\"event_time\": 5", "'event_time' must be \"record_timestamp\" or an object"},
        {"", "\"event_time\": {\"from\": [\"a\", \"b\"]}", "event time 'from' must be one path"},
        {"", "\"event_time\": {\"form\": \"a\"}",
         "unknown option 'form' in 'event_time'; did you mean 'from'?"},
        {"", "\"description\": 5, \"dlq_topic\": 3", "option 'dlq_topic' must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_err_has(&person, person_map(cases[i].fields, cases[i].extra), cases[i].want);
    /* and at the top */
    const char *top[][2] = {
        {"{\"source\": \"hr\", \"entity\": \"person\", \"domain\": \"hr\", \"key\": \"e\", "
         "\"fields\": {}}",
         "hr.json:1: 'source' must be an object with 'topic' and 'format'"},
        {"{\"source\": {\"topic\": \"\"}, \"entity\": \"person\", \"domain\": \"hr\", \"key\": "
         "\"e\", \"fields\": {}}",
         "hr.json:1: 'topic' is empty"},
        {"{\"source\": {\"topic\": \"t\"}, \"entity\": \"\", \"domain\": \"hr\", \"key\": \"e\", "
         "\"fields\": {}}",
         "hr.json:1: 'entity' is empty"},
        {"{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"\", \"key\": "
         "\"e\", \"fields\": {}}",
         "hr.json:1: 'domain' is empty"},
        {"{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\", \"key\": 5, "
         "\"fields\": {}}",
         "hr.json:1: 'key' must be a path, a list of paths or an object"},
        {"{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\", \"key\": "
         "{}, \"fields\": {}}",
         "hr.json:1: 'key' needs 'from' (a path or a list of paths)"},
        {"{\"source\": {\"topic\": \"t\"}, \"entity\": \"person\", \"domain\": \"hr\", \"key\": "
         "\"e\", \"fields\": []}",
         "hr.json:1: 'fields' must be an object: canonical field -> mapping"},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        expect_err(&person, top[i][0], top[i][1]);
}

static char *slurp_repo(const char *rel)
{
    const char *d = getenv("CANON_TESTDATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/../../../%s", d ? d : "tests/unit/data", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_docs_example_and_example_domains_bind(void **state)
{
    (void)state;
    /* the example of docs/translators.md */
    char *md = slurp_repo("docs/translators.md");
    assert_non_null(md);
    char *a = strstr(md, "## Example");
    assert_non_null(a);
    a = strstr(a, "```json\n");
    assert_non_null(a);
    a += 8;
    char *b = strstr(a, "```");
    assert_non_null(b);
    *b = 0;
    tr_mapping *m = mk(&person, a, NULL);
    assert_non_null(m);
    json_t *u = run_ok(
        &person, m,
        "{\"work_email\": \" Alice@Example.com \", \"updated_at\": \"2024-03-01T09:30:00Z\","
        " \"name\": {\"first\": \"Alice\", \"last\": \"Smith\"}, \"dob\": \"12/05/1990\","
        " \"status\": \"Active\", \"addresses\": [{\"city\": \"Leeds\", \"country\": \"gb\"}]}");
    expect_json(json_object_get(u, "person_id"), "\"aae2b3d4-93a0-51f4-91d7-80947e33e800\"");
    expect_provided(u, "given_name,family_name,email,birth_date,employment_status,address,tags");
    expect_json(
        val(u, "address"),
        "{\"street\": null, \"city\": \"Leeds\", \"postal_code\": null, \"country\": \"GB\"}");
    expect_json(json_object_get(u, "event_time"), "1709285400000");
    json_decref(u);
    tr_mapping_free(m);
    free(md);

    /* every example domain's mapping binds to its entity's schema in schemas/ */
    const char *d = getenv("CANON_TESTDATA_DIR");
    char pat[1024];
    snprintf(pat, sizeof pat, "%s/../../../translators/examples/*/*.json",
             d ? d : "tests/unit/data");
    glob_t g;
    memset(&g, 0, sizeof g);
    if (glob(pat, 0, NULL, &g) != 0) {
        fprintf(stderr, "note: no example mappings found at %s\n", pat);
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        tr_mapping *em = NULL;
        cg_err *e = tr_mapping_load(g.gl_pathv[i], &em);
        if (e && cg_err_code(e) == CG_EINVAL && strstr(cg_err_msg(e), "missing required option")) {
            cg_err_free(e); /* a JSON file that is not a mapping (sample data) */
            continue;
        }
        if (e) {
            fprintf(stderr, "%s\n", cg_err_msg(e));
            fail();
        }
        char rel[256];
        snprintf(rel, sizeof rel, "schemas/%s.avsc", tr_mapping_entity(em));
        char *schema = slurp_repo(rel);
        assert_non_null(schema);
        ent x;
        ent_load(&x, schema);
        e = tr_mapping_bind(em, x.canon, x.upd, 1);
        if (e) {
            fprintf(stderr, "%s\n", cg_err_msg(e));
            fail();
        }
        tr_mapping_free(em);
        reg_schema_free(x.canon);
        reg_schema_free(x.upd);
        free(schema);
    }
    globfree(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accessors_and_default_dlq_topic),
        cmocka_unit_test(test_dlq_topic_may_not_be_the_source_or_the_updates_topic),
        cmocka_unit_test(test_source_topic_may_not_be_the_entitys_own_topics),
        cmocka_unit_test(test_json_syntax_error_names_line_and_column),
        cmocka_unit_test(test_duplicate_keys_are_refused),
        cmocka_unit_test(test_unknown_options_name_their_line_and_suggest),
        cmocka_unit_test(test_required_options_and_their_types),
        cmocka_unit_test(test_bad_paths_normalisations_formats_and_units_are_refused),
        cmocka_unit_test(test_unknown_field_names_line_and_suggests),
        cmocka_unit_test(test_writers_are_enforced),
        cmocka_unit_test(test_type_and_option_mismatches_are_bind_errors),
        cmocka_unit_test(test_binding_twice_is_refused_and_apply_needs_a_bound_mapping),
        cmocka_unit_test(test_update_schema_of_another_entity_is_refused),
        cmocka_unit_test(test_key_is_uuid_v5_of_the_normalised_id),
        cmocka_unit_test(test_key_concatenation_and_explicit_namespace),
        cmocka_unit_test(test_key_without_uuid_must_be_a_uuid_or_a_string_key),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_rename_nested_paths_and_array_index),
        cmocka_unit_test(test_constants_are_encoded_once),
        cmocka_unit_test(test_type_conversions),
        cmocka_unit_test(test_real_numbers_out_of_range_and_non_decimal_text_are_refused),
        cmocka_unit_test(test_dates_and_times),
        cmocka_unit_test(test_int_time_fields_refuse_values_past_the_int_range),
        cmocka_unit_test(test_date_and_time_of_an_instant_with_an_offset_are_utc),
        cmocka_unit_test(test_enum_mapping_and_default),
        cmocka_unit_test(test_missing_null_empty_and_clear_when_empty),
        cmocka_unit_test(test_concatenated_fields),
        cmocka_unit_test(test_quoted_values_are_cut_at_a_character_boundary),
        cmocka_unit_test(test_nested_canonical_records),
        cmocka_unit_test(test_event_time),
        cmocka_unit_test(test_delete_conditions),
        cmocka_unit_test(test_output_is_reused_across_records),
        cmocka_unit_test(test_load_reads_a_file_and_reports_io_errors),
        cmocka_unit_test(test_docs_example_and_example_domains_bind),
        cmocka_unit_test(test_every_structural_error_has_a_message),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
