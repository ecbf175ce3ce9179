"""test_topic_config.py - the aggregator keeps to its topics' settings: max.message.bytes,
and a canon topic's retention.

librdkafka fills a record batch up to batch.size (1,000,000 bytes by default), and the
broker refuses a batch larger than its topic's max.message.bytes only after it was sent:
the whole transaction fails, is aborted and rewound, and fails again, forever. The
aggregator reads its canon and DLQ topics' limits when it starts serving an entity and
makes its producers with a batch.size below them (and again when a batch is refused for its
size: a limit lowered while it runs); a single record past its topic's limit
is refused before it is sent: a canon record is a TOO_LARGE dead letter, a dead letter
stops the aggregator with a message saying what to raise, having committed nothing past
it. The canon topic must also keep every key (compacted, or kept forever): the state is
restored from it. Real Kafka; about 50 s:

    CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/aggregator/test_topic_config.py
"""
import signal
import subprocess

from confluent_kafka import Consumer, TopicPartition

from aggregator_support import Aggregator, Entity
from test_pipeline import headers, key
from test_pipelined_commit import set_max_message_bytes

LIMIT = 8000  # the topics' max.message.bytes below: a canon record is 300 to 500 bytes
BATCH = LIMIT - 512  # what the producers are made with (CANON_BATCH_FRAMING)
N_SMALL = 600  # small updates: 200 KB of canon records, batches of 1 MB without the fit


def small_updates(entity, n=N_SMALL):
    keys = [key() for _ in range(n)]
    entity.send_many([(k, entity.encode(k, "hr", 1000, {"given_name": f"n{i}"})) for i, k in enumerate(keys)])
    return keys


def check_small(entity, keys, extra=0):
    """Every small update is one canon record (version 1) and nothing else is missing."""
    recs = entity.read(entity.canon, len(keys) + extra, timeout=60)
    got = {m.key().decode(): entity.decode(m.value())[1] for m in recs}
    missing = [k for k in keys if k not in got]
    assert not missing, f"{len(missing)} of {len(keys)} small updates have no canon record"
    assert all(got[k]["version"] == 1 for k in keys)
    return recs


def test_a_canon_topic_limit_below_the_producers_batches_is_kept_to(entity, aggregator, kafka):
    """Without the fit, the backlog's canon records filled batches past 8,000 bytes, and
    every commit was refused by the broker ("aborting transaction" forever, nothing out).
    A canon record past the topic's limit (but under message.max.bytes) is a dead letter,
    not a refused batch."""
    kafka.create_topic(entity.canon, entity.partitions,
                       {"cleanup.policy": "compact", "max.message.bytes": LIMIT})
    keys = small_updates(entity)
    kb = key()
    entity.update(kb, "crm", 1000, {"email": "a" * 4000})  # after only: fits
    big = entity.encode(kb, "crm", 2000, {"email": "b" * 4000})  # before and after: 8 KB
    part, off = entity.send(kb, big)
    agg = aggregator(entity)
    check_small(entity, keys, extra=1)
    dlq = entity.read(entity.dlq, 1)
    assert len(dlq) == 1 and dlq[0].value() == big
    h = headers(dlq[0])
    assert h["canon.error.code"] == "TOO_LARGE", h
    assert f"limit of {BATCH} (" in h["canon.error.message"], h
    assert (int(h["canon.source.partition"]), int(h["canon.source.offset"])) == (part, off)
    envs = [e for k, e in entity.envelopes(N_SMALL + 1) if k == kb]
    assert [e["version"] for e in envs] == [1] and envs[0]["after"]["email"] == "a" * 4000
    text = agg.text()
    assert f"{entity.canon} takes record batches of at most {LIMIT} bytes" in text, text[-3000:]
    assert f"batch.size {BATCH} (was 1000000)" in text, text[-3000:]
    assert "aborting transaction" not in text, text[-3000:]
    agg.stop()


def test_a_limit_lowered_while_running_is_read_again(entity, aggregator, kafka):
    """The limits are read when an entity is served; one lowered later makes the broker
    refuse a batch, and the aborted transaction makes the aggregator read them again (at
    most every 10 s) and remake its producers. Before that, the commits failed forever."""
    agg = aggregator(entity)
    k0 = key()
    entity.update(k0, "hr", 1000, {"given_name": "Ann"})
    assert len(entity.envelopes(1)) == 1
    set_max_message_bytes(kafka, entity.canon, LIMIT)
    # about 1.2 KB per canon record: a partition's batch passes 8,000 bytes at 7 records
    keys = [key() for _ in range(N_SMALL)]
    entity.send_many([(k, entity.encode(k, "hr", 1000, {"given_name": "n" * 1000})) for k in keys])
    check_small(entity, keys, extra=1)
    text = agg.text()
    assert "Message size too large" in text, text[-3000:]
    assert "reading the topics' max.message.bytes again" in text, text[-3000:]
    assert f"batch.size {BATCH} (was 1000000)" in text, text[-3000:]
    agg.stop()


