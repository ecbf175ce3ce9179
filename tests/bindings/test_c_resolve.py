"""test_c_resolve.py - the C bindings' Avro schema resolution (codegen/c_runtime/
canon_resolve.c) against an independent implementation, fastavro.

Why: canon_resolve.c turns a datum written with one version of a schema into the binary
encoding of another (the binding's own), so that a C consumer reads a topic holding
several versions. Every rule of the Avro specification's "Schema Resolution" section
(https://avro.apache.org/docs/1.11.1/specification/#schema-resolution) is a pair of
schemas below. For each pair, a seeded generator writes random datums of the writer
schema with fastavro, resolve/resolve_check.c (built here with ASan + UBSan) converts them
all in one run, and each output must be the very bytes fastavro gives: the datum read with
(writer, reader), written back with the reader schema.

Besides: schemas that cannot be read as the reader's (code 7, CANON_ESCHEMA, message naming
the field or type), datums holding what the reader has no place for (code 2), truncated,
trailing and hostile input (code 2, quickly, no huge allocation), nesting 10,000 deep (an
error, not a stack overflow), the identity case (writer == reader: the input comes back
itself), the Confluent frame, and the project's own evolution: the person envelope
before and after FieldVersion gained partition and offset, and before and after a
canonical field is added.

fastavro (1.13) and these tests:
- the JSON default of a bytes or fixed field comes back as the JSON string, not as bytes
  (the spec maps code points 0-255 to bytes): to_writable converts it;
- reading unions of named types with return_named_type fails when one side refers to a
  type the other defines there: fastavro_schema gives it references on both sides;
- logical types are stripped on the fastavro side only (they do not change the encoding,
  and fastavro would turn values into datetime/Decimal/UUID objects);
- where the specification leaves a choice, fastavro's is the one asked of the C code and
  the test says so: long -> float rounds as Python's float(int) does (to double, then to
  float), and a writer type goes to the FIRST reader union branch it matches, a promotion
  included (the spec's words; Avro Java prefers an exact match).
"""
import ast
import copy
import hashlib
import io
import json
import os
import random
import re
import struct
import subprocess
import tempfile
import time
import uuid
import zlib

import pytest

fastavro = pytest.importorskip("fastavro")
from fastavro.read import SchemaResolutionError  # noqa: E402

from bindings_support import HERE, ROOT, zz  # noqa: E402

RUNTIME = os.path.join(ROOT, "codegen", "c_runtime")
HARNESS = os.path.join(HERE, "resolve", "resolve_check.c")
ENVELOPE = os.path.join(HERE, "resolve", "person_envelope.avsc")
DATUMS = 250  # per pair
# max_allocation_size_mb: a hostile count must not turn into a huge allocation
SAN_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:max_allocation_size_mb=256",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
SAN_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")

# ---------------------------------------------------------------- the harness


class Raw(str):
    """Schema text given as is (any other schema is a JSON value, dumped)."""


class Harness:
    """resolve_check built once; run() converts hex lines for a (writer, reader) pair."""

    def __init__(self, exe, tmp):
        self.exe = exe
        self.tmp = tmp

    def schema_file(self, schema):
        text = schema if isinstance(schema, Raw) else json.dumps(schema, ensure_ascii=False)
        path = os.path.join(self.tmp, hashlib.sha1(text.encode()).hexdigest()[:16] + ".avsc")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return path

    def run(self, writer, reader, lines, timeout=120):
        """(exit status, output lines, stderr). Fails on any sanitizer report."""
        cmd = [self.exe, "-s", self.schema_file(writer), self.schema_file(reader)]
        r = subprocess.run(cmd, input="".join(x + "\n" for x in lines).encode(),
                           capture_output=True, timeout=timeout, env=SAN_ENV)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        assert not any(m in err for m in SAN_MARKERS), "sanitizer report:\n" + err[-6000:]
        assert r.returncode in (0, 2), "resolve_check exited %d:\n%s" % (r.returncode, err[-3000:])
        lines_out = out.split("\n")
        if lines_out and lines_out[-1] == "":
            lines_out.pop()
        return r.returncode, lines_out, err

    def convert(self, writer, reader, hexes, timeout=120):
        """The output line of each datum; the schemas must be accepted."""
        rc, out, err = self.run(writer, reader, hexes, timeout)
        assert rc == 0, "schemas refused: %s" % (out[:1] or err[-2000:])
        assert len(out) == len(hexes), "%d lines out for %d in:\n%s" % (len(out), len(hexes), err)
        return out

    def schema_error(self, writer, reader):
        """(code, message) of a refused pair; fails when it is accepted."""
        rc, out, err = self.run(writer, reader, [])
        assert rc == 2 and len(out) == 1 and out[0].startswith("schema-error: "), (
            "expected a schema error, got exit %d: %r %s" % (rc, out, err[-2000:]))
        code, _, msg = out[0][len("schema-error: "):].partition(" ")
        return int(code), msg


def short(text, n=400):
    """text cut to n characters for a failure message."""
    return text if len(text) <= n else text[:n] + "...(%d more)" % (len(text) - n)


def parse_line(line):
    """("ok", hex, same_pointer) or ("error", code, message)."""
    if line.startswith("error: "):
        code, _, msg = line[len("error: "):].partition(" ")
        return ("error", int(code), msg)
    if line.startswith("="):
        return ("ok", line[1:], True)
    return ("ok", line, False)


