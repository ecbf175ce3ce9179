"""The Python binding on the conformance vectors, through roundtrip.sh both ways.

For every datum: the binding's bytes are the vector's bytes and fastavro's own
schemaless_writer's bytes for the same datum; decoding the vector's bytes with the binding
gives the datum back (compared as Avro datums: floats by bit pattern, maps as maps), and
fastavro decodes the bytes to the same datum. The shared vectors
(../shared/vectors/avro_binary_encoding.jsonl, 179 rows, from the Apache Avro project)
and the repository's tests/vectors/*.avsc (every Avro type and logical type) both run.
"""
import io
import json
import os
import subprocess
import sys

import fastavro
import pytest

from pybind_support import avro_ref, load_vector, shared_groups, vector_names

GROUPS = shared_groups()

# Datums the Python binding cannot represent, by (vector, row): timestamps outside
# datetime's years 1..9999 (docs/bindings-python.md, "Type mapping"). The binding must
# refuse them with a message naming the problem, and nothing else may fail.
UNREPRESENTABLE = {("logical", 3): "outside year 1..9999"}


def fastavro_bytes(schema, node, datum):
    parsed = fastavro.parse_schema(avro_ref.strip_logical(schema))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, avro_ref.to_python(node, datum))
    return out.getvalue()


def fastavro_datum(schema, node, data, expected):
    parsed = fastavro.parse_schema(avro_ref.strip_logical(schema))
    value = fastavro.schemaless_reader(io.BytesIO(data), parsed, None, return_record_name=True)
    return avro_ref.from_python(node, value, expected)


def check(generated, name, schema_path, schema, datums, hexes):
    node = avro_ref.parse(schema)
    out = generated(name, schema_path)
    lines = [json.dumps(d, ensure_ascii=False) for d in datums]
    got_hex = generated.roundtrip(out, lines)
    assert len(got_hex) == len(datums)
    refuse = {row: msg for (v, row), msg in UNREPRESENTABLE.items() if v == name}
    checked = 0
    for i, (datum, got) in enumerate(zip(datums, got_hex)):
        if i in refuse:
            assert got.startswith("error: ") and refuse[i] in got, got
            continue
        assert not got.startswith("error"), "row %d %s: %s" % (i, lines[i], got)
        want = fastavro_bytes(schema, node, datum).hex()
        assert got == want, "row %d: binding %s, fastavro %s" % (i, got, want)
        if hexes is not None:
            assert got == hexes[i], "row %d: binding %s, vector %s" % (i, got, hexes[i])
        back = fastavro_datum(schema, node, bytes.fromhex(got), datum)
        assert avro_ref.same_datum(node, back, datum), "row %d: fastavro read %r" % (i, back)
        checked += 1

    source = [h for i, h in enumerate(hexes or got_hex) if i not in refuse]
    decoded = generated.roundtrip(out, source, decode=True)
    kept = [d for i, d in enumerate(datums) if i not in refuse]
    assert len(decoded) == len(kept)
    for i, (datum, text) in enumerate(zip(kept, decoded)):
        assert not text.startswith("error"), "row %d: %s" % (i, text)
        assert avro_ref.same_datum(node, json.loads(text), datum), \
            "row %d: decoded %s, want %s" % (i, text, json.dumps(datum))
    return checked


def test_all_179_shared_rows_are_grouped():
    assert sum(len(rows) for _, _, rows in GROUPS) == 179


@pytest.mark.parametrize("key,text,rows", GROUPS, ids=[g[0] for g in GROUPS])
def test_shared_vector_bytes_and_datums(generated, tmp_path, key, text, rows):
    schema_path = tmp_path / (key + ".avsc")
    schema_path.write_text(text, encoding="utf-8")
    schema = json.loads(text)
    node = avro_ref.parse(schema)
    datums = [avro_ref.to_avro_json_from_plain(node, r["datum"])
              if "plain values" in r.get("note", "") else r["datum"] for r in rows]
    n = check(generated, key, str(schema_path), schema, datums, [r["hex"] for r in rows])
    assert n == len(rows)


@pytest.mark.parametrize("name", vector_names())
def test_repository_vector_bytes_and_datums(generated, name):
    v = load_vector(name)
    n = check(generated, name, v.schema_path, v.schema, v.datums, v.hexes)
    assert n == len(v.datums) - sum(1 for (vn, _) in UNREPRESENTABLE if vn == name)


def test_bad_lines_give_errors_and_the_rest_go_on(generated):
    v = load_vector("unions")
    out = generated("unions", v.schema_path)
    good = json.dumps(v.datums[0])
    lines = [good, "{not json", json.dumps({"nullable": 5}), '{"multi": {"int": 1}}', good]
    got = generated.roundtrip(out, lines)
    assert len(got) == 5
    assert got[0] == got[4] and not got[0].startswith("error")
    assert all(g.startswith("error: ") for g in got[1:4]), got
    got = generated.roundtrip(out, ["zz", "", got[0] + "00", got[0]], decode=True)
    assert [g.startswith("error: ") for g in got] == [True, True, True, False], got
    assert "trailing" in got[2]


def test_harness_without_canon_python_picks_python3_and_remembers_it(generated):
    v = load_vector("int")
    out = generated("int", v.schema_path)
    marker = os.path.join(out, ".roundtrip-python")
    if os.path.exists(marker):
        os.remove(marker)
    env = dict(os.environ)
    env.pop("CANON_PYTHON", None)
    # python3 on PATH is this interpreter (it has fastavro): no venv needs making
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    for _ in range(2):
        r = subprocess.run(["sh", os.path.join(out, "roundtrip.sh")], input="7\n-1\n",
                           text=True, capture_output=True, env=env, cwd="/", timeout=300)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "0e\n01\n"
        assert os.path.exists(marker)
    r = subprocess.run(["sh", os.path.join(out, "roundtrip.sh"), "--bogus"], input="",
                       text=True, capture_output=True, env=env, cwd="/", timeout=300)
    assert r.returncode == 2 and "usage" in r.stderr


def test_bytes_decimal_is_written_minimal_as_avro_java_does(generated, tmp_path):
    """Unscaled -128 is the one byte 80 (BigInteger.toByteArray), not ff80; and a decimal
    branch of a union decodes to a Decimal whatever the union's shape."""
    import decimal
    from pybind_support import import_binding
    dec = {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}
    schema = {"type": "record", "name": "Money", "namespace": "t.money", "fields": [
        {"name": "a", "type": dec},
        {"name": "b", "type": ["null", "string", dec]},
        {"name": "c", "type": ["null", dec]},
        {"name": "d", "type": {"type": "array", "items": dec}}]}
    path = tmp_path / "money.avsc"
    path.write_text(json.dumps(schema))
    mod = import_binding(generated("money", str(path)), "t.money.money")
    m128, m32768 = decimal.Decimal("-1.28"), decimal.Decimal("-327.68")
    v = mod.Money(a=m128, b=m32768, c=decimal.Decimal("1.00"), d=[m128, decimal.Decimal("0")])
    data = v.encode()
    assert data.hex() == "0280" + "04" + "048000" + "02" + "0264" + "04" + "0280" + "0200" + "00"
    assert mod.Money.decode(data) == v
    assert json.loads(v.to_json())["a"] == "\u0080"
    assert mod.Money.from_json(v.to_json()) == v
