"""/config and /mode, global and per subject, and IMPORT mode.

Reference: Confluent API reference, "Config" and "Mode" sections. GET /config answers
{"compatibilityLevel": ...}; PUT answers the request, {"compatibility": ...}; GET
/config/{s} answers 40408 when the subject has no level of its own unless
?defaultToGlobal=true; DELETE /config/{s} answers the level it removed, 40401 when there was
none; 42203 invalid compatibility level. Modes READWRITE, READONLY, READONLY_OVERRIDE, IMPORT:
GET /mode answers {"mode": ...}; 42204 invalid mode; 40409 no subject-level mode; 42205
operation not permitted (writes in READONLY, explicit ids outside IMPORT, switching to IMPORT
while schemas exist without ?force=true). In IMPORT mode a schema is registered with the id
and version given.
"""
import json

import pytest

from helpers import Api, assert_error, field, q, record

LEVELS = ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
          "FULL_TRANSITIVE"]
A = record("A", [field("x", "string")])
A2 = record("A", [field("x", "string"), field("y", "int", default=1)])


def test_global_config_default_and_update(fresh):
    r = fresh.get("/config")
    assert r.status_code == 200
    assert r.json()["compatibilityLevel"] == "BACKWARD"
    for level in LEVELS:
        r = fresh.put("/config", {"compatibility": level})
        assert r.status_code == 200, r.text
        assert r.json()["compatibility"] == level
        assert fresh.get("/config").json()["compatibilityLevel"] == level


@pytest.mark.parametrize("bad", ["SIDEWAYS", "", "FULLTRANSITIVE", 5, None])
def test_invalid_compatibility_42203(fresh, bad):
    assert_error(fresh.put("/config", {"compatibility": bad}), 422, 42203)
    assert_error(fresh.put("/config/some-subject", {"compatibility": bad}), 422, 42203)
    assert fresh.get("/config").json()["compatibilityLevel"] == "BACKWARD"


def test_invalid_compatibility_message(fresh):
    body = assert_error(fresh.put("/config", {"compatibility": "SIDEWAYS"}), 422, 42203)
    assert body["message"] == ("Invalid compatibility level. Valid values are none, backward, "
                               "forward, full, backward_transitive, forward_transitive, and "
                               "full_transitive")


def test_subject_config(api, subj):
    s = subj()
    body = assert_error(api.get(f"/config/{q(s)}"), 404, 40408)
    assert s in body["message"]
    r = api.get(f"/config/{q(s)}", params={"defaultToGlobal": "true"})
    assert r.status_code == 200
    assert r.json()["compatibilityLevel"] == api.get("/config").json()["compatibilityLevel"]
    # a subject level may be set before the subject has any schema
    r = api.put(f"/config/{q(s)}", {"compatibility": "FORWARD_TRANSITIVE"})
    assert r.status_code == 200 and r.json() == {"compatibility": "FORWARD_TRANSITIVE"}
    assert api.get(f"/config/{q(s)}").json()["compatibilityLevel"] == "FORWARD_TRANSITIVE"
    assert api.get(f"/config/{q(s)}", params={"defaultToGlobal": "true"}).json()[
        "compatibilityLevel"] == "FORWARD_TRANSITIVE"
    # delete answers the level it removed
    r = api.delete(f"/config/{q(s)}")
    assert r.status_code == 200, r.text
    assert r.json()["compatibilityLevel"] == "FORWARD_TRANSITIVE"
    assert_error(api.get(f"/config/{q(s)}"), 404, 40408)
    assert_error(api.delete(f"/config/{q(s)}"), 404, 40401)


def test_subject_config_overrides_global(fresh):
    fresh.set_config(None, "NONE")
    fresh.register_ok("strict", A)
    fresh.register_ok("loose", A)
    fresh.set_config("strict", "FULL")
    incompatible = record("A", [field("x", "int")])
    assert_error(fresh.register("strict", incompatible), 409, (409, 40901))
    assert fresh.register("loose", incompatible).status_code == 200
    # removing the subject level falls back to the global level
    fresh.delete("/config/strict")
    assert fresh.register("strict", incompatible).status_code == 200


