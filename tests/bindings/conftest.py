"""Fixtures of the cross-language binding tests (tests/bindings).

What they provide:
- the vectors: tests/vectors/NAME.avsc with NAME.jsonl (Avro JSON datums) and NAME.hex
  (expected Avro binary), and the shared conformance vectors
  ../shared/vectors/avro_binary_encoding.jsonl grouped by schema;
- the three reference decoders, built once per session: Avro C (ref/avroc_decode.c,
  compiled against the system's libavro), fastavro (in-process) and Apache Avro Java
  (ref/AvroJavaDecode.java, compiled against the avro jar Maven resolves from ref/pom.xml);
- the bindings, driven through tests/bindings/roundtrip exactly as outside checks drive
  them, every (language, schema) pair once per session, several at a time.

Environment: CANON_BIN (default build/canon) is the canon binary that generates the
bindings; CANON_BINDINGS_CACHE the harness's cache directory.
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bindings_support import (HERE, LANGS, Bindings, Vector, avro_ref, canon_bin,  # noqa: E402
                              load_vector, shared_groups, vector_names)


def pytest_collection_modifyitems(session, config, items):
    """Notes which (language, schema) pairs the selected tests drive, so that the
    bindings fixture builds those, and only those, in parallel up front."""
    wanted = set()
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "bindings" in getattr(item, "fixturenames", ()):
            lang = params.get("lang")
            name = params.get("name") or params.get("key")
            for one in ([lang] if lang else LANGS):
                wanted.add((one, name))  # name None: every vector (test_langs_agree...)
    config.canon_bindings_wanted = wanted


@pytest.fixture(scope="session")
def shared_vectors(tmp_path_factory):
    """Each shared schema as a Vector whose datums are in Avro JSON form."""
    d = tmp_path_factory.mktemp("shared")
    out = {}
    for key, text, rows in shared_groups():
        path = os.path.join(str(d), key + ".avsc")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        node = avro_ref.parse_text(text)
        datums = []
        for r in rows:
            datum = r["datum"]
            if "plain values" in r.get("note", ""):
                datum = avro_ref.to_avro_json_from_plain(node, datum)
            datums.append(datum)
        out[key] = Vector(key, path, datums, [r["hex"] for r in rows])
    return out


@pytest.fixture(scope="session")
def bindings(request, shared_vectors):
    env = dict(os.environ)
    env["CANON_BIN"] = canon_bin()
    b = Bindings(env)
    # Start every encode the selected tests need at once: the first build of each binding
    # (a C compile, a Maven build) dominates, and they are independent.
    wanted = getattr(request.config, "canon_bindings_wanted", set())
    for lang in LANGS:
        for name in vector_names():
            if (lang, name) in wanted or (lang, None) in wanted:
                v = load_vector(name)
                b.submit(lang, v.schema_path, v.datum_lines())
        for key, v in shared_vectors.items():
            if (lang, key) in wanted:
                b.submit(lang, v.schema_path, v.datum_lines())
    yield b
    b.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def avroc_decoder(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("avroc"))
    exe = os.path.join(d, "avroc_decode")
    subprocess.check_call(["gcc", "-O1", "-Wall", "-Wextra", "-Werror", "-o", exe,
                           os.path.join(HERE, "ref", "avroc_decode.c"), "-lavro", "-lm"])

    def decode(schema_path, hexes):
        r = subprocess.run([exe, schema_path], input="".join(h + "\n" for h in hexes),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout.rstrip("\n").split("\n") if hexes else []

    return decode


@pytest.fixture(scope="session")
def java_decoder(tmp_path_factory, shared_vectors):
    d = str(tmp_path_factory.mktemp("avrojava"))
    cp_file = os.path.join(d, "cp.txt")
    subprocess.check_call(["mvn", "-q", "-B", "-f", os.path.join(HERE, "ref", "pom.xml"),
                           "dependency:build-classpath", "-Dmdep.outputFile=" + cp_file],
                          stdout=subprocess.DEVNULL)
    with open(cp_file) as f:
        cp = f.read().strip()
    subprocess.check_call(["javac", "-Xlint:all", "-Werror", "-cp", cp, "-d", d,
                           os.path.join(HERE, "ref", "AvroJavaDecode.java")])

    memo = {}

    def run_batch(jobs):
        """Decodes many (schema, hexes) in one JVM: starting one costs seconds."""
        lines = []
        for i, (schema_path, hexes) in enumerate(jobs):
            hex_file = os.path.join(d, "job%d-%d.hex" % (len(memo), i))
            with open(hex_file, "w") as f:
                f.writelines(h + "\n" for h in hexes)
            lines.append("%s\t%s\t%s.out" % (schema_path, hex_file, hex_file))
        r = subprocess.run(["java", "-cp", cp + os.pathsep + d, "AvroJavaDecode", "--batch"],
                           input="".join(x + "\n" for x in lines), capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        for (schema_path, hexes), line in zip(jobs, lines):
            with open(line.split("\t")[2], encoding="utf-8") as f:
                memo[(schema_path, tuple(hexes))] = [x.rstrip("\n") for x in f]

    # Every vector in one go, up front.
    jobs = [(v.schema_path, v.hexes) for v in (load_vector(n) for n in vector_names())]
    jobs += [(v.schema_path, v.hexes) for v in shared_vectors.values()]
    run_batch(jobs)

    def decode(schema_path, hexes):
        key = (schema_path, tuple(hexes))
        if key not in memo:
            run_batch([(schema_path, hexes)])
        return memo[key]

    return decode
