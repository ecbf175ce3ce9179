"""avro_ref.py - schema-aware helpers of the cross-language tests (reference side).

Avro JSON (the datums of tests/vectors/*.jsonl, and what Avro C, Avro Java and the
bindings print) cannot be compared as plain JSON: a float prints as 3.1415927 or
3.14159274101257324, bytes are strings of code points 0-255, NaN is a string, maps have
no order. So every datum is first put in a canonical form, walking it together with its
schema: floats become their IEEE bits (float32 or float64), unions a (branch, value)
pair, records a tuple in field order, maps a dict. Two datums are the same datum when
their canonical forms are equal.

fastavro is driven from the same walk: Avro JSON is turned into the Python values its
schemaless_writer takes, unions as (branch, value) tuples so the branch is the one the
datum names, never a guess.
"""
import json
import math
import struct

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class Node:
    """One type of a parsed schema; named types are shared, so recursion is a cycle."""

    def __init__(self, type_, fullname=None):
        self.type = type_
        self.fullname = fullname
        self.fields = []  # record: [(name, Node)]
        self.symbols = []  # enum
        self.size = 0  # fixed
        self.items = None  # array items, map values
        self.branches = []  # union

    def branch_name(self):
        return self.fullname if self.fullname else self.type


def parse(schema):
    """Parses a loaded JSON schema (json.load of an .avsc) into a Node graph."""
    return _build(schema, "", {})


def parse_text(text):
    """Parses schema text into a Node graph."""
    return parse(json.loads(text))


def _fullname(name, ns):
    if "." in name:
        return name
    return "%s.%s" % (ns, name) if ns else name


def _build(s, ns, names):
    if isinstance(s, str):
        if s in PRIMITIVES:
            return Node(s)
        full = _fullname(s, ns)
        if full not in names and s in names:
            full = s  # a name in the null namespace, used from inside a namespace
        return names[full]
    if isinstance(s, list):
        n = Node("union")
        n.branches = [_build(b, ns, names) for b in s]
        return n
    t = s["type"]
    if isinstance(t, (dict, list)) or (isinstance(t, str) and t not in PRIMITIVES and t not in (
            "record", "error", "enum", "fixed", "array", "map")):
        return _build(t, ns, names)
    if t in PRIMITIVES:
        return Node(t)  # logical types are the underlying type on the wire and in JSON
    if t in ("array", "map"):
        n = Node(t)
        n.items = _build(s["items"] if t == "array" else s["values"], ns, names)
        return n
    name = s["name"]
    if "." in name:
        full = name
    else:
        full = _fullname(name, s["namespace"] if "namespace" in s else ns)
    inner_ns = full.rsplit(".", 1)[0] if "." in full else ""
    n = Node("record" if t == "error" else t, full)
    names[full] = n
    if t in ("record", "error"):
        n.fields = [(f["name"], _build(f["type"], inner_ns, names)) for f in s["fields"]]
    elif t == "enum":
        n.symbols = list(s["symbols"])
    else:
        n.size = s["size"]
    return n


def _num(x):
    if isinstance(x, str):
        if x in ("NaN", "Infinity", "-Infinity"):
            return float(x)
        raise ValueError("not a number: %r" % x)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError("not a number: %r" % (x,))
    return float(x)


def _bits(x, fmt):
    f = _num(x)
    if math.isnan(f):
        return "nan"  # JSON keeps no NaN payload: every NaN is the same datum
    return struct.pack(fmt, f).hex()


def _find_branch(node, key):
    for b in node.branches:
        if b.branch_name() == key:
            return b
    # Avro JSON names a named branch by its full name; accept the short name too, as
    # some writers print it, when it is unambiguous.
    short = [b for b in node.branches if b.fullname and b.fullname.rsplit(".", 1)[-1] == key]
    if len(short) == 1:
        return short[0]
    raise ValueError("no union branch %r in %s" % (key, [b.branch_name() for b in node.branches]))


def canon(node, d):
    """The canonical, comparable form of Avro JSON datum d of type node."""
    t = node.type
    if t == "null":
        if d is not None:
            raise ValueError("null expected, got %r" % (d,))
        return None
    if t == "boolean":
        if not isinstance(d, bool):
            raise ValueError("boolean expected, got %r" % (d,))
        return d
    if t in ("int", "long"):
        if isinstance(d, bool) or not isinstance(d, int):
            raise ValueError("%s expected, got %r" % (t, d))
        return d
    if t == "float":
        return ("f", _bits(d, "<f"))
    if t == "double":
        return ("d", _bits(d, "<d"))
    if t in ("bytes", "fixed"):
        if not isinstance(d, str) or any(ord(c) > 255 for c in d):
            raise ValueError("%s expected, got %r" % (t, d))
        if t == "fixed" and len(d) != node.size:
            raise ValueError("fixed %s of size %d, got %d bytes"
                             % (node.fullname, node.size, len(d)))
        return ("b", d)
    if t == "string":
        if not isinstance(d, str):
            raise ValueError("string expected, got %r" % (d,))
        return d
    if t == "enum":
        if d not in node.symbols:
            raise ValueError("not a symbol of %s: %r" % (node.fullname, d))
        return d
    if t == "array":
        return [canon(node.items, x) for x in d]
    if t == "map":
        if not isinstance(d, dict):
            raise ValueError("map expected, got %r" % (d,))
        return {k: canon(node.items, v) for k, v in d.items()}
    if t == "record":
        if not isinstance(d, dict):
            raise ValueError("record %s expected, got %r" % (node.fullname, d))
        names = [n for n, _ in node.fields]
        if set(d) != set(names):
            raise ValueError("record %s: fields %s, want %s" % (node.fullname, sorted(d), names))
        return tuple((n, canon(f, d[n])) for n, f in node.fields)
    if t == "union":
        if d is None:
            if not any(b.type == "null" for b in node.branches):
                raise ValueError("null is not a branch of this union")
            return None
        if not isinstance(d, dict) or len(d) != 1:
            raise ValueError("union value must be null or {branch: value}, got %r" % (d,))
        (k, v), = d.items()
        b = _find_branch(node, k)
        return (b.branch_name(), canon(b, v))
    raise ValueError("unknown type %s" % t)


