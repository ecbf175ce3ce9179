"""test_checkpoint.py - the aggregator's incremental SQLite checkpoint (--checkpoint) on a
real broker: after a restart only the keys changed since are written; a DELETE that was
checkpointed still refuses older updates after a restore from the checkpoint; a kill -9
between two checkpoints restores the right state (checkpoint plus the canon topic's tail).
`canon serve` takes --checkpoint with a real cluster and refuses it on its in-process one.
test_ops.py has the first checkpoint test (a restart reads no canon record).

    CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/aggregator/test_checkpoint.py
"""
import re
import sqlite3
import time
import uuid

from test_ops import restores

SAVED = re.compile(r"checkpoint canon\.(\S+) \[(\d+)\]: (\d+) of (\d+) keys written \((full|changed)\)")


def saves(agg, entity):
    """[(partition, written, keys, mode)] of every checkpoint save in the -v log."""
    return [(int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5))
            for m in SAVED.finditer(agg.text()) if m.group(1) == entity.name]


def cp_args(cp, interval=1):
    return ("--checkpoint", str(cp), "--checkpoint-interval-s", str(interval))


def by_key(envs):
    last = {}
    for k, e in envs:
        if k not in last or e["version"] > last[k]["version"]:
            last[k] = e
    return last


def test_restart_writes_only_the_changed_keys(entity, aggregator, tmp_path):
    cp = tmp_path / "cp.db"
    n = 40
    keys = [str(uuid.uuid4()) for _ in range(n)]
    agg = aggregator(entity, extra=cp_args(cp))
    entity.send_many([(k, entity.encode(k, "hr", 1000, {"given_name": "A" + k[:4]})) for k in keys])
    assert len(entity.envelopes(n)) == n
    agg.stop()
    first = saves(agg, entity)
    # the first save of each partition takes its state whole (it was built from the canon
    # topic, not from the checkpoint); together they hold every key
    full = [s for s in first if s[3] == "full"]
    assert {p for p, *_ in full} == set(range(entity.partitions)), first
    last_per_part = {p: keys_ for p, _, keys_, _ in first}
    assert sum(last_per_part.values()) == n

    agg2 = aggregator(entity, extra=cp_args(cp))
    got = restores(agg2, entity, entity.partitions)
    assert sum(c for _, _, c in got.values()) == n and sum(r for r, _, _ in got.values()) == 0
    changed = keys[:5]
    entity.send_many([(k, entity.encode(k, "crm", 2000, {"email": k[:4] + "@x"})) for k in changed])
    assert len(entity.envelopes(n + 5)) == n + 5
    agg2.stop()
    second = saves(agg2, entity)
    assert second, agg2.text()[-3000:]
    # loaded from the checkpoint: every save is incremental, and the 5 changed keys are
    # the only ones written (each once: one update per key)
    assert all(mode == "changed" for *_, mode in second), second
    assert sum(w for _, w, _, _ in second) == 5, second
    db = sqlite3.connect(str(cp))
    assert db.execute("SELECT count(*) FROM cp_key WHERE entity=?", (entity.name,)).fetchone()[0] == n
    db.close()


def test_checkpointed_delete_survives_a_restore(entity, aggregator, tmp_path):
    cp = tmp_path / "cp.db"
    k, other = str(uuid.uuid4()), str(uuid.uuid4())
    agg = aggregator(entity, extra=cp_args(cp))
    entity.update(k, "hr", 1000, {"given_name": "Ann"})
    entity.update(other, "hr", 1000, {"given_name": "Bob"})
    entity.update(k, "hr", 3000, op="DELETE")
    env = entity.envelopes(3)
    assert [e["op"] for key_, e in env if key_ == k] == ["CREATE", "DELETE"]
    agg.stop()  # the checkpoint now holds the DELETE

    agg2 = aggregator(entity, extra=cp_args(cp))
    got = restores(agg2, entity, entity.partitions)
    assert sum(r for r, _, _ in got.values()) == 0  # everything from the checkpoint
    assert sum(c for _, _, c in got.values()) == 2
    # older than the DELETE: refused (publishes nothing); newer: a new life, version 3
    entity.update(k, "crm", 2500, {"phone": "+1"})
    entity.update(k, "crm", 4000, {"phone": "+2"})
    env = entity.envelopes(4)
    assert len(env) == 4
    mine = [e for key_, e in env if key_ == k]
    assert [e["version"] for e in mine] == [1, 2, 3]
    assert mine[2]["op"] == "CREATE" and mine[2]["before"] is None
    assert mine[2]["after"]["phone"] == "+2" and mine[2]["after"]["given_name"] is None
    agg2.stop()


