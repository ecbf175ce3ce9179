"""Cross-language tests of the generated bindings (issue 4, item 4).

For every schema of tests/vectors and of ../shared/vectors/avro_binary_encoding.jsonl:
- the expected bytes are sound: fastavro writes them from the datums, and Avro C and
  Apache Avro Java (and fastavro) read them back to the same datums;
- each language's binding, driven through tests/bindings/roundtrip, writes exactly those
  bytes (so C, Python and Java agree with each other and with the three Avro libraries),
  and decodes them back to the same datums (roundtrip --decode).
A language still being written is xfail (conftest.PENDING); any other failure fails.
"""
import io
import json
import os
import subprocess
import sys

import fastavro
import pytest

import avro_ref
from bindings_support import (KNOWN_GAPS, LANGS, PENDING, ROOT, VECTORS, canon_bin,
                              lang_param, load_vector, shared_groups, vector_names)

NAMES = vector_names()
SHARED_KEYS = [key for key, _, _ in shared_groups()]


def parse_json_line(line):
    # Avro Java writes NaN and Infinity as bare tokens, which Python's json accepts.
    return json.loads(line)


def assert_same_datums(v, outputs, who):
    assert len(outputs) == len(v.datums), "%s printed %d lines for %d datums" % (
        who, len(outputs), len(v.datums))
    for i, (want, got) in enumerate(zip(v.datums, outputs)):
        assert not got.startswith("error:"), "%s: %s datum %d (%s): %s" % (
            who, v.name, i + 1, v.hexes[i], got)
        got_datum = parse_json_line(got)
        assert avro_ref.canon(v.node, got_datum) == avro_ref.canon(v.node, want), (
            "%s decodes %s datum %d (%s) to\n  %s\nwant\n  %s" % (
                who, v.name, i + 1, v.hexes[i], got, json.dumps(want, ensure_ascii=False)))


def fastavro_encode(v):
    parsed = fastavro.parse_schema(avro_ref.strip_logical(v.schema))
    out = []
    for d in v.datums:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, avro_ref.to_python(v.node, d))
        out.append(buf.getvalue().hex())
    return out


def fastavro_decode(v):
    parsed = fastavro.parse_schema(avro_ref.strip_logical(v.schema))
    out = []
    for h, want in zip(v.hexes, v.datums):
        buf = io.BytesIO(bytes.fromhex(h))
        value = fastavro.schemaless_reader(buf, parsed, None, return_record_name=True)
        if buf.read(1):
            out.append("error: trailing bytes")
            continue
        out.append(json.dumps(avro_ref.from_python(v.node, value, want)))
    return out


# ---- the vectors themselves -------------------------------------------------------

def test_vector_files_complete():
    assert len(NAMES) >= 20
    for name in NAMES:
        v = load_vector(name)
        assert v.datums, "%s.jsonl has no datums" % name
        assert v.hexes is not None, "%s.hex missing: run tests/vectors/make_hex.py" % name
        assert len(v.hexes) == len(v.datums), "%s: .hex and .jsonl differ in length" % name
        for d in v.datums:
            avro_ref.canon(v.node, d)  # raises when a datum does not fit its schema


def test_example_schemas_are_copies():
    for name in ("person", "account"):
        with open(os.path.join(ROOT, "schemas", name + ".avsc"), "rb") as a, \
                open(os.path.join(VECTORS, name + ".avsc"), "rb") as b:
            assert a.read() == b.read(), "tests/vectors/%s.avsc differs from schemas/" % name


def walk_types(schema, seen, logical, names=None):
    if isinstance(schema, str):
        seen.add(schema)
    elif isinstance(schema, list):
        seen.add("union")
        if [b for b in schema if b != "null"] and len(schema) > 2 or "null" not in schema:
            seen.add("union-not-nullable")
        for b in schema:
            walk_types(b, seen, logical)
    elif isinstance(schema, dict):
        t = schema["type"]
        if "logicalType" in schema:
            logical.add((schema["logicalType"], t if isinstance(t, str) else "?"))
        if t == "enum" and "default" in schema:
            seen.add("enum-with-default")
        if isinstance(t, (dict, list)):
            walk_types(t, seen, logical)
            return
        seen.add(t)
        for f in schema.get("fields", []):
            walk_types(f["type"], seen, logical)
        for k in ("items", "values"):
            if k in schema:
                walk_types(schema[k], seen, logical)


