"""The `canon registry` command line: its fixed interface, and the access log.

Issue 3: `canon registry --listen HOST:PORT --db FILE` (defaults 127.0.0.1:8081 and
canon.db) is an interface that outside checks use; `canon --help` and
`canon <cmd> --help`; an access log on stderr; SIGTERM shuts down gracefully.
"""
import re
import sqlite3
import subprocess
import time

from pathlib import Path

import pytest
import requests

from helpers import Registry, canon_bin


def run(*args):
    return subprocess.run([canon_bin(), *args], capture_output=True, text=True, timeout=30)


def test_help():
    r = run("--help")
    assert r.returncode == 0
    assert "registry" in r.stdout
    r = run("registry", "--help")
    assert r.returncode == 0
    out = r.stdout + r.stderr
    for flag in ("--listen", "--db", "HOST:PORT", "127.0.0.1:8081", "canon.db"):
        assert flag in out, f"{flag!r} missing from `canon registry --help`:\n{out}"


def test_version_names_the_libraries_in_use():
    # The librdkafka in use decides what a transaction costs (docs/aggregator.md, section
    # 5), so --version names it and the other libraries, as loaded at run time. Python's
    # sqlite3 module loads the system's libsqlite3 here too, which pins one of them.
    r = run("--version")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"canon \d+\.\d+\.\d+", lines[0]), r.stdout
    assert re.search(r"\blibrdkafka \d+\.\d+\.\d+", lines[1]), r.stdout
    assert f"SQLite {sqlite3.sqlite_version}," in lines[1], r.stdout
    assert re.search(r"libmicrohttpd \d+\.\d+\.\d+", lines[1]), r.stdout
    assert re.search(r"jansson \d+\.\d+", lines[1]), r.stdout
    assert run("version").stdout == r.stdout


def test_bad_flag_fails():
    r = run("registry", "--no-such-flag")
    assert r.returncode != 0
    assert r.stderr.strip(), "a bad flag must say why on stderr"