def ok_hex(line):
    """The hex of a successful conversion (without the "=" of an input handed back)."""
    kind = parse_line(line)
    assert kind[0] == "ok", line
    return kind[1]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("resolve"))
    if not os.path.exists(os.path.join(RUNTIME, "canon_resolve.c")):
        pytest.fail("codegen/c_runtime/canon_resolve.c is missing")
    exe = os.path.join(d, "resolve_check")
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
           "-fno-omit-frame-pointer", "-I", RUNTIME, "-I", os.path.join(ROOT, "common"), "-o", exe, HARNESS,
           os.path.join(RUNTIME, "canon_rt.c"), os.path.join(RUNTIME, "canon_resolve.c")]
    libs = ["-ljansson", "-lm"]
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    # ASan + UBSan where the compiler has them (the convention of test_kafka_helpers.py)
    r = subprocess.run(cmd + san + libs, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "sanitize" in r.stderr:
        r = subprocess.run(cmd + libs, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    return Harness(exe, d)


# ---------------------------------------------------------------- schema helpers

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
NAMED = ("record", "enum", "fixed")


def fullname(name, ns):
    if "." in name:
        return name
    return "%s.%s" % (ns, name) if ns else name


def space_of(full):
    return full.rpartition(".")[0]


def strip_logical(schema):
    if isinstance(schema, list):
        return [strip_logical(x) for x in schema]
    if isinstance(schema, dict):
        return {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    return schema


class Names:
    """The named types of one schema by full name; resolve() follows a reference."""

    def __init__(self, schema):
        self.types = {}
        self._walk(schema, "")

    def _walk(self, s, ns):
        if isinstance(s, list):
            for b in s:
                self._walk(b, ns)
        elif isinstance(s, dict):
            t = s["type"]
            if t in NAMED:
                full = fullname(s["name"], s.get("namespace", ns))
                self.types[full] = s
                for f in s.get("fields", ()):
                    self._walk(f["type"], space_of(full))
            elif t == "array":
                self._walk(s["items"], ns)
            elif t == "map":
                self._walk(s["values"], ns)
            elif isinstance(t, (dict, list)):
                self._walk(t, ns)

    def resolve(self, s, ns):
        """(node, full name or None, namespace of the node's children)."""
        if isinstance(s, dict) and not (s["type"] in PRIMITIVES or s["type"] in NAMED
                                        or s["type"] in ("array", "map")):
            return self.resolve(s["type"], ns)
        if isinstance(s, str):
            if s in PRIMITIVES:
                return {"type": s}, None, ns
            full = fullname(s, ns)
            node = self.types.get(full) or self.types[s]
            if full not in self.types:
                full = s
            return node, full, space_of(full)
        if isinstance(s, dict) and s["type"] in NAMED:
            full = fullname(s["name"], s.get("namespace", ns))
            return s, full, space_of(full)
        return s, None, ns

    def branch_name(self, s, ns):
        """The name fastavro's tuple notation gives a union branch."""
        node, full, _ = self.resolve(s, ns)
        if full:
            return full
        return node["type"] if isinstance(node, dict) else node


def define_first(schema):
    """The schema with each named type defined where it first appears and referred to by
    full name after: lets the pairs below pick fields freely from shared building blocks
    (a reader that drops the field defining a type still defines it where it is used)."""
    table = Names(schema).types
    done = set()

    def walk(s, ns):
        if isinstance(s, list):
            return [walk(b, ns) for b in s]
        if isinstance(s, str):
            if s in PRIMITIVES:
                return s
            full = fullname(s, ns) if fullname(s, ns) in table else s
            if full in done:
                return full
            d = copy.deepcopy(table[full])
            d["name"] = full
            d.pop("namespace", None)
            return walk(d, space_of(full))
        t = s["type"]
        if t in NAMED:
            full = fullname(s["name"], s.get("namespace", ns))
            if full in done:
                return full
            done.add(full)
            out = dict(s)
            if t == "record":
                out["fields"] = [dict(f, type=walk(f["type"], space_of(full))) for f in s["fields"]]
            return out
        if t == "array":
            return dict(s, items=walk(s["items"], ns))
        if t == "map":
            return dict(s, values=walk(s["values"], ns))
        if isinstance(t, (dict, list)) or t not in PRIMITIVES:
            return walk(t, ns)
        return s

    return walk(schema, "")


# ---------------------------------------------------------------- random datums

STRING_PIECES = ["a", "Z", "0", " ", "-", "é", "ß", "€", "日本", "𝄞", "Ω", "\u0000", "\u00ff",
                 "\u2028", "ok", "longer text "]
INT_EDGES = [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 2**31 - 1, -2**31, 2**24 + 1, -(2**24 + 1)]
LONG_EDGES = INT_EDGES + [2**31, -2**31 - 1, 2**53 + 1, -(2**53 + 1), 2**63 - 1, -2**63,
                          2**62, 1700000000000]


class Gen:
    """Random datums of a schema, in fastavro's input form: union values are tuples
    (branch name, value), so the test, not fastavro's guess, picks the branch."""

    def __init__(self, schema, seed, utf8_bytes=False, max_depth=6):
        self.names = Names(schema)
        self.rng = random.Random(seed)
        self.utf8_bytes = utf8_bytes
        self.max_depth = max_depth
        self.schema = schema

    def datum(self):
        return self.value(self.schema, "", 0)

    def text(self):
        return "".join(self.rng.choice(STRING_PIECES) for _ in range(self.rng.randint(0, 6)))

    def integer(self, edges, bits):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice(edges)
        if r < 0.6:
            return self.rng.randint(-300, 300)
        return self.rng.randint(-2**(bits - 1), 2**(bits - 1) - 1)

    def float32(self):
        while True:
            if self.rng.random() < 0.2:
                v = self.rng.choice([0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), 1e-45])
            else:
                v = struct.unpack("<f", struct.pack("<I", self.rng.getrandbits(32)))[0]
            if v == v:  # not NaN
                return v

    def float64(self):
        while True:
            if self.rng.random() < 0.2:
                v = self.rng.choice([0.0, -0.0, 0.1, -1e300, 5e-324, float("inf")])
            else:
                v = struct.unpack("<d", struct.pack("<Q", self.rng.getrandbits(64)))[0]
            if v == v:
                return v

    def value(self, s, ns, depth):
        node, full, ns = self.names.resolve(s, ns)
        if isinstance(node, list):
            branches = node
            if depth >= self.max_depth:  # stop recursion: a branch without nesting
                flat = [b for b in node if self.names.resolve(b, ns)[0].get("type") in PRIMITIVES]
                branches = flat or node
            b = self.rng.choice(branches)
            return (self.names.branch_name(b, ns), self.value(b, ns, depth + 1))
        t = node["type"]
        lt = node.get("logicalType")
        rng = self.rng
        if t == "null":
            return None
        if t == "boolean":
            return rng.random() < 0.5
        if t == "int":
            if lt == "date":
                return rng.randint(-1000, 40000)
            return self.integer(INT_EDGES, 32)
        if t == "long":
            if lt in ("timestamp-millis", "timestamp-micros"):
                return rng.randint(0, 2**45)
            return self.integer(LONG_EDGES, 64)
        if t == "float":
            return self.float32()
        if t == "double":
            return self.float64()
        if t == "bytes":
            if lt == "decimal":
                return rng.randint(-10**12, 10**12).to_bytes(8, "big", signed=True)
            if self.utf8_bytes:
                return self.text().encode("utf-8")
            return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12)))
        if t == "string":
            if lt == "uuid":
                return str(uuid.UUID(int=rng.getrandbits(128)))
            return self.text()
        if t == "enum":
            return rng.choice(node["symbols"])
        if t == "fixed":
            return bytes(rng.getrandbits(8) for _ in range(node["size"]))
        if t == "array":
            n = 0 if depth >= self.max_depth else rng.randint(0, 4)
            return [self.value(node["items"], ns, depth + 1) for _ in range(n)]
        if t == "map":
            n = 0 if depth >= self.max_depth else rng.randint(0, 4)
            out = {}
            while len(out) < n:
                out[self.text() + str(len(out))] = self.value(node["values"], ns, depth + 1)
            return out
        if t == "record":
            return {f["name"]: self.value(f["type"], ns, depth + 1) for f in node["fields"]}
        raise AssertionError("no generator for %r" % (node,))


# ---------------------------------------------------------------- the expected bytes


def to_writable(names, s, v, ns):
    """A value fastavro read with a reader schema, made ready for fastavro to write with
    that schema, without changing what it means:
    - a bytes or fixed value that is a str is a field default fastavro passed through
      unconverted (the JSON of a default); the spec maps its code points 0-255 to bytes;
    - a union value is given as (branch, value), so fastavro writes the branch the
      resolution chose; a default of a union field is of its first branch (the spec), and
      a record read into a union goes to its record branch;
    - a (branch, value) fastavro returns for a writer union read into a non-union is
      unwrapped."""
    node, full, ns = names.resolve(s, ns)
    if isinstance(node, list):
        if isinstance(v, tuple):
            name, inner = v
            for b in node:
                bname = names.branch_name(b, ns)
                if bname == name or bname.split(".")[-1] == name.split(".")[-1]:
                    return (bname, to_writable(names, b, inner, ns))
            raise AssertionError("branch %s not in %r" % (name, node))
        if v is None:
            return None
        kinds = [names.resolve(b, ns)[0].get("type") for b in node]
        if isinstance(v, dict):
            for b, k in zip(node, kinds):
                if k in ("record", "map"):
                    return (names.branch_name(b, ns), to_writable(names, b, v, ns))
        if isinstance(v, str) and "string" not in kinds:
            for b, k in zip(node, kinds):
                if k in ("bytes", "fixed", "enum"):
                    return (names.branch_name(b, ns), to_writable(names, b, v, ns))
        return v
    if isinstance(v, tuple):
        v = v[1]
    t = node["type"]
    if t in ("bytes", "fixed") and isinstance(v, str):
        return v.encode("latin-1")
    if t == "record":
        return {f["name"]: to_writable(names, f["type"], v[f["name"]], ns) for f in node["fields"]}
    if t == "array":
        return [to_writable(names, node["items"], x, ns) for x in v]
    if t == "map":
        return {k: to_writable(names, node["values"], x, ns) for k, x in v.items()}
    return v


