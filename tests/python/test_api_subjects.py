"""Subjects, versions, registration, lookup and schemas-by-id, from Confluent's API reference.

Reference: Confluent Schema Registry API reference (docs/develop/api.rst and the Confluent
Cloud "Subjects (v1)" / "Schemas (v1)" pages): response shapes, status codes, error codes
40401 (subject not found), 40402 (version not found), 40403 (schema not found), 42201
(invalid schema), 42202 (invalid version: "between [1,2^31-1] or the string latest", -1 is
latest). Canongate's own stricter rules (issue 3): invalid defaults refused, identity
ignores whitespace, CRLF, key order and doc, stored text returned exactly as registered.
"""
import json

import pytest

from helpers import V1, assert_error, field, q, record

USER_V1 = record("User", [field("name", "string")], namespace="com.example")
USER_V2 = record("User", [field("name", "string"), field("age", "int", default=0)],
                 namespace="com.example")


def test_subjects_list_empty_on_fresh_registry(fresh):
    r = fresh.get("/subjects")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith(V1)
    assert r.json() == []


def test_register_and_read_back(api, subj):
    s = subj()
    text = json.dumps(USER_V1)
    r = api.register(s, text)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith(V1)
    sid = r.json()["id"]
    assert isinstance(sid, int) and sid > 0

    assert s in api.get("/subjects").json()
    assert api.versions(s).json() == [1]

    for v in ("1", "latest", "-1"):
        r = api.get(f"/subjects/{q(s)}/versions/{v}")
        assert r.status_code == 200, (v, r.text)
        body = r.json()
        assert body["subject"] == s
        assert body["version"] == 1
        assert body["id"] == sid
        assert body["schema"] == text
        assert body.get("schemaType", "AVRO") == "AVRO"

    r = api.get(f"/subjects/{q(s)}/versions/1/schema")
    assert r.status_code == 200
    assert r.text == text  # the unescaped schema string, exactly as registered

    r = api.get(f"/schemas/ids/{sid}")
    assert r.status_code == 200
    assert r.json()["schema"] == text
    assert r.json().get("schemaType", "AVRO") == "AVRO"
    r = api.get(f"/schemas/ids/{sid}/schema")
    assert r.status_code == 200
    assert r.text == text


def test_second_version_and_latest(api, subj):
    s = subj()
    id1 = api.register_ok(s, USER_V1)
    id2 = api.register_ok(s, USER_V2)
    assert id1 != id2
    assert api.versions(s).json() == [1, 2]
    for v in ("latest", "-1", "2"):
        body = api.get(f"/subjects/{q(s)}/versions/{v}").json()
        assert (body["version"], body["id"]) == (2, id2)
        assert json.loads(body["schema"]) == USER_V2
    body = api.get(f"/subjects/{q(s)}/versions/1").json()
    assert (body["version"], body["id"]) == (1, id1)
    r = api.get(f"/subjects/{q(s)}/versions/latest/schema")
    assert json.loads(r.text) == USER_V2


def test_same_schema_other_subject_same_id(api, subj):
    a, b = subj("a"), subj("b")
    api.set_config(a, "NONE")
    api.register_ok(a, '"string"')  # make b's version differ from a's
    mine = record("OnlyInThisTest", [field("k", "string")])
    ida = api.register_ok(a, mine)
    idb = api.register_ok(b, mine)
    assert ida == idb
    assert api.versions(a).json() == [1, 2]
    assert api.versions(b).json() == [1]
    assert api.get(f"/subjects/{q(b)}/versions/1").json()["id"] == ida
    assert sorted(api.get(f"/schemas/ids/{ida}/subjects").json()) == sorted([a, b])
    pairs = api.get(f"/schemas/ids/{ida}/versions").json()
    assert sorted((p["subject"], p["version"]) for p in pairs) == sorted([(a, 2), (b, 1)])


def test_reregister_returns_same_id_and_no_new_version(api, subj):
    s = subj()
    sid = api.register_ok(s, USER_V1)
    assert api.register_ok(s, USER_V1) == sid
    assert api.versions(s).json() == [1]


def test_reregister_old_version_skips_compat_check(api, subj):
    """CSR#2430 / issue 3: re-registering a schema the subject already has returns its id
    without a compatibility check, even when it is incompatible with the latest."""
    s = subj()
    api.set_config(s, "NONE")
    old = record("R", [field("a", "string")])
    new = record("R", [field("a", "int")])
    id_old = api.register_ok(s, old)
    api.register_ok(s, new)
    api.set_config(s, "FULL_TRANSITIVE")
    r = api.register(s, old)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == id_old
    assert api.versions(s).json() == [1, 2]


