"""test_pipeline.py - `canon aggregate` end to end on a real Kafka broker.

Each test registers its own entity (the person schema under a fresh name), starts the
aggregator on it, produces updates encoded with the registry's derived update schema, and
reads canon.<entity> and canon.<entity>.dlq read_committed. Run:

    CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/aggregator
"""
import datetime
import json
import signal
import random
import threading
import time
import uuid

import pytest


def ms(t):
    """fastavro returns timestamp-millis as an aware datetime."""
    if isinstance(t, datetime.datetime):
        return round(t.timestamp() * 1000)
    return t


def key():
    return str(uuid.uuid4())


def test_create_update_stale_delete(entity, aggregator):
    agg = aggregator(entity)
    k = key()
    at1 = entity.update(k, "hr", 1000, {"given_name": "Ann", "family_name": "Lee"})
    at2 = entity.update(k, "crm", 2000, {"email": "ann@example.com"})
    entity.update(k, "hr", 500, {"given_name": "Old"})          # stale: publishes nothing
    entity.update(k, "crm", 2000, {"email": "ann@example.com"})  # same version: no-op
    at5 = entity.update(k, "hr", 3000, op="DELETE")
    env = entity.envelopes(3)
    assert [e["version"] for _, e in env] == [1, 2, 3]
    assert [e["op"] for _, e in env] == ["CREATE", "UPDATE", "DELETE"]
    assert all(key_ == k for key_, _ in env)
    assert env[0][1]["after"]["given_name"] == "Ann" and env[0][1]["before"] is None
    assert env[1][1]["after"]["email"] == "ann@example.com"
    assert env[1][1]["after"]["given_name"] == "Ann"
    assert env[1][1]["changed"] == ["email"]
    assert env[1][1]["provenance"]["email"]["source"] == "crm"
    # provenance names the update message (partition, offset) that set each field
    origin = lambda fv: (fv["partition"], fv["offset"])  # noqa: E731
    assert origin(env[1][1]["provenance"]["email"]) == at2
    assert origin(env[1][1]["provenance"]["given_name"]) == at1
    assert origin(env[1][1]["provenance"]["family_name"]) == at1
    assert (env[1][1]["cause"]["partition"], env[1][1]["cause"]["offset"]) == at2
    assert env[2][1]["after"] is None and ms(env[2][1]["deleted"]["event_time"]) == 3000
    assert origin(env[2][1]["deleted"]) == at5
    # an update older than the delete cannot resurrect the entity
    entity.update(k, "crm", 2500, {"phone": "+1"})
    entity.update(k, "crm", 4000, {"phone": "+2"})
    env = entity.envelopes(4)
    assert len(env) == 4
    assert env[3][1]["version"] == 4 and env[3][1]["op"] == "CREATE"
    assert env[3][1]["after"]["phone"] == "+2" and env[3][1]["after"]["given_name"] is None
    assert entity.read(entity.dlq, 1, timeout=2) == []
    agg.stop()
    assert "committed" in agg.text()


def headers(m):
    return {k: v.decode() for k, v in (m.headers() or [])}


def test_dead_letters_byte_for_byte(entity, aggregator):
    aggregator(entity)
    k = key()
    bad_writer = entity.encode(k, "support", 1000, {"given_name": "Eve"})  # support may not write it
    garbage = b"\x07not avro at all"
    other_key = entity.encode(key(), "hr", 1000, {"given_name": "Bob"})     # body key != message key
    po1 = entity.send(k, bad_writer)
    po2 = entity.send(k, garbage)
    po3 = entity.send(k, other_key)
    entity.update(k, "hr", 1000, {"given_name": "Ann"})  # still flows after the rejects
    dlq = entity.read(entity.dlq, 3)
    assert len(dlq) == 3
    by_offset = {int(headers(m)["canon.source.offset"]): m for m in dlq}
    for (part, off), value, code in ((po1, bad_writer, "WRITER"), (po2, garbage, "FRAMING"),
                                     (po3, other_key, "KEY_MISMATCH")):
        m = by_offset[off]
        h = headers(m)
        assert m.value() == value                      # byte for byte
        assert m.key() == k.encode()
        assert h["canon.error.code"] == code, h
        assert h["canon.error.message"]
        assert h["canon.source.topic"] == entity.updates
        assert int(h["canon.source.partition"]) == part
        assert m.partition() == part
    env = entity.envelopes(1)
    assert len(env) == 1 and env[0][1]["after"]["given_name"] == "Ann"


