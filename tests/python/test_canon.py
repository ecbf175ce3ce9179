"""The canon contract on canonical subjects, and the /canon/entities endpoints.

Reference: ../shared/DESIGN.md, "The canon contract", and docs/wire.md for the subjects: the
canonical subject canon.<entity>.entity only accepts an Avro record whose record property
"canon.key" names its universal-identifier field (a string, or a string with logicalType
uuid), and whose optional field property "canon.writers" is a well-formed list of domains;
anything else is a clear 422 (42201). An entity's subjects default to FULL_TRANSITIVE.
GET /canon/entities and /canon/entities/{entity} list the entities with key field, writers
per field and versions (issue 3, item 8; registry/canon_contract.h for the entity object).
The derived subjects themselves are tested in test_canon_derived.py.
"""
import copy
import json
import os

import pytest

from helpers import assert_error, field, q, record

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def person(**overrides):
    s = record("Person", [
        field("person_id", {"type": "string", "logicalType": "uuid"}),
        field("given_name", ["null", "string"], default=None, **{"canon.writers": ["hr", "crm"]}),
        field("email", ["null", "string"], default=None),
        field("phone", ["null", "string"], default=None, **{"canon.writers": ["crm"]}),
    ], namespace="org.canongate.canon", **{"canon.key": "person_id"})
    s.update(overrides)
    return s


def with_field(schema, name, **changes):
    s = copy.deepcopy(schema)
    for f in s["fields"]:
        if f["name"] == name:
            f.update(changes)
            for k, v in list(f.items()):
                if v is None and k != "default":
                    del f[k]
    return s


def canon_subject(entity):
    return f"canon.{entity}.entity"


def test_good_canonical_schema_accepted(api):
    s = canon_subject("ok1")
    sid = api.register_ok(s, person())
    assert api.get(f"/subjects/{q(s)}/versions/1").json()["id"] == sid


def test_repository_person_schema_accepted(api):
    with open(os.path.join(ROOT, "schemas", "person.avsc")) as f:
        text = f.read()
    api.register_ok(canon_subject("repo_person"), text)


def test_plain_string_key_accepted(api):
    s = person()
    s["fields"][0]["type"] = "string"
    api.register_ok(canon_subject("plainkey"), s)


def key_on_new_field(type_):
    s = person(**{"canon.key": "k2"})
    s["fields"].append(field("k2", type_))
    return s


