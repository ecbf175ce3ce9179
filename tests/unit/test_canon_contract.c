/* test_canon_contract.c - the canon contract: canon.key, canon.writers, subject names,
 * and the entity description served by GET /canon/entities/{entity}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_data.h"

#include "registry/canon_contract.h"

static char *read_data(const char *name)
{
    char rel[512];
    snprintf(rel, sizeof(rel), "schema/%s", name);
    return test_data_read(rel, NULL);
}

static reg_schema *parse_text(const char *text)
{
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    if (err)
        fail_msg("parse failed: %s", cg_err_msg(err));
    return s;
}

/* Asserts the contract is refused with 42201 and a message containing needle. */
static void contract_bad(const char *text, const char *needle)
{
    reg_schema *s = parse_text(text);
    cg_err *e = reg_canon_validate(s);
    if (!e)
        fail_msg("contract accepted, expected \"%s\": %s", needle, text);
    assert_int_equal(cg_err_code(e), CG_EINVALID_SCHEMA);
    if (!strstr(cg_err_msg(e), needle))
        fail_msg("message \"%s\" lacks \"%s\"", cg_err_msg(e), needle);
    assert_null(reg_canon_entity_json("x", s));
    cg_err_free(e);
    reg_schema_free(s);
}

static void test_example_person_satisfies_the_contract(void **state)
{
    (void)state;
    char *text = read_data("person.avsc");
    reg_schema *s = parse_text(text);
    cg_err *e = reg_canon_validate(s);
    if (e)
        fail_msg("%s", cg_err_msg(e));
    reg_schema_free(s);
    free(text);
}

#define REC(key, fields)                                                                           \
    "{\"type\": \"record\", \"name\": \"Person\", " key "\"fields\": [" fields "]}"

static void test_canon_key_must_name_a_string_field(void **state)
{
    (void)state;
    contract_bad(REC("", "{\"name\": \"id\", \"type\": \"string\"}"), "no \"canon.key\"");
    contract_bad(REC("\"canon.key\": 1, ", "{\"name\": \"id\", \"type\": \"string\"}"),
                 "canon.key must be a string");
    contract_bad(REC("\"canon.key\": \"uid\", ", "{\"name\": \"id\", \"type\": \"string\"}"),
                 "canon.key 'uid' names no field of record 'Person'");
    contract_bad(REC("\"canon.key\": \"id\", ", "{\"name\": \"id\", \"type\": \"int\"}"),
                 "must be a string");
    contract_bad(REC("\"canon.key\": \"id\", ",
                     "{\"name\": \"id\", \"type\": [\"null\", \"string\"], \"default\": null}"),
                 "a union");
    contract_bad(REC("\"canon.key\": \"id\", ",
                     "{\"name\": \"id\", \"type\": "
                     "{\"type\": \"fixed\", \"name\": \"U\", \"size\": 16, "
                     "\"logicalType\": \"uuid\"}}"),
                 "must be a string");
    contract_bad("\"string\"", "must be a record");

    char *text = read_data("nullable_key.avsc");
    contract_bad(text, "canon.key field 'Account.id' must be a string");
    free(text);

    /* A string with logicalType uuid is a string. */
    reg_schema *s = parse_text(REC("\"canon.key\": \"id\", ",
                                   "{\"name\": \"id\", \"type\": {\"type\": \"string\", "
                                   "\"logicalType\": \"uuid\"}}"));
    assert_null(reg_canon_validate(s));
    reg_schema_free(s);
}

