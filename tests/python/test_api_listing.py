"""Listing parameters, pagination, contexts and ?subject= on the schemas-by-id routes.

Reference: Confluent's API reference and its REST resources (SubjectsResource,
SchemasResource, ContextsResource):
- GET /subjects: subjectPrefix, deleted, deletedOnly ("if both deleted && deletedOnly are
  true, return deleted only"), offset, limit ("Pagination size for results. Ignored if
  negative"); sorted by name.
- GET /schemas: subjectPrefix, deleted, latestOnly, offset, limit; ordered by subject, then
  version.
- GET /contexts: the default context "." first; offset and limit.
- An int query parameter that is not a number: JAX-RS answers 404.
- ?subject= on /schemas/ids/{id}, /schema, /subjects and /versions names the context to
  look the id up in ("Filters results by the respective subject" in the reference, but
  KafkaSchemaRegistry.getSchemaKeyUsingContexts falls back to the whole context): within
  the default context it filters nothing and never turns a found id into a 404. A subject
  qualified with another context (":.ctx:name") finds only what that context holds.
"""
import pytest

from helpers import assert_error, field, q, record


def rec(name, *extra):
    return record(name, [field("a", "string")] + [field(x, "int", default=0) for x in extra])


@pytest.fixture
def three_subjects(fresh):
    """Subjects p-a (2 versions), p-b (1 version, soft-deleted), z-c (1 version)."""
    fresh.register_ok("p-a", rec("A"))
    fresh.register_ok("p-a", rec("A", "x"))
    fresh.register_ok("p-b", rec("B"))
    fresh.register_ok("z-c", rec("C"))
    assert fresh.delete("/subjects/p-b").status_code == 200
    return fresh


def test_subjects_prefix_deleted_and_deleted_only(three_subjects):
    api = three_subjects
    assert api.get("/subjects").json() == ["p-a", "z-c"]
    assert api.get("/subjects", params={"subjectPrefix": "p-"}).json() == ["p-a"]
    assert api.get("/subjects", params={"subjectPrefix": "p-", "deleted": "true"}).json() == [
        "p-a", "p-b"]
    assert api.get("/subjects", params={"deletedOnly": "true"}).json() == ["p-b"]
    # both: deleted only, as Confluent
    assert api.get("/subjects", params={"deleted": "true", "deletedOnly": "true"}).json() == [
        "p-b"]
    # Confluent's default prefix ":*:" (every context) filters nothing
    assert api.get("/subjects", params={"subjectPrefix": ":*:"}).json() == ["p-a", "z-c"]
    assert api.get("/subjects", params={"subjectPrefix": "nothing"}).json() == []


def test_subjects_offset_and_limit(three_subjects):
    api = three_subjects
    every = api.get("/subjects", params={"deleted": "true"}).json()
    assert every == ["p-a", "p-b", "z-c"]
    page = lambda **p: api.get("/subjects", params=dict(deleted="true", **p)).json()  # noqa: E731
    assert page(limit=2) == ["p-a", "p-b"]
    assert page(offset=1) == ["p-b", "z-c"]
    assert page(offset=1, limit=1) == ["p-b"]
    assert page(offset=2, limit=5) == ["z-c"]
    assert page(offset=3) == []
    assert page(offset=99, limit=1) == []
    # "Ignored if negative", and 0 is no limit either
    assert page(limit=-1) == every
    assert page(limit=0) == every
    # pagination applies after the filters
    assert api.get("/subjects", params={"offset": 1}).json() == ["z-c"]


@pytest.mark.parametrize("param", ["offset", "limit"])
@pytest.mark.parametrize("path", ["/subjects", "/schemas", "/contexts"])
def test_paging_parameter_that_is_not_a_number_is_404(fresh, path, param):
    for bad in ("abc", "1.5", "99999999999"):
        assert_error(fresh.get(path, params={param: bad}), 404, 404)


def test_schemas_list_filters(three_subjects):
    api = three_subjects
    got = [(s["subject"], s["version"]) for s in api.get("/schemas").json()]
    assert got == [("p-a", 1), ("p-a", 2), ("z-c", 1)]
    got = [(s["subject"], s["version"]) for s in api.get("/schemas", params={"deleted": "true"}).json()]
    assert got == [("p-a", 1), ("p-a", 2), ("p-b", 1), ("z-c", 1)]
    got = [(s["subject"], s["version"])
           for s in api.get("/schemas", params={"latestOnly": "true"}).json()]
    assert got == [("p-a", 2), ("z-c", 1)]
    got = [(s["subject"], s["version"])
           for s in api.get("/schemas", params={"latestOnly": "true", "deleted": "true"}).json()]
    assert got == [("p-a", 2), ("p-b", 1), ("z-c", 1)]
    got = [(s["subject"], s["version"])
           for s in api.get("/schemas", params={"subjectPrefix": "p-", "deleted": "true"}).json()]
    assert got == [("p-a", 1), ("p-a", 2), ("p-b", 1)]
    one = api.get("/schemas", params={"subjectPrefix": "z-"}).json()
    assert len(one) == 1 and set(one[0]) >= {"subject", "version", "id", "schema"}


