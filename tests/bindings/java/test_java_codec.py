"""The Java binding's binary codec when an encode fails and on hostile input
(CodecCheck.java): a failed encode leaves nothing behind for the next one; counts and
lengths are checked against the input before anything is allocated, ints must fit 32
bits, a boolean byte must be 0 or 1, input cut short says so, and records nested more than
512 deep are a decode error, not an Error."""
import json
import subprocess

from java_support import compile_program

HOSTILE = json.dumps({
    "type": "record", "name": "Hostile", "namespace": "test.codec", "fields": [
        {"name": "i", "type": "int"},
        {"name": "nulls", "type": {"type": "array", "items": "null"}},
        {"name": "empties", "type": {"type": "array", "items": {
            "type": "record", "name": "Empty", "fields": []}}},
        {"name": "longs", "type": {"type": "array", "items": "long"}},
        {"name": "s", "type": "string"},
        {"name": "b", "type": "bytes"},
        {"name": "m", "type": {"type": "map", "values": "null"}},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
        {"name": "u", "type": ["null", "int", "string"]},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                   "precision": 10, "scale": 2}},
        {"name": "d", "type": {"type": "int", "logicalType": "date"}},
        {"name": "nn", "type": {"type": "array", "items": {"type": "array", "items": "null"}}},
        {"name": "flag", "type": "boolean"},
        {"name": "next", "type": ["null", "Hostile"]},
    ]})


def run_check(generate, mode):
    cls, cp = compile_program(generate(HOSTILE, "hostile"), "CodecCheck")
    # 256 MB of heap: an array or string sized from the input alone does not fit.
    r = subprocess.run(["java", "-Xmx256m", "-XX:TieredStopAtLevel=1",
                        "-Dslf4j.internal.verbosity=ERROR", "-cp", f"{cls}:{cp}", "CodecCheck",
                        mode], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    lines = r.stdout.split("\n")[:-1]
    assert lines and not [line for line in lines if not line.startswith("ok ")], r.stdout
    return lines


def test_failed_encode_leaves_nothing_for_the_next(generate):
    assert run_check(generate, "encode") == ["ok decimal too precise", "ok null string"]


def test_ints_beyond_32_bits_are_a_decode_error(generate):
    assert len(run_check(generate, "ints")) == 10


def test_hostile_input_is_a_decode_error(generate):
    assert len(run_check(generate, "hostile")) == 31
