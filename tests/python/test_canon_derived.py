"""An entity's three subjects over HTTP (docs/wire.md, "Subjects and topics of one entity").

Registering a canonical schema at canon.<entity>.entity (or, as a convenience, at
canon.<entity>-value) also registers the update schema at canon.<entity>.updates-value and
the envelope schema at canon.<entity>-value, in one transaction: a change that any of the
three subjects refuses leaves all three unchanged. The derived subjects refuse direct
writes except in IMPORT mode.

The expected derived schemas are computed here from docs/wire.md by a small independent
implementation (derive_update / derive_envelope below) and compared as JSON values; the
exact bytes are checked by tests/unit/test_canon_derive.c.
"""
import copy
import json
import os

import pytest

from helpers import assert_error, field, q, record

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def read_schema(name):
    with open(os.path.join(ROOT, "schemas", name)) as f:
        return f.read()


# ---- docs/wire.md, written again in Python ------------------------------------------------

def _fullname(name, namespace):
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


class _Writer:
    """Writes canonical types the way the registry does: a named type in full (full name
    as "name", no "namespace") where it first appears, by full name after."""

    def __init__(self, canonical):
        self.seen = set()
        self.defs = {}
        self._collect(canonical, canonical.get("namespace"))

    def _collect(self, t, ns):
        if isinstance(t, list):
            for b in t:
                self._collect(b, ns)
        elif isinstance(t, dict):
            kind = t["type"]
            if kind in ("record", "error", "enum", "fixed"):
                full = _fullname(t["name"], t.get("namespace", ns))
                self.defs[full] = t
                inner = full.rpartition(".")[0] or None
                for f in t.get("fields", []):
                    self._collect(f["type"], inner)
            elif kind == "array":
                self._collect(t["items"], ns)
            elif kind == "map":
                self._collect(t["values"], ns)

    def type(self, t, ns):
        if isinstance(t, str):
            if t in PRIMITIVES:
                return t
            return self.type(self.defs[_fullname(t, ns)], ns)
        if isinstance(t, list):
            return [self.type(b, ns) for b in t]
        kind = t["type"]
        if kind in ("record", "error", "enum", "fixed"):
            full = _fullname(t["name"], t.get("namespace", ns))
            if full in self.seen:
                return full
            self.seen.add(full)
            out = {"name": full, "type": kind}
            for k, v in t.items():
                if k in ("name", "type", "namespace", "fields"):
                    continue
                out[k] = v
            if "fields" in t:
                inner = full.rpartition(".")[0] or None
                out["fields"] = [self.field(f, inner) for f in t["fields"]]
            return out
        if kind == "array":
            return {"type": "array", "items": self.type(t["items"], ns)}
        if kind == "map":
            return {"type": "map", "values": self.type(t["values"], ns)}
        if kind in PRIMITIVES and set(t) == {"type"}:
            return kind
        return dict(t)

    def field(self, f, ns):
        out = dict(f)
        out["type"] = self.type(f["type"], ns)
        return out


def _optional(w, t, ns):
    if isinstance(t, list):
        return ["null"] + [w.type(b, ns) for b in t if b != "null"]
    return ["null", w.type(t, ns)]


def _named(kind, name, namespace, **rest):
    out = {"type": kind, "name": name}
    if namespace:
        out["namespace"] = namespace
    out.update(rest)
    return out


TS = {"type": "long", "logicalType": "timestamp-millis"}


def derive_update(canonical):
    ns, name = canonical.get("namespace"), canonical["name"]
    key = canonical["canon.key"]
    w = _Writer(canonical)
    kf = next(f for f in canonical["fields"] if f["name"] == key)
    kout = {"name": key, "type": w.type(kf["type"], ns)}
    kout.update({k: kf[k] for k in ("aliases", "doc") if k in kf})
    values = []
    for f in canonical["fields"]:
        if f["name"] == key:
            continue
        v = {"name": f["name"], "type": _optional(w, f["type"], ns), "default": None}
        v.update({k: f[k] for k in ("aliases", "doc", "canon.writers") if k in f})
        values.append(v)
    return _named("record", name + "Update", ns, fields=[
        kout,
        {"name": "source", "type": "string"},
        {"name": "event_time", "type": TS},
        {"name": "seq", "type": "long", "default": 0},
        {"name": "op", "type": _named("enum", "UpdateOp", "canongate",
                                      symbols=["UPSERT", "DELETE"]), "default": "UPSERT"},
        {"name": "provided", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "values", "type": _named("record", name + "Values", ns, fields=values)},
    ])