BAD = {
    "no_canon_key": lambda: {k: v for k, v in person().items() if k != "canon.key"},
    "key_names_missing_field": lambda: person(**{"canon.key": "nope"}),
    "key_names_int_field": lambda: key_on_new_field("int"),
    "key_names_bytes_field": lambda: key_on_new_field("bytes"),
    "key_names_nullable_field": lambda: person(**{"canon.key": "email"}),
    "key_is_not_a_string": lambda: person(**{"canon.key": 5}),
    "key_is_a_list": lambda: person(**{"canon.key": ["person_id"]}),
    "writers_not_a_list": lambda: with_field(person(), "phone", **{"canon.writers": "crm"}),
    "writers_empty": lambda: with_field(person(), "phone", **{"canon.writers": []}),
    "writers_non_string": lambda: with_field(person(), "phone", **{"canon.writers": ["crm", 3]}),
    "writers_duplicate": lambda: with_field(person(), "phone", **{"canon.writers": ["crm", "crm"]}),
    "writers_empty_name": lambda: with_field(person(), "phone", **{"canon.writers": [""]}),
    "not_a_record": lambda: '"string"',
    "enum_not_record": lambda: {"type": "enum", "name": "E", "symbols": ["A"], "canon.key": "A"},
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_contract_violations_refused(api, case):
    s = canon_subject("bad_" + case)
    body = assert_error(api.register(s, BAD[case]()), 422, 42201)
    assert "canon" in body["message"], body["message"]
    assert_error(api.versions(s), 404, 40401)
    # the same through the envelope subject (a schema with canon.key is taken there as a
    # canonical schema; one without is refused as not canonical)
    env = f"canon.bad_{case}-value"
    body = assert_error(api.register(env, BAD[case]()), 422, 42201)
    assert "canon" in body["message"], body["message"]
    for sub in (s, env, f"canon.bad_{case}.updates-value"):
        assert_error(api.versions(sub), 404, 40401)


def test_non_key_field_without_default_or_null_refused(api):
    # an update of the entity may come before the one that sets such a field: the merge
    # would then depend on arrival order, so the contract wants a default or null
    bad = person()
    bad["fields"].append(field("age", "int"))
    for sub in (canon_subject("reqfield"), "canon.reqfield-value"):
        assert_error(api.register(sub, bad), 422, 42201,
                     message_contains="field 'org.canongate.canon.Person.age' has no default "
                                      "and is not nullable")
    for sub in ("canon.reqfield.entity", "canon.reqfield-value", "canon.reqfield.updates-value"):
        assert_error(api.versions(sub), 404, 40401)
    # with a default, or null among its types (with or without a default), it is accepted;
    # the key keeps neither
    for name, ok in (("reqfield_default", with_field(bad, "age", default=0)),
                     ("reqfield_null", with_field(bad, "age", type=["null", "int"], default=None)),
                     ("reqfield_null_last", with_field(bad, "age", type=["int", "null"]))):
        api.register_ok(canon_subject(name), ok)
        info = api.get(f"/canon/entities/{name}").json()
        assert info["keyField"] == "person_id" and "age" in [f["name"] for f in info["fields"]]


def test_null_typed_field_refused_by_the_contract(api):
    # it can hold no value, and its optional type would be ["null", "null"]: refused up
    # front with a message that says so, not with a derivation failure "(please report)"
    bad = person()
    bad["fields"].append(field("nothing", "null"))
    for sub in (canon_subject("nullfield"), "canon.nullfield-value"):
        body = assert_error(api.register(sub, bad), 422, 42201,
                            message_contains="field 'org.canongate.canon.Person.nothing' has "
                                             "type \"null\"")
        assert "please report" not in body["message"], body["message"]
    for sub in ("canon.nullfield.entity", "canon.nullfield-value",
                "canon.nullfield.updates-value"):
        assert_error(api.versions(sub), 404, 40401)
    # a union with null and something else is the way to say "may be absent"
    api.register_ok(canon_subject("nullfield_ok"),
                    with_field(bad, "nothing", type=["null", "string"], default=None))


def test_contract_only_on_canonical_subjects(api):
    no_key = {k: v for k, v in person().items() if k != "canon.key"}
    api.register_ok("person-value", no_key)
    api.register_ok("canon.person-key", '"string"')
    api.register_ok("canon.person.entity-value", no_key)  # not an entity's subject
    # the derived subjects are written by the registry only
    assert_error(api.register("canon.person.updates-value", no_key), 422, 42201,
                 message_contains="derived subject")


def test_canonical_subject_defaults_to_full_transitive(api):
    s = canon_subject("compat")
    assert api.get(f"/config/{q(s)}", params={"defaultToGlobal": "true"}).json()[
        "compatibilityLevel"] == "FULL_TRANSITIVE"
    assert api.get("/config").json()["compatibilityLevel"] == "BACKWARD"
    v1 = person()
    v1["fields"].append(field("nick", ["null", "string"]))  # nullable, no default
    v2 = with_field(v1, "nick", default=None)
    v3 = person()  # drops nick: fine against v2 (it had a default), not against v1
    api.register_ok(s, v1)
    api.register_ok(s, v2)
    r = api.post(f"/compatibility/subjects/{q(s)}/versions", {"schema": json.dumps(v3)},
                 params={"verbose": "true"})
    assert r.status_code == 200 and r.json()["is_compatible"] is False, r.text
    assert_error(api.register(s, v3), 409, (409, 40901))
    # the same evolution under a plain subject follows the global BACKWARD level
    plain = "people-value"
    for v in (v1, v2, v3):
        api.register_ok(plain, v)
    # an explicit subject level still wins, but only on its own subject: the envelope
    # (which carries the canonical record) keeps FULL_TRANSITIVE and refuses v3 ...
    api.set_config(s, "BACKWARD")
    body = assert_error(api.register(s, v3), 409, (409, 40901))
    assert "canon.compat-value" in body["message"], body["message"]
    # ... until its level is relaxed too; the update schema is unaffected by dropping an
    # optional field
    api.set_config("canon.compat-value", "BACKWARD")
    assert api.register(s, v3).status_code == 200


def test_canon_entities(api):
    s = canon_subject("listed")
    v1 = person()
    api.register_ok(s, v1)
    v2 = copy.deepcopy(v1)
    v2["fields"].append(field("tier", ["null", "string"], default=None,
                              **{"canon.writers": ["support"]}))
    sid2 = api.register_ok(s, v2)

    r = api.get("/canon/entities")
    assert r.status_code == 200
    entities = r.json()
    assert isinstance(entities, list)
    mine = [e for e in entities if e.get("entity") == "listed"]
    assert len(mine) == 1, entities
    assert not [e for e in entities if e.get("entity") in ("person", "person.updates")], entities

    r = api.get("/canon/entities/listed")
    assert r.status_code == 200
    e = r.json()
    assert e == mine[0]
    assert e["keyField"] == "person_id"
    assert e["subject"] == s
    assert e["versions"] == [1, 2]
    assert e["version"] == 2 and e["id"] == sid2
    # the derived subjects and their latest versions (docs/wire.md)
    for key, sub in (("updates", "canon.listed.updates-value"), ("envelope", "canon.listed-value")):
        latest = api.get(f"/subjects/{q(sub)}/versions/latest").json()
        assert e[key] == {"subject": sub, "id": latest["id"], "version": latest["version"]}, e
        assert latest["version"] == 2
    writers = {f["name"]: f["writers"] for f in e["fields"]}
    assert writers == {"person_id": None, "given_name": ["hr", "crm"], "email": None,
                       "phone": ["crm"], "tier": ["support"]}


def test_canon_entity_not_found(api):
    assert_error(api.get("/canon/entities/nobody_here"), 404, 40401)


def _with_ts(unit):
    s = person()
    s["fields"].append(field("updated_at", ["null", {"type": "long", "logicalType": unit}],
                             default=None))
    return s


def test_logical_type_change_is_incompatible_on_canonical_subjects_only(api):
    # timestamp-millis -> timestamp-micros keeps the bytes readable but changes what every
    # consumer of the canon reads, so canonical subjects refuse it; other subjects follow
    # Avro Java and Confluent, which do not compare logical types.
    canon = canon_subject("ts_strict")
    api.register_ok(canon, _with_ts("timestamp-millis"))
    r = api.register(canon, _with_ts("timestamp-micros"))
    assert_error(r, 409)
    assert "TYPE_MISMATCH" in r.json()["message"]

    plain = "plain-ts-value"
    api.register_ok(plain, _with_ts("timestamp-millis"))
    api.register_ok(plain, _with_ts("timestamp-micros"))
