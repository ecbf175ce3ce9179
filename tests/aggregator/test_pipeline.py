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
    ones registered while it runs. Uses a registry of its own (the session's holds the
    other tests' entities)."""
    import subprocess
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
