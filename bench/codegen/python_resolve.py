"""python_resolve.py - fastavro reading an older version of customer.avsc, for resolve.sh.

    python python_resolve.py DUMP SECONDS

DUMP is what `bench_codegen_resolve S R DUMP` wrote: the older schema (customer.avsc
without its last two fields) on the first line, then its records in hex. Prints, in
bench_resolve's format, fastavro's schemaless_reader on those bytes with the older schema
as writer and customer.avsc as reader (resolution, defaults filled in), next to reading
customer.avsc's own encoding of the same records (re-encoded here) without resolution.
Checks first that every resolved record carries the two defaults.
"""
import io
import json
import os
import sys
import time

import fastavro


def rate(fn, items, seconds):
    n, t0, clock = 0, time.process_time(), time.process_time
    while True:
        for b in items:
            fn(b)
        n += len(items)
        t = clock() - t0
        if t >= seconds:
            return n / t


def main():
    dump, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    here = os.path.dirname(os.path.abspath(__file__))
    with open(dump) as f:
        old_text = f.readline()
        records = [bytes.fromhex(line.strip()) for line in f if line.strip()]
    with open(os.path.join(here, "customer.avsc")) as f:
        new = fastavro.parse_schema(json.load(f))
    old = fastavro.parse_schema(json.loads(old_text))
    own = []
    for b in records:
        v = fastavro.schemaless_reader(io.BytesIO(b), old, new)
        if v["account_manager_id"] is not None or v["region"] != "eu":
            sys.exit("python_resolve: a resolved record lacks the defaults")
        out = io.BytesIO()
        fastavro.schemaless_writer(out, new, v)
        own.append(out.getvalue())
    plain = rate(lambda b: fastavro.schemaless_reader(io.BytesIO(b), new), own, seconds)
    res = rate(lambda b: fastavro.schemaless_reader(io.BytesIO(b), old, new), records, seconds)
    print("%-34s %14s %10s" % ("Python fastavro %s" % fastavro.__version__, "decodes/s",
                               "vs plain"))
    print("%-34s %14.0f %9.2fx" % ("decode, own version", plain, 1.0))
    print("%-34s %14.0f %9.2fx" % ("resolve + decode, older version", res, res / plain))


if __name__ == "__main__":
    main()