def test_global_mode_default_and_update(fresh):
    r = fresh.get("/mode")
    assert r.status_code == 200 and r.json() == {"mode": "READWRITE"}
    r = fresh.set_mode(None, "READONLY")
    assert r.status_code == 200 and r.json() == {"mode": "READONLY"}
    assert fresh.get("/mode").json() == {"mode": "READONLY"}
    r = fresh.set_mode(None, "READWRITE")
    assert r.status_code == 200 and fresh.get("/mode").json() == {"mode": "READWRITE"}


@pytest.mark.parametrize("bad", ["WRITEONLY", "", "READ_WRITE"])
def test_invalid_mode_42204(fresh, bad):
    body = assert_error(fresh.set_mode(None, bad), 422, 42204)
    # Confluent's newer releases list READONLY_OVERRIDE too; the message names every mode
    # PUT /mode accepts, so a reader is never told a mode that works is invalid.
    assert body["message"] == ("Invalid mode. Valid values are READWRITE, READONLY, "
                               "READONLY_OVERRIDE, and IMPORT."), body
    body = assert_error(fresh.set_mode("s", bad), 422, 42204)
    assert "READONLY_OVERRIDE" in body["message"], body
    assert fresh.get("/mode").json() == {"mode": "READWRITE"}


def test_every_mode_the_42204_message_lists_is_accepted(fresh):
    body = assert_error(fresh.set_mode(None, "SIDEWAYS"), 422, 42204)
    listed = body["message"].split("Valid values are ", 1)[1].rstrip(".")
    modes = [m.strip() for m in listed.replace(", and ", ", ").split(",")]
    assert modes == ["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"], body
    for mode in modes:
        r = fresh.set_mode(None, mode)
        assert r.status_code == 200 and r.json() == {"mode": mode}, r.text
    assert fresh.set_mode(None, "READWRITE").status_code == 200


def test_global_readonly_blocks_writes_42205(fresh):
    sid = fresh.register_ok("s", A)
    fresh.set_mode(None, "READONLY")
    body = assert_error(fresh.register("s", A2), 422, 42205)
    assert "read-only" in body["message"]
    assert_error(fresh.register("other", A2), 422, 42205)
    assert_error(fresh.delete("/subjects/s/versions/1"), 422, 42205)
    assert_error(fresh.delete("/subjects/s"), 422, 42205)
    # reads still work
    assert fresh.get(f"/schemas/ids/{sid}").status_code == 200
    assert fresh.lookup("s", A).status_code == 200
    assert fresh.versions("s").json() == [1]
    fresh.set_mode(None, "READWRITE")
    assert fresh.register("s", A2).status_code == 200


def test_subject_mode(api, subj):
    s, other = subj("ro"), subj("rw")
    api.register_ok(s, A)
    body = assert_error(api.get(f"/mode/{q(s)}"), 404, 40409)
    assert s in body["message"]
    assert api.get(f"/mode/{q(s)}", params={"defaultToGlobal": "true"}).json() == {
        "mode": "READWRITE"}
    r = api.set_mode(s, "READONLY")
    assert r.status_code == 200 and r.json() == {"mode": "READONLY"}
    assert api.get(f"/mode/{q(s)}").json() == {"mode": "READONLY"}
    body = assert_error(api.register(s, A2), 422, 42205)
    assert s in body["message"]
    assert api.register(other, A2).status_code == 200  # only that subject is read-only
    r = api.delete(f"/mode/{q(s)}")
    assert r.status_code == 200 and r.json() == {"mode": "READONLY"}
    assert_error(api.get(f"/mode/{q(s)}"), 404, 40409)
    assert_error(api.delete(f"/mode/{q(s)}"), 404, 40401)
    assert api.register(s, A2).status_code == 200


def test_mode_accepts_lower_case(api, subj):
    s = subj()
    r = api.set_mode(s, "readonly")
    assert r.status_code == 200, r.text
    assert api.get(f"/mode/{q(s)}").json() == {"mode": "READONLY"}


