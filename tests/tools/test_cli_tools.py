"""test_cli_tools.py - `canon produce`, `canon tail` and `canon state` against a real broker.

Each test gets an entity of its own (schemas/person.avsc registered at canon.<e>.entity,
so the registry derives canon.<e>.updates-value and canon.<e>-value) and its topics, so
tests sharing the session's broker never see each other's records. What the tools write is
checked with other implementations: fastavro decodes the bytes `canon produce` sends, and
`canon state` reads envelopes that fastavro encoded and confluent-kafka's librdkafka
partitioned (murmur2_random), so the tool's own murmur2 must agree with it to find them.

Run: CANON_BIN=build/canon .venv/bin/python -m pytest -q tests/tools
"""
import datetime
import io
import itertools
import json
import struct
import subprocess
import time
import uuid
from pathlib import Path

import fastavro
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from canon_keys import java_partition

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3
_n = itertools.count(1)


def partition_of(key: str, n: int) -> int:
    return java_partition(key.encode(), n)


def check_sanitizers(stderr):
    """A sanitizer build (CANON_BIN=build-asan/canon) must report nothing, whatever the
    exit code the test expects."""
    assert "Sanitizer" not in stderr and "runtime error:" not in stderr, stderr[-4000:]


class Entity:
    def __init__(self, name, kafka, registry, canon):
        self.name = name
        self.kafka = kafka
        self.registry = registry
        self.canon = canon
        self.updates = f"canon.{name}.updates"
        self.topic = f"canon.{name}"
        self.dlq = f"canon.{name}.dlq"

    def run(self, cmd, *args, input=None, timeout=60):
        argv = [self.canon, cmd, *args, "--bootstrap-servers", self.kafka.bootstrap,
                "--registry", self.registry.url]
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        check_sanitizers(r.stderr)
        return r

    def schema(self, subject):
        ans = self.registry.get(f"/subjects/{subject}/versions/latest")
        return ans["id"], fastavro.parse_schema(json.loads(ans["schema"]))

    def raw_records(self, topic, expect):
        c = Consumer(self.kafka.config(group_id=f"raw-{uuid.uuid4().hex}",
                                       auto_offset_reset="earliest", enable_auto_commit=False))
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out = []
        deadline = time.monotonic() + 30
        while len(out) < expect and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m)
        c.close()
        return out


@pytest.fixture
def entity(kafka, registry, canon):
    name = f"p{next(_n)}_{uuid.uuid4().hex[:6]}"
    schema = registry_schema_text()
    registry.post(f"/subjects/canon.{name}.entity/versions", {"schema": schema})
    e = Entity(name, kafka, registry, canon)
    kafka.create_topic(e.updates, PARTITIONS)
    kafka.create_topic(e.topic, PARTITIONS, config={"cleanup.policy": "compact"})
    kafka.create_topic(e.dlq, 1)
    return e


def registry_schema_text():
    return (ROOT / "schemas" / "person.avsc").read_text()


def lines(text):
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def decode_framed(value, schemas_by_id, registry):
    assert value[0] == 0, "magic byte"
    sid = struct.unpack(">I", value[1:5])[0]
    if sid not in schemas_by_id:
        schemas_by_id[sid] = fastavro.parse_schema(json.loads(registry.get(f"/schemas/ids/{sid}")["schema"]))
    return sid, fastavro.schemaless_reader(io.BytesIO(value[5:]), schemas_by_id[sid])


def ms(v):
    if isinstance(v, datetime.datetime):
        return int(v.timestamp() * 1000)
    return v


