"""test_security_ssl.py - every command over SSL with client certificates (issue 7).

A real broker whose client listener speaks SSL and requires a client certificate
(`CANON_KAFKA_SSL=1 kafka.sh start`: a CA, the broker's certificate for 127.0.0.1 and a
client certificate, made with openssl in the broker's directory). A command that dropped
the ssl.* settings from any of its clients (consumer, producer, restore consumer,
transactional producer) could not complete a handshake with it at all, so the commands
working end to end is the proof. The settings travel in a .properties file
(`--kafka-config FILE`), as operators keep them.

What is checked:
  - canon produce, tail, aggregate (its canon topic gets one record per key), replay and
    translate work over mutual TLS;
  - without a client certificate, and with a CA that did not sign the broker's
    certificate, a command fails within a bound saying why.

Run: CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/kafka/test_security_ssl.py
(starts its own broker on free ports, about 5 to 10 s.)
"""
import json
import os
import subprocess
import uuid

import pytest
from confluent_kafka import Producer

from canon_registry import registry_fixtures
from kafka_fixture import Broker, parse_env
from test_security import FAIL_BOUND, Entity, check_aggregate_and_replay, run, updates_json


class SslBroker(Broker):
    """kafka.sh start with CANON_KAFKA_SSL=1."""

    def _env(self):
        env = super()._env()
        env["CANON_KAFKA_SSL"] = "1"
        return env

    def tls_files(self):
        with open(os.path.join(self.dir, "env")) as f:
            env = parse_env(f.read())
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SSL", env
        return env

    def client(self, cert=True, ca=None):
        env = self.tls_files()
        c = {"bootstrap.servers": self.bootstrap, "security.protocol": "SSL",
             "ssl.ca.location": ca or env["KAFKA_SSL_CA_LOCATION"]}
        if cert:
            c["ssl.certificate.location"] = env["KAFKA_SSL_CERTIFICATE_LOCATION"]
            c["ssl.key.location"] = env["KAFKA_SSL_KEY_LOCATION"]
        return c



@pytest.fixture(scope="module")
def broker():
    b = SslBroker()
    b.start()
    yield b
    b.stop()


canon, registry = registry_fixtures(scope="module")


@pytest.fixture
def entity(broker, registry):
    return Entity(broker, registry)


def props_file(path, settings):
    path.write_text("# Kafka client TLS for the test broker\n" + "".join(
        f"{k} = {v}\n" for k, v in settings.items() if k != "bootstrap.servers"))
    return str(path)


def other_ca(tmp_path):
    """A CA that signed nothing the broker has."""
    key, pem = tmp_path / "other.key", tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(pem), "-days", "1", "-subj", "/CN=other CA"],
                   check=True, capture_output=True, timeout=60)
    return str(pem)


def check_produce_and_tail(canon, broker, registry, entity, cfg):
    """canon produce then canon tail of four updates with the settings in cfg."""
    keys = [str(uuid.uuid4()) for _ in range(4)]
    r = run(canon, broker, registry, "produce", entity.name, "--kafka-config", cfg,
            input=updates_json(keys))
    assert r.returncode == 0, r.stderr
    r = run(canon, broker, registry, "tail", entity.updates, "--from-beginning",
            "--kafka-config", cfg)
    assert r.returncode == 0, r.stderr
    got = {json.loads(x)["key"]: json.loads(x)["value"] for x in r.stdout.splitlines()}
    assert set(got) == set(keys)
    assert got[keys[2]]["values"]["email"] == {"string": "2@example.com"}


def check_translate(canon, broker, registry, entity, cfg, tmp_path):
    """canon translate --once of five domain records with the settings in cfg."""
    source = f"hr.{entity.name}"
    broker.create_topic(source, 1)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({
        "source": {"topic": source, "format": "json"}, "entity": entity.name, "domain": "hr",
        "key": {"from": "id"}, "fields": {"email": "mail"}}))
    records = [{"id": f"e{i}", "mail": f"e{i}@example.com"} for i in range(5)]
    p = Producer(broker.client())
    for rec in records:
        p.produce(source, value=json.dumps(rec).encode())
    assert p.flush(30) == 0
    r = run(canon, broker, registry, "translate", "--mapping", str(mapping), "--once",
            "--group-id", f"t-{entity.name}", "--kafka-config", cfg)
    assert r.returncode == 0, r.stderr
    assert "5 records in, 5 updates out" in r.stdout, (r.stdout, r.stderr)


def test_produce_and_tail_work_over_mutual_tls(canon, broker, registry, entity, tmp_path):
    check_produce_and_tail(canon, broker, registry, entity,
                           props_file(tmp_path / "client.properties", broker.client()))


def test_aggregate_and_replay_work_over_mutual_tls(canon, broker, registry, entity, tmp_path):
    cfg = props_file(tmp_path / "client.properties", broker.client())
    check_aggregate_and_replay(canon, broker, registry, entity, cfg, tmp_path / "aggregate.log")


def test_translate_works_over_mutual_tls(canon, broker, registry, entity, tmp_path):
    check_translate(canon, broker, registry, entity,
                    props_file(tmp_path / "client.properties", broker.client()), tmp_path)


@pytest.mark.parametrize("cmd", ["produce", "tail"])
def test_no_client_certificate_fails_within_a_bound(canon, broker, registry, entity, tmp_path,
                                                    cmd):
    cfg = props_file(tmp_path / "nocert.properties", broker.client(cert=False))
    args = ([cmd, entity.name] if cmd == "produce" else [cmd, entity.updates, "--from-beginning"])
    r = run(canon, broker, registry, *args, "--kafka-config", cfg,
            input=updates_json([str(uuid.uuid4())]), timeout=FAIL_BOUND + 30)
    assert r.returncode != 0 and r.seconds < FAIL_BOUND, (r.returncode, r.seconds, r.stderr)
    # the broker refuses the handshake: its TLS alert names the missing certificate
    assert "alert bad certificate" in r.stderr, r.stderr[-3000:]
    assert r.stdout == ""


def test_a_ca_that_did_not_sign_the_broker_fails_within_a_bound(canon, broker, registry, entity,
                                                                tmp_path):
    cfg = props_file(tmp_path / "otherca.properties", broker.client(ca=other_ca(tmp_path)))
    r = run(canon, broker, registry, "tail", entity.updates, "--from-beginning",
            "--kafka-config", cfg, timeout=FAIL_BOUND + 30)
    assert r.returncode != 0 and r.seconds < FAIL_BOUND, (r.returncode, r.seconds)
    assert "certificate verify failed" in r.stderr, r.stderr[-3000:]
