"""test_broker_faults.py - issue 7, "Kafka broker restarted and stopped for 30 s while the
aggregator runs: it waits, resumes, nothing lost or duplicated".

A broker of this module's own (the tests stop it; the session's shared broker must stay
up for the other suites), `canon aggregate` with its default exactly-once transactions,
and a producer thread sending a bounded stream of updates at a bounded rate through an
idempotent producer that itself retries through the outage (its messages wait in its
queue while the broker is away). Mid-stream, once the aggregator has committed part of
the stream:
  1) the broker is restarted (stopped and started on the same data directory and ports);
  2) the broker is stopped for 30 s, then started again.
After each, the same aggregator process must still be running (it waited, it did not
exit or need a restart), the group must have committed every update the topic holds, and
the canon topic read read_committed must hold per key versions 1..n without gap or
duplicate and a final state equal to the merge model of test_pipeline.py (so no update
was lost, and none applied twice); the DLQ must be empty, the aggregator must say once
per outage that it is waiting for the broker (not once per retry), stop cleanly on
SIGTERM (exit 0) and leave no sanitizer report.

What the aggregator meets on the way (canon/pipeline.c, "broker outages"): commits that
time out and are retried, a transaction whose records timed out (aborted, rewound, its
partitions restored from the canon topic), produce calls refused because the transaction
failed meanwhile, a session timeout and rejoin, and, when the broker's coordinator aborts
the timed-out transaction itself, a fatal INVALID_TXN_STATE that replaces the producer.
Which of these a run meets depends on timing; the outcome checked is the same.

About 2 minutes on the ASan build (a 30 s outage, a broker's stops and starts):

    CANON_BIN=build-asan/canon .venv/bin/python -m pytest -q tests/aggregator/test_broker_faults.py
"""
import random
import re
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from aggregator_support import Aggregator, Entity
from kafka_fixture import Broker
from test_pipeline import check_versions_and_state, gen_updates

N_UPDATES = 20000
N_KEYS = 2000
RATE = 1500  # updates/s: the stream lasts about 13 s, so each fault lands in its middle
OUTAGE_S = 30
WAITING = "broker unreachable, waiting"


@pytest.fixture(scope="module")
def own_broker():
    b = Broker()
    b.start()
    yield b
    b.stop()


