"""The lookup cache of POST /subjects/{s}: every change that can alter an answer must show.

The registry remembers the answer to a lookup by the exact request bytes (and subject and
options) and answers the same bytes again without parsing. Each test below first sends
one request body twice, so that its answer is certainly remembered, then changes the
registry, then sends the very same bytes again: a stale cache would give the old answer.
The expected answers are Confluent's: a lookup finds the schema among the subject's live
versions (the latest such version when it is there more than once), among all of them
with ?deleted=true, and answers 40401 when the subject has no (visible) version and 40403
when the schema is not among them.
"""
import json

from helpers import assert_error, field, q, record

A = record("Order", [field("id", "string")])
B = record("Order", [field("id", "string"), field("note", ["null", "string"], default=None)])
C = record("Order", [field("id", "string"), field("note", ["null", "string"], default=None),
                     field("qty", "int", default=0)])


def body_of(schema, **extra):
    """The request bytes, fixed once so that every send is byte-identical."""
    b = {"schema": json.dumps(schema)}
    b.update(extra)
    return json.dumps(b).encode()


def look(api, s, raw, **params):
    return api.post(f"/subjects/{q(s)}", raw=raw, params=params or None)


def found(api, s, raw, **params):
    """Sends the lookup twice (the second is answered from the cache) and checks both
    answers are equal; returns the answer."""
    r1 = look(api, s, raw, **params)
    assert r1.status_code == 200, r1.text
    r2 = look(api, s, raw, **params)
    assert r2.status_code == 200, r2.text
    assert r1.content == r2.content, (r1.content, r2.content)
    return r2.json()


def test_repeated_lookup_gives_the_full_version_object(api, subj):
    s = subj()
    ida = api.register_ok(s, A)
    raw = body_of(A)
    for _ in range(3):
        ans = found(api, s, raw)
        assert ans["subject"] == s and ans["version"] == 1 and ans["id"] == ida
        assert json.loads(ans["schema"]) == A
    # the GET of that version gives the same bytes
    assert api.get(f"/subjects/{q(s)}/versions/1").content == look(api, s, raw).content


def test_same_body_other_subject_other_answer(api, subj):
    s1, s2 = subj("one"), subj("two")
    api.register_ok(s1, A)
    api.register_ok(s2, C)
    api.register_ok(s2, A)  # backward compatible with C: A reads C data
    raw = body_of(A)
    a1 = found(api, s1, raw)
    a2 = found(api, s2, raw)
    assert (a1["subject"], a1["version"]) == (s1, 1)
    assert (a2["subject"], a2["version"]) == (s2, 2)
    assert a1["id"] == a2["id"]
    # an unknown subject is not answered from another subject's entry
    assert_error(look(api, subj("none"), raw), 404, 40401)


def test_lookup_after_soft_delete_of_the_version(api, subj):
    s = subj()
    api.register_ok(s, A)
    api.register_ok(s, B)
    raw = body_of(A)
    assert found(api, s, raw)["version"] == 1
    assert found(api, s, raw, deleted="true")["version"] == 1
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert_error(look(api, s, raw), 404, 40403)
    assert_error(look(api, s, raw), 404, 40403)
    assert found(api, s, raw, deleted="true")["version"] == 1


def test_deleted_flag_is_part_of_the_key(api, subj):
    """The answer with ?deleted=true is remembered apart from the one without."""
    s = subj()
    api.register_ok(s, A)
    api.register_ok(s, B)
    raw = body_of(A)
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert found(api, s, raw, deleted="true")["version"] == 1
    assert_error(look(api, s, raw), 404, 40403)
    assert found(api, s, raw, deleted="true")["version"] == 1
    assert_error(look(api, s, raw), 404, 40403)


def test_lookup_after_soft_delete_of_the_subject(api, subj):
    s = subj()
    api.register_ok(s, A)
    raw = body_of(A)
    assert found(api, s, raw)["version"] == 1
    r = api.delete(f"/subjects/{q(s)}")
    assert r.status_code == 200 and r.json() == [1]
    assert_error(look(api, s, raw), 404, 40401)
    assert found(api, s, raw, deleted="true")["version"] == 1


def test_lookup_after_permanent_delete_of_the_version(api, subj):
    s = subj()
    api.register_ok(s, A)
    api.register_ok(s, B)
    raw = body_of(A)
    assert found(api, s, raw, deleted="true")["version"] == 1
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert found(api, s, raw, deleted="true")["version"] == 1
    r = api.delete(f"/subjects/{q(s)}/versions/1", params={"permanent": "true"})
    assert r.status_code == 200, r.text
    assert_error(look(api, s, raw, deleted="true"), 404, 40403)
    assert_error(look(api, s, raw), 404, 40403)
    # the other version is still found, from a warm entry too
    assert found(api, s, body_of(B))["version"] == 2


def test_lookup_after_permanent_delete_and_new_registration(api, subj):
    """After a hard delete of the subject the schema comes back as version 1: a stale
    entry would still say version 2."""
    s = subj()
    api.register_ok(s, A)
    idb = api.register_ok(s, B)
    raw = body_of(B)
    assert found(api, s, raw)["version"] == 2
    assert api.delete(f"/subjects/{q(s)}").status_code == 200
    assert found(api, s, raw, deleted="true")["version"] == 2
    r = api.delete(f"/subjects/{q(s)}", params={"permanent": "true"})
    assert r.status_code == 200 and r.json() == [1, 2], r.text
    assert_error(look(api, s, raw), 404, 40401)
    assert_error(look(api, s, raw, deleted="true"), 404, 40401)
    assert api.register_ok(s, B) == idb
    ans = found(api, s, raw)
    assert (ans["version"], ans["id"]) == (1, idb)
    assert found(api, s, raw, deleted="true")["version"] == 1