def test_subject_not_found_40401(api, subj):
    s = subj()
    assert_error(api.versions(s), 404, 40401)
    assert_error(api.get(f"/subjects/{q(s)}/versions/1"), 404, 40401)
    assert_error(api.get(f"/subjects/{q(s)}/versions/latest"), 404, 40401)
    assert_error(api.get(f"/subjects/{q(s)}/versions/1/schema"), 404, 40401)
    assert_error(api.lookup(s, USER_V1), 404, 40401)


def test_version_not_found_40402(api, subj):
    s = subj()
    api.register_ok(s, USER_V1)
    assert_error(api.get(f"/subjects/{q(s)}/versions/2"), 404, 40402)
    assert_error(api.get(f"/subjects/{q(s)}/versions/2147483647"), 404, 40402)
    assert_error(api.get(f"/subjects/{q(s)}/versions/2/schema"), 404, 40402)


@pytest.mark.parametrize("version", ["abc", "0", "-2", "2147483648", "1.5", "latestx"])
def test_invalid_version_42202(api, subj, version):
    s = subj()
    api.register_ok(s, USER_V1)
    assert_error(api.get(f"/subjects/{q(s)}/versions/{version}"), 422, 42202)
    assert_error(api.get(f"/subjects/{q(s)}/versions/{version}/schema"), 422, 42202)
    assert_error(api.delete(f"/subjects/{q(s)}/versions/{version}"), 422, 42202)
    r = api.post(f"/compatibility/subjects/{q(s)}/versions/{version}",
                 {"schema": json.dumps(USER_V2)})
    assert_error(r, 422, 42202)


@pytest.mark.parametrize("version,means", [("%201", 1), ("1%20", 1), ("%091%0A", 1), ("+1", 1),
                                           ("01", 1), ("LATEST", 2), ("%20Latest%20", 2),
                                           ("-01", 2)])
def test_versions_are_read_as_confluent_reads_them(api, subj, version, means):
    """Confluent's VersionId trims spaces and control bytes around a version, takes
    "latest" in any case, and parses the rest with Integer.parseInt (a sign, digits):
    a client that names a version so must get the same version here."""
    s = subj()
    api.register_ok(s, USER_V1)
    api.register_ok(s, USER_V2)
    r = api.get(f"/subjects/{q(s)}/versions/{version}")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == means


@pytest.mark.parametrize("sid", ["%20{}", "{}%20", "%09{}", "{}.0", "0x{}"])
def test_ids_with_spaces_or_junk_name_no_schema(api, subj, sid):
    """An id is Confluent's Integer path parameter: no spaces around it (strtoll would take
    a leading one and find schema 1 in "/schemas/ids/%201")."""
    known = api.register_ok(subj(), USER_V1)
    assert api.get(f"/schemas/ids/+{known}").status_code == 200   # Integer.valueOf takes a sign
    assert_error(api.get("/schemas/ids/" + sid.format(known)), 404, 40403)


def test_error_messages_match_confluent(api, subj):
    """Confluent's exact messages (Errors.java): clients show them to people."""
    s = subj()
    body = assert_error(api.versions(s), 404, 40401)
    assert body["message"] == f"Subject '{s}' not found."
    api.register_ok(s, USER_V1)
    body = assert_error(api.get(f"/subjects/{q(s)}/versions/7"), 404, 40402)
    assert body["message"] == "Version 7 not found."
    body = assert_error(api.get("/schemas/ids/987654"), 404, 40403)
    assert body["message"] == "Schema 987654 not found"
    body = assert_error(api.lookup(s, USER_V2), 404, 40403)
    assert body["message"] == "Schema not found"
    body = assert_error(api.get(f"/subjects/{q(s)}/versions/abc"), 422, 42202)
    assert body["message"] == ("The specified version 'abc' is not a valid version id. "
                               'Allowed values are between [1, 2^31-1] and the string "latest"')


def test_lookup(api, subj):
    s = subj()
    api.set_config(s, "NONE")
    api.register_ok(s, '"string"')
    sid = api.register_ok(s, USER_V1)
    r = api.lookup(s, USER_V1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"] == s
    assert body["id"] == sid
    assert body["version"] == 2
    assert json.loads(body["schema"]) == USER_V1
    # an equivalent text (whitespace, key order) is the same schema
    variant = json.dumps({"fields": [{"type": "string", "name": "name"}],
                          "namespace": "com.example", "name": "User", "type": "record"}, indent=3)
    r = api.lookup(s, variant)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["version"]) == (sid, 2)
    # registered elsewhere but not under this subject: 40403
    other = subj("other")
    api.register_ok(other, USER_V2)
    assert_error(api.lookup(s, USER_V2), 404, 40403)


