"""replay.py - how fast `canon replay` sends dead letters back. Run by replay.sh.

Fills canon.<entity>.dlq directly (no aggregator) with N dead letters as the aggregator
writes them: a framed update of about 150 bytes, keyed by a UUID, with the five
canon.error.* / canon.source.* headers, spread over the partitions. Then times two runs of
`canon replay` on a real broker (tests/kafka/kafka.sh):
  1. --dry-run: read the DLQ and print a line per dead letter (no producer);
  2. the replay itself: read, send back, commit the group's offsets, in transactions of
     --batch records (the command's default, 10,000).
and checks that the updates topic then holds exactly N records. Prints records/s (wall
time of the process) and the process's CPU time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from kafka_fixture import Broker  # noqa: E402


def fill(broker, entity, n, partitions):
    broker.create_topic(f"canon.{entity}.updates", partitions)
    broker.create_topic(f"canon.{entity}.dlq", partitions)
    p = Producer({**broker.config(linger_ms=50, batch_size=1000000, queue_buffering_max_messages=500000),
                  "log_level": 0})
    value = b"\x00\x00\x00\x00\x07" + bytes(range(150))
    t0 = time.monotonic()
    for i in range(n):
        part = i % partitions
        headers = [("canon.error.code", b"WRITER"),
                   ("canon.error.message", b"source 'support' may not write field 'given_name' (canon.writers)"),
                   ("canon.source.topic", f"canon.{entity}.updates".encode()),
                   ("canon.source.partition", str(part).encode()),
                   ("canon.source.offset", str(i // partitions).encode())]
        while True:
            try:
                p.produce(f"canon.{entity}.dlq", key=str(uuid.UUID(int=i)).encode(), value=value,
                          partition=part, headers=headers)
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(300) != 0:
        raise RuntimeError("the filler did not flush")
    return time.monotonic() - t0


def count(broker, topic, partitions):
    c = Consumer({**broker.config(group_id="count-" + uuid.uuid4().hex), "log_level": 0})
    n = 0
    for part in range(partitions):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
        n += hi - lo
    c.close()
    return n


def timed(label, argv, n):
    """Runs argv and prints its wall time, and its own CPU time and peak RSS (wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines, text = out.read().count("\n"), err.read()
    if p.returncode != 0 or lines != n:
        raise RuntimeError(f"{label}: exit {p.returncode}, {lines} lines of {n}:\n{text[-2000:]}")
    print(f"{label:<10} {n} dead letters in {wall:.2f} s = {n / wall:,.0f}/s; CPU "
          f"{ru.ru_utime + ru.ru_stime:.2f} s; peak RSS {ru.ru_maxrss // 1024} MB; "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"           {text.strip().splitlines()[-1]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--canon-bin", required=True)
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--batch", type=int, default=10000)
    args = ap.parse_args()
    entity = "r" + uuid.uuid4().hex[:8]
    broker = Broker(quick=False)
    broker.start()
    try:
        print(f"== canon replay: {args.records} dead letters over {args.partitions} partitions, "
              f"--batch {args.batch}; load {os.getloadavg()[0]:.2f} (2 cores)")
        secs = fill(broker, entity, args.records, args.partitions)
        print(f"filled canon.{entity}.dlq in {secs:.1f} s")
        base = [args.canon_bin, "replay", entity, "--bootstrap-servers", broker.bootstrap,
                "--timeout-ms", "60000"]
        timed("dry run", base + ["--dry-run"], args.records)
        timed("replay", base + ["--batch", str(args.batch)], args.records)
        n = count(broker, f"canon.{entity}.updates", args.partitions)
        # records plus one commit marker per transaction and partition written
        print(f"canon.{entity}.updates: {n} offsets (the {args.records} records and the "
              f"transactions' commit markers)")
        if n < args.records:
            raise RuntimeError("fewer records on the updates topic than replayed")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
