"""test_security.py - Kafka security settings reach librdkafka in every command (issue 7).

A real broker whose client listener speaks SASL_PLAINTEXT with the PLAIN mechanism
(`CANON_KAFKA_SASL=1 kafka.sh start`: user canon / canon-secret) is the proof: a command
that dropped the settings from any of its clients (consumer, producer, restore consumer,
transactional producer) could not talk to it at all. The settings travel in a Java-style
.properties file (`--kafka-config FILE`), the way operators keep security.protocol, sasl.*
and ssl.* out of the command line; -X still overrides the file, whatever the order.

What is checked:
  - canon produce, canon tail and canon aggregate work over SASL with --kafka-config;
  - with a wrong password each fails within a bound, saying the authentication failed;
  - without the file (PLAINTEXT against a SASL listener) a command fails, also bounded;
  - -X given before or after --kafka-config wins over the file;
  - the file's syntax: comments, 'key: value', continuation lines; a line the client
    refuses is reported with the file and line number.

Run: CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/kafka/test_security.py
(starts its own broker on free ports, about 5 to 10 s.)
"""
import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from canon_keys import java_partition
from canon_registry import registry_fixtures
from kafka_fixture import Broker

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "canon", "canon-secret"
# A command that cannot authenticate must give up within this many seconds (the tools
# read metadata with a 10 s timeout; the aggregator's start-up checks are similar).
FAIL_BOUND = 45


class SaslBroker(Broker):
    """kafka.sh start with CANON_KAFKA_SASL=1."""

    def _env(self):
        env = super()._env()
        env["CANON_KAFKA_SASL"] = "1"
        return env

    def sasl(self, password=PASSWORD):
        return {"bootstrap.servers": self.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN", "sasl.username": USER, "sasl.password": password}

    def client(self):
        return self.sasl()


@pytest.fixture(scope="module")
def broker():
    b = SaslBroker()
    b.start()
    yield b
    b.stop()


canon, registry = registry_fixtures(scope="module")


def props_file(path, password=PASSWORD):
    # Every syntax the reader must take: comments of both kinds, blank lines, ':' and
    # spaces around the separator, and a value continued on the next line.
    half = len(password) // 2
    path.write_text(
        "# Kafka client security for the test broker\n"
        "! a Java-style comment too\n"
        "\n"
        "security.protocol = SASL_PLAINTEXT\n"
        "sasl.mechanism: PLAIN\n"
        f"sasl.username={USER}\n"
        f"sasl.password={password[:half]}\\\n"
        f"    {password[half:]}\n")
    return str(path)


class Entity:
    def __init__(self, broker, registry):
        self.name = f"s{uuid.uuid4().hex[:8]}"
        self.updates = f"canon.{self.name}.updates"
        self.topic = f"canon.{self.name}"
        schema = (ROOT / "schemas" / "person.avsc").read_text()
        registry.post(f"/subjects/canon.{self.name}.entity/versions", {"schema": schema})
        broker.create_topic(self.updates, 2)
        broker.create_topic(self.topic, 2, config={"cleanup.policy": "compact"})
        broker.create_topic(f"canon.{self.name}.dlq", 1)


@pytest.fixture
def entity(broker, registry):
    return Entity(broker, registry)


def run(canon, broker, registry, *args, input=None, timeout=90):
    argv = [canon, *args, "--bootstrap-servers", broker.bootstrap, "--registry", registry.url]
    t0 = time.monotonic()
    r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    r.seconds = time.monotonic() - t0
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr[-4000:]
    return r


def updates_json(keys):
    return "\n".join(json.dumps({"person_id": k, "source": "crm", "seq": i,
                                 "values": {"email": f"{i}@example.com"}})
                     for i, k in enumerate(keys))


def test_produce_and_tail_work_over_sasl_with_kafka_config(canon, broker, registry, entity,
                                                           tmp_path):
    cfg = props_file(tmp_path / "client.properties")
    keys = [str(uuid.uuid4()) for _ in range(4)]
    r = run(canon, broker, registry, "produce", entity.name, "--kafka-config", cfg,
            input=updates_json(keys))
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(x)["key"] for x in r.stdout.splitlines()) == sorted(keys)
    r = run(canon, broker, registry, "tail", entity.updates, "--from-beginning",
            "--kafka-config", cfg)
    assert r.returncode == 0, r.stderr
    got = {json.loads(x)["key"]: json.loads(x)["value"] for x in r.stdout.splitlines()}
    assert set(got) == set(keys)
    assert got[keys[2]]["values"]["email"] == {"string": "2@example.com"}


