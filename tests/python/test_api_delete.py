"""Soft and hard deletes, ?deleted listings, schema references and /referencedby.

Reference: Confluent API reference, DELETE /subjects/{s} and DELETE
/subjects/{s}/versions/{v} (?permanent=true), GET /subjects?deleted=true,
GET /subjects/{s}/versions?deleted=true, GET .../referencedby, and Confluent's error codes:
40404 subject was soft deleted, 40405 subject not soft deleted before permanent delete,
40406 version was soft deleted, 40407 version not soft deleted before permanent delete,
42206 one or more references exist to the schema. "This only deletes the version and the
schema ID remains intact making it still possible to decode data using the schema ID."
"""
import json

from helpers import assert_error, field, q, record

V1 = record("Item", [field("sku", "string")])
V2 = record("Item", [field("sku", "string"), field("price", "double", default=0.0)])
V3 = record("Item", [field("sku", "string"), field("price", "double", default=0.0),
                     field("tags", {"type": "array", "items": "string"}, default=[])])


def test_soft_delete_version(api, subj):
    s = subj()
    id1 = api.register_ok(s, V1)
    id2 = api.register_ok(s, V2)
    r = api.delete(f"/subjects/{q(s)}/versions/1")
    assert r.status_code == 200, r.text
    assert r.json() == 1
    assert api.versions(s).json() == [2]
    assert api.versions(s, params={"deleted": "true"}).json() == [1, 2]
    assert api.versions(s, params={"deletedOnly": "true"}).json() == [1]
    assert_error(api.get(f"/subjects/{q(s)}/versions/1"), 404, 40402)
    r = api.get(f"/subjects/{q(s)}/versions/1", params={"deleted": "true"})
    assert r.status_code == 200 and r.json()["id"] == id1
    # the id stays readable: old data must still decode
    assert json.loads(api.get(f"/schemas/ids/{id1}").json()["schema"]) == V1
    # lookup ignores the deleted version unless asked
    assert_error(api.lookup(s, V1), 404, 40403)
    r = api.lookup(s, V1, params={"deleted": "true"})
    assert r.status_code == 200 and r.json()["version"] == 1
    assert api.get(f"/subjects/{q(s)}/versions/latest").json()["id"] == id2
    # soft-deleting again: 40406
    body = assert_error(api.delete(f"/subjects/{q(s)}/versions/1"), 404, 40406)
    assert s in body["message"]


def test_hard_delete_version(api, subj):
    s = subj()
    api.register_ok(s, V1)
    api.register_ok(s, V2)
    # permanent without a soft delete first: 40407
    assert_error(api.delete(f"/subjects/{q(s)}/versions/2", params={"permanent": "true"}),
                 404, 40407)
    assert api.versions(s).json() == [1, 2]
    assert api.delete(f"/subjects/{q(s)}/versions/1").json() == 1
    r = api.delete(f"/subjects/{q(s)}/versions/1", params={"permanent": "true"})
    assert r.status_code == 200, r.text
    assert r.json() == 1
    assert api.versions(s, params={"deleted": "true"}).json() == [2]
    assert_error(api.get(f"/subjects/{q(s)}/versions/1", params={"deleted": "true"}), 404, 40402)
    assert_error(api.delete(f"/subjects/{q(s)}/versions/1", params={"permanent": "true"}),
                 404, 40402)


def test_deleting_every_version_deletes_the_subject(api, subj):
    """Confluent: when the last live version is deleted the subject is gone (40401), and its
    subject-level config and mode go with it."""
    s = subj()
    api.register_ok(s, V1)
    api.register_ok(s, V2)
    api.set_config(s, "FULL")
    api.delete(f"/subjects/{q(s)}/versions/1")
    assert api.get(f"/config/{q(s)}").json()["compatibilityLevel"] == "FULL"
    api.delete(f"/subjects/{q(s)}/versions/2")
    assert_error(api.versions(s), 404, 40401)
    assert_error(api.get(f"/subjects/{q(s)}/versions/latest"), 404, 40401)
    assert s not in api.get("/subjects").json()
    assert s in api.get("/subjects", params={"deleted": "true"}).json()
    assert_error(api.get(f"/config/{q(s)}"), 404, 40408)


