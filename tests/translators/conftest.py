"""conftest.py - fixtures of the declarative translator's integration tests
(tests/translators): a real Kafka broker (tests/kafka/kafka_fixture.py), the project's
registry on a free port (tests/kafka/canon_registry.py), and a Domain helper that gives
each test an entity of its own (schemas/person.avsc registered under a fresh entity name,
so its canon.<entity>.updates topic is the test's alone), a domain topic, a mapping file,
`canon translate` runs, and readers of the updates and DLQ topics.

CANON_BIN names the canon binary (default: build/canon of the checkout); the suite also
runs against the ASan + UBSan binary: every translate run's stderr is checked for
sanitizer reports.
"""
import io
import json
import re
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))

from kafka_fixture import kafka, kafka_broker  # noqa: E402,F401
from sanitizer_guard import sanitizer_guard, sanitizer_reports_dir  # noqa: E402,F401
from canon_registry import registry_fixtures  # noqa: E402

import fastavro  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

canon, registry = registry_fixtures()


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def counts(self):
        """records in, updates out, deletes, dead letters from the --once summary line."""
        m = re.search(r"(\d+) records? in, (\d+) updates? out \((\d+) deletes?\), (\d+) dead letters?",
                      self.out)
        assert m, f"no summary in stdout:\n{self.out}\nstderr:\n{self.err}"
        return tuple(int(x) for x in m.groups())


class Domain:
    """A domain topic feeding a fresh entity (person's schema) through `canon translate`."""

    def __init__(self, canon, kafka, registry, tmp_path, partitions=3, fmt="json"):
        self.canon = canon
        self.kafka = kafka
        self.reg = registry
        self.tmp = tmp_path
        self.entity = "p" + uuid.uuid4().hex[:10]
        schema = json.loads((ROOT / "schemas" / "person.avsc").read_text())
        registry.post(f"/subjects/canon.{self.entity}.entity/versions", {"schema": json.dumps(schema)})
        info = registry.get(f"/canon/entities/{self.entity}")
        self.update_id = info["updates"]["id"]
        self.updates = f"canon.{self.entity}.updates"
        self.updates_partitions = 3
        kafka.create_topic(self.updates, self.updates_partitions)
        self.topic = kafka.unique_topic("hr.employees", partitions)
        self.partitions = partitions
        self.dlq = self.topic + ".dlq"
        self.format = fmt
        self.producer = Producer(kafka.config(partitioner="murmur2_random", enable_idempotence=True))
        self.group = "g-" + self.entity
        self.mapping_path = None

    # --- the mapping ------------------------------------------------------------------

    def mapping(self, fields=None, text=None, **top):
        """Writes the mapping file (the HR mapping below unless text is given)."""
        if text is None:
            m = {
                "source": {"topic": self.topic, "format": self.format},
                "entity": self.entity,
                "domain": "hr",
                "key": {"from": "email", "normalize": ["trim", "lower"]},
                "event_time": {"from": "updated_at"},
                "delete": {"path": "status", "equals": "terminated"},
                "fields": fields if fields is not None else {
                    "given_name": {"from": "first_name", "normalize": ["trim"]},
                    "family_name": {"from": "last_name", "clear_when_empty": True},
                    "email": {"from": "email", "normalize": ["trim", "lower"]},
                    "birth_date": {"from": "dob", "format": "%d/%m/%Y"},
                    "employment_status": {"from": "status", "normalize": ["lower"],
                                          "enum": {"active": "ACTIVE", "leave": "ON_LEAVE"},
                                          "enum_default": "UNKNOWN"},
                    "address.city": "home.city",
                    "address.country": {"from": "home.country", "normalize": ["upper"]},
                    "tags": {"const": ["employee"]},
                },
            }
            m.update(top)
            text = json.dumps(m, indent=2)
        self.mapping_path = self.tmp / f"{self.entity}.mapping.json"
        self.mapping_path.write_text(text)
        return self.mapping_path

    # --- the domain topic ---------------------------------------------------------------

    def send(self, records, key=None, one_per_batch=False):
        """Produces values (dict: as JSON; bytes: as they are); returns [(partition, offset)].
        one_per_batch: each record in a record batch of its own (so that small fetches
        return few records)."""
        producer = self.producer
        if one_per_batch:
            producer = Producer(self.kafka.config(partitioner="murmur2_random", enable_idempotence=True,
                                                  linger_ms=0, batch_num_messages=1))
        out = [None] * len(records)

        def cb(i):
            def done(err, msg):
                assert err is None, err
                out[i] = (msg.partition(), msg.offset())
            return done

        for i, r in enumerate(records):
            v = r if isinstance(r, (bytes, bytearray)) else json.dumps(r).encode()
            producer.produce(self.topic, key=(key or f"E{i:05d}").encode(), value=v, on_delivery=cb(i))
            producer.poll(0)
        assert producer.flush(60) == 0
        assert None not in out
        return out

    # --- canon translate ----------------------------------------------------------------

    def args(self, *extra):
        return [self.canon, "translate", "--mapping", str(self.mapping_path),
                "--bootstrap-servers", self.kafka.bootstrap, "--registry", self.reg.url,
                "--group-id", self.group, *extra]

    def translate(self, *extra, timeout=120):
        p = subprocess.run(self.args("--once", *extra), capture_output=True, text=True, timeout=timeout)
        assert "Sanitizer" not in p.stderr, p.stderr[-4000:]
        return Result(p)

    # --- reading ------------------------------------------------------------------------

    def read(self, topic, timeout=30):
        """Every record of topic (read_committed, from the beginning to the end)."""
        c = Consumer(self.kafka.config(group_id="t-" + uuid.uuid4().hex, isolation_level="read_committed",
                                       enable_auto_commit=False, auto_offset_reset="earliest"))
        md = c.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for p in md.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if hi > lo:
                ends[p] = hi
        c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        out = []
        deadline = time.monotonic() + timeout
        try:
            while ends and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is None or m.error():
                    continue
                out.append(m)
                if m.offset() + 1 >= ends.get(m.partition(), 0):
                    ends.pop(m.partition(), None)
        finally:
            c.close()
        assert not ends, f"{topic}: not read to the end in {timeout} s"
        return out

    def decode(self, value):
        assert value[0] == 0
        (sid,) = struct.unpack(">I", value[1:5])
        return sid, fastavro.schemaless_reader(io.BytesIO(value[5:]), self.reg.parsed(sid))

    def updates_read(self):
        """[(kafka message, schema id, decoded update)] of the entity's updates topic."""
        return [(m, *self.decode(m.value())) for m in self.read(self.updates)]

    def committed(self):
        c = Consumer(self.kafka.config(group_id=self.group, enable_auto_commit=False))
        try:
            parts = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            return {tp.partition: tp.offset for tp in c.committed(parts, timeout=10)}
        finally:
            c.close()


@pytest.fixture
def domain(canon, kafka, registry, tmp_path):
    return Domain(canon, kafka, registry, tmp_path)


@pytest.fixture
def domain_factory(canon, kafka, registry, tmp_path):
    """make(broker=None, **kw): a Domain on the session's broker, or on `broker`."""
    def make(broker=None, **kw):
        return Domain(canon, broker or kafka, registry, tmp_path, **kw)
    return make
