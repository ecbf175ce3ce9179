"""test_kafka_helpers.py - the generated bindings' Kafka helpers (C person_kafka.c, Python
PersonProducer/PersonConsumer, Java PersonCanon.producer/consumer) against a real broker.

Why: the helpers were only compiled and unit-checked; this drives each language's producer
and consumer against Kafka 4.1 (tests/kafka/kafka_fixture.py) and a `canon registry`
holding schemas/person.avsc, and checks the bytes on the wire with confluent-kafka and
fastavro, not with the bindings themselves:
- producer: key = person_id UTF-8, partition = Java's murmur2 of the key (computed here and
  cross-checked with librdkafka's murmur2_random), value framed with the id the registry
  gives canon.person.updates-value, body = the update (set, clear, delete);
- consumer: envelopes written with fastavro, some in an aborted transaction, come out of
  each helper exactly as committed, down to the partition and offset of the update message
  in the field versions (provenance, deleted).

CANON_BIN: the canon binary (default build/canon). Bindings are generated and built once
per session; the Java classpath comes from the harness's cache (~/.cache/canongate/java).
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

fastavro = pytest.importorskip("fastavro")
confluent_kafka = pytest.importorskip("confluent_kafka")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))
from kafka_fixture import kafka  # noqa: E402,F401
from canon_registry import Registry  # noqa: E402
from canon_keys import java_partition, murmur2  # noqa: E402
from bindings_support import JsonServer  # noqa: E402

UPDATES = "canon.person.updates"
CANON = "canon.person"
PARTITIONS = 3
T0 = 1700000000000  # event_time of every update (ms)


def canon_bin():
    path = os.environ.get("CANON_BIN", str(ROOT / "build" / "canon"))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"CANON_BIN={path!r} is not an executable canon binary")
    return path


def run(args, timeout=300, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{args[:3]} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_murmur2_matches_known_java_values():
    # kafka-clients' Utils.murmur2 of these keys (published in Kafka's UtilsTest)
    assert murmur2(b"21") & 0xFFFFFFFF == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"foobar") & 0xFFFFFFFF == (-790332482) & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") & 0xFFFFFFFF == (-985981536) & 0xFFFFFFFF
    assert murmur2(b"") & 0xFFFFFFFF == 275646681


def strip_logical(node):
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


class Env:
    """The registry, the topics and the ids every test of this module shares."""


@pytest.fixture(scope="module")
def env(kafka, tmp_path_factory):  # noqa: F811
    binary = canon_bin()
    d = tmp_path_factory.mktemp("kafka-helpers")
    reg = Registry(binary, d / "reg.db", d / "registry.log")
    try:
        schema = (ROOT / "schemas" / "person.avsc").read_text()
        reg.post("/subjects/canon.person.entity/versions", {"schema": schema})
        e = Env()
        e.kafka, e.registry, e.canon, e.dir = kafka, reg, binary, d
        upd = reg.get("/subjects/canon.person.updates-value/versions/latest")
        e.update_id = upd["id"]
        # read without logical types: the test compares plain Avro values
        e.update_schema = fastavro.parse_schema(strip_logical(json.loads(upd["schema"])))
        envl = reg.get("/subjects/canon.person-value/versions/latest")
        e.envelope_id = envl["id"]
        e.envelope_schema = fastavro.parse_schema(json.loads(envl["schema"]))
        for t in (UPDATES, CANON):
            try:
                kafka.create_topic(t, partitions=PARTITIONS)
            except confluent_kafka.KafkaException:
                # made by another test of the session: records are told apart by key
                kafka.wait_for_topic(t, PARTITIONS)
        e.canon_key, e.committed = write_envelopes(e)
        yield e
    finally:
        reg.stop()


def person(pid, email):
    return {"person_id": pid, "given_name": None, "family_name": None, "email": email,
            "phone": None, "birth_date": None, "employment_status": None, "address": None,
            "tags": [], "support_tier": None}


def envelope(pid, version, op, before, after, changed):
    # partition and offset of the update message that set the field (docs/wire.md):
    # distinct per version, so a helper that drops or swaps them is caught
    fv = {"source": "crm", "event_time": T0 + version, "seq": version, "partition": 2,
          "offset": 16 + version}
    return {"key": pid, "version": version, "op": op, "before": before, "after": after,
            "changed": changed, "provenance": {f: fv for f in changed if op != "DELETE"},
            "deleted": fv if op == "DELETE" else None,
            "cause": {"topic": UPDATES, "partition": 1, "offset": version}}


def write_envelopes(e):
    """Writes five envelopes of one key (one partition, so order holds) to canon.person in
    three transactions: 1, 2 committed; 3 aborted; 4, a tombstone, 5 committed. The
    consumers must yield 1, 2, 4, 5; version 5 is the last, so a consumer stops when it
    sees it. The consumer programs leave auto.offset.reset alone: each helper reads a new
    group's canon topic from the start (the state it holds), as the C helper documents."""
    pid = str(uuid.uuid4())
    a = person(pid, "a@example.org")
    b = person(pid, "b@example.org")
    c = person(pid, "c@example.org")
    envs = [envelope(pid, 1, "CREATE", None, a, ["email"]),
            envelope(pid, 2, "UPDATE", a, b, ["email"]),
            envelope(pid, 3, "UPDATE", b, person(pid, "aborted@example.org"), ["email"]),
            envelope(pid, 4, "UPDATE", b, c, ["email"]),
            envelope(pid, 5, "DELETE", c, None, ["email"])]

    def framed(v):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, e.envelope_schema, v)
        return b"\x00" + struct.pack(">I", e.envelope_id) + buf.getvalue()

    p = confluent_kafka.Producer(e.kafka.config(transactional_id=f"bk-{uuid.uuid4().hex}",
                                                partitioner="murmur2_random"))
    p.init_transactions(30)
    for batch, commit in (([envs[0], envs[1]], True), ([envs[2]], False),
                          ([envs[3], envs[4]], True)):
        p.begin_transaction()
        for v in batch:
            if v["version"] == 5:  # a tombstone, which every consumer helper skips
                p.produce(CANON, key=pid.encode(), value=None)
            p.produce(CANON, key=pid.encode(), value=framed(v))
        if commit:
            p.commit_transaction(30)
        else:
            p.flush(30)
            p.abort_transaction(30)
    committed = [v for v in envs if v["version"] != 3]
    return pid, committed