def same_datum(node, a, b):
    return canon(node, a) == canon(node, b)


def to_python(node, d):
    """Avro JSON datum -> the value fastavro's schemaless_writer takes (tuple unions)."""
    t = node.type
    if t in ("float", "double"):
        return _num(d)
    if t in ("bytes", "fixed"):
        return d.encode("latin-1")
    if t == "array":
        return [to_python(node.items, x) for x in d]
    if t == "map":
        return {k: to_python(node.items, v) for k, v in d.items()}
    if t == "record":
        return {n: to_python(f, d[n]) for n, f in node.fields}
    if t == "union":
        if d is None:
            return None
        (k, v), = d.items()
        b = _find_branch(node, k)
        return (b.branch_name(), to_python(b, v))
    return d


def from_python(node, v, expected=None):
    """A value decoded by fastavro -> Avro JSON, taking the union branches the expected
    datum names where fastavro cannot tell (an int decoded from an int or a long branch
    is a Python int either way; records come back named, see return_record_name)."""
    t = node.type
    if t in ("float", "double"):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if t in ("bytes", "fixed"):
        return v.decode("latin-1")
    if t == "array":
        same_shape = isinstance(expected, list) and len(expected) == len(v)
        exp = expected if same_shape else [None] * len(v)
        return [from_python(node.items, x, e) for x, e in zip(v, exp)]
    if t == "map":
        exp = expected if isinstance(expected, dict) else {}
        return {k: from_python(node.items, x, exp.get(k)) for k, x in v.items()}
    if t == "record":
        exp = expected if isinstance(expected, dict) else {}
        return {n: from_python(f, v[n], exp.get(n)) for n, f in node.fields}
    if t == "union":
        if v is None:
            return None
        if isinstance(v, tuple):  # a named record, with return_record_name
            name, inner = v
            b = _find_branch(node, name)
            ev = expected.get(name) if isinstance(expected, dict) else None
            return {b.branch_name(): from_python(b, inner, ev)}
        if isinstance(expected, dict) and len(expected) == 1:
            (k, ev), = expected.items()
            try:
                b = _find_branch(node, k)
                if _fits(b, v):
                    return {b.branch_name(): from_python(b, v, ev)}
            except ValueError:
                pass
        for b in node.branches:
            if _fits(b, v):
                return {b.branch_name(): from_python(b, v)}
        raise ValueError("decoded value %r fits no branch" % (v,))
    return v


def _fits(node, v):
    t = node.type
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t in ("int", "long"):
        return isinstance(v, int) and not isinstance(v, bool)
    if t in ("float", "double"):
        return isinstance(v, float)
    if t in ("bytes",):
        return isinstance(v, bytes)
    if t == "fixed":
        return isinstance(v, bytes) and len(v) == node.size
    if t == "string":
        return isinstance(v, str)
    if t == "enum":
        return isinstance(v, str) and v in node.symbols
    if t == "array":
        return isinstance(v, list)
    if t in ("map", "record"):
        return isinstance(v, dict)
    return False


def to_avro_json_from_plain(node, d):
    """Rows of the shared vectors marked "unions given as plain values": wraps each union
    value in its {branch: value} form, taking the first branch it fits (as the Avro
    implementation that wrote those rows did)."""
    t = node.type
    if t == "array":
        return [to_avro_json_from_plain(node.items, x) for x in d]
    if t == "map":
        return {k: to_avro_json_from_plain(node.items, v) for k, v in d.items()}
    if t == "record":
        return {n: to_avro_json_from_plain(f, d[n]) for n, f in node.fields}
    if t == "union":
        if d is None:
            return None
        for b in node.branches:
            if _fits_json(b, d):
                return {b.branch_name(): to_avro_json_from_plain(b, d)}
        raise ValueError("plain value %r fits no branch" % (d,))
    return d


def _fits_json(node, d):
    t = node.type
    if t == "record":
        return isinstance(d, dict) and set(d) == {n for n, _ in node.fields}
    if t in ("float", "double"):
        return isinstance(d, (int, float)) and not isinstance(d, bool)
    if t in ("bytes", "fixed"):
        return (isinstance(d, str) and all(ord(c) < 256 for c in d)
                and (t == "bytes" or len(d) == node.size))
    if t == "map":
        return isinstance(d, dict)
    return _fits(node, d)


def strip_logical(schema):
    """The schema without logicalType annotations: fastavro then reads and writes the
    underlying values, which is what Avro JSON holds (a date is its int)."""
    if isinstance(schema, list):
        return [strip_logical(x) for x in schema]
    if isinstance(schema, dict):
        return {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    return schema
