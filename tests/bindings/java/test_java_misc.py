"""Java binding: the Avro 1.12 SERIALIZABLE_PACKAGES trap, bad input, hostile bytes, names."""
import json
import random

from java_support import same_json

# java-class / java-key-class make Avro 1.12's SpecificDatumReader throw
# SecurityException("Forbidden ...") unless org.apache.avro.SERIALIZABLE_PACKAGES lists
# the class; RefCheck runs without that property.
JAVA_CLASS = json.dumps({
    "type": "record", "name": "Money", "namespace": "org.example.money",
    "fields": [
        {"name": "amount", "type": {"type": "string", "java-class": "java.math.BigDecimal"}},
        {"name": "by_file", "type": {"type": "map", "values": "int",
                                     "java-key-class": "java.io.File"}},
        {"name": "class", "type": {"type": "enum", "name": "Kind",
                                   "symbols": ["default", "int", "OTHER"]}},
        {"name": "u", "type": ["null", "int", "string",
                               {"type": "array", "items": "Kind"},
                               {"type": "map", "values": "double"}], "default": None},
    ]})

DATUMS = [
    {"amount": "12.50", "by_file": {"/tmp/a": 1, "/tmp/b": 2}, "class": "default", "u": None},
    {"amount": "", "by_file": {}, "class": "int", "u": {"int": -7}},
    {"amount": "x", "by_file": {"k": 0}, "class": "OTHER", "u": {"string": "s"}},
    {"amount": "y", "by_file": {}, "class": "OTHER", "u": {"array": ["int", "default"]}},
    {"amount": "z", "by_file": {}, "class": "OTHER", "u": {"map": {"pi": 3.5, "e": "NaN"}}},
]


def test_serializable_packages_trap_and_keywords(generate):
    b = generate(JAVA_CLASS, "javaclass")
    hexes = b.harness([json.dumps(d) for d in DATUMS])
    assert not any(h.startswith("error") for h in hexes), hexes
    assert b.refcheck(hexes) == ["ok"] * len(DATUMS)
    back = b.harness(hexes, decode=True)
    for d, j in zip(DATUMS, back):
        assert same_json(json.loads(j), d), (d, j)
    src = (b.out / "src/main/java/org/example/money/Money.java").read_text()
    assert "java-class" not in src and "java-key-class" not in src
    assert "private org.example.money.Kind class$;" in src
    assert "getClass$()" in src
    kind = (b.out / "src/main/java/org/example/money/Kind.java").read_text()
    assert "default$, int$, OTHER" in kind
    rc, msg = b.lint()
    assert rc == 0, msg


def test_bad_lines_are_reported_and_skipped(generate):
    b = generate(JAVA_CLASS, "javaclass")
    good = json.dumps(DATUMS[0])
    lines = ["not json", '{"amount": 1}', good, '{"amount": "a", "by_file": {}, '
             '"class": "NOPE", "u": null}', good]
    out = b.harness(lines)
    assert out[0].startswith("error: ") and out[1].startswith("error: ")
    assert out[3].startswith("error: ")
    assert out[2] == out[4] and not out[2].startswith("error")
    dec = b.harness(["zz", "", "00", out[2] + "00", out[2][:-2], out[2]], decode=True)
    assert all(d.startswith("error: ") for d in dec[:5]), dec
    assert same_json(json.loads(dec[5]), DATUMS[0])


def test_hostile_bytes_never_crash(generate):
    b = generate(JAVA_CLASS, "javaclass")
    good = b.harness([json.dumps(d) for d in DATUMS])
    rnd = random.Random(4)
    lines = []
    for _ in range(400):
        raw = bytearray(bytes.fromhex(rnd.choice(good)))
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            if op < 0.4 and raw:
                raw[rnd.randrange(len(raw))] = rnd.randrange(256)
            elif op < 0.7 and raw:
                del raw[rnd.randrange(len(raw)):]
            else:
                raw[rnd.randrange(len(raw) + 1):0] = bytes([rnd.randrange(256)])
        lines.append(raw.hex())
    out = b.harness(lines, decode=True)
    for line in out:
        if not line.startswith("error: "):
            json.loads(line)


def test_null_namespace_type_in_package_is_refused(tmp_path):
    import subprocess
    from java_support import canon_bin
    p = tmp_path / "s.avsc"
    p.write_text(json.dumps({"type": "record", "name": "A", "namespace": "x", "fields": [
        {"name": "p", "type": {"type": "record", "name": "P", "namespace": "", "fields": []}}]}))
    r = subprocess.run([canon_bin(), "gen", "--lang", "java", "--schema", str(p), "--out",
                        str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "null namespace" in r.stderr


def test_embedded_runtime_is_codegen_java_runtime(generate):
    """The runtime a binding carries is codegen/java_runtime/*.java, byte for byte after
    the generated header (gen_java_runtime.c is produced from it by embed.py)."""
    from java_support import ROOT
    b = generate(JAVA_CLASS, "javaclass")
    srcs = sorted((ROOT / "codegen" / "java_runtime").glob("*.java"))
    assert srcs
    for src in srcs:
        emitted = (b.out / "src/main/java/canongate/runtime" / src.name).read_text()
        body = emitted.split(" */\n", 1)[1].lstrip("\n")
        assert body == src.read_text(), src.name


# Fields named like the first part of a package the generated code names in expressions
# (org.apache.avro..., java.lang.Math, canongate.runtime.Wire, org.ex.Addr.decode): a
# field is found before a package, so the class did not compile.
PACKAGE_ROOTS = json.dumps({
    "type": "record", "name": "Company", "namespace": "org.ex", "fields": [
        {"name": "org", "type": "string"},
        {"name": "java", "type": {"type": "enum", "name": "Kind",
                                  "symbols": ["org", "java", "canongate"]}},
        {"name": "canongate", "type": {"type": "record", "name": "Addr", "fields": [
            {"name": "org", "type": "string"},
            {"name": "net", "type": ["null", "Kind"], "default": None}]}},
        {"name": "net", "type": {"type": "array", "items": "Addr"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                   "precision": 6, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "by_kind", "type": {"type": "map", "values": "Kind"}},
        {"name": "other", "type": ["null", "Addr", "string"], "default": None},
        {"name": "elsewhere", "type": {"type": "record", "name": "Place", "namespace": "net.x",
                                       "fields": [{"name": "org", "type": "int"}]}},
    ]})


def test_fields_named_like_package_roots(generate):
    b = generate(PACKAGE_ROOTS, "roots")
    datums = [{"org": "Acme", "java": "canongate",
               "canongate": {"org": "Paris", "net": {"org.ex.Kind": "org"}},
               "net": [{"org": "Oslo", "net": None}], "price": "\u0004\u00d2", "day": 19000,
               "by_kind": {"a": "java"}, "other": {"org.ex.Addr": {"org": "Rome", "net": None}},
               "elsewhere": {"org": 5}}]
    hexes = b.harness([json.dumps(d) for d in datums])
    assert not any(h.startswith("error") for h in hexes), hexes
    assert b.refcheck(hexes) == ["ok"]
    back = b.harness(hexes, decode=True)
    assert same_json(json.loads(back[0]), datums[0]), back
    src = (b.out / "src/main/java/org/ex/Company.java").read_text()
    assert "public java.lang.String getOrg()" in src
    rc, msg = b.lint()
    assert rc == 0, msg