def test_a_canon_record_too_large_for_the_producer_is_a_dead_letter(entity, aggregator):
    """librdkafka refuses a record past the producer's message.max.bytes before sending it:
    an update whose canon record (before and after hold the entity twice) would be that
    large used to stop the aggregator, and again at every start. It is a dead letter
    (TOO_LARGE) now, the key's state stays as it was, and the pipeline goes on."""
    agg = aggregator(entity, extra=("-X", "message.max.bytes=20000"))
    k = key()
    entity.update(k, "crm", 1000, {"email": "a" * 12000})  # before None, after 12 KB: fits
    big = entity.encode(k, "crm", 2000, {"email": "b" * 12000})  # before and after: 24 KB
    part, off = entity.send(k, big)
    entity.update(k, "crm", 3000, {"email": "ann@example.com"})
    dlq = entity.read(entity.dlq, 1)
    assert len(dlq) == 1
    h = headers(dlq[0])
    assert dlq[0].value() == big and h["canon.error.code"] == "TOO_LARGE", h
    assert "limit of 20000 (the producers' message.max.bytes" in h["canon.error.message"], h
    assert int(h["canon.source.offset"]) == off and int(h["canon.source.partition"]) == part
    env = entity.envelopes(2)
    assert [e["version"] for _, e in env] == [1, 2]  # gapless: the rejected update took none
    assert env[1][1]["after"]["email"] == "ann@example.com"
    assert env[1][1]["before"]["email"] == "a" * 12000
    agg.stop()


def newer(a, b):
    """Version order of the design: event_time, then source name, then seq."""
    return (a[0], a[1].encode(), a[2]) > (b[0], b[1].encode(), b[2])


def model_final(updates):
    """Final value per key and field under per-field last-writer-wins (no deletes). Each
    update of gen_updates() has its own seq, so no two share a version and the tie rules of
    docs/aggregator.md (equal versions: DELETE clears, the larger value wins) never apply."""
    state = {}
    for k, src, t, seq, values in updates:
        st = state.setdefault(k, {})
        for f, v in values.items():
            if f not in st or newer((t, src, seq), st[f][0]):
                st[f] = ((t, src, seq), v)
    return {k: {f: v for f, (_, v) in st.items()} for k, st in state.items()}


def wait_caught_up(entity, group, total, timeout=90):
    """Waits until the group's committed offsets cover every produced update."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(entity.kafka.config(group_id=group, enable_auto_commit=False))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            tps = c.committed([TopicPartition(entity.updates, p) for p in range(entity.partitions)], timeout=10)
            done = sum(max(tp.offset, 0) for tp in tps)
            if done >= total:
                return
            time.sleep(0.2)
    finally:
        c.close()
    raise AssertionError(f"aggregator did not catch up: {done} of {total} committed")


def check_versions_and_state(entity, updates, n_canon_min):
    """Reads the whole canon topic: per key the versions are 1..n without gap or duplicate,
    and the last record's `after` equals the model."""
    expect = model_final(updates)
    recs = entity.read(entity.canon, 10**9, timeout=8)
    assert len(recs) >= n_canon_min
    last = {}
    for m in recs:
        k = m.key().decode()
        env = entity.decode(m.value())[1]
        prev = last.get(k, (0, None))[0]
        assert env["version"] == prev + 1, f"key {k}: version {env['version']} after {prev}"
        last[k] = (env["version"], env)
    assert set(last) == set(expect)
    for k, (_, env) in last.items():
        after = env["after"]
        for f, v in expect[k].items():
            assert after[f] == v, (k, f, after[f], v)
    return recs


