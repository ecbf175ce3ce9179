"""test_ops.py - operating `canon aggregate` on a real Kafka broker: the consumer lag
metric and the aggregator's own /metrics and /health (--metrics-listen).

    CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/aggregator/test_ops.py
"""
import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest


def metrics_url(agg, timeout=30):
    """The URL `canon aggregate --metrics-listen 127.0.0.1:0` printed on stderr."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"metrics on (http://\S+)/metrics", agg.text())
        if m:
            return m.group(1)
        assert agg.proc.poll() is None, agg.text()[-3000:]
        time.sleep(0.1)
    raise AssertionError("no metrics line: " + agg.text()[-3000:])


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def lags(base, entity):
    """{partition: lag} of the entity's canon_consumer_lag samples."""
    _, _, text = get(base + "/metrics")
    pat = re.compile(r'^canon_consumer_lag\{entity="%s",partition="(\d+)"\} (\d+)$' % entity.name, re.M)
    return {int(p): int(v) for p, v in pat.findall(text)}


def counter(base, name, entity):
    _, _, text = get(base + "/metrics")
    m = re.search(r'^%s\{entity="%s"\} (\d+)$' % (name, entity.name), text, re.M)
    return int(m.group(1)) if m else None


def test_metrics_listen_serves_metrics_and_health(entity, aggregator):
    agg = aggregator(entity, extra=("--metrics-listen", "127.0.0.1:0"))
    base = metrics_url(agg)
    status, ctype, body = get(base + "/health")
    assert status == 200 and "UP" in body and ctype == "application/json"
    k = str(uuid.uuid4())
    entity.update(k, "hr", 1000, {"given_name": "Ann"})
    assert len(entity.envelopes(1)) == 1
    deadline = time.monotonic() + 20
    while counter(base, "canon_records_out_total", entity) != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counter(base, "canon_records_out_total", entity) == 1
    assert counter(base, "canon_updates_in_total", entity) == 1
    status, ctype, body = get(base + "/metrics")
    assert ctype.startswith("text/plain")
    assert "# TYPE canon_consumer_lag gauge" in body
    with pytest.raises(urllib.error.HTTPError) as e:
        get(base + "/nope")
    assert e.value.code == 404
    agg.stop()


def test_metrics_listen_rejects_bad_address(entity, aggregator):
    agg = aggregator(entity, extra=("--metrics-listen", "nohost"))
    assert agg.proc.wait(timeout=60) != 0
    assert "expected HOST:PORT" in agg.text()


def test_a_metrics_address_it_cannot_take_does_not_fence_the_running_instance(entity, aggregator):
    """A second `canon aggregate` of the same entity and transactional id whose
    --metrics-listen is taken or malformed stops before it makes its Kafka clients: their
    init_transactions would fence the running instance, and both would be gone (an
    audit found exactly that with a copy of the running command)."""
    a = aggregator(entity, extra=("--metrics-listen", "127.0.0.1:0"))
    base = metrics_url(a)
    k = str(uuid.uuid4())
    entity.update(k, "hr", 1000, {"given_name": "Ann"})
    assert len(entity.envelopes(1)) == 1
    taken = aggregator(entity, extra=("--metrics-listen", "127.0.0.1:" + base.rsplit(":", 1)[1]))
    assert taken.proc.wait(timeout=60) == 1
    assert "cannot listen" in taken.text(), taken.text()[-2000:]
    bad = aggregator(entity, extra=("--metrics-listen", "nonsense"))
    assert bad.proc.wait(timeout=60) == 2  # a usage error
    entity.update(k, "crm", 2000, {"email": "ann@example.org"})
    env = entity.envelopes(2)
    assert [e[1]["version"] for e in env] == [1, 2], a.text()[-2000:]
    assert a.proc.poll() is None, a.text()[-2000:]
    assert "fenced" not in a.text()


