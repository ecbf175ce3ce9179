"""crash.py - the aggregator crash test of issue 5: kill -9 `canon aggregate` at random
moments while updates flow, restart it each time, and check at the end that no update was
lost, no canon version was duplicated or skipped, and the final state equals the merge
model. 200,000 updates and 20 kills by default; the test command runs it with 20,000
updates and 4 kills (tests/aggregator/test_crash.py).

Reuses the test helpers rather than copying them: Broker (tests/kafka/kafka_fixture.py),
Registry (tests/kafka/canon_registry.py), Entity / Aggregator
(tests/aggregator/aggregator_support.py), and the update generator and
merge model (tests/aggregator/test_pipeline.py).

Kill moments: --kills targets drawn uniformly from the updates' range; the driver kills
once the producer has sent the next target's worth and the running instance has committed
a batch of its own, after a random 0-300 ms jitter so the kill lands anywhere in a batch, a
fetch or a commit. The producer sends at a bounded rate (--rate) so the kills spread over
the stream instead of its first seconds.

    python bench/aggregator/crash.py --updates 200000 --keys 10000 --kills 20
    python bench/aggregator/crash.py --checkpoint     # the same with `--checkpoint` (1 s apart)

With --checkpoint every instance shares one SQLite checkpoint file (as restarts on one host
do): restores load it and read the canon topic only from its offset on, so the test also
checks that an incremental checkpoint cut at any moment restores the right state.
Exit status 0 when every check holds; a summary is printed either way.
"""
import argparse
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# tests/kafka has a conftest.py too: tests/aggregator must come first on the path
sys.path.insert(0, str(ROOT / "tests" / "kafka"))
sys.path.insert(0, str(ROOT / "tests" / "aggregator"))

from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402
from kafka_fixture import Broker  # noqa: E402
from aggregator_support import Aggregator, Entity  # noqa: E402
from canon_registry import Registry  # noqa: E402
from test_pipeline import gen_updates, model_final  # noqa: E402


def committed(consumer, entity, attempts=10):
    """Updates the group has committed, summed over partitions. The coordinator may be busy
    (loading, rebalancing, a loaded machine): a timed-out query is retried."""
    for i in range(attempts):
        try:
            tps = consumer.committed([TopicPartition(entity.updates, p) for p in range(entity.partitions)],
                                     timeout=10)
            return sum(max(tp.offset, 0) for tp in tps)
        except KafkaException:
            if i == attempts - 1:
                raise
            time.sleep(0.5)