def fastavro_schema(schema):
    """fastavro's parsed form of schema (logical types stripped), with every named type
    but the outermost defined apart and referred to by full name everywhere.

    Why apart: with return_named_type, fastavro 1.13 fails (TypeError: unhashable type:
    'dict', _read.pyx read_union) when a union branch is a reference on one side and an
    inline definition on the other, as in any pair whose reader defines a type where the
    writer refers to it. With references on both sides it reads correctly. The encoding
    is the same either way."""
    schema = strip_logical(schema)
    table = Names(schema).types
    defs = []  # children before parents, so each parses with what it refers to known

    def walk(s, ns, top=False):
        if isinstance(s, list):
            return [walk(b, ns) for b in s]
        if isinstance(s, str):
            if s in PRIMITIVES:
                return s
            return fullname(s, ns) if fullname(s, ns) in table else s
        t = s["type"]
        if t in NAMED:
            full = fullname(s["name"], s.get("namespace", ns))
            out = {k: v for k, v in s.items() if k != "namespace"}
            out["name"] = full
            if t == "record":
                out["fields"] = [dict(f, type=walk(f["type"], space_of(full)))
                                 for f in s["fields"]]
            if top:
                return out
            defs.append(out)
            return full
        if t == "array":
            return dict(s, items=walk(s["items"], ns))
        if t == "map":
            return dict(s, values=walk(s["values"], ns))
        if isinstance(t, (dict, list)) or t not in PRIMITIVES:
            return walk(t, ns, top)
        return s

    outer = walk(schema, "", top=True)
    named = {}
    for d in defs:
        fastavro.parse_schema(d, named)
    return fastavro.parse_schema(outer, named)


class Reference:
    """fastavro's resolution of one (writer, reader) pair."""

    def __init__(self, writer, reader):
        self.writer = fastavro_schema(writer)
        self.reader_json = strip_logical(reader)
        self.reader = fastavro_schema(reader)
        self.reader_names = Names(self.reader_json)

    def encode(self, datum):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.writer, datum)
        return buf.getvalue()

    def resolve(self, data):
        """The reader's bytes, or None when the specification says error."""
        try:
            v = fastavro.schemaless_reader(io.BytesIO(data), self.writer, self.reader,
                                           return_named_type=True)
        except SchemaResolutionError:
            return None
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.reader,
                                   to_writable(self.reader_names, self.reader_json, v, ""))
        return buf.getvalue()


# ---------------------------------------------------------------- building blocks

def rec(name, fields, **kw):
    return dict({"type": "record", "name": name, "fields": fields}, **kw)


def fld(name, type_, **kw):
    return dict({"name": name, "type": type_}, **kw)


def arr(items):
    return {"type": "array", "items": items}


def mapof(values):
    return {"type": "map", "values": values}


SUB = rec("Sub", [fld("x", "long"), fld("label", ["null", "string"])])
COLOR = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}
MD5 = {"type": "fixed", "name": "MD5", "size": 4}
NODE = rec("Node", [fld("v", "int"), fld("kids", arr("Node"))])
LINKED = rec("LinkedList", [fld("value", "int"), fld("next", ["null", "LinkedList"])])


def every_field():
    """One field of every type, each name saying its type; named types defined once."""
    return [
        fld("n", "null"), fld("b", "boolean"), fld("i", "int"), fld("l", "long"),
        fld("f", "float"), fld("d", "double"), fld("by", "bytes"), fld("s", "string"),
        fld("e", copy.deepcopy(COLOR)), fld("fx", copy.deepcopy(MD5)),
        fld("arr", arr("int")), fld("m", mapof("string")), fld("sub", copy.deepcopy(SUB)),
        fld("u", ["null", "string", "int", "Sub", "Color"]),
        fld("u2", ["null", arr("long"), mapof("string"), "MD5", "double", "boolean"]),
        fld("arr_rec", arr("Sub")), fld("map_rec", mapof("Sub")),
        fld("nested", arr(arr("string"))), fld("map_arr", mapof(arr("long"))),
        fld("opt", ["null", "double"]), fld("last", "string"),
    ]


EVERY = define_first(rec("Every", every_field(), namespace="test.every"))


def field_named(schema, name):
    return next(f for f in schema["fields"] if f["name"] == name)


# Reader fields with defaults of every type: what a reader adds when the writer lacks it.
DEFAULTED = [
    fld("dn", "null", default=None),
    fld("db", "boolean", default=True),
    fld("di", "int", default=-7),
    fld("dl", "long", default=2**40),
    fld("df", "float", default=1.5),
    fld("dd", "double", default=-0.25),
    fld("dby", "bytes", default="\u00ff\u0001A"),
    fld("ds", "string", default="é€𝄞"),
    fld("de", {"type": "enum", "name": "Mood", "symbols": ["SAD", "OK", "HAPPY"]}, default="HAPPY"),
    fld("dfx", {"type": "fixed", "name": "Pair", "size": 2}, default="\u00ff\u0001"),
    fld("darr", arr("long"), default=[1, -2, 300]),
    fld("dmap", mapof("int"), default={"zeta": 1, "alpha": -2, "mid": 3, "b": 4, "é": 5}),
    fld("drec", rec("Inner", [fld("x", "long"), fld("raw", "bytes"), fld("tags", arr("string")),
                              fld("o", ["null", "string"]), fld("mood", "Mood")]),
        default={"x": 5, "raw": "\u00ff", "tags": ["t"], "o": None, "mood": "SAD"}),
    fld("du_int", ["int", "null"], default=3),
    fld("du_null", ["null", "string"], default=None),
    fld("du_str", ["string", "null"], default="x"),
    fld("du_rec", ["Inner", "null"],
        default={"x": -1, "raw": "", "tags": [], "o": None, "mood": "OK"}),
    fld("du_bytes", ["bytes", "null"], default="\u0001\u00fe"),
    fld("darr_rec", arr("Inner"), default=[{"x": 1, "raw": "a", "tags": [], "o": None,
                                             "mood": "OK"}]),
]

ENUM_W = {"type": "enum", "name": "Suit", "symbols": ["SPADES", "HEARTS", "DIAMONDS", "CLUBS"]}


def load_envelope():
    with open(ENVELOPE, encoding="utf-8") as f:
        return json.load(f)


def legacy_envelope(env):
    """The envelope of the first derivation: FieldVersion without partition and offset
    (as in test_kafka_helpers.py, docs/wire.md)."""
    legacy = copy.deepcopy(env)
    fv = field_named(legacy, "provenance")["type"]["values"]
    fv["fields"] = [f for f in fv["fields"] if f["name"] not in ("partition", "offset")]
    return legacy


def envelope_with_person_v2(env):
    """The envelope after a canonical change: Person gains `nickname` (optional, default
    null) and EmploymentStatus the symbol RETIRED (its default stays UNKNOWN)."""
    v2 = copy.deepcopy(env)
    person = field_named(v2, "before")["type"][1]
    person["fields"].append(fld("nickname", ["null", "string"], default=None))
    status = field_named(person, "employment_status")["type"][1]
    status["symbols"].append("RETIRED")
    return v2


# ---------------------------------------------------------------- the pairs


class Pair:
    def __init__(self, id_, writer, reader, rule, utf8_bytes=False, same=False,
                 identity=False, errors=False, max_depth=6):
        self.id = id_
        self.writer = writer
        self.reader = reader
        self.rule = rule  # the spec's sentence this pair proves
        self.utf8_bytes = utf8_bytes
        self.same = same  # convert must hand back the input pointer itself
        self.identity = identity  # output bytes == input bytes
        self.errors = errors  # some datums must fail (code 2), some succeed
        self.max_depth = max_depth


