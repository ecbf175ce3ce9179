"""aggregator_support.py - helpers of the aggregator tests (tests/aggregator): register an
entity, produce updates (fastavro, encoded with the registry's derived update schema,
Confluent framing, murmur2 partitioning), run `canon aggregate`, and read the canon and DLQ
topics read_committed.

A module of its own, not conftest.py, so that tests import it by a name no other test
folder uses (several conftest.py files are on sys.path when the suites run together).
"""
import io
import os
import json
import signal
import struct
import subprocess
import time
import uuid
from pathlib import Path

import fastavro
from confluent_kafka import Consumer, Producer

ROOT = Path(__file__).resolve().parents[2]


def person_schema(extra_fields=()):
    s = json.loads((ROOT / "schemas" / "person.avsc").read_text())
    s["fields"].extend(extra_fields)
    return s


class Entity:
    """One entity of its own (fresh name) with its updates topic, for one test."""

    def __init__(self, kafka, registry, partitions=3):
        self.kafka = kafka
        self.reg = registry
        self.name = "p" + uuid.uuid4().hex[:10]
        self.partitions = partitions
        self.register(person_schema())
        self.updates = f"canon.{self.name}.updates"
        self.canon = f"canon.{self.name}"
        self.dlq = f"canon.{self.name}.dlq"
        kafka.create_topic(self.updates, partitions)
        self.producer = Producer(kafka.config(partitioner="murmur2_random", enable_idempotence=True))

    @staticmethod
    def person_schema(extra_fields=()):
        return person_schema(extra_fields)

    def register(self, schema):
        self.reg.post(f"/subjects/canon.{self.name}.entity/versions", {"schema": json.dumps(schema)})
        info = self.reg.get(f"/canon/entities/{self.name}")
        self.update_id = info["updates"]["id"]
        self.envelope_id = info["envelope"]["id"]
        self.field_names = [f["name"] for f in info["fields"]]
        return info

    def encode(self, key, source, event_time, values=None, op="UPSERT", seq=0, schema_id=None):
        schema_id = schema_id or self.update_id
        values = values or {}
        names = [f["name"] for f in self.reg.parsed(schema_id)["fields"][6]["type"]["fields"]]
        rec = {"person_id": key, "source": source, "event_time": event_time, "seq": seq, "op": op,
               "provided": list(values), "values": {n: values.get(n) for n in names}}
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.reg.parsed(schema_id), rec)
        return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()

    def send(self, key, value):
        """Produces one raw value; returns (partition, offset)."""
        out = {}

        def cb(err, msg):
            assert err is None, err
            out["po"] = (msg.partition(), msg.offset())

        self.producer.produce(self.updates, key=key.encode(), value=value, on_delivery=cb)
        self.producer.flush(30)
        return out["po"]

    def update(self, key, source, event_time, values=None, **kw):
        return self.send(key, self.encode(key, source, event_time, values, **kw))

    def send_many(self, items):
        for key, value in items:
            self.producer.produce(self.updates, key=key.encode(), value=value)
            self.producer.poll(0)
        assert self.producer.flush(60) == 0

    def read(self, topic, want, timeout=30):
        """Reads `topic` from the beginning, read_committed, until `want` records (or the
        timeout); returns confluent-kafka messages in partition order."""
        c = Consumer(self.kafka.config(group_id="t-" + uuid.uuid4().hex, isolation_level="read_committed",
                                       enable_auto_commit=False, auto_offset_reset="earliest"))
        c.subscribe([topic])
        out = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < want and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is None or m.error():
                    continue
                out.append(m)
        finally:
            c.close()
        return out

    def decode(self, value):
        assert value[0] == 0
        (sid,) = struct.unpack(">I", value[1:5])
        return sid, fastavro.schemaless_reader(io.BytesIO(value[5:]), self.reg.parsed(sid))

    def envelopes(self, want, timeout=30):
        return [(m.key().decode(), self.decode(m.value())[1]) for m in self.read(self.canon, want, timeout)]


class Aggregator:
    def __init__(self, binary, kafka, registry, entity, log, group=None, txn_id=None, extra=(), env=None):
        self.args = [binary, "aggregate", "--bootstrap-servers", kafka.bootstrap, "--registry", registry.url,
                     "--entity", entity.name, "--group-id", group or ("g-" + entity.name),
                     "--transactional-id", txn_id or ("tx-" + entity.name), "-v", *extra]
        self.log = log
        self.env = None if env is None else {**os.environ, **env}
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=open(self.log, "a"),
                                     env=self.env)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
            assert rc == 0, self.text()[-3000:]
        self.check_clean()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def text(self):
        return Path(self.log).read_text(errors="replace")

    def check_clean(self):
        assert "Sanitizer" not in self.text(), self.text()[-4000:]