def test_schemas_list_offset_and_limit(three_subjects):
    api = three_subjects
    every = [(s["subject"], s["version"]) for s in api.get("/schemas").json()]
    assert len(every) == 3

    def page(**p):
        return [(s["subject"], s["version"]) for s in api.get("/schemas", params=p).json()]

    assert page(limit=1) == every[:1]
    assert page(offset=1) == every[1:]
    assert page(offset=1, limit=1) == every[1:2]
    assert page(offset=3) == []
    assert page(limit=-5) == every
    assert page(offset=-2) == every  # a negative offset skips nothing
    assert page(latestOnly="true", offset=1) == [("z-c", 1)]


def test_contexts_lists_the_default_context(fresh):
    r = fresh.get("/contexts")
    assert r.status_code == 200, r.text
    assert r.json() == ["."]
    assert fresh.get("/contexts", params={"offset": 1}).json() == []
    assert fresh.get("/contexts", params={"limit": 1}).json() == ["."]


def test_contexts_of_qualified_subject_names(fresh):
    fresh.register_ok(":.blue:orders-value", rec("O"))
    fresh.register_ok(":.blue:users-value", rec("U"))
    fresh.register_ok(":.amber:x", rec("X"))
    fresh.register_ok(":.amber.b:y", rec("Y"))  # sorts before ":.amber:x" as a subject
    fresh.register_ok("plain", rec("P"))
    assert fresh.get("/contexts").json() == [".", ".amber", ".amber.b", ".blue"]
    assert fresh.get("/contexts", params={"offset": 1, "limit": 1}).json() == [".amber"]
    # a soft-deleted subject still names its context; a hard-deleted one no longer does
    assert fresh.delete(f"/subjects/{q(':.blue:orders-value')}").status_code == 200
    assert fresh.delete(f"/subjects/{q(':.blue:users-value')}").status_code == 200
    assert ".blue" in fresh.get("/contexts").json()
    for s in (":.blue:orders-value", ":.blue:users-value"):
        r = fresh.delete(f"/subjects/{q(s)}", params={"permanent": "true"})
        assert r.status_code == 200, r.text
    assert fresh.get("/contexts").json() == [".", ".amber", ".amber.b"]


def test_subject_parameter_does_not_filter_within_the_default_context(api, subj):
    a, b, other = subj("a"), subj("b"), subj("other")
    sid = api.register_ok(a, rec("Shared"))
    assert api.register_ok(b, rec("Shared")) == sid
    api.register_ok(other, rec("Other"))
    plain_subjects = api.get(f"/schemas/ids/{sid}/subjects").json()
    plain_versions = api.get(f"/schemas/ids/{sid}/versions").json()
    assert sorted(plain_subjects) == sorted([a, b])
    # the subject that holds the id, one that does not, one that does not exist: the same
    for s in (a, b, other, subj("missing")):
        r = api.get(f"/schemas/ids/{sid}/subjects", params={"subject": s})
        assert r.status_code == 200 and r.json() == plain_subjects, (s, r.text)
        r = api.get(f"/schemas/ids/{sid}/versions", params={"subject": s})
        assert r.status_code == 200 and r.json() == plain_versions, (s, r.text)
        r = api.get(f"/schemas/ids/{sid}", params={"subject": s})
        assert r.status_code == 200 and "Shared" in r.json()["schema"], (s, r.text)
        r = api.get(f"/schemas/ids/{sid}/schema", params={"subject": s})
        assert r.status_code == 200 and r.json()["name"] == "Shared", (s, r.text)
    # ":.:" qualifies with the default context: still nothing filtered
    r = api.get(f"/schemas/ids/{sid}/subjects", params={"subject": f":.:{a}"})
    assert r.json() == plain_subjects
    # the unknown id stays 40403 whatever the subject
    assert_error(api.get("/schemas/ids/99999991/subjects", params={"subject": a}), 404, 40403)