def test_delete_version_errors(api, subj):
    s = subj()
    assert_error(api.delete(f"/subjects/{q(s)}/versions/1"), 404, 40401)
    api.register_ok(s, V1)
    assert_error(api.delete(f"/subjects/{q(s)}/versions/5"), 404, 40402)
    assert_error(api.delete(f"/subjects/{q(s)}/versions/0"), 422, 42202)


def test_delete_latest_version(api, subj):
    s = subj()
    api.register_ok(s, V1)
    api.register_ok(s, V2)
    r = api.delete(f"/subjects/{q(s)}/versions/latest")
    assert r.status_code == 200 and r.json() == 2
    assert api.versions(s).json() == [1]


def test_new_version_after_deleted_latest_does_not_reuse_version_number(api, subj):
    s = subj()
    api.register_ok(s, V1)
    api.register_ok(s, V2)
    api.delete(f"/subjects/{q(s)}/versions/2")
    api.register_ok(s, V3)
    assert api.versions(s).json() == [1, 3]
    assert api.versions(s, params={"deleted": "true"}).json() == [1, 2, 3]


def test_soft_delete_subject(api, subj):
    s = subj()
    id1 = api.register_ok(s, V1)
    api.register_ok(s, V2)
    api.set_config(s, "FULL")
    r = api.delete(f"/subjects/{q(s)}")
    assert r.status_code == 200, r.text
    assert r.json() == [1, 2]
    assert s not in api.get("/subjects").json()
    assert s in api.get("/subjects", params={"deleted": "true"}).json()
    assert_error(api.versions(s), 404, 40401)
    assert api.versions(s, params={"deleted": "true"}).json() == [1, 2]
    assert_error(api.get(f"/subjects/{q(s)}/versions/latest"), 404, 40401)
    assert_error(api.lookup(s, V1), 404, 40401)
    # the schema id remains readable
    assert api.get(f"/schemas/ids/{id1}").status_code == 200
    # Confluent drops the subject-level config with the subject
    assert_error(api.get(f"/config/{q(s)}"), 404, 40408)
    # deleting again without permanent: 40404
    body = assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40404)
    assert s in body["message"]


def test_register_after_soft_deleted_subject(api, subj):
    s = subj()
    id1 = api.register_ok(s, V1)
    api.register_ok(s, V2)
    api.delete(f"/subjects/{q(s)}")
    assert api.register_ok(s, V1) == id1  # same schema, same id
    assert api.versions(s).json() == [3]  # version numbers are not reused
    assert s in api.get("/subjects").json()


def test_hard_delete_subject(api, subj):
    s = subj()
    api.set_config(s, "NONE")
    api.register_ok(s, '"string"')
    only_here = api.register_ok(s, record("OnlyHere", [field("k", "string")]))
    assert_error(api.delete(f"/subjects/{q(s)}", params={"permanent": "true"}), 404, 40405)
    assert s in api.get("/subjects").json()
    api.delete(f"/subjects/{q(s)}")
    r = api.delete(f"/subjects/{q(s)}", params={"permanent": "true"})
    assert r.status_code == 200, r.text
    assert r.json() == [1, 2]
    assert s not in api.get("/subjects", params={"deleted": "true"}).json()
    assert_error(api.versions(s, params={"deleted": "true"}), 404, 40401)
    assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40401)
    assert_error(api.get(f"/schemas/ids/{only_here}"), 404, 40403)
    # ids are never reused: a new schema never gets the hard-deleted id
    new_id = api.register_ok(subj("after"), record("Fresh", [field("z", "long")]))
    assert new_id != only_here


def test_hard_delete_keeps_ids_shared_with_other_subjects(api, subj):
    a, b = subj("a"), subj("b")
    shared = record("SharedOnlyHere", [field("k", "string")])
    sid = api.register_ok(a, shared)
    assert api.register_ok(b, shared) == sid
    api.delete(f"/subjects/{q(a)}")
    api.delete(f"/subjects/{q(a)}", params={"permanent": "true"})
    assert api.get(f"/schemas/ids/{sid}").status_code == 200
    assert api.get(f"/schemas/ids/{sid}/subjects").json() == [b]


