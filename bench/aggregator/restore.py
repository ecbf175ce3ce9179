"""restore.py - restore time and resident memory of `canon aggregate` holding many keys
(issue 5: restore of 1,000,000 keys under 10 s, RSS under 600 MB). Run by restore.sh.

Fills canon.person with one envelope per key (version 1, every field of the example person
schema set, provenance for each), produced directly (no aggregator, no updates): the
envelopes are encoded once per template with fastavro, around a placeholder key that is
then replaced by each key (same length, so the Avro encoding stays valid). Then runs the
aggregator twice with --checkpoint:
  1. no checkpoint yet: the full restore from the canon topic; a clean stop writes the
     checkpoint (every key: the state was built from the topic);
  2. the restart: the restore loads the checkpoint and reads nothing from the topic.
For each run it prints the restore time (the aggregator's own per-partition figures, from
its -v log, summed: partitions restore one after the other), the wall time from the start
of the process to the last restore, the process's CPU time then, and VmRSS / VmHWM once
the state is loaded.
"""
import argparse
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))
sys.path.insert(0, str(ROOT / "tests" / "aggregator"))

import fastavro  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from kafka_fixture import Broker  # noqa: E402
from canon_registry import Registry  # noqa: E402

PLACEHOLDER = "ffffffff-ffff-4fff-bfff-ffffffffffff"
RESTORED = re.compile(r"restored canon\.(\S+) \[(\d+)\]: (\d+) records, (\d+) keys, (\d+) ms "
                      r"\(checkpoint: (\d+) keys\)")
SAVED = re.compile(r"checkpoint canon\.(\S+) \[(\d+)\]: (\d+) of (\d+) keys written \((\w+)\), "
                   r"offset \d+, (\d+) ms")


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def key_of(i):
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def templates(schema, n=4):
    out = []
    srcs = ["hr", "crm", "support"]
    for t in range(n):
        after = {"person_id": PLACEHOLDER, "given_name": f"Given{t}name", "family_name": f"Family{t}",
                 "email": f"person{t}@example.com", "phone": f"+4930123456{t}", "birth_date": 7000 + t,
                 "employment_status": "ACTIVE",
                 "address": {"street": f"Hauptstrasse {t}", "city": "Berlin", "postal_code": "10115",
                             "country": "DE"},
                 "tags": ["a", "b"], "support_tier": "gold"}
        # each field from its own update, at a realistic place in a large updates topic
        prov = {f: {"source": srcs[(t + j) % 3], "event_time": 1700000000000 + t * 1000 + j, "seq": j,
                    "partition": (t + j) % 6, "offset": 10_000_000 + 9 * t + j}
                for j, f in enumerate(k for k in after if k != "person_id")}
        env = {"key": PLACEHOLDER, "version": 1, "op": "CREATE", "before": None, "after": after,
               "changed": [k for k in after if k != "person_id"], "provenance": prov, "deleted": None,
               "cause": {"topic": "canon.person.updates", "partition": 0, "offset": t}}
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, env)
        out.append(buf.getvalue())
    return out


def fill(broker, registry, entity, n_keys, partitions):
    person = json.loads((ROOT / "schemas" / "person.avsc").read_text())
    registry.post(f"/subjects/canon.{entity}.entity/versions", {"schema": json.dumps(person)})
    info = registry.get(f"/canon/entities/{entity}")
    env_id = info["envelope"]["id"]
    schema = registry.parsed(env_id)
    broker.create_topic(f"canon.{entity}.updates", partitions)
    broker.create_topic(f"canon.{entity}", partitions, config={"cleanup.policy": "compact"})
    frame = b"\x00" + struct.pack(">I", env_id)
    tpl = [frame + t for t in templates(schema)]
    ph = PLACEHOLDER.encode()
    p = Producer(broker.config(partitioner="murmur2_random", enable_idempotence=True, linger_ms=50,
                               batch_size=1000000, compression_type="lz4",
                               queue_buffering_max_messages=500000))
    t0 = time.monotonic()
    for i in range(n_keys):
        k = key_of(i).encode()
        v = tpl[i % len(tpl)].replace(ph, k)
        while True:
            try:
                p.produce(f"canon.{entity}", key=k, value=v)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    if p.flush(300) != 0:
        raise RuntimeError("the filler did not flush")
    return time.monotonic() - t0, len(tpl[0])