def test_lookup_invalid_schema_42201(api, subj):
    s = subj()
    api.register_ok(s, USER_V1)
    assert_error(api.lookup(s, '{"type": "record", "name": '), 422, 42201)


def test_schema_by_id_not_found_40403(api):
    for path in ("/schemas/ids/999999", "/schemas/ids/999999/schema",
                 "/schemas/ids/999999/subjects", "/schemas/ids/999999/versions"):
        assert_error(api.get(path), 404, 40403)


def test_schema_by_id_with_subject_param(api, subj):
    s = subj()
    sid = api.register_ok(s, USER_V1)
    r = api.get(f"/schemas/ids/{sid}", params={"subject": s})
    assert r.status_code == 200
    assert json.loads(r.json()["schema"]) == USER_V1


def test_schema_types_lists_only_what_is_accepted(api):
    """GET /schemas/types lists the types the registry has providers for. JSON Schema and
    Protobuf are refused here (42201), so the only honest answer is ["AVRO"]."""
    r = api.get("/schemas/types")
    assert r.status_code == 200
    assert r.json() == ["AVRO"]


@pytest.mark.parametrize("stype,text", [
    ("JSON", '{"type": "object", "properties": {"a": {"type": "string"}}}'),
    ("PROTOBUF", 'syntax = "proto3"; message M { string a = 1; }'),
])
def test_unsupported_schema_type_42201(api, subj, stype, text):
    s = subj()
    body = assert_error(api.register(s, text, schemaType=stype), 422, 42201)
    assert "Invalid schema type" in body["message"] and stype in body["message"], body
    assert_error(api.versions(s), 404, 40401)


def test_explicit_avro_schema_type_accepted(api, subj):
    s = subj()
    sid = api.register_ok(s, USER_V1, schemaType="AVRO")
    assert api.register_ok(s, USER_V1) == sid


INVALID_SCHEMAS = {
    "malformed_json": '{"type": "record", "name": ',
    "not_json_at_all": "this is not a schema",
    "unknown_type": '{"type": "no_such_type"}',
    "unknown_named_type": json.dumps(record("R", [field("a", "com.nowhere.Missing")])),
    "record_without_fields": '{"type": "record", "name": "R"}',
    "record_without_name": json.dumps({"type": "record", "fields": []}),
    "invalid_name": json.dumps(record("1bad", [field("a", "int")])),
    "duplicate_field": json.dumps(record("R", [field("a", "int"), field("a", "string")])),
    "union_default_not_first_branch": json.dumps(
        record("R", [field("a", ["null", "string"], default="x")])),
    "union_default_second_branch_int": json.dumps(
        record("R", [field("a", ["string", "int"], default=5)])),
    "enum_default_not_a_symbol": json.dumps(
        {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "C"}),
    "field_default_enum_not_a_symbol": json.dumps(
        record("R", [field("e", {"type": "enum", "name": "E", "symbols": ["A"]}, default="Z")])),
    "int_default_string": json.dumps(record("R", [field("a", "int", default="x")])),
    "string_default_number": json.dumps(record("R", [field("a", "string", default=1)])),
    "record_default_missing_field": json.dumps(record("R", [field(
        "r", record("In", [field("x", "int")]), default={})])),
    "enum_duplicate_symbols": json.dumps({"type": "enum", "name": "E", "symbols": ["A", "A"]}),
    "fixed_without_size": json.dumps({"type": "fixed", "name": "F"}),
    "array_without_items": json.dumps({"type": "array"}),
    "nested_union": json.dumps(["null", ["int", "string"]]),
    "union_duplicate_type": json.dumps(["int", "int"]),
    "redefined_name": json.dumps(record("R", [field("a", record("R", [field("x", "int")]))])),
}


@pytest.mark.parametrize("name", sorted(INVALID_SCHEMAS))
def test_invalid_schema_42201(api, subj, name):
    s = subj()
    body = assert_error(api.register(s, INVALID_SCHEMAS[name]), 422, 42201)
    assert len(body["message"]) > 10, body
    assert_error(api.versions(s), 404, 40401)  # nothing was stored
    # the check endpoint refuses it too (not verbose: 42201)
    api.set_config(s, "NONE")
    api.register_ok(s, '"string"')
    r = api.post(f"/compatibility/subjects/{q(s)}/versions/latest",
                 {"schema": INVALID_SCHEMAS[name]})
    assert_error(r, 422, 42201)