def gen_updates(rng, keys, n):
    out = []
    fields = {"given_name": ["hr", "crm"], "family_name": ["hr", "crm"], "email": ["hr", "crm", "support"],
              "phone": ["crm", "support"]}
    for i in range(n):
        k = rng.choice(keys)
        f = rng.sample(sorted(fields), rng.randint(1, 3))
        src = rng.choice(["crm"] if "phone" in f and ("given_name" in f or "family_name" in f)
                         else sorted(set.intersection(*(set(fields[x]) for x in f))))
        t = rng.randint(1, 50) * 1000
        out.append((k, src, t, i, {x: f"{x}-{i}" for x in f}))
    return out


def test_kill9_restart_restores_state(entity, aggregator):
    rng = random.Random(7)
    keys = [key() for _ in range(150)]
    updates = gen_updates(rng, keys, 4000)
    encoded = [(k, entity.encode(k, s, t, v, seq=seq)) for k, s, t, seq, v in updates]
    group = "g-" + entity.name
    agg = aggregator(entity, group=group)
    entity.send_many(encoded[:1500])
    wait_caught_up(entity, group, 1500)
    sender = threading.Thread(target=entity.send_many, args=(encoded[1500:3000],))
    sender.start()
    time.sleep(0.3)
    agg.kill()                                   # crash in the middle of the stream
    sender.join()
    agg2 = aggregator(entity, group=group)        # same transactional id: fences, restores
    entity.send_many(encoded[3000:])
    wait_caught_up(entity, group, len(encoded))
    agg2.stop()
    assert "restored" in agg2.text()
    check_versions_and_state(entity, updates, len(keys))
    # a clean restart on top: nothing republished, state equal
    agg3 = aggregator(entity, group=group)
    extra = [(keys[0], "hr", 10**6, 99999, {"given_name": "Last"})]
    entity.update(keys[0], "hr", 10**6, {"given_name": "Last"}, seq=99999)
    wait_caught_up(entity, group, len(encoded) + 1)
    agg3.stop()
    check_versions_and_state(entity, updates + extra, len(keys) + 1)


def test_restore_reads_to_the_high_watermark_past_an_open_transaction(entity, aggregator, kafka):
    """A restore must end at the canon topic's high watermark, not at its last stable
    offset: when the previous owner of a partition is still committing its last
    transaction while the new owner restores (a rebalance; also our own commit right
    before a restore), the restore waits for that transaction instead of ending before it.
    Here another transactional producer holds a canon record of the key in an open
    transaction while the aggregator starts and restores, and commits it 3 s later. A
    restore that stopped at the last stable offset misses that record, and the next update
    of the key repeats its version."""
    import io
    import struct

    import fastavro
    from confluent_kafka import Producer

    k = key()
    group = "g-" + entity.name
    agg = aggregator(entity, group=group)
    entity.update(k, "hr", 1000, {"given_name": "Ann"})
    (rec,) = entity.read(entity.canon, 1)
    agg.stop()
    sid, env = entity.decode(rec.value())
    env.update(version=2, op="UPDATE", before=dict(env["after"]), changed=["given_name"])
    env["after"]["given_name"] = "Bob"
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, entity.reg.parsed(sid), env)
    value = b"\x00" + struct.pack(">I", sid) + buf.getvalue()
    other = Producer(kafka.config(transactional_id="other-" + entity.name))
    other.init_transactions(30)
    other.begin_transaction()
    other.produce(entity.canon, key=k.encode(), value=value, partition=rec.partition())
    other.flush(30)
    agg2 = aggregator(entity, group=group)
    time.sleep(3)                                  # assigned and restoring meanwhile
    other.commit_transaction(30)
    entity.update(k, "crm", 3000, {"email": "b@x"})
    env = entity.envelopes(3, timeout=60)
    agg2.stop()
    assert [e["version"] for _, e in env] == [1, 2, 3], env
    assert env[2][1]["before"]["given_name"] == "Bob" and env[2][1]["after"]["email"] == "b@x"


