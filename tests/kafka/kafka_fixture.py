"""kafka_fixture.py - pytest fixtures for a real Apache Kafka broker (tests/kafka/kafka.sh).

Integration tests of the bindings and the aggregator need the real thing: transactions,
read_committed, compaction, consumer groups. This module wraps kafka.sh so that a test
session starts one broker (about 3 to 5 s here), shares it, and stops it at the end.

Use from a conftest.py:

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "kafka"))
    from kafka_fixture import kafka, kafka_broker  # noqa: F401  (pytest_plugins
                                                   # works only in a root conftest)

Fixtures:
  kafka          session-scoped Broker: .bootstrap ("127.0.0.1:PORT"), .create_topic(),
                 .unique_topic(), .admin(), .config() (a librdkafka/confluent-kafka dict)
  kafka_broker   a factory: kafka_broker() starts another, independent Broker (its own dir
                 and ports) that is stopped when the test ends; for tests that stop, restart
                 or break a broker without disturbing the shared one

With CANON_KAFKA_BOOTSTRAP=HOST:PORT set, `kafka` uses that running broker instead of
starting one (a quicker edit-test loop next to `kafka.sh start`).

The brokers run with CANON_KAFKA_QUICK=1 (C1-only JIT: faster start, slower broker):
benchmarks start theirs with kafka.sh directly. Each broker is also tied to this process
(CANON_KAFKA_WATCH_PID), so a test run killed without teardown leaves no broker behind.
"""
import itertools
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest

KAFKA_SH = Path(__file__).resolve().with_name("kafka.sh")
_ids = itertools.count(1)


class Broker:
    """One kafka.sh broker. start() and stop() may be called again (a restart on the same
    directory keeps the data, and the ports when they are still free)."""

    def __init__(self, state_dir=None, quick=True, props=None, external=None):
        self.dir = str(state_dir) if state_dir else None
        self.quick = quick
        self.props = props or {}
        self.external = external
        self.bootstrap = external
        self.pid = None
        self.start_seconds = None
        self._admin = None

    # --- lifecycle ----------------------------------------------------------------------

    def _env(self):
        env = dict(os.environ)
        env["CANON_KAFKA_WATCH_PID"] = str(os.getpid())
        if self.quick:
            env["CANON_KAFKA_QUICK"] = "1"
        if self.props:
            extra = "\n".join(f"{k}={v}" for k, v in self.props.items())
            env["CANON_KAFKA_PROPS"] = (env.get("CANON_KAFKA_PROPS", "") + "\n" + extra).strip()
        return env

    def start(self):
        if self.external:
            return self
        args = [str(KAFKA_SH), "start"] + ([self.dir] if self.dir else [])
        t0 = time.monotonic()
        r = subprocess.run(args, env=self._env(), capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"kafka.sh start failed ({r.returncode}):\n{r.stderr}")
        self.start_seconds = time.monotonic() - t0
        values = parse_env(r.stdout)
        self.bootstrap = values["KAFKA_BOOTSTRAP"]
        self.pid = int(values["KAFKA_PID"])
        self.dir = values["KAFKA_DIR"]
        self._admin = None
        return self

    def stop(self, keep=False):
        if self.external or not self.dir:
            return
        # The admin client goes first: kept connected, it would log connection failures
        # for as long as it lives after the broker is gone.
        self._admin = None
        args = [str(KAFKA_SH), "stop"] + (["--keep"] if keep else []) + [self.dir]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"kafka.sh stop failed ({r.returncode}):\n{r.stderr}")
        self.pid = None
        if not keep:
            self.dir = None

    def restart(self):
        """Stops the broker keeping its data, and starts it again on the same directory."""
        self.stop(keep=True)
        return self.start()

    def running(self):
        if self.external:
            return True
        if not self.dir:
            return False
        r = subprocess.run([str(KAFKA_SH), "status", self.dir], capture_output=True, text=True)
        return r.returncode == 0

    def log_tail(self, lines=60):
        if not self.dir:
            return ""
        p = Path(self.dir) / "logs" / "server.log"
        try:
            return "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- clients ------------------------------------------------------------------------

    def config(self, **extra):
        """A confluent-kafka / librdkafka configuration dict for this broker; keyword
        arguments with '_' stand for '.' (group_id='g' -> 'group.id': 'g')."""
        c = {"bootstrap.servers": self.bootstrap}
        c.update({k.replace("_", "."): v for k, v in extra.items()})
        return c

    def client(self):
        """What a client needs to talk to this broker: the bootstrap address, and the
        security settings of a broker started with them (SASL, SSL: subclasses)."""
        return {"bootstrap.servers": self.bootstrap}

    def admin(self):
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient(self.client())
        return self._admin

    def create_topic(self, name, partitions=1, config=None, timeout=30):
        """Creates `name` with `partitions` partitions and topic configs (e.g.
        {"cleanup.policy": "compact"}); returns once every partition has a leader, so the
        first produce does not race the metadata. An existing topic is an error."""
        from confluent_kafka.admin import NewTopic

        topic = NewTopic(name, num_partitions=partitions, replication_factor=1,
                         config={k: str(v) for k, v in (config or {}).items()})
        futures = self.admin().create_topics([topic], operation_timeout=timeout,
                                             request_timeout=timeout)
        futures[name].result(timeout=timeout)
        self.wait_for_topic(name, partitions, timeout)
        return name

    def unique_topic(self, prefix="t", partitions=1, config=None):
        """Creates a topic with a fresh name (tests sharing the session broker never see
        each other's records) and returns the name."""
        name = f"{prefix}-{next(_ids)}-{uuid.uuid4().hex[:8]}"
        return self.create_topic(name, partitions, config)

    def wait_for_topic(self, name, partitions, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            md = self.admin().list_topics(topic=name, timeout=timeout)
            t = md.topics.get(name)
            if (t is not None and t.error is None and len(t.partitions) == partitions
                    and all(p.leader >= 0 for p in t.partitions.values())):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name}: not ready after {timeout} s ({t and t.error})")
            time.sleep(0.05)

    def delete_topic(self, name, timeout=30):
        self.admin().delete_topics([name], operation_timeout=timeout)[name].result(timeout)

    def cluster_id(self, timeout=10):
        return self.admin().list_topics(timeout=timeout).cluster_id


def parse_env(text):
    """Parses the KEY=VALUE lines kafka.sh prints (values may be shell-quoted)."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            parts = shlex.split(value)
            out[key.strip()] = parts[0] if parts else ""
    return out


@pytest.fixture(scope="session")
def kafka():
    external = os.environ.get("CANON_KAFKA_BOOTSTRAP")
    broker = Broker(external=external) if external else Broker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def kafka_broker():
    started = []

    def start(state_dir=None, quick=True, props=None):
        b = Broker(state_dir=state_dir, quick=quick, props=props)
        started.append(b)
        return b.start()

    yield start
    for b in started:
        b.stop()