def derive_envelope(canonical):
    ns, name = canonical.get("namespace"), canonical["name"]
    key = canonical["canon.key"]
    w = _Writer(canonical)
    kf = next(f for f in canonical["fields"] if f["name"] == key)
    fv = _named("record", "FieldVersion", "canongate", fields=[
        {"name": "source", "type": "string"}, {"name": "event_time", "type": TS},
        {"name": "seq", "type": "long"},
        {"name": "partition", "type": "int", "default": -1},
        {"name": "offset", "type": "long", "default": -1}])
    cause = _named("record", "Cause", "canongate", fields=[
        {"name": "topic", "type": "string"}, {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"}])
    return _named("record", name + "Envelope", ns, fields=[
        {"name": "key", "type": w.type(kf["type"], ns)},
        {"name": "version", "type": "long"},
        {"name": "op", "type": _named("enum", "ChangeOp", "canongate",
                                      symbols=["CREATE", "UPDATE", "DELETE"])},
        {"name": "before", "type": ["null", w.type(canonical, ns)], "default": None},
        {"name": "after", "type": ["null", _fullname(name, ns)], "default": None},
        {"name": "changed", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "provenance", "type": {"type": "map", "values": fv}, "default": {}},
        {"name": "deleted", "type": ["null", "canongate.FieldVersion"], "default": None},
        {"name": "cause", "type": cause},
    ])


# ---- helpers ------------------------------------------------------------------------------

def subjects_of(entity):
    return (f"canon.{entity}.entity", f"canon.{entity}.updates-value", f"canon.{entity}-value")


def versions(api, subject):
    r = api.versions(subject)
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return r.json()


def latest(api, subject):
    r = api.get(f"/subjects/{q(subject)}/versions/latest")
    assert r.status_code == 200, r.text
    return r.json()


def state(api, entity):
    """Everything a refused change must leave as it was."""
    out = {}
    for s in subjects_of(entity):
        vs = versions(api, s)
        out[s] = (vs, [api.get(f"/subjects/{q(s)}/versions/{v}").json() for v in vs])
    return out


def small(entity_record="Item", namespace="t.derived", extra=()):
    return record(entity_record, [
        field("id", "string"),
        field("name", ["null", "string"], default=None, **{"canon.writers": ["crm"]}),
        *extra,
    ], namespace=namespace, **{"canon.key": "id"})


# ---- tests --------------------------------------------------------------------------------

def test_registering_person_creates_three_subjects(api):
    text = read_schema("person.avsc")
    canonical = json.loads(text)
    entity, upd_s, env_s = subjects_of("dperson")
    sid = api.register_ok(entity, text)

    for s in (entity, upd_s, env_s):
        assert versions(api, s) == [1], s
    e = latest(api, entity)
    assert e["id"] == sid and json.loads(e["schema"]) == canonical

    u = latest(api, upd_s)
    assert json.loads(u["schema"]) == derive_update(canonical)
    v = latest(api, env_s)
    assert json.loads(v["schema"]) == derive_envelope(canonical)
    assert len({sid, u["id"], v["id"]}) == 3
    # the ids serve the same texts
    for x in (u, v):
        assert api.get(f"/schemas/ids/{x['id']}").json()["schema"] == x["schema"]

    # registering the same canonical schema again changes nothing
    assert api.register_ok(entity, text) == sid
    assert api.register_ok(entity, json.dumps(canonical, indent=1)) == sid
    for s in (entity, upd_s, env_s):
        assert versions(api, s) == [1], s

    # all three default to FULL_TRANSITIVE
    for s in (entity, upd_s, env_s):
        r = api.get(f"/config/{q(s)}", params={"defaultToGlobal": "true"})
        assert r.json()["compatibilityLevel"] == "FULL_TRANSITIVE", s


def test_account_and_evolution(api):
    text = read_schema("account.avsc")
    v1 = json.loads(text)
    entity, upd_s, env_s = subjects_of("daccount")
    api.register_ok(entity, text)
    v2 = copy.deepcopy(v1)
    v2["fields"].append(field("vat_id", ["null", "string"], default=None,
                              **{"canon.writers": ["billing"]}))
    api.register_ok(entity, v2)
    for s in (entity, upd_s, env_s):
        assert versions(api, s) == [1, 2], s
    assert json.loads(latest(api, upd_s)["schema"]) == derive_update(v2)
    assert json.loads(latest(api, env_s)["schema"]) == derive_envelope(v2)
    assert json.loads(api.get(f"/subjects/{q(upd_s)}/versions/1").json()["schema"]) == \
        derive_update(v1)

    # a change that leaves the update schema as it is (canonical field defaults are not
    # in it: every values field defaults to null) adds a version to the entity and
    # envelope subjects only
    v3 = copy.deepcopy(v2)
    status = next(f for f in v3["fields"] if f["name"] == "status")
    status["default"] = "OPEN"
    assert derive_update(v3) == derive_update(v2)
    api.register_ok(entity, v3)
    assert versions(api, entity) == [1, 2, 3]
    assert versions(api, env_s) == [1, 2, 3]
    assert versions(api, upd_s) == [1, 2]


def test_incompatible_canonical_change_leaves_all_three_unchanged(api):
    ent = "dincompat"
    entity, upd_s, env_s = subjects_of(ent)
    v1 = small()
    api.register_ok(entity, v1)
    before = state(api, ent)
    ids_before = api.get("/schemas", params={"deleted": "true"}).json()

    # incompatible for the canonical subject itself
    bad = copy.deepcopy(v1)
    bad["fields"][1]["type"] = ["null", "int"]
    body = assert_error(api.register(entity, bad), 409)
    assert entity in body["message"]
    assert state(api, ent) == before

    # accepted by the canonical subject (level NONE) but not by the envelope subject,
    # which carries the canonical record: refused, nothing written anywhere
    api.set_config(entity, "NONE")
    body = assert_error(api.register(entity, bad), 409)
    assert env_s in body["message"] or upd_s in body["message"], body["message"]
    assert "derived" in body["message"]
    assert state(api, ent) == before

    # the check endpoint gives the same verdict as registration
    r = api.post(f"/compatibility/subjects/{q(entity)}/versions", {"schema": json.dumps(bad)},
                 params={"verbose": "true"})
    assert r.status_code == 200 and r.json()["is_compatible"] is False, r.text

    # a new field without a default (nullable, as the contract wants): fine for the update
    # schema (every values field is optional), not for the envelope (a reader of the new
    # envelope needs the field)
    no_default = small(extra=[field("age", ["null", "int"])])
    body = assert_error(api.register(entity, no_default), 409)
    assert env_s in body["message"], body["message"]
    assert state(api, ent) == before
    assert api.get("/schemas", params={"deleted": "true"}).json() == ids_before

    # with the envelope's level relaxed too, it goes through, all three together
    api.set_config(env_s, "NONE")
    api.register_ok(entity, no_default)
    for s in subjects_of(ent):
        assert versions(api, s) == [1, 2], s


def test_derived_subjects_refuse_direct_writes(api):
    ent = "ddirect"
    entity, upd_s, env_s = subjects_of(ent)
    api.register_ok(entity, small())
    upd = latest(api, upd_s)
    env = latest(api, env_s)
    before = state(api, ent)

    other = record("Other", [field("x", "string")], namespace="t")
    assert_error(api.register(upd_s, other), 422, 42201, message_contains="derived subject")
    # a schema without canon.key at the envelope subject: what is missing is said
    body = assert_error(api.register(env_s, other), 422, 42201)
    assert "canon.key" in body["message"], body["message"]
    # a changed envelope or update schema is refused too
    env2 = json.loads(env["schema"])
    env2["fields"].append(field("extra", ["null", "string"], default=None))
    assert_error(api.register(env_s, env2), 422, 42201)
    upd2 = json.loads(upd["schema"])
    upd2["doc"] = "changed"
    upd2["fields"].append(field("extra", ["null", "string"], default=None))
    assert_error(api.register(upd_s, upd2), 422, 42201)
    assert state(api, ent) == before

    # posting what the subject already has (as a serializer that auto-registers does)
    # answers with its id, as on any subject, and writes nothing
    assert api.register_ok(upd_s, upd["schema"]) == upd["id"]
    assert api.register_ok(env_s, json.dumps(json.loads(env["schema"]), indent=2)) == env["id"]
    assert state(api, ent) == before


def test_import_mode_takes_each_subject_as_posted(fresh):
    api = fresh
    ent = "dimport"
    entity, upd_s, env_s = subjects_of(ent)
    canonical = small()
    upd = derive_update(canonical)
    env = derive_envelope(canonical)
    assert api.set_mode(None, "IMPORT").status_code == 200
    assert api.register_ok(entity, canonical, id=100, version=1) == 100
    assert api.register_ok(upd_s, upd, id=101, version=1) == 101
    assert api.register_ok(env_s, env, id=102, version=1) == 102
    # nothing is derived in IMPORT mode
    assert versions(api, upd_s) == [1] and versions(api, env_s) == [1]
    # the canonical subject still checks the contract
    no_key = {k: v for k, v in canonical.items() if k != "canon.key"}
    assert_error(api.register(entity, no_key, id=103), 422, 42201)
    assert api.set_mode(None, "READWRITE").status_code == 200
    # back in READWRITE, a canonical change derives as usual, next to the imported ones
    v2 = small(extra=[field("tier", ["null", "string"], default=None)])
    sid = api.register_ok(entity, v2)
    assert sid > 102
    for s in (entity, upd_s, env_s):
        assert versions(api, s) == [1, 2], s
    # a derived subject in IMPORT mode blocks a canonical change (no ids to import)
    assert api.set_mode(upd_s, "IMPORT", params={"force": "true"}).status_code == 200
    v3 = small(extra=[field("tier", ["null", "string"], default=None),
                      field("note", ["null", "string"], default=None)])
    assert_error(api.register(entity, v3), 422, 42205)
    assert versions(api, entity) == [1, 2]


def test_registering_the_latest_canonical_again_brings_its_derived_schemas_up_to_date(fresh):
    """An entity whose envelope was derived before FieldVersion had partition and offset
    (imported here as an older registry wrote it) takes up the current derivation when
    its latest canonical schema is registered again, without a new canonical version."""
    api = fresh
    entity, upd_s, env_s = subjects_of("dupgrade")
    canonical = small()
    env = derive_envelope(canonical)
    old_env = copy.deepcopy(env)
    fv = old_env["fields"][6]["type"]["values"]
    fv["fields"] = [f for f in fv["fields"] if f["name"] not in ("partition", "offset")]
    assert len(fv["fields"]) == 3
    assert api.set_mode(None, "IMPORT").status_code == 200
    assert api.register_ok(entity, canonical, id=200, version=1) == 200
    assert api.register_ok(upd_s, derive_update(canonical), id=201, version=1) == 201
    assert api.register_ok(env_s, old_env, id=202, version=1) == 202
    assert api.set_mode(None, "READWRITE").status_code == 200
    assert api.get("/canon/entities/dupgrade").json()["envelope"]["id"] == 202

    assert api.register_ok(entity, canonical) == 200
    assert versions(api, entity) == [1] and versions(api, upd_s) == [1]
    assert versions(api, env_s) == [1, 2]
    new = latest(api, env_s)
    assert json.loads(new["schema"]) == env
    assert api.get("/canon/entities/dupgrade").json()["envelope"]["id"] == new["id"]
    # once current, registering again changes nothing
    assert api.register_ok(entity, canonical) == 200
    assert versions(api, env_s) == [1, 2]


def test_readonly_derived_subject_blocks_the_change(api):
    ent = "dreadonly"
    entity, upd_s, env_s = subjects_of(ent)
    api.register_ok(entity, small())
    before = state(api, ent)
    assert api.set_mode(env_s, "READONLY").status_code == 200
    v2 = small(extra=[field("tier", ["null", "string"], default=None)])
    assert_error(api.register(entity, v2), 422, 42205)
    assert state(api, ent) == before
    assert api.set_mode(env_s, "READWRITE").status_code == 200
    api.register_ok(entity, v2)
    assert versions(api, upd_s) == [1, 2]


def test_convenience_path_through_the_envelope_subject(api):
    ent = "dconv"
    entity, upd_s, env_s = subjects_of(ent)
    text = read_schema("person.avsc")
    canonical = json.loads(text)
    sid = api.register_ok(env_s, text)
    # the answer is the canonical schema's id; the envelope subject holds the envelope
    assert latest(api, entity)["id"] == sid
    assert json.loads(latest(api, entity)["schema"]) == canonical
    assert json.loads(latest(api, env_s)["schema"]) == derive_envelope(canonical)
    assert json.loads(latest(api, upd_s)["schema"]) == derive_update(canonical)
    assert latest(api, env_s)["id"] != sid
    # again through either subject: the same id, nothing new
    assert api.register_ok(env_s, text) == sid
    assert api.register_ok(entity, text) == sid
    for s in subjects_of(ent):
        assert versions(api, s) == [1], s
    # the contract applies there too
    bad = copy.deepcopy(canonical)
    bad["canon.key"] = "nope"
    assert_error(api.register(env_s, bad), 422, 42201, message_contains="canon.key 'nope'")


def test_name_clash_refused(api):
    ent = "dclash"
    clash = small(extra=[field("u", {"type": "record", "name": "ItemUpdate", "fields": []},
                               default={})])
    body = assert_error(api.register(f"canon.{ent}.entity", clash), 422, 42201)
    assert "t.derived.ItemUpdate" in body["message"], body["message"]
    fw = small(extra=[field("c", {"type": "enum", "name": "ChangeOp", "namespace": "canongate",
                                  "symbols": ["X"]}, default="X")])
    body = assert_error(api.register(f"canon.{ent}.entity", fw), 422, 42201)
    assert "canongate" in body["message"], body["message"]
    for s in subjects_of(ent):
        assert versions(api, s) == [], s


def test_entities_list_the_derived_subjects(api):
    ent = "dlisted"
    entity, upd_s, env_s = subjects_of(ent)
    api.register_ok(entity, small())
    e = api.get(f"/canon/entities/{ent}").json()
    assert e["subject"] == entity
    assert e["updates"] == {"subject": upd_s, "id": latest(api, upd_s)["id"], "version": 1}
    assert e["envelope"] == {"subject": env_s, "id": latest(api, env_s)["id"], "version": 1}
    listed = [x["entity"] for x in api.get("/canon/entities").json()]
    assert listed.count(ent) == 1


def test_referenced_types_are_inlined_in_derived_schemas(api):
    ent = "dref"
    entity, upd_s, env_s = subjects_of(ent)
    addr = record("Address", [field("city", ["null", "string"], default=None)],
                  namespace="t.common")
    api.register_ok("t-common-address", addr)
    canonical = record("Shop", [
        field("id", "string"),
        field("address", ["null", "t.common.Address"], default=None),
    ], namespace="t.shop", **{"canon.key": "id"})
    refs = [{"name": "t.common.Address", "subject": "t-common-address", "version": 1}]
    sid = api.register_ok(entity, canonical, references=refs)
    assert latest(api, entity)["references"] == refs
    # the derived schemas stand alone: the referenced record is defined where first used
    inlined = copy.deepcopy(canonical)
    inlined["fields"][1]["type"] = ["null", addr]
    upd = latest(api, upd_s)
    env = latest(api, env_s)
    assert json.loads(upd["schema"]) == derive_update(inlined)
    assert json.loads(env["schema"]) == derive_envelope(inlined)
    assert "references" not in upd and "references" not in env
    # again with the same references: same id, nothing new
    assert api.register_ok(entity, canonical, references=refs) == sid
    for s in subjects_of(ent):
        assert versions(api, s) == [1], s


# ---- the derived subjects follow the canonical latest (docs/api.md) -----------------------

def _p_versions():
    """V1 {id, a: int default 1}; V2 = V1 + b; V3 = V1 with a's default 2 (whose update
    schema is V1's: field defaults are not in it)."""
    def make(a_default, extra=()):
        return record("P", [field("id", "string"), field("a", "int", default=a_default), *extra],
                      namespace="t.follow", **{"canon.key": "id"})
    return (make(1), make(1, [field("b", ["null", "string"], default=None)]), make(2))


def assert_entity_follows(api, ent, canonical):
    """GET /canon/entities/{ent} describes `canonical` and names versions of the derived
    subjects that hold its derivation, which are also those subjects' latest versions."""
    entity, upd_s, env_s = subjects_of(ent)
    e = api.get(f"/canon/entities/{ent}").json()
    assert [f["name"] for f in e["fields"]] == [f["name"] for f in canonical["fields"]]
    for key, s, derive in (("updates", upd_s, derive_update),
                           ("envelope", env_s, derive_envelope)):
        lv = latest(api, s)
        assert e[key] == {"subject": s, "id": lv["id"], "version": lv["version"]}, key
        assert json.loads(lv["schema"]) == derive(canonical), key
        by_id = api.get(f"/schemas/ids/{e[key]['id']}").json()
        assert json.loads(by_id["schema"]) == derive(canonical), key


def test_derived_subjects_follow_a_change_back_to_an_earlier_shape(api):
    """Repro A: V3's derivation is V1's, already version 1 of the derived subjects; it
    must become their latest again, not stay behind V2's (which has b)."""
    ent = "dfollowa"
    entity, upd_s, env_s = subjects_of(ent)
    v1, v2, v3 = _p_versions()
    api.register_ok(entity, v1)
    api.register_ok(entity, v2)
    api.register_ok(entity, v3)
    assert versions(api, entity) == [1, 2, 3]
    assert versions(api, upd_s) == [1, 2, 3]
    assert latest(api, upd_s)["id"] == api.get(f"/subjects/{q(upd_s)}/versions/1").json()["id"]
    assert_entity_follows(api, ent, v3)


def test_derived_subjects_follow_a_canonical_version_that_differs_in_metadata_only(api):
    """Repro B: V1 again with metadata is canonical version 3, derived like V1."""
    ent = "dfollowb"
    entity, upd_s, env_s = subjects_of(ent)
    v1, v2, _ = _p_versions()
    api.register_ok(entity, v1)
    api.register_ok(entity, v2)
    api.register_ok(entity, v1, metadata={"properties": {"owner": "x"}})
    assert versions(api, entity) == [1, 2, 3]
    assert versions(api, env_s) == [1, 2, 3]
    assert_entity_follows(api, ent, v1)


def test_soft_deleting_the_canonical_latest(api):
    """Repro C: after a soft delete of canonical version 2, /canon/entities names the
    derivation of version 1 (the latest now); posting V1 again makes it the derived
    subjects' latest too. An older canonical version posted again changes nothing."""
    ent = "dfollowc"
    entity, upd_s, env_s = subjects_of(ent)
    v1, v2, _ = _p_versions()
    sid1 = api.register_ok(entity, v1)
    api.register_ok(entity, v2)
    before = state(api, ent)
    assert api.register_ok(entity, v1) == sid1  # not the latest: nothing is written
    assert state(api, ent) == before

    assert api.delete(f"/subjects/{q(entity)}/versions/2").status_code == 200
    e = api.get(f"/canon/entities/{ent}").json()
    assert e["version"] == 1
    for key, s in (("updates", upd_s), ("envelope", env_s)):
        v1_of = api.get(f"/subjects/{q(s)}/versions/1").json()
        assert e[key] == {"subject": s, "id": v1_of["id"], "version": 1}, key

    assert api.register_ok(entity, v1) == sid1
    assert versions(api, entity) == [1]
    assert versions(api, upd_s) == [1, 2, 3] and versions(api, env_s) == [1, 2, 3]
    assert_entity_follows(api, ent, v1)
    # once current, posting again changes nothing
    assert api.register_ok(entity, json.dumps(v1, indent=1)) == sid1
    assert versions(api, env_s) == [1, 2, 3]


def test_check_through_the_envelope_subject_routes_as_registration(api):
    """A canonical schema posted to canon.<entity>-value is registered at
    canon.<entity>.entity; the check endpoint takes it there too (it used to compare
    the canonical schema with the envelope: always incompatible)."""
    ent = "dconvcheck"
    entity, upd_s, env_s = subjects_of(ent)
    api.register_ok(entity, small())
    v2 = small(extra=[field("tier", ["null", "string"], default=None)])
    for path in (f"/compatibility/subjects/{q(env_s)}/versions/latest",
                 f"/compatibility/subjects/{q(env_s)}/versions"):
        r = api.post(path, {"schema": json.dumps(v2)}, params={"verbose": "true"})
        assert r.status_code == 200 and r.json()["is_compatible"] is True, (path, r.text)
    # an incompatible change is refused through either subject, as registration refuses
    # it, with the same messages
    no_default = small(extra=[field("age", ["null", "int"])])
    verdicts = []
    for s in (entity, env_s):
        r = api.post(f"/compatibility/subjects/{q(s)}/versions/latest",
                     {"schema": json.dumps(no_default)}, params={"verbose": "true"})
        assert r.status_code == 200 and r.json()["is_compatible"] is False, (s, r.text)
        verdicts.append(r.json())
    assert verdicts[0] == verdicts[1]
    assert_error(api.register(env_s, no_default), 409)
    # and the verdict for v2 is registration's
    api.register_ok(env_s, v2)
    assert versions(api, entity) == [1, 2] and versions(api, env_s) == [1, 2]


# ---- canonical schemas the derived schemas cannot carry: refused up front ------------------

def _nested(levels):
    """A canonical record whose field f holds records nested `levels` deep: the root is
    level 1, the union of f level 2, R1 level 3, ..., the innermost int level levels + 3
    (levels as the parser counts them, docs/wire.md)."""
    inner = "int"
    for i in range(levels, 0, -1):
        inner = {"type": "record", "name": "R%d" % i, "fields": [{"name": "g", "type": inner}]}
    return record("Deep", [field("id", "string"), field("f", ["null", inner], default=None)],
                  namespace="t.deep", **{"canon.key": "id"})


def test_nesting_too_deep_for_the_derived_schemas_is_refused_clearly(api):
    """The derived schemas nest the canonical types 2 levels deeper; the parser allows 128
    levels. A canonical schema 127 levels deep is a valid plain schema, but is refused at
    the canonical subject with a message naming the budget (it used to fail with
    "(please report)"); 126 levels go through."""
    deep = _nested(124)
    api.register_ok("deep-plain-value", deep)
    body = assert_error(api.register("canon.ddeep.entity", deep), 422, 42201,
                        message_contains="nests types 127 levels deep")
    assert "at most 126" in body["message"] and "please report" not in body["message"], body
    for s in subjects_of("ddeep"):
        assert versions(api, s) == [], s
    ok = _nested(123)
    api.register_ok("canon.ddeepok.entity", ok)
    for s in subjects_of("ddeepok"):
        assert versions(api, s) == [1], s


def test_null_namespace_type_inside_a_namespaced_nested_type_is_refused_clearly(api):
    """Root without a namespace, x.Y inside it, and inside x.Y a type in the null
    namespace: the derived schemas would name it Z inside x.Y, which reads as x.Z. Refused
    with a message that says so (it used to fail with "changed its full name (please
    report)")."""
    z = {"type": "record", "name": "Z", "namespace": "", "fields": []}
    y = {"type": "record", "name": "Y", "namespace": "x", "fields": [field("z", z)]}
    canonical = {"type": "record", "name": "N", "canon.key": "id",
                 "fields": [field("id", "string"), field("y", ["null", y], default=None)]}
    api.register_ok("nullns-plain-value", canonical)
    body = assert_error(api.register("canon.dnullns.entity", canonical), 422, 42201,
                        message_contains="type 'Z' is in the null namespace inside record "
                                         "'x.Y' (namespace 'x')")
    assert "please report" not in body["message"], body["message"]
    for s in subjects_of("dnullns"):
        assert versions(api, s) == [], s
    # with Z in a namespace, or with no namespaced type around it, it goes through
    z_ns = dict(z, namespace="x")
    api.register_ok("canon.dnullnsok.entity", {
        **canonical, "fields": [field("id", "string"),
                                field("y", ["null", dict(y, fields=[field("z", z_ns)])],
                                      default=None)]})
    api.register_ok("canon.dnullnsok2.entity", {
        **canonical, "fields": [field("id", "string"), field("z", ["null", z], default=None)]})


def test_entity_answers_after_each_change_equal_a_restarted_registrys(fresh_registry):
    """/canon/entities and /canon/entities/{e} are remembered between changes (the
    aggregator asks every few seconds, and each answer derives two schemas): after every
    kind of change that can move them, the running registry, asked before the change,
    must answer what a registry started afresh on the same database answers."""
    from helpers import Api
    reg = fresh_registry("cache")
    reg.start()
    api = Api(reg.url)
    ent = "dcache"
    entity, upd_s, env_s = subjects_of(ent)
    v1, v2, v3 = _p_versions()
    other = small(entity_record="Other", namespace="t.cache")

    def answers(a):
        return a.get("/canon/entities").json(), a.get(f"/canon/entities/{ent}").json()

    steps = [
        ("canonical v1", lambda: api.register_ok(entity, v1)),
        ("canonical v2", lambda: api.register_ok(entity, v2)),
        ("another entity", lambda: api.register_ok("canon.dcache2.entity", other)),
        ("soft delete of v2", lambda: api.delete(f"/subjects/{q(entity)}/versions/2")),
        ("v1 posted again as the latest", lambda: api.register_ok(entity, v1)),
        ("v3", lambda: api.register_ok(entity, v3)),
        ("v3 with new metadata: a canonical version whose derivations are already latest",
         lambda: api.register_ok(entity, v3, metadata={"properties": {"owner": "x"}})),
        ("soft delete of the derived latest",
         lambda: api.delete(f"/subjects/{q(upd_s)}/versions/latest")),
        ("hard delete of the derived latest",
         lambda: api.delete(f"/subjects/{q(upd_s)}/versions/3", params={"permanent": "true"})),
        ("import mode write to the envelope subject", lambda: (
            api.set_mode(env_s, "IMPORT", params={"force": "true"}),
            api.register_ok(env_s, derive_envelope(v2), version=10,
                            id=api.get(f"/subjects/{q(env_s)}/versions/2").json()["id"]),
            api.set_mode(env_s, "READWRITE"))),
        ("soft delete of the whole canonical subject", lambda: api.delete(f"/subjects/{q(entity)}")),
    ]
    answers(api)  # remembered before the first change
    for what, change in steps:
        answers(api)
        change()
        live = answers(api)
        reg.stop()
        reg.start()
        api = Api(reg.url)
        assert live == answers(api), what
