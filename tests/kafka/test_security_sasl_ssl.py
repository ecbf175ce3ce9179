"""test_security_sasl_ssl.py - every command over SASL_SSL (issue 7).

A real broker whose client listener speaks SASL_SSL (`CANON_KAFKA_SASL=1 CANON_KAFKA_SSL=1
kafka.sh start`: TLS with the broker's certificate, signed by a CA made with openssl in
the broker's directory, then PLAIN with user canon / canon-secret): the combination most
managed Kafka services ask for. A command that dropped either half of the settings from
any of its clients (consumer, producer, restore consumer, transactional producer) could
not complete the handshake, so the commands working end to end is the proof. The
settings travel in a .properties file (`--kafka-config FILE`).

What is checked:
  - canon produce, tail, aggregate (its canon topic gets one record per key), replay and
    translate work over SASL_SSL;
  - a wrong password, and a CA that did not sign the broker's certificate, each fail
    within a bound saying why, and the password is never printed.

Run: CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/kafka/test_security_sasl_ssl.py
(starts its own broker on free ports, about 5 to 10 s.)
"""
import os
import uuid

import pytest

from canon_registry import registry_fixtures
from kafka_fixture import Broker, parse_env
from test_security import (FAIL_BOUND, PASSWORD, USER, Entity, check_aggregate_and_replay, run,
                           updates_json)
from test_security_ssl import check_produce_and_tail, check_translate, other_ca, props_file


class SaslSslBroker(Broker):
    """kafka.sh start with CANON_KAFKA_SASL=1 and CANON_KAFKA_SSL=1."""

    def _env(self):
        env = super()._env()
        env["CANON_KAFKA_SASL"] = "1"
        env["CANON_KAFKA_SSL"] = "1"
        return env

    def client(self, password=PASSWORD, ca=None):
        with open(os.path.join(self.dir, "env")) as f:
            env = parse_env(f.read())
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", env
        assert "KAFKA_SSL_CERTIFICATE_LOCATION" not in env, env  # no client certificate
        return {"bootstrap.servers": self.bootstrap, "security.protocol": "SASL_SSL",
                "sasl.mechanism": env["KAFKA_SASL_MECHANISM"],
                "sasl.username": env["KAFKA_SASL_USERNAME"], "sasl.password": password,
                "ssl.ca.location": ca or env["KAFKA_SSL_CA_LOCATION"]}


@pytest.fixture(scope="module")
def broker():
    b = SaslSslBroker()
    b.start()
    yield b
    b.stop()


canon, registry = registry_fixtures(scope="module")


@pytest.fixture
def entity(broker, registry):
    return Entity(broker, registry)


def test_produce_and_tail_work_over_sasl_ssl(canon, broker, registry, entity, tmp_path):
    assert broker.client()["sasl.username"] == USER
    check_produce_and_tail(canon, broker, registry, entity,
                           props_file(tmp_path / "client.properties", broker.client()))


def test_aggregate_and_replay_work_over_sasl_ssl(canon, broker, registry, entity, tmp_path):
    cfg = props_file(tmp_path / "client.properties", broker.client())
    check_aggregate_and_replay(canon, broker, registry, entity, cfg, tmp_path / "aggregate.log")


def test_translate_works_over_sasl_ssl(canon, broker, registry, entity, tmp_path):
    check_translate(canon, broker, registry, entity,
                    props_file(tmp_path / "client.properties", broker.client()), tmp_path)


def test_a_wrong_password_fails_within_a_bound_saying_authentication_failed(
        canon, broker, registry, entity, tmp_path):
    cfg = props_file(tmp_path / "bad.properties", broker.client(password="not-the-password"))
    r = run(canon, broker, registry, "tail", entity.updates, "--from-beginning",
            "--kafka-config", cfg, timeout=FAIL_BOUND + 30)
    assert r.returncode != 0 and r.seconds < FAIL_BOUND, (r.returncode, r.seconds)
    assert "Authentication failed" in r.stderr, r.stderr[-3000:]
    assert "not-the-password" not in r.stderr and r.stdout == ""


def test_a_ca_that_did_not_sign_the_broker_fails_within_a_bound(canon, broker, registry, entity,
                                                                tmp_path):
    cfg = props_file(tmp_path / "otherca.properties", broker.client(ca=other_ca(tmp_path)))
    r = run(canon, broker, registry, "produce", entity.name, "--kafka-config", cfg,
            input=updates_json([str(uuid.uuid4())]), timeout=FAIL_BOUND + 30)
    assert r.returncode != 0 and r.seconds < FAIL_BOUND, (r.returncode, r.seconds)
    assert "certificate verify failed" in r.stderr, r.stderr[-3000:]
    assert PASSWORD not in r.stderr
