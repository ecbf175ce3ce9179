"""conftest.py - fixtures for the black-box tests of `canon registry`.

Every test module gets a fresh registry on its own temporary database (fixture `api`); tests
whose global state matters (global config, global mode, ids) take `fresh`, a registry of
their own. On teardown the registry is stopped with SIGTERM and must exit 0 (graceful
shutdown) with no sanitizer report on its stderr. CANON_BIN must name the binary: without it
the run fails with a clear message instead of skipping anything.
"""
import itertools
import os
import re

import pytest

from helpers import Api, Registry, canon_bin


def pytest_sessionstart(session):
    try:
        canon_bin()
    except RuntimeError as e:
        raise pytest.UsageError(str(e))


def _start(tmp_dir, name):
    reg = Registry(tmp_dir / f"{name}.db", tmp_dir / f"{name}.stderr.log")
    reg.start()
    return reg


def _finish(reg):
    rc = reg.stop()
    reports = reg.sanitizer_reports()
    assert not reports, (f"sanitizer reported {reports} in the registry's stderr "
                         f"({reg.log_path}):\n{reg.sanitizer_excerpt()}")
    assert rc == 0, f"registry exited {rc} on SIGTERM (graceful shutdown expected):\n{reg.stderr_tail()}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, request):
    d = tmp_path_factory.mktemp(re.sub(r"\W", "_", request.module.__name__))
    reg = _start(d, "registry")
    yield reg
    _finish(reg)


@pytest.fixture(scope="module")
def api(registry):
    return Api(registry.url)


@pytest.fixture
def fresh(tmp_path):
    """A registry of the test's own, for tests that change global state."""
    reg = _start(tmp_path, "fresh")
    a = Api(reg.url)
    a.registry = reg
    yield a
    _finish(reg)


@pytest.fixture
def fresh_registry(tmp_path):
    """The Registry object itself, for tests that restart or kill it."""
    regs = []

    def make(name="crash"):
        reg = Registry(tmp_path / f"{name}.db", tmp_path / f"{name}.stderr.log")
        regs.append(reg)
        return reg

    yield make
    for reg in regs:
        if reg.proc is not None and reg.proc.poll() is None:
            _finish(reg)


_counter = itertools.count(1)


@pytest.fixture
def subj(request):
    """Makes subject names unique to the test (the module registry is shared)."""
    base = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")

    def make(suffix="value"):
        return f"t{next(_counter)}-{base}-{suffix}"

    return make


@pytest.fixture(scope="session")
def canon_binary():
    return os.path.abspath(canon_bin())