def test_vectors_cover_issue_types():
    seen, logical = set(), set()
    for name in NAMES:
        walk_types(load_vector(name).schema, seen, logical)
    for t in ("null", "boolean", "int", "long", "float", "double", "bytes", "string",
              "record", "enum", "enum-with-default", "array", "map", "union",
              "union-not-nullable", "fixed"):
        assert t in seen, "no vector schema uses %s" % t
    for lt in (("decimal", "bytes"), ("decimal", "fixed"), ("uuid", "string"),
               ("date", "int"), ("time-millis", "int"), ("time-micros", "long"),
               ("timestamp-millis", "long"), ("timestamp-micros", "long"),
               ("local-timestamp-millis", "long"), ("local-timestamp-micros", "long")):
        assert lt in logical, "no vector schema uses %s on %s" % lt
    # Recursion: the Tree schema refers to itself.
    assert "Tree" in json.dumps(load_vector("recursive").schema["fields"])


@pytest.mark.parametrize("name", NAMES)
def test_hex_is_what_fastavro_writes(name):
    v = load_vector(name)
    assert fastavro_encode(v) == v.hexes


@pytest.mark.parametrize("name", NAMES)
def test_fastavro_decodes_vectors(name):
    v = load_vector(name)
    assert_same_datums(v, fastavro_decode(v), "fastavro")


@pytest.mark.parametrize("name", NAMES)
def test_avro_c_decodes_vectors(name, avroc_decoder):
    v = load_vector(name)
    assert_same_datums(v, avroc_decoder(v.schema_path, v.hexes), "Avro C")


@pytest.mark.parametrize("name", NAMES)
def test_avro_java_decodes_vectors(name, java_decoder):
    v = load_vector(name)
    assert_same_datums(v, java_decoder(v.schema_path, v.hexes), "Avro Java")


@pytest.mark.parametrize("key", SHARED_KEYS)
def test_shared_vectors_references(key, shared_vectors, avroc_decoder, java_decoder):
    v = shared_vectors[key]
    assert fastavro_encode(v) == v.hexes
    assert_same_datums(v, fastavro_decode(v), "fastavro")
    assert_same_datums(v, avroc_decoder(v.schema_path, v.hexes), "Avro C")
    assert_same_datums(v, java_decoder(v.schema_path, v.hexes), "Avro Java")


# ---- the bindings --------------------------------------------------------------------

def assert_hex(v, got, lang):
    assert len(got) == len(v.hexes), "%s binding printed %d lines for %d datums" % (
        lang, len(got), len(v.hexes))
    bad = ["datum %d %s\n   got  %s\n   want %s" % (i + 1, v.datum_lines()[i][:200], g, w)
           for i, (g, w) in enumerate(zip(got, v.hexes)) if g != w]
    assert not bad, "%s binding disagrees on %s:\n%s" % (lang, v.name, "\n".join(bad))


@pytest.mark.parametrize("lang,name", [lang_param(lang, n) for lang in LANGS for n in NAMES])
def test_binding_encodes_vectors(lang, name, bindings):
    v = load_vector(name)
    assert_hex(v, bindings.run(lang, v.schema_path, v.datum_lines()), lang)


@pytest.mark.parametrize("lang,name", [lang_param(lang, n) for lang in LANGS for n in NAMES])
def test_binding_decodes_vectors(lang, name, bindings):
    v = load_vector(name)
    out = bindings.run(lang, v.schema_path, v.hexes, decode=True)
    assert_same_datums(v, out, "%s binding" % lang)


@pytest.mark.parametrize("lang,key", [lang_param(lang, k) for lang in LANGS for k in SHARED_KEYS])
def test_binding_shared_vectors(lang, key, bindings, shared_vectors):
    v = shared_vectors[key]
    assert_hex(v, bindings.run(lang, v.schema_path, v.datum_lines()), lang)
    assert_same_datums(v, bindings.run(lang, v.schema_path, v.hexes, decode=True),
                       "%s binding" % lang)


