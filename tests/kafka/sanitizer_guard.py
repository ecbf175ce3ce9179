"""sanitizer_guard.py - fails a test when a process it ran wrote a sanitizer report.

The real-Kafka suites run against the ASan + UBSan build (scripts/test.sh, with
ASAN_OPTIONS=detect_leaks=1) and start `canon` processes whose stderr is sometimes
captured and checked, sometimes written to a log that nobody reads, sometimes discarded.
A LeakSanitizer report printed at exit, or an AddressSanitizer report of a process whose
output a test ignores, would then pass unseen. This guard does not depend on each test
looking: for the whole session it points AddressSanitizer and LeakSanitizer of every
process started from the tests at files of their own (log_path in ASAN_OPTIONS: each
reporting process writes DIR/report.<pid>), and it fails the test during which a new
report file appears, quoting it. Reports that appear after the last test (session-scoped
processes such as the shared registry, stopped at the end) fail the session's teardown.

UBSan is not redirected: in the combined ASan + UBSan runtime (GCC 12) its reports stay on
stderr whatever log_path says. scripts/test.sh sets UBSAN_OPTIONS=halt_on_error=1, so a
UBSan report makes the process exit 1, which the fixtures' exit-status checks catch, and
the tests' own `"Sanitizer" not in stderr` checks still see UBSan's reports; they no
longer see ASan's (in the files), which this guard checks instead. It costs nothing with
a build without sanitizers.

Use from a conftest.py (tests/kafka on sys.path):

    from sanitizer_guard import sanitizer_guard, sanitizer_reports_dir  # noqa: F401
"""
import os
from pathlib import Path

import pytest

_VARS = ("ASAN_OPTIONS",)  # LeakSanitizer reads its log_path there too
_state = {"dir": None, "owner": None, "saved": None, "blamed": set()}  # one per session


def _with_log_path(value, path):
    parts = [p for p in (value or "").split(":") if p and not p.startswith("log_path=")]
    parts.append(f"log_path={path}")
    return ":".join(parts)


def _reports(d):
    return set(Path(d).glob("report.*"))


def _describe(paths):
    out = []
    for p in sorted(paths):
        text = p.read_text(errors="replace")
        out.append(f"--- {p} ---\n{text[:6000]}")
    return "\n".join(out)


@pytest.fixture(scope="session", autouse=True)
def sanitizer_reports_dir(tmp_path_factory):
    """The directory the sanitizers write to (one per session, whichever conftest asks
    first: several folders' conftest.py import this fixture into one session). Autouse,
    so that it is set up before the other session fixtures start their processes."""
    token = object()
    if _state["dir"] is None:
        d = tmp_path_factory.mktemp("sanitizer-reports")
        _state.update(dir=d, owner=token, saved={v: os.environ.get(v) for v in _VARS})
        for v in _VARS:
            os.environ[v] = _with_log_path(os.environ.get(v), d / "report")
    yield _state["dir"]
    if _state["owner"] is token:
        d = _state["dir"]
        for v, old in _state["saved"].items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
        _state.update(dir=None, owner=None, saved=None)
        late = _reports(d) - _state["blamed"]
        assert not late, "sanitizer report(s) written after the last test:\n" + _describe(late)


@pytest.fixture(autouse=True)
def sanitizer_guard(sanitizer_reports_dir):
    before = _reports(sanitizer_reports_dir)
    yield
    new = _reports(sanitizer_reports_dir) - before - _state["blamed"]
    if new:
        _state["blamed"].update(new)
        pytest.fail("sanitizer report(s) from a process of this test:\n" + _describe(new), pytrace=False)
