"""test_broker.py - the project's real-Kafka tooling works, and the clients agree with it.

What the integration tests of the bindings and the aggregator rely on, checked against a
broker started by kafka.sh: plain produce/consume, transactions seen through
read_committed (from Python, and from C with the machine's librdkafka), data surviving a
broker restart, independent brokers side by side, and murmur2 partitioning that puts every
key where Java's producer puts it.

Run: .venv/bin/python -m pytest -q tests/kafka
"""
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

HERE = Path(__file__).resolve().parent
KAFKA_SH = HERE / "kafka.sh"


def cache_dir():
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("CANON_KAFKA_CACHE", default / "canongate" / "kafka-4.1.1"))


def consume(broker, topic, isolation="read_committed", want=None, idle=3.0, timeout=30.0):
    """All (key, value, partition) of `topic` from the start: stops after `want` records,
    or when nothing came for `idle` seconds (and at least one partition was assigned)."""
    c = Consumer(broker.config(group_id=f"g-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
                               enable_auto_commit=False, isolation_level=isolation))
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                if want is None and c.assignment() and time.monotonic() - last > idle:
                    break
                continue
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                continue
            out.append((m.key(), m.value(), m.partition()))
            last = time.monotonic()
            if want is not None and len(out) >= want:
                # a little longer: a record too many must show up
                extra = c.poll(1.0)
                if extra is not None and not extra.error():
                    out.append((extra.key(), extra.value(), extra.partition()))
                break
    finally:
        c.close()
    return out


def produce(broker, topic, records, **conf):
    p = Producer(broker.config(**conf))
    errors = []
    for k, v in records:
        p.produce(topic, key=k, value=v, on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0
    assert not errors, errors


def java_partitions(keys, partitions):
    """{key: partition} as Java's KafkaProducer computes it (BuiltInPartitioner, murmur2),
    from kafka-clients in the kafka.sh cache."""
    libs = cache_dir() / "libs"
    cp = f"{libs / 'kafka-clients-4.1.1.jar'}:{libs / 'slf4j-api-1.7.36.jar'}"
    java = os.environ.get("CANON_KAFKA_JAVA") or shutil.which("java")
    r = subprocess.run([java, "-cp", cp, str(HERE / "JavaPartitioner.java"), str(partitions)],
                       input="\n".join(keys) + "\n", capture_output=True, text=True, timeout=120,
                       encoding="utf-8")
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        key, part, _murmur = line.rsplit(" ", 2)
        out[key] = int(part)
    assert len(out) == len(set(keys)), r.stdout[:2000]
    return out


# Keys of every length from 0 to 24 bytes (murmur2 mixes the tail of 1, 2 or 3 bytes
# differently), non-ASCII ones, and key shapes the project uses (uuids, entity ids).
KEYS = ["", "a"] + ["k" * n for n in range(2, 25)] + [
    "été", "Ωμέγα", "ключ", "鍵", "person-42", "00000000-0000-0000-0000-000000000000",
] + [str(uuid.UUID(int=i * 7919 + 1)) for i in range(40)] + [f"key-{i}" for i in range(200)]


def test_start_prints_a_usable_broker(kafka):
    host, port = kafka.bootstrap.split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert kafka.running()
    md = kafka.admin().list_topics(timeout=10)
    assert len(md.brokers) == 1
    if kafka.start_seconds is not None:
        print(f"broker start took {kafka.start_seconds:.1f} s")


def test_produce_and_consume(kafka):
    topic = kafka.unique_topic("plain", partitions=3)
    records = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(300)]
    produce(kafka, topic, records, partitioner="murmur2_random")
    got = consume(kafka, topic, want=len(records))
    assert sorted((k, v) for k, v, _ in got) == sorted(records)
    assert {p for _, _, p in got} == {0, 1, 2}