def pairs():
    env = load_envelope()
    legacy = legacy_envelope(env)
    env2 = envelope_with_person_v2(env)
    documented = copy.deepcopy(EVERY)
    documented["doc"] = "the same record, documented"
    for f in documented["fields"]:
        f["doc"] = "field %s" % f["name"]
    field_named(documented, "opt")["default"] = None
    field_named(documented, "i")["default"] = 42
    field_named(documented, "sub")["type"]["doc"] = "nested"
    renamed = copy.deepcopy(EVERY)
    renamed["aliases"] = ["Every"]
    renamed["name"] = "EveryRenamed"
    for f in renamed["fields"]:
        f["aliases"] = ["old_" + f["name"]]

    promo_w = rec("Promo", [
        fld("i2l", "int"), fld("i2f", "int"), fld("i2d", "int"), fld("l2f", "long"),
        fld("l2d", "long"), fld("f2d", "float"), fld("s2b", "string"), fld("b2s", "bytes"),
        fld("ai2l", arr("int")), fld("mf2d", mapof("float")), fld("ui2l", ["null", "int"])])
    promo_r = rec("Promo", [
        fld("i2l", "long"), fld("i2f", "float"), fld("i2d", "double"), fld("l2f", "float"),
        fld("l2d", "double"), fld("f2d", "double"), fld("s2b", "bytes"), fld("b2s", "string"),
        fld("ai2l", arr("long")), fld("mf2d", mapof("double")), fld("ui2l", ["null", "long"])])

    union_w = define_first(rec("U", [
        fld("u", ["null", "string", "int", copy.deepcopy(SUB), copy.deepcopy(COLOR),
                  arr("long"), mapof("string"), copy.deepcopy(MD5)]),
        fld("k", "int")]))
    union_r = define_first(rec("U", [
        fld("u", [copy.deepcopy(MD5), mapof("string"), arr("long"), copy.deepcopy(COLOR),
                  copy.deepcopy(SUB), "int", "string", "null"]),
        fld("k", "int")]))

    return [
        Pair("identical_every_type", EVERY, EVERY,
             "identical schemas: the input itself comes back", same=True, identity=True),
        Pair("identical_docs_and_defaults_differ", EVERY, documented,
             "schemas differing only in docs and defaults read as identical",
             same=True, identity=True),
        Pair("identical_but_names_and_field_aliases", EVERY, define_first(renamed),
             "a renamed record (alias) and aliased fields: the same bytes", identity=True),
        Pair("identical_person_envelope", env, env, "the envelope read by its own binding",
             same=True, identity=True),
        Pair("reader_adds_defaults_of_every_type",
             rec("Grow", [fld("id", "long")]),
             define_first(rec("Grow", [fld("id", "long")] + copy.deepcopy(DEFAULTED))),
             "a reader field the writer lacks takes its default (every type, record default "
             "as a JSON object, union default of the first branch, bytes code points 0-255)"),
        Pair("reader_adds_defaults_between_fields",
             rec("Grow", [fld("a", "string"), fld("z", arr("int"))]),
             define_first(rec("Grow", copy.deepcopy(DEFAULTED[:5]) + [fld("a", "string")]
                              + copy.deepcopy(DEFAULTED[5:12]) + [fld("z", arr("int"))]
                              + copy.deepcopy(DEFAULTED[12:]))),
             "defaults placed before, between and after the writer's fields"),
        Pair("writer_fields_reader_lacks", define_first(rec("Every", every_field() + [
            fld("tree", copy.deepcopy(NODE)), fld("list", ["null", copy.deepcopy(LINKED)])],
            namespace="test.every")),
             define_first(rec("Every", [fld("i", "int"), fld("u", ["null", "string", "int",
                                                                     copy.deepcopy(SUB), copy.deepcopy(COLOR)]),
                                        fld("last", "string")], namespace="test.every")),
             "writer fields the reader lacks are skipped (every type: nested and recursive "
             "records, arrays of records, maps, unions, fixed)"),
        Pair("writer_keeps_only_nested", EVERY,
             define_first(rec("Every", [fld("arr_rec", arr(copy.deepcopy(SUB)))],
                              namespace="test.every")),
             "a reader keeping one field after many skipped ones"),
        Pair("fields_reordered", EVERY,
             define_first(rec("Every", list(reversed(every_field())), namespace="test.every")),
             "fields are matched by name, whatever their order"),
        Pair("promotions", promo_w, promo_r,
             "int->long/float/double, long->float/double, float->double, string<->bytes "
             "(also inside arrays, maps and unions)", utf8_bytes=True),
        Pair("top_level_int_to_long", "int", "long", "promotion of a top-level int"),
        Pair("top_level_long_to_double", "long", "double", "promotion of a top-level long"),
        Pair("top_level_array_of_float_to_double", arr("float"), arr("double"),
             "arrays: items resolved"),
        Pair("enum_symbols_reordered_and_added", ENUM_W,
             {"type": "enum", "name": "Suit", "symbols": ["JOKER", "CLUBS", "SPADES",
                                                          "DIAMONDS", "HEARTS", "STAR"]},
             "enum symbols are matched by name"),
        Pair("enum_reader_default", ENUM_W,
             {"type": "enum", "name": "Suit", "symbols": ["HEARTS", "UNKNOWN", "SPADES"],
              "default": "UNKNOWN"},
             "a writer symbol the reader lacks takes the reader enum's default"),
        Pair("enum_symbol_missing_without_default",
             rec("R", [fld("s", ENUM_W), fld("n", "int")]),
             rec("R", [fld("s", {"type": "enum", "name": "Suit",
                                 "symbols": ["SPADES", "HEARTS"]}), fld("n", "int")]),
             "a writer symbol the reader lacks, no default: error for that datum only",
             errors=True),
        Pair("union_branches_reordered", union_w, union_r,
             "both unions: the writer's branch goes to the first matching reader branch"),
        Pair("union_branches_evolved",
             define_first(rec("V", [fld("u", ["null", "int", copy.deepcopy(SUB)])])),
             define_first(rec("V", [fld("u", ["null", "long", rec("Sub", [
                 fld("x", "double"), fld("extra", "string", default="new")])])])),
             "both unions: branches matched by promotion and by name, then resolved"),
        Pair("union_branch_missing_in_reader",
             rec("V", [fld("u", ["null", "string", "int"]), fld("k", "long")]),
             rec("V", [fld("u", ["null", "string"]), fld("k", "long")]),
             "a writer branch without a match in the reader union: error for that datum",
             errors=True),
        Pair("writer_union_reader_not",
             define_first(rec("W", [fld("u", ["int", "string"]),
                                    fld("r", ["null", copy.deepcopy(SUB)])])),
             define_first(rec("W", [fld("u", "long"), fld("r", copy.deepcopy(SUB))])),
             "writer union, reader not: resolved when the datum's branch matches, error "
             "otherwise", errors=True),
        Pair("writer_not_reader_union",
             define_first(rec("W", [fld("i", "int"), fld("s", "string"),
                                    fld("r", copy.deepcopy(SUB)), fld("e", copy.deepcopy(COLOR))])),
             define_first(rec("W", [fld("i", ["null", "string", "long"]),
                                    fld("s", ["null", "string"]),
                                    fld("r", ["null", copy.deepcopy(SUB)]),
                                    fld("e", ["null", arr("int"), copy.deepcopy(COLOR)])])),
             "reader union, writer not: the first matching reader branch"),
        Pair("optional_fields",
             rec("O", [fld("a", ["null", "string"]), fld("b", ["null", "int"]), fld("c", "string"),
                       fld("d", ["string", "null"])]),
             rec("O", [fld("a", ["null", "string"], default=None), fld("b", ["null", "long"]),
                       fld("c", ["null", "string"]), fld("d", ["null", "string"]),
                       fld("added", ["null", "string"], default=None)]),
             "[\"null\", T] optional fields: promoted, made optional, reordered, added"),
        Pair("record_and_field_aliases",
             define_first(rec("Old", [fld("old_name", "int"), fld("keep", "string"),
                                      fld("inner", rec("OldInner", [fld("v", "long")])),
                                      fld("e", {"type": "enum", "name": "OldEnum",
                                                "symbols": ["A", "B"]})],
                              namespace="legacy.ns")),
             define_first(rec("New", [fld("keep", "string"),
                                      fld("new_name", "long", aliases=["old_name"]),
                                      fld("inner", rec("NewInner", [fld("v", "long")],
                                                       aliases=["legacy.ns.OldInner"])),
                                      fld("e", {"type": "enum", "name": "NewEnum",
                                                "aliases": ["legacy.ns.OldEnum"],
                                                "symbols": ["B", "A"]})],
                              namespace="current.ns", aliases=["legacy.ns.Old"])),
             "reader aliases match the writer's record, enum and field names"),
        Pair("namespaces",
             {"type": "record", "name": "Outer", "namespace": "a.b", "fields": [
                 fld("x", {"type": "record", "name": "Inner", "fields": [fld("v", "int")]}),
                 fld("y", "Inner"), fld("z", "a.b.Inner"),
                 fld("w", {"type": "record", "name": "Other", "namespace": "q",
                           "fields": [fld("o", "string")]}),
                 fld("u", ["null", "q.Other", "Inner"])]},
             {"type": "record", "name": "Outer", "namespace": "c.d", "fields": [
                 fld("u", ["null", {"type": "record", "name": "Inner",
                                    "fields": [fld("v", "long")]},
                           {"type": "record", "name": "Other", "namespace": "r",
                            "fields": [fld("o", "string")]}]),
                 fld("x", "Inner"), fld("y", "c.d.Inner"), fld("z", "Inner"),
                 fld("w", "r.Other")]},
             "named types in other namespaces match by unqualified name (1.11 spec); "
             "references by short and full name"),
        Pair("recursive_linked_list",
             define_first(rec("LinkedList", [fld("value", "int"),
                                             fld("next", ["null", "LinkedList"])])),
             define_first(rec("LinkedList", [fld("value", "long"),
                                             fld("label", "string", default="node"),
                                             fld("next", ["null", "LinkedList"])])),
             "a recursive record, resolved at every level", max_depth=12),
        Pair("recursive_tree", define_first(copy.deepcopy(NODE)),
             define_first(rec("Node", [fld("kids", arr("Node")), fld("v", "long"),
                                       fld("w", "int", default=0)])),
             "a recursive record through an array", max_depth=5),
        Pair("arrays_and_maps_of_evolved_records",
             define_first(rec("C", [fld("items", arr(rec("Item", [
                 fld("a", "int"), fld("drop", "string"), fld("c", ["null", "float"])]))),
                 fld("m", mapof("Item")), fld("mm", mapof(arr("Item")))])),
             define_first(rec("C", [fld("items", arr(rec("Item", [
                 fld("c", ["null", "double"]), fld("a", "long"),
                 fld("b", "string", default="b")]))),
                 fld("m", mapof("Item")), fld("mm", mapof(arr("Item")))])),
             "arrays and maps: items and values resolved (records evolved inside)"),
        Pair("logical_types_pass_through",
             rec("L", [fld("ts", {"type": "long", "logicalType": "timestamp-millis"}),
                       fld("dec", {"type": "bytes", "logicalType": "decimal",
                                   "precision": 20, "scale": 2}),
                       fld("id", {"type": "string", "logicalType": "uuid"}),
                       fld("day", {"type": "int", "logicalType": "date"})]),
             rec("L", [fld("id", {"type": "string", "logicalType": "uuid"}),
                       fld("ts", {"type": "long", "logicalType": "timestamp-millis"}),
                       fld("dec", {"type": "bytes", "logicalType": "decimal",
                                   "precision": 20, "scale": 2}),
                       fld("day", {"type": "long"}),
                       fld("at", {"type": "long", "logicalType": "timestamp-micros"},
                           default=0)]),
             "logical types resolve as their underlying types"),
        Pair("envelope_legacy_to_current", legacy, env,
             "person envelopes written before FieldVersion had partition and offset, read "
             "by a current binding (-1 defaults)"),
        Pair("envelope_current_to_legacy", env, legacy,
             "current envelopes read by a binding of the first derivation (fields skipped)"),
        Pair("envelope_canonical_field_added", env, env2,
             "envelopes written before a canonical change (Person.nickname added, "
             "EmploymentStatus.RETIRED added) read by the new binding"),
        Pair("envelope_canonical_field_added_old_reader", env2, env,
             "envelopes written after the change, read by the old binding: nickname "
             "skipped, RETIRED read as the enum default UNKNOWN"),
        Pair("envelope_legacy_to_person_v2", legacy, env2,
             "the oldest envelope read by the newest binding"),
    ]