@pytest.mark.parametrize("cmd", ["produce", "tail"])
def test_a_wrong_password_fails_within_a_bound_saying_authentication_failed(
        canon, broker, registry, entity, tmp_path, cmd):
    cfg = props_file(tmp_path / "wrong.properties", password="not-the-password")
    args = ([cmd, entity.name] if cmd == "produce" else [cmd, entity.updates, "--from-beginning"])
    r = run(canon, broker, registry, *args, "--kafka-config", cfg,
            input=updates_json([str(uuid.uuid4())]), timeout=FAIL_BOUND + 30)
    assert r.returncode != 0, r.stdout
    assert r.seconds < FAIL_BOUND, f"took {r.seconds:.1f} s"
    assert "SASL authentication error" in r.stderr and "Authentication failed" in r.stderr, r.stderr
    assert "not-the-password" not in r.stderr, "a password must never be printed"
    assert r.stdout == ""


def test_a_plaintext_client_against_the_sasl_listener_fails_within_a_bound(
        canon, broker, registry, entity):
    r = run(canon, broker, registry, "tail", entity.updates, "--from-beginning",
            timeout=FAIL_BOUND + 30)
    assert r.returncode != 0 and r.seconds < FAIL_BOUND, (r.returncode, r.seconds)
    assert f"cannot read metadata of {entity.updates}" in r.stderr, r.stderr


@pytest.mark.parametrize("x_first", [True, False])
def test_x_overrides_the_file_whatever_the_order(canon, broker, registry, entity, tmp_path,
                                                  x_first):
    wrong = props_file(tmp_path / "wrong.properties", password="not-the-password")
    fix = ["-X", f"sasl.password={PASSWORD}"]
    opts = fix + ["--kafka-config", wrong] if x_first else ["--kafka-config", wrong] + fix
    key = str(uuid.uuid4())
    r = run(canon, broker, registry, "produce", entity.name, *opts, input=updates_json([key]))
    assert r.returncode == 0, r.stderr
    # and the other way round: a right file, a wrong -X, fails
    right = props_file(tmp_path / "right.properties")
    bad = ["-X", "sasl.password=not-the-password"]
    opts = bad + ["--kafka-config", right] if x_first else ["--kafka-config", right] + bad
    r = run(canon, broker, registry, "tail", entity.updates, "--from-beginning", *opts,
            timeout=FAIL_BOUND + 30)
    assert r.returncode != 0 and "Authentication failed" in r.stderr, r.stderr


