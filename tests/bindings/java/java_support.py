"""Fixtures of the Java binding tests: generate with `canon gen --lang java --harness`,
run the generated roundtrip.sh, and check the result against Apache Avro Java (RefCheck).

CANON_BIN names the canon binary (default: build/canon of the repository)."""
import json
import math
import os
import pathlib
import struct
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
HERE = pathlib.Path(__file__).resolve().parent
CACHE = pathlib.Path(os.environ.get("CANONGATE_CACHE_DIR",
                                    pathlib.Path.home() / ".cache" / "canongate")) / "java"


def canon_bin():
    b = os.environ.get("CANON_BIN") or str(ROOT / "build" / "canon")
    if not os.access(b, os.X_OK):
        pytest.skip(f"no canon binary at {b} (build it, or set CANON_BIN)")
    return b


class Binding:
    """A generated Java binding in a directory, with its harness."""

    def __init__(self, out, root_class, schema_path):
        self.out = pathlib.Path(out)
        self.root_class = root_class
        self.schema_path = schema_path

    def harness(self, lines, decode=False):
        args = ["sh", str(self.out / "roundtrip.sh")] + (["--decode"] if decode else [])
        r = subprocess.run(args, input="".join(l + "\n" for l in lines), capture_output=True,
                           text=True, timeout=600, cwd="/")
        assert r.returncode == 0, r.stderr
        # split("\n"), not splitlines(): JSON may hold a raw U+2028 or U+0085.
        out = r.stdout.split("\n")
        if out and out[-1] == "":
            out.pop()
        assert len(out) == len(lines), (out, r.stderr)
        return out

    def classpath(self):
        cps = sorted(CACHE.glob("classpath-*.txt"))
        assert cps, "roundtrip.sh did not cache a classpath"
        return str(self.out / "target" / "harness") + ":" + cps[-1].read_text().strip()

    def refcheck(self, hex_lines):
        """Runs RefCheck (Avro Java's own readers/writers) on the binding's encodings."""
        cp = self.classpath()
        cls = _refcheck_classes(cp.split(":", 1)[1])
        r = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-Dslf4j.internal.verbosity=ERROR",
                            "-cp", f"{cls}:{cp}", "RefCheck", self.root_class,
                            str(self.schema_path)],
                           input="".join(h + "\n" for h in hex_lines), capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        return r.stdout.split("\n")[:-1]

    def lint(self):
        """javac -Xlint:all -Werror over every generated source."""
        srcs = [str(p) for p in (self.out / "src").rglob("*.java")]
        srcs += [str(p) for p in (self.out / "harness").rglob("*.java")]
        cp = self.classpath().split(":", 1)[1]
        d = self.out / "target" / "lint"
        r = subprocess.run(["javac", "-J-XX:TieredStopAtLevel=1", "--release", "17",
                            "-Xlint:all", "-Werror", "-cp", cp,
                            "-d", str(d)] + srcs, capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr


def compile_program(b, program):
    """Builds binding b (through its harness) and compiles the check program
    tests/bindings/java/<program>.java against it: (its classes, the binding's classpath)."""
    b.harness([])  # builds the binding and caches the classpath
    cp = b.classpath()
    cls = b.out / "target" / program.lower()
    subprocess.run(["javac", "-J-XX:TieredStopAtLevel=1", "--release", "17", "-Xlint:all",
                    "-Werror", "-cp", cp, "-d", str(cls), str(HERE / f"{program}.java")],
                   check=True)
    return cls, cp


_REFCHECK = {}


def _refcheck_classes(cp):
    """RefCheck uses the binding by reflection, so one compilation serves every binding."""
    if cp not in _REFCHECK:
        import tempfile
        d = tempfile.mkdtemp(prefix="canon-refcheck-")
        subprocess.run(["javac", "-J-XX:TieredStopAtLevel=1", "--release", "17", "-nowarn",
                        "-cp", cp, "-d", d, str(HERE / "RefCheck.java")], check=True,
                       capture_output=True)
        _REFCHECK[cp] = d
    return _REFCHECK[cp]


JAVA_RESERVED = set("""abstract assert boolean break byte case catch char class const continue
default do double else enum extends false final finally float for goto if implements import
instanceof int interface long native new null package private protected public return short
static strictfp super switch synchronized this throw throws transient true try void volatile
while record var yield _""".split())


def mangle(fullname):
    """Avro Java's (and the binding's) class name: '$' after each reserved part."""
    return ".".join(p + "$" if p in JAVA_RESERVED else p for p in fullname.split("."))


def root_class(schema):
    s = json.loads(schema) if isinstance(schema, str) else schema
    if isinstance(s, dict) and s.get("type") in ("record", "error"):
        name = s["name"]
        ns = s.get("namespace")
        return mangle(name if "." in name or not ns else ns + "." + name)
    return "Root"


@pytest.fixture(scope="session")
def generate(tmp_path_factory):
    made = {}

    def gen(schema_text, tag, extra=()):
        key = (schema_text, tuple(extra))
        if key in made:
            return made[key]
        d = tmp_path_factory.mktemp("java-" + tag)
        sp = d / "schema.avsc"
        sp.write_text(schema_text)
        out = d / "binding"
        r = subprocess.run([canon_bin(), "gen", "--lang", "java", "--schema", str(sp),
                            "--out", str(out), "--harness", *extra],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        b = Binding(out, root_class(schema_text), sp)
        made[key] = b
        return b

    return gen


def _f32(x):
    """x rounded to a 32-bit float (Avro float), or None when it does not fit."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except (OverflowError, struct.error):
        return None


def same_json(a, b):
    """Datum equality in Avro JSON: numbers within float precision, maps as maps."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return a == b or math.isclose(a, b, rel_tol=1e-6) or _f32(a) == _f32(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b