def committed(broker, entity, group):
    c = Consumer(broker.config(group_id=group, enable_auto_commit=False))
    try:
        tps = c.committed([TopicPartition(entity.updates, p) for p in range(entity.partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in tps)
    finally:
        c.close()


def wait_committed(broker, entity, group, agg, want, timeout):
    """Waits (bounded) until the group has committed `want` updates; the aggregator must
    stay alive meanwhile. Returns the count."""
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        assert agg.proc.poll() is None, f"aggregator exited ({agg.proc.returncode}):\n{agg.text()[-4000:]}"
        try:
            done = committed(broker, entity, group)
        except Exception:  # the broker is still coming back: ask again
            done = -1
        if done >= want:
            return done
        time.sleep(0.3)
    raise AssertionError(f"{done} of {want} updates committed after {timeout} s:\n{agg.text()[-4000:]}")


class Stream:
    """Sends the encoded updates from a thread at most RATE per second; `sent` counts the
    ones handed to the producer, `error` holds what went wrong.

    The producer is meant to carry its queue through the outage by itself, and usually
    does. confluent-kafka's client was seen (twice in about ten runs) to stall after the
    30 s outage with its queue undelivered and no error: that is the test's producer, not
    the aggregator under test, so after a bounded wait the updates with no delivery report
    are sent again by a fresh producer (`resent`). Some of them may then be in the topic
    twice; the merge makes a repeated update a no-op, and the checks count what the topic
    holds rather than what was sent."""

    def __init__(self, entity, encoded):
        self.entity, self.encoded = entity, encoded
        self.sent, self.resent, self.error = 0, 0, None
        self.delivered = bytearray(len(encoded))
        self.failed = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _cb(self, i):
        def done(err, msg):
            if err is None:
                self.delivered[i] = 1
            else:
                self.failed.append(err)
        return done

    def _send(self, prod, indexes):
        for i in indexes:
            k, v = self.encoded[i]
            prod.produce(self.entity.updates, key=k.encode(), value=v, on_delivery=self._cb(i))

    def _run(self):
        prod = self.entity.producer
        try:
            chunk = RATE // 20
            t0 = time.monotonic()
            for i in range(0, len(self.encoded), chunk):
                self._send(prod, range(i, min(len(self.encoded), i + chunk)))
                prod.poll(0)
                self.sent = min(len(self.encoded), i + chunk)
                ahead = t0 + self.sent / RATE - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            # the outage may still be on: the producer's own retries carry the rest
            if prod.flush(OUTAGE_S + 45):
                rest = [i for i, d in enumerate(self.delivered) if not d]
                self.resent = len(rest)
                fresh = Producer(self.entity.kafka.config(partitioner="murmur2_random",
                                                          enable_idempotence=True))
                self._send(fresh, rest)
                if fresh.flush(60):
                    self.error = f"{sum(1 for d in self.delivered if not d)} updates not delivered"
            if self.failed:
                self.error = f"delivery errors: {self.failed[:3]}"
        except Exception as exc:
            self.error = repr(exc)

    def wait_sent(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while self.sent < n:
            assert time.monotonic() < deadline and self.thread.is_alive(), (self.sent, self.error)
            time.sleep(0.05)


def topic_records(broker, topic, partitions):
    """Records in the topic (the sum of its partitions' high watermarks)."""
    c = Consumer(broker.config(group_id="w-" + uuid.uuid4().hex))
    try:
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    finally:
        c.close()


def run_fault(own_broker, registry, canon, tmp_path, fault, seed):
    t_start = time.monotonic()
    entity = Entity(own_broker, registry, partitions=3)
    rng = random.Random(seed)
    keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(N_KEYS)]
    updates = gen_updates(rng, keys, N_UPDATES)
    encoded = [(k, entity.encode(k, s, t, v, seq=seq)) for k, s, t, seq, v in updates]
    group = "g-" + entity.name
    # A 30 s outage outlasts librdkafka's default group session (45 s counted from the
    # last heartbeat, and the broker's shutdown takes seconds too): the consumer then
    # rejoins under a new member id, and the broker holds that join until the old member
    # expires, another full session. The broker's minimum keeps that wait short; the
    # aggregator's behaviour is the same with the default, only slower.
    agg = Aggregator(canon, own_broker, registry, entity, tmp_path / "agg.log", group=group,
                     extra=("-X", "session.timeout.ms=6000")).start()
    try:
        stream = Stream(entity, encoded)
        stream.thread.start()
        # the fault lands mid-stream, on an aggregator that has restored its partitions and
        # committed transactions of its own
        stream.wait_sent(N_UPDATES // 3)
        wait_committed(own_broker, entity, group, agg, N_UPDATES // 5, timeout=60)
        bootstrap = own_broker.bootstrap
        t_fault = time.monotonic()
        fault(own_broker)
        fault_s = time.monotonic() - t_fault
        assert own_broker.bootstrap == bootstrap, "the broker came back on another port"
        assert agg.proc.poll() is None, f"aggregator exited during the fault:\n{agg.text()[-4000:]}"

        stream.thread.join(OUTAGE_S + 120)
        assert not stream.thread.is_alive() and stream.error is None, \
            f"{stream.error}\nbroker log:\n{own_broker.log_tail(80)}"
        # every update is in the topic once (idempotent producer), or more for the few a
        # stalled client made us send again; the group must have committed them all
        in_topic = topic_records(own_broker, entity.updates, entity.partitions)
        assert in_topic == N_UPDATES or (stream.resent and N_UPDATES < in_topic <= N_UPDATES + stream.resent)
        assert wait_committed(own_broker, entity, group, agg, in_topic, timeout=120) == in_topic
        assert agg.proc.poll() is None, agg.text()[-4000:]
        t_caught_up = time.monotonic() - t_start
    finally:
        agg.stop()  # SIGTERM: exit 0 and no sanitizer report, or the test fails
    check_versions_and_state(entity, updates, N_KEYS)
    assert entity.read(entity.dlq, 1, timeout=3) == []
    text = agg.text()
    print(f"{fault.__name__}: {N_UPDATES} updates, {N_KEYS} keys, fault {fault_s:.1f} s, caught up "
          f"{t_caught_up:.1f} s after the start; aborted transactions: {text.count('aborting transaction')}, "
          f"waits logged: {text.count(WAITING)}, resent by the test's producer: {stream.resent}")
    return text


def restart(broker):
    broker.restart()


def stop_30s(broker):
    broker.stop(keep=True)
    time.sleep(OUTAGE_S)
    broker.start()


def test_broker_restart_mid_stream(own_broker, registry, canon, tmp_path):
    text = run_fault(own_broker, registry, canon, tmp_path, restart, seed=11)
    # a restart is short: the aggregator may or may not have had to wait, but never more
    # than once
    assert text.count(WAITING) <= 1, text[-4000:]


def test_broker_stopped_30s_mid_stream(own_broker, registry, canon, tmp_path):
    text = run_fault(own_broker, registry, canon, tmp_path, stop_30s, seed=12)
    waits = re.findall(r".*" + WAITING + r".*", text)
    # said once per outage, not once per retry (a dozen retries here); a commit that is
    # slow right after the return, while the broker still loads its coordinators, may
    # count as a second, short one
    assert 1 <= len(waits) <= 2, waits or text[-4000:]