def test_auto_create_is_off(kafka):
    p = Producer(kafka.config(message_timeout_ms=3000))
    errors = []
    p.produce(f"never-created-{uuid.uuid4().hex[:8]}", value=b"x",
              on_delivery=lambda e, m: errors.append(e))
    p.flush(10)
    assert errors and errors[0] is not None, "a produce to a missing topic must fail"


def test_topic_configs_apply(kafka):
    from confluent_kafka.admin import ConfigResource

    topic = kafka.unique_topic("compact", partitions=2, config={"cleanup.policy": "compact"})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = kafka.admin().describe_configs([res])[res].result(10)
    assert configs["cleanup.policy"].value == "compact"


def test_python_transactions_read_committed(kafka):
    topic = kafka.unique_topic("txn", partitions=2)
    p = Producer(kafka.config(transactional_id=f"py-{uuid.uuid4().hex[:8]}"))
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(20):
        p.produce(topic, key=f"c{i}".encode(), value=b"committed")
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, key=f"a{i}".encode(), value=b"aborted")
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(20, 40):
        p.produce(topic, key=f"c{i}".encode(), value=b"committed")
    p.commit_transaction(30)

    committed = consume(kafka, topic, "read_committed", want=40)
    assert len(committed) == 40
    assert {v for _, v, _ in committed} == {b"committed"}
    uncommitted = consume(kafka, topic, "read_uncommitted", want=50)
    assert sum(v == b"aborted" for _, v, _ in uncommitted) == 10


def test_python_murmur2_matches_java(kafka):
    partitions = 12
    topic = kafka.unique_topic("murmur", partitions=partitions)
    placed = {}
    p = Producer(kafka.config(partitioner="murmur2_random"))
    for k in KEYS:
        p.produce(topic, key=k.encode(), value=b"v",
                  on_delivery=lambda e, m: placed.__setitem__(m.key().decode(), m.partition()))
    assert p.flush(30) == 0
    assert len(placed) == len(KEYS)
    java = java_partitions(KEYS, partitions)
    wrong = {k: (placed[k], java[k]) for k in KEYS if placed[k] != java[k]}
    assert not wrong, f"librdkafka (python) vs Java partition differ: {wrong}"
    # and not trivially: the keys spread over many partitions
    assert len(set(java.values())) >= partitions - 1


