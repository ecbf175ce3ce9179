"""test_pipelined_commit.py - the pipelined commit of canon/pipeline.c under failing commits.

The aggregator commits a batch on its commit thread while its loop merges the next batch,
whose records it holds until that commit lands (docs/aggregator.md, "Pipelined commit").
When the flying commit fails, both batches must go: the failed transaction is aborted,
the held records are dropped, and every partition either batch read from is rewound and
restored from the canon topic.

To make commits fail on a real broker, deterministically and for a while, the canon topic
is created beforehand with `max.message.bytes` smaller than any envelope: the broker
refuses every canon record (MESSAGE_TOO_LARGE), which makes each transaction abortable.
A backlog of updates is in the updates topic before the aggregator starts, so its loop
always has prefetched updates to merge while a commit is in flight. After a few seconds
of failing commits the limit is lifted, and the aggregator must then catch up by itself
(the same process) with exactly-once output: per key versions 1..n without gap or
duplicate, the final state equal to the merge model, every update committed, and an empty
DLQ.

About 30 s on the ASan build:

    CANON_BIN=build-asan/canon .venv/bin/python -m pytest -q tests/aggregator/test_pipelined_commit.py
"""
import random
import re
import time
import uuid

from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from aggregator_support import Aggregator, Entity
from test_broker_faults import wait_committed
from test_pipeline import check_versions_and_state, gen_updates

N_UPDATES = 20000
N_KEYS = 2000
REFUSING_S = 6


def set_max_message_bytes(kafka, topic, value):
    """Sets (value) or removes (None) the topic's max.message.bytes."""
    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    entry = ConfigEntry("max.message.bytes", str(value) if value is not None else None,
                        incremental_operation=op)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    for fut in kafka.admin().incremental_alter_configs([res]).values():
        fut.result(timeout=30)


def test_failing_commits_drop_the_held_batch(kafka, registry, canon, tmp_path):
    entity = Entity(kafka, registry, partitions=3)
    rng = random.Random(21)
    keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(N_KEYS)]
    updates = gen_updates(rng, keys, N_UPDATES)
    # an envelope is a few hundred bytes: the broker refuses every canon record batch
    kafka.create_topic(entity.canon, entity.partitions,
                       {"cleanup.policy": "compact", "max.message.bytes": 100})
    entity.send_many([(k, entity.encode(k, s, t, v, seq=seq)) for k, s, t, seq, v in updates])
    group = "g-" + entity.name
    # A long linger and batches well under librdkafka's batch.size keep the records in the
    # producer until the commit flushes them, so the broker's refusal surfaces in the
    # commit thread's commit (a flying failure, with a held batch behind it) rather than
    # in a produce of the open batch, which the loop aborts by itself.
    agg = Aggregator(canon, kafka, registry, entity, tmp_path / "agg.log", group=group,
                     extra=("-X", "linger.ms=5000", "--batch-max", "500")).start()
    try:
        deadline = time.monotonic() + 60
        while "aborting transaction" not in agg.text():
            assert agg.proc.poll() is None, agg.text()[-4000:]
            assert time.monotonic() < deadline, "no commit failed:\n" + agg.text()[-4000:]
            time.sleep(0.2)
        time.sleep(REFUSING_S)
        assert agg.proc.poll() is None, agg.text()[-4000:]
        # while refused, nothing reached the canon topic and no offset was committed
        assert entity.read(entity.canon, 1, timeout=2) == []
        set_max_message_bytes(kafka, entity.canon, None)
        assert wait_committed(kafka, entity, group, agg, N_UPDATES, timeout=180) == N_UPDATES
        assert agg.proc.poll() is None, agg.text()[-4000:]
    finally:
        agg.stop()  # SIGTERM: exit 0 and no sanitizer report, or the test fails
    check_versions_and_state(entity, updates, N_KEYS)
    assert entity.read(entity.dlq, 1, timeout=3) == []
    text = agg.text()
    aborts = re.findall(r"aborting transaction \((.*)\): rewinding", text)
    # the refused records fail the flying commit; at least one of those aborts must also
    # have dropped a held batch (the backlog keeps the loop merging meanwhile)
    held = [int(n) for n in re.findall(r"with the next batch's (\d+) updates, merged meanwhile", text)]
    print(f"{len(aborts)} aborted transactions, {len(held)} of them with a held batch "
          f"(largest {max(held, default=0)} updates); first reason: {aborts[0] if aborts else '-'}")
    assert aborts, text[-4000:]
    assert any(n > 0 for n in held), text[-4000:]