def produce(entity, encoded, rate, sent, errors):
    """Sends every update at most `rate` per second; sent[0] counts the ones handed over."""
    try:
        chunk = max(1, rate // 20)
        t0 = time.monotonic()
        for i in range(0, len(encoded), chunk):
            for k, v in encoded[i:i + chunk]:
                while True:
                    try:
                        entity.producer.produce(entity.updates, key=k.encode(), value=v)
                        break
                    except BufferError:
                        entity.producer.poll(0.05)
            entity.producer.poll(0)
            sent[0] = min(len(encoded), i + chunk)
            ahead = t0 + sent[0] / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        if entity.producer.flush(120) != 0:
            errors.append("producer did not flush")
    except Exception as exc:  # reported by the main thread
        errors.append(repr(exc))


def read_all(entity, topic, quiet_s=3.0, timeout=600):
    """Reads topic from the beginning, read_committed, until nothing arrives for quiet_s."""
    c = Consumer(entity.kafka.config(group_id="crash-read-" + entity.name + topic, isolation_level="read_committed",
                                     enable_auto_commit=False, auto_offset_reset="earliest"))
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - last < quiet_s:
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    continue
                out.append((m.key().decode(), m.value()))
                last = time.monotonic()
    finally:
        c.close()
    return out


def verify(entity, updates):
    """Returns a list of failures (empty when the run is correct) and the canon record count."""
    failures = []
    expect = model_final(updates)
    recs = read_all(entity, entity.canon)
    last = {}
    dups = gaps = 0
    for k, value in recs:
        env = entity.decode(value)[1]
        prev = last.get(k, (0, None))[0]
        if env["version"] <= prev:
            dups += 1
        elif env["version"] != prev + 1:
            gaps += 1
        if env["version"] > prev:
            last[k] = (env["version"], env)
    if dups:
        failures.append(f"{dups} canon versions duplicated")
    if gaps:
        failures.append(f"{gaps} canon versions skipped")
    missing = set(expect) - set(last)
    if missing:
        failures.append(f"{len(missing)} keys have no canon record")
    extra = set(last) - set(expect)
    if extra:
        failures.append(f"{len(extra)} canon keys never updated")
    wrong = 0
    for k, (_, env) in last.items():
        after = env["after"] or {}
        for f, v in expect.get(k, {}).items():
            if after.get(f) != v:
                wrong += 1
                if wrong <= 5:
                    failures.append(f"key {k} field {f}: canon {after.get(f)!r}, model {v!r}")
    if wrong:
        failures.append(f"{wrong} fields differ from the model")
    dlq = read_all(entity, entity.dlq, quiet_s=2.0)
    if dlq:
        failures.append(f"{len(dlq)} records in the DLQ")
    return failures, len(recs)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt  # so the finally blocks stop the aggregator, registry and broker


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=200000)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rate", type=int, default=0,
                    help="updates produced per second at most (default: spread the stream over about "
                         "10 s per kill, so each restart happens while updates still flow)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800, help="bound on the whole run, seconds")
    ap.add_argument("--bootstrap", help="use this broker instead of starting one")
    ap.add_argument("--canon-bin", default=os.environ.get("CANON_BIN", str(ROOT / "build" / "canon")))
    ap.add_argument("--checkpoint", action="store_true",
                    help="run the aggregator with --checkpoint FILE --checkpoint-interval-s 1")
    ap.add_argument("--workdir", help="logs and registry database (default: a temporary directory)")
    args = ap.parse_args()

    if args.rate <= 0:
        args.rate = max(500, args.updates // max(1, args.kills * 10))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="canon-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.timeout
    broker = Broker(external=args.bootstrap) if args.bootstrap else Broker()
    broker.start()
    registry = None
    agg = None
    t_start = time.monotonic()
    kills_done = 0
    failures = []
    try:
        registry = Registry(args.canon_bin, work / "reg.db", work / "registry.log")
        entity = Entity(broker, registry, partitions=args.partitions)
        keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(args.keys)]  # person_id is a uuid
        updates = gen_updates(rng, keys, args.updates)
        encoded = [(k, entity.encode(k, s, t, v, seq=seq)) for k, s, t, seq, v in updates]
        group = "g-" + entity.name
        targets = sorted(rng.randrange(1, args.updates) for _ in range(args.kills))
        log = work / "aggregate.log"
        cp_args = ("--checkpoint", str(work / "checkpoint.db"), "--checkpoint-interval-s", "1") \
            if args.checkpoint else ()

        def start_aggregator():
            # a killed member holds its partitions until its session times out: keep that
            # short (the broker's minimum) so each restart takes seconds, not 45
            a = Aggregator(args.canon_bin, broker, registry, entity, log, group=group,
                           extra=("-X", "session.timeout.ms=6000", *cp_args))
            a.log_from = log.stat().st_size if log.exists() else 0  # where its own lines start
            return a.start()

        agg = start_aggregator()

        sent, errors = [0], []
        producer = threading.Thread(target=produce, args=(entity, encoded, args.rate, sent, errors), daemon=True)
        producer.start()
        watcher = Consumer(broker.config(group_id=group, enable_auto_commit=False))  # reads the group's commits; never subscribes
        try:
            base = 0

            def all_done(base):
                # the stream is over and committed: the remaining kills hit an idle instance
                return not producer.is_alive() and base >= args.updates

            for target in targets:
                # the instance must have committed a batch of its own first, so each kill
                # hits one that restored its state and works (not one still joining)
                while sent[0] < target or (committed(watcher, entity) <= base and not all_done(base)):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no progress to {target} before the deadline")
                    if agg.proc.poll() is not None:
                        raise RuntimeError(f"aggregator exited with {agg.proc.returncode}")
                    time.sleep(0.05)
                time.sleep(rng.uniform(0, 0.3))
                agg.kill()
                kills_done += 1
                base = committed(watcher, entity)
                print(f"kill {kills_done}/{args.kills}: target {target}, {base} updates committed", flush=True)
                agg = start_aggregator()
            producer.join(max(1, deadline - time.monotonic()))
            if producer.is_alive() or errors:
                raise RuntimeError(f"producer failed: {errors or 'did not finish'}")
            while committed(watcher, entity) < args.updates:
                if time.monotonic() > deadline:
                    raise TimeoutError("the aggregator did not catch up before the deadline")
                time.sleep(0.2)
        finally:
            watcher.close()
        # The last restart may come after everything was committed: stop it only once it
        # is running (its SIGTERM handler installed), or the signal kills it mid-start.
        while b"running (group" not in log.read_bytes()[agg.log_from:]:
            if time.monotonic() > deadline or agg.proc.poll() is not None:
                raise RuntimeError("the last instance did not start: " + agg.text()[-2000:])
            time.sleep(0.1)
        agg.stop()
        agg = None
        elapsed = time.monotonic() - t_start
        failures, n_canon = verify(entity, updates)
        text = log.read_text(errors="replace")
        print(f"crash test: {args.updates} updates, {args.keys} keys, {args.partitions} partitions, "
              f"{kills_done} kill -9 + restart, {elapsed:.1f} s until caught up"
              f"{', with --checkpoint' if args.checkpoint else ''}")
        if args.checkpoint:
            loaded = re.findall(r"restored \S+ \[\d+\]: (\d+) records, \d+ keys, \d+ ms \(checkpoint: (\d+) keys\)", text)
            from_cp = [(int(r), int(c)) for r, c in loaded if int(c) > 0]
            print(f"  restores from the checkpoint: {len(from_cp)} of {len(loaded)} "
                  f"(canon records read by them: {sum(r for r, _ in from_cp)}, keys loaded: "
                  f"{sum(c for _, c in from_cp)}); checkpoint saves logged: "
                  f"{len(re.findall(r'keys written', text))}")
            if not from_cp and kills_done:
                failures.append("no restore used the checkpoint")
        print(f"  canon records: {n_canon}; restores logged: {text.count('restored ')}; "
              f"aborted transactions logged: {text.count('aborting transaction')}")
        if "Sanitizer" in text:
            failures.append("sanitizer report in the aggregator log")
    except Exception as exc:
        failures.append(f"run failed: {exc}")
    finally:
        if agg and agg.proc and agg.proc.poll() is None:
            agg.proc.kill()
            agg.proc.wait(timeout=30)
        if registry:
            registry.stop()
        broker.stop()
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        print(f"  logs in {work}")
        return 1
    print("PASS: no update lost, no canon version duplicated or skipped, final state equals the model, DLQ empty")
    return 0


if __name__ == "__main__":
    sys.exit(main())
