"""The canonical-entity layer of the Python binding (docs/wire.md): update builder,
envelope decoder, producer and consumer helpers, on schemas/person.avsc.

The bytes are checked with fastavro on the derived schemas the binding embeds (which are
the registry's: test_producer_looks_up_the_registrys_update_schema_id proves it), so a
builder that writes the wrong `provided` or `values` fails here, not only downstream."""
import datetime
import io
import json
import os
import sys
import uuid

import fastavro
import pytest

from pybind_support import ROOT, avro_ref, import_binding

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 11, 26, 1, 2, 3, 456000, tzinfo=UTC)
T0_MS = 1795654923456


def reference(schema_text):
    """fastavro on the schema without logical types: Avro's own numbers and strings."""
    return fastavro.parse_schema(avro_ref.strip_logical(json.loads(schema_text)))


def read(schema_text, data):
    return fastavro.schemaless_reader(io.BytesIO(data), reference(schema_text), None,
                                      return_record_name=True)


def write(schema_text, datum):
    out = io.BytesIO()
    fastavro.schemaless_writer(out, reference(schema_text), datum)
    return out.getvalue()


def empty_values(person):
    fields = json.loads(person.UPDATE_SCHEMA)["fields"]
    values = next(f for f in fields if f["name"] == "values")["type"]
    return {f["name"]: None for f in values["fields"]}


def test_t0_ms_is_the_epoch_millis_of_t0():
    assert int(T0.timestamp() * 1000) == T0_MS


def test_builder_sets_and_clears_fields_with_provided_in_call_order(person):
    pid = uuid.UUID(int=42)
    update = (person.PersonUpdateBuilder(pid, source="crm", event_time=T0, seq=5)
              .set_email("a@example.org").clear_phone().set_tags(["vip"])
              .set_email("b@example.org").build())
    assert update.provided == ["email", "phone", "tags"]
    got = read(person.UPDATE_SCHEMA, update.encode())
    values = empty_values(person)
    values.update(email="b@example.org", tags=["vip"])
    assert got == {"person_id": str(pid), "source": "crm", "event_time": T0_MS, "seq": 5,
                   "op": "UPSERT", "provided": ["email", "phone", "tags"], "values": values}
    assert update.canon_key() == "00000000-0000-0000-0000-00000000002a"


def test_builder_takes_typed_values_of_every_kind(person):
    addr = person.PostalAddress(city="Lyon", country="FR")
    update = (person.PersonUpdateBuilder("5f0c1c9e-0b7a-4a53-9d55-2f1f3a8b9c01", source="hr")
              .set_birth_date(datetime.date(1990, 5, 17))
              .set_employment_status(person.EmploymentStatus.ON_LEAVE)
              .set_address(addr).build())
    got = read(person.UPDATE_SCHEMA, update.encode())["values"]
    assert got["birth_date"] == (datetime.date(1990, 5, 17) - datetime.date(1970, 1, 1)).days
    assert got["employment_status"] == "ON_LEAVE"
    assert got["address"] == ("org.canongate.canon.PostalAddress",
                              {"street": None, "city": "Lyon", "postal_code": None,
                               "country": "FR"})
    back = type(update).decode(update.encode())
    assert back == update
    assert back.values.address == addr


def test_delete_drops_fields_and_refuses_later_sets(person):
    b = person.PersonUpdateBuilder(uuid.UUID(int=1), source="crm", event_time=T0)
    update = b.set_email("x@y").delete().build()
    got = read(person.UPDATE_SCHEMA, update.encode())
    assert got["op"] == "DELETE" and got["provided"] == []
    assert got["values"] == empty_values(person)
    with pytest.raises(ValueError, match="deletes the entity"):
        b.set_email("again")


def test_event_time_defaults_to_now_in_utc_milliseconds(person):
    before = datetime.datetime.now(UTC)
    update = person.PersonUpdateBuilder(uuid.UUID(int=1), source="crm").build()
    after = datetime.datetime.now(UTC)
    assert update.event_time.microsecond % 1000 == 0
    assert before - datetime.timedelta(milliseconds=1) <= update.event_time <= after