def test_delete_unknown_subject_40401(api, subj):
    s = subj()
    assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40401)
    assert_error(api.delete(f"/subjects/{q(s)}", params={"permanent": "true"}), 404, 40401)


def test_subjects_deleted_listing(api, subj):
    keep, gone = subj("keep"), subj("gone")
    api.register_ok(keep, V1)
    api.register_ok(gone, V1)
    api.delete(f"/subjects/{q(gone)}")
    listed = api.get("/subjects").json()
    assert keep in listed and gone not in listed
    listed = api.get("/subjects", params={"deleted": "true"}).json()
    assert keep in listed and gone in listed


def test_references_and_referencedby(api, subj):
    addr_s, person_s = subj("address"), subj("person")
    address = record("Address", [field("city", "string")], namespace="com.ex")
    person = record("Person", [field("name", "string"), field("home", "com.ex.Address")],
                    namespace="com.ex")
    addr_id = api.register_ok(addr_s, address)
    refs = [{"name": "com.ex.Address", "subject": addr_s, "version": 1}]
    r = api.register(person_s, person, references=refs)
    assert r.status_code == 200, r.text
    pid = r.json()["id"]
    assert pid != addr_id

    body = api.get(f"/subjects/{q(person_s)}/versions/1").json()
    assert body["references"] == refs
    assert json.loads(body["schema"]) == person
    assert api.get(f"/schemas/ids/{pid}").json()["references"] == refs
    r = api.lookup(person_s, person, references=refs)
    assert r.status_code == 200 and r.json()["id"] == pid

    r = api.get(f"/subjects/{q(addr_s)}/versions/1/referencedby")
    assert r.status_code == 200
    assert r.json() == [pid]
    assert api.get(f"/subjects/{q(addr_s)}/versions/latest/referencedby").json() == [pid]
    assert api.get(f"/subjects/{q(person_s)}/versions/1/referencedby").json() == []
    assert_error(api.get(f"/subjects/{q(addr_s)}/versions/9/referencedby"), 404, 40402)
    assert_error(api.get(f"/subjects/{q(subj('none'))}/versions/1/referencedby"), 404, 40401)

    # a referenced version cannot be deleted: 42206
    assert_error(api.delete(f"/subjects/{q(addr_s)}/versions/1"), 422, 42206)
    assert_error(api.delete(f"/subjects/{q(addr_s)}"), 422, 42206)
    assert api.versions(addr_s).json() == [1]

    # once the referrer is gone for good, the reference no longer holds
    api.delete(f"/subjects/{q(person_s)}")
    api.delete(f"/subjects/{q(person_s)}", params={"permanent": "true"})
    assert api.get(f"/subjects/{q(addr_s)}/versions/1/referencedby").json() == []
    r = api.delete(f"/subjects/{q(addr_s)}/versions/1")
    assert r.status_code == 200, r.text


def test_a_reference_to_the_latest_version_is_pinned(api, subj):
    """Version -1 is "latest" (Confluent's clients send it when no version is given;
    schema-registry#3382 resolves it to the latest when looking up). Stored as -1, the
    reference was not counted by /referencedby, so the version could be deleted under its
    user, and the user's meaning moved when the referenced subject got a new version."""
    addr_s, person_s = subj("address"), subj("person")
    a1 = record("Addr", [field("city", "string")], namespace="com.pin")
    a2 = record("Addr", [field("city", "string"), field("zip", "string", default="")],
                namespace="com.pin")
    person = record("Who", [field("home", "com.pin.Addr")], namespace="com.pin")
    api.register_ok(addr_s, a1)
    latest = [{"name": "com.pin.Addr", "subject": addr_s, "version": -1}]
    r = api.register(person_s, person, references=latest)
    assert r.status_code == 200, r.text
    pid = r.json()["id"]
    pinned = [{"name": "com.pin.Addr", "subject": addr_s, "version": 1}]
    assert api.get(f"/schemas/ids/{pid}").json()["references"] == pinned
    assert api.get(f"/subjects/{q(addr_s)}/versions/1/referencedby").json() == [pid]
    assert_error(api.delete(f"/subjects/{q(addr_s)}/versions/1"), 422, 42206)
    # the same schema with the pinned version, or -1 again, is the same id
    assert api.lookup(person_s, person, references=pinned).json()["id"] == pid
    assert api.lookup(person_s, person, references=latest).json()["id"] == pid
    assert api.register_ok(person_s, person, references=pinned) == pid
    # once the referenced subject moves on, -1 means its new version: another schema
    api.register_ok(addr_s, a2)
    assert_error(api.lookup(person_s, person, references=latest), 404, 40403)
    r = api.register(person_s, person, references=latest)
    assert r.status_code == 200 and r.json()["id"] != pid, r.text
    assert api.get(f"/schemas/ids/{pid}").json()["references"] == pinned


