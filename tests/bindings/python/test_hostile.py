"""test_hostile.py - decode treats its input as hostile (docs/bindings-python.md,
"What decode guarantees"), as the C runtime does: bytes a writer could not have written
raise AvroError, quickly and in bounded memory, instead of decoding to something else,
running for ever or crashing the interpreter.

fastavro alone does none of this: it reads a union or enum index of -1 as the last
branch, builds 10^8 Nones for a 16-byte array of null, reads 64 bits into an int and
any non-zero byte as True, and overflows the C stack on a deep recursive value. The
binding scans the bytes against the writer schema before fastavro sees them.
"""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from pybind_support import import_binding
from bindings_support import zz as varint  # noqa: E402 (pybind_support puts it on the path)

SCHEMA = {
    "type": "record", "name": "T", "namespace": "com.ex.hostile",
    "fields": [
        {"name": "a", "type": {"type": "array", "items": "null"}},
        {"name": "s", "type": "string"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y", "Z"]}},
        {"name": "u", "type": ["null", "int", "string"]},
        {"name": "m", "type": {"type": "map", "values": "long"}},
        {"name": "i", "type": "int"},
        {"name": "flag", "type": "boolean"},
        {"name": "f", "type": {"type": "fixed", "name": "F4", "size": 4}},
        {"name": "strs", "type": {"type": "array", "items": "string"}},
        {"name": "empties", "type": {"type": "array", "items": {
            "type": "record", "name": "Empty", "fields": []}}},
    ],
}

NODE = {
    "type": "record", "name": "Node", "namespace": "com.ex.hostile",
    "fields": [{"name": "flag", "type": "boolean"},
               {"name": "next", "type": ["null", "Node"]}],
}


def rec(a=varint(0), s=varint(1) + b"x", e=varint(0), u=varint(0), m=varint(0),
        i=varint(0), flag=b"\x01", f=b"abcd", strs=varint(0), empties=varint(0)):
    return a + s + e + u + m + i + flag + f + strs + empties


def write_schema(tmp_path_factory, schema):
    path = tmp_path_factory.mktemp("hostile") / (schema["name"].lower() + ".avsc")
    path.write_text(json.dumps(schema))
    return str(path)


@pytest.fixture(scope="module")
def hostile(generated, tmp_path_factory):
    out = generated("hostile", write_schema(tmp_path_factory, SCHEMA))
    return import_binding(out, "com.ex.hostile.t")


@pytest.fixture(scope="module")
def node_dir(generated, tmp_path_factory):
    return generated("hostile-node", write_schema(tmp_path_factory, NODE))


def refused(mod, data, words, seconds=1.0):
    from canongate import _runtime as rt
    t0 = time.monotonic()
    with pytest.raises(rt.AvroError) as e:
        mod.T.decode(data)
    assert time.monotonic() - t0 < seconds, "refusing %r took too long" % data[:40]
    assert words in str(e.value), str(e.value)


def test_well_formed_values_still_decode(hostile):
    t = hostile.T.decode(rec(a=varint(2) + varint(0), u=varint(2) + varint(1) + b"z",
                             m=varint(1) + varint(1) + b"k" + varint(-(1 << 63)) + varint(0),
                             i=varint(-(1 << 31)), flag=b"\x00",
                             strs=varint(-2) + varint(4) + varint(1) + b"p" + varint(1) + b"q"
                             + varint(0),
                             empties=varint(3) + varint(0)))
    assert t.a == [None, None] and t.u == "z" and t.m == {"k": -(1 << 63)}
    assert t.i == -(1 << 31) and t.flag is False and t.strs == ["p", "q"]
    assert len(t.empties) == 3
    assert hostile.T.decode(t.encode()) == t
    big = hostile.T.decode(rec(i=varint((1 << 31) - 1), m=varint(1) + varint(1) + b"k"
                               + varint((1 << 63) - 1) + varint(0)))
    assert big.i == (1 << 31) - 1 and big.m == {"k": (1 << 63) - 1}


def test_negative_union_and_enum_indexes_are_refused(hostile):
    # fastavro indexes a Python list: -1 would be the last branch / symbol
    refused(hostile, rec(u=varint(-1) + varint(1) + b"z"), "com.ex.hostile.T.u: union index -1")
    refused(hostile, rec(u=varint(-2) + varint(21)), "union index -2")
    refused(hostile, rec(u=varint(3)), "union index 3 of 3")
    refused(hostile, rec(e=varint(-1)), "com.ex.hostile.T.e: enum index -1")
    refused(hostile, rec(e=varint(3)), "enum index 3 of 3")
    refused(hostile, rec(e=varint(1000)), "enum index 1000")


@pytest.mark.parametrize("count", [10 ** 8, 1 << 62, (1 << 63) - 1, -(1 << 63)])
def test_huge_block_counts_are_refused_quickly(generated, tmp_path_factory, count):
    # zero-size items: at most 65536 per array; others: no more than the bytes left.
    # In a child with a time limit: unguarded, these run for minutes or for ever.
    out = generated("hostile", write_schema(tmp_path_factory, SCHEMA))
    cases = [rec(a=varint(count) + varint(0)), rec(empties=varint(count) + varint(0)),
             rec(strs=varint(count) + varint(0)), rec(m=varint(count) + varint(0))]
    prog = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, %r)
        from com.ex.hostile.t import T
        from canongate._runtime import AvroError
        for data in %r:
            t0 = time.monotonic()
            try:
                T.decode(data)
                print("decoded")
            except AvroError as e:
                print("AvroError %%.3f s" %% (time.monotonic() - t0))
        """) % (os.path.join(out, "src"), cases)
    try:
        r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                           timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("decoding a block count of %d ran for more than 20 s" % count)
    lines = r.stdout.split()
    assert r.returncode == 0 and r.stdout.count("AvroError") == 4, r.stdout + r.stderr[-2000:]
    assert all(float(x) < 1.0 for x in lines[1::3]), r.stdout


def test_items_that_encode_to_no_bytes_are_limited_over_all_blocks(hostile):
    ok = hostile.T.decode(rec(a=varint(65536) + varint(0)))
    assert len(ok.a) == 65536
    refused(hostile, rec(a=varint(65536) + varint(1) + varint(0)), "more than 65536 items")
    refused(hostile, rec(empties=varint(40000) + varint(-30000) + varint(0) + varint(0)),
            "com.ex.hostile.T.empties: more than 65536 items")
    refused(hostile, rec(strs=varint(20) + b"\x00" * 10), "com.ex.hostile.T.strs: block of 20 items")


NESTED = {
    "type": "record", "name": "N", "namespace": "com.ex.emptybudget",
    "fields": [{"name": "nn", "type": {"type": "array", "items": {
        "type": "array", "items": "null"}}}],
}


def nested(inner):
    """inner arrays of 65536 nulls each: four bytes apiece."""
    return varint(inner) + (varint(65536) + varint(0)) * inner + varint(0)


# An array of arrays of null costs four bytes per inner array of 65536 items: the limit
# per array alone let 70 bytes ask for 1,114,112 items and 4 KB for 65 million. One datum
# holds at most 1048576 of them over all its arrays (16 inner arrays at their limit).
def test_items_that_encode_to_no_bytes_have_a_budget_per_value(generated, tmp_path_factory):
    out = generated("hostile-empty-budget", write_schema(tmp_path_factory, NESTED))
    mod = import_binding(out, "com.ex.emptybudget.n")
    ok = mod.N.decode(nested(16))
    assert len(ok.nn) == 16 and all(len(x) == 65536 for x in ok.nn)
    from canongate import _runtime as rt
    for inner in (17, 1000):
        t0 = time.monotonic()
        with pytest.raises(rt.AvroError) as e:
            mod.N.decode(nested(inner))
        assert time.monotonic() - t0 < 1.0
        assert "com.ex.emptybudget.N.nn: more than 1048576 items that encode to no bytes in one " \
               "value" in str(e.value), str(e.value)


def test_lengths_beyond_the_input_are_refused(hostile):
    refused(hostile, rec(s=varint(1 << 40)), "length 1099511627776")
    refused(hostile, rec(s=varint(-1)), "length -1")
    refused(hostile, rec(m=varint(1) + varint(-3)), "length -3")
    refused(hostile, rec(strs=varint(-1) + varint(1 << 50) + varint(1) + b"p" + varint(0)),
            "block of 1125899906842624 bytes")
    refused(hostile, rec()[:-3], "truncated")  # the fixed runs past the end
    refused(hostile, rec() + b"\x00", "1 trailing bytes")


def test_int_varints_beyond_32_bits_and_overlong_varints_are_refused(hostile):
    refused(hostile, rec(i=varint(1 << 31)), "does not fit 32 bits")
    refused(hostile, rec(i=varint(-(1 << 31) - 1)), "does not fit 32 bits")
    refused(hostile, rec(u=varint(1) + varint(1 << 40)), "does not fit 32 bits")
    refused(hostile, rec(m=varint(1) + varint(1) + b"k" + b"\x82" + b"\x80" * 9 + b"\x01"
                     + varint(0)), "varint longer than 10 bytes")
    refused(hostile, rec(m=varint(1) + varint(1) + b"k" + b"\xff" * 9 + b"\x02" + varint(0)),
            "does not fit 64 bits")


def test_booleans_are_0_or_1(hostile):
    refused(hostile, rec(flag=b"\x02"), "com.ex.hostile.T.flag: boolean byte 2")
    refused(hostile, rec(flag=b"\xff"), "boolean byte 255")


def run_node(node_dir, code):
    """Runs code with the Node binding imported, in a child: a crash must not take
    pytest with it."""
    prog = "import sys\nsys.path.insert(0, %r)\n" % os.path.join(node_dir, "src")
    prog += "from com.ex.hostile.node import Node\nfrom canongate._runtime import AvroError\n"
    prog += textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr[-2000:])
    return r.stdout


def test_deep_recursive_values_are_refused_not_a_crash(node_dir):
    # each level: flag false, branch 1 (Node); the innermost: flag false, branch 0 (null)
    out = run_node(node_dir, """
        for depth in (1000, 5000, 200000):
            try:
                Node.decode(b"\\x00\\x02" * depth + b"\\x00\\x00")
                print(depth, "decoded")
            except AvroError as e:
                print(depth, "AvroError", e)
        n = Node.decode(b"\\x00\\x02" * 511 + b"\\x00\\x00")
        k = 0
        while n is not None:
            k, n = k + 1, n.next
        print("511 levels below the top:", k)
        """)
    lines = out.splitlines()
    for depth, line in zip((1000, 5000, 200000), lines):
        assert line.startswith("%d AvroError" % depth) and "nested more than 512 deep" in line, out
    assert lines[3] == "511 levels below the top: 512", out


def test_resolving_decode_refuses_what_decode_refuses(hostile):
    """The consumer's path with a registry (decode_resolving, writer schema by id): the
    same checks and the same AvroError, trailing bytes included."""
    from canongate import _runtime as rt
    writer = rt.parse(json.dumps(SCHEMA))
    t = rt.decode_resolving(writer, hostile._P_T, rec(u=varint(2) + varint(1) + b"z"))
    assert hostile.T.from_avro(t).u == "z"
    for data, words in [(rec() + b"\x00", "1 trailing bytes"),
                        (rec(i=b"\xff" * 9 + b"\x7f"), "does not fit 32 bits"),
                        (rec(m=varint(1) + varint(1) + b"k" + b"\xff" * 9 + b"\x7f" + varint(0)),
                         "does not fit 64 bits"),
                        (rec(u=varint(-1) + varint(1) + b"z"), "union index -1"),
                        (rec(a=varint(1 << 62) + varint(0)), "more than 65536 items"),
                        (rec()[:-1], "truncated")]:
        with pytest.raises(rt.AvroError) as e:
            rt.decode_resolving(writer, hostile._P_T, data)
        assert words in str(e.value), str(e.value)


NUMS = {
    "type": "record", "name": "Nums", "namespace": "com.ex.hostile",
    "fields": [
        {"name": "count", "type": "int"},
        {"name": "total", "type": "long", "default": 0},
        {"name": "u", "type": ["null", "int", "string"], "default": None},
        {"name": "ints", "type": {"type": "array", "items": "int"}, "default": []},
        {"name": "amb", "type": ["int", "long"], "default": 0},
    ],
}


def test_encode_refuses_ints_out_of_range_bools_and_floats(generated, tmp_path_factory):
    """fastavro writes what it is given: 2**31 for an int as a 5-byte varint (Java then
    reads another number), True as 1, 1.5 for a long as 1."""
    mod = import_binding(generated("hostile-nums", write_schema(tmp_path_factory, NUMS)),
                         "com.ex.hostile.nums")
    from canongate import _runtime as rt
    N = mod.Nums
    ok = N(count=-(1 << 31), total=(1 << 63) - 1, u=(1 << 31) - 1, ints=[0, -1],
           amb=("long", -(1 << 63)))
    assert N.decode(ok.encode()) == ok
    for kw, words in [({"count": 1 << 31}, "com.ex.hostile.Nums.count: 2147483648 is outside"),
                      ({"count": -(1 << 31) - 1}, "Nums.count: -2147483649 is outside"),
                      ({"count": True}, "Nums.count: expected an int (32-bit integer), got bool"),
                      ({"count": 1.5}, "Nums.count: expected an int (32-bit integer), got float"),
                      ({"total": 1 << 63}, "Nums.total: 9223372036854775808 is outside"),
                      ({"total": 1.0}, "Nums.total: expected a long (64-bit integer), got float"),
                      ({"total": False}, "Nums.total: expected a long"),
                      ({"u": 1 << 40}, "union [null, int, string]: 1099511627776 is outside"),
                      ({"u": True}, "union [null, int, string]: expected an int"),
                      ({"ints": [1, 1 << 32]}, "Nums.ints: 4294967296 is outside"),
                      ({"amb": ("int", 1 << 31)}, "union [int, long]: 2147483648 is outside")]:
        with pytest.raises(rt.AvroError) as e:
            N(**dict({"count": 0}, **kw)).encode()
        assert words in str(e.value), (kw, str(e.value))