def test_messages_taken_before_a_rebalance_come_again(entity, aggregator):
    """The aggregator takes up to 64 messages per consume call. When a rebalance runs
    inside a call, the messages taken in it are dropped and their partitions sought back
    to the first of them. A test cannot time a real rebalance into a call, so the hook
    CANON_TEST_REPLAY_EVERY=2 takes that path for every second call: every update must
    still be merged exactly once (a message dropped without the seek would be lost; one
    handled twice would make a duplicate version or a wrong state)."""
    rng = random.Random(11)
    keys = [key() for _ in range(150)]
    updates = gen_updates(rng, keys, 4000)
    encoded = [(k, entity.encode(k, s, t, v, seq=seq)) for k, s, t, seq, v in updates]
    group = "g-" + entity.name
    entity.send_many(encoded[:3000])               # a backlog: full consume calls
    agg = aggregator(entity, group=group, env={"CANON_TEST_REPLAY_EVERY": "2"})
    wait_caught_up(entity, group, 3000)
    entity.send_many(encoded[3000:])
    wait_caught_up(entity, group, len(encoded))
    agg.stop()
    assert "messages taken meanwhile come again" in agg.text()
    check_versions_and_state(entity, updates, len(keys))


def test_an_abort_before_a_new_schema_loses_no_update(entity, aggregator):
    """An update written with a schema the aggregator does not know yet makes it commit
    the open batch before it reads the registry. When that commit fails, the batch is
    aborted and its partitions rewound; the update being handled comes again only if its
    partition was among them, else it must be sought back to. A batch may be flying
    meanwhile (pipelined commits): when it lands just before the abort, a partition that
    was only in that batch is not rewound, so the update must be sought back to there too.

    Each round streams updates to partition P (they go out in one batch), then, while that
    batch's commit is flying, updates to the other partitions (the next, open batch) and
    one update to P written with a newly registered schema. The hook
    CANON_TEST_ABORT_EVERY=2 fails every second commit made before a schema is looked up.
    Every update must be merged exactly once; the update to P is the latest of its key, so
    one skipped shows in the final state. The timing decides how many rounds take the path
    (with -v the aggregator logs "was not rewound by the abort"): 7 or 8 of the 36 in runs
    here, and without the fix the test failed 2 runs of 3 with 24 rounds."""
    from canon_keys import java_partition

    rng = random.Random(17)
    by_part = {}
    while len(by_part) < entity.partitions or min(len(v) for v in by_part.values()) < 20:
        k = key()
        by_part.setdefault(java_partition(k.encode(), entity.partitions), []).append(k)
    group = "g-" + entity.name
    agg = aggregator(entity, group=group, env={"CANON_TEST_ABORT_EVERY": "2"})
    updates, extra, seq = [], [], 0

    def upd(k, schema_id, latest=False):
        nonlocal seq
        seq += 1
        f = rng.sample(["given_name", "family_name", "email"], 2)
        t = 10**6 + seq if latest else rng.randint(1, 50) * 1000   # a skipped latest one shows
        u = (k, "hr", t, seq, {x: f"{x}-{seq}" for x in f})
        updates.append(u)
        return k, entity.encode(u[0], u[1], u[2], u[4], seq=u[3], schema_id=schema_id)

    for i in range(36):
        part = i % entity.partitions
        others = [k for q, ks in by_part.items() if q != part for k in ks]
        old = entity.update_id
        extra.append({"name": f"extra{i}", "type": ["null", "string"], "default": None})
        entity.register(entity.person_schema(extra))
        entity.send_many([upd(rng.choice(by_part[part]), old) for _ in range(10)])
        time.sleep(0.01)
        entity.send_many([upd(rng.choice(others), old) for _ in range(10)] +
                         [upd(rng.choice(by_part[part]), entity.update_id, latest=True)])
        time.sleep(0.2)
    wait_caught_up(entity, group, len(updates), timeout=180)
    agg.stop()
    assert "CANON_TEST_ABORT_EVERY" in agg.text()
    check_versions_and_state(entity, updates, len({u[0] for u in updates}))