def test_reference_to_missing_version_is_invalid(api, subj):
    s = subj()
    person = record("P2", [field("home", "com.ex2.Address")], namespace="com.ex2")
    refs = [{"name": "com.ex2.Address", "subject": subj("nowhere"), "version": 1}]
    assert_error(api.register(s, person, references=refs), 422, 42201)
    assert_error(api.versions(s), 404, 40401)


def test_delete_error_messages_match_confluent(api, subj):
    """Confluent's exact messages (Errors.java) for the delete and config/mode errors."""
    s = subj()
    api.register_ok(s, record("Msg", [field("k", "string")]))
    api.register_ok(s, record("Msg", [field("k", "string"), field("j", "int", default=0)]))
    body = assert_error(api.delete(f"/subjects/{q(s)}/versions/2", params={"permanent": "true"}),
                        404, 40407)
    assert body["message"] == (f"Subject '{s}' Version 2 was not deleted first before being "
                               "permanently deleted")
    api.delete(f"/subjects/{q(s)}/versions/1")
    body = assert_error(api.delete(f"/subjects/{q(s)}/versions/1"), 404, 40406)
    assert body["message"] == (f"Subject '{s}' Version 1 was soft deleted.Set permanent=true to "
                               "delete permanently")
    body = assert_error(api.delete(f"/subjects/{q(s)}", params={"permanent": "true"}), 404, 40405)
    assert body["message"] == (f"Subject '{s}' was not deleted first before being permanently "
                               "deleted")
    api.delete(f"/subjects/{q(s)}")
    body = assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40404)
    assert body["message"] == (f"Subject '{s}' was soft deleted.Set permanent=true to delete "
                               "permanently")
    other = subj("cfg")
    body = assert_error(api.get(f"/config/{q(other)}"), 404, 40408)
    assert body["message"] == f"Subject '{other}' does not have subject-level compatibility configured"
    body = assert_error(api.get(f"/mode/{q(other)}"), 404, 40409)
    assert body["message"] == f"Subject '{other}' does not have subject-level mode configured"
    api.set_mode(other, "READONLY")
    body = assert_error(api.register(other, '"string"'), 422, 42205)
    assert body["message"] == f"Subject {other} is in read-only mode"


def test_second_soft_delete_of_the_last_version_is_40406(api, subj):
    """Confluent checks the version (soft-deleted: 40406) before the subject's live
    versions: a second soft delete of the only version is 40406, not 40401."""
    s = subj()
    api.register_ok(s, V1)
    assert api.delete(f"/subjects/{q(s)}/versions/1").json() == 1
    assert_error(api.versions(s), 404, 40401)  # the subject is gone for readers
    body = assert_error(api.delete(f"/subjects/{q(s)}/versions/1"), 404, 40406)
    assert body["message"] == (f"Subject '{s}' Version 1 was soft deleted.Set permanent=true to "
                               "delete permanently")
    # a version that never existed in a subject with only deleted versions: 40402
    assert_error(api.delete(f"/subjects/{q(s)}/versions/7"), 404, 40402)
    # "latest" is the latest live version: there is none
    assert_error(api.delete(f"/subjects/{q(s)}/versions/latest"), 404, 40402)
    assert_error(api.delete(f"/subjects/{q(s)}/versions/latest", params={"permanent": "true"}),
                 404, 40402)
    # the permanent delete still works, then the subject is unknown
    assert api.delete(f"/subjects/{q(s)}/versions/1", params={"permanent": "true"}).json() == 1
    assert_error(api.delete(f"/subjects/{q(s)}/versions/1"), 404, 40401)
    assert_error(api.delete(f"/subjects/{q(s)}/versions/1", params={"permanent": "true"}),
                 404, 40401)


