"""test_replay.py - `canon replay ENTITY` on a real Kafka broker: dead letters go back to
the updates topic once their cause is fixed, byte for byte, each once per group, and the
aggregator merges them as late updates.

Run:  CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/aggregator/test_replay.py
"""
import json
import os
import signal
import subprocess
import time
import uuid

from test_pipeline import headers


def replay(canon, kafka, entity, *args, expect_rc=0, env=None):
    """Runs `canon replay`; returns (stdout JSON lines, stderr)."""
    p = subprocess.run([canon, "replay", entity.name, "--bootstrap-servers", kafka.bootstrap, *args],
                       capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    assert "Sanitizer" not in p.stderr, p.stderr
    assert p.returncode == expect_rc, (p.returncode, p.stdout, p.stderr)
    return [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def wait_dlq(entity, n, timeout=30):
    """The DLQ's records once it has n (Entity.read waits for them), or all by the timeout."""
    return entity.read(entity.dlq, n, timeout=timeout)


def count(entity, topic):
    return len(entity.read(topic, 10**6, timeout=3))


def allow_support_to_write_given_name(entity):
    """A new canonical version whose canon.writers let support write given_name."""
    s = entity.person_schema()
    for f in s["fields"]:
        if f["name"] == "given_name":
            f["canon.writers"] = sorted(set(f["canon.writers"]) | {"support"})
    before = entity.update_id
    entity.register(s)
    assert entity.update_id != before  # canon.writers is in the derived update schema


def test_replay_after_the_writer_is_allowed(canon, kafka, entity, aggregator):
    agg = aggregator(entity)
    k = str(uuid.uuid4())
    entity.update(k, "hr", 1000, {"family_name": "Lee"})
    bad_writer = entity.encode(k, "support", 2000, {"given_name": "Eve"})
    garbage = b"\x07not avro at all"
    at_writer = entity.send(k, bad_writer)
    at_garbage = entity.send(k, garbage)
    dlq = wait_dlq(entity, 2)
    assert sorted(headers(m)["canon.error.code"] for m in dlq) == ["FRAMING", "WRITER"]
    n_updates = count(entity, entity.updates)

    # a dry run says what it would send, and sends and commits nothing
    lines, err = replay(canon, kafka, entity, "--dry-run")
    assert sorted((d["code"], d["key"]) for d in lines) == [("FRAMING", k), ("WRITER", k)]
    assert all(d["message"] for d in lines)
    assert "would replay 2 of 2" in err, err
    assert count(entity, entity.updates) == n_updates

    allow_support_to_write_given_name(entity)
    # the aggregator polls the registry every 5 s between batches
    deadline = time.monotonic() + 30
    while f"update id {entity.update_id}," not in agg.text():
        assert time.monotonic() < deadline, agg.text()[-2000:]
        time.sleep(0.2)

    # only WRITER dead letters: the FRAMING one is passed over (and stays passed over)
    lines, err = replay(canon, kafka, entity, "--reason", "WRITER")
    assert len(lines) == 1, (lines, err)
    d = lines[0]
    assert d["code"] == "WRITER" and d["key"] == k and d["partition"] == at_writer[0]
    assert "replayed 1 of 2" in err and "passed over 1" in err, err
    sent = {(m.partition(), m.offset()): m for m in entity.read(entity.updates, n_updates + 1)}
    m = sent[(d["partition"], d["offset"])]
    assert m.value() == bad_writer and m.key() == k.encode()  # byte for byte
    h = headers(m)
    assert h["canon.replay.topic"] == entity.dlq and h["canon.replay.code"] == "WRITER"
    src = next(x for x in dlq if headers(x)["canon.error.code"] == "WRITER")
    assert (int(h["canon.replay.partition"]), int(h["canon.replay.offset"])) == (src.partition(), src.offset())

    # the aggregator applied it as a late update: given_name set, provenance names the replay
    env = entity.envelopes(2)
    assert len(env) == 2, env
    after = env[1][1]
    assert after["after"]["given_name"] == "Eve" and after["after"]["family_name"] == "Lee"
    prov = after["provenance"]["given_name"]
    assert prov["source"] == "support" and (prov["partition"], prov["offset"]) == (d["partition"], d["offset"])

    # the group's offsets moved past both: a second run has nothing left
    lines, err = replay(canon, kafka, entity)
    assert lines == [] and "replayed 0 of 0" in err, err

    # --from-beginning goes over the whole DLQ again; the WRITER one is now a no-op and
    # the garbage is rejected again, keeping the headers that name its first dead letter
    lines, err = replay(canon, kafka, entity, "--from-beginning")
    assert sorted(d["code"] for d in lines) == ["FRAMING", "WRITER"], (lines, err)
    dlq = wait_dlq(entity, 3)
    assert len(dlq) == 3
    again = [m for m in dlq if "canon.replay.offset" in headers(m)]
    assert len(again) == 1 and again[0].value() == garbage
    h = headers(again[0])
    assert h["canon.error.code"] == "FRAMING" and h["canon.replay.code"] == "FRAMING"
    first = next(x for x in dlq if int(headers(x)["canon.source.offset"]) == at_garbage[1]
                 and "canon.replay.offset" not in headers(x))
    assert int(h["canon.replay.offset"]) == first.offset()
    time.sleep(2)
    assert len(entity.envelopes(3, timeout=3)) == 2  # nothing new published


def test_replay_stops_at_the_end_it_started_with(canon, kafka, entity_factory, aggregator):
    """A dead letter that can never apply is rejected again by the aggregator while the
    replay runs; the run does not chase it, the next run takes it once. Here the replay
    fetches one record batch at a time (librdkafka then waits about a second before the
    next fetch), so the aggregator's new dead letters are on the DLQ well before the
    replay reaches the end it started with."""
    entity = entity_factory(partitions=1)
    aggregator(entity)
    keys = [str(uuid.uuid4()) for _ in range(20)]
    for i in range(0, 20, 5):  # one aggregator transaction, so one DLQ batch, each
        entity.send_many([(k, b"\x00\x00\x00\x00\x00") for k in keys[i:i + 5]])  # schema id 0
        assert len(wait_dlq(entity, i + 5)) == i + 5
    slow = ["-X", "max.partition.fetch.bytes=1", "-X", "queued.min.messages=1", "--batch", "5"]
    lines, err = replay(canon, kafka, entity, *slow)
    assert len(lines) == 20 and {d["code"] for d in lines} == {"UNKNOWN_SCHEMA"}, err
    assert "replayed 20 of 20" in err, err
    assert len(wait_dlq(entity, 40)) == 40
    time.sleep(1)
    lines, err = replay(canon, kafka, entity)
    assert len(lines) == 20, err  # the 20 new ones, not the 20 already replayed


def test_an_interrupted_replay_keeps_what_it_committed(canon, kafka, entity_factory, aggregator, tmp_path):
    """Ctrl-C in the middle: what was read is committed with the group's offsets, the run
    exits 1, and the next run goes on from there: no dead letter replayed twice, none
    skipped. (Slow fetches as above, so the run is still reading when interrupted.)"""
    entity = entity_factory(partitions=1)
    aggregator(entity)
    keys = [str(uuid.uuid4()) for _ in range(20)]
    for i in range(0, 20, 5):
        entity.send_many([(k, b"\x00\x00\x00\x00\x00") for k in keys[i:i + 5]])
        assert len(wait_dlq(entity, i + 5)) == i + 5
    original = sorted(m.offset() for m in wait_dlq(entity, 20))
    slow = ["-X", "max.partition.fetch.bytes=1", "-X", "queued.min.messages=1", "--batch", "5"]
    with open(tmp_path / "replay.err", "w+") as errf:
        p = subprocess.Popen([canon, "replay", entity.name, "--bootstrap-servers", kafka.bootstrap, *slow],
                             stdout=subprocess.PIPE, stderr=errf, text=True)
        first_line = p.stdout.readline()  # the first transaction has committed
        time.sleep(2.5)  # a few more read (one a second), sent in the open transaction
        p.send_signal(signal.SIGINT)
        rest = p.stdout.read()
        p.wait(timeout=60)
        errf.seek(0)
        err = errf.read()
    assert "Sanitizer" not in err, err
    assert p.returncode == 1 and "interrupted" in err, (p.returncode, err)
    first = [json.loads(line) for line in (first_line + rest).splitlines()]
    assert 5 <= len(first) < 20, (first, err)
    lines, err = replay(canon, kafka, entity)
    done_first = {d["dlq_offset"] for d in first}
    done_second = {d["dlq_offset"] for d in lines}
    assert not done_first & done_second                      # none twice
    assert set(original) <= done_first | done_second         # none skipped
    assert len(first) + len(lines) == len(done_first | done_second)


def test_replay_usage_errors(canon, kafka, entity):
    p = subprocess.run([canon, "replay", "--bootstrap-servers", kafka.bootstrap], capture_output=True, text=True)
    assert p.returncode == 2 and "ENTITY is required" in p.stderr
    p = subprocess.run([canon, "replay", entity.name, "--bootstrap-servers", kafka.bootstrap, "--batch", "0"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--batch wants a number >= 1" in p.stderr
    # a misspelt code would pass over every dead letter for good: refused, with the codes
    p = subprocess.run([canon, "replay", entity.name, "--bootstrap-servers", kafka.bootstrap, "--reason", "WRITERS"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "no rejection code 'WRITERS'" in p.stderr, p.stderr
    assert " WRITER " in p.stderr and "UNLISTED_SOURCE" in p.stderr, p.stderr
    # no aggregator has run: the DLQ does not exist yet
    _, err = replay(canon, kafka, entity, expect_rc=1)
    assert f"canon.{entity.name}.dlq" in err and "creates it when it starts" in err, err
    p = subprocess.run([canon, "replay", "nosuch" + uuid.uuid4().hex[:6], "--bootstrap-servers",
                        kafka.bootstrap], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "is the entity name right?" in p.stderr, p.stderr
