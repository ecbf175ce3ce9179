"""Durability under kill -9, and concurrent registration.

Issue 3: "an acknowledged registration survives kill -9"; ids are global, stable and never
reused; versions have no gaps; concurrent registration of one schema by many clients yields
one id. The crash test registers schemas in a loop while another thread kills the registry
with SIGKILL at random moments (5 kills), restarting it on the same database each time; then
every acknowledged (HTTP 200) registration must be there with the same id, subject and text.
Loops are bounded in count and in time.
"""
import json
import random
import threading
import time

import requests

from helpers import Api, assert_error, q

KILLS = 5
REGISTRATIONS = 300
TIME_BUDGET = 90.0  # seconds, for the whole loop
SUBJECTS = ["crash-a-value", "crash-b-value", "crash/c value"]


def schema_text(i):
    # every schema distinct; whitespace varies so that stored text is checked byte for byte
    return json.dumps({"type": "record", "name": f"Crash{i}", "namespace": "com.crash",
                       "fields": [{"name": "n", "type": "long"},
                                  {"name": f"f{i}", "type": "string", "default": ""}]},
                      indent=i % 3 or None)


def test_acknowledged_registrations_survive_kill9(fresh_registry):
    reg = fresh_registry("crash").start()
    api = Api(reg.url)
    api.set_config(None, "NONE")
    rnd = random.Random(1234)
    acked = []  # (subject, id, text) in ack order
    seen_version = {}  # id -> version read back right after the acknowledgement
    kills = 0
    i = 0
    deadline = time.monotonic() + TIME_BUDGET
    killer = None

    def arm():
        proc = reg.proc
        delay = rnd.uniform(0.05, 0.6)

        def kill():
            time.sleep(delay)
            if proc.poll() is None:
                proc.kill()

        t = threading.Thread(target=kill, daemon=True)
        t.start()
        return t

    killer = arm()
    while i < REGISTRATIONS or kills < KILLS:
        assert time.monotonic() < deadline, (
            f"crash loop over its time budget: {i} registrations, {kills} kills")
        subject = SUBJECTS[i % len(SUBJECTS)]
        text = schema_text(i)
        try:
            r = api.s.post(api.url(f"/subjects/{q(subject)}/versions"),
                           data=json.dumps({"schema": text}), timeout=10)
        except requests.RequestException:
            r = None
        if r is not None and r.status_code == 200:
            sid = r.json()["id"]
            acked.append((subject, sid, text))
            i += 1
            try:  # the version it got, if the registry is still up to tell
                pairs = api.s.get(api.url(f"/schemas/ids/{sid}/versions"), timeout=10).json()
                seen_version[sid] = [p["version"] for p in pairs if p["subject"] == subject][0]
            except (requests.RequestException, ValueError, IndexError):
                pass
            continue
        if r is not None and reg.proc.poll() is None:
            raise AssertionError(f"registration failed while the registry was up: "
                                 f"{r.status_code} {r.text}")
        # the registry is down (killed): restart it on the same database
        killer.join()
        reg.proc.wait()
        reg.kill9()  # closes handles
        kills += 1
        reg.start()
        api = Api(reg.url)
        if kills < KILLS:
            killer = arm()
        else:
            killer = threading.Thread(target=lambda: None)
            killer.start()
        i += 1  # the unacknowledged schema i is skipped (it may or may not be stored)

    # one more crash, right after the last acknowledgement
    reg.kill9()
    reg.start()
    api = Api(reg.url)
    assert len(acked) >= REGISTRATIONS * 0.8, f"only {len(acked)} acknowledged"
    assert len(seen_version) >= len(acked) * 0.8, "versions were not read back"
    assert api.get("/config").json()["compatibilityLevel"] == "NONE"

    seen_ids = {}
    for subject, sid, text in acked:
        assert seen_ids.setdefault(sid, text) == text, f"id {sid} reused for another schema"
        r = api.get(f"/schemas/ids/{sid}")
        assert r.status_code == 200, f"acknowledged id {sid} lost after kill -9: {r.text}"
        assert r.json()["schema"] == text
        pairs = api.get(f"/schemas/ids/{sid}/versions").json()
        assert [p["subject"] for p in pairs] == [subject], pairs
        v = pairs[0]["version"]
        if sid in seen_version:
            assert v == seen_version[sid], f"id {sid} moved from version {seen_version[sid]} to {v}"
        body = api.get(f"/subjects/{q(subject)}/versions/{v}").json()
        assert (body["id"], body["schema"]) == (sid, text)

    for subject in SUBJECTS:
        versions = api.versions(subject).json()
        assert versions == list(range(1, len(versions) + 1)), f"gap in {subject}: {versions}"
        mine = [sid for s, sid, _ in acked if s == subject]
        got = [p["version"] for sid in mine
               for p in api.get(f"/schemas/ids/{sid}/versions").json()]
        assert got == sorted(got), f"versions out of acknowledgement order in {subject}"
        # every stored version has its own id
        ids = [api.get(f"/subjects/{q(subject)}/versions/{v}").json()["id"] for v in versions]
        assert len(set(ids)) == len(ids)

    # ids stay stable: re-registering returns the acknowledged id; new schemas get new ids
    for subject, sid, text in acked[:: max(1, len(acked) // 20)]:
        assert api.register_ok(subject, text) == sid
    new_id = api.register_ok("crash-after-value", schema_text(10**6))
    assert new_id not in seen_ids


def _parallel(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def run(k):
        try:
            barrier.wait(timeout=30)
            results[k] = fn(k)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "threads still running"
    assert not errors, errors
    return results


def _post(base, subject, text):
    r = requests.post(f"{base}/subjects/{q(subject)}/versions",
                      data=json.dumps({"schema": text}),
                      headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                      timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def test_concurrent_same_schema_one_id(fresh):
    text = schema_text(1)
    ids = _parallel(32, lambda k: _post(fresh.base, "conc-same-value", text))
    assert len(set(ids)) == 1, ids
    assert fresh.versions("conc-same-value").json() == [1]
    ids2 = _parallel(32, lambda k: _post(fresh.base, f"conc-many-{k}-value", text))
    assert set(ids2) == set(ids)
    assert sorted(fresh.get(f"/schemas/ids/{ids[0]}/subjects").json()) == sorted(
        ["conc-same-value"] + [f"conc-many-{k}-value" for k in range(32)])


def test_concurrent_different_schemas_distinct_ids(fresh):
    fresh.set_config(None, "NONE")
    ids = _parallel(32, lambda k: _post(fresh.base, f"conc-diff-{k % 4}-value",
                                        schema_text(100 + k)))
    assert len(set(ids)) == 32, ids
    for k, sid in enumerate(ids):
        assert fresh.get(f"/schemas/ids/{sid}").json()["schema"] == schema_text(100 + k)
    for s in range(4):
        assert fresh.versions(f"conc-diff-{s}-value").json() == list(range(1, 9))
    assert_error(fresh.get("/schemas/ids/0"), 404, 40403)


def test_concurrent_versions_of_one_subject_under_full_transitive(fresh):
    """32 clients each add a different optional field to one subject at the same moment:
    every schema is compatible with every other, so all 32 register, with versions 1..32 and
    32 distinct ids, whatever order the registry serialises them in."""
    fresh.set_config("conc-one-value", "FULL_TRANSITIVE")

    def text(k):
        return json.dumps({"type": "record", "name": "Shared", "fields": [
            {"name": "id", "type": "string"},
            {"name": f"opt{k}", "type": ["null", "string"], "default": None}]})

    ids = _parallel(32, lambda k: _post(fresh.base, "conc-one-value", text(k)))
    assert len(set(ids)) == 32, ids
    assert fresh.versions("conc-one-value").json() == list(range(1, 33))
    by_version = {fresh.get(f"/subjects/conc-one-value/versions/{v}").json()["id"]: v
                  for v in range(1, 33)}
    assert set(by_version) == set(ids)