PAIRS = pairs()


def seed_of(pair_id):
    return zlib.crc32(pair_id.encode())


def written(pair, n=DATUMS):
    """(Reference, [datum bytes]) for a pair."""
    ref = Reference(pair.writer, pair.reader)
    gen = Gen(pair.writer, seed_of(pair.id), pair.utf8_bytes, pair.max_depth)
    return ref, [ref.encode(gen.datum()) for _ in range(n)]


@pytest.mark.parametrize("pair", PAIRS, ids=[p.id for p in PAIRS])
def test_resolution_gives_fastavros_bytes(harness, pair):
    ref, datums = written(pair)
    out = harness.convert(pair.writer, pair.reader, [d.hex() for d in datums])
    bad, errors, oks = [], 0, 0
    for d, line in zip(datums, out):
        want = ref.resolve(d)
        got = parse_line(line)
        if want is None:
            errors += 1
            if got[0] != "error" or got[1] != 2:
                bad.append("datum %s: fastavro: resolution error; C: %s" % (short(d.hex()),
                                                                          short(line)))
            continue
        oks += 1
        if got[0] != "ok" or got[1] != want.hex():
            bad.append("datum %s:\n   want %s\n   got  %s" % (short(d.hex()), short(want.hex()),
                                                           short(line)))
        elif pair.identity and got[1] != d.hex():
            bad.append("datum %s: identity pair changed the bytes: %s" % (d.hex(), got[1]))
        elif pair.same and not got[2]:
            bad.append("datum %s: writer schema is the reader's, yet convert did not hand "
                       "back the input itself" % d.hex())
    assert not bad, "%s (%s): %d of %d datums differ; first ones:\n%s" % (
        pair.id, pair.rule, len(bad), len(datums), "\n".join(bad[:5]))
    if pair.errors:
        assert errors and oks, "the generator should give both kinds of datums"
    else:
        assert errors == 0


def test_pairs_cover_every_generated_union_branch():
    """The generator does reach every branch of the unions of the union pairs (else the
    union tests above would prove less than their names say)."""
    pair = next(p for p in PAIRS if p.id == "union_branches_reordered")
    gen = Gen(pair.writer, seed_of(pair.id))
    seen = {gen.datum()["u"][0] for _ in range(DATUMS)}
    assert len(seen) == len(field_named(pair.writer, "u")["type"])


def test_defaults_holding_nul(harness):
    """A bytes, fixed or string default may hold U+0000 (the byte 0; JSON allows the
    escape), and so may a record default's strings."""
    writer = rec("Z", [fld("id", "int")])
    reader = define_first(rec("Z", [
        fld("id", "int"), fld("b", "bytes", default="\u0000\u00ff"),
        fld("f", {"type": "fixed", "name": "Two", "size": 2}, default="\u0000\u0000"),
        fld("s", "string", default="a\u0000b"), fld("m", mapof("int"), default={"k": 1})]))
    ref = Reference(writer, reader)
    data = ref.encode({"id": 5})
    out = harness.convert(writer, reader, [data.hex()])
    assert ok_hex(out[0]) == ref.resolve(data).hex()