static void test_canon_writers_is_a_nonempty_list_of_distinct_domains(void **state)
{
    (void)state;
#define WF(w)                                                                                      \
    "{\"name\": \"id\", \"type\": \"string\"}, {\"name\": \"f\", \"type\": \"int\", "              \
    "\"default\": 0, \"canon.writers\": " w "}"
    contract_bad(REC("\"canon.key\": \"id\", ", WF("[]")), "non-empty array");
    contract_bad(REC("\"canon.key\": \"id\", ", WF("\"hr\"")), "non-empty array");
    contract_bad(REC("\"canon.key\": \"id\", ", WF("[\"hr\", \"hr\"]")), "names 'hr' twice");
    contract_bad(REC("\"canon.key\": \"id\", ", WF("[\"\"]")), "is not a domain name");
    contract_bad(REC("\"canon.key\": \"id\", ", WF("[\"HR\"]")), "is not a domain name");
    contract_bad(REC("\"canon.key\": \"id\", ", WF("[\"h r\"]")), "is not a domain name");
    contract_bad(REC("\"canon.key\": \"id\", ", WF("[\"-hr\"]")), "is not a domain name");
    contract_bad(REC("\"canon.key\": \"id\", ", WF("[1]")), "entry 1 is not a domain name");
    contract_bad(REC("\"canon.key\": \"id\", ",
                     "{\"name\": \"id\", \"type\": \"string\", \"canon.writers\": [\"hr\"]}"),
                 "may not have canon.writers");
    contract_bad(REC("\"canon.key\": \"id\", ",
                     "{\"name\": \"id\", \"type\": \"string\"}, {\"name\": \"a\", \"type\": "
                     "{\"type\": \"record\", \"name\": \"A\", \"fields\": [{\"name\": \"s\", "
                     "\"type\": \"string\", \"canon.writers\": [\"hr\"]}]}, "
                     "\"default\": {\"s\": \"\"}}"),
                 "field 'A.s': canon.writers is only allowed");
    reg_schema *s =
        parse_text(REC("\"canon.key\": \"id\", ", WF("[\"hr\", \"crm.eu\", \"bi_2\", \"x-y\"]")));
    assert_null(reg_canon_validate(s));
    reg_schema_free(s);
#undef WF
}

/* Every non-key field has a default or null among its types: updates of an entity may come
 * before the one that sets a field, and the merge must not depend on their order. */
static void test_non_key_fields_need_a_default_or_null(void **state)
{
    (void)state;
#define K  "\"canon.key\": \"id\", "
#define ID "{\"name\": \"id\", \"type\": \"string\"}, "
    contract_bad(REC(K, ID "{\"name\": \"n\", \"type\": \"long\"}"),
                 "field 'Person.n' has no default and is not nullable");
    /* A union without null, a record, an enum: the same without a default. */
    contract_bad(REC(K, ID "{\"name\": \"a\", \"type\": [\"null\", \"int\"], \"default\": null}, "
                           "{\"name\": \"u\", \"type\": [\"string\", \"int\"]}"),
                 "field 'Person.u' has no default and is not nullable");
    contract_bad(REC(K, ID "{\"name\": \"r\", \"type\": {\"type\": \"record\", \"name\": \"R\", "
                           "\"fields\": [{\"name\": \"x\", \"type\": \"int\"}]}}"),
                 "field 'Person.r' has no default");
    contract_bad("{\"type\": \"record\", \"name\": \"P\", \"namespace\": \"ns\", " K
                 "\"fields\": [" ID "{\"name\": \"e\", \"type\": {\"type\": \"enum\", "
                 "\"name\": \"E\", \"symbols\": [\"A\"]}}]}",
                 "field 'ns.P.e' has no default");
    /* A field of type "null" itself: it holds no value, and its update type would be
     * ["null", "null"] (registration used to fail on that "(please report)"). */
    contract_bad(REC(K, ID "{\"name\": \"n\", \"type\": \"null\"}"),
                 "field 'Person.n' has type \"null\": it can hold no value");
    /* Accepted: a default (of any type, nested record fields need none), null in the
     * union with or without a default. The key is exempt: it stays a plain string
     * without a default, and still may not be nullable. */
    static const char *const ok[] = {
        REC(K, ID "{\"name\": \"n\", \"type\": \"long\", \"default\": 0}"),
        REC(K, ID "{\"name\": \"u\", \"type\": [\"string\", \"int\"], \"default\": \"\"}"),
        REC(K, ID "{\"name\": \"r\", \"type\": {\"type\": \"record\", \"name\": \"R\", "
                  "\"fields\": [{\"name\": \"x\", \"type\": \"int\"}]}, \"default\": {\"x\": 1}}"),
        REC(K, ID "{\"name\": \"n\", \"type\": [\"null\", \"long\"], \"default\": null}"),
        REC(K, ID "{\"name\": \"n\", \"type\": [\"long\", \"null\"], \"default\": 1}"),
        REC(K, ID "{\"name\": \"n\", \"type\": [\"long\", \"null\"]}"),
        REC(K, "{\"name\": \"id\", \"type\": \"string\"}"),
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        reg_schema *s = parse_text(ok[i]);
        cg_err *e = reg_canon_validate(s);
        if (e)
            fail_msg("refused: %s\n%s", cg_err_msg(e), ok[i]);
        json_t *j = reg_canon_entity_json("x", s);
        assert_non_null(j);
        json_decref(j);
        reg_schema_free(s);
    }
    contract_bad(REC(K, "{\"name\": \"id\", \"type\": [\"null\", \"string\"], \"default\": null}, "
                        "{\"name\": \"n\", \"type\": \"long\", \"default\": 0}"),
                 "canon.key field 'Person.id' must be a string");
#undef ID
#undef K
}