def test_schema_evolution_while_running(entity, aggregator, registry):
    aggregator(entity)
    k = key()
    old_id = entity.update_id
    entity.update(k, "hr", 1000, {"given_name": "Ann"})
    assert len(entity.envelopes(1)) == 1
    entity.register(entity.person_schema([{"name": "nickname", "type": ["null", "string"], "default": None}]))
    assert entity.update_id != old_id
    entity.update(k, "crm", 2000, {"nickname": "Annie", "email": "a@x"})
    entity.update(k, "hr", 3000, {"family_name": "Lee"}, schema_id=old_id)   # old writers still apply
    env = entity.envelopes(3)
    assert [e["version"] for _, e in env] == [1, 2, 3]
    assert env[1][1]["after"]["nickname"] == "Annie" and env[1][1]["after"]["email"] == "a@x"
    assert env[2][1]["after"]["family_name"] == "Lee" and env[2][1]["after"]["nickname"] == "Annie"
    recs = entity.read(entity.canon, 3)
    assert entity.decode(recs[2].value())[0] == entity.envelope_id
    assert entity.read(entity.dlq, 1, timeout=2) == []


def test_serves_entities_registered_later(entity, aggregator, registry, kafka, canon, tmp_path):
    """Without --entity the aggregator serves every entity the registry lists, including
    ones registered while it runs, and picks up their new canonical versions from the same
    list. Uses a registry of its own (the session's holds the other tests' entities)."""
    import subprocess
    import urllib.request
    from pathlib import Path
    reg2 = type(registry)(canon, tmp_path / "reg2.db", tmp_path / "reg2.log")
    try:
        log = tmp_path / "agg-all.log"
        proc = subprocess.Popen([canon, "aggregate", "--bootstrap-servers", kafka.bootstrap, "--registry", reg2.url,
                                 "--group-id", "g-all-" + entity.name, "--transactional-id", "tx-all-" + entity.name,
                                 "-v"], stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        time.sleep(1)
        # the same entity name in the second registry: same schemas, so the same ids
        # are not guaranteed; point the helper at reg2
        entity.reg = reg2
        entity.register(entity.person_schema())
        k = key()
        deadline = time.monotonic() + 30
        while "serving entity '%s'" % entity.name not in Path(log).read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        entity.update(k, "hr", 1000, {"given_name": "Zed"})
        env = entity.envelopes(1, timeout=40)
        assert len(env) == 1 and env[0][1]["after"]["given_name"] == "Zed", Path(log).read_text()[-2000:]
        # A new canonical version is picked up by the refresh every 5 s, from the list
        # alone: no request per served entity (GET /canon/entities/{entity}).
        def route_count(route):
            text = urllib.request.urlopen(reg2.url + "/metrics").read().decode()
            return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.split("{", 1)[0].endswith("_count") and f'route="{route}"' in line)
        list_before = route_count("/canon/entities")
        info = entity.register(entity.person_schema([{"name": "nickname", "type": ["null", "string"],
                                                      "default": None}]))
        one_before = route_count("/canon/entities/{entity}")  # (register() asks it too)
        deadline = time.monotonic() + 30
        picked = f"-> {info['id']} (update id {info['updates']['id']}"
        while picked not in Path(log).read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert picked in Path(log).read_text(), Path(log).read_text()[-2000:]
        entity.update(k, "hr", 2000, {"nickname": "Z"})
        env = entity.envelopes(2, timeout=40)
        assert env[1][1]["after"]["nickname"] == "Z" and env[1][1]["version"] == 2
        assert route_count("/canon/entities") > list_before
        assert route_count("/canon/entities/{entity}") == one_before
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "Sanitizer" not in Path(log).read_text()
    finally:
        reg2.stop()