def test_map_default_key_holding_nul_is_refused_clearly(harness):
    """jansson, which parses the schemas, has no NUL in object keys: a map default with
    such a key is refused as a schema error saying so, not misread (a known limit,
    docs/bindings-c.md)."""
    writer = rec("Z", [fld("id", "int")])
    reader = rec("Z", [fld("id", "int"), fld("m", mapof("int"), default={"k\u0000": 1})])
    rc, out, err = harness.run(writer, reader, ["0a"])
    assert rc == 2 and out and out[0].startswith("schema-error: 7 ") and "NUL" in out[0], out


def test_an_exact_branch_comes_before_a_promotion(harness):
    """A writer type read into a reader union goes to the reader's branch of the same type
    when there is one, even after a branch it promotes to (as Avro Java, and the
    aggregator's own translation, choose). fastavro takes the first match, promotions
    included, so this is compared with hand-made bytes: int 5 and string "ok" go to the
    int and string branches (indexes 2), not to float and bytes (indexes 1)."""
    writer = rec("W", [fld("i", "int"), fld("s", "string")])
    reader = rec("W", [fld("i", ["null", "float", "int"]), fld("s", ["null", "bytes", "string"])])
    out = harness.convert(writer, reader, ["0a046f6b"])
    assert ok_hex(out[0]) == "040a" + "04046f6b"
    # with no exact branch, the first promotion
    reader = rec("W", [fld("i", ["null", "float", "long"]), fld("s", ["null", "bytes"])])
    out = harness.convert(writer, reader, ["0a046f6b"])
    assert ok_hex(out[0]) == "02" + struct.pack("<f", 5.0).hex() + "02046f6b"


def test_a_union_read_as_itself_keeps_its_branches(harness):
    """["null", "double", "int"] read as itself (the reader adds a field, so resolution runs):
    an int stays an int. Found by fuzz_resolve when the rule was "first match, promotions
    included", which sent it to the double."""
    u = ["null", "double", "int"]
    writer = rec("X", [fld("u", u)])
    reader = rec("X", [fld("u", u), fld("z", "int", default=0)])
    out = harness.convert(writer, reader, ["040a", "0200000000000014" + "40", "00"])
    assert [ok_hex(x) for x in out] == ["040a00", "020000000000001440" + "00", "0000"]


# ---------------------------------------------------------------- promotions: rounding


def float32_of(v):
    """The float nearest to the integer v, ties to even, rounded once (exact arithmetic)."""
    m = abs(v)
    e = m.bit_length() - 24
    if e > 0:
        q, r = divmod(m, 1 << e)
        half = 1 << (e - 1)
        if r > half or (r == half and q & 1):
            q += 1
        m = q << e
    return struct.pack("<f", float(-m if v < 0 else m))


def test_long_to_float_rounds_once(harness):
    """long -> float: the value rounded once to the nearest float, as (float)v in C and
    Avro Java's (float) cast do. Python's struct.pack('<f', float(v)), and so fastavro,
    rounds twice (to double, then to float): 2**60 + 2**36 + 1 is where the two differ
    (to double it loses the 1, leaving a tie that goes to even, 2**60; rounded once it
    goes up, to 2**60 + 2**37)."""
    values = [2**60 + 2**36 + 1, -(2**60 + 2**36 + 1), 2**24 + 1, 2**53 + 1, 2**63 - 1,
              -2**63, 16777217, 0, -1, 123456789012345]
    ref = Reference("long", "float")
    out = harness.convert("long", "float", [ref.encode(v).hex() for v in values])
    for v, line in zip(values, out):
        want = float32_of(v).hex()
        assert ok_hex(line) == want, "long %d -> float: want %s, got %s" % (v, want, line)
    assert float32_of(2**60 + 2**36 + 1) != struct.pack("<f", float(2**60 + 2**36 + 1))


def test_int_and_long_to_double_are_exact_or_nearest(harness):
    values = [2**53 + 1, -(2**53 + 1), 2**63 - 1, -2**63, 2**62 + 2**10 + 1]
    ref = Reference("long", "double")
    out = harness.convert("long", "double", [ref.encode(v).hex() for v in values])
    assert [ok_hex(x) for x in out] == [struct.pack("<d", float(v)).hex() for v in values]


# ---------------------------------------------------------------- schema errors

SCHEMA_ERRORS = [
    ("reader_field_without_default",
     rec("P", [fld("id", "long")]),
     rec("P", [fld("id", "long"), fld("nickname", "string")]), ["nickname"]),
    ("nested_reader_field_without_default",
     rec("P", [fld("addr", rec("Addr", [fld("city", "string")]))]),
     rec("P", [fld("addr", rec("Addr", [fld("city", "string"), fld("zip_code", "int")]))]),
     ["zip_code"]),
    ("string_vs_int",
     rec("P", [fld("email_addr", "string")]), rec("P", [fld("email_addr", "int")]),
     ["email_addr"]),
    ("long_to_int_is_no_promotion",
     rec("P", [fld("count_x", "long")]), rec("P", [fld("count_x", "int")]), ["count_x"]),
    ("double_to_float_is_no_promotion", "double", "float", ["double", "float"]),
    ("record_name_mismatch",
     rec("Person", [fld("id", "long")]), rec("Human", [fld("id", "long")]),
     ["Person", "Human"]),
    ("nested_record_name_mismatch",
     rec("P", [fld("home", rec("Address", [fld("c", "string")]))]),
     rec("P", [fld("home", rec("Location", [fld("c", "string")]))]),
     ["Address", "Location", "home"]),
    ("enum_name_mismatch",
     {"type": "enum", "name": "Suit", "symbols": ["A"]},
     {"type": "enum", "name": "Colour", "symbols": ["A"]}, ["Suit", "Colour"]),
    ("fixed_size_mismatch",
     rec("P", [fld("digest", {"type": "fixed", "name": "MD5", "size": 16})]),
     rec("P", [fld("digest", {"type": "fixed", "name": "MD5", "size": 8})]),
     ["digest", "MD5"]),
    ("fixed_name_mismatch",
     {"type": "fixed", "name": "MD5", "size": 16}, {"type": "fixed", "name": "SHA", "size": 16},
     ["MD5", "SHA"]),
    ("array_vs_map", rec("P", [fld("coll", arr("int"))]), rec("P", [fld("coll", mapof("int"))]),
     ["coll"]),
    ("array_items_mismatch", rec("P", [fld("tags_x", arr("string"))]),
     rec("P", [fld("tags_x", arr("int"))]), ["tags_x"]),
    ("writer_not_union_no_reader_branch",
     rec("P", [fld("amount", "int")]), rec("P", [fld("amount", ["null", "string"])]),
     ["amount"]),
]


@pytest.mark.parametrize("writer,reader,culprits", [c[1:] for c in SCHEMA_ERRORS],
                         ids=[c[0] for c in SCHEMA_ERRORS])
def test_schema_that_cannot_be_read_is_refused_naming_the_culprit(harness, writer, reader,
                                                                    culprits):
    code, msg = harness.schema_error(writer, reader)
    assert code == 7, msg
    assert any(c in msg for c in culprits), "message %r names none of %s" % (msg, culprits)


def test_invalid_schema_texts_are_schema_errors(harness):
    good = rec("P", [fld("id", "long")])
    for bad in map(Raw, [
            '{"type": "record", "name": "P", "fields": [', '{"type": "nonsense"}',
            '{"type": "record", "name": "P", "fields": [{"name": "a", "type": "Undefined"}]}',
            'long', '"lung"', '']):
        assert harness.schema_error(bad, good)[0] == 7, bad
        assert harness.schema_error(good, bad)[0] == 7, bad


