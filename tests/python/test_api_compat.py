"""Compatibility: the check endpoints and registration agree at every level.

Reference: Confluent API reference, "Compatibility": POST
/compatibility/subjects/{s}/versions/{v} tests against one version ("latest" included) under
the subject's level; POST /compatibility/subjects/{s}/versions tests "the same compatibility
check as register for that subject"; both answer {"is_compatible": bool} and, with
?verbose=true, "messages". Registration answers 409 when incompatible ("Schema being
registered is incompatible with an earlier schema for subject ..."). Levels and their
meaning: Confluent's "Compatibility types" (BACKWARD: the new schema reads data of the
last schema; FORWARD: the last schema reads data of the new one; FULL: both; _TRANSITIVE:
against all earlier versions, not only the last). Verdicts per pair follow the Avro
specification's schema resolution rules. Issue 3: the check endpoint and registration give
the same verdict under every level (CSR#1681); messages name the version, field path and
rule in Confluent's verbose style.
"""
import json

import pytest

from helpers import assert_error, field, q, record

LEVELS = ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
          "FULL_TRANSITIVE"]


def rec(*fields, name="Rec"):
    return record(name, list(fields), namespace="com.compat")


ENUM2 = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}
ENUM3 = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}
ENUM3_DEFAULT = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"],
                 "default": "RED"}
ENUM2_DEFAULT = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"], "default": "RED"}

# (old, new, backward_ok, forward_ok): backward = new reads old data; forward = old reads new.
PAIRS = {
    "add_field_with_default": (
        rec(field("a", "string")),
        rec(field("a", "string"), field("b", "int", default=0)), True, True),
    "add_field_without_default": (
        rec(field("a", "string")),
        rec(field("a", "string"), field("b", "int")), False, True),
    "remove_field_without_default": (
        rec(field("a", "string"), field("b", "int")),
        rec(field("a", "string")), True, False),
    "remove_field_with_default": (
        rec(field("a", "string"), field("b", "int", default=1)),
        rec(field("a", "string")), True, True),
    "int_to_long": (rec(field("n", "int")), rec(field("n", "long")), True, False),
    "long_to_int": (rec(field("n", "long")), rec(field("n", "int")), False, True),
    "float_to_double": (rec(field("n", "float")), rec(field("n", "double")), True, False),
    "int_to_double": (rec(field("n", "int")), rec(field("n", "double")), True, False),
    "string_to_bytes": (rec(field("s", "string")), rec(field("s", "bytes")), True, True),
    "string_to_int": (rec(field("s", "string")), rec(field("s", "int")), False, False),
    "enum_add_symbol": (rec(field("c", ENUM2)), rec(field("c", ENUM3)), True, False),
    "enum_remove_symbol": (rec(field("c", ENUM3)), rec(field("c", ENUM2)), False, True),
    "enum_add_symbol_old_has_default": (
        rec(field("c", ENUM2_DEFAULT)), rec(field("c", ENUM3_DEFAULT)), True, True),
    "union_add_branch": (
        rec(field("u", ["null", "string"], default=None)),
        rec(field("u", ["null", "string", "int"], default=None)), True, False),
    "type_to_union_containing_it": (
        rec(field("u", "string")), rec(field("u", ["string", "null"])), True, False),
    "rename_record_with_alias": (
        record("Old", [field("a", "string")], namespace="com.compat"),
        record("New", [field("a", "string")], namespace="com.compat", aliases=["Old"]),
        True, False),
    "rename_record_without_alias": (
        record("Old", [field("a", "string")], namespace="com.compat"),
        record("New", [field("a", "string")], namespace="com.compat"), False, False),
    "rename_field_with_alias": (
        rec(field("a", "string")), rec(field("b", "string", aliases=["a"])), True, False),
    "fixed_size_change": (
        rec(field("f", {"type": "fixed", "name": "F", "size": 4})),
        rec(field("f", {"type": "fixed", "name": "F", "size": 8})), False, False),
    "nested_record_in_union_add_required": (
        rec(field("n", ["null", record("In", [field("x", "int")])], default=None)),
        rec(field("n", ["null", record("In", [field("x", "int"), field("y", "int")])],
                  default=None)), False, True),
    "array_items_int_to_long": (
        rec(field("xs", {"type": "array", "items": "int"})),
        rec(field("xs", {"type": "array", "items": "long"})), True, False),
    "map_values_string_to_int": (
        rec(field("m", {"type": "map", "values": "string"})),
        rec(field("m", {"type": "map", "values": "int"})), False, False),
    "namespace_change_same_short_name": (
        record("R", [field("a", "string")], namespace="com.one"),
        record("R", [field("a", "string")], namespace="com.two"), True, True),
    "int_to_union_without_int": (
        rec(field("u", "int")), rec(field("u", ["null", "string"], default=None)), False, False),
    "long_to_float": (rec(field("n", "long")), rec(field("n", "float")), True, False),
    "float_to_long": (rec(field("n", "float")), rec(field("n", "long")), False, True),
    "add_optional_field_null_default": (
        rec(field("a", "string")),
        rec(field("a", "string"), field("o", ["null", "string"], default=None)), True, True),
    "add_default_to_existing_field": (
        rec(field("a", "string")), rec(field("a", "string", default="d")), True, True),
    "array_of_records_add_required": (
        rec(field("xs", {"type": "array", "items": record("El", [field("x", "int")])})),
        rec(field("xs", {"type": "array", "items": record("El", [field("x", "int"),
                                                                  field("y", "int")])})),
        False, True),
    "map_of_records_add_with_default": (
        rec(field("m", {"type": "map", "values": record("V", [field("x", "int")])})),
        rec(field("m", {"type": "map", "values": record("V", [field("x", "int"),
                                                               field("y", "int", default=0)])})),
        True, True),
    "fixed_name_change": (
        rec(field("f", {"type": "fixed", "name": "F", "size": 4})),
        rec(field("f", {"type": "fixed", "name": "G", "size": 4})), False, False),
    "enum_rename_with_alias": (
        rec(field("c", ENUM2)),
        rec(field("c", {"type": "enum", "name": "Colour", "aliases": ["Color"],
                        "symbols": ["RED", "GREEN"]})), True, False),
    "enum_symbol_reorder": (
        rec(field("c", ENUM3)),
        rec(field("c", {"type": "enum", "name": "Color", "symbols": ["BLUE", "RED", "GREEN"]})),
        True, True),
    "enum_remove_symbol_new_has_default": (
        rec(field("c", ENUM3)), rec(field("c", ENUM2_DEFAULT)), True, True),
    "identical_modulo_doc": (
        rec(field("a", "string", doc="one")), rec(field("a", "string", doc="two")), True, True),
}


