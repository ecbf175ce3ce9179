"""test_rebalance.py - two `canon aggregate` instances in one consumer group on a real broker.

Partitions must move between instances with their state (cooperative-sticky rebalancing,
state restored from the canon topic at assignment): instance A starts alone, B joins while
updates flow (some of A's partitions move to B), then A leaves on SIGTERM while updates
still flow (B takes every partition). Whatever the timing, each key's canon versions across
both instances' output must be 1..n with no gap or duplicate, the final state must equal
the merge model of test_pipeline.py (imported, not copied), and nothing may reach the DLQ.

Every wait is on a condition with a timeout (the machine may be loaded), never a bare sleep.

    CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/aggregator/test_rebalance.py
"""
import random
import re
import threading
import time
import uuid

from test_pipeline import check_versions_and_state, gen_updates, wait_caught_up

PARTITIONS = 6
KEYS = 500
UPDATES = 6000


def wait_for(cond, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def restored_partitions(agg, canon_topic):
    """Partitions of canon_topic the instance has restored (i.e. been assigned), per its log."""
    pat = re.compile(r"restored %s \[(\d+)\]" % re.escape(canon_topic))
    return {int(m.group(1)) for m in pat.finditer(agg.text())}


def start_sender(entity, items):
    t = threading.Thread(target=entity.send_many, args=(items,), daemon=True)
    t.start()
    return t


def test_two_instances_rebalance_mid_stream(entity_factory, aggregator):
    entity = entity_factory(PARTITIONS)
    rng = random.Random(11)
    keys = [str(uuid.uuid4()) for _ in range(KEYS)]
    updates = gen_updates(rng, keys, UPDATES)
    encoded = [(k, entity.encode(k, s, t, v, seq=seq)) for k, s, t, seq, v in updates]
    group = "g-" + entity.name
    a_end, b_end = 2000, 4000

    a = aggregator(entity, group=group, txn_id="tx-a-" + entity.name)
    entity.send_many(encoded[:a_end])
    wait_caught_up(entity, group, a_end)
    assert restored_partitions(a, entity.canon) == set(range(PARTITIONS)), a.text()[-3000:]

    # B joins while updates flow: the group rebalances under load
    sender = start_sender(entity, encoded[a_end:b_end])
    b = aggregator(entity, group=group, txn_id="tx-b-" + entity.name)
    wait_for(lambda: restored_partitions(b, entity.canon), "instance B to be assigned partitions", timeout=60)
    sender.join(timeout=60)
    assert not sender.is_alive(), "producer stuck"
    wait_caught_up(entity, group, b_end)
    b_first = restored_partitions(b, entity.canon)
    assert 0 < len(b_first) < PARTITIONS, (b_first, b.text()[-3000:])

    # A leaves on SIGTERM while updates flow: B takes over every partition
    third = b_end + (UPDATES - b_end) // 2
    sender = start_sender(entity, encoded[b_end:third])
    a.stop()                                       # asserts exit status 0 and no sanitizer report
    wait_for(lambda: restored_partitions(b, entity.canon) == set(range(PARTITIONS)),
             "instance B to own every partition", timeout=60)
    sender.join(timeout=60)
    assert not sender.is_alive(), "producer stuck"
    entity.send_many(encoded[third:])
    wait_caught_up(entity, group, len(encoded), timeout=90)
    b.stop()

    check_versions_and_state(entity, updates, len(keys))
    assert entity.read(entity.dlq, 1, timeout=2) == []
