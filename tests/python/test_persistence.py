"""Everything the API can change survives a restart on the same database, and SIGTERM under
load is graceful.

Issue 3: schema text, ids and versions are kept exactly; graceful shutdown on SIGTERM.
Confluent's registry keeps config, modes, soft deletes and references as durable state too
(they are records in its _schemas topic), so a restart must not lose them either.
"""
import json
import threading
import time

import requests

from helpers import Api, assert_error, field, q, record


def test_restart_keeps_all_state(fresh_registry):
    reg = fresh_registry("persist").start()
    api = Api(reg.url)
    text1 = '{"type": "record", "name": "P", "fields": [{"name": "a", "type": "string"}]}'
    text2 = json.dumps(record("P", [field("a", "string"), field("b", "int", default=7)]))
    id1 = api.register_ok("p-value", text1)
    id2 = api.register_ok("p-value", text2)
    api.register_ok("gone-value", '"long"')
    api.delete("/subjects/gone-value")
    api.register_ok("hard-value", '"double"')
    api.delete("/subjects/hard-value")
    api.delete("/subjects/hard-value", params={"permanent": "true"})
    api.register_ok("ver-value", '"int"')
    api.set_config("ver-value", "NONE")
    api.register_ok("ver-value", '"string"')
    api.delete("/subjects/ver-value/versions/1")
    addr = record("Addr", [field("city", "string")], namespace="com.p")
    addr_id = api.register_ok("addr-value", addr)
    refs = [{"name": "com.p.Addr", "subject": "addr-value", "version": 1}]
    r = api.register("who-value", record("Who", [field("home", "com.p.Addr")], namespace="com.p"),
                     references=refs)
    assert r.status_code == 200, r.text
    who_id = r.json()["id"]
    api.set_config(None, "FULL")
    api.set_config("p-value", "FORWARD_TRANSITIVE")
    assert api.set_mode("ro-value", "READONLY").status_code == 200
    before = {
        "subjects": api.get("/subjects").json(),
        "deleted": api.get("/subjects", params={"deleted": "true"}).json(),
        "p": [api.get(f"/subjects/p-value/versions/{v}").json() for v in (1, 2)],
        "ver": api.versions("ver-value", params={"deleted": "true"}).json(),
    }

    assert reg.stop() == 0, reg.stderr_tail()
    reg.start()
    api = Api(reg.url)

    assert api.get("/subjects").json() == before["subjects"]
    assert api.get("/subjects", params={"deleted": "true"}).json() == before["deleted"]
    assert [api.get(f"/subjects/p-value/versions/{v}").json() for v in (1, 2)] == before["p"]
    assert api.get(f"/schemas/ids/{id1}").json()["schema"] == text1
    assert api.get(f"/schemas/ids/{id2}").json()["schema"] == text2
    assert api.versions("ver-value").json() == [2]
    assert api.versions("ver-value", params={"deleted": "true"}).json() == before["ver"]
    assert_error(api.versions("gone-value"), 404, 40401)
    assert api.versions("gone-value", params={"deleted": "true"}).json() == [1]
    assert_error(api.versions("hard-value", params={"deleted": "true"}), 404, 40401)
    assert api.get("/config").json()["compatibilityLevel"] == "FULL"
    assert api.get("/config/p-value").json()["compatibilityLevel"] == "FORWARD_TRANSITIVE"
    assert api.get("/mode/ro-value").json() == {"mode": "READONLY"}
    assert_error(api.register("ro-value", '"string"'), 422, 42205)
    assert api.get("/subjects/addr-value/versions/1/referencedby").json() == [who_id]
    assert api.get(f"/schemas/ids/{who_id}").json()["references"] == refs
    assert_error(api.delete("/subjects/addr-value/versions/1"), 422, 42206)
    # ids continue after the highest one ever handed out
    new_id = api.register_ok("new-value", '"bytes"')
    assert new_id not in (id1, id2, addr_id, who_id)