def expected(level, backward_ok, forward_ok):
    if level == "NONE":
        return True
    if level.startswith("BACKWARD"):
        return backward_ok
    if level.startswith("FORWARD"):
        return forward_ok
    return backward_ok and forward_ok


def check(api, s, schema, version=None, verbose=True):
    path = f"/compatibility/subjects/{q(s)}/versions"
    if version is not None:
        path += f"/{version}"
    r = api.post(path, {"schema": json.dumps(schema)},
                 params={"verbose": "true"} if verbose else None)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["is_compatible"], bool), body
    return body


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_check_and_register_agree(api, subj, level, pair):
    old, new, b_ok, f_ok = PAIRS[pair]
    want = expected(level, b_ok, f_ok)
    s = subj()
    api.register_ok(s, old)
    api.set_config(s, level)
    assert api.get(f"/config/{q(s)}").json()["compatibilityLevel"] == level

    for version in ("latest", "1", None):
        body = check(api, s, new, version)
        assert body["is_compatible"] is want, (version, body)
        if not want:
            assert body.get("messages"), f"verbose answer without messages: {body}"
    plain = check(api, s, new, "latest", verbose=False)
    assert plain["is_compatible"] is want

    r = api.register(s, new)
    if want:
        assert r.status_code == 200, r.text
        # a doc-only change is the same schema (issue 3's identity rule): no new version
        assert api.versions(s).json() == ([1] if pair == "identical_modulo_doc" else [1, 2])
    else:
        body = assert_error(r, 409, (409, 40901))
        assert body["message"].startswith(
            f'Schema being registered is incompatible with an earlier schema for subject "{s}"'
        ), body["message"]
        assert api.versions(s).json() == [1]


# Three-version chains where the verdict against the latest differs from the verdict against
# all versions: (v1, v2, v3, verdict per level for registering v3 after v1 and v2).
CHAINS = {
    # v3 drops a field that had no default in v1 but a default in v2: old readers of v1
    # cannot read v3 data, readers of v2 can.
    "forward_transitive_breaks": (
        rec(field("k", "string"), field("a", "string")),
        rec(field("k", "string"), field("a", "string", default="x")),
        rec(field("k", "string")),
        {"NONE": True, "BACKWARD": True, "BACKWARD_TRANSITIVE": True, "FORWARD": True,
         "FORWARD_TRANSITIVE": False, "FULL": True, "FULL_TRANSITIVE": False}),
    # v3 makes a field required that v1 lacked: v3 cannot read v1 data, it can read v2's.
    "backward_transitive_breaks": (
        rec(field("k", "string")),
        rec(field("k", "string"), field("b", "string", default="y")),
        rec(field("k", "string"), field("b", "string")),
        {"NONE": True, "BACKWARD": True, "BACKWARD_TRANSITIVE": False, "FORWARD": True,
         "FORWARD_TRANSITIVE": True, "FULL": True, "FULL_TRANSITIVE": False}),
}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_transitive_levels(api, subj, level, chain):
    v1, v2, v3, verdicts = CHAINS[chain]
    want_all = verdicts[level]
    s = subj()
    api.set_config(s, "NONE")
    api.register_ok(s, v1)
    api.register_ok(s, v2)
    api.set_config(s, level)
    # Issue 3 / CSR#1681 / Karapace PR#953: the check endpoint applies the subject's level,
    # transitive included, so "latest" gives the registration verdict (Confluent's docs:
    # "the compatibility level applied for the check is the configured compatibility
    # level for the subject").
    assert check(api, s, v3, "latest")["is_compatible"] is want_all
    if "TRANSITIVE" not in level:
        assert check(api, s, v3, "2")["is_compatible"] is verdicts[level]
    body = check(api, s, v3, None)
    assert body["is_compatible"] is want_all, body
    r = api.register(s, v3)
    if want_all:
        assert r.status_code == 200, r.text
        assert api.versions(s).json() == [1, 2, 3]
    else:
        assert_error(r, 409, (409, 40901))
        assert api.versions(s).json() == [1, 2]
        # the message names the version that breaks it (v1), not the one that does not (v2)
        joined = " ".join(body["messages"])
        assert "oldSchemaVersion: 1" in joined, joined
        assert "oldSchemaVersion: 2" not in joined, joined


