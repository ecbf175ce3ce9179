"""The generated package as a user gets it: pip-installable, bindings side by side, type-
checked, and carrying the runtime source of the repository byte for byte."""
import os
import subprocess
import sys

import pytest

from pybind_support import ROOT, load_vector

PERSON = os.path.join(ROOT, "schemas", "person.avsc")
ACCOUNT = os.path.join(ROOT, "schemas", "account.avsc")


def test_two_entities_install_side_by_side_and_share_canongate(generated, tmp_path):
    # a venv of its own, as a user's would be
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)],
                   check=True, timeout=300)
    py = str(venv / "bin" / "python")
    for name, path in (("person", PERSON), ("account", ACCOUNT)):
        out = generated(name, path)
        r = subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-deps", out],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    target = venv / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
    files = sorted(os.path.relpath(os.path.join(d, f), target)
                   for d, _, fs in os.walk(target) for f in fs
                   if f.endswith(".py") and "__pycache__" not in d)
    assert "org/canongate/canon/person.py" in files
    assert "org/canongate/canon/account.py" in files
    assert not os.path.exists(target / "org" / "__init__.py")  # namespace packages
    check = (
        "import canongate\n"
        "from org.canongate.canon import person, account\n"
        "assert person.canongate.UpdateOp is account.canongate.UpdateOp\n"
        "u = account.AccountUpdateBuilder('A-1', source='crm').set_display_name('x').build()\n"
        "assert account.AccountUpdate.decode(u.encode()) == u\n"
        "print(person.CANON_TOPIC, account.CANON_TOPIC)\n")
    import fastavro  # the venv sees this interpreter's fastavro, nothing else of it
    deps = os.path.dirname(os.path.dirname(os.path.abspath(fastavro.__file__)))
    r = subprocess.run([py, "-c", check], capture_output=True, text=True, cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=deps), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["canon.person", "canon.account"]


def mypy_modules(out):
    src = os.path.join(out, "src")
    mods = []
    for d, _, fs in os.walk(src):
        for f in fs:
            if f.endswith(".py") and not os.path.relpath(d, src).startswith("canongate"):
                rel = os.path.relpath(os.path.join(d, f[:-3]), src)
                mods += ["-m", rel.replace(os.sep, ".")]
    return mods


@pytest.mark.parametrize("name", ["person", "account", "keywords", "unions", "namespaces",
                                  "logical", "recursive", "union_top", "enum_top", "null",
                                  "fixed_top", "maps"])
def test_generated_code_passes_mypy_strict(generated, name):
    pytest.importorskip("mypy")
    path = PERSON if name == "person" else ACCOUNT if name == "account" else \
        load_vector(name).schema_path
    out = generated(name, path)
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                        "--cache-dir", os.path.join(generated.base, ".mypy_cache")] +
                       mypy_modules(out) +
                       ["-p", "canongate"],
                       capture_output=True, text=True, cwd=out,
                       env=dict(os.environ, MYPYPATH=os.path.join(out, "src")), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_generated_code_imports_cleanly_with_warnings_as_errors(generated):
    out = generated("person", PERSON)
    r = subprocess.run([sys.executable, "-W", "error", "-c",
                        "import org.canongate.canon.person, canongate"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.path.join(out, "src")))
    assert r.returncode == 0, r.stderr


def test_runtime_is_the_repositorys_source(generated):
    out = generated("person", PERSON)
    with open(os.path.join(out, "src", "canongate", "_runtime.py"), encoding="utf-8") as f:
        emitted = f.read()
    with open(os.path.join(ROOT, "codegen", "gen_python_runtime.py"), encoding="utf-8") as f:
        source = f.read()
    assert emitted == source, "run codegen/gen_python_embed.sh after editing the runtime"


def test_canongate_package_is_identical_in_every_binding(generated):
    a = generated("person", PERSON)
    b = generated("account", ACCOUNT)
    for f in ("__init__.py", "_runtime.py"):
        with open(os.path.join(a, "src", "canongate", f), "rb") as x, \
                open(os.path.join(b, "src", "canongate", f), "rb") as y:
            assert x.read() == y.read(), f


def test_files_start_with_the_generated_header(generated):
    out = generated("person", PERSON)
    for d, _, fs in os.walk(out):
        for f in fs:
            if f.endswith((".py", ".toml", ".sh")) and f != "_runtime.py":
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    head = fh.read(200)
                assert "Generated by canon gen from" in head, os.path.join(d, f)