def test_hard_deleted_highest_id_not_reused_after_restart(fresh_registry):
    """CSR#858/#893/#1619: ids are never reused, across restarts too, even when the schema
    that held the highest id was permanently deleted."""
    reg = fresh_registry("reuse").start()
    api = Api(reg.url)
    api.register_ok("keep-value", '"string"')
    top = api.register_ok("temp-value", record("Temp", [field("t", "int")]))
    api.delete("/subjects/temp-value")
    assert api.delete("/subjects/temp-value", params={"permanent": "true"}).status_code == 200
    assert reg.stop() == 0
    reg.start()
    api = Api(reg.url)
    new_id = api.register_ok("next-value", record("Next", [field("n", "int")]))
    assert new_id > top, f"id {new_id} after a hard-deleted {top}: ids must never be reused"
    reg.kill9()
    reg.start()
    api = Api(reg.url)
    assert api.register_ok("next2-value", record("Next2", [field("n", "int")])) > new_id


def test_sigterm_under_load_is_graceful(fresh_registry):
    """Requests in flight when SIGTERM arrives complete or are refused cleanly (never a 5xx);
    the process exits 0; every acknowledged registration is there after a restart."""
    reg = fresh_registry("term").start()
    Api(reg.url).set_config(None, "NONE")
    acked, bad, lock = [], [], threading.Lock()
    stop = threading.Event()

    def worker(w):
        s = requests.Session()
        for i in range(400):  # bounded
            if stop.is_set():
                return
            text = json.dumps(record(f"T{w}_{i}", [field("x", "int")]))
            try:
                r = s.post(f"{reg.url}/subjects/{q(f'term-{w}-value')}/versions",
                           data=json.dumps({"schema": text}),
                           headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                           timeout=10)
            except requests.RequestException:
                return  # the server has gone: fine
            with lock:
                if r.status_code == 200:
                    acked.append((f"term-{w}-value", r.json()["id"], text))
                else:
                    bad.append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    rc = reg.stop()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert rc == 0, f"exit {rc} on SIGTERM under load:\n{reg.stderr_tail()}"
    # a request arriving while draining may be refused with 503; nothing else may fail
    assert not [b for b in bad if b[0] >= 500 and b[0] != 503], bad
    assert acked, "no registration acknowledged before SIGTERM"

    reg.start()
    api = Api(reg.url)
    for subject, sid, text in acked:
        r = api.get(f"/schemas/ids/{sid}")
        assert r.status_code == 200, f"acknowledged id {sid} lost after SIGTERM"
        assert r.json()["schema"] == text
    for w in range(8):
        r = api.versions(f"term-{w}-value")
        if r.status_code == 200:
            vs = r.json()
            assert vs == list(range(1, len(vs) + 1)), vs


def test_sigterm_during_reads_never_aborts(fresh_registry):
    """SIGTERM while keep-alive readers keep every worker thread busy, many times over.

    libmicrohttpd 0.9.75's quiesce call races its epoll workers and can abort the process
    ("Failed to remove listen FD from epoll set"); CI once hit it, in a teardown. The window
    is narrow, so this stress catches such a race only sometimes; the fix (reg_server_stop no
    longer quiesces) removes the call altogether. The server must exit 0 every time."""
    reg = fresh_registry("reads")
    for rnd in range(12):  # bounded: each round lasts well under a second
        reg.start()
        stop = threading.Event()

        def reader():
            s = requests.Session()
            for _ in range(2000):
                if stop.is_set():
                    return
                try:
                    s.get(f"{reg.url}/subjects", timeout=5)
                except requests.RequestException:
                    return

        threads = [threading.Thread(target=reader) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.15)
        rc = reg.stop()
        stop.set()
        for t in threads:
            t.join(timeout=10)
        assert rc == 0, f"round {rnd}: exit {rc} on SIGTERM during reads:\n{reg.stderr_tail()}"