def test_every_non_key_field_has_clear(generated, tmp_path):
    # the canon contract gives every non-key field a default or null, so each can be
    # cleared (a field with neither, which could not be, is refused at registration)
    schema = {
        "type": "record", "name": "Thing", "namespace": "com.example.things",
        "canon.key": "id",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "name", "type": ["string", "null"]},
            {"name": "size", "type": "int", "default": 1},
            {"name": "class", "type": ["null", "string"], "default": None},
            {"name": "amount", "type": ["int", "long"], "default": 0},
        ],
    }
    path = tmp_path / "thing.avsc"
    path.write_text(json.dumps(schema))
    mod = import_binding(generated("thing", str(path)), "com.example.things.thing")
    b = mod.ThingUpdateBuilder
    assert hasattr(b, "set_name") and hasattr(b, "clear_name")
    assert hasattr(b, "clear_size") and hasattr(b, "clear_class") and hasattr(b, "clear_amount")
    assert not hasattr(b, "set_id") and not hasattr(b, "clear_id")
    update = (b("t-1", source="ops", event_time=T0).set_class("A").clear_size()
              .set_amount(("long", 7)).build())
    assert update.values.class_ == "A"
    got = read(mod.UPDATE_SCHEMA, update.encode())
    assert got["provided"] == ["class", "size", "amount"]
    assert got["values"] == {"name": None, "size": None, "class": "A", "amount": 7}
    # the ambiguous union keeps its branch: long, not int
    raw = update.encode()
    assert type(update).decode(raw).values.amount == ("long", 7)
    assert mod.ThingUpdate.from_json(update.to_json()) == update
    assert json.loads(update.to_json())["values"]["amount"] == {"long": 7}


def envelope_datum(pid):
    person = {"person_id": str(pid), "given_name": "Ada", "family_name": None,
              "email": "ada@example.org", "phone": None, "birth_date": 7000,
              "employment_status": ("org.canongate.canon.EmploymentStatus", "ACTIVE"),
              "address": None, "tags": ["a", "b"], "support_tier": None}
    return {"key": str(pid), "version": 3, "op": "UPDATE", "before": None,
            "after": ("org.canongate.canon.Person", person), "changed": ["email"],
            "provenance": {"email": {"source": "crm", "event_time": T0_MS, "seq": 2,
                                     "partition": 2, "offset": 17}},
            "deleted": {"source": "hr", "event_time": T0_MS - 1000, "seq": 0,
                        "partition": 0, "offset": 5},
            "cause": {"topic": "canon.person.updates", "partition": 1, "offset": 42}}


def test_envelope_decoder_reads_what_the_aggregator_writes(person):
    import canongate
    pid = uuid.UUID(int=7)
    body = write(person.ENVELOPE_SCHEMA, envelope_datum(pid))
    framed = b"\x00" + (9).to_bytes(4, "big") + body
    schema_id, env = person.decode_envelope(framed)
    assert schema_id == 9
    assert env.key == pid and env.canon_key() == str(pid)
    assert env.version == 3 and env.op is canongate.ChangeOp.UPDATE
    assert env.before is None
    assert isinstance(env.after, person.Person)
    assert env.after.email == "ada@example.org" and env.after.tags == ["a", "b"]
    assert env.after.birth_date == datetime.date(1970, 1, 1) + datetime.timedelta(days=7000)
    assert env.after.employment_status is person.EmploymentStatus.ACTIVE
    assert env.changed == ["email"]
    # partition and offset name the update message that set the field (docs/wire.md)
    assert env.provenance == {"email": canongate.FieldVersion(source="crm", event_time=T0, seq=2,
                                                              partition=2, offset=17)}
    assert env.provenance["email"].partition == 2 and env.provenance["email"].offset == 17
    assert env.deleted == canongate.FieldVersion(
        source="hr", event_time=T0 - datetime.timedelta(seconds=1), seq=0, partition=0, offset=5)
    assert env.cause == canongate.Cause(topic="canon.person.updates", partition=1, offset=42)
    assert env.encode() == body
    assert env.encode_framed(9) == framed


def test_framing_is_rejected_when_malformed(person):
    body = write(person.ENVELOPE_SCHEMA, envelope_datum(uuid.UUID(int=7)))
    for bad in (b"", b"\x00\x00\x00", b"\x01\x00\x00\x00\x09" + body,
                b"\x00\x00\x00\x00\x09" + body[:-1], b"\x00\x00\x00\x00\x09" + body + b"\x00"):
        with pytest.raises(ValueError):
            person.decode_envelope(bad)


def test_murmur2_matches_kafkas_java_client():
    from canongate import _runtime as rt
    # Kafka's own test values for Utils.murmur2 (clients UtilsTest)
    cases = {b"21": -973932308, b"foobar": -790332482,
             b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
             b"abc": 479470107}
    for key, want in cases.items():
        assert rt.murmur2(key) == want, key
    assert rt.partition_for(b"21", 6) == (-973932308 & 0x7FFFFFFF) % 6


