"""conftest.py - fixtures for the registry robustness tests (load, hostile input, storage faults).

The registry is driven as a black box through tests/python/helpers.py (imported, not copied):
CANON_BIN names the binary. Every fixture stops its registry with SIGTERM on teardown and
requires a clean exit and no sanitizer report, so a crash or leak under load fails the test.
"""
import os
import resource
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

from helpers import Api, Registry, canon_bin  # noqa: E402


def pytest_sessionstart(session):
    try:
        canon_bin()
    except RuntimeError as e:
        raise pytest.UsageError(str(e))
    # 1,000 held connections plus normal clients need more than the usual 1024 descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = int(os.environ.get("ROBUST_HELD", "1000")) + 1024
    want = max(4096, need) if hard == resource.RLIM_INFINITY else min(hard, max(4096, need))
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def finish(reg):
    rc = reg.stop()
    reports = reg.sanitizer_reports()
    assert not reports, (f"sanitizer reported {reports} in the registry's stderr "
                         f"({reg.log_path}):\n{reg.sanitizer_excerpt()}")
    assert rc == 0, f"registry exited {rc} on SIGTERM:\n{reg.stderr_tail()}"


@pytest.fixture
def fresh(tmp_path):
    reg = Registry(tmp_path / "reg.db", tmp_path / "reg.stderr.log").start()
    a = Api(reg.url)
    a.registry = reg
    yield a
    finish(reg)