@pytest.mark.parametrize("lang", [lang_param(lang) for lang in LANGS])
def test_binding_reports_bad_lines_and_goes_on(lang, bindings):
    """A datum that does not fit the schema gives `error: ...` on its own line; the
    lines around it are still answered."""
    v = load_vector("record_primitives")
    good = v.datum_lines()
    bad = ['{"n": null}', "not json", json.dumps(dict(v.datums[0], i="x"))]
    lines = [good[0], bad[0], good[1], bad[1], good[2], bad[2], good[3]]
    out = bindings.run(lang, v.schema_path, lines)
    assert len(out) == len(lines)
    assert out[0] == v.hexes[0] and out[2] == v.hexes[1]
    assert out[4] == v.hexes[2] and out[6] == v.hexes[3]
    for i in (1, 3, 5):
        assert out[i].startswith("error:"), "line %d (%s) gave %r" % (i + 1, lines[i], out[i])
    # Truncated bytes: decode must refuse, not crash or invent a value.
    out = bindings.run(lang, v.schema_path, [v.hexes[1][:-2], v.hexes[1], "zz"], decode=True)
    assert len(out) == 3
    assert out[0].startswith("error:") and out[2].startswith("error:")
    assert avro_ref.canon(v.node, json.loads(out[1])) == avro_ref.canon(v.node, v.datums[1])


def test_langs_agree_with_each_other(bindings):
    """A direct statement of the goal, redundant with the per-language checks: the
    languages that have landed (not in PENDING) write the same bytes as each other."""
    landed = [lang for lang in LANGS if lang not in PENDING]
    if len(landed) < 2:
        pytest.skip("fewer than two languages have landed: nothing to compare yet")
    for name in NAMES:
        v = load_vector(name)
        langs = [lang for lang in landed if (lang, name) not in KNOWN_GAPS]
        outs = {lang: bindings.run(lang, v.schema_path, v.datum_lines()) for lang in langs}
        for lang in langs[1:]:
            assert outs[lang] == outs[langs[0]], "%s and %s differ on %s" % (lang, langs[0], name)


# ---- the entity update builders ------------------------------------------------------

# The same update built in each language, fields touched out of schema order (values:
# given_name, family_name, email, phone, ...) and touched twice: `provided` lists each
# once, in the order first touched, so the encodings must be equal (docs/bindings.md).
UPDATES_C = r"""
#include <stdio.h>
#include "person_update.h"
static void out(person_update_builder_t *u) {
    canon_buf b; canon_error err = {0}; canon_buf_init(&b);
    if (person_update_encode(&u->msg, &b, &err)) { printf("error\n"); return; }
    for (size_t i = 0; i < b.len; i++) printf("%02x", b.data[i]);
    printf("\n"); canon_buf_free(&b);
}
int main(void) {
    const char *k = "5b8f4a4e-2d7e-4a53-9d43-1f0c3c1e9a10";
    person_update_builder_t u;
    person_update_begin(&u, k, "crm", 1700000000123, 7);
    person_update_set_email(&u, "ann@example.com");
    person_update_clear_phone(&u);
    person_update_set_given_name(&u, "Ann");
    person_update_set_email(&u, "ann@example.org");
    out(&u);
    person_update_begin(&u, k, "crm", 1700000000123, 8);
    person_update_clear_phone(&u);
    person_update_set_family_name(&u, "Lee");
    person_update_set_birth_date(&u, 19000);
    person_update_clear_given_name(&u);
    out(&u);
    person_update_begin(&u, k, "hr", 1700000000123, 9);
    person_update_set_email(&u, "x@example.org");
    person_update_delete(&u);
    out(&u);
    return 0;
}
"""

UPDATES_PY = r"""
import datetime, uuid
from org.canongate.canon.person import PersonUpdateBuilder
k = uuid.UUID("5b8f4a4e-2d7e-4a53-9d43-1f0c3c1e9a10")
t = datetime.datetime.fromtimestamp(1700000000.123, tz=datetime.timezone.utc)
print(PersonUpdateBuilder(k, source="crm", event_time=t, seq=7).set_email("ann@example.com")
      .clear_phone().set_given_name("Ann").set_email("ann@example.org").build().encode().hex())
print(PersonUpdateBuilder(k, source="crm", event_time=t, seq=8).clear_phone()
      .set_family_name("Lee").set_birth_date(datetime.date(2022, 1, 8)).clear_given_name()
      .build().encode().hex())
print(PersonUpdateBuilder(k, source="hr", event_time=t, seq=9).set_email("x@example.org")
      .delete().build().encode().hex())
"""

