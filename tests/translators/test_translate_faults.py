"""test_translate_faults.py - `canon translate` through a broker restart and a 30 s outage.

A broker of this module's own (the test stops it; the session's shared broker stays up for
the other suites). One `canon translate` process runs throughout while domain records
arrive in waves: the broker is restarted right after a wave is written (the translator is
in the middle of it), and later stopped for 30 s. The translator must ride through both
without exiting, with nothing lost: once the broker is back it goes on, the group commits
every record, every record's update is in the updates topic (a repeat, allowed by
at-least-once delivery, must be byte-identical), the DLQ is empty, and SIGTERM still stops
it cleanly (exit 0, no sanitizer report).

About 90 s (a 30 s outage, two broker starts):

    CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/translators/test_translate_faults.py
"""
import signal
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition

from canon_keys import person_key
from test_translate import alice

OUTAGE_S = 30


def _committed(domain):
    try:
        return sum(max(o, 0) for o in domain.committed().values())
    except Exception:  # the broker is still coming back: ask again
        return -1


def _wait_committed(domain, proc, want, timeout):
    deadline = time.monotonic() + timeout
    done = -1
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"canon translate exited with {proc.returncode}"
        done = _committed(domain)
        if done >= want:
            return done
        time.sleep(0.3)
    raise AssertionError(f"{done} of {want} records committed after {timeout} s")


def _records_in(broker, topic, partitions):
    c = Consumer(broker.config(group_id="w-fault"))
    try:
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(partitions))
    finally:
        c.close()


def test_translate_rides_through_a_broker_restart_and_an_outage(kafka_broker, domain_factory,
                                                                tmp_path):
    own_broker = kafka_broker()  # its own: the session's broker stays up for the others
    domain = domain_factory(broker=own_broker)
    domain.mapping()
    waves = [5000, 10000, 5000, 5000]
    sent, total = [], 0

    def wave(i):
        nonlocal total
        records = [alice(email=f"w{i}-{j}@example.com") for j in range(waves[i])]
        got = domain.send(records)
        sent.extend((f"w{i}-{j}@example.com", off) for j, (_, off) in enumerate(got))
        total += waves[i]

    log = open(tmp_path / "translate.log", "w+")
    # a short session: after the outage the consumer rejoins without waiting for its old
    # membership to expire (45 s by default)
    proc = subprocess.Popen(domain.args("-X", "session.timeout.ms=6000"), stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wave(0)
        _wait_committed(domain, proc, total, 60)

        wave(1)  # and at once a restart: the translator is in the middle of this wave
        bootstrap = own_broker.bootstrap
        own_broker.restart()
        assert own_broker.bootstrap == bootstrap, "the broker came back on another port"
        assert proc.poll() is None, "canon translate exited during the restart"
        _wait_committed(domain, proc, total, 120)

        wave(2)
        own_broker.stop(keep=True)
        time.sleep(OUTAGE_S)
        assert proc.poll() is None, "canon translate exited during the outage"
        own_broker.start()
        assert own_broker.bootstrap == bootstrap, "the broker came back on another port"
        wave(3)
        assert _wait_committed(domain, proc, total, 180) == total
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        log.seek(0)
        text = log.read()
        log.close()
    assert rc == 0, text[-4000:]
    assert "Sanitizer" not in text, text[-4000:]

    first = {}
    for m, _, u in domain.updates_read():
        k = (str(u["person_id"]), u["seq"])
        if k in first:
            assert first[k] == m.value(), "a repeated update differs from the first"
        first[k] = m.value()
    want = {(person_key(domain.entity, email), off) for email, off in sent}
    assert set(first) == want, (len(set(first)), len(want))
    meta = own_broker.admin().list_topics(timeout=10).topics
    if domain.dlq in meta:
        assert _records_in(own_broker, domain.dlq, len(meta[domain.dlq].partitions)) == 0
    print(f"{total} records, {len(first)} distinct updates; translator log: "
          f"{len(text.splitlines())} lines")
