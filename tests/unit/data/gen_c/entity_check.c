/* entity_check.c - exercises the canonical-entity part of a generated C binding.
 *
 * Built by tests/unit/test_gen_c.c against the binding of schemas/person.avsc: the update
 * builder (set, clear, delete; provided fields), Confluent framing, and the envelope
 * decoder and its helpers. Exits non-zero naming the first failed check. Prints the hex
 * of two update bodies and then of one envelope body, which the test decodes with Avro C
 * against the derived update and envelope schemas (so a binding whose framework types
 * differ from the registry's, e.g. a FieldVersion without partition and offset, fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "person_envelope.h"
#include "person_update.h"

static int str_is(canon_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.data, want, s.len) == 0;
}

static void print_hex(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", d[i]);
    printf("\n");
}

int main(void)
{
    canon_error err = {0};
    canon_buf b;
    canon_arena *a = canon_arena_new(0);
    person_update_builder_t u;
    person_update_t d;
    int32_t id = 0;
    canon_buf_init(&b);

    /* set, clear, set again: each field is provided once, in first-touch order */
    person_update_begin(&u, "5b8f4a4e-2d7e-4a53-9d43-1f0c3c1e9a10", "crm", 1700000000000, 7);
    person_update_set_email(&u, "ann@example.com");
    person_update_clear_phone(&u);
    person_update_set_email(&u, "ann@example.org");
    person_update_set_birth_date(&u, 19000);
    person_update_set_employment_status(&u, PERSON_EMPLOYMENT_STATUS_ACTIVE);
    CHECK(person_update_encode_framed(&u.msg, 42, &b, &err) == 0);
    CHECK(b.len > 5 && b.data[0] == 0 && b.data[1] == 0 && b.data[4] == 42);
    CHECK(person_update_decode_framed(&d, &id, b.data, b.len, a, &err) == 0);
    CHECK(id == 42);
    CHECK(str_is(d.person_id, "5b8f4a4e-2d7e-4a53-9d43-1f0c3c1e9a10"));
    CHECK(str_is(d.source, "crm") && d.event_time == 1700000000000 && d.seq == 7);
    CHECK(d.op == CANONGATE_UPDATE_OP_UPSERT);
    CHECK(d.provided.len == 4);
    CHECK(str_is(d.provided.items[0], "email") && str_is(d.provided.items[1], "phone"));
    CHECK(str_is(d.provided.items[2], "birth_date"));
    CHECK(str_is(d.provided.items[3], "employment_status"));
    CHECK(d.values.email.has && str_is(d.values.email.value, "ann@example.org"));
    CHECK(!d.values.phone.has && !d.values.given_name.has && d.values.address == NULL);
    CHECK(d.values.birth_date.has && d.values.birth_date.value == 19000);
    CHECK(d.values.employment_status.has &&
          d.values.employment_status.value == PERSON_EMPLOYMENT_STATUS_ACTIVE);
    print_hex(b.data + 5, b.len - 5);

    /* a NULL string clears the field, as None and null do in Python and Java */
    canon_buf cleared;
    canon_buf_init(&cleared);
    person_update_begin(&u, "k9", "crm", 1, 0);
    person_update_clear_phone(&u);
    CHECK(person_update_encode(&u.msg, &cleared, &err) == 0);
    person_update_begin(&u, "k9", "crm", 1, 0);
    person_update_set_phone(&u, "+47 1234");
    person_update_set_phone(&u, NULL);
    canon_buf_clear(&b);
    CHECK(person_update_encode(&u.msg, &b, &err) == 0);
    CHECK(b.len == cleared.len && memcmp(b.data, cleared.data, b.len) == 0);
    canon_buf_free(&cleared);

    /* delete drops the provided fields and values */
    person_update_delete(&u);
    canon_buf_clear(&b);
    CHECK(person_update_encode(&u.msg, &b, &err) == 0);
    CHECK(person_update_decode(&d, b.data, b.len, a, &err) == 0);
    CHECK(d.op == CANONGATE_UPDATE_OP_DELETE && d.provided.len == 0 && !d.values.email.has);
    print_hex(b.data, b.len);

    /* a nested record is referenced by the builder, and decoded into the arena */
    person_postal_address_t addr;
    person_postal_address_init(&addr);
    addr.city.has = true;
    addr.city.value = canon_str_c("Oslo");
    person_update_begin(&u, "k2", "hr", 1, 0);
    person_update_set_address(&u, &addr);
    person_update_clear_tags(&u);
    canon_buf_clear(&b);
    CHECK(person_update_encode(&u.msg, &b, &err) == 0);
    CHECK(person_update_decode(&d, b.data, b.len, a, &err) == 0);
    CHECK(d.values.address && d.values.address->city.has);
    CHECK(str_is(d.values.address->city.value, "Oslo") && !d.values.address->street.has);
    CHECK(d.provided.len == 2 && str_is(d.provided.items[1], "tags") && !d.values.tags.has);

    /* an array field: items and length, e.g. straight from a person_t */
    canon_str tags[2];
    tags[0] = canon_str_c("vip");
    tags[1] = canon_str_c("newsletter");
    person_update_begin(&u, "k3", "support", 2, 1);
    person_update_set_tags(&u, tags, 2);
    canon_buf_clear(&b);
    CHECK(person_update_encode(&u.msg, &b, &err) == 0);
    CHECK(person_update_decode(&d, b.data, b.len, a, &err) == 0);
    CHECK(d.values.tags.has && d.values.tags.value.len == 2);
    CHECK(str_is(d.values.tags.value.items[1], "newsletter"));

    /* the envelope: from Avro JSON, through binary, to the helpers */
    const char *env_json =
        "{\"key\":\"k1\",\"version\":3,\"op\":\"UPDATE\",\"before\":null,"
        "\"after\":{\"org.canongate.canon.Person\":{\"person_id\":\"k1\","
        "\"email\":{\"string\":\"new@example.com\"},\"tags\":[\"vip\"]}},"
        "\"changed\":[\"email\",\"tags\"],"
        "\"provenance\":{\"email\":{\"source\":\"crm\",\"event_time\":5,\"seq\":1,"
        "\"partition\":2,\"offset\":17},"
        "\"tags\":{\"source\":\"support\",\"event_time\":6,\"seq\":2}},"
        "\"deleted\":{\"canongate.FieldVersion\":{\"source\":\"hr\",\"event_time\":4,"
        "\"seq\":0,\"partition\":1,\"offset\":3}},"
        "\"cause\":{\"topic\":\"canon.person.updates\",\"partition\":2,\"offset\":9}}";
    json_t *j = json_loads(env_json, 0, NULL);
    person_envelope_t e, e2;
    CHECK(j != NULL);
    CHECK(person_envelope_from_json(j, &e, a, &err) == 0);
    json_decref(j);
    canon_buf_clear(&b);
    CHECK(person_envelope_encode_framed(&e, 9, &b, &err) == 0);
    CHECK(person_envelope_decode_framed(&e2, &id, b.data, b.len, a, &err) == 0);
    CHECK(id == 9 && e2.version == 3 && e2.op == CANONGATE_CHANGE_OP_UPDATE);
    CHECK(e2.before == NULL && e2.after != NULL && e2.deleted != NULL);
    CHECK(str_is(e2.deleted->source, "hr") && e2.deleted->event_time == 4);
    CHECK(e2.deleted->partition == 1 && e2.deleted->offset == 3);
    CHECK(str_is(e2.after->email.value, "new@example.com") && !e2.after->phone.has);
    CHECK(e2.after->tags.len == 1 && str_is(e2.after->tags.items[0], "vip"));
    CHECK(person_envelope_changed(&e2, "email") && !person_envelope_changed(&e2, "phone"));
    CHECK(person_envelope_provenance(&e2, "tags") != NULL);
    CHECK(person_envelope_provenance(&e2, "tags")->seq == 2);
    CHECK(str_is(person_envelope_provenance(&e2, "email")->source, "crm"));
    /* the update message that set the field: given for email, -1 (the default) for tags */
    CHECK(person_envelope_provenance(&e2, "email")->partition == 2);
    CHECK(person_envelope_provenance(&e2, "email")->offset == 17);
    CHECK(person_envelope_provenance(&e2, "tags")->partition == -1);
    CHECK(person_envelope_provenance(&e2, "tags")->offset == -1);
    CHECK(person_envelope_provenance(&e2, "phone") == NULL);
    CHECK(str_is(e2.cause.topic, "canon.person.updates") && e2.cause.offset == 9);
    print_hex(b.data + 5, b.len - 5);

    /* truncated input: an error that names a field and a byte, never a crash */
    canon_error derr = {0};
    CHECK(person_envelope_decode_framed(&e2, &id, b.data, b.len - 3, a, &derr) == -1);
    CHECK(derr.code == CANON_EDECODE && strstr(derr.msg, "byte") != NULL);
    canon_error ferr = {0};
    b.data[0] = 1; /* not the Confluent magic byte */
    CHECK(person_envelope_decode_framed(&e2, &id, b.data, b.len, a, &ferr) == -1);
    CHECK(strstr(ferr.msg, "Confluent") != NULL);
    /* the framing's own code, as the resolving decoder gives it (was CANON_EDECODE) */
    CHECK(ferr.code == CANON_EFRAME);
    canon_error serr = {0};
    CHECK(person_envelope_decode_framed(&e2, &id, b.data, 3, a, &serr) == -1);
    CHECK(serr.code == CANON_EFRAME && strstr(serr.msg, "5-byte Confluent header") != NULL);
    b.data[0] = 0;
    canon_error derr2 = {0}; /* a body error after a good header stays CANON_EDECODE */
    CHECK(person_envelope_decode_framed(&e2, &id, b.data, b.len - 3, a, &derr2) == -1);
    CHECK(derr2.code == CANON_EDECODE);

    canon_buf_free(&b);
    canon_arena_free(a);
    return 0;
}