def test_subject_parameter_with_another_context(fresh):
    sid = fresh.register_ok(":.blue:orders-value", rec("Order"))
    assert fresh.register_ok("orders-value", rec("Order")) == sid
    fresh.register_ok(":.blue:other", rec("Other"))
    fresh.register_ok(":.green:x", rec("X"))
    assert sorted(fresh.get(f"/schemas/ids/{sid}/subjects").json()) == sorted(
        [":.blue:orders-value", "orders-value"])
    # looked up in context .blue: only that context's subject-versions
    p = {"subject": ":.blue:orders-value"}
    assert fresh.get(f"/schemas/ids/{sid}/subjects", params=p).json() == [":.blue:orders-value"]
    assert fresh.get(f"/schemas/ids/{sid}/versions", params=p).json() == [
        {"subject": ":.blue:orders-value", "version": 1}]
    assert fresh.get(f"/schemas/ids/{sid}", params=p).status_code == 200
    # the context alone: any of its subjects that holds the id
    p = {"subject": ":.blue:"}
    assert fresh.get(f"/schemas/ids/{sid}/subjects", params=p).json() == [":.blue:orders-value"]
    # a subject of the context that does not hold the id, or another context: 40403
    for s in (":.blue:other", ":.green:x", ":.green:", ":.nowhere:orders-value"):
        for path in ("", "/schema", "/subjects", "/versions"):
            assert_error(fresh.get(f"/schemas/ids/{sid}{path}", params={"subject": s}),
                         404, 40403)


def test_subject_parameter_with_deleted_versions_in_a_context(fresh):
    s = ":.blue:gone"
    sid = fresh.register_ok(s, rec("Gone"))
    assert fresh.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    p = {"subject": s}
    # the id is still under the subject (soft-deleted): found, listed only with ?deleted
    assert fresh.get(f"/schemas/ids/{sid}/subjects", params=p).json() == []
    assert fresh.get(f"/schemas/ids/{sid}/subjects", params=dict(p, deleted="true")).json() == [s]
    assert fresh.get(f"/schemas/ids/{sid}", params=p).status_code == 200


def test_latest_with_metadata(api, subj):
    """GET /subjects/{s}/metadata?key=K&value=V: the newest version whose metadata
    properties hold every pair (KafkaSchemaRegistry.getLatestWithMetadata)."""
    s = subj()

    def reg(name, props):
        body = {"metadata": {"properties": props}} if props is not None else {}
        return api.register_ok(s, rec(name), **body)

    api.set_config(s, "NONE")
    id1 = reg("V1", {"owner": "bob", "tier": "gold"})
    id2 = reg("V2", {"owner": "bob", "tier": "silver"})
    reg("V3", None)  # no metadata: never matches
    id4 = reg("V4", {"owner": "alice"})

    def get(pairs, **params):
        qs = [("key", k) for k, _ in pairs] + [("value", v) for _, v in pairs]
        return api.get(f"/subjects/{q(s)}/metadata", params=qs + list(params.items()))

    r = get([("owner", "bob")])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["version"], body["subject"]) == (id2, 2, s)
    assert body["metadata"]["properties"] == {"owner": "bob", "tier": "silver"}
    assert get([("owner", "bob"), ("tier", "gold")]).json()["id"] == id1
    assert get([("owner", "alice")]).json()["id"] == id4
    # no pairs: the newest version that has metadata properties at all
    assert get([]).json()["version"] == 4
    # a later pair wins for a repeated key; keys and values pair by position
    r = api.get(f"/subjects/{q(s)}/metadata",
                params=[("key", "tier"), ("key", "tier"), ("value", "silver"), ("value", "gold")])
    assert r.json()["id"] == id1
    assert_error(get([("owner", "carol")]), 404, 40403)
    assert_error(get([("nokey", "x")]), 404, 40403)
    # soft-deleted versions only with ?deleted
    assert api.delete(f"/subjects/{q(s)}/versions/1").status_code == 200
    assert_error(get([("tier", "gold")]), 404, 40403)
    assert get([("tier", "gold")], deleted="true").json()["id"] == id1
    # unknown subject
    assert_error(api.get(f"/subjects/{q(subj('none'))}/metadata",
                         params={"key": "a", "value": "b"}), 404, 40401)
    # too many pairs for this registry: refused rather than half-applied
    many = [("key", f"k{i}") for i in range(9)] + [("value", "v") for _ in range(9)]
    assert_error(api.get(f"/subjects/{q(s)}/metadata", params=many), 400)
    assert api.post(f"/subjects/{q(s)}/metadata", {}).status_code == 405