def test_serve_in_process_cluster(canon, registry, entity, tmp_path):
    """`canon serve` without --bootstrap-servers: registry + aggregator on librdkafka's
    in-process cluster (transactions included); /metrics carries the aggregator's."""
    import re
    import subprocess
    import urllib.request
    from pathlib import Path
    db = tmp_path / "serve.db"
    Entity = type(entity)

    def start(*extra):
        p = subprocess.Popen([canon, "serve", "--listen", "127.0.0.1:0", "--db", str(db), "--quiet", *extra],
                             stdout=subprocess.PIPE, stderr=open(tmp_path / "serve.log", "a"), text=True)
        url = re.search(r"listening on (http://\S+)", p.stdout.readline()).group(1)
        return p, url

    p, url = start("--no-aggregator")              # register the entity first
    reg = type(registry).__new__(type(registry))
    reg.url, reg._parsed = url, {}
    name = "serve" + uuid.uuid4().hex[:6]
    reg.post(f"/subjects/canon.{name}.entity/versions", {"schema": json.dumps(Entity.person_schema())})
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    p, url = start()
    reg.url = url
    try:
        line = p.stdout.readline()
        assert "in memory only" in line, line
        boot = re.search(r"at (127\.0\.0\.1:\d+)", line).group(1)

        class Mock:
            bootstrap = boot

            def config(self, **kw):
                d = {"bootstrap.servers": boot}
                d.update({k.replace("_", "."): v for k, v in kw.items()})
                return d

            def create_topic(self, *a, **kw):
                pass

        e = Entity.__new__(Entity)
        e.kafka, e.reg, e.name, e.partitions = Mock(), reg, name, 1
        e.register(Entity.person_schema())
        e.updates, e.canon, e.dlq = f"canon.{name}.updates", f"canon.{name}", f"canon.{name}.dlq"
        from confluent_kafka import Producer
        e.producer = Producer(Mock().config(partitioner="murmur2_random"))
        k = key()
        e.update(k, "hr", 1000, {"given_name": "Ann"})
        e.update(k, "crm", 2000, {"email": "a@x"})
        env = e.envelopes(2, timeout=30)
        assert [(x["version"], x["after"]["email"]) for _, x in env] == [(1, None), (2, "a@x")]
        metrics = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
        assert f'canon_records_out_total{{entity="{name}"}} 2' in metrics
        assert "canon_transactions_total" in metrics
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0
    assert "Sanitizer" not in Path(tmp_path / "serve.log").read_text()


class FailingRegistryProxy:
    """Forwards HTTP requests to the registry, but answers `status` to
    GET /schemas/ids/{id}/versions while `failing` is set."""

    def __init__(self, upstream, status):
        import http.server
        import re
        import urllib.error
        import urllib.request

        proxy = self
        self.failing = False

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body, ctype="application/vnd.schemaregistry.v1+json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def forward(self):
                if proxy.failing and re.fullmatch(r"/schemas/ids/\d+/versions", self.path):
                    return self.answer(status, json.dumps({"error_code": status * 100,
                                                           "message": "made to fail"}).encode())
                n = int(self.headers.get("Content-Length") or 0)
                req = urllib.request.Request(upstream + self.path, data=self.rfile.read(n) if n else None,
                                             method=self.command,
                                             headers={k: v for k, v in self.headers.items()
                                                      if k.lower() in ("content-type", "accept", "authorization")})
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        self.answer(r.status, r.read(), r.headers.get("Content-Type"))
                except urllib.error.HTTPError as e:
                    self.answer(e.code, e.read(), e.headers.get("Content-Type"))

            do_GET = do_POST = do_PUT = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [503, 403])