# ---- help and usage ------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["produce", "tail", "state"])
def test_each_tool_has_help_and_refuses_a_missing_argument(canon, cmd):
    r = subprocess.run([canon, cmd, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and f"usage: canon {cmd}" in r.stdout
    r = subprocess.run([canon, cmd], capture_output=True, text=True)
    assert r.returncode == 2 and "required" in r.stderr
    r = subprocess.run([canon, cmd, "x", "--bogus"], capture_output=True, text=True)
    check_sanitizers(r.stderr)
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr
    r = subprocess.run([canon, "--help"], capture_output=True, text=True)
    assert cmd in r.stdout


# ---- produce -------------------------------------------------------------------------


def test_produce_sends_updates_that_fastavro_decodes_with_defaults_filled(entity):
    k1, k2 = str(uuid.uuid4()), str(uuid.uuid4())
    before = int(time.time() * 1000)
    text = "\n".join([
        # plain form: unions bare
        json.dumps({"person_id": k1, "source": "crm",
                    "values": {"email": "a@example.com", "employment_status": "ACTIVE",
                               "address": {"city": "Oslo"}, "tags": ["vip"]}}),
        "",
        # Avro JSON form, everything explicit, a clear (null) included
        json.dumps({"person_id": k2, "source": "hr", "event_time": 1700000000000, "seq": 7,
                    "op": "UPSERT", "provided": ["given_name", "phone"],
                    "values": {"given_name": {"string": "Ann"}, "phone": None}}),
        json.dumps({"person_id": k1, "source": "hr", "op": "DELETE",
                    "event_time": "2024-05-01T12:00:00.25Z"}),
    ])
    r = entity.run("produce", entity.name, input=text)
    assert r.returncode == 0, r.stderr
    reports = lines(r.stdout)
    assert [x["line"] for x in sorted(reports, key=lambda x: x["line"])] == [1, 3, 4]
    for rep in reports:
        assert rep["topic"] == entity.updates
        # murmur2 as Java computes it
        assert rep["partition"] == partition_of(rep["key"], PARTITIONS), rep

    sid_expected, _ = entity.schema(f"{entity.updates}-value")
    records = entity.raw_records(entity.updates, 3)
    assert len(records) == 3
    schemas = {}
    decoded = {}
    for m in records:
        sid, v = decode_framed(m.value(), schemas, entity.registry)
        assert sid == sid_expected
        assert m.key().decode() == str(v["person_id"])
        decoded[(str(v["person_id"]), v["op"])] = v
    u1 = decoded[(k1, "UPSERT")]
    assert u1["source"] == "crm" and u1["seq"] == 0
    assert before - 1000 <= ms(u1["event_time"]) <= int(time.time() * 1000) + 1000
    assert u1["provided"] == ["email", "employment_status", "address", "tags"]
    assert u1["values"]["email"] == "a@example.com"
    assert u1["values"]["employment_status"] == "ACTIVE"
    assert u1["values"]["address"] == {"street": None, "city": "Oslo", "postal_code": None,
                                       "country": None}
    assert u1["values"]["given_name"] is None
    u2 = decoded[(k2, "UPSERT")]
    assert ms(u2["event_time"]) == 1700000000000 and u2["seq"] == 7
    assert u2["provided"] == ["given_name", "phone"]
    assert u2["values"]["given_name"] == "Ann" and u2["values"]["phone"] is None
    d = decoded[(k1, "DELETE")]
    assert d["provided"] == [] and d["source"] == "hr"
    assert ms(d["event_time"]) == 1714564800250


def test_produce_reports_each_bad_line_and_sends_the_good_ones(entity):
    k = str(uuid.uuid4())
    text = "\n".join([
        json.dumps({"person_id": k, "source": "crm", "values": {"email": 12}}),
        "{not json",
        json.dumps({"person_id": k, "source": "crm", "values": {"nickname": "x"}}),
        json.dumps({"person_id": k, "source": "crm", "values": {"email": "ok@example.com"}}),
        json.dumps({"source": "crm", "values": {}}),
        json.dumps({"person_id": k, "source": "crm", "provided": ["nickname"], "values": {}}),
        json.dumps({"person_id": k, "source": "crm",
                    "values": {"employment_status": "RETIRED"}}),
        json.dumps({"person_id": k, "source": "crm", "event_time": "yesterday"}),
    ])
    r = entity.run("produce", entity.name, input=text)
    assert r.returncode == 1
    assert [x["line"] for x in lines(r.stdout)] == [4]
    err = r.stderr
    assert "line 1: values.email: expected null or string, got 12" in err
    assert "line 2: not JSON" in err
    assert "line 3: values: unknown field 'nickname'" in err
    assert "line 5: missing the key field 'person_id'" in err
    assert "line 6: provided[0]: 'nickname' is not a field of" in err
    assert ("line 7: values.employment_status: 'RETIRED' is not a symbol of enum "
            "org.canongate.canon.EmploymentStatus") in err
    assert "line 8: event_time: 'yesterday' is neither milliseconds nor an ISO-8601" in err
    assert "1 delivered, 7 refused" in err


def test_produce_refuses_an_event_time_that_names_no_real_instant(entity):
    """event_time decides the merge order: a time that does not exist is refused, never
    moved to a neighbouring day (strptime + timegm sent Feb 31st as March 2nd)."""
    k = str(uuid.uuid4())
    bad = ["2024-02-31T12:00:00Z", "2023-02-29T00:00:00Z", "2024-12-31T23:59:60Z",
           "2024-05-01T24:00:00Z", "  2024-1-1T1:2:3Z", "2024-01-01T01:02:03",
           "2024-05-01", "2024-05-01T12:00Z", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00Z "]
    good = {"2024-02-29T23:59:59.999Z": 1709251199999,      # a leap day
            "2024-05-01T12:00:00.250Z": 1714564800250,
            "2024-05-01T14:00:00.25+02:00": 1714564800250,   # an offset
            "1969-12-31T23:59:59.9995Z": -1}                 # rounded down
    text = "\n".join(json.dumps({"person_id": k, "source": "crm", "event_time": t})
                     for t in [*bad, *good])
    r = entity.run("produce", entity.name, input=text)
    assert r.returncode == 1
    for n, t in enumerate(bad, 1):
        assert f"line {n}: event_time: '{t}' is neither milliseconds nor an ISO-8601" in r.stderr
    assert sorted(x["line"] for x in lines(r.stdout)) == list(range(len(bad) + 1, len(bad) + 5))
    assert f"{len(good)} delivered, {len(bad)} refused" in r.stderr
    records = entity.raw_records(entity.updates, len(good))
    schemas = {}
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    got = sorted((decode_framed(m.value(), schemas, entity.registry)[1]["event_time"] - epoch)
                 // datetime.timedelta(milliseconds=1) for m in records)
    assert got == sorted(good.values())


def test_produce_refuses_a_key_with_a_nul_character(entity):
    """The Kafka key and the body's key must be the same bytes: a key with a NUL was sent
    with the Kafka key cut at the NUL ("a") and "a\\u0000b" in the body."""
    update = json.dumps({"person_id": "a\u0000b", "source": "crm"})
    assert "\\u0000" in update
    r = entity.run("produce", entity.name, "--json", update)
    assert r.returncode == 1 and r.stdout == ""
    assert "line 1: person_id: the key contains a NUL character (\\u0000)" in r.stderr
    assert "0 delivered, 1 refused" in r.stderr


def test_produce_strict_mode_wants_wrapped_unions(entity):
    k = str(uuid.uuid4())
    bare = json.dumps({"person_id": k, "source": "crm", "values": {"email": "a@b.c"}})
    r = entity.run("produce", entity.name, "--strict", "--json", bare)
    assert r.returncode == 1 and "values.email: expected null or string as a union value" in r.stderr
    wrapped = json.dumps({"person_id": k, "source": "crm", "values": {"email": {"string": "a@b.c"}}})
    r = entity.run("produce", entity.name, "--strict", "--json", wrapped)
    assert r.returncode == 0, r.stderr


def test_produce_says_clearly_what_is_missing(entity, canon, kafka, registry):
    r = entity.run("produce", "nosuch", "--json", "{}")
    assert r.returncode == 1
    assert "entity 'nosuch' has no update schema" in r.stderr
    assert "canon.nosuch.updates-value" in r.stderr and "40401" in r.stderr
    r = subprocess.run([canon, "produce", entity.name, "--bootstrap-servers", kafka.bootstrap,
                        "--registry", "http://127.0.0.1:1", "--json", "{}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot connect" in r.stderr
    r = entity.run("produce", "Bad-Name", "--json", "{}")
    assert r.returncode == 2 and "not an entity name" in r.stderr
    # schema registered but topic not created
    other = f"q{uuid.uuid4().hex[:8]}"
    registry.post(f"/subjects/canon.{other}.entity/versions", {"schema": registry_schema_text()})
    r = entity.run("produce", other, "--json",
                   json.dumps({"person_id": str(uuid.uuid4()), "source": "crm"}))
    assert r.returncode == 1 and f"canon.{other}.updates" in r.stderr


def test_produce_names_the_local_size_limit_an_update_exceeds(entity):
    """librdkafka refuses an update over -X message.max.bytes itself, before sending, but
    words it "Broker: Message size too large": the message says it is the producer's own
    limit, and the update's size, and the other lines are still sent."""
    k = str(uuid.uuid4())
    big = json.dumps({"person_id": k, "source": "crm", "values": {"email": "x" * 5000}})
    small = json.dumps({"person_id": k, "source": "crm", "values": {"email": "a@b.c"}})
    r = entity.run("produce", entity.name, "-X", "message.max.bytes=1000",
                   input=big + "\n" + small + "\n")
    assert r.returncode == 1
    m = [x for x in r.stderr.splitlines() if x.startswith("line 1: ")]
    assert m and "over the producer's own limit message.max.bytes=1000" in m[0], r.stderr
    # the framed Avro body (5000 characters and a few bytes) and the 36-byte key
    n = int(m[0].split("the update is ")[1].split(" bytes")[0])
    assert 5036 < n < 5200, m[0]
    assert "Broker" not in r.stderr
    assert [x["line"] for x in lines(r.stdout)] == [2]
    assert "1 delivered, 1 refused, 0 not delivered" in r.stderr


def test_produce_with_no_update_says_so(entity):
    """An empty input (a forgotten `< file`) exited 0 without a word."""
    for text in ["", "\n  \n\n"]:
        r = entity.run("produce", entity.name, input=text)
        assert r.returncode == 0, r.stderr
        assert r.stdout == ""
        assert "canon produce: 0 delivered, 0 refused, 0 not delivered" in r.stderr


def test_produce_refuses_a_source_the_aggregator_would_dead_letter(entity):
    """The aggregator dead-letters a source that is empty or longer than 255 bytes
    (SOURCE): produce refuses it with the line, and sends the 1- and 255-byte ones."""
    k = str(uuid.uuid4())
    sources = ["", "é" * 128, "s", "é" * 127 + "x"]  # 0, 256, 1 and 255 bytes of UTF-8
    text = "\n".join(json.dumps({"person_id": k, "source": src}) for src in sources)
    r = entity.run("produce", entity.name, input=text)
    assert r.returncode == 1
    assert "line 1: source: must be 1 to 255 bytes, not 0" in r.stderr
    assert "line 2: source: must be 1 to 255 bytes, not 256" in r.stderr
    assert sorted(x["line"] for x in lines(r.stdout)) == [3, 4]
    assert "2 delivered, 2 refused" in r.stderr


# ---- tail ----------------------------------------------------------------------------


def test_tail_prints_what_produce_sent(entity):
    keys = [str(uuid.uuid4()) for _ in range(5)]
    text = "\n".join(json.dumps({"person_id": k, "source": "support", "seq": i,
                                 "values": {"support_tier": f"t{i}"}}) for i, k in enumerate(keys))
    assert entity.run("produce", entity.name, input=text).returncode == 0
    r = entity.run("tail", entity.updates, "--from-beginning")
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    assert len(recs) == 5
    sid, _ = entity.schema(f"{entity.updates}-value")
    by_key = {x["key"]: x for x in recs}
    assert set(by_key) == set(keys)
    for i, k in enumerate(keys):
        x = by_key[k]
        assert x["topic"] == entity.updates and x["schema_id"] == sid
        assert x["partition"] == partition_of(k, PARTITIONS)
        assert x["value"]["person_id"] == k and x["value"]["seq"] == i
        # Avro JSON encoding: unions wrapped
        assert x["value"]["values"]["support_tier"] == {"string": f"t{i}"}
        assert x["value"]["values"]["email"] is None
        assert x["headers"] == {}
    # --plain writes unions bare; --max stops early
    r = entity.run("tail", entity.updates, "--from-beginning", "--plain", "--max", "2")
    recs = lines(r.stdout)
    assert r.returncode == 0 and len(recs) == 2
    assert all(x["value"]["values"]["support_tier"].startswith("t") for x in recs)
    # without --from-beginning it starts at the end: nothing old
    r = entity.run("tail", entity.updates)
    assert r.returncode == 0 and r.stdout == ""


def test_tail_reads_one_partition_from_an_offset(entity):
    """--partition P --offset O --max 1 prints the update a provenance entry names."""
    keys = [str(uuid.uuid4()) for _ in range(30)]
    text = "\n".join(json.dumps({"person_id": k, "source": "support", "seq": i,
                                 "values": {"support_tier": f"t{i}"}}) for i, k in enumerate(keys))
    assert entity.run("produce", entity.name, input=text).returncode == 0
    everything = lines(entity.run("tail", entity.updates, "--from-beginning").stdout)
    assert len(everything) == 30
    part = max(range(PARTITIONS), key=lambda p: sum(x["partition"] == p for x in everything))
    mine = sorted((x["offset"], x["key"]) for x in everything if x["partition"] == part)
    assert len(mine) >= 2
    r = entity.run("tail", entity.updates, "--partition", str(part), "--offset", str(mine[1][0]))
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert [(x["offset"], x["key"]) for x in got] == mine[1:]
    assert all(x["partition"] == part for x in got)
    r = entity.run("tail", entity.updates, "--partition", str(part), "--offset", str(mine[0][0]),
                   "--max", "1")
    assert [x["key"] for x in lines(r.stdout)] == [mine[0][1]]
    # the whole partition, and the errors
    r = entity.run("tail", entity.updates, "--partition", str(part), "--from-beginning")
    assert [(x["offset"], x["key"]) for x in lines(r.stdout)] == mine
    r = entity.run("tail", entity.updates, "--partition", str(PARTITIONS))
    assert r.returncode == 1 and f"has {PARTITIONS} partitions" in r.stderr
    r = entity.run("tail", entity.updates, "--offset", "3")
    assert r.returncode == 2 and "--offset needs --partition" in r.stderr
    # an offset the partition does not have is an error, not a silent jump to the end
    r = entity.run("tail", entity.updates, "--partition", str(part), "--offset", "1000000")
    assert r.returncode == 1 and r.stdout == ""
    assert f"offset 1000000 of partition {part} of {entity.updates} is not on the broker" in r.stderr
    # the end itself is fine: nothing to print
    r = entity.run("tail", entity.updates, "--partition", str(part), "--offset", str(mine[-1][0] + 1))
    assert r.returncode == 0 and r.stdout == "", r.stderr


def test_tail_shows_undecodable_dead_letters_as_hex_with_headers(entity):
    sid, parsed = entity.schema(f"{entity.updates}-value")
    good = io.BytesIO()
    fastavro.schemaless_writer(good, parsed, {
        "person_id": "k", "source": "crm", "event_time": 1, "seq": 0, "op": "UPSERT",
        "provided": [], "values": {}})
    framed_good = b"\0" + struct.pack(">I", sid) + good.getvalue()
    headers = [("canon.error.code", b"FORBIDDEN_FIELD"), ("canon.error.message", b"no"),
               ("canon.source.topic", entity.updates.encode()), ("canon.source.partition", b"1"),
               ("canon.source.offset", b"42"), ("binary", b"\xff\x00")]
    p = Producer(entity.kafka.config())
    p.produce(entity.dlq, framed_good, b"k", headers=headers)
    p.produce(entity.dlq, framed_good[:-3], b"k", headers=headers)  # truncated body
    p.produce(entity.dlq, b"\0\0\x01\x86\x9f" + b"\x02", b"k")  # unknown schema id 99999
    p.produce(entity.dlq, b"plain text", b"\xfe\xff")  # not framed, key not UTF-8
    p.produce(entity.dlq, None, b"k")  # tombstone
    assert p.flush(30) == 0
    r = entity.run("tail", entity.dlq, "--from-beginning")
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    assert len(recs) == 5
    a, b, c, d, e = recs
    assert a["value"]["source"] == "crm" and a["schema_id"] == sid
    assert a["headers"]["canon.error.code"] == "FORBIDDEN_FIELD"
    assert a["headers"]["canon.source.offset"] == "42"
    assert a["headers"]["binary"] == {"hex": "ff00"}
    assert "value" not in b and b["value_hex"] == framed_good[:-3].hex()
    assert "truncated" in b["error"] or "bytes left" in b["error"], b["error"]
    assert b["headers"]["canon.error.message"] == "no"
    assert c["schema_id"] == 99999 and "40403" in c["error"] and c["value_hex"] == "000001869f02"
    assert d["key_hex"] == "feff" and "not Confluent-framed" in d["error"]
    assert d["value_hex"] == b"plain text".hex()
    assert e["value"] is None and e["key"] == "k"


def test_tail_keeps_every_value_of_a_repeated_header_name(entity):
    """Kafka headers are a list: a name given twice keeps both values (an array, in order),
    where only the last one was printed; a name given once stays a plain value."""
    headers = [("canon.replay.offset", b"4"), ("once", b"x"), ("canon.replay.offset", b"9"),
               ("mixed", b"a"), ("mixed", None), ("mixed", b"\xff")]
    p = Producer(entity.kafka.config())
    p.produce(entity.dlq, b"not framed", b"k", headers=headers)
    assert p.flush(30) == 0
    r = entity.run("tail", entity.dlq, "--from-beginning")
    assert r.returncode == 0, r.stderr
    [rec] = lines(r.stdout)
    assert rec["headers"] == {"canon.replay.offset": ["4", "9"], "once": "x",
                              "mixed": ["a", None, {"hex": "ff"}]}


def test_tail_follow_prints_new_records_and_stops_at_max(entity):
    argv = [entity.canon, "tail", entity.updates, "--bootstrap-servers", entity.kafka.bootstrap,
            "--registry", entity.registry.url, "--follow", "--max", "2", "--timeout-ms", "30000"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # let it reach the end before anything is sent
        text = "\n".join(json.dumps({"person_id": str(uuid.uuid4()), "source": "crm"})
                         for _ in range(2))
        assert entity.run("produce", entity.name, input=text).returncode == 0
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    check_sanitizers(err)
    assert proc.returncode == 0, err
    assert len(lines(out)) == 2


def test_tail_reports_a_missing_topic(entity):
    r = entity.run("tail", f"nosuch-{uuid.uuid4().hex}")
    assert r.returncode == 1 and "Unknown topic" in r.stderr


# ---- state ---------------------------------------------------------------------------


def envelope(key, version, after, provenance, op="UPDATE", deleted=None, changed=()):
    return {"key": key, "version": version, "op": op, "before": None, "after": after,
            "changed": list(changed), "provenance": provenance, "deleted": deleted,
            "cause": {"topic": "canon.x.updates", "partition": 0, "offset": version}}


def person(key, **fields):
    base = {"person_id": key, "given_name": None, "family_name": None, "email": None,
            "phone": None, "birth_date": None, "employment_status": None, "address": None,
            "tags": [], "support_tier": None}
    base.update(fields)
    return base


def write_envelopes(entity, envs):
    sid, parsed = entity.schema(f"{entity.topic}-value")
    p = Producer(entity.kafka.config(partitioner="murmur2_random"))
    for env in envs:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, env)
        p.produce(entity.topic, b"\0" + struct.pack(">I", sid) + buf.getvalue(),
                  env["key"].encode())
    assert p.flush(30) == 0
    return sid


def test_state_prints_the_latest_envelope_with_provenance(entity):
    k, other = str(uuid.uuid4()), str(uuid.uuid4())
    fv_crm = {"source": "crm", "event_time": 1700000000000, "seq": 1, "partition": 2,
              "offset": 17}
    fv_hr = {"source": "hr", "event_time": 1700000100000, "seq": 0, "partition": 2, "offset": 40}
    sid = write_envelopes(entity, [
        envelope(k, 1, person(k, email="old@example.com"), {"email": fv_crm}, op="CREATE"),
        envelope(other, 1, person(other, email="other@example.com"), {"email": fv_crm}),
        envelope(k, 2, person(k, email="new@example.com", given_name="Ann",
                              address={"street": None, "city": "Oslo", "postal_code": None,
                                       "country": "NO"}),
                 {"email": fv_crm, "given_name": fv_hr, "address": fv_hr},
                 changed=["email", "given_name", "address"]),
    ])
    r = entity.run("state", entity.name, k)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["entity"] == entity.name and s["key"] == k
    assert s["version"] == 2 and s["deleted"] is False and s["op"] == "UPDATE"
    assert s["state"]["email"] == "new@example.com"  # readable: unions bare
    assert s["state"]["given_name"] == "Ann"
    assert s["state"]["address"]["city"] == "Oslo"
    assert s["provenance"]["given_name"] == {"source": "hr", "event_time": 1700000100000,
                                             "seq": 0, "partition": 2, "offset": 40,
                                             "time": "2023-11-14T22:15:00.000Z"}
    assert s["provenance"]["email"]["time"] == "2023-11-14T22:13:20.000Z"
    assert s["changed"] == ["email", "given_name", "address"]
    assert s["last_delete"] is None
    assert s["partition"] == partition_of(k, PARTITIONS) and s["schema_id"] == sid
    assert s["topic"] == entity.topic

    # the whole envelope in Avro JSON on request
    r = entity.run("state", entity.name, k, "--envelope")
    env = json.loads(r.stdout)
    assert r.returncode == 0 and env["version"] == 2
    assert env["after"]["org.canongate.canon.Person"]["email"] == {"string": "new@example.com"}


def test_state_says_when_a_key_is_deleted(entity):
    k = str(uuid.uuid4())
    fv = {"source": "hr", "event_time": 1700000000000, "seq": 0}
    write_envelopes(entity, [
        envelope(k, 1, person(k, email="a@example.com"), {"email": fv}, op="CREATE"),
        envelope(k, 2, None, {}, op="DELETE", deleted=fv),
    ])
    r = entity.run("state", entity.name, k)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["deleted"] is True and s["state"] is None and s["version"] == 2
    assert s["last_delete"]["source"] == "hr"
    assert s["last_delete"]["time"] == "2023-11-14T22:13:20.000Z"


def test_state_of_an_unknown_key_exits_1_with_a_clear_message(entity):
    write_envelopes(entity, [envelope(str(uuid.uuid4()), 1, None, {})])
    k = str(uuid.uuid4())
    r = entity.run("state", entity.name, k)
    assert r.returncode == 1 and r.stdout == ""
    assert f"key '{k}' is unknown" in r.stderr
    assert f"partition {partition_of(k, PARTITIONS)} of {PARTITIONS}" in r.stderr
    r = entity.run("state", "nosuch", k)
    assert r.returncode == 1 and "canon.nosuch" in r.stderr


def test_tail_and_state_read_committed_only(entity):
    """An aborted transaction's records never show; a committed one's do."""
    k = str(uuid.uuid4())
    sid, parsed = entity.schema(f"{entity.topic}-value")
    fv = {"source": "crm", "event_time": 1700000000000, "seq": 0}

    def framed(env):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, env)
        return b"\0" + struct.pack(">I", sid) + buf.getvalue()

    p = Producer(entity.kafka.config(partitioner="murmur2_random",
                                     transactional_id=f"tools-{uuid.uuid4().hex}"))
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(entity.topic, framed(envelope(k, 1, person(k, email="committed@example.com"),
                                            {"email": fv}, op="CREATE")), k.encode())
    p.commit_transaction(30)
    p.begin_transaction()
    p.produce(entity.topic, framed(envelope(k, 2, person(k, email="aborted@example.com"),
                                            {"email": fv})), k.encode())
    p.flush(30)
    p.abort_transaction(30)

    r = entity.run("tail", entity.topic, "--from-beginning", "--plain")
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    assert [x["value"]["version"] for x in recs] == [1]
    assert recs[0]["value"]["after"]["email"] == "committed@example.com"
    r = entity.run("state", entity.name, k)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["version"] == 1 and s["state"]["email"] == "committed@example.com"
