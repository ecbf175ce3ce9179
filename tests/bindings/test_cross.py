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

import fastavro
import pytest

import avro_ref
from bindings_support import (KNOWN_GAPS, LANGS, PENDING, ROOT, VECTORS, lang_param,
                              load_vector, shared_groups, vector_names)

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
