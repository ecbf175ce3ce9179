"""test_examples.py - the example domains of translators/examples produce what they claim.

Each domain's translator runs against a real broker and a real registry; its output on
canon.person.updates is read back and decoded with fastavro against the update schema the
registry registered (not with the project's own decoders), then compared with what the
domain's sample events say, written out here by hand:

  - HR: the declarative mapping hr/mapping.json, run by `canon translate --once`;
  - CRM: the Python app crm/crm_translator.py on the binding `canon gen --lang python`
    generates from the registry;
  - Support: the Java app support/ on the binding `canon gen --lang java` generates from the
    registry (support/run.sh);
  - all three derive the same person_id for the same e-mail address, also for addresses
    with spaces, capitals and non-ASCII letters, and it is the documented uuid5.
"""
import datetime
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))
from canon_keys import java_partition  # noqa: E402
EX = ROOT / "translators" / "examples"
PY = sys.executable

NS = uuid.uuid5(uuid.NAMESPACE_URL, "canongate:person")
ADA = "0cd19918-2d16-5810-b788-31448d705015"    # uuid5(NS, "ada.lovelace@example.org")
GRACE = "88a2c0b3-48d2-567b-8787-aa6e72cb8b87"  # uuid5(NS, "grace.hopper@example.org")
ALAN = "7a8aa3ba-9ca8-57fc-8d0f-c38e62ef9fe4"   # uuid5(NS, "alan.turing@example.org")


def utc(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)


# ---- reading the updates topic -------------------------------------------------------

def watermarks(kafka, topic):
    c = Consumer(kafka.config(group_id="examples-wm"))
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in md.partitions}
    finally:
        c.close()


def read_since(kafka, topic, start, timeout=30):
    """Every record of topic after the offsets `start`, up to the current end."""
    end = watermarks(kafka, topic)
    want = {p: end[p] - start.get(p, 0) for p in end if end[p] > start.get(p, 0)}
    c = Consumer(kafka.config(group_id="examples-read", enable_auto_commit=False,
                              isolation_level="read_committed"))
    c.assign([TopicPartition(topic, p, start.get(p, 0)) for p in want])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while sum(want.values()) > 0 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            want[m.partition()] -= 1
            out.append(m)
    finally:
        c.close()
    assert sum(want.values()) == 0, f"records missing: {want}"
    return out


class UpdateDecoder:
    """Decodes Confluent-framed updates with fastavro and the registry's update schema."""

    def __init__(self, registry):
        latest = registry.get("/subjects/canon.person.updates-value/versions/latest")
        self.schema_id = latest["id"]
        self.schema = fastavro.parse_schema(json.loads(latest["schema"]))

    def __call__(self, msg):
        v = msg.value()
        assert v[0] == 0, "not Confluent-framed"
        assert int.from_bytes(v[1:5], "big") == self.schema_id, "framed with another schema id"
        d = fastavro.schemaless_reader(io.BytesIO(v[5:]), self.schema)
        d["person_id"] = str(d["person_id"])
        assert msg.key().decode() == d["person_id"], "Kafka key is not the universal id"
        return d


def check_partition(msg, partitions):
    assert msg.partition() == java_partition(msg.key(), partitions), \
        f"key {msg.key()!r} on partition {msg.partition()}: not Kafka's murmur2 partition"


def check_update(d, key, source, when, seq, values, op="UPSERT", ordered=True):
    assert d["person_id"] == key
    assert d["source"] == source
    assert d["event_time"] == utc(when)
    assert d["seq"] == seq
    assert d["op"] == op
    if ordered:
        assert d["provided"] == list(values)
    else:
        assert sorted(d["provided"]) == sorted(values)
    for f, v in d["values"].items():
        assert v == values.get(f), f"field {f}: {v!r}, expected {values.get(f)!r}"


# ---- running the domains --------------------------------------------------------------