def test_import_mode_with_explicit_ids_and_versions(fresh):
    r = fresh.set_mode(None, "IMPORT")
    assert r.status_code == 200 and r.json() == {"mode": "IMPORT"}
    a_text, b_text = json.dumps(A), json.dumps(record("B", [field("z", "long")]))
    r = fresh.register("imported", a_text, id=100, version=3)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == 100
    r = fresh.register("imported", b_text, id=57, version=7)
    assert r.status_code == 200 and r.json()["id"] == 57
    assert fresh.versions("imported").json() == [3, 7]
    body = fresh.get("/subjects/imported/versions/3").json()
    assert (body["id"], body["version"], body["schema"]) == (100, 3, a_text)
    assert fresh.get("/schemas/ids/57").json()["schema"] == b_text
    # re-posting the same import is tolerated (Karapace#876)
    r = fresh.register("imported", a_text, id=100, version=3)
    assert r.status_code == 200 and r.json()["id"] == 100
    # the same id for another schema is refused
    other = json.dumps(record("C", [field("q", "int")]))
    body = assert_error(fresh.register("elsewhere", other, id=100, version=1), 422, 42205)
    assert "100" in body["message"]
    # back to READWRITE: explicit ids are refused, new ids never collide with imported ones
    fresh.set_mode(None, "READWRITE")
    body = assert_error(fresh.register("x", other, id=500), 422, 42205)
    assert "import mode" in body["message"]
    new_id = fresh.register_ok("fresh-subject", other)
    assert new_id not in (57, 100)
    assert new_id > 100, "Confluent assigns max(id)+1 after an import"
    assert fresh.register_ok("imported", a_text) == 100


def test_import_mode_requires_explicit_id(fresh):
    """Confluent (KafkaSchemaRegistry.checkRegisterMode): a registration without an id is
    only allowed in READWRITE; in IMPORT it answers 42205 "Subject ... is not in read-write
    mode"."""
    assert fresh.set_mode(None, "IMPORT").status_code == 200
    body = assert_error(fresh.register("no-id", json.dumps(record("D", [field("d", "int")]))),
                        422, 42205)
    assert "no-id" in body["message"], body
    assert_error(fresh.versions("no-id"), 404, 40401)


def test_import_mode_refused_while_schemas_exist_without_force(fresh):
    fresh.register_ok("existing", A)
    body = assert_error(fresh.set_mode(None, "IMPORT"), 422, 42205)
    assert body["message"]
    assert fresh.get("/mode").json() == {"mode": "READWRITE"}
    r = fresh.set_mode(None, "IMPORT", params={"force": "true"})
    assert r.status_code == 200 and r.json() == {"mode": "IMPORT"}


def test_subject_import_mode(api, subj):
    s = subj()
    r = api.set_mode(s, "IMPORT")
    assert r.status_code == 200, r.text
    text = json.dumps(record("Imp", [field("k", "string")], namespace=s.replace("-", "_")))
    r = api.register(s, text, id=987001, version=5)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == 987001
    assert api.versions(s).json() == [5]
    assert api.get("/schemas/ids/987001").json()["schema"] == text


def test_the_last_id_and_version_are_not_wrapped(fresh_registry):
    """Ids and versions are Java ints in Confluent's clients. An IMPORT may take the last of
    each (2**31 - 1); nothing may follow it, before or after a restart: a wrapped id went
    negative in memory and, after a restart, repeated one already given, overwriting its
    schema; a wrapped version sorted first, so 'latest' stayed on the old one."""
    last = 2**31 - 1
    reg = fresh_registry("last").start()
    api = Api(reg.url)
    a, b = json.dumps(A), json.dumps(record("B", [field("z", "long")]))
    assert api.set_mode(None, "IMPORT").status_code == 200
    assert api.register("top", a, id=last, version=1).json() == {"id": last}
    assert api.register("vers", b, id=5, version=last).json() == {"id": 5}
    assert api.set_mode(None, "READWRITE").status_code == 200
    for round_ in ("before a restart", "after a restart"):
        body = assert_error(api.register("more", json.dumps(record("M", [field("m", "int")]))),
                            422, 42205)
        assert "No schema id is left" in body["message"] and str(last) in body["message"], (
            round_, body)
        assert api.register("again", a).json() == {"id": last}, round_  # a known schema: fine
        b2 = record("B", [field("z", "long"), field("y", "int", default=1)])
        body = assert_error(api.register("vers", json.dumps(b2)), 422, 42205)
        assert f"version {last}" in body["message"], (round_, body)
        assert api.versions("vers").json() == [last], round_
        assert api.get("/subjects/vers/versions/latest").json()["id"] == 5, round_
        assert {s["id"] for s in api.get("/schemas").json()} == {5, last}, round_
        reg.stop()
        reg.start()
        api = Api(reg.url)