def test_kill_between_checkpoints_restores_checkpoint_plus_tail(entity, aggregator, tmp_path):
    cp = tmp_path / "cp.db"
    n = 30
    keys = [str(uuid.uuid4()) for _ in range(n)]
    agg = aggregator(entity, extra=cp_args(cp))
    entity.send_many([(k, entity.encode(k, "hr", 1000, {"given_name": "G" + k[:4]})) for k in keys])
    assert len(entity.envelopes(n)) == n
    agg.stop()  # checkpoint: n keys, version 1 each

    # a long interval: this instance never checkpoints before it is killed
    agg2 = aggregator(entity, extra=cp_args(cp, 3600))
    restores(agg2, entity, entity.partitions)
    new = [str(uuid.uuid4()) for _ in range(5)]
    entity.send_many([(k, entity.encode(k, "crm", 2000, {"email": k[:4] + "@x"})) for k in keys[:10]] +
                     [(k, entity.encode(k, "hr", 2000, {"given_name": "N"})) for k in new])
    before_kill = entity.envelopes(n + 15)
    assert len(before_kill) == n + 15
    agg2.kill()
    assert saves(agg2, entity) == []

    # the restore loads the checkpoint (n keys) and reads the 15 later canon records
    agg3 = aggregator(entity, extra=cp_args(cp))
    got = restores(agg3, entity, entity.partitions)
    assert sum(c for _, _, c in got.values()) == n, got
    assert sum(r for r, _, _ in got.values()) == 15, got
    assert sum(k for _, k, _ in got.values()) == n + 5, got
    # the state is right: the next update of every key continues its versions and its
    # `before` is the last `after`
    last = by_key(before_kill)
    everyone = keys + new
    entity.send_many([(k, entity.encode(k, "crm", 5000, {"phone": "+" + k[:4]})) for k in everyone])
    env = entity.envelopes(n + 15 + len(everyone))
    assert len(env) == n + 15 + len(everyone)
    latest = by_key(env)
    for k in everyone:
        e = latest[k]
        assert e["version"] == last[k]["version"] + 1, (k, e["version"], last[k]["version"])
        assert e["before"] == last[k]["after"]
        assert e["changed"] == ["phone"]
    agg3.stop()
    # this instance loaded the checkpoint, so its saves were incremental: the 15 canon
    # records read in the restore (10 changed + 5 new keys) and the n + 5 phone updates,
    # written in any split over its saves but never more than once per key per save
    mine = saves(agg3, entity)
    assert mine and all(mode == "changed" for *_, mode in mine), mine
    assert sum(w for _, w, _, _ in mine) <= 15 + n + 5
    assert sum(w for _, w, _, _ in mine) >= n + 5