def field_version_at(v):
    """partition:offset of the version of email (provenance), else of the delete."""
    fv = v["provenance"].get("email") or v["deleted"]
    return f"{fv['partition']}:{fv['offset']}" if fv else "-"


def expected_consumed(e):
    """One line per committed envelope: version op after.email changed partition:offset
    (of field_version_at) schema-id (the format each language's consumer program prints)."""
    return [f"{v['version']} {v['op']} {(v['after'] or {}).get('email') or '-'} "
            f"{','.join(v['changed'])} {field_version_at(v)} {e.envelope_id}"
            for v in e.committed]


def expected_updates(pid):
    """The three updates each producer program sends for pid, as fastavro reads them.
    Each program sets email, then given_name: every language lists provided fields in
    the order first touched (docs/bindings.md)."""
    values = {"given_name": None, "family_name": None, "email": None, "phone": None,
              "birth_date": None, "employment_status": None, "address": None, "tags": None,
              "support_tier": None}
    base = {"person_id": pid, "source": "crm"}
    return [
        dict(base, event_time=T0 + 1, seq=1, op="UPSERT", provided=["email", "given_name"],
             values=dict(values, email="ada@example.org", given_name="Ada")),
        dict(base, event_time=T0 + 2, seq=2, op="UPSERT", provided=["phone"],
             values=dict(values)),
        dict(base, event_time=T0 + 3, seq=3, op="DELETE", provided=[], values=dict(values)),
    ]


def read_updates(e, pid, want, timeout=60):
    """The records of key pid on canon.person.updates: [(partition, value bytes)]."""
    c = confluent_kafka.Consumer(e.kafka.config(group_id=f"bk-{uuid.uuid4().hex}",
                                                auto_offset_reset="earliest",
                                                isolation_level="read_committed"))
    c.subscribe([UPDATES])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            if m.key() == pid.encode("utf-8"):
                out.append((m.partition(), m.value()))
    finally:
        c.close()
    return out


def librdkafka_partition(e, key):
    """The partition librdkafka's murmur2_random picks for key on a 3-partition topic."""
    t = f"bk-part-{uuid.uuid4().hex[:8]}"
    e.kafka.create_topic(t, partitions=PARTITIONS)
    got = []
    p = confluent_kafka.Producer(e.kafka.config(partitioner="murmur2_random"))
    p.produce(t, key=key, value=b"x", on_delivery=lambda err, m: got.append(m.partition()))
    assert p.flush(30) == 0
    return got[0]


def check_updates(e, pid):
    key = pid.encode("utf-8")
    recs = read_updates(e, pid, 3)
    assert len(recs) == 3, recs
    part = java_partition(key, PARTITIONS)
    assert part == librdkafka_partition(e, key)
    decoded = []
    for partition, value in recs:
        assert partition == part
        assert value[0] == 0
        assert struct.unpack(">I", value[1:5])[0] == e.update_id
        decoded.append(fastavro.schemaless_reader(io.BytesIO(value[5:]), e.update_schema))
    assert decoded == expected_updates(pid)