UPDATES_JAVA = r"""
import java.time.Instant;
import java.time.LocalDate;
import java.util.HexFormat;
import java.util.UUID;
import org.canongate.canon.PersonCanon;

public final class Updates {
  public static void main(String[] args) {
    UUID k = UUID.fromString("5b8f4a4e-2d7e-4a53-9d43-1f0c3c1e9a10");
    Instant t = Instant.ofEpochMilli(1700000000123L);
    HexFormat h = HexFormat.of();
    System.out.println(h.formatHex(PersonCanon.update(k).source("crm").eventTime(t).seq(7)
        .setEmail("ann@example.com").clearPhone().setGivenName("Ann").setEmail("ann@example.org")
        .build().toByteArray()));
    System.out.println(h.formatHex(PersonCanon.update(k).source("crm").eventTime(t).seq(8)
        .clearPhone().setFamilyName("Lee").setBirthDate(LocalDate.of(2022, 1, 8)).clearGivenName()
        .build().toByteArray()));
    System.out.println(h.formatHex(PersonCanon.update(k).source("hr").eventTime(t).seq(9)
        .setEmail("x@example.org").delete().build().toByteArray()));
  }
}
"""


def _run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, "%s exited %d:\n%s" % (args[:3], r.returncode, r.stderr[-3000:])
    return r.stdout.split("\n")[:-1]


def _update_hexes(lang, d):
    schema = os.path.join(VECTORS, "person.avsc")
    out = os.path.join(d, lang)
    args = [canon_bin(), "gen", "--lang", lang, "--schema", schema, "--out", out]
    if lang == "c":
        _run(args)
        with open(os.path.join(out, "updates.c"), "w") as f:
            f.write(UPDATES_C)
        srcs = sorted(os.path.join(out, n) for n in os.listdir(out)
                      if n.endswith(".c") and n != "roundtrip.c")
        _run([os.environ.get("CC", "cc"), "-std=c11", "-I", out, "-o",
              os.path.join(out, "updates")] + srcs + ["-lrdkafka", "-ljansson", "-lcurl", "-lm"])
        return _run([os.path.join(out, "updates")])
    if lang == "python":
        _run(args)
        with open(os.path.join(out, "updates.py"), "w") as f:
            f.write(UPDATES_PY)
        return _run([sys.executable, os.path.join(out, "updates.py")],
                    env=dict(os.environ, PYTHONPATH=os.path.join(out, "src")))
    _run(args + ["--harness"])
    _run(["sh", os.path.join(out, "roundtrip.sh")], input="")  # builds; caches the classpath
    cache = os.path.join(os.environ.get("CANONGATE_CACHE_DIR") or
                         os.path.join(os.path.expanduser("~"), ".cache", "canongate"), "java")
    cp = sorted(n for n in os.listdir(cache) if n.startswith("classpath-"))
    with open(os.path.join(cache, cp[-1])) as f:
        cp = os.path.join(out, "target", "harness") + ":" + f.read().strip()
    with open(os.path.join(out, "Updates.java"), "w") as f:
        f.write(UPDATES_JAVA)
    classes = os.path.join(out, "updates")
    _run(["javac", "-J-XX:TieredStopAtLevel=1", "--release", "17", "-cp", cp, "-d", classes,
          os.path.join(out, "Updates.java")])
    return _run(["java", "-XX:TieredStopAtLevel=1", "-cp", classes + ":" + cp, "Updates"])


def test_entity_updates_agree(tmp_path):
    """The update builders of the three languages write the same bytes for the same calls,
    fields touched out of schema order included (Java listed `provided` in field order)."""
    outs = {lang: _update_hexes(lang, str(tmp_path)) for lang in LANGS}
    assert len(outs["c"]) == 3 and not [h for h in outs["c"] if h == "error"], outs["c"]
    # provided of the first update: email, phone, given_name, in that order
    first = bytes.fromhex(outs["c"][0])
    assert first.find(b"email") < first.find(b"phone") < first.find(b"given_name"), outs["c"][0]
    for lang in LANGS[1:]:
        assert outs[lang] == outs["c"], "%s and c differ:\n%s\n%s" % (lang, outs[lang], outs["c"])