PROHIBITED = [
    # (id, a schema the specification prohibits, the nearest valid one)
    ("union_with_two_nulls", '["null", "int", "null"]', ["null", "int"]),
    ("union_with_two_ints", '["int", "string", "int"]', ["int", "string"]),
    ("union_inside_union", '["int", ["null", "long"]]', ["int", "null", "long"]),
    ("duplicate_enum_symbol", '{"type": "enum", "name": "E", "symbols": ["A", "B", "B"]}',
     {"type": "enum", "name": "E", "symbols": ["A", "B"]}),
    ("nested_duplicate_enum_symbol",
     '{"type": "record", "name": "R", "fields": [{"name": "e", "type": '
     '{"type": "enum", "name": "E", "symbols": ["A", "B", "B"]}}]}',
     rec("R", [fld("e", {"type": "enum", "name": "E", "symbols": ["A", "B"]})])),
    ("duplicate_field_name", '{"type": "record", "name": "R", "fields": '
                             '[{"name": "a", "type": "int"}, {"name": "a", "type": "long"}]}',
     rec("R", [fld("a", "int")])),
]


@pytest.mark.parametrize("text,valid", [(Raw(p[1]), p[2]) for p in PROHIBITED],
                         ids=[p[0] for p in PROHIBITED])
def test_schemas_the_spec_prohibits_are_refused(harness, text, valid):
    """Unions may not hold two schemas of one unnamed type, nor a union; enum symbols and
    field names are unique. Refused as reader, as writer, and read as itself. Accepted,
    such a schema reads wrongly: with two nulls the second reads as the first, with a
    symbol twice the second reads as the first (found by tests/fuzz/fuzz_resolve.c: then
    writer == reader does not give the input back)."""
    assert harness.schema_error(text, text)[0] == 7
    assert harness.schema_error(valid, text)[0] == 7
    assert harness.schema_error(text, valid)[0] == 7


# ---------------------------------------------------------------- datum errors


def test_enum_symbol_the_reader_lacks_names_the_symbol(harness):
    w = rec("R", [fld("colour", {"type": "enum", "name": "C", "symbols": ["RED", "PURPLE"]})])
    r = rec("R", [fld("colour", {"type": "enum", "name": "C", "symbols": ["RED"]})])
    ref = Reference(w, r)
    out = harness.convert(w, r, [ref.encode({"colour": "PURPLE"}).hex(),
                                 ref.encode({"colour": "RED"}).hex()])
    kind, code, msg = parse_line(out[0])
    assert (kind, code) == ("error", 2), out[0]
    assert "PURPLE" in msg, msg
    assert ok_hex(out[1]) == "00"


def test_union_branch_the_reader_lacks_is_a_decode_error(harness):
    w = rec("R", [fld("payload_u", ["null", "string", "int"])])
    r = rec("R", [fld("payload_u", ["null", "string"])])
    ref = Reference(w, r)
    out = harness.convert(w, r, [ref.encode({"payload_u": ("int", 5)}).hex(),
                                 ref.encode({"payload_u": ("string", "é")}).hex()])
    kind, code, msg = parse_line(out[0])
    assert (kind, code) == ("error", 2), out[0]
    assert "payload_u" in msg or "int" in msg, msg
    assert ok_hex(out[1]) == ref.resolve(ref.encode({"payload_u": ("string", "é")})).hex()


NON_IDENTITY = [p for p in PAIRS if p.id in (
    "writer_fields_reader_lacks", "reader_adds_defaults_between_fields", "promotions",
    "union_branches_reordered", "arrays_and_maps_of_evolved_records", "recursive_linked_list",
    "envelope_legacy_to_current", "enum_reader_default", "namespaces")]


@pytest.mark.parametrize("pair", NON_IDENTITY, ids=[p.id for p in NON_IDENTITY])
def test_truncated_and_trailing_input_is_a_decode_error(harness, pair):
    """Every strict prefix of a datum and the datum with a byte more fail with code 2
    (Avro decoding is deterministic: a prefix ends before the decoder does)."""
    _, datums = written(pair, 12)
    lines, want = [], []
    for d in datums:
        for k in range(len(d)):
            lines.append(d[:k].hex())
        lines.append((d + b"\x00").hex())
        lines.append((d + b"\x02\x04").hex())
    out = harness.convert(pair.writer, pair.reader, lines)
    bad = [(x, y) for x, y in zip(lines, out) if parse_line(y)[:2] != ("error", 2)]
    assert not bad, "%s: %d inputs accepted or not code 2, e.g. %s -> %s" % (
        pair.id, len(bad), bad[0][0], bad[0][1])


def grown(writer):
    """writer with one more field, defaulted: a reader that is never the writer itself
    (the identity case hands the input back unread, so it cannot find bad bytes)."""
    return dict(writer, fields=writer["fields"] + [fld("zz_added", "int", default=0)])


def hostile(id_, writer, data, reader=None):
    return (id_, writer, reader or grown(writer), data)


HUGE = 2**62
HOSTILE = [
    # (id, writer, reader, input bytes)
    hostile("array_count_no_bytes", rec("H", [fld("a", arr("long"))]), zz(HUGE)),
    hostile("array_count_no_bytes_skipped", rec("H", [fld("a", arr("long")), fld("k", "int")]),
            zz(HUGE), rec("H", [fld("k", "int")])),
    hostile("array_count_promoted", rec("H", [fld("a", arr("int"))]), zz(2**31) + b"\x02",
            rec("H", [fld("a", arr("double"))])),
    hostile("array_negative_count_huge_size_skipped",
            rec("H", [fld("a", arr("long")), fld("k", "int")]), zz(-HUGE) + zz(HUGE),
            rec("H", [fld("k", "int")])),
    hostile("array_negative_count_huge_size", rec("H", [fld("a", arr("int"))]),
            zz(-HUGE) + zz(3) + b"\x02\x04\x06"),
    hostile("array_size_beyond_input_skipped",
            rec("H", [fld("a", arr("long")), fld("k", "int")]), zz(-1) + zz(50) + b"\x02\x02",
            rec("H", [fld("k", "int")])),
    hostile("array_min_count", rec("H", [fld("a", arr("long"))]), zz(-2**63),
            rec("H", [fld("a", arr("double"))])),
    hostile("map_count_no_bytes", rec("H", [fld("m", mapof("string"))]), zz(HUGE)),
    hostile("map_count_no_bytes_skipped", rec("H", [fld("m", mapof("string")), fld("k", "int")]),
            zz(HUGE), rec("H", [fld("k", "int")])),
    hostile("records_count_no_bytes", rec("H", [fld("a", arr(SUB))]), zz(HUGE),
            rec("H", [fld("a", arr(rec("Sub", [fld("x", "double")])))])),
    hostile("string_length_no_bytes_skipped", rec("H", [fld("s", "string"), fld("k", "int")]),
            zz(HUGE), rec("H", [fld("k", "int")])),
    hostile("string_length_no_bytes", rec("H", [fld("s", "string")]), zz(HUGE)),
    hostile("bytes_negative_length", rec("H", [fld("s", "bytes"), fld("k", "int")]),
            zz(-5) + b"abcde\x02"),
    hostile("bytes_negative_length_skipped", rec("H", [fld("s", "bytes"), fld("k", "int")]),
            zz(-5) + b"abcde\x02", rec("H", [fld("k", "int")])),
    hostile("overlong_varint", rec("H", [fld("k", "long")]), b"\xff" * 11 + b"\x01"),
    hostile("overlong_varint_skipped", rec("H", [fld("k", "long"), fld("j", "int")]),
            b"\xff" * 11 + b"\x01\x02", rec("H", [fld("j", "int")])),
    hostile("int_out_of_range", rec("H", [fld("k", "int")]), zz(2**40)),
    hostile("union_index_huge", rec("H", [fld("u", ["null", "int"])]), zz(HUGE)),
    hostile("union_index_huge_skipped", rec("H", [fld("u", ["null", "int"]), fld("k", "int")]),
            zz(HUGE) + b"\x02", rec("H", [fld("k", "int")])),
    hostile("union_index_negative", rec("H", [fld("u", ["null", "int"])]), zz(-1) + b"\x02"),
    hostile("enum_index_out_of_range", rec("H", [fld("e", COLOR)]), zz(3)),
    hostile("enum_index_negative", rec("H", [fld("e", COLOR)]), zz(-1),
            rec("H", [fld("e", dict(COLOR, symbols=["BLUE", "GREEN", "RED"]))])),
    hostile("boolean_byte_2", rec("H", [fld("b", "boolean")]), b"\x02"),
    hostile("fixed_beyond_input_skipped", rec("H", [fld("f", MD5), fld("k", "int")]),
            b"\x01\x02", rec("H", [fld("k", "int")])),
    hostile("double_beyond_input_skipped", rec("H", [fld("d", "double"), fld("k", "int")]),
            b"\x00" * 7, rec("H", [fld("k", "int")])),
]