def test_a_setting_librdkafka_refuses_names_the_file_and_line(canon, tmp_path):
    cfg = tmp_path / "typo.properties"
    cfg.write_text("# ok so far\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\n"
                   "sasl.pasword=x\n")
    r = subprocess.run([canon, "tail", "t", "--bootstrap-servers", "127.0.0.1:1",
                        "--kafka-config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert f"--kafka-config {cfg} line 4: sasl.pasword:" in r.stderr, r.stderr
    r = subprocess.run([canon, "aggregate", "--bootstrap-servers", "127.0.0.1:1", "--registry",
                        "http://127.0.0.1:1", "--kafka-config", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "--kafka-config" in r.stderr and "missing" in r.stderr, r.stderr
    # aggregate and serve check the file before starting, and never print a value (a
    # misspelt key may hold a password)
    typo = tmp_path / "secret-typo.properties"
    typo.write_text("security.protocol=SASL_PLAINTEXT\nsasl.pasword=hunter2\n")
    for cmd in (["aggregate", "--bootstrap-servers", "127.0.0.1:1", "--registry",
                 "http://127.0.0.1:1"],
                ["serve", "--listen", "127.0.0.1:0", "--db", str(tmp_path / "s.db")]):
        r = subprocess.run([canon, *cmd, "--kafka-config", str(typo)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert f"--kafka-config {typo} line 2: sasl.pasword:" in r.stderr, r.stderr
        assert "hunter2" not in r.stderr and "listening" not in r.stdout


def read_canon(broker, topic, want, timeout=60):
    c = Consumer({**broker.client(), "group.id": f"chk-{uuid.uuid4().hex}",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(2)])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m)
    finally:
        c.close()
    return out


def check_aggregate_and_replay(canon, broker, registry, entity, cfg, log):
    """Every client of the aggregator (group consumer, restore consumer, transactional
    producer) and of canon replay must carry the settings of cfg: the canon topic gets one
    record per key, and a refused update goes to the DLQ and back."""
    agg = subprocess.Popen(
        [canon, "aggregate", "--bootstrap-servers", broker.bootstrap, "--registry", registry.url,
         "--entity", entity.name, "--group-id", f"g-{entity.name}", "--transactional-id",
         f"tx-{entity.name}", "--kafka-config", cfg, "-v"],
        stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        keys = [str(uuid.uuid4()) for _ in range(3)]
        r = run(canon, broker, registry, "produce", entity.name, "--kafka-config", cfg,
                input=updates_json(keys))
        assert r.returncode == 0, r.stderr
        got = read_canon(broker, entity.topic, len(keys))
        assert sorted(m.key().decode() for m in got) == sorted(keys), log.read_text()[-3000:]
        # canon replay's consumer and transactional producer carry the settings too: a
        # refused update (support may not write given_name) goes back and is refused again.
        # Its key is on updates partition 1, which this DLQ (1 partition) lacks: the
        # aggregator must dead-letter it all the same (it used to fail the produce).
        dlq = f"canon.{entity.name}.dlq"
        k1 = next(k for k in (str(uuid.uuid4()) for _ in range(1000)) if java_partition(k.encode(), 2) == 1)
        bad = json.dumps({"person_id": k1, "source": "support", "values": {"given_name": "Eve"}})
        r = run(canon, broker, registry, "produce", entity.name, "--kafka-config", cfg, "--json", bad)
        assert r.returncode == 0, r.stderr
        assert len(read_canon(broker, dlq, 1)) == 1, log.read_text()[-3000:]
        r = subprocess.run([canon, "replay", entity.name, "--bootstrap-servers", broker.bootstrap,
                            "--kafka-config", cfg], capture_output=True, text=True, timeout=90)
        assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr[-4000:]
        assert r.returncode == 0 and "replayed 1 of 1" in r.stderr, r.stderr
        assert json.loads(r.stdout)["code"] == "WRITER"
        assert len(read_canon(broker, dlq, 2)) == 2, log.read_text()[-3000:]
    finally:
        if agg.poll() is None:
            agg.send_signal(signal.SIGTERM)
        rc = agg.wait(timeout=60)
    text = log.read_text(errors="replace")
    assert rc == 0, text[-3000:]
    assert "Sanitizer" not in text and "runtime error:" not in text, text[-4000:]


def test_aggregate_runs_over_sasl_with_kafka_config(canon, broker, registry, entity, tmp_path):
    cfg = props_file(tmp_path / "client.properties")
    check_aggregate_and_replay(canon, broker, registry, entity, cfg, tmp_path / "aggregate.log")


def test_aggregate_with_a_wrong_password_stops_within_a_bound(canon, broker, registry, entity,
                                                              tmp_path):
    cfg = props_file(tmp_path / "wrong.properties", password="not-the-password")
    t0 = time.monotonic()
    try:
        r = subprocess.run(
            [canon, "aggregate", "--bootstrap-servers", broker.bootstrap, "--registry",
             registry.url, "--entity", entity.name, "--kafka-config", cfg],
            capture_output=True, text=True, timeout=FAIL_BOUND + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"canon aggregate with a wrong password still ran after {FAIL_BOUND + 30} s")
    assert r.returncode != 0
    assert time.monotonic() - t0 < FAIL_BOUND
    assert "Authentication failed" in r.stderr, r.stderr[-3000:]
    assert "not-the-password" not in r.stderr