def test_a_registry_that_fails_stops_the_aggregator_instead_of_dead_lettering(
        status, entity, canon, kafka, registry, tmp_path):
    """An update written with an update schema the aggregator has not loaded (an older
    version here) is checked against the registry (GET /schemas/ids/{id}/versions) before
    it is dead-lettered as UNKNOWN_SCHEMA. A registry answering 5xx, 401 or 403 does not
    say the id is not the entity's: the aggregator must stop with the registry's answer
    rather than dead-letter a good update, and a restart with the registry back applies it."""
    from types import SimpleNamespace

    from aggregator_support import Aggregator

    old = entity.update_id
    entity.register(entity.person_schema([{"name": "nickname", "type": ["null", "string"], "default": None}]))
    proxy = FailingRegistryProxy(registry.url, status)
    agg = agg2 = None
    try:
        k = key()
        agg = Aggregator(canon, kafka, SimpleNamespace(url=proxy.url), entity, tmp_path / "agg.log").start()
        entity.update(k, "hr", 1000, {"given_name": "Ann"})
        assert len(entity.envelopes(1)) == 1
        proxy.failing = True
        entity.update(k, "crm", 2000, {"email": "a@x"}, schema_id=old)
        rc = agg.proc.wait(timeout=60)
        assert rc != 0
        assert f"(HTTP {status})" in agg.text() and "/schemas/ids/" in agg.text()
        assert entity.read(entity.dlq, 1, timeout=2) == []
        agg.check_clean()
        proxy.failing = False
        agg2 = Aggregator(canon, kafka, SimpleNamespace(url=proxy.url), entity, tmp_path / "agg2.log").start()
        env = entity.envelopes(2, timeout=60)
        agg2.stop()
        assert [e["version"] for _, e in env] == [1, 2] and env[1][1]["after"]["email"] == "a@x"
        assert entity.read(entity.dlq, 1, timeout=2) == []
    finally:
        for a in (agg, agg2):
            if a and a.proc.poll() is None:
                a.kill()
        proxy.close()


def test_no_transactions_does_not_commit_past_a_lost_record(entity, aggregator):
    """--no-transactions commits the consumed offsets after the batch's records are
    flushed. A flush returns once nothing waits, delivered or not, so the delivery reports
    must be looked at: here the broker refuses every canon record (the canon topic's
    max.message.bytes is smaller than an envelope). The aggregator must stop saying which
    record was lost, and leave the offsets uncommitted, so that the next start consumes
    the update again."""
    from confluent_kafka import Consumer, TopicPartition

    entity.kafka.create_topic(entity.canon, entity.partitions,
                              {"cleanup.policy": "compact", "max.message.bytes": 64})
    group = "g-" + entity.name
    agg = aggregator(entity, group=group, extra=("--no-transactions",))
    part, _ = entity.update(key(), "hr", 1000, {"given_name": "Ann"})
    rc = agg.proc.wait(timeout=60)
    assert rc != 0
    assert "were not delivered" in agg.text() and entity.canon in agg.text(), agg.text()[-2000:]
    agg.check_clean()
    c = Consumer(entity.kafka.config(group_id=group, enable_auto_commit=False))
    try:
        (tp,) = c.committed([TopicPartition(entity.updates, part)], timeout=10)
    finally:
        c.close()
    assert tp.offset < 1, f"offset {tp.offset} committed past the lost canon record"


def test_sigterm_while_waiting_for_room_in_the_local_queue(entity, aggregator):
    """During a broker outage the producer's local queue fills, and a produce waits for
    room. SIGTERM must end that wait (not leave the process until the broker returns), and
    the batch must be aborted, not committed without the record that did not fit. A
    one-record queue whose record waits out a 60 s linger makes the wait here with the
    broker up: the next start must then publish every update once."""
    group = "g-" + entity.name
    agg = aggregator(entity, group=group, extra=("-X", "queue.buffering.max.messages=1", "-X", "linger.ms=60000",
                                                 "-X", "transaction.timeout.ms=120000"))
    keys = [key() for _ in range(5)]
    for i, k in enumerate(keys):
        entity.update(k, "hr", 1000 + i, {"given_name": f"n{i}"})
    time.sleep(4)                       # consumed; the second record waits for room
    t0 = time.monotonic()
    agg.proc.send_signal(signal.SIGTERM)
    rc = agg.proc.wait(timeout=90)
    took = time.monotonic() - t0
    assert rc == 0 and took < 20, (rc, took, agg.text()[-2000:])
    assert "stopped while the local queue was full" in agg.text()
    agg.check_clean()
    agg2 = aggregator(entity, group=group)
    env = entity.envelopes(5, timeout=60)
    agg2.stop()
    assert sorted(k for k, _ in env) == sorted(keys)
    assert all(e["version"] == 1 for _, e in env)