@pytest.mark.parametrize("writer,reader,data", [h[1:] for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
def test_hostile_input_fails_quickly_with_a_decode_error(harness, writer, reader, data):
    t0 = time.monotonic()
    out = harness.convert(writer, reader, [data.hex()], timeout=60)
    took = time.monotonic() - t0
    assert parse_line(out[0])[:2] == ("error", 2), out[0]
    assert took < 20, "took %.1f s" % took


def test_huge_count_of_empty_items_ends_quickly(harness):
    """Items that encode to no bytes (null, a record without fields) bound no count: a
    block of 2**40 of them is 6 bytes. Resolving (or skipping) it must end quickly, with
    a decode error (canon_rt.h: CANON_MAX_EMPTY_ITEMS) or the right bytes, and a block
    of 1,000 must resolve."""
    empty = rec("Empty", [])
    for items in ("null", empty):
        for reader in (rec("H", [fld("a", arr(items)), fld("k", "int")]),
                       rec("H", [fld("k", "int")])):
            writer = rec("H", [fld("a", arr(items)), fld("k", "int")])
            ref = Reference(writer, reader)
            ok = zz(1000) + b"\x00" + b"\x02"
            huge = zz(2**40) + b"\x00" + b"\x02"
            t0 = time.monotonic()
            out = harness.convert(writer, reader, [ok.hex(), huge.hex()], timeout=60)
            assert time.monotonic() - t0 < 20
            assert ok_hex(out[0]) == ref.resolve(ok).hex()
            kind = parse_line(out[1])
            assert kind[:2] == ("error", 2) or (kind[0] == "ok" and len(kind[1]) < 64), out[1]


def linked_list_bytes(depth):
    """A LinkedList datum `depth` nodes long: value, then branch 1 (next), ..., branch 0."""
    return (zz(7) + zz(1)) * (depth - 1) + zz(7) + zz(0)


def test_deeply_nested_datum_is_an_error_not_a_stack_overflow(harness):
    writer = rec("LinkedList", [fld("value", "int"), fld("next", ["null", "LinkedList"])])
    readers = [
        ("resolved", rec("LinkedList", [fld("value", "long"),
                                        fld("next", ["null", "LinkedList"]),
                                        fld("label", "string", default="")])),
        ("skipped", rec("LinkedList", [fld("value", "int")])),
        ("skipped inside a union",
         rec("Outer", [fld("k", "int")])),
    ]
    for what, reader in readers:
        w = writer if what != "skipped inside a union" else rec("Outer", [
            fld("list", ["null", writer]), fld("k", "int")])
        deep = linked_list_bytes(10000)
        if what == "skipped inside a union":
            deep = zz(1) + deep + zz(3)
        shallow_datum = linked_list_bytes(100)
        if what == "skipped inside a union":
            shallow_datum = zz(1) + shallow_datum + zz(3)
        out = harness.convert(w, reader, [deep.hex(), shallow_datum.hex()], timeout=60)
        assert parse_line(out[0])[:2] == ("error", 2), "%s: %s" % (what, out[0])
        assert ok_hex(out[1]) == Reference(w, reader).resolve(shallow_datum).hex(), what


def test_array_blocks_with_byte_sizes(harness):
    """Avro lets a writer split an array or map into blocks and give a block's count
    negative, followed by its size in bytes (so that readers may skip it); fastavro reads
    such input too. The output must hold the same datum: compared as values (read back
    with fastavro), not as bytes, since a resolver may keep the writer's blocks (a valid
    encoding that fastavro, writing one block, would not produce)."""
    writer = rec("B", [fld("a", arr("long")), fld("m", mapof("int")), fld("k", "int")])
    items = zz(1) + zz(-300) + zz(2**40)
    entries = zz(1) + b"a" + zz(5)
    data = (zz(-3) + zz(len(items)) + items + zz(1) + zz(9) + zz(0)
            + zz(-1) + zz(len(entries)) + entries + zz(0) + zz(42))
    for reader in (rec("B", [fld("k", "long")]),
                   rec("B", [fld("m", mapof("long")), fld("a", arr("double")), fld("k", "int")]),
                   grown(writer)):
        ref = Reference(writer, reader)
        want = fastavro.schemaless_reader(io.BytesIO(ref.resolve(data)), ref.reader)
        got = bytes.fromhex(ok_hex(harness.convert(writer, reader, [data.hex()])[0]))
        buf = io.BytesIO(got)
        assert fastavro.schemaless_reader(buf, ref.reader) == want, (reader, got.hex())
        assert buf.read() == b"", "trailing bytes in the output %s" % got.hex()


# ---------------------------------------------------------------- framing and ids


def test_framed_messages_and_unknown_ids(harness):
    w = rec("F", [fld("a", "int")])
    r = rec("F", [fld("a", "long"), fld("b", "string", default="x")])
    body = zz(21)
    want = Reference(w, r).resolve(body).hex()
    out = harness.convert(w, r, [
        "framed:" + (b"\x00" + struct.pack(">I", 1) + body).hex(),
        "framed:" + (b"\x01" + struct.pack(">I", 1) + body).hex(),
        "framed:0000",
        "framed:" + (b"\x00" + struct.pack(">I", 77) + body).hex(),
        "id:77:" + body.hex(),
        "id:1:" + body.hex(),
    ])
    assert ok_hex(out[0]) == want
    assert parse_line(out[1])[:2] == ("error", 5), out[1]
    assert parse_line(out[2])[:2] == ("error", 5), out[2]
    assert parse_line(out[3])[:2] == ("error", 8), out[3]
    assert parse_line(out[4])[:2] == ("error", 8), out[4]
    assert ok_hex(out[5]) == want


# ---------------------------------------------------------------- the envelope file


def test_envelope_file_is_the_one_canon_derives():
    """resolve/person_envelope.avsc is what `canon gen` embeds as person's envelope
    schema (the schema the registry derives from schemas/person.avsc); needs CANON_BIN
    (or build/canon)."""
    binary = os.environ.get("CANON_BIN", os.path.join(ROOT, "build", "canon"))
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.skip("CANON_BIN=%r is not an executable canon binary" % binary)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([binary, "gen", "--lang", "c", "--schema",
                        os.path.join(ROOT, "schemas", "person.avsc"), "--out", d],
                       check=True, capture_output=True, timeout=120)
        with open(os.path.join(d, "person_envelope.c"), encoding="utf-8") as f:
            src = f.read()
    m = re.search(r'person_envelope_schema\[\] =\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', src)
    assert m, "person_envelope.c has no person_envelope_schema"
    literal = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    derived = json.loads(ast.literal_eval('b"' + literal + '"').decode("utf-8"))
    assert derived == load_envelope(), "regenerate tests/bindings/resolve/person_envelope.avsc"