def registry_api(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
    import helpers
    reg = helpers.Registry(tmp_path / "reg.db", tmp_path / "reg.log")
    reg.start()
    return reg, helpers.Api(reg.url)


def test_producer_looks_up_the_registrys_update_schema_id(person, tmp_path):
    pytest.importorskip("confluent_kafka.schema_registry")
    with open(os.path.join(ROOT, "schemas", "person.avsc"), encoding="utf-8") as f:
        text = f.read()
    reg, api = registry_api(tmp_path)
    try:
        r = api.register("canon.person.entity", text)
        assert r.status_code == 200, r.text
        latest = api.get("/subjects/canon.person.updates-value/versions/latest").json()
        # the binding embeds exactly the schema the registry derived
        assert json.loads(latest["schema"]) == json.loads(person.UPDATE_SCHEMA)
        env_latest = api.get("/subjects/canon.person-value/versions/latest").json()
        assert json.loads(env_latest["schema"]) == json.loads(person.ENVELOPE_SCHEMA)

        p = person.PersonProducer({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 1000},
                                  registry_url=reg.url)
        assert p.schema_id == latest["id"]
        update = person.PersonUpdateBuilder(uuid.UUID(int=3), source="crm").set_email("e@x")
        p.send(update)
        assert len(p._producer) == 1  # queued for the broker, key and value set
        p._producer.purge()
        assert p.flush(1) == 0
    finally:
        reg.stop()


def test_producer_with_a_given_schema_id_needs_no_registry(person):
    pytest.importorskip("confluent_kafka")
    p = person.PersonProducer({"bootstrap.servers": "127.0.0.1:9"}, schema_id=12)
    assert p.schema_id == 12 and p.topic == "canon.person.updates"
    p._producer.purge()
    with pytest.raises(ValueError, match="no schema_id"):
        person.PersonProducer({"bootstrap.servers": "127.0.0.1:9"})


def test_consumer_decodes_envelopes(person):
    pytest.importorskip("confluent_kafka")
    c = person.PersonConsumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "t"})
    try:
        assert c.topic == "canon.person"
        body = write(person.ENVELOPE_SCHEMA, envelope_datum(uuid.UUID(int=8)))
        env = c.decode_value(b"\x00\x00\x00\x00\x05" + body)
        assert env.key == uuid.UUID(int=8)
        assert c.poll(0.1) is None
    finally:
        c.close()


def test_consumer_reads_envelopes_written_before_partition_and_offset(person, tmp_path):
    """Canon topics keep envelopes whose FieldVersion has only source, event_time and seq
    (the first derivation). With registry_url the consumer resolves them against this
    binding's schema: partition and offset take their default, -1 (unknown)."""
    pytest.importorskip("confluent_kafka.schema_registry")
    import canongate
    old = json.loads(person.ENVELOPE_SCHEMA)
    prov = next(f for f in old["fields"] if f["name"] == "provenance")
    fv = prov["type"]["values"]
    assert [f["name"] for f in fv["fields"]] == ["source", "event_time", "seq", "partition",
                                                 "offset"]
    fv["fields"] = fv["fields"][:3]
    datum = envelope_datum(uuid.UUID(int=9))
    for v in list(datum["provenance"].values()) + [datum["deleted"]]:
        del v["partition"], v["offset"]
    reg, api = registry_api(tmp_path)
    try:
        old_id = api.register_ok("legacy-person-envelope-value", old)
        body = write(json.dumps(old), datum)
        c = person.PersonConsumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "t"},
                                  registry_url=reg.url)
        try:
            env = c.decode_value(b"\x00" + old_id.to_bytes(4, "big") + body)
        finally:
            c.close()
        assert env.provenance == {"email": canongate.FieldVersion(source="crm", event_time=T0,
                                                                  seq=2)}
        assert env.provenance["email"].partition == -1 and env.provenance["email"].offset == -1
        assert env.deleted.partition == -1 and env.deleted.offset == -1
        # re-encoded, it is an envelope of this binding's version
        assert read(person.ENVELOPE_SCHEMA, env.encode())["provenance"]["email"] == {
            "source": "crm", "event_time": T0_MS, "seq": 2, "partition": -1, "offset": -1}
    finally:
        reg.stop()


def test_corrupt_bytes_raise_avro_error_only(person):
    """Mutated encodings (flipped, cut, inserted bytes) either decode or raise AvroError
    (a ValueError): never another exception a consumer would not expect."""
    import random
    from canongate import _runtime as rt
    rnd = random.Random(4)
    base = (person.PersonUpdateBuilder(uuid.UUID(int=5), source="crm").set_email("e@x")
            .set_tags(["a", "b"]).set_address(person.PostalAddress(city="c")).build().encode())
    outcomes = {"ok": 0, "error": 0}
    for _ in range(3000):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            if op < 0.5 and b:
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            elif op < 0.75 and b:
                del b[rnd.randrange(len(b)):]
            else:
                b.insert(rnd.randrange(len(b) + 1), rnd.randrange(256))
        try:
            person.PersonUpdate.decode(bytes(b))
            outcomes["ok"] += 1
        except rt.AvroError:
            outcomes["error"] += 1
    assert outcomes["error"] > 1000 and outcomes["ok"] > 0, outcomes