static void test_recursive_canonical_schema_is_walked_once(void **state)
{
    (void)state;
    reg_schema *s = parse_text(
        REC("\"canon.key\": \"id\", ",
            "{\"name\": \"id\", \"type\": \"string\"},"
            "{\"name\": \"manager\", \"type\": [\"null\", \"Person\"], \"default\": null}"));
    assert_null(reg_canon_validate(s));
    reg_schema_free(s);
}

static void test_subject_names_give_the_entity_and_kind(void **state)
{
    (void)state;
    char e[65];
    static const struct {
        const char *subject, *entity;
        reg_canon_subject_kind kind;
    } good[] = {
        {"canon.person.entity", "person", REG_CANON_SUBJECT_ENTITY},
        {"canon.person.updates-value", "person", REG_CANON_SUBJECT_UPDATES},
        {"canon.person-value", "person", REG_CANON_SUBJECT_ENVELOPE},
        {"canon.bank_account2.entity", "bank_account2", REG_CANON_SUBJECT_ENTITY},
        {"canon.bank_account2-value", "bank_account2", REG_CANON_SUBJECT_ENVELOPE},
        /* An entity may be called "updates" or "entity": the suffix decides. */
        {"canon.updates-value", "updates", REG_CANON_SUBJECT_ENVELOPE},
        {"canon.updates.updates-value", "updates", REG_CANON_SUBJECT_UPDATES},
        {"canon.entity.entity", "entity", REG_CANON_SUBJECT_ENTITY},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(e, 'x', sizeof(e));
        if (reg_canon_subject_parse(good[i].subject, e, sizeof(e)) != good[i].kind)
            fail_msg("'%s' not parsed as kind %d", good[i].subject, (int)good[i].kind);
        assert_string_equal(e, good[i].entity);
        assert_int_equal(reg_canon_subject_entity(good[i].subject, e, sizeof(e)), 1);
        /* The name goes back to the subject. */
        char name[128];
        assert_int_equal(reg_canon_subject_name(good[i].kind, good[i].entity, name, sizeof(name)),
                         0);
        assert_string_equal(name, good[i].subject);
    }
    static const char *const not_canonical[] = {
        "canon.person.updates-key",
        "canon.person-key",
        "canon.person.envelope-value",
        "canon.person.entity-value",
        "canon.person.Entity",
        "canon.person.entity.entity",
        "canon..entity",
        "canon.-value",
        "canon..updates-value",
        "person-value",
        "person.entity",
        "canon.Person-value",
        "canon.2person-value",
        "canon.per-son-value",
        "canon.per-son.entity",
        "canon.person-value-value",
        "xcanon.person-value",
        "canon.person",
        "",
        "canon.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-value", /* 65 */
        "canon.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.entity",
    };
    for (size_t i = 0; i < sizeof(not_canonical) / sizeof(not_canonical[0]); i++) {
        if (reg_canon_subject_entity(not_canonical[i], e, sizeof(e)))
            fail_msg("'%s' taken as canonical", not_canonical[i]);
        assert_int_equal(reg_canon_subject_parse(not_canonical[i], e, sizeof(e)),
                         REG_CANON_SUBJECT_NONE);
    }
    assert_int_equal(reg_canon_subject_entity(NULL, e, sizeof(e)), 0);
    /* The entity must fit the caller's buffer, NUL included. */
    char small[6];
    assert_int_equal(reg_canon_subject_entity("canon.person-value", small, sizeof(small)), 0);
    assert_int_equal(reg_canon_subject_parse("canon.person.entity", small, sizeof(small)),
                     REG_CANON_SUBJECT_NONE);
    char exact[7];
    assert_int_equal(reg_canon_subject_entity("canon.person-value", exact, sizeof(exact)), 1);
    assert_string_equal(exact, "person");
    assert_int_equal(reg_canon_subject_entity("canon.person-value", NULL, 0), 1);
    assert_int_equal(reg_canon_subject_parse("canon.person.entity", NULL, 0),
                     REG_CANON_SUBJECT_ENTITY);
    /* Names that do not fit, or of no entity, are refused. */
    char name[20];
    assert_int_equal(reg_canon_subject_name(REG_CANON_SUBJECT_UPDATES, "person", name, 20), -1);
    assert_int_equal(reg_canon_subject_name(REG_CANON_SUBJECT_ENTITY, "per-son", name, 20), -1);
    assert_int_equal(reg_canon_subject_name(REG_CANON_SUBJECT_NONE, "person", name, 20), -1);
    assert_int_equal(reg_canon_subject_name(REG_CANON_SUBJECT_ENTITY, "person", name, 20), 0);
    assert_string_equal(name, "canon.person.entity");
}

