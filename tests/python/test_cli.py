"""The `canon registry` command line: its fixed interface, and the access log.

Issue 3: `canon registry --listen HOST:PORT --db FILE` (defaults 127.0.0.1:8081 and
canon.db) is an interface that outside checks use; `canon --help` and
`canon <cmd> --help`; an access log on stderr; SIGTERM shuts down gracefully.
"""
import re
import sqlite3
import subprocess
import time

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