def proc_status(pid):
    st = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            st[k] = int(v.split()[0]) // 1024
    return st


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run(args, broker, registry, cp, log, label, partitions, timeout):
    cmd = [args.canon_bin, "aggregate", "--bootstrap-servers", broker.bootstrap, "--registry", registry.url,
           "--entity", args.entity, "--group-id", "restore-bench", "--transactional-id", "restore-bench",
           "--checkpoint", str(cp), "-v"]
    log.write_text("")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "a"))
    try:
        deadline = t0 + timeout
        while True:
            got = [m for m in RESTORED.finditer(log.read_text(errors="replace")) if m.group(1) == args.entity]
            if len({m.group(2) for m in got}) >= partitions:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"aggregator exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: not restored within {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        wall = time.monotonic() - t0
        cpu = cpu_s(proc.pid)
        la = loadavg()
        time.sleep(2)  # let the consumers settle: the figure is the steady state holding the keys
        mem = proc_status(proc.pid)
        records = sum(int(m.group(3)) for m in got)
        keys = sum(int(m.group(4)) for m in got)
        from_cp = sum(int(m.group(6)) for m in got)
        ms = sum(int(m.group(5)) for m in got)
        print(f"{label}: {keys} keys restored ({records} canon records read, {from_cp} keys from the "
              f"checkpoint) in {ms / 1000:.2f} s (sum over {partitions} partitions; longest "
              f"{max(int(m.group(5)) for m in got) / 1000:.2f} s); process start to last restore "
              f"{wall:.1f} s wall, {cpu:.1f} s CPU; RSS {mem.get('VmRSS')} MB (peak {mem.get('VmHWM')} MB); "
              f"load average {la}", flush=True)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
        saves = [m for m in SAVED.finditer(log.read_text(errors="replace")) if m.group(1) == args.entity]
        if saves:
            print(f"  checkpoint at the clean stop: {sum(int(m.group(3)) for m in saves)} keys written "
                  f"({', '.join(sorted({m.group(5) for m in saves}))}) in "
                  f"{sum(int(m.group(6)) for m in saves) / 1000:.2f} s; file {cp.stat().st_size // 2**20} MB; "
                  f"load average {loadavg()}", flush=True)
        return keys
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--entity", default="person")
    ap.add_argument("--timeout", type=float, default=600, help="bound on each step, seconds")
    ap.add_argument("--bootstrap", help="use this broker instead of starting one")
    ap.add_argument("--canon-bin", default=os.environ.get("CANON_BIN", str(ROOT / "build" / "canon")))
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="canon-restore-"))
    work.mkdir(parents=True, exist_ok=True)
    broker = Broker(external=args.bootstrap, quick=False) if args.bootstrap else Broker(quick=False)
    registry = None
    rc = 1
    try:
        broker.start()
        registry = Registry(args.canon_bin, work / "reg.db", work / "registry.log")
        secs, size = fill(broker, registry, args.entity, args.keys, args.partitions)
        print(f"filled canon.{args.entity}: {args.keys} envelopes of {size} bytes over {args.partitions} "
              f"partitions in {secs:.1f} s; load average {loadavg()}", flush=True)
        cp = work / "checkpoint.db"
        for f in work.glob("checkpoint.db*"):
            f.unlink()
        k1 = run(args, broker, registry, cp, work / "agg1.log", "from the canon topic", args.partitions,
                 args.timeout)
        k2 = run(args, broker, registry, cp, work / "agg2.log", "from the checkpoint ", args.partitions,
                 args.timeout)
        if k1 != args.keys or k2 != args.keys:
            print(f"FAIL: restored {k1} and {k2} keys, want {args.keys}")
        else:
            rc = 0
    finally:
        if registry:
            registry.stop()
        broker.stop()
    print(f"logs in {work}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