static void test_has_key_tells_canonical_from_envelope(void **state)
{
    (void)state;
    reg_schema *s = parse_text("{\"type\": \"record\", \"name\": \"P\", \"canon.key\": \"x\", "
                               "\"fields\": [{\"name\": \"id\", \"type\": \"string\"}]}");
    assert_int_equal(reg_canon_has_key(s), 1); /* even though the contract does not hold */
    reg_schema_free(s);
    s = parse_text("{\"type\": \"record\", \"name\": \"PEnvelope\", "
                   "\"fields\": [{\"name\": \"key\", \"type\": \"string\"}]}");
    assert_int_equal(reg_canon_has_key(s), 0);
    reg_schema_free(s);
    s = parse_text("\"string\"");
    assert_int_equal(reg_canon_has_key(s), 0);
    reg_schema_free(s);
    assert_int_equal(reg_canon_has_key(NULL), 0);
}

static void test_entity_json_describes_key_fields_and_writers(void **state)
{
    (void)state;
    char *text = read_data("person.avsc");
    reg_schema *s = parse_text(text);
    json_t *j = reg_canon_entity_json("person", s);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "entity")), "person");
    assert_string_equal(json_string_value(json_object_get(j, "record")), "canon.example.Person");
    assert_string_equal(json_string_value(json_object_get(j, "keyField")), "id");
    json_t *fields = json_object_get(j, "fields");
    assert_int_equal(json_array_size(fields), 6);
    json_t *id = json_array_get(fields, 0);
    assert_string_equal(json_string_value(json_object_get(id, "name")), "id");
    assert_true(json_is_null(json_object_get(id, "writers")));
    json_t *idtype = json_object_get(id, "type");
    assert_string_equal(json_string_value(json_object_get(idtype, "logicalType")), "uuid");
    json_t *email = json_array_get(fields, 2);
    json_t *w = json_object_get(email, "writers");
    assert_int_equal(json_array_size(w), 2);
    assert_string_equal(json_string_value(json_array_get(w, 0)), "crm");
    /* A field's type stands alone: its named types are written in full. */
    json_t *addr = json_object_get(json_array_get(fields, 4), "type");
    assert_true(json_is_array(addr));
    assert_string_equal(json_string_value(json_object_get(json_array_get(addr, 1), "name")),
                        "canon.example.Address");
    json_decref(j);
    reg_schema_free(s);
    free(text);
}

static void test_example_files_differing_in_layout_have_one_identity(void **state)
{
    (void)state;
    char *a = read_data("person.avsc");
    char *b = read_data("person_crlf_reordered.avsc");
    reg_schema *sa = parse_text(a), *sb = parse_text(b);
    assert_string_equal(reg_schema_normalized(sa), reg_schema_normalized(sb));
    assert_int_equal(reg_schema_fingerprint(sa), reg_schema_fingerprint(sb));
    reg_schema_free(sa);
    reg_schema_free(sb);
    free(a);
    free(b);

    /* The example with a bad default is refused with the field path. */
    char *bad = read_data("bad_default.avsc");
    reg_schema *s = NULL;
    cg_err *e = reg_schema_parse(bad, strlen(bad), NULL, 0, &s);
    assert_non_null(e);
    assert_string_equal(cg_err_msg(e),
                        "field 'Person.email': default 1 does not match type string");
    cg_err_free(e);
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_person_satisfies_the_contract),
        cmocka_unit_test(test_canon_key_must_name_a_string_field),
        cmocka_unit_test(test_canon_writers_is_a_nonempty_list_of_distinct_domains),
        cmocka_unit_test(test_non_key_fields_need_a_default_or_null),
        cmocka_unit_test(test_recursive_canonical_schema_is_walked_once),
        cmocka_unit_test(test_subject_names_give_the_entity_and_kind),
        cmocka_unit_test(test_has_key_tells_canonical_from_envelope),
        cmocka_unit_test(test_entity_json_describes_key_fields_and_writers),
        cmocka_unit_test(test_example_files_differing_in_layout_have_one_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