def test_verbose_message_names_version_field_path_and_rule(api, subj):
    s = subj()
    api.register_ok(s, rec(field("a", "string")))
    api.set_config(s, "BACKWARD")
    body = check(api, s, rec(field("a", "string"), field("added", "int")), "latest")
    assert body["is_compatible"] is False
    joined = "\n".join(body["messages"])
    # Confluent's verbose style: {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE',
    # description:'The field 'added' at path '/fields/1' ...'}, {oldSchemaVersion: 1}, ...
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in joined, joined
    assert "added" in joined and "/fields/1" in joined, joined
    assert "oldSchemaVersion: 1" in joined, joined
    assert "BACKWARD" in joined, joined
    r = api.register(s, rec(field("a", "string"), field("added", "int")))
    body = assert_error(r, 409, (409, 40901))
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in body["message"], body["message"]
    assert "/fields/1" in body["message"], body["message"]


def test_verbose_type_mismatch_names_path(api, subj):
    s = subj()
    inner_old = record("Inner", [field("v", "string")])
    inner_new = record("Inner", [field("v", "int")])
    api.register_ok(s, rec(field("inner", inner_old)))
    api.set_config(s, "BACKWARD")
    body = check(api, s, rec(field("inner", inner_new)), "latest")
    assert body["is_compatible"] is False
    joined = "\n".join(body["messages"])
    assert "TYPE_MISMATCH" in joined, joined
    assert "/fields/0/type/fields/0" in joined, joined


def test_compatible_check_without_verbose_has_no_messages_requirement(api, subj):
    s = subj()
    api.register_ok(s, rec(field("a", "string")))
    r = api.post(f"/compatibility/subjects/{q(s)}/versions/latest",
                 {"schema": json.dumps(rec(field("a", "string"), field("b", "int", default=1)))})
    assert r.status_code == 200
    assert r.json()["is_compatible"] is True


def test_check_against_missing_subject_or_version(api, subj):
    s = subj()
    schema = {"schema": json.dumps(rec(field("a", "string")))}
    # "latest" of a subject with no schema: nothing to be incompatible with
    r = api.post(f"/compatibility/subjects/{q(s)}/versions/latest", schema)
    assert r.status_code == 200 and r.json()["is_compatible"] is True
    r = api.post(f"/compatibility/subjects/{q(s)}/versions", schema)
    assert r.status_code == 200 and r.json()["is_compatible"] is True
    api.register_ok(s, rec(field("a", "string")))
    assert_error(api.post(f"/compatibility/subjects/{q(s)}/versions/5", schema), 404, 40402)


def test_check_ignores_deleted_versions(api, subj):
    s = subj()
    api.set_config(s, "NONE")
    api.register_ok(s, rec(field("a", "string")))
    api.register_ok(s, rec(field("a", "int")))
    api.set_config(s, "BACKWARD_TRANSITIVE")
    candidate = rec(field("a", "int"), field("z", "int", default=0))
    assert check(api, s, candidate, None)["is_compatible"] is False
    api.delete(f"/subjects/{q(s)}/versions/1")
    assert check(api, s, candidate, None)["is_compatible"] is True
    assert api.register(s, candidate).status_code == 200


def test_global_level_applies_when_subject_has_none(fresh):
    fresh.set_config(None, "FORWARD")
    fresh.register_ok("g", rec(field("a", "string"), field("b", "int")))
    # removing b (no default) breaks FORWARD
    assert_error(fresh.register("g", rec(field("a", "string"))), 409, (409, 40901))
    fresh.set_config(None, "BACKWARD")
    assert fresh.register("g", rec(field("a", "string"))).status_code == 200


def test_recursive_schema_compat(api, subj):
    s = subj()
    node_v1 = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "int"},
        {"name": "next", "type": ["null", "Node"], "default": None}]}
    node_v2 = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "long"},
        {"name": "next", "type": ["null", "Node"], "default": None},
        {"name": "label", "type": "string", "default": ""}]}
    api.register_ok(s, node_v1)
    api.set_config(s, "BACKWARD")
    assert check(api, s, node_v2, "latest")["is_compatible"] is True
    api.set_config(s, "FULL")
    assert check(api, s, node_v2, "latest")["is_compatible"] is False
    assert_error(api.register(s, node_v2), 409, (409, 40901))