@pytest.mark.parametrize("body", [{}, {"schema": ""}, {"schema": "   "}])
def test_empty_schema_42201(api, subj, body):
    s = subj()
    assert_error(api.post(f"/subjects/{q(s)}/versions", body), 422, 42201)


def test_identity_ignores_whitespace_crlf_key_order_and_doc(api, subj):
    s = subj()
    original = ('{"type":"record","name":"Order","namespace":"com.shop","doc":"first doc",'
                '"fields":[{"name":"id","type":"string"},'
                '{"name":"qty","type":"int","default":1,"doc":"how many"}]}')
    sid = api.register_ok(s, original)
    variants = [
        # whitespace and CRLF
        original.replace(",", ",\r\n   ").replace(":", " : "),
        # key order
        ('{"fields":[{"type":"string","name":"id"},'
         '{"doc":"how many","default":1,"type":"int","name":"qty"}],'
         '"doc":"first doc","namespace":"com.shop","name":"Order","type":"record"}'),
        # doc text changed, removed and added
        original.replace("first doc", "another doc entirely"),
        original.replace(',"doc":"how many"', ""),
        original.replace('"type":"string"}', '"type":"string","doc":"new doc"}'),
        # a full name instead of name + namespace
        original.replace('"name":"Order","namespace":"com.shop"', '"name":"com.shop.Order"'),
        # a primitive written as an object
        original.replace('"type":"string"', '"type":{"type":"string"}'),
    ]
    for v in variants:
        r = api.register(s, v)
        assert r.status_code == 200, (v, r.text)
        assert r.json()["id"] == sid, f"variant got a new id: {v}"
        r = api.lookup(s, v)
        assert r.status_code == 200, (v, r.text)
        assert (r.json()["id"], r.json()["version"]) == (sid, 1)
    assert api.versions(s).json() == [1]
    # the stored text is the first registration's text, byte for byte
    assert api.get(f"/schemas/ids/{sid}").json()["schema"] == original
    assert api.get(f"/subjects/{q(s)}/versions/1/schema").text == original
    # and another subject registering a variant gets the same id
    assert api.register_ok(subj("other"), variants[0]) == sid


def test_stored_text_kept_exactly(api, subj):
    s = subj()
    text = ('{\r\n  "type" : "record", "name":"Exact",\t"fields" : [ {"name":"a", '
            '"type":"string", "doc":"ünïcødé ✓ \\u00e9"} ]  }\n')
    sid = api.register_ok(s, text)
    assert api.get(f"/schemas/ids/{sid}").json()["schema"] == text
    assert api.get(f"/schemas/ids/{sid}/schema").content == text.encode("utf-8")
    assert api.get(f"/subjects/{q(s)}/versions/1").json()["schema"] == text
    assert api.lookup(s, text).json()["schema"] == text