def test_unknown_options_and_arguments_are_named(canon):
    """Each wrong word is named for what it is, as the other commands do, and exits 2."""
    for extra, want in ((["--bogus"], "unknown option '--bogus' (see --help)"),
                        (["extra"], "unexpected argument 'extra' (see --help)"),
                        (["--entity"], "'--entity' needs a value"),
                        (["--registry", "notaurl"],
                         "registry URL 'notaurl' must start with http:// or https://")):
        r = subprocess.run([canon, "aggregate", "--bootstrap-servers", "127.0.0.1:1",
                            "--registry", "http://127.0.0.1:1", *extra],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and want in r.stderr, (extra, r.returncode, r.stderr)


def test_an_unreachable_broker_at_start_is_an_error_not_a_wait(canon, registry, entity):
    """Nothing runs yet at start, so nothing 'resumes when it is back': the start fails
    with its request's error and a hint, and says nothing of waiting."""
    r = subprocess.run([canon, "aggregate", "--bootstrap-servers", "127.0.0.1:1",
                        "--registry", registry.url, "--entity", entity.name],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "is Kafka at --bootstrap-servers reachable?" in r.stderr, r.stderr
    assert "waiting for it" not in r.stderr and "resumes" not in r.stderr, r.stderr


def test_serving_every_entity_waits_for_a_missing_updates_topic(canon, kafka, registry, tmp_path):
    """Without --entity, an entity registered before its updates topic exists is not
    served, and no topic is made with a guessed partition count (canon serve creates it,
    canon aggregate does not): said once, then served when the topic appears, its canon
    topic made with the updates topic's count."""
    from aggregator_support import person_schema
    from pathlib import Path
    reg2 = type(registry)(canon, tmp_path / "reg2.db", tmp_path / "reg2.log")
    proc = None
    try:
        name = "p" + uuid.uuid4().hex[:10]
        reg2.post(f"/subjects/canon.{name}.entity/versions", {"schema": json.dumps(person_schema())})
        log = tmp_path / "agg-wait.log"
        proc = subprocess.Popen([canon, "aggregate", "--bootstrap-servers", kafka.bootstrap,
                                 "--registry", reg2.url, "--group-id", "g-wait-" + name,
                                 "--transactional-id", "tx-wait-" + name, "-v"],
                                stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        said = f"entity '{name}' not served yet"
        deadline = time.monotonic() + 60
        while said not in Path(log).read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, Path(log).read_text()[-2000:]
            time.sleep(0.2)
        time.sleep(11)  # two refreshes more
        text = Path(log).read_text()
        assert text.count(said) == 1, text[-3000:]
        assert f"topic canon.{name}.updates does not exist" in text, text[-3000:]
        topics = kafka.admin().list_topics(timeout=10).topics
        assert f"canon.{name}.updates" not in topics and f"canon.{name}" not in topics
        kafka.create_topic(f"canon.{name}.updates", 2)
        deadline = time.monotonic() + 30
        while f"serving entity '{name}'" not in Path(log).read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert f"serving entity '{name}'" in Path(log).read_text(), Path(log).read_text()[-3000:]
        topics = kafka.admin().list_topics(timeout=10).topics
        assert len(topics[f"canon.{name}"].partitions) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "Sanitizer" not in Path(log).read_text()
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        reg2.stop()


def test_consumer_lag_appears_and_drains(entity, aggregator):
    # Written before the aggregator starts. The aggregator samples its lag once a second
    # while it consumes, so the drain must outlast a few samples: one update per
    # transaction (--batch-max 1) costs a commit of a few broker round trips each, about
    # 1 to 2 ms per update on a fast machine, so 3,000 take several seconds. (400 were too
    # few once commits got quick: drained between two samples, lag never seen above 0.)
    n = 3000
    entity.send_many([(k, entity.encode(k, "hr", 1000, {"given_name": "N"}))
                      for k in (str(uuid.uuid4()) for _ in range(n))])
    agg = aggregator(entity, extra=("--metrics-listen", "127.0.0.1:0", "--batch-max", "1"))
    base = metrics_url(agg)
    seen_max = 0
    deadline = time.monotonic() + 180
    final = None
    while time.monotonic() < deadline:
        cur = lags(base, entity)
        if cur:
            seen_max = max(seen_max, sum(cur.values()))
        done = counter(base, "canon_updates_in_total", entity) == n
        if done and cur and sum(cur.values()) == 0:
            final = cur
            break
        time.sleep(0.1)
    assert seen_max > 0, agg.text()[-3000:]
    assert final is not None, (lags(base, entity), agg.text()[-3000:])
    assert set(final) == set(range(entity.partitions))  # every assigned partition reported
    agg.stop()


RESTORED = re.compile(r"restored canon\.(\S+) \[(\d+)\]: (\d+) records, (\d+) keys, \d+ ms "
                      r"\(checkpoint: (\d+) keys\)")


def restores(agg, entity, want_parts, timeout=60):
    """{partition: (records read, keys, keys from the checkpoint)} from the -v log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {int(m.group(2)): tuple(map(int, m.group(3, 4, 5)))
               for m in RESTORED.finditer(agg.text()) if m.group(1) == entity.name}
        if len(got) >= want_parts:
            return got
        assert agg.proc.poll() is None, agg.text()[-3000:]
        time.sleep(0.2)
    raise AssertionError("no restore lines: " + agg.text()[-3000:])


def test_checkpoint_restart_reads_fewer_records(entity, aggregator, tmp_path):
    import sqlite3
    cp = tmp_path / "cp.db"
    extra = ("--checkpoint", str(cp), "--checkpoint-interval-s", "1")
    n = 60
    keys = [str(uuid.uuid4()) for _ in range(n)]
    agg = aggregator(entity, extra=extra)
    entity.send_many([(keys[i], entity.encode(keys[i], "hr", 1000, {"given_name": f"A{i}"}))
                      for i in range(n)])
    entity.send_many([(keys[i], entity.encode(keys[i], "crm", 2000, {"email": f"{i}@x"}))
                      for i in range(n)])
    first = entity.envelopes(2 * n)
    assert len(first) == 2 * n
    assert restores(agg, entity, entity.partitions) == {k: (0, 0, 0) for k in range(entity.partitions)}
    agg.stop()  # a clean stop writes the checkpoint
    db = sqlite3.connect(str(cp))
    rows = db.execute("SELECT part, canon_offset FROM cp_partition WHERE entity=?", (entity.name,)).fetchall()
    assert len(rows) == entity.partitions and sum(o for _, o in rows) >= 2 * n
    assert db.execute("SELECT count(*) FROM cp_key WHERE entity=?", (entity.name,)).fetchone()[0] == n
    db.close()

    # restart with the checkpoint: every key comes from it, no canon record is read
    agg2 = aggregator(entity, extra=extra)
    got = restores(agg2, entity, entity.partitions)
    assert sum(r for r, _, _ in got.values()) == 0, got
    assert sum(c for _, _, c in got.values()) == n and sum(k for _, k, _ in got.values()) == n
    # the state is the same: versions continue without a gap, `before` is the last `after`
    last = {k: env for k, env in first}
    entity.send_many([(keys[i], entity.encode(keys[i], "crm", 3000, {"phone": f"+{i}"}))
                      for i in range(n)])
    env = entity.envelopes(3 * n)
    assert len(env) == 3 * n
    third = [(k, e) for k, e in env if e["version"] == 3]
    assert len(third) == n
    for k, e in third:
        assert e["op"] == "UPDATE"
        assert e["before"] == last[k]["after"]
        assert e["after"]["given_name"] == last[k]["after"]["given_name"]
        assert e["after"]["email"] == last[k]["after"]["email"]
        assert e["changed"] == ["phone"]
        # provenance kept through the checkpoint, origins (the update's partition, offset)
        # included
        for f in ("given_name", "email"):
            assert e["provenance"][f] == last[k]["provenance"][f]
        assert last[k]["provenance"]["email"]["offset"] >= 0
    agg2.stop()

    # a checkpoint beyond the topic's end is ignored (logged) and the full restore runs
    db = sqlite3.connect(str(cp))
    db.execute("UPDATE cp_partition SET canon_offset = canon_offset + 1000 WHERE entity=?", (entity.name,))
    db.commit()
    db.close()
    agg3 = aggregator(entity, extra=extra)
    got = restores(agg3, entity, entity.partitions)
    assert sum(r for r, _, _ in got.values()) == 3 * n, got
    assert sum(c for _, _, c in got.values()) == 0
    assert "ignored, full restore" in agg3.text()
    # restored from the canon topic, too
    entity.send_many([(keys[i], entity.encode(keys[i], "support", 4000, {"support_tier": "gold"}))
                      for i in range(n)])
    env = entity.envelopes(4 * n)
    fourth = {k: e for k, e in env if e["version"] == 4}
    third = dict(third)
    assert len(fourth) == n
    for k, e in fourth.items():
        for f in ("given_name", "email", "phone"):
            assert e["provenance"][f] == third[k]["provenance"][f]
    agg3.stop()


def test_both_producers_know_the_output_topics_before_their_first_records(entity, aggregator):
    """Each transactional producer asks for the canon and DLQ topics' metadata when the
    entity is added (pipeline.c, learn_topics()). librdkafka 2.0.2 otherwise learns a topic
    it meets at a produce only on its one-second timer, logging "metadata information
    unknown" then: the first commit of every start waited for it (670 to 730 ms, where the
    next ones took 10 to 30). Transactions at low load alternate between the two producers,
    so a few updates one after the other make both send canon records; an undecodable one
    makes one of them send a dead letter."""
    agg = aggregator(entity, extra=("-X", "debug=topic,metadata,eos"))
    for i in range(4):
        entity.update(str(uuid.uuid4()), "hr", 1000 + i, {"given_name": "Ann"})
        assert len(entity.envelopes(i + 1)) == i + 1
    entity.send(str(uuid.uuid4()), b"not an update")
    assert len(entity.read(entity.dlq, 1)) == 1
    lines = agg.text().splitlines()
    # the test reaches both producers, or it proves nothing
    for name in ("rdkafka#producer-1", "rdkafka#producer-2"):
        assert any(name in l and "as part of transaction" in l and entity.canon + " [" in l
                   for l in lines), name + " sent no canon record:\n" + agg.text()[-3000:]
    unknown = [l for l in lines if "metadata information unknown" in l]
    assert not unknown, "\n".join(unknown)