def test_lookup_after_reregistration_finds_the_new_version(api, subj):
    """A schema soft-deleted and registered again is a new version: the lookup must find
    that one, with or without ?deleted."""
    s = subj()
    ida = api.register_ok(s, A)
    api.register_ok(s, B)
    raw = body_of(A)
    assert found(api, s, raw)["version"] == 1
    assert found(api, s, raw, deleted="true")["version"] == 1
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert found(api, s, raw, deleted="true")["version"] == 1
    # nothing but the registration between the remembered answer and the next lookup
    assert api.register_ok(s, A) == ida  # BACKWARD: A reads B's data
    assert api.versions(s).json() == [2, 3]
    assert found(api, s, raw)["version"] == 3
    assert found(api, s, raw, deleted="true")["version"] == 3


def test_new_version_of_another_schema_keeps_answers_right(api, subj):
    s = subj()
    api.register_ok(s, A)
    raw_a, raw_b = body_of(A), body_of(B)
    assert found(api, s, raw_a)["version"] == 1
    assert_error(look(api, s, raw_b), 404, 40403)
    api.register_ok(s, B)
    assert found(api, s, raw_b)["version"] == 2
    assert found(api, s, raw_a)["version"] == 1


def test_normalize_flag(api, subj):
    s = subj()
    api.register_ok(s, A)
    api.register_ok(s, B)
    raw = body_of(A)
    plain = found(api, s, raw)
    norm = found(api, s, raw, normalize="true")
    assert plain == norm and plain["version"] == 1
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert_error(look(api, s, raw, normalize="true"), 404, 40403)
    assert_error(look(api, s, raw), 404, 40403)
    assert found(api, s, raw, normalize="true", deleted="true")["version"] == 1


def test_other_spelling_is_remembered_and_invalidated(api, subj):
    """A lookup of a differently written text (found by parsing) is remembered too, and
    forgotten like any other on a delete."""
    s = subj()
    api.register_ok(s, A)
    api.register_ok(s, B)
    spelled = json.dumps({"schema": json.dumps(A, indent=3, sort_keys=True)}).encode()
    assert found(api, s, spelled)["version"] == 1
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert_error(look(api, s, spelled), 404, 40403)
    assert found(api, s, spelled, deleted="true")["version"] == 1


def test_import_mode_write_changes_the_answer(api, subj):
    """A write in IMPORT mode (explicit id and version) must show in the next lookup."""
    s = subj()
    ida = api.register_ok(s, A)
    api.register_ok(s, B)
    raw = body_of(A)
    assert found(api, s, raw)["version"] == 1
    r = api.set_mode(s, "IMPORT", params={"force": "true"})
    assert r.status_code == 200, r.text
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert found(api, s, raw, deleted="true")["version"] == 1
    r = api.register(s, A, id=ida, version=7)
    assert r.status_code == 200 and r.json()["id"] == ida, r.text
    ans = found(api, s, raw)
    assert (ans["version"], ans["id"]) == (7, ida)
    assert found(api, s, raw, deleted="true")["version"] == 7
    assert api.delete(f"/mode/{q(s)}").status_code == 200


def test_metadata_and_references_are_part_of_the_request(api, subj):
    """Bodies that differ only in metadata are different requests with different answers."""
    s = subj()
    meta = {"properties": {"owner": "team-a"}}
    api.register_ok(s, A, metadata=meta)
    with_meta = body_of(A, metadata=meta)
    without = body_of(A)
    assert found(api, s, with_meta)["metadata"] == meta
    assert_error(look(api, s, without), 404, 40403)
    assert_error(look(api, s, without), 404, 40403)


def test_many_large_bodies_beyond_the_cache_budget(api, subj):
    """More request bytes than the cache holds (it drops entries to stay in budget) and
    bodies larger than it remembers: every answer stays right, before and after a
    delete. Each option set is a request of its own, so 36 bodies of 60 KB under four
    option sets are more than the 8 MiB it keeps."""
    s = subj()
    api.set_config(s, "NONE")
    raws = []
    n = 36
    for i in range(n):
        sch = record(f"Big{i}", [field("id", "string")], doc="x" * 60000)
        api.register_ok(s, sch)
        raws.append(body_of(sch))
    huge = record("Huge", [field("id", "string")], doc="y" * 100000)
    api.register_ok(s, huge)
    raws.append(body_of(huge))
    options = ({}, {"deleted": "true"}, {"normalize": "true"},
               {"deleted": "true", "normalize": "true"})
    for _ in range(2):
        for opts in options:
            for i, raw in enumerate(raws):
                r = look(api, s, raw, **opts)
                assert r.status_code == 200 and r.json()["version"] == i + 1, r.text[:200]
    gone = (1, n // 2, n + 1)
    for v in gone:
        assert api.delete(f"/subjects/{q(s)}/versions/{v}").status_code == 200
    for opts in options:
        for i, raw in enumerate(raws):
            r = look(api, s, raw, **opts)
            if i + 1 in gone and "deleted" not in opts:
                assert_error(r, 404, 40403)
            else:
                assert r.status_code == 200 and r.json()["version"] == i + 1, r.text[:200]