def test_normalize(api, subj):
    s = subj()
    a = record("N", [field("x", "string"), field("y", {"type": "int"})])
    b = {"name": "N", "type": "record", "fields": [{"type": {"type": "string"}, "name": "x"},
                                                    {"type": "int", "name": "y"}]}
    sid = api.register_ok(s, a, params={"normalize": "true"})
    r = api.register(s, b, params={"normalize": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == sid
    r = api.lookup(s, b, params={"normalize": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == sid
    assert api.versions(s).json() == [1]


def test_metadata_and_ruleset_round_trip(api, subj):
    s = subj()
    metadata = {"tags": {"name": ["PII"]}, "properties": {"owner": "team-a", "email": "a@x.org"},
                "sensitive": ["email"]}
    rule_set = {"domainRules": [{"name": "checkName", "kind": "CONDITION", "mode": "WRITE",
                                 "type": "CEL", "expr": "size(message.name) < 100",
                                 "onFailure": "ERROR"}]}
    r = api.register(s, USER_V1, metadata=metadata, ruleSet=rule_set)
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    body = api.get(f"/subjects/{q(s)}/versions/1").json()
    assert body["id"] == sid
    assert body["metadata"] == metadata
    assert body["ruleSet"]["domainRules"][0]["name"] == "checkName"
    assert body["ruleSet"]["domainRules"][0]["expr"] == "size(message.name) < 100"
    assert body["ruleSet"]["domainRules"][0]["kind"] == "CONDITION"
    assert body["ruleSet"]["domainRules"][0]["mode"] == "WRITE"
    by_id = api.get(f"/schemas/ids/{sid}").json()
    assert by_id["metadata"] == metadata
    assert by_id["ruleSet"]["domainRules"][0]["name"] == "checkName"


@pytest.mark.parametrize("name", [
    "with/slash-value", "a/b/c", "with space-value", "ünïcødé-välue-名前", "plus+and%percent",
    "dots.and-dashes_ok", "question?hash#amp&", "emoji-🙂-value",
])
def test_subject_names_any_characters(api, name):
    sid = api.register_ok(name, USER_V1)
    assert name in api.get("/subjects").json()
    assert api.versions(name).json() == [1]
    body = api.get(f"/subjects/{q(name)}/versions/latest").json()
    assert body["subject"] == name and body["id"] == sid
    assert api.lookup(name, USER_V1).json()["subject"] == name
    assert name in api.get(f"/schemas/ids/{sid}/subjects").json()
    r = api.get(f"/config/{q(name)}", params={"defaultToGlobal": "true"})
    assert r.status_code == 200, r.text


def test_subjects_sorted(fresh):
    names = ["zeta", "alpha", "Mid", "beta-value"]
    for n in names:
        fresh.register_ok(n, '"string"')
    assert fresh.get("/subjects").json() == sorted(names)


def test_metadata_is_part_of_identity(api, subj):
    s = subj()
    plain = record("Meta", [field("k", "string")], namespace="com.meta")
    id1 = api.register_ok(s, plain)
    id2 = api.register_ok(s, plain, metadata={"properties": {"owner": "team-b"}})
    assert id2 != id1
    assert api.versions(s).json() == [1, 2]
    assert api.get(f"/subjects/{q(s)}/versions/2").json()["metadata"] == {
        "properties": {"owner": "team-b"}}
    assert "metadata" not in api.get(f"/subjects/{q(s)}/versions/1").json()


def test_fetch_max_id(api, subj):
    sid = api.register_ok(subj(), record("MaxId", [field("k", "string")]))
    body = api.get(f"/schemas/ids/{sid}", params={"fetchMaxId": "true"}).json()
    assert body["maxId"] >= sid
    top = api.register_ok(subj("later"), record("MaxIdLater", [field("k", "string")]))
    assert api.get(f"/schemas/ids/{sid}", params={"fetchMaxId": "true"}).json()["maxId"] == top


def test_subject_prefix_and_schemas_list(fresh):
    fresh.register_ok("orders-value", record("O", [field("a", "string")]))
    fresh.register_ok("orders-value", record("O", [field("a", "string"),
                                                   field("b", "int", default=0)]))
    fresh.register_ok("order-lines-value", '"string"')
    fresh.register_ok("users-value", '"long"')
    r = fresh.get("/subjects", params={"subjectPrefix": "order"})
    assert r.status_code == 200 and r.json() == ["order-lines-value", "orders-value"]
    r = fresh.get("/schemas")
    assert r.status_code == 200
    rows = r.json()
    assert sorted((x["subject"], x["version"]) for x in rows) == [
        ("order-lines-value", 1), ("orders-value", 1), ("orders-value", 2), ("users-value", 1)]
    for x in rows:
        assert fresh.get(f"/subjects/{q(x['subject'])}/versions/{x['version']}").json()[
            "id"] == x["id"]
    rows = fresh.get("/schemas", params={"subjectPrefix": "orders", "latestOnly": "true"}).json()
    assert [(x["subject"], x["version"]) for x in rows] == [("orders-value", 2)]


def test_explicit_version_outside_import_mode(api, subj):
    """Confluent (KafkaSchemaRegistry.register): outside IMPORT mode an explicit version must
    be the next one, else 42201 "Version is not one more than previous version"."""
    s = subj()
    api.register_ok(s, record("Ver", [field("k", "string")]))
    nxt = record("Ver", [field("k", "string"), field("j", "int", default=0)])
    body = assert_error(api.register(s, nxt, version=5), 422, 42201)
    assert body["message"] == "Version is not one more than previous version", body
    assert api.versions(s).json() == [1]
    r = api.register(s, nxt, version=2)
    assert r.status_code == 200, r.text
    assert api.versions(s).json() == [1, 2]


def test_response_shapes(api, subj):
    s = subj()
    sid = api.register_ok(s, record("Shapes", [field("k", "string")]))
    body = api.get(f"/subjects/{q(s)}/versions/1").json()
    assert {"subject", "version", "id", "schema"} <= set(body)
    assert isinstance(body["schema"], str)
    assert api.get(f"/schemas/ids/{sid}/versions").json() == [{"subject": s, "version": 1}]
    assert api.get(f"/schemas/ids/{sid}/subjects").json() == [s]