def test_second_soft_delete_after_subject_delete_is_40406(api, subj):
    s = subj()
    api.register_ok(s, V1)
    api.register_ok(s, V2)
    assert api.delete(f"/subjects/{q(s)}").json() == [1, 2]
    for v in (1, 2):
        assert_error(api.delete(f"/subjects/{q(s)}/versions/{v}"), 404, 40406)
    assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40404)


def test_permanent_delete_of_latest_names_the_latest_live_version(api, subj):
    """"latest" never names a soft-deleted version: a permanent delete of "latest" while
    the latest live version is not soft-deleted is 40407, even if a newer version was
    soft-deleted."""
    s = subj()
    api.register_ok(s, V1)
    api.register_ok(s, V2)
    api.delete(f"/subjects/{q(s)}/versions/2")
    body = assert_error(api.delete(f"/subjects/{q(s)}/versions/latest",
                                   params={"permanent": "true"}), 404, 40407)
    assert "Version 1 " in body["message"]
    assert api.versions(s, params={"deleted": "true"}).json() == [1, 2]


def test_subject_level_delete_codes(api, subj):
    s = subj()
    assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40401)
    assert_error(api.delete(f"/subjects/{q(s)}", params={"permanent": "true"}), 404, 40401)
    api.register_ok(s, V1)
    assert_error(api.delete(f"/subjects/{q(s)}", params={"permanent": "true"}), 404, 40405)
    assert api.delete(f"/subjects/{q(s)}").json() == [1]
    assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40404)
    assert api.delete(f"/subjects/{q(s)}", params={"permanent": "true"}).json() == [1]
    assert_error(api.delete(f"/subjects/{q(s)}"), 404, 40401)
    assert_error(api.delete(f"/subjects/{q(s)}", params={"permanent": "true"}), 404, 40401)


def test_permanent_delete_of_a_referenced_live_version_is_42206(api, subj):
    """Confluent checks references before the soft-delete state on a permanent delete."""
    addr_s, person_s = subj("addr"), subj("person")
    addr = record("Address", [field("street", "string")], namespace="com.ex9")
    api.register_ok(addr_s, addr)
    person = record("Person", [field("home", "com.ex9.Address")], namespace="com.ex9")
    refs = [{"name": "com.ex9.Address", "subject": addr_s, "version": 1}]
    api.register_ok(person_s, person, references=refs)
    assert_error(api.delete(f"/subjects/{q(addr_s)}/versions/1", params={"permanent": "true"}),
                 422, 42206)


def test_head_reads_and_never_deletes(api, subj):
    """HEAD is a GET without a body: on a version or /config it must answer like GET and
    change nothing (it once ran the version route's delete branch)."""
    s = subj()
    api.register_ok(s, V1)
    api.register_ok(s, V2)
    for path, params in ((f"/subjects/{q(s)}/versions/2", None),
                         (f"/subjects/{q(s)}/versions/1", {"permanent": "true"}),
                         (f"/subjects/{q(s)}/versions/latest", None)):
        r = api.request("HEAD", path, params=params)
        assert r.status_code == 200, (path, r.status_code)
        assert r.content == b""
    assert api.versions(s).json() == [1, 2]
    assert api.versions(s, params={"deleted": "true"}).json() == [1, 2]
    g = api.get("/config")
    h = api.request("HEAD", "/config")
    assert h.status_code == 200
    assert h.headers.get("Content-Length") == g.headers.get("Content-Length")