def test_serve_refuses_checkpoint_on_the_in_process_cluster(canon, tmp_path):
    import subprocess
    r = subprocess.run([canon, "serve", "--listen", "127.0.0.1:0", "--db", str(tmp_path / "r.db"),
                        "--checkpoint", str(tmp_path / "cp.db")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "--checkpoint needs --bootstrap-servers" in r.stderr and "in memory only" in r.stderr
    assert not (tmp_path / "cp.db").exists()
    h = subprocess.run([canon, "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert h.returncode == 0 and "--checkpoint FILE" in h.stdout and "--checkpoint-interval-s" in h.stdout


def test_serve_checkpoint_on_a_real_cluster(canon, kafka, tmp_path):
    import signal
    import subprocess
    from aggregator_support import Entity, person_schema
    from canon_registry import Registry
    from test_ops import RESTORED

    class Serve(Registry):
        """`canon serve` (registry + aggregator) seen through the Registry helper."""

        def __init__(self, log):
            self.log = log
            self.proc = subprocess.Popen(
                [canon, "serve", "--listen", "127.0.0.1:0", "--db", str(tmp_path / "reg.db"), "--quiet",
                 "--bootstrap-servers", kafka.bootstrap, "--partitions", "3", "--group-id", "serve-" + name,
                 "--transactional-id", "serve-" + name, "--checkpoint", str(tmp_path / "cp.db"),
                 "--checkpoint-interval-s", "1", "-v"],
                stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
            line = self.proc.stdout.readline()
            m = re.search(r"listening on (http://\S+)", line)
            assert m, (line, open(log).read())
            self.url = m.group(1)
            self._parsed = {}

        def stop(self):
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=60) == 0, open(self.log).read()[-3000:]
            assert "Sanitizer" not in open(self.log).read(), open(self.log).read()[-4000:]

    name = "p" + uuid.uuid4().hex[:10]
    # the updates topic first, so serve's discovery of the entity never races its creation
    kafka.create_topic(f"canon.{name}.updates", 3)
    srv = Serve(tmp_path / "serve1.log")
    try:
        ent = Entity.__new__(Entity)
        ent.kafka, ent.reg, ent.name, ent.partitions = kafka, srv, name, 3
        ent.updates, ent.canon, ent.dlq = f"canon.{name}.updates", f"canon.{name}", f"canon.{name}.dlq"
        from confluent_kafka import Producer
        ent.producer = Producer(kafka.config(partitioner="murmur2_random", enable_idempotence=True))
        ent.register(person_schema())
        keys = [str(uuid.uuid4()) for _ in range(6)]
        ent.send_many([(k, ent.encode(k, "hr", 1000, {"given_name": "S"})) for k in keys])
        assert len(ent.envelopes(6, timeout=60)) == 6
    finally:
        srv.stop()
    db = sqlite3.connect(str(tmp_path / "cp.db"))
    assert db.execute("SELECT count(*) FROM cp_key WHERE entity=?", (name,)).fetchone()[0] == 6
    db.close()
    srv2 = Serve(tmp_path / "serve2.log")
    try:
        deadline = time.monotonic() + 60
        got = {}
        while len(got) < 3 and time.monotonic() < deadline:
            got = {m.group(2): (int(m.group(3)), int(m.group(5)))
                   for m in RESTORED.finditer(open(srv2.log).read()) if m.group(1) == name}
            time.sleep(0.2)
        assert len(got) == 3, open(srv2.log).read()[-3000:]
        assert sum(r for r, _ in got.values()) == 0 and sum(c for _, c in got.values()) == 6
    finally:
        srv2.stop()


def recreate_topic(kafka, name, partitions, timeout=30):
    """Deletes `name` and creates it again empty, compacted as the aggregator makes a canon
    topic (the deletion completes asynchronously: the create is retried meanwhile)."""
    kafka.delete_topic(name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return kafka.create_topic(name, partitions, {"cleanup.policy": "compact"})
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_checkpoint_of_a_recreated_canon_topic_is_detected(entity, aggregator, kafka, tmp_path):
    cp = tmp_path / "cp.db"
    n = 30
    keys = [str(uuid.uuid4()) for _ in range(n)]
    agg = aggregator(entity, extra=cp_args(cp))
    entity.send_many([(k, entity.encode(k, "hr", 1000, {"given_name": "Old"})) for k in keys])
    assert len(entity.envelopes(n)) == n
    agg.stop()  # checkpoint: every key at version 1, "Old"
    assert saves(agg, entity)

    # another history in a new canon topic of the same name: three updates per key, sent
    # key by key, so the topic grows past the checkpoint's offsets (3 records per key
    # against 1) and its tail holds versions 1 of keys the checkpoint has at version 1.
    # The same group as before resumes after the first updates; no checkpoint.
    recreate_topic(kafka, entity.canon, entity.partitions)
    other = aggregator(entity)
    entity.send_many([(k, entity.encode(k, "hr", t, {"given_name": f"New{t}"}))
                      for k in keys for t in (2000, 3000, 4000)])
    new = entity.envelopes(3 * n)
    assert len(new) == 3 * n
    other.stop()
    last = by_key(new)
    assert all(last[k]["version"] == 3 and last[k]["after"]["given_name"] == "New4000" for k in keys)

    again = aggregator(entity, extra=cp_args(cp))
    restores(again, entity, entity.partitions)
    text = again.text()
    assert "the checkpoint does not match the topic, full restore" in text, text[-3000:]
    # every partition was restored from the whole new topic: its 3n records, no key from
    # the checkpoint
    got = restores(again, entity, entity.partitions)
    assert sum(r for r, _, _ in got.values()) == 3 * n, got
    assert all(c == 0 for _, _, c in got.values()), got
    # the state is the new topic's: the next update continues from version 3, "New4000"
    entity.send_many([(k, entity.encode(k, "crm", 5000, {"email": k[:4] + "@x"})) for k in keys])
    env = entity.envelopes(4 * n)
    assert len(env) == 4 * n
    latest = by_key(env)
    for k in keys:
        assert latest[k]["version"] == 4, (k, latest[k]["version"])
        assert latest[k]["before"] == last[k]["after"]
    again.stop()
    # the next saves replace each partition whole
    assert {p for p, _, _, mode in saves(again, entity) if mode == "full"} == set(range(entity.partitions))