@pytest.fixture(scope="module")
def txn_check(tmp_path_factory):
    """txn_check.c built against the machine's librdkafka, with ASan and UBSan where the
    compiler has them (it is small: the sanitizers cost nothing here)."""
    cc = os.environ.get("CC", "cc")
    out = tmp_path_factory.mktemp("txn_check") / "txn_check"
    flags = ["-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes", "-Wformat=2", "-Werror",
             "-O1", "-g", "-fno-omit-frame-pointer"]
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    cmd = [cc, *flags, *san, str(HERE / "txn_check.c"), "-o", str(out), "-lrdkafka"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 and "sanitize" in r.stderr:
        cmd = [cc, *flags, str(HERE / "txn_check.c"), "-o", str(out), "-lrdkafka"]
        r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    return out


def test_c_transactions_and_murmur2(kafka, txn_check):
    """The machine's librdkafka (Debian's 2.0.2) commits and aborts transactions against
    this broker, read_committed hides the aborted records, and its murmur2_random
    partitioner agrees with Java's."""
    topic = f"c-txn-{uuid.uuid4().hex[:8]}"
    partitions = 6
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")
    r = subprocess.run([str(txn_check), kafka.bootstrap, topic, "200", str(partitions)],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, f"txn_check failed:\n{r.stderr[-4000:]}"
    ok = [line for line in r.stdout.splitlines() if line.startswith("ok ")]
    assert ok, r.stdout[-2000:]
    print(ok[0])
    c_placed = {}
    for line in r.stdout.splitlines():
        if line.startswith("partition "):
            _, key, part = line.split()
            c_placed[key] = int(part)
    assert len(c_placed) == 200
    java = java_partitions(sorted(c_placed), partitions)
    wrong = {k: (c_placed[k], java[k]) for k in c_placed if c_placed[k] != java[k]}
    assert not wrong, f"librdkafka (C) vs Java partition differ: {wrong}"


def test_restart_keeps_data_and_brokers_are_independent(kafka, kafka_broker):
    b = kafka_broker()
    # side by side with the session broker: other ports, other cluster, other dir
    assert b.bootstrap != kafka.bootstrap and b.dir
    assert b.cluster_id() != kafka.cluster_id()
    topic = b.create_topic("survives", partitions=2)
    p = Producer(b.config(transactional_id="restart-test"))
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(50):
        p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    p.commit_transaction(30)
    del p
    # a consumer group's committed offsets must survive too
    c = Consumer(b.config(group_id="restart-group", auto_offset_reset="earliest",
                          enable_auto_commit=False))
    c.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 30
    while seen < 20 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            seen += 1
            if seen == 20:
                c.commit(message=m, asynchronous=False)
    c.close()
    assert seen == 20
    cluster = b.cluster_id()
    state_dir = b.dir

    b.stop(keep=True)
    assert Path(state_dir, "data").is_dir(), "stop --keep must keep the data"
    assert not b.running()
    b.start()
    assert b.dir == state_dir
    assert b.cluster_id() == cluster
    got = consume(b, topic, want=50)
    assert sorted(v for _, v, _ in got) == sorted(f"v{i}".encode() for i in range(50))
    from confluent_kafka import TopicPartition

    c = Consumer(b.config(group_id="restart-group"))
    offsets = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    c.close()
    assert sum(max(tp.offset, 0) for tp in offsets) > 0, offsets

    b.stop()
    assert not Path(state_dir).exists(), "stop without --keep removes the state dir"


def test_script_reports_errors(tmp_path):
    r = subprocess.run([str(KAFKA_SH), "status", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and "stopped" in r.stdout
    r = subprocess.run([str(KAFKA_SH), "env", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode != 0 and "no broker" in r.stderr
    # a dir kafka.sh did not make is never removed
    (tmp_path / "precious").write_text("x")
    r = subprocess.run([str(KAFKA_SH), "stop", str(tmp_path)], capture_output=True, text=True)
    assert (tmp_path / "precious").exists()
    r = subprocess.run([str(KAFKA_SH), "bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "kafka.sh start" in r.stderr


def test_failed_start_says_why(tmp_path):
    """A broker that cannot start: `start` fails within its timeout, with the log tail."""
    env = dict(os.environ, CANON_KAFKA_QUICK="1", CANON_KAFKA_START_TIMEOUT="60",
               CANON_KAFKA_PROPS="num.io.threads=not-a-number")
    state = tmp_path / "broken"
    r = subprocess.run([str(KAFKA_SH), "start", str(state)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode != 0
    assert "exited during start-up" in r.stderr and "num.io.threads" in r.stderr, r.stderr
    assert not (state / "kafka.pid").exists()


def test_watchdog_stops_a_broker_whose_runner_died():
    """CANON_KAFKA_WATCH_PID: a broker outlives no test run, even one killed -9."""
    runner = subprocess.Popen(["sleep", "600"])
    try:
        env = dict(os.environ, CANON_KAFKA_QUICK="1", CANON_KAFKA_WATCH_PID=str(runner.pid))
        r = subprocess.run([str(KAFKA_SH), "start"], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        from kafka_fixture import parse_env

        values = parse_env(r.stdout)
        state_dir, pid = values["KAFKA_DIR"], int(values["KAFKA_PID"])
        time.sleep(1.5)
        assert Path(state_dir).is_dir(), "the watchdog must leave a live runner's broker alone"
    finally:
        runner.kill()
        runner.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (Path(state_dir).exists() or _alive(pid)):
        time.sleep(0.2)
    assert not _alive(pid), "broker still running after its runner died"
    assert not Path(state_dir).exists()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive; the broker is not our child, so it is reaped by init
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return False
