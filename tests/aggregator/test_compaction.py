"""test_compaction.py - the state restored from a canon topic the broker has compacted.

The aggregator restores each key's state (fields, per-field versions, provenance, the
delete marker and the version counter) from the last canon record of the key. Compaction
removes every earlier record of a key and leaves gaps in the offsets; a restore must not
depend on what it removed: after a restart on a compacted topic, stale updates stay
stale, a deleted key does not come back from an update older than its delete, and the
versions go on from the last one published. A broker of its own, with a cleaner that
looks every half second and a canon topic that rolls segments every 300 ms. About 40 s:

    CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/aggregator/test_compaction.py
"""
import time
import uuid

from aggregator_support import Aggregator, Entity
from test_pipeline import ms

N_KEYS = 40
N_DELETED = 10


def per_key(entity, records):
    out = {}
    for m in records:
        out.setdefault(m.key().decode(), []).append(entity.decode(m.value())[1])
    return out


def test_restore_from_a_compacted_canon_topic(kafka_broker, registry, canon, tmp_path):
    broker = kafka_broker(props={"log.cleaner.backoff.ms": 500})
    entity = Entity(broker, registry)
    broker.create_topic(entity.canon, entity.partitions, {
        "cleanup.policy": "compact", "segment.ms": 300, "min.cleanable.dirty.ratio": 0.001,
        "min.compaction.lag.ms": 0, "delete.retention.ms": 100})
    keys = [str(uuid.uuid4()) for _ in range(N_KEYS)]
    deleted = set(keys[:N_DELETED])
    items = []
    for k in keys:
        items.append((k, entity.encode(k, "hr", 1000, {"given_name": "Ann", "family_name": "Lee"})))
        items.append((k, entity.encode(k, "crm", 2000, {"email": f"{k[:8]}@example.com"})))
        items.append((k, entity.encode(k, "hr", 3000, {"given_name": "Bea"})))
        if k in deleted:
            items.append((k, entity.encode(k, "hr", 4000, op="DELETE")))
    entity.send_many(items)
    agg = Aggregator(canon, broker, registry, entity, tmp_path / "agg1.log").start()
    published = N_KEYS * 3 + N_DELETED
    assert len(entity.read(entity.canon, published, timeout=60)) == published, agg.text()[-3000:]

    # Compaction runs on rolled segments: an update every 200 ms of one more key in each
    # partition makes a commit (a record and its marker) there, which rolls the segment
    # past its 300 ms.
    rollers, t = {}, 10000
    while len(rollers) < entity.partitions:
        k, t = str(uuid.uuid4()), t + 1
        rollers.setdefault(entity.update(k, "hr", t, {"given_name": "r"})[0], k)
    deadline = time.monotonic() + 90
    while True:
        for k in rollers.values():
            t += 1
            entity.update(k, "hr", t, {"given_name": f"r{t}"})
        left = per_key(entity, entity.read(entity.canon, 10**9, timeout=3))
        if all(len(left.get(k, [])) == 1 for k in keys):
            break
        assert time.monotonic() < deadline, (
            f"not compacted after 90 s: {sum(len(left.get(k, [])) for k in keys)} records "
            f"of {N_KEYS} keys left: {sorted(len(left.get(k, [])) for k in keys)} "
            f"{[[e['version'] for e in left[k]] for k in keys[:5]]}")
        time.sleep(0.2)
    for k in keys:  # what is left of each key is its last record
        assert left[k][0]["version"] == (4 if k in deleted else 3), k
    agg.stop()

    agg = Aggregator(canon, broker, registry, entity, tmp_path / "agg2.log").start()
    items = []
    for k in keys:
        if k in deleted:
            items.append((k, entity.encode(k, "crm", 3500, {"email": "old@example.com"})))  # before the delete
            items.append((k, entity.encode(k, "crm", 6000, {"phone": "+2"})))
        else:
            items.append((k, entity.encode(k, "crm", 1500, {"email": "old@example.com"})))  # stale
            items.append((k, entity.encode(k, "crm", 5000, {"phone": "+1"})))
    entity.send_many(items)
    # (the cleaner goes on meanwhile: what is read is the topic as it is, each time)
    deadline = time.monotonic() + 60
    while True:
        new = per_key(entity, entity.read(entity.canon, 10**9, timeout=3))
        if all(new[k][-1]["version"] > (4 if k in deleted else 3) for k in keys if k in new):
            break
        assert time.monotonic() < deadline, agg.text()[-3000:]
        time.sleep(0.5)
    for k in keys:
        env = new[k][-1]
        assert [e["version"] for e in new[k] if e["version"] > (4 if k in deleted else 3)] == [env["version"]], (k, new[k])
        if k in deleted:
            # one record past the delete: a new life, with nothing from before it
            assert env["version"] == 5 and env["op"] == "CREATE", env
            assert env["before"] is None
            assert env["after"]["phone"] == "+2" and env["after"]["email"] is None
            assert env["after"]["given_name"] is None
        else:
            assert env["version"] == 4 and env["op"] == "UPDATE", env
            a = env["after"]
            assert (a["given_name"], a["family_name"], a["phone"]) == ("Bea", "Lee", "+1")
            assert a["email"] == f"{k[:8]}@example.com"  # the stale email did not apply
            assert env["changed"] == ["phone"]
            prov = env["provenance"]
            assert prov["email"]["source"] == "crm" and ms(prov["email"]["event_time"]) == 2000
            assert prov["given_name"]["source"] == "hr" and ms(prov["given_name"]["event_time"]) == 3000
            assert prov["family_name"]["source"] == "hr" and ms(prov["family_name"]["event_time"]) == 1000
    assert entity.read(entity.dlq, 1, timeout=2) == []
    agg.stop()
