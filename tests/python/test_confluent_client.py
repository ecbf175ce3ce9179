"""confluent-kafka's SchemaRegistryClient, AvroSerializer and AvroDeserializer, unchanged,
against the canon registry (issue 3: existing clients work unchanged; no Kafka broker is
needed for serialization).

Reference: confluent-kafka-python's schema_registry API (SchemaRegistryClient methods,
SchemaRegistryError with http_status_code and error_code) and Confluent's wire format:
magic byte 0, 4-byte big-endian schema id, Avro binary body.
"""
import json
import struct

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

ORDER_V1 = json.dumps({
    "type": "record", "name": "Order", "namespace": "com.shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "price", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "status", "type": {"type": "enum", "name": "Status",
                                    "symbols": ["NEW", "PAID", "SHIPPED"]}},
        {"name": "payload", "type": "bytes"},
    ]})
ORDER_V2 = json.dumps({**json.loads(ORDER_V1), "fields": json.loads(ORDER_V1)["fields"] + [
    {"name": "channel", "type": "string", "default": "web"}]})
ORDER_BAD = json.dumps({**json.loads(ORDER_V1), "fields": json.loads(ORDER_V1)["fields"] + [
    {"name": "required_new", "type": "string"}]})

RECORDS = [
    {"id": "o-1", "qty": 1, "price": 9.5, "note": None, "tags": [], "attrs": {},
     "status": "NEW", "payload": b""},
    {"id": "ö-2 ✓", "qty": -2147483648, "price": -0.0, "note": "fragile ü", "tags": ["a", "b"],
     "attrs": {"x": 2**62, "y": -1}, "status": "SHIPPED", "payload": bytes(range(256))},
]


@pytest.fixture(scope="module")
def client(registry):
    return SchemaRegistryClient({"url": registry.url})


def test_register_get_lookup(client, registry):
    subject = "client-orders-value"
    sid = client.register_schema(subject, Schema(ORDER_V1, "AVRO"))
    assert isinstance(sid, int) and sid > 0
    got = client.get_schema(sid)
    assert got.schema_str == ORDER_V1
    assert got.schema_type == "AVRO"
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.subject, latest.version) == (sid, subject, 1)
    assert latest.schema.schema_str == ORDER_V1
    assert client.get_versions(subject) == [1]
    found = client.lookup_schema(subject, Schema(ORDER_V1, "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (sid, 1, subject)
    assert client.register_schema(subject, Schema(ORDER_V1, "AVRO")) == sid
    assert subject in client.get_subjects()
    fresh = SchemaRegistryClient({"url": registry.url})
    assert fresh.register_schema(subject, Schema(ORDER_V1, "AVRO")) == sid  # no cache


def test_compatibility_calls(client):
    subject = "client-compat-value"
    client.register_schema(subject, Schema(ORDER_V1, "AVRO"))
    assert client.test_compatibility(subject, Schema(ORDER_V2, "AVRO")) is True
    assert client.test_compatibility(subject, Schema(ORDER_BAD, "AVRO")) is False
    answer = client.set_compatibility(subject_name=subject, level="FULL")
    assert answer == {"compatibility": "FULL"}, answer  # the PUT /config answer, as parsed
    assert client.get_compatibility(subject) == "FULL"
    assert client.test_compatibility(subject, Schema(ORDER_V2, "AVRO")) is True
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema(subject, Schema(ORDER_BAD, "AVRO"))
    assert e.value.http_status_code == 409
    sid2 = client.register_schema(subject, Schema(ORDER_V2, "AVRO"))
    assert client.get_latest_version(subject).schema_id == sid2
    assert client.get_versions(subject) == [1, 2]


def test_delete_subject(client):
    subject = "client-delete-value"
    client.register_schema(subject, Schema(ORDER_V1, "AVRO"))
    client.register_schema(subject, Schema(ORDER_V2, "AVRO"))
    assert client.delete_subject(subject) == [1, 2]
    with pytest.raises(SchemaRegistryError) as e:
        client.get_versions(subject)
    assert (e.value.http_status_code, e.value.error_code) == (404, 40401)
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    assert subject not in client.get_subjects(deleted=True)


def test_client_errors(client):
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema("client-bad-value", Schema('{"type": "nope"}', "AVRO"))
    assert (e.value.http_status_code, e.value.error_code) == (422, 42201)
    with pytest.raises(SchemaRegistryError) as e:
        client.get_schema(987654321)
    assert (e.value.http_status_code, e.value.error_code) == (404, 40403)


def frame(data):
    assert data[0] == 0, "Confluent wire format starts with magic byte 0"
    return struct.unpack(">I", data[1:5])[0]


def test_avro_serializer_round_trip(registry):
    client = SchemaRegistryClient({"url": registry.url})
    ser = AvroSerializer(client, ORDER_V1)
    de = AvroDeserializer(client)
    ctx = SerializationContext("serde-orders", MessageField.VALUE)
    ids = set()
    for rec in RECORDS:
        data = ser(rec, ctx)
        ids.add(frame(data))
        assert de(data, ctx) == rec
    assert len(ids) == 1
    sid = ids.pop()
    assert client.get_latest_version("serde-orders-value").schema_id == sid
    # a deserializer with its own client (no cache) fetches the writer schema by id
    de2 = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    assert de2(ser(RECORDS[1], ctx), ctx) == RECORDS[1]


def test_avro_key_serializer(registry):
    client = SchemaRegistryClient({"url": registry.url})
    ser = AvroSerializer(client, '"string"')
    de = AvroDeserializer(client)
    ctx = SerializationContext("serde-keys", MessageField.KEY)
    data = ser("person-42", ctx)
    assert de(data, ctx) == "person-42"
    assert "serde-keys-key" in client.get_subjects()


def test_schema_evolution_with_reader_schema(registry):
    client = SchemaRegistryClient({"url": registry.url})
    ctx = SerializationContext("serde-evolve", MessageField.VALUE)
    v1_bytes = AvroSerializer(client, ORDER_V1)(RECORDS[0], ctx)
    v2_rec = dict(RECORDS[1], channel="store")
    v2_bytes = AvroSerializer(client, ORDER_V2)(v2_rec, ctx)
    assert frame(v1_bytes) != frame(v2_bytes)
    assert client.get_versions("serde-evolve-value") == [1, 2]
    reader = AvroDeserializer(client, ORDER_V2)
    assert reader(v1_bytes, ctx) == dict(RECORDS[0], channel="web")  # default filled in
    assert reader(v2_bytes, ctx) == v2_rec
    writer_de = AvroDeserializer(client)
    assert writer_de(v1_bytes, ctx) == RECORDS[0]


def test_use_latest_version_without_auto_register(registry):
    client = SchemaRegistryClient({"url": registry.url})
    sid = client.register_schema("serde-latest-value", Schema(ORDER_V1, "AVRO"))
    ser = AvroSerializer(client, ORDER_V1,
                         conf={"auto.register.schemas": False, "use.latest.version": True})
    ctx = SerializationContext("serde-latest", MessageField.VALUE)
    data = ser(RECORDS[1], ctx)
    assert frame(data) == sid
    assert AvroDeserializer(client)(data, ctx) == RECORDS[1]
    # without auto-registration, an unknown schema is an error from the registry
    ser2 = AvroSerializer(client, ORDER_V2, conf={"auto.register.schemas": False})
    with pytest.raises(SchemaRegistryError) as e:
        ser2(dict(RECORDS[0], channel="x"), SerializationContext("serde-none", MessageField.VALUE))
    assert (e.value.http_status_code, e.value.error_code) == (404, 40401)
