"""bindings_support.py - what the cross-language tests share (vectors, languages,
the binding runner); conftest.py holds the session fixtures built from it. A module of its
own, not conftest, because tests/bindings/<lang>/ have conftest.py files of their own."""
import concurrent.futures
import json
import os
import subprocess
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.path.join(ROOT, "tests", "vectors")
SHARED = os.path.join(ROOT, "..", "shared", "vectors", "avro_binary_encoding.jsonl")
ROUNDTRIP = os.path.join(HERE, "roundtrip")
LANGS = ["c", "python", "java"]

sys.path.insert(0, HERE)
import avro_ref  # noqa: E402

# Languages whose generator is still being written: their binding tests are expected to
# fail (xfail, with this reason) until the generator lands; then the entry goes. A test
# of a language not listed here fails when the language disagrees or is missing.
PENDING = {}


# Known gaps of a language on one schema, once its generator has landed: (language,
# schema name) -> reason. Each is a bug to fix; when it is fixed the test shows XPASS and
# the entry goes.
KNOWN_GAPS = {
    ("python", "logical"): "Python binding: timestamps beyond datetime's years 1..9999 "
    "(timestamp-millis INT64_MAX/1000, timestamp-micros INT64_MIN/1000: valid Avro longs) "
    "are refused instead of round-tripping",
}


def zz(v):
    """Avro's zig-zag varint of v (a 64-bit signed value)."""
    z = (v << 1) ^ (v >> 63)
    z &= (1 << 64) - 1
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def lang_param(lang, *rest):
    marks = []
    if lang in PENDING:
        marks = [pytest.mark.xfail(reason=PENDING[lang], strict=False)]
    elif rest and (lang, rest[0]) in KNOWN_GAPS:
        marks = [pytest.mark.xfail(reason=KNOWN_GAPS[(lang, rest[0])], strict=False)]
    return pytest.param(lang, *rest, marks=marks, id="-".join([lang] + [str(r) for r in rest]))


def vector_names():
    return sorted(f[:-5] for f in os.listdir(VECTORS) if f.endswith(".avsc"))


def read_lines(path):
    """The lines of path; an empty line is a line (the hex of a null datum is empty)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


class Vector:
    """One schema with its datums (Avro JSON, parsed) and expected hex lines."""

    def __init__(self, name, schema_path, datums, hexes):
        self.name = name
        self.schema_path = schema_path
        with open(schema_path, encoding="utf-8") as f:
            self.schema = json.load(f)
        self.node = avro_ref.parse(self.schema)
        self.datums = datums
        self.hexes = hexes

    def datum_lines(self):
        return [json.dumps(d, ensure_ascii=False) for d in self.datums]


def load_vector(name):
    base = os.path.join(VECTORS, name)
    datums = [json.loads(line) for line in read_lines(base + ".jsonl")]
    hexes = read_lines(base + ".hex") if os.path.exists(base + ".hex") else None
    return Vector(name, base + ".avsc", datums, hexes)


def shared_groups():
    """The shared vectors grouped by schema text, in first-seen order: (key, schema
    text, [rows])."""
    groups = {}
    with open(SHARED, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            groups.setdefault(row["schema"], []).append(row)
    return [("shared%02d" % i, s, rows) for i, (s, rows) in enumerate(groups.items())]


def canon_bin():
    env = os.environ.get("CANON_BIN")
    if env:
        return env
    path = os.path.join(ROOT, "build", "canon")
    if not os.access(path, os.X_OK):
        subprocess.check_call(["cmake", "-S", ROOT, "-B", os.path.join(ROOT, "build")])
        subprocess.check_call(["cmake", "--build", os.path.join(ROOT, "build"), "--target",
                               "canon", "-j", "4"])
    return path


class Bindings:
    """Runs tests/bindings/roundtrip for (lang, schema, direction) once, memoized; a
    language's whole batch is started on first use, in parallel."""

    def __init__(self, env):
        self.env = env
        self.memo = {}
        self.lock = threading.Lock()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))

    def _run(self, lang, schema_path, lines, decode):
        cmd = [sys.executable, ROUNDTRIP, "--lang", lang, "--schema", schema_path]
        if decode:
            cmd.append("--decode")
        r = subprocess.run(cmd, input="".join(line + "\n" for line in lines), env=self.env,
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise AssertionError("roundtrip --lang %s --schema %s%s failed (exit %d):\n%s" % (
                lang, schema_path, " --decode" if decode else "", r.returncode, r.stderr[-3000:]))
        out = r.stdout.split("\n")
        if out and out[-1] == "":
            out.pop()
        return out

    def submit(self, lang, schema_path, lines, decode=False):
        key = (lang, schema_path, tuple(lines), decode)
        with self.lock:
            if key not in self.memo:
                self.memo[key] = self.pool.submit(self._run, lang, schema_path, lines, decode)
            return self.memo[key]

    def run(self, lang, schema_path, lines, decode=False):
        return self.submit(lang, schema_path, lines, decode).result()


class JsonServer:
    """An HTTP server on 127.0.0.1 (HTTPS with tls=(cert, key)) in a daemon thread, for
    registry stand-ins: every GET is answered by answer(path, headers) -> (status, body
    bytes), sent as application/json. url is its base URL; close() stops it."""

    def __init__(self, answer, tls=None):
        import http.server
        import ssl

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                code, body = answer(self.path, self.headers)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