# ---------------------------------------------------------------- C

C_PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "person_kafka.h"

/* consume BOOTSTRAP GROUP KEY [REGISTRY|- [TOPIC]]: with a registry URL the consumer
 * resolves every envelope version through it (canon_resolve.h) */
static int fail(const char *what, const canon_error *err)
{
    fprintf(stderr, "%s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    canon_error err = {0};
    if (argc == 5 && !strcmp(argv[1], "produce")) {
        person_producer *p = person_producer_new(NULL, argv[2], NULL, atoi(argv[3]), &err);
        if (!p)
            return fail("producer_new", &err);
        person_update_builder_t u;
        person_update_begin(&u, argv[4], "crm", 1700000000001LL, 1);
        person_update_set_email(&u, "ada@example.org");
        person_update_set_given_name(&u, "Ada");
        if (person_producer_send(p, &u, &err))
            return fail("send", &err);
        person_update_begin(&u, argv[4], "crm", 1700000000002LL, 2);
        person_update_clear_phone(&u);
        if (person_producer_send(p, &u, &err))
            return fail("send", &err);
        person_update_begin(&u, argv[4], "crm", 1700000000003LL, 3);
        person_update_delete(&u);
        if (person_producer_send(p, &u, &err))
            return fail("send", &err);
        if (person_producer_flush(p, 30000, &err))
            return fail("flush", &err);
        person_producer_free(p);
        return 0;
    }
    if (argc >= 5 && argc <= 7 && !strcmp(argv[1], "consume")) {
        const char *registry = argc > 5 && strcmp(argv[5], "-") ? argv[5] : NULL;
        person_consumer *c =
            person_consumer_new(NULL, argv[2], argv[3], argc > 6 ? argv[6] : NULL, &err);
        if (!c)
            return fail("consumer_new", &err);
        canon_resolver *res = NULL;
        if (registry) {
            res = canon_resolver_new(person_envelope_schema, canon_registry_fetch,
                                     (void *)registry, &err);
            if (!res)
                return fail("resolver_new", &err);
            person_consumer_set_resolver(c, res);
        }
        canon_arena *a = canon_arena_new(0);
        int rc = 1, retries = 0;
        const char *max_retries = getenv("KPROG_MAX_RETRIES"); /* then stop, as if killed */
        for (time_t end = time(NULL) + 60; time(NULL) < end;) {
            person_envelope_t e;
            int32_t id;
            int r = person_consumer_poll(c, 500, &e, &id, a, &err);
            if (r < 0 && err.code == CANON_EFETCH) { /* the registry did not answer */
                fprintf(stderr, "retry: %s\n", err.msg);
                memset(&err, 0, sizeof err);
                if (max_retries && ++retries >= atoi(max_retries))
                    break;
                continue;
            }
            if (r < 0) {
                fail("poll", &err);
                break;
            }
            if (r == 0)
                continue;
            if (e.key.len != strlen(argv[4]) || memcmp(e.key.data, argv[4], e.key.len)) {
                canon_arena_reset(a);
                continue;
            }
            printf("%lld %s %s ", (long long)e.version, canongate_change_op_symbol(e.op),
                   e.after && e.after->email.has ? e.after->email.value.data : "-");
            for (size_t j = 0; j < e.changed.len; j++)
                printf("%s%s", j ? "," : "", e.changed.items[j].data);
            const canongate_field_version_t *fv = person_envelope_provenance(&e, "email");
            if (!fv)
                fv = e.deleted;
            if (fv)
                printf(" %d:%lld", (int)fv->partition, (long long)fv->offset);
            else
                printf(" -");
            printf(" %d\n", (int)id);
            int last = e.version == 5;
            canon_arena_reset(a);
            if (last) {
                rc = 0;
                break;
            }
        }
        fflush(stdout);
        canon_arena_free(a);
        person_consumer_free(c);
        canon_resolver_free(res);
        return rc;
    }
    fprintf(stderr, "usage\n");
    return 2;
}
"""


@pytest.fixture(scope="module")
def c_prog(env):
    out = env.dir / "c"
    run([env.canon, "gen", "--lang", "c", "--schema", str(ROOT / "schemas" / "person.avsc"),
         "--out", str(out)])
    (out / "kprog.c").write_text(C_PROG)
    srcs = [str(p) for p in sorted(out.glob("*.c")) if p.name not in ("roundtrip.c",)]
    # ASan + UBSan where the compiler has them: the helpers' memory handling is checked too
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1",
           "-fno-omit-frame-pointer", "-I", str(out), "-o", str(out / "kprog")]
    libs = ["-lrdkafka", "-ljansson", "-lcurl", "-lm"]
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    r = subprocess.run(cmd + san + srcs + libs, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "sanitize" in r.stderr:
        r = subprocess.run(cmd + srcs + libs, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    return str(out / "kprog")


C_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")


def test_c_producer(env, c_prog):
    pid = str(uuid.uuid4())
    run([c_prog, "produce", env.kafka.bootstrap, str(env.update_id), pid], timeout=60,
        env=C_ENV)
    check_updates(env, pid)


def test_c_consumer(env, c_prog):
    out = run([c_prog, "consume", env.kafka.bootstrap, f"bk-c-{uuid.uuid4().hex}",
               env.canon_key], timeout=90, env=C_ENV)
    assert out.splitlines() == expected_consumed(env)


def test_c_consumer_resolving_through_the_registry(env, c_prog):
    """person_consumer_set_resolver with canon_registry_fetch: this binding's own version
    comes back as the input itself (identity), read as without a resolver."""
    out = run([c_prog, "consume", env.kafka.bootstrap, f"bk-cr-{uuid.uuid4().hex}",
               env.canon_key, env.registry.url], timeout=90, env=C_ENV)
    assert out.splitlines() == expected_consumed(env)


def test_c_consumer_reads_envelopes_of_every_version(env, c_prog):
    """The C consumer with a resolver reads envelopes of the first derivation next to
    current ones (missing partition and offset: the reader's default, -1); without one
    it fails on the old envelope, naming its topic, partition and offset."""
    topic, pid, want = mixed_version_topic(env)
    out = run([c_prog, "consume", env.kafka.bootstrap, f"bk-cm-{uuid.uuid4().hex}", pid,
               env.registry.url, topic], timeout=90, env=C_ENV)
    assert out.splitlines() == want
    r = subprocess.run([c_prog, "consume", env.kafka.bootstrap, f"bk-cx-{uuid.uuid4().hex}",
                        pid, "-", topic], capture_output=True, text=True, timeout=90, env=C_ENV)
    assert r.returncode != 0 and f"{topic} [0] offset 0" in r.stderr, r.stdout + r.stderr[-3000:]


# ---------------------------------------------------------------- Python

PY_PROG = r"""
import os, sys, uuid, datetime
from org.canongate.canon.person import PersonUpdateBuilder, PersonProducer, PersonConsumer
from canongate._runtime import SchemaFetchError

def ts(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)

mode, bootstrap = sys.argv[1], sys.argv[2]
if mode == "produce":
    registry, pid = sys.argv[3], uuid.UUID(sys.argv[4])
    with PersonProducer({"bootstrap.servers": bootstrap}, registry_url=registry) as p:
        p.send(PersonUpdateBuilder(pid, source="crm", event_time=ts(1700000000001), seq=1)
               .set_email("ada@example.org").set_given_name("Ada"))
        p.send(PersonUpdateBuilder(pid, source="crm", event_time=ts(1700000000002), seq=2)
               .clear_phone())
        p.send(PersonUpdateBuilder(pid, source="crm", event_time=ts(1700000000003), seq=3)
               .delete())
        assert p.flush(30) == 0
else:
    group, key = sys.argv[3], sys.argv[4]
    registry = sys.argv[5] if len(sys.argv) > 5 else None
    topic = sys.argv[6] if len(sys.argv) > 6 else None
    with PersonConsumer({"bootstrap.servers": bootstrap, "group.id": group},
                        registry_url=registry, topic=topic) as c:
        retries = 0
        for _ in range(120):
            try:
                e = c.poll(0.5)
            except SchemaFetchError as err:  # the registry did not answer
                print("retry:", err, file=sys.stderr, flush=True)
                retries += 1
                limit = int(os.environ.get("KPROG_MAX_RETRIES") or 0)
                if limit and retries >= limit:
                    break  # then stop, as if killed
                continue
            if e is None or str(e.key) != key:
                continue
            email = e.after.email if e.after is not None and e.after.email else "-"
            op = getattr(e.op, "name", e.op)
            fv = e.provenance.get("email") or e.deleted
            at = f"{fv.partition}:{fv.offset}" if fv is not None else "-"
            print(e.version, op, email, ",".join(e.changed), at, "ID", flush=True)
            if e.version == 5:
                sys.exit(0)
    sys.exit(1)
"""


@pytest.fixture(scope="module")
def py_prog(env):
    out = env.dir / "python"
    run([env.canon, "gen", "--lang", "python", "--schema", str(ROOT / "schemas" / "person.avsc"),
         "--out", str(out)])
    (out / "kprog.py").write_text(PY_PROG)
    envv = dict(os.environ, PYTHONPATH=str(out / "src"))

    def prog(*args, timeout=90):
        return run([sys.executable, str(out / "kprog.py")] + list(args), timeout=timeout, env=envv)

    prog.command = lambda *args: [sys.executable, str(out / "kprog.py")] + list(args)
    prog.env = envv
    return prog


def test_python_producer(env, py_prog):
    pid = str(uuid.uuid4())
    py_prog("produce", env.kafka.bootstrap, env.registry.url, pid)
    check_updates(env, pid)


def test_python_consumer(env, py_prog):
    out = py_prog("consume", env.kafka.bootstrap, f"bk-py-{uuid.uuid4().hex}", env.canon_key)
    # the Python helper yields envelopes without the id: check the rest
    want = [line.rsplit(" ", 1)[0] + " ID" for line in expected_consumed(env)]
    assert out.splitlines() == want


def test_python_consumer_resolving_through_the_registry(env, py_prog):
    """With registry_url the helper fetches the writer's schema by id and resolves."""
    out = py_prog("consume", env.kafka.bootstrap, f"bk-pyr-{uuid.uuid4().hex}", env.canon_key,
                  env.registry.url)
    want = [line.rsplit(" ", 1)[0] + " ID" for line in expected_consumed(env)]
    assert out.splitlines() == want


# ---------------------------------------------------------------- Java

JAVA_PROG = r"""
import canongate.FieldVersion;
import canongate.runtime.CanonConsumer;
import canongate.runtime.CanonProducer;
import canongate.runtime.CanonRecord;
import java.time.Duration;
import java.time.Instant;
import java.util.Properties;
import java.util.UUID;
import org.canongate.canon.Person;
import org.canongate.canon.PersonCanon;
import org.canongate.canon.PersonEnvelope;
import org.canongate.canon.PersonUpdate;

public class KProg {
  public static void main(String[] args) throws Exception {
    Properties kafka = new Properties();
    kafka.put("bootstrap.servers", args[1]);
    if (args[0].equals("produce")) {
      UUID pid = UUID.fromString(args[3]);
      try (CanonProducer<PersonUpdate> p = PersonCanon.producer(kafka, args[2])) {
        p.send(PersonCanon.update(pid).source("crm").eventTime(Instant.ofEpochMilli(1700000000001L)).seq(1)
            .setEmail("ada@example.org").setGivenName("Ada").build()).get();
        p.send(PersonCanon.update(pid).source("crm").eventTime(Instant.ofEpochMilli(1700000000002L)).seq(2)
            .clearPhone().build()).get();
        p.send(PersonCanon.update(pid).source("crm").eventTime(Instant.ofEpochMilli(1700000000003L)).seq(3)
            .delete().build()).get();
        p.flush();
      }
      return;
    }
    if (args[0].equals("consume-all")) {
      // consume-all BOOTSTRAP GROUP TOPIC N: every record as PARTITION@OFFSET VERSION, every
      // error as "bad: ...", until N records decoded
      kafka.put("group.id", args[2]);
      int seen = 0, want = Integer.parseInt(args[4]);
      try (CanonConsumer<PersonEnvelope> c = new CanonConsumer<>(kafka, args[3], PersonEnvelope::fromFramed)) {
        long deadline = System.currentTimeMillis() + 60000;
        while (seen < want && System.currentTimeMillis() < deadline) {
          try {
            for (CanonRecord<PersonEnvelope> r : c.poll(Duration.ofMillis(500))) {
              System.out.println(r.partition() + "@" + r.offset() + " " + r.value().getVersion());
              seen++;
            }
          } catch (java.io.UncheckedIOException x) {
            System.out.println("bad: " + x.getMessage());
          }
        }
      }
      System.exit(seen == want ? 0 : 1);
    }
    // consume BOOTSTRAP GROUP KEY [REGISTRY|- [TOPIC]]: with a registry URL, envelopes of
    // any version the registry resolves; "-", only this binding's version (fromFramed)
    kafka.put("group.id", args[2]);
    String registry = args.length > 4 && !args[4].equals("-") ? args[4] : null;
    CanonConsumer<PersonEnvelope> consumer;
    if (args.length > 5)
      consumer = new CanonConsumer<>(kafka, args[5], registry != null ? PersonCanon.envelopeDecoder(registry) : PersonEnvelope::fromFramed);
    else
      consumer = registry != null ? PersonCanon.consumer(kafka, registry) : PersonCanon.consumer(kafka);
    try (CanonConsumer<PersonEnvelope> c = consumer) {
      long deadline = System.currentTimeMillis() + 60000;
      while (System.currentTimeMillis() < deadline) {
        java.util.List<CanonRecord<PersonEnvelope>> got;
        try {
          got = c.poll(Duration.ofMillis(500));
        } catch (java.io.UncheckedIOException x) {
          if (!(x.getCause() instanceof canongate.runtime.SchemaFetchException)) throw x;
          System.err.println("retry: " + x.getMessage());  // the registry did not answer
          continue;
        }
        for (CanonRecord<PersonEnvelope> r : got) {
          PersonEnvelope e = r.value();
          if (e == null || !String.valueOf(e.getKey()).equals(args[3])) continue;
          Person a = e.getAfter();
          String email = a != null && a.getEmail() != null ? a.getEmail().toString() : "-";
          StringBuilder ch = new StringBuilder();
          for (CharSequence s : e.getChanged()) ch.append(ch.length() > 0 ? "," : "").append(s);
          FieldVersion fv = e.getProvenance().get("email");
          if (fv == null) fv = e.getDeleted();
          String at = fv != null ? fv.getPartition() + ":" + fv.getOffset() : "-";
          System.out.println(e.getVersion() + " " + e.getOp() + " " + email + " " + ch + " " + at + " " + r.schemaId());
          if (e.getVersion() == 5) return;
        }
      }
    }
    System.exit(1);
  }
}
"""


def java_classpath(env):
    """kafka-clients + avro: the classpath the Java harness caches; made once by running a
    harness binding's roundtrip.sh when absent."""
    cache = Path(os.environ.get("CANONGATE_CACHE_DIR",
                                Path.home() / ".cache" / "canongate")) / "java"
    cps = sorted(cache.glob("classpath-*.txt"))
    if not cps:
        h = env.dir / "java-harness"
        run([env.canon, "gen", "--lang", "java", "--harness", "--schema",
             str(ROOT / "schemas" / "person.avsc"), "--out", str(h)])
        subprocess.run(["sh", str(h / "roundtrip.sh")], input="", text=True, timeout=600,
                       capture_output=True)
        cps = sorted(cache.glob("classpath-*.txt"))
    assert cps, f"no cached Java classpath in {cache}"
    return cps[-1].read_text().strip()


@pytest.fixture(scope="module")
def java_prog(env):
    if not shutil.which("javac"):
        pytest.skip("no javac")
    out = env.dir / "java"
    run([env.canon, "gen", "--lang", "java", "--schema", str(ROOT / "schemas" / "person.avsc"),
         "--out", str(out)])
    (out / "KProg.java").write_text(JAVA_PROG)
    cp = java_classpath(env)
    classes = out / "classes"
    srcs = [str(p) for p in (out / "src").rglob("*.java")] + [str(out / "KProg.java")]
    run(["javac", "-J-XX:TieredStopAtLevel=1", "--release", "17", "-nowarn", "-cp", cp,
         "-d", str(classes)] + srcs, timeout=600)
    full = f"{classes}:{cp}"

    def command(*args):
        return ["java", "-XX:TieredStopAtLevel=1", "-Dslf4j.internal.verbosity=ERROR", "-cp",
                full, "KProg"] + list(args)

    def prog(*args, timeout=120):
        return run(command(*args), timeout=timeout)

    prog.command = command  # for a run that must fail
    return prog


def test_java_producer(env, java_prog):
    pid = str(uuid.uuid4())
    java_prog("produce", env.kafka.bootstrap, env.registry.url, pid)
    check_updates(env, pid)


def test_java_consumer(env, java_prog):
    out = java_prog("consume", env.kafka.bootstrap, f"bk-java-{uuid.uuid4().hex}", env.canon_key)
    assert [l for l in out.splitlines() if l and l[0].isdigit()] == expected_consumed(env)


def test_java_consumer_resolving_through_the_registry(env, java_prog):
    """PersonCanon.consumer(kafka, registryUrl): the writer schema of each value is
    fetched by id; this binding's own version takes the generated decoder."""
    out = java_prog("consume", env.kafka.bootstrap, f"bk-javar-{uuid.uuid4().hex}",
                    env.canon_key, env.registry.url)
    assert [l for l in out.splitlines() if l and l[0].isdigit()] == expected_consumed(env)


def mixed_version_topic(env):
    """A canon topic holding envelopes of the first derivation (FieldVersion without
    partition and offset), registered under a subject of their own, next to current
    ones. Returns (topic, key, the lines a consumer prints, one per envelope)."""
    legacy = json.loads(env.registry.get("/subjects/canon.person-value/versions/latest")["schema"])
    fv = next(f for f in legacy["fields"] if f["name"] == "provenance")["type"]["values"]
    fv["fields"] = [f for f in fv["fields"] if f["name"] not in ("partition", "offset")]
    legacy_id = env.registry.post("/subjects/legacy-person-envelope-value/versions",
                                  {"schema": json.dumps(legacy)})["id"]
    assert legacy_id != env.envelope_id
    legacy_schema = fastavro.parse_schema(legacy)
    topic = f"bk-mixed-{uuid.uuid4().hex[:8]}"
    env.kafka.create_topic(topic, partitions=1)
    pid = str(uuid.uuid4())
    a, b = person(pid, "a@example.org"), person(pid, "b@example.org")
    envs = [(envelope(pid, 1, "CREATE", None, a, ["email"]), True),
            (envelope(pid, 2, "UPDATE", a, b, ["email"]), False),
            (envelope(pid, 5, "DELETE", b, None, ["email"]), True)]
    p = confluent_kafka.Producer(env.kafka.config())
    want = []
    for v, old in envs:
        buf = io.BytesIO()
        if old:
            for fvs in list(v["provenance"].values()) + [v["deleted"]]:
                if fvs:
                    fvs.pop("partition"), fvs.pop("offset")
        fastavro.schemaless_writer(buf, legacy_schema if old else env.envelope_schema, v)
        sid = legacy_id if old else env.envelope_id
        p.produce(topic, key=pid.encode(), value=b"\x00" + struct.pack(">I", sid) + buf.getvalue())
        at = "-1:-1" if old else field_version_at(v)
        want.append(f"{v['version']} {v['op']} {(v['after'] or {}).get('email') or '-'} "
                    f"{','.join(v['changed'])} {at} {sid}")
    assert p.flush(30) == 0
    return topic, pid, want


class FlakyRegistry(JsonServer):
    """An HTTP proxy in front of the registry that answers the first `failures` schema
    fetches with 503, as a registry being restarted would."""

    def __init__(self, upstream, failures):
        import urllib.request
        state = self.state = {"left": failures, "fetches": 0}

        def answer(path, headers):
            state["fetches"] += 1
            if path.startswith("/schemas/ids/") and state["left"] > 0:
                state["left"] -= 1
                return 503, b'{"error_code":50301,"message":"restarting"}'
            with urllib.request.urlopen(upstream + path, timeout=10) as r:
                return r.status, r.read()

        super().__init__(answer)


def test_c_consumer_reads_again_what_the_registry_did_not_resolve(env, c_prog):
    """A schema fetch that fails (the registry answers 503 twice) does not pass over the
    record: poll reports CANON_EFETCH naming the record, and reads it again until the
    registry answers (the resolver asks again after CANON_RESOLVER_RETRY_MS, 5 s); in the
    end every envelope is read, in order."""
    topic, pid, want = mixed_version_topic(env)
    flaky = FlakyRegistry(env.registry.url, failures=2)
    try:
        r = subprocess.run([c_prog, "consume", env.kafka.bootstrap, f"bk-cf-{uuid.uuid4().hex}",
                            pid, flaky.url, topic], capture_output=True, text=True, timeout=90,
                           env=C_ENV)
    finally:
        flaky.close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == want
    retries = [l for l in r.stderr.splitlines() if l.startswith("retry: ")]
    assert retries and all(f"{topic} [0] offset 0: " in l and "HTTP 503" in l for l in retries), \
        r.stderr[-3000:]
    assert flaky.state["left"] == 0


def test_python_consumer_reads_again_what_the_registry_did_not_resolve(env, py_prog):
    """As the C consumer: a schema fetch that fails raises SchemaFetchError naming the
    record, and the next poll reads that record again. confluent-kafka's registry client
    itself tries a 503 four times (max_retries 3) before giving up: five failures make
    one poll fail and the next succeed after one more."""
    topic, pid, want = mixed_version_topic(env)
    flaky = FlakyRegistry(env.registry.url, failures=5)
    try:
        r = subprocess.run(py_prog.command("consume", env.kafka.bootstrap,
                                           f"bk-pyf-{uuid.uuid4().hex}", pid, flaky.url, topic),
                           capture_output=True, text=True, timeout=90, env=py_prog.env)
    finally:
        flaky.close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == [line.rsplit(" ", 1)[0] + " ID" for line in want]
    retries = [l for l in r.stderr.splitlines() if l.startswith("retry: ")]
    assert retries and all(f"{topic} [0] offset 0: " in l for l in retries), r.stderr[-3000:]
    assert flaky.state["left"] == 0


def test_java_consumer_reads_again_what_the_registry_did_not_resolve(env, java_prog):
    """As the C and Python consumers: a schema fetch that fails (503 twice) makes poll
    throw for that record, and a later poll reads it again; every envelope is read."""
    topic, pid, want = mixed_version_topic(env)
    flaky = FlakyRegistry(env.registry.url, failures=2)
    try:
        r = subprocess.run(java_prog.command("consume", env.kafka.bootstrap,
                                             f"bk-javaf-{uuid.uuid4().hex}", pid, flaky.url,
                                             topic),
                           capture_output=True, text=True, timeout=120)
    finally:
        flaky.close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert [l for l in r.stdout.splitlines() if l and l[0].isdigit()] == want
    retries = [l for l in r.stderr.splitlines() if l.startswith("retry: ")]
    assert len(retries) == 2 and all(f"{topic}/0@0: " in l for l in retries), r.stderr[-3000:]
    assert flaky.state["left"] == 0


def test_java_consumer_returns_what_came_before_a_bad_value_and_loses_nothing(env, java_prog):
    """A poll batch holding an undecodable value: poll returns the records before it, the
    next poll throws for it (naming partition and offset), and the records after it, in
    its partition and in the others, come later: each good record exactly once, the bad
    one reported once and passed over."""
    topic = f"bk-bad-{uuid.uuid4().hex[:8]}"
    env.kafka.create_topic(topic, partitions=2)
    pid = str(uuid.uuid4())
    p = confluent_kafka.Producer(env.kafka.config())

    def framed(version):
        buf = io.BytesIO()
        a = person(pid, f"v{version}@example.org")
        fastavro.schemaless_writer(buf, env.envelope_schema,
                                   envelope(pid, version, "UPDATE", a, a, ["email"]))
        return b"\x00" + struct.pack(">I", env.envelope_id) + buf.getvalue()

    plan = [(0, framed(1)), (0, b"\x00" + struct.pack(">I", env.envelope_id) + b"\xff" * 7),
            (0, framed(2)), (1, framed(3)), (1, framed(4)), (0, framed(5))]
    for part, value in plan:
        p.produce(topic, key=pid.encode(), value=value, partition=part)
    assert p.flush(30) == 0
    out = java_prog("consume-all", env.kafka.bootstrap, f"bk-javab-{uuid.uuid4().hex}", topic, "5")
    lines = out.splitlines()
    bad = [l for l in lines if l.startswith("bad: ")]
    good = sorted(l for l in lines if not l.startswith("bad: "))
    assert good == ["0@0 1", "0@2 2", "0@3 5", "1@0 3", "1@1 4"], out
    assert len(bad) == 1 and f"{topic}/0@1: " in bad[0], out
    # records of partition 0 come in order, the error between 1 and 2
    zero = [l for l in lines if l.startswith("0@") or l.startswith("bad: ")]
    assert zero == ["0@0 1", bad[0], "0@2 2", "0@3 5"], out


def stop_while_the_registry_is_down_then_resume(env, command, run_env, topic, pid):
    """Runs a consumer whose registry never answers until it gives up (after 2 failed
    fetches of the first record's schema) and closes (committing what it stored), then the
    same group with the registry: returns the second run's stdout. A consumer that counted
    the unread record as done would resume after it."""
    group = f"bk-stop-{uuid.uuid4().hex}"
    down = FlakyRegistry(env.registry.url, failures=1 << 30)
    try:
        r = subprocess.run(command(group, down.url), capture_output=True, text=True,
                           timeout=120, env=dict(run_env, KPROG_MAX_RETRIES="2"))
    finally:
        down.close()
    assert r.returncode != 0 and "retry: " in r.stderr, r.stdout + r.stderr[-3000:]
    r = subprocess.run(command(group, env.registry.url), capture_output=True, text=True,
                       timeout=120, env=run_env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_c_consumer_stopped_while_the_registry_is_down_resumes_at_the_unread_record(env, c_prog):
    topic, pid, want = mixed_version_topic(env)
    out = stop_while_the_registry_is_down_then_resume(
        env, lambda group, url: [c_prog, "consume", env.kafka.bootstrap, group, pid, url, topic],
        C_ENV, topic, pid)
    assert out.splitlines() == want


def test_python_consumer_stopped_while_the_registry_is_down_resumes_at_the_unread_record(
        env, py_prog):
    topic, pid, want = mixed_version_topic(env)
    out = stop_while_the_registry_is_down_then_resume(
        env, lambda group, url: py_prog.command("consume", env.kafka.bootstrap, group, pid, url,
                                                topic),
        py_prog.env, topic, pid)
    assert out.splitlines() == [line.rsplit(" ", 1)[0] + " ID" for line in want]


def test_java_consumer_reads_envelopes_of_every_version(env, java_prog):
    """The Java consumer with a registry URL reads envelopes of both versions (missing
    partition and offset: -1); the exact-version decoder fails on the old."""
    topic, pid, want = mixed_version_topic(env)
    out = java_prog("consume", env.kafka.bootstrap, f"bk-javam-{uuid.uuid4().hex}", pid,
                    env.registry.url, topic)
    assert [l for l in out.splitlines() if l and l[0].isdigit()] == want
    # without the registry, the binding reads only its own version
    r = subprocess.run(java_prog.command("consume", env.kafka.bootstrap,
                                         f"bk-javax-{uuid.uuid4().hex}", pid, "-", topic),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and f"{topic}/0@0" in r.stderr, r.stdout + r.stderr[-3000:]