def python_binding(canon, registry, tmp_path):
    out = tmp_path / "person-py"
    r = subprocess.run([canon, "gen", "--lang", "python", "--registry", registry.url,
                        "--subject", "canon.person.entity", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def run_crm(canon, registry, tmp_path, *args, stdin=None):
    """The CRM app with the generated binding on its path (the demo pip-installs it into a
    venv of its own; the import is the same)."""
    binding = python_binding(canon, registry, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(binding / "src"), PYTHONUTF8="1")
    return subprocess.run([PY, str(EX / "crm" / "crm_translator.py"), *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def run_support(canon, tmp_path, *args, stdin=None):
    env = dict(os.environ, CANON_BIN=canon, OUT=str(tmp_path / "support"))
    return subprocess.run(["sh", str(EX / "support" / "run.sh"), *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=600)


def run_hr(canon, kafka, registry, tmp_path, records):
    """Publishes records to a fresh HR topic and runs `canon translate --once` with
    hr/mapping.json, changed only in its topic name; returns the records' updates."""
    mapping = json.loads((EX / "hr" / "mapping.json").read_text())
    topic = kafka.unique_topic("hr.employees")
    mapping["source"]["topic"] = topic
    path = tmp_path / "hr-mapping.json"
    path.write_text(json.dumps(mapping, indent=2))
    p = Producer(kafka.config())
    for rec in records:
        p.produce(topic, json.dumps(rec).encode())
    assert p.flush(30) == 0
    before = watermarks(kafka, "canon.person.updates")
    r = subprocess.run([canon, "translate", "--mapping", str(path), "--bootstrap-servers",
                        kafka.bootstrap, "--registry", registry.url, "--once",
                        "--group-id", "examples-" + topic], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(records)} records in" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "0 dead letters" in r.stdout + r.stderr, r.stdout + r.stderr
    return read_since(kafka, "canon.person.updates", before)


# ---- tests ----------------------------------------------------------------------------

def test_hr_mapping_translates_the_sample_events(canon, kafka, registry, updates_topic, tmp_path):
    records = [json.loads(l) for l in (EX / "hr" / "events.jsonl").read_text().splitlines() if l]
    msgs = run_hr(canon, kafka, registry, tmp_path, records)
    dec = UpdateDecoder(registry)
    got = sorted((dec(m) for m in msgs), key=lambda d: d["seq"])  # seq = source offset
    assert len(got) == 5
    for m in msgs:
        check_partition(m, 6)
    ada = {"given_name": "Ada", "family_name": "Lovelace", "email": "ada.lovelace@example.org",
           "birth_date": datetime.date(1815, 12, 10)}
    check_update(got[0], ADA, "hr", "2026-03-01T09:00", 0,
                 dict(ada, employment_status="ACTIVE"), ordered=False)
    check_update(got[1], GRACE, "hr", "2026-03-01T09:05", 1,
                 {"given_name": "Grace", "family_name": "Hopper", "email": "grace.hopper@example.org",
                  "birth_date": datetime.date(1906, 12, 9), "employment_status": "ACTIVE"},
                 ordered=False)
    check_update(got[2], ADA, "hr", "2026-03-10T08:00", 2,
                 dict(ada, employment_status="ON_LEAVE"), ordered=False)
    # the late status change: only what the event carries
    check_update(got[3], ADA, "hr", "2026-03-02T16:30", 3,
                 {"email": "ada.lovelace@example.org", "employment_status": "ACTIVE"}, ordered=False)
    check_update(got[4], GRACE, "hr", "2026-03-12T17:00", 4, {}, op="DELETE")


def test_crm_app_sends_typed_updates_through_the_python_binding(canon, kafka, registry,
                                                                 updates_topic, tmp_path):
    before = watermarks(kafka, updates_topic)
    r = run_crm(canon, registry, tmp_path, "--bootstrap-servers", kafka.bootstrap,
                "--registry", registry.url, "--events", str(EX / "crm" / "events.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 updates delivered" in r.stdout
    msgs = read_since(kafka, updates_topic, before)
    dec = UpdateDecoder(registry)
    got = sorted((dec(m) for m in msgs), key=lambda d: d["seq"])
    assert len(got) == 4
    for m in msgs:
        check_partition(m, 6)
    check_update(got[0], ADA, "crm", "2026-03-04T10:00", 0,
                 {"email": "ada.lovelace@example.org", "given_name": "Ada", "family_name": "King",
                  "phone": "+44 20 7946 0001"})
    check_update(got[1], GRACE, "crm", "2026-03-02T11:00", 1,
                 {"email": "grace.hopper@example.org", "given_name": "Grace",
                  "family_name": "Hopper", "phone": "+1 202 555 0142"})
    check_update(got[2], ALAN, "crm", "2026-03-03T15:20", 2,
                 {"email": "alan.turing@example.org", "given_name": "Alan", "family_name": "Turing",
                  "phone": "+44 161 496 0000"})
    check_update(got[3], ADA, "crm", "2026-03-08T12:00", 3,
                 {"email": "ada.lovelace@example.org", "phone": "+44 20 7946 0002"})


def test_crm_app_clears_a_phone_sent_as_null(canon, kafka, registry, updates_topic, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"email_address": "Alan.Turing@example.org", "mobile": None,
                                  "updated_at": "2026-04-01T00:00:00Z"}) + "\n")
    before = watermarks(kafka, updates_topic)
    r = run_crm(canon, registry, tmp_path, "--bootstrap-servers", kafka.bootstrap,
                "--registry", registry.url, "--events", str(events))
    assert r.returncode == 0, r.stdout + r.stderr
    (m,) = read_since(kafka, updates_topic, before)
    d = UpdateDecoder(registry)(m)
    check_update(d, ALAN, "crm", "2026-04-01T00:00", 0,
                 {"email": "alan.turing@example.org", "phone": None})


def test_support_app_sends_typed_updates_through_the_java_binding(canon, kafka, registry,
                                                                   updates_topic, tmp_path):
    before = watermarks(kafka, updates_topic)
    r = run_support(canon, tmp_path, "--bootstrap-servers", kafka.bootstrap, "--registry",
                    registry.url, "--events", str(EX / "support" / "tickets.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 updates delivered" in r.stdout
    msgs = read_since(kafka, updates_topic, before)
    dec = UpdateDecoder(registry)
    got = sorted((dec(m) for m in msgs), key=lambda d: d["seq"])
    assert len(got) == 4
    for m in msgs:
        check_partition(m, 6)
    check_update(got[0], ADA, "support", "2026-03-09T14:30", 0,
                 {"phone": "+44 7700 900123", "support_tier": "gold"})
    check_update(got[1], ALAN, "support", "2026-03-05T08:15", 1,
                 {"phone": "+44 161 496 0999", "support_tier": "silver"})
    check_update(got[2], ADA, "support", "2026-03-07T09:00", 2,
                 {"phone": "+44 20 7946 0999", "support_tier": "bronze"})
    # plan "" -> support_tier cleared: provided, with value null
    check_update(got[3], ADA, "support", "2026-03-11T10:00", 3,
                 {"phone": "+44 7700 900123", "support_tier": None})


def test_three_domains_derive_the_same_person_id(canon, kafka, registry, updates_topic, tmp_path):
    emails = ["ada.lovelace@example.org", "  Ada.Lovelace@EXAMPLE.org\t", "grace.hopper@example.org",
              "Émile.Zola@Example.fr", "ÅSA.Öberg@example.se", "o'brien+tag@example.ie"]
    text = "".join(e + "\n" for e in emails)

    def ascii_norm(e):  # the mapping's trim + lower, written out again for the reference
        e = e.strip(" \t\n\r\f\v")
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in e)

    reference = [str(uuid.uuid5(NS, ascii_norm(e))) for e in emails]
    assert reference[0] == reference[1] == ADA
    assert reference[3] != str(uuid.uuid5(NS, emails[3].lower()))  # non-ASCII kept as is

    crm = run_crm(canon, registry, tmp_path, "--print-ids", stdin=text)
    assert crm.returncode == 0, crm.stderr
    assert crm.stdout.split() == reference

    support = run_support(canon, tmp_path, "--print-ids", stdin=text)
    assert support.returncode == 0, support.stderr
    assert support.stdout.split() == reference

    records = [{"email": e, "changed_at": "01.03.2026 09:00", "status": "A"} for e in emails]
    msgs = run_hr(canon, kafka, registry, tmp_path, records)
    dec = UpdateDecoder(registry)
    hr = [d["person_id"] for d in sorted((dec(m) for m in msgs), key=lambda d: d["seq"])]
    assert hr == reference


def test_hr_mapping_and_tutorial_mapping_follow_the_mapping_json_schema():
    """The HR mapping, and the Payroll mapping docs/tutorial.md has the reader type in,
    are valid against docs/mapping.schema.json (editors check mappings with it)."""
    import re

    import jsonschema

    schema = json.loads((ROOT / "docs" / "mapping.schema.json").read_text())
    jsonschema.validate(json.loads((EX / "hr" / "mapping.json").read_text()), schema)
    tutorial = (ROOT / "docs" / "tutorial.md").read_text()
    m = re.search(r"Save this as `payroll.json`:\n\n```json\n(.*?)```", tutorial, re.S)
    assert m, "docs/tutorial.md no longer shows payroll.json"
    payroll = json.loads(m.group(1))
    jsonschema.validate(payroll, schema)
    assert payroll["domain"] == "payroll" and payroll["key"]["normalize"] == ["trim", "lower"]