def test_unwritable_db_fails_clearly(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    r = subprocess.run([canon_bin(), "registry", "--listen", "127.0.0.1:0", "--db",
                        str(d / "missing-dir" / "x.db")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip()


def test_access_log_on_stderr(tmp_path):
    reg = Registry(tmp_path / "log.db", tmp_path / "log.stderr").start()
    try:
        marker = "access-log-marker-subject"
        requests.get(f"{reg.url}/subjects/{marker}/versions", timeout=10)
        deadline = time.monotonic() + 5
        while marker not in reg.stderr_tail(n=10**6) and time.monotonic() < deadline:
            time.sleep(0.05)
        line = [ln for ln in reg.stderr_tail(n=10**6).splitlines() if marker in ln]
        assert line, "the request is not in the access log"
        assert "404" in line[0] and "GET" in line[0], line[0]
    finally:
        assert reg.stop() == 0


def test_db_file_is_where_db_says(tmp_path):
    """The ready line names the db as given, and the data is where --db says."""
    db = tmp_path / "here.db"
    reg = Registry(db, tmp_path / "x.stderr").start()
    try:
        r = requests.post(f"{reg.url}/subjects/cwd-value/versions",
                          json={"schema": '"string"'}, timeout=10)
        assert r.status_code == 200
    finally:
        assert reg.stop() == 0
    assert db.exists() and db.stat().st_size > 0


# Every numeric option of produce, tail, state, replay, aggregate, serve and registry is a
# whole number in its range, or a usage error (exit 2) naming the option and the value:
# atoi read "10abc" as 10, 4294967297 as 1 and made INT_MAX + 5000 a flush of about 400 ms.
# Nothing is contacted: the command stops at the option.
B = ["--bootstrap-servers", "127.0.0.1:1"]
NUMERIC_OPTIONS = [
    ("produce", ["x", *B], "--timeout-ms", 1, 2147483647),
    ("tail", ["t", *B], "--timeout-ms", 1, 2147483647),
    ("tail", ["t", *B], "--max", 0, None),
    ("tail", ["t", *B], "--partition", 0, 2147483647),
    ("tail", ["t", *B], "--offset", 0, None),
    ("state", ["e", "k", *B], "--timeout-ms", 1, 2147483647),
    ("replay", ["e", *B], "--timeout-ms", 1, 2147483647),
    ("replay", ["e", *B], "--partition", 0, 2147483647),
    ("replay", ["e", *B], "--batch", 1, 1000000),
    ("aggregate", B, "--commit-interval-ms", 1, 100000000),
    ("aggregate", B, "--checkpoint-interval-s", 1, 100000000),
    ("aggregate", B, "--batch-max", 1, 100000000),
    ("serve", B, "--commit-interval-ms", 1, 100000000),
    ("serve", B, "--checkpoint-interval-s", 1, 100000000),
    ("serve", B, "--partitions", 1, 100000),
    ("serve", B, "--threads", 1, 1024),
    ("registry", [], "--threads", 1, 1024),
]


@pytest.mark.parametrize("cmd,args,opt,lo,hi", NUMERIC_OPTIONS,
                         ids=[f"{c}{o}" for c, _, o, _, _ in NUMERIC_OPTIONS])
def test_numeric_options_refuse_what_is_not_a_number_in_range(cmd, args, opt, lo, hi):
    bad = ["10abc", "", " 5", "+5", "0x10", "1e3", "-1", str(lo - 1),
           "99999999999999999999", "99999999999999999999999",
           "4294967297" if hi else "9223372036854775808"]
    if hi:
        bad.append(str(hi + 1))
    largest = hi or 2**63 - 1
    for value in bad:
        r = run(cmd, *args, opt, value)
        assert r.returncode == 2, (value, r.stderr)
        # A number too large names the largest accepted, even for an option without a
        # bound of its own: ">= 0" alone is a rule that 99999999999999999999999 meets.
        too_large = value.isdigit() and int(value) > largest
        bound = f" and <= {largest}" if hi or too_large else ""
        assert f"canon {cmd}: {opt} wants a number >= {lo}{bound}, got '{value}'" in r.stderr, \
            (value, r.stderr)


def test_produce_takes_the_largest_timeout_and_goes_on_to_its_real_work():
    # in range: no usage error; the dead registry is then the failure (exit 1, not 0)
    r = run("produce", "x", "--bootstrap-servers", "127.0.0.1:1", "--registry",
            "http://127.0.0.1:1", "--timeout-ms", "2147483647")
    assert r.returncode == 1 and "cannot connect" in r.stderr, r.stderr


# A malformed --registry is a usage error (exit 2) in every Kafka tool, as a bad number is;
# the URL is checked before Kafka is contacted, so none is needed.
HR_MAPPING = str(Path(__file__).resolve().parents[2] / "translators" / "examples" / "hr" / "mapping.json")
REGISTRY_USERS = [("produce", ["x", *B, "--json", "{}"]), ("tail", ["t", *B]),
                  ("state", ["e", "k", *B]), ("translate", ["--mapping", HR_MAPPING, *B])]


@pytest.mark.parametrize("cmd,args", REGISTRY_USERS, ids=[c for c, _ in REGISTRY_USERS])
@pytest.mark.parametrize("url", ["notaurl", "http://:80", "http://h:8x"])
def test_a_malformed_registry_url_is_a_usage_error(cmd, args, url):
    r = run(cmd, *args, "--registry", url)
    assert r.returncode == 2, r.stderr
    assert f"canon {cmd}: registry URL" in r.stderr, r.stderr


# --timeout-ms bounds an unreachable broker too: the metadata request used a fixed 10 s, so
# `--timeout-ms 1000` against a closed port took 10 s. 6 s leaves room for a slow machine
# and still fails the old fixed wait.
UNREACHABLE = [("tail", ["canon.x.dlq"]), ("tail", ["canon.x.dlq", "--follow"]),
               ("state", ["x", "k", "--registry", "http://127.0.0.1:1"]), ("replay", ["x"])]


@pytest.mark.parametrize("cmd,args", UNREACHABLE, ids=["tail", "tail-follow", "state", "replay"])
def test_timeout_ms_bounds_an_unreachable_broker(cmd, args):
    t0 = time.monotonic()
    r = run(cmd, *args, *B, "--timeout-ms", "1000")
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert "Kafka at 127.0.0.1:1: cannot read metadata" in r.stderr, r.stderr
    assert elapsed < 6, f"took {elapsed:.1f} s with --timeout-ms 1000"