def committed(kafka, entity, group):
    c = Consumer(kafka.config(group_id=group, enable_auto_commit=False))
    try:
        tps = c.committed([TopicPartition(entity.updates, p) for p in range(entity.partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def test_a_dead_letter_past_the_dlq_limit_stops_and_loses_nothing(entity, aggregator, kafka):
    """A dead letter cannot be written whole into a DLQ of 8,000 bytes, and is not written
    cut: the aggregator stops saying what to raise, with nothing committed past the update.
    Without the check the broker refused the DLQ's batch at every commit, forever. Once the
    limit is raised, a restart writes the dead letter byte for byte and goes on."""
    kafka.create_topic(entity.dlq, entity.partitions, {"max.message.bytes": LIMIT})
    k = key()
    entity.update(k, "hr", 1000, {"given_name": "Ann"})
    garbage = b"\x07" + b"x" * 9000  # not Avro: a FRAMING dead letter of 9 KB
    part, off = entity.send(k, garbage)
    entity.update(k, "hr", 2000, {"given_name": "Bea"})
    group = "g-" + entity.name
    agg = aggregator(entity)
    try:
        rc = agg.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError("the aggregator did not stop:\n" + agg.text()[-3000:])
    text = agg.text()
    assert rc == 1, text[-3000:]
    assert (f"the dead letter of {entity.updates} [{part}] offset {off} (FRAMING) would be "
            in text), text[-3000:]
    assert f"more than {entity.dlq} takes ({BATCH}: its max.message.bytes" in text, text[-3000:]
    assert "raise both" in text
    agg.check_clean()
    assert committed(kafka, entity, group)[part] <= off
    assert entity.read(entity.dlq, 1, timeout=3) == []
    set_max_message_bytes(kafka, entity.dlq, 20000)
    agg2 = aggregator(entity)
    dlq = entity.read(entity.dlq, 1)
    assert len(dlq) == 1 and dlq[0].value() == garbage, agg2.text()[-3000:]
    h = headers(dlq[0])
    assert h["canon.error.code"] == "FRAMING"
    assert (int(h["canon.source.partition"]), int(h["canon.source.offset"])) == (part, off)
    envs = entity.envelopes(2)
    assert [e["version"] for _, e in envs] == [1, 2]  # no duplicate of the first update
    assert envs[1][1]["after"]["given_name"] == "Bea"
    agg2.stop()


def test_an_entity_added_while_running_remakes_the_producers(entity, registry, kafka, canon, tmp_path):
    """Serving every entity (no --entity): one registered while the aggregator runs, with a
    canon topic of 8,000 bytes, makes it commit its open batch and remake both producers
    with the smaller batch.size; the entity served before goes on. Uses a registry of its
    own (the session's holds the other tests' entities)."""
    reg2 = type(registry)(canon, tmp_path / "reg2.db", tmp_path / "reg2.log")
    log = tmp_path / "agg-all.log"
    proc = None
    try:
        entity.reg = reg2
        entity.register(entity.person_schema())
        proc = subprocess.Popen([canon, "aggregate", "--bootstrap-servers", kafka.bootstrap,
                                 "--registry", reg2.url, "--group-id", "g-all-" + entity.name,
                                 "--transactional-id", "tx-all-" + entity.name, "-v"],
                                stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        ka = key()
        entity.update(ka, "hr", 1000, {"given_name": "Ann"})
        assert len(entity.envelopes(1, timeout=40)) == 1, log.read_text()[-3000:]
        # the second entity's topics exist before the registry lists it (registered first
        # in the session's registry only to make its name and updates topic)
        other = Entity(kafka, registry)
        kafka.create_topic(other.canon, other.partitions,
                           {"cleanup.policy": "compact", "max.message.bytes": LIMIT})
        other.reg = reg2
        other.register(other.person_schema())
        keys = small_updates(other)
        check_small(other, keys)
        entity.update(ka, "hr", 2000, {"given_name": "Ada"})
        envs = entity.envelopes(2)
        assert [e["version"] for _, e in envs] == [1, 2] and envs[1][1]["after"]["given_name"] == "Ada"
        text = log.read_text()
        assert f"{other.canon} takes record batches of at most {LIMIT} bytes" in text, text[-3000:]
        assert f"batch.size {BATCH} (was 1000000)" in text, text[-3000:]
        assert "aborting transaction" not in text, text[-3000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert "Sanitizer" not in log.read_text()
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        reg2.stop()


def test_a_canon_topic_that_deletes_keys_is_refused(entity, entity_factory, aggregator, kafka):
    """The state is restored from the canon topic: one that deletes records for their age
    or its size would lose keys, which would come back at version 1 with only their later
    fields. The aggregator refuses to start on it, saying how to fix it; a topic that keeps
    its records forever, compacted or not, is served."""
    for policy, extra in (("delete", {}), ("compact,delete", {"retention.bytes": 10**9})):
        e = entity_factory()
        kafka.create_topic(e.canon, e.partitions, {"cleanup.policy": policy, **extra})
        agg = aggregator(e)
        rc = agg.proc.wait(timeout=60)
        text = agg.text()
        assert rc == 1, text[-3000:]
        assert f"topic {e.canon} has cleanup.policy={policy} with retention.ms=604800000" in text, text[-3000:]
        assert "--add-config cleanup.policy=compact" in text
        agg.check_clean()
    kafka.create_topic(entity.canon, entity.partitions,
                       {"cleanup.policy": "delete", "retention.ms": -1, "retention.bytes": -1})
    agg = aggregator(entity)
    entity.update(key(), "hr", 1000, {"given_name": "Ann"})
    assert len(entity.envelopes(1)) == 1, agg.text()[-3000:]
    agg.stop()
