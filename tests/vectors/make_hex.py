#!/usr/bin/env python3
"""make_hex.py - writes tests/vectors/NAME.hex: the Avro binary of each datum of
NAME.jsonl under NAME.avsc, one lower-case hex line per datum line, as fastavro encodes it.

    .venv/bin/python tests/vectors/make_hex.py

The .hex files are expectations, so they are not trusted on fastavro's word alone:
tests/bindings/test_cross.py checks that they are still what fastavro writes AND that Avro C
and Apache Avro Java decode them back to the datums (three implementations agreeing).
"""
import glob
import io
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings"))
import avro_ref  # noqa: E402
import fastavro  # noqa: E402


def encode_all(avsc):
    with open(avsc) as f:
        schema = json.load(f)
    node = avro_ref.parse(schema)
    parsed = fastavro.parse_schema(avro_ref.strip_logical(schema))
    out = []
    with open(avsc[:-5] + ".jsonl") as f:
        for line in f:
            datum = json.loads(line)
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, parsed, avro_ref.to_python(node, datum))
            out.append(buf.getvalue().hex())
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for avsc in sorted(glob.glob(os.path.join(here, "*.avsc"))):
        lines = encode_all(avsc)
        with open(avsc[:-5] + ".hex", "w") as f:
            f.writelines(h + "\n" for h in lines)
        print("%s: %d datums" % (os.path.basename(avsc), len(lines)))


if __name__ == "__main__":
    main()
