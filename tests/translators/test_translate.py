"""test_translate.py - `canon translate --mapping FILE` against a real broker and registry.

What the declarative translator promises (docs/translators.md, translators/run.h):
- each JSON or Avro domain record becomes one canonical update on canon.<entity>.updates,
  keyed by the universal identifier, partitioned with murmur2, with the mapped values, the
  fields it provides, UPSERT or DELETE, the event time from the record and seq = the
  source offset;
- a record that is not JSON, does not decode or does not map goes byte for byte to the
  DLQ topic with the headers the aggregator uses;
- a mapping that does not fit the registered schema stops the command (exit 2) with the
  file's line, before anything is consumed;
- offsets are committed only after delivery: a second run resumes where the first ended,
  and a run killed with SIGKILL loses nothing (updates replayed after it are identical).
"""
import datetime as dt
import json
import signal
import subprocess
import time
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from canon_keys import java_partition as partition_of, person_key

UTC = dt.timezone.utc


def ms(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def by_key(updates):
    return {str(u["person_id"]): (m, sid, u) for m, sid, u in updates}


def alice(**kw):
    r = {"email": " Alice.Smith@Example.com ", "first_name": " Alice ", "last_name": "Smith",
         "dob": "12/05/1990", "status": "Active", "home": {"city": "Leeds", "country": "gb"},
         "updated_at": "2024-03-01T09:30:00Z"}
    r.update(kw)
    return r


def test_help_and_usage_errors(canon):
    p = subprocess.run([canon, "translate", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--mapping FILE" in p.stdout and "--once" in p.stdout
    p = subprocess.run([canon, "translate", "--bootstrap-servers", "x:1", "--registry", "http://x:1"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--mapping FILE is required" in p.stderr
    p = subprocess.run([canon, "translate", "--mapping", "m.json", "--from-end", "--from-beginning",
                        "--bootstrap-servers", "x:1", "--registry", "http://x:1"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "exclude each other" in p.stderr


def test_json_records_become_canonical_updates(domain):
    domain.mapping()
    sent = domain.send([
        alice(),
        {"email": "bob@example.com", "first_name": "Bob", "last_name": "", "status": "leave",
         "updated_at": "2024-03-02T10:00:00.250Z"},
        {"email": "Carol@example.com", "status": "terminated", "updated_at": "2024-03-03T00:00:00Z"},
    ])
    r = domain.translate()
    assert r.rc == 0, r.err
    assert r.counts() == (3, 3, 1, 0)

    ups = by_key(domain.updates_read())
    ka = person_key(domain.entity, "alice.smith@example.com")
    kb = person_key(domain.entity, "bob@example.com")
    kc = person_key(domain.entity, "carol@example.com")
    assert set(ups) == {ka, kb, kc}
    for k, (m, sid, u) in ups.items():
        assert m.key() == k.encode()
        assert sid == domain.update_id
        assert m.partition() == partition_of(k.encode(), domain.updates_partitions)
        assert u["source"] == "hr"

    m, _, a = ups[ka]
    assert a["op"] == "UPSERT"
    assert a["event_time"] == ms("2024-03-01T09:30:00Z")
    assert a["seq"] == sent[0][1]
    assert set(a["provided"]) == {"given_name", "family_name", "email", "birth_date",
                                  "employment_status", "address", "tags"}
    v = a["values"]
    assert v["given_name"] == "Alice"
    assert v["family_name"] == "Smith"
    assert v["email"] == "alice.smith@example.com"
    assert v["birth_date"] == dt.date(1990, 5, 12)
    assert v["employment_status"] == "ACTIVE"
    assert v["address"]["city"] == "Leeds" and v["address"]["country"] == "GB"
    assert v["address"]["street"] is None
    assert v["tags"] == ["employee"]

    _, _, b = ups[kb]
    assert b["op"] == "UPSERT"
    assert b["event_time"] == ms("2024-03-02T10:00:00.250Z")
    # last_name "" with clear_when_empty: provided, null (a clear); no dob, no home: left alone
    assert set(b["provided"]) == {"given_name", "family_name", "email", "employment_status", "tags"}
    assert b["values"]["family_name"] is None
    assert b["values"]["employment_status"] == "ON_LEAVE"

    _, _, c = ups[kc]
    assert c["op"] == "DELETE"
    assert c["event_time"] == ms("2024-03-03T00:00:00Z")
    assert c["provided"] == []

    # everything consumed was committed, partition by partition
    last = {}
    for p, off in sent:
        last[p] = max(last.get(p, -1), off)
    committed = domain.committed()
    for p, off in last.items():
        assert committed[p] == off + 1


def test_avro_records_decoded_through_the_registry(domain_factory):
    import io
    import struct

    import fastavro

    d = domain_factory(fmt="avro")
    schema = {"type": "record", "name": "Employee", "namespace": "com.example.hr", "fields": [
        {"name": "email", "type": "string"},
        {"name": "first_name", "type": ["null", "string"], "default": None},
        {"name": "last_name", "type": ["null", "string"], "default": None},
        {"name": "dob", "type": ["null", "string"], "default": None},
        {"name": "status", "type": "string"},
        {"name": "home", "type": ["null", {"type": "record", "name": "Home", "fields": [
            {"name": "city", "type": "string"}, {"name": "country", "type": "string"}]}],
         "default": None},
        {"name": "updated_at", "type": "string"}]}
    sid = d.reg.post(f"/subjects/{d.topic}-value/versions", {"schema": json.dumps(schema)})["id"]
    parsed = fastavro.parse_schema(schema)

    def frame(rec, schema_id=sid):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, rec)
        return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()

    good = frame({"email": "Dana@Example.com", "first_name": "Dana", "last_name": None, "dob": "01/02/1985",
                  "status": "ACTIVE", "home": {"city": "York", "country": "gb"},
                  "updated_at": "2024-04-01T08:00:00Z"})
    unknown = b"\x00" + struct.pack(">I", 987654) + good[5:]
    unframed = b"{\"email\": \"x@example.com\"}"
    truncated = good[:12]
    d.mapping()
    sent = d.send([good, unknown, unframed, truncated])
    r = d.translate()
    assert r.rc == 0, r.err
    assert r.counts() == (4, 1, 0, 3)

    [(m, _, u)] = d.updates_read()
    k = person_key(d.entity, "dana@example.com")
    assert m.key() == k.encode() and str(u["person_id"]) == k
    assert u["op"] == "UPSERT" and u["seq"] == sent[0][1]
    assert u["event_time"] == ms("2024-04-01T08:00:00Z")
    assert u["values"]["given_name"] == "Dana"
    assert u["values"]["birth_date"] == dt.date(1985, 2, 1)
    assert u["values"]["address"]["country"] == "GB"
    # last_name null with clear_when_empty: a clear
    assert "family_name" in u["provided"] and u["values"]["family_name"] is None

    codes = {m.value(): dict(m.headers())["canon.error.code"].decode() for m in d.read(d.dlq)}
    assert codes == {unknown: "UNKNOWN_SCHEMA", unframed: "FRAMING", truncated: "DECODE"}


def test_bad_records_go_to_the_dlq_byte_for_byte_with_the_reason(domain):
    domain.mapping()
    bad = [b"this is not JSON {", json.dumps({"first_name": "No E-mail", "updated_at": "2024-03-01T00:00:00Z"}).encode(),
           json.dumps(alice(email="eve@example.com", dob="31/02/1990")).encode()]
    sent = domain.send(bad + [alice(email="frank@example.com")], key="K-bad")
    r = domain.translate("-v")
    assert r.rc == 0, r.err
    assert r.counts() == (4, 1, 0, 3)
    assert "dead letter" in r.err  # -v names each one

    [(m, _, u)] = domain.updates_read()
    assert m.key() == person_key(domain.entity, "frank@example.com").encode()

    dlq = domain.read(domain.dlq)
    assert [m.value() for m in dlq] == bad  # one source partition (one key): in order
    for m, (p, off) in zip(dlq, sent):
        h = {k: v.decode() for k, v in m.headers()}
        assert m.key() == b"K-bad"
        assert h["canon.source.topic"] == domain.topic
        assert int(h["canon.source.partition"]) == p
        assert int(h["canon.source.offset"]) == off
        assert h["canon.error.message"]
    codes = [dict(m.headers())["canon.error.code"].decode() for m in dlq]
    assert codes == ["NOT_JSON", "MAPPING", "MAPPING"]
    msgs = [dict(m.headers())["canon.error.message"].decode() for m in dlq]
    assert "email" in msgs[1]  # the missing key's path
    assert "dob" in msgs[2] or "birth_date" in msgs[2]


def _too_large_mapping(domain, targets):
    """The HR mapping with the domain field `big` mapped to each of targets."""
    domain.mapping(fields={"email": {"from": "email", "normalize": ["trim", "lower"]},
                           **{t: "big" for t in targets}})


def test_an_update_too_large_to_produce_is_a_dead_letter_and_the_run_goes_on(domain):
    # 600 KB mapped to two fields: a 1.2 MB update, past the producer's message.max.bytes
    # (1,000,000). It used to stop the run with exit 1 and nothing committed, on every
    # run: a poison pill that kept every later record from being translated.
    _too_large_mapping(domain, ["given_name", "family_name"])
    big = json.dumps(alice(email="big@example.com", big="x" * 600_000)).encode()
    sent = domain.send([alice(email="a@example.com", big="a"), big, alice(email="c@example.com", big="c")],
                       key="K-big")
    r = domain.translate()
    assert r.rc == 0, r.err
    assert r.counts() == (3, 2, 0, 1)
    assert sorted(str(u["person_id"]) for _, _, u in domain.updates_read()) == sorted(
        person_key(domain.entity, e) for e in ("a@example.com", "c@example.com"))
    [m] = domain.read(domain.dlq)
    h = {k: v.decode() for k, v in m.headers()}
    assert m.value() == big and m.key() == b"K-big"
    assert h["canon.error.code"] == "TOO_LARGE"
    assert f"too large to produce to {domain.updates}" in h["canon.error.message"]
    assert int(h["canon.source.offset"]) == sent[1][1]
    part = sent[0][0]
    assert domain.committed()[part] == sent[2][1] + 1
    r = domain.translate()  # nothing left
    assert r.rc == 0 and r.counts() == (0, 0, 0, 0), r.err


def test_a_dead_letter_too_large_for_the_dlq_stops_the_run_naming_the_record(domain):
    # With message.max.bytes at 200,000, a 250 KB record's update is too large, and so is
    # its dead letter: nowhere to put it. The run stops (exit 1) before its offset, having
    # committed the record before it; a rerun stops on it again (no loop, nothing lost),
    # and once the limit is raised it goes through with the records after it.
    _too_large_mapping(domain, ["given_name"])
    sent = domain.send([alice(email="a@example.com", big="a"),
                        alice(email="big@example.com", big="y" * 250_000),
                        alice(email="c@example.com", big="c")], key="K-big")
    part, off = sent[1]
    for _ in range(2):
        r = domain.translate("-X", "message.max.bytes=200000")
        assert r.rc == 1, (r.out, r.err)
        assert f"{domain.topic} [{part}] offset {off}" in r.err
        assert f"cannot go to the dead-letter topic {domain.dlq} (TOO_LARGE" in r.err
        assert "message.max.bytes 200000" in r.err
        assert domain.committed()[part] == off
    assert [str(u["person_id"]) for _, _, u in domain.updates_read()] == [
        person_key(domain.entity, "a@example.com")]
    r = domain.translate()
    assert r.rc == 0, r.err
    assert r.counts() == (2, 2, 0, 0)
    assert domain.committed()[part] == sent[2][1] + 1


def test_a_topic_limit_below_the_producers_is_kept_to(domain):
    # The updates topic takes batches of at most 8,000 bytes (max.message.bytes), far
    # below the producer's message.max.bytes (1,000,000): librdkafka filled batches past
    # it, the broker refused them after they were sent, and the run stopped with nothing
    # committed, at every run. Now the producer is made with a message.max.bytes that fits
    # the topic: the small updates go through in small batches, and an update past that
    # (a field mapped twice) is a dead letter, as any update too large to produce.
    entry = ConfigEntry("max.message.bytes", "8000", incremental_operation=AlterConfigOpType.SET)
    res = ConfigResource(ConfigResource.Type.TOPIC, domain.updates, incremental_configs=[entry])
    for fut in domain.kafka.admin().incremental_alter_configs([res]).values():
        fut.result(timeout=30)
    _too_large_mapping(domain, ["given_name", "family_name"])
    records = [alice(email=f"p{i}@example.com", big=f"b{i}") for i in range(600)]
    records.insert(300, alice(email="big@example.com", big="z" * 5000))
    sent = domain.send(records)
    r = domain.translate()
    assert r.rc == 0, r.err[-3000:]
    assert f"{domain.updates} takes record batches of at most 8000 bytes" in r.err, r.err
    assert r.counts() == (601, 600, 0, 1), r.out
    assert len(domain.updates_read()) == 600
    [m] = domain.read(domain.dlq)
    h = {k: v.decode() for k, v in m.headers()}
    assert h["canon.error.code"] == "TOO_LARGE", h
    assert (m.partition(), int(h["canon.source.offset"])) == sent[300]


def _no_consumption(domain):
    assert all(off < 0 for off in domain.committed().values())
    c = Consumer(domain.kafka.config(group_id="w-" + uuid.uuid4().hex))
    try:
        for p in range(domain.updates_partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(domain.updates, p), timeout=10)
            assert hi == 0
    finally:
        c.close()


def test_a_field_not_in_the_canonical_schema_exits_2_naming_the_line(domain):
    fields = json.dumps({"given_name": "first_name", "emial": "email"})
    text = "\n".join([
        "{",
        f'  "source": {{"topic": "{domain.topic}", "format": "json"}},',
        f'  "entity": "{domain.entity}",',
        '  "domain": "hr",',
        '  "key": {"from": "email"},',
        '  "fields": {',
        '    "given_name": "first_name",',
        '    "emial": "email"',
        "  }",
        "}",
    ])
    assert json.loads(text)["fields"] == json.loads(fields)
    path = domain.mapping(text=text)
    domain.send([alice()])
    r = domain.translate()
    assert r.rc == 2, (r.out, r.err)
    assert f"{path}:8:" in r.err and "emial" in r.err
    _no_consumption(domain)


def test_a_field_the_domain_may_not_write_exits_2(domain):
    path = domain.mapping(fields={"phone": "mobile"})  # canon.writers: crm, support
    domain.send([alice()])
    r = domain.translate()
    assert r.rc == 2, (r.out, r.err)
    assert str(path) in r.err and "phone" in r.err
    _no_consumption(domain)


def test_a_second_run_resumes_where_the_first_ended(domain):
    domain.mapping()
    first = domain.send([alice(email=f"p{i}@example.com") for i in range(40)])
    r = domain.translate()
    assert r.rc == 0, r.err
    assert r.counts()[0] == 40
    second = domain.send([alice(email=f"q{i}@example.com") for i in range(25)])
    r = domain.translate()
    assert r.rc == 0, r.err
    assert r.counts() == (25, 25, 0, 0)
    ups = domain.updates_read()
    assert len(ups) == 65
    seen = sorted((str(u["person_id"]), u["seq"]) for _, _, u in ups)
    want = sorted([(person_key(domain.entity, f"p{i}@example.com"), off) for i, (_, off) in enumerate(first)] +
                  [(person_key(domain.entity, f"q{i}@example.com"), off) for i, (_, off) in enumerate(second)])
    assert seen == want
    # nothing left: a third run reads nothing
    r = domain.translate()
    assert r.rc == 0 and r.counts() == (0, 0, 0, 0)


def _updates_out(domain):
    c = Consumer(domain.kafka.config(group_id="w-" + uuid.uuid4().hex))
    try:
        return sum(c.get_watermark_offsets(TopicPartition(domain.updates, p), timeout=10)[1]
                   for p in range(domain.updates_partitions))
    finally:
        c.close()


def _wait(cond, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_killed_run_loses_nothing_and_replays_identical_updates(domain):
    domain.mapping()
    wave1 = [alice(email=f"k{i}@example.com") for i in range(2000)]
    wave2 = [alice(email=f"k{i}@example.com", updated_at="2024-03-02T00:00:00Z") for i in range(2000, 20000)]
    n = len(wave1) + len(wave2)
    sent = domain.send(wave1)
    # the killed member holds its partitions until its session times out: keep that short
    quick = ("-X", "session.timeout.ms=6000")
    proc = subprocess.Popen(domain.args(*quick), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # wave 1 translated and committed; then wave 2, and a kill -9 in its middle
        _wait(lambda: sum(max(o, 0) for o in domain.committed().values()) == len(wave1), "wave 1's commit")
        sent += domain.send(wave2)
        _wait(lambda: _updates_out(domain) > len(wave1) + 500, "wave 2's first updates")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert "Sanitizer" not in proc.stderr.read()
    proc.stderr.close()
    before = sum(max(o, 0) for o in domain.committed().values())
    out_before = _updates_out(domain)
    print(f"killed with {before} of {n} records committed, {out_before} updates out")
    assert len(wave1) <= before < n

    r = domain.translate(*quick)
    assert r.rc == 0, r.err
    assert r.counts()[0] == n - before  # the second run starts at the committed offsets

    first = {}
    for m, _, u in domain.updates_read():
        k = (str(u["person_id"]), u["seq"])
        if k in first:
            assert first[k] == m.value(), "a replayed update differs from the first"
        first[k] = m.value()
    want = {(person_key(domain.entity, f"k{i}@example.com"), off) for i, (_, off) in enumerate(sent)}
    assert set(first) == want


def test_sigterm_stops_cleanly_with_everything_delivered_committed(domain):
    domain.mapping()
    records = [alice(email=f"s{i}@example.com") for i in range(20000)]
    sent = domain.send(records)
    proc = subprocess.Popen(domain.args("-v"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _updates_out(domain) > 0, "the first updates")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Sanitizer" not in err
    # a clean stop commits exactly what it delivered: the next run translates the rest,
    # and no record is translated twice
    before = sum(max(o, 0) for o in domain.committed().values())
    assert before == _updates_out(domain)
    r = domain.translate()
    assert r.rc == 0, r.err
    assert r.counts()[0] == len(records) - before
    ups = domain.updates_read()
    assert len(ups) == len(records)
    assert sorted((str(u["person_id"]), u["seq"]) for _, _, u in ups) == sorted(
        (person_key(domain.entity, f"s{i}@example.com"), off) for i, (_, off) in enumerate(sent))


def test_from_beginning_reprocesses_and_from_end_skips_the_backlog(domain):
    domain.mapping()
    domain.send([alice(email=f"b{i}@example.com") for i in range(30)])
    r = domain.translate()
    assert r.rc == 0 and r.counts()[0] == 30, r.err
    # the group has committed everything; --from-beginning reads it all again
    r = domain.translate("--from-beginning")
    assert r.rc == 0 and r.counts() == (30, 30, 0, 0), r.err
    # a new group starts at the end with --from-end, at the beginning without
    domain.group = "g2-" + domain.entity
    r = domain.translate("--from-end")
    assert r.rc == 0 and r.counts()[0] == 0, r.err
    domain.group = "g3-" + domain.entity
    r = domain.translate()
    assert r.rc == 0 and r.counts()[0] == 30, r.err
