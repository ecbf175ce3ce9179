"""Messages of the registry's access control and of `canon auth` (docs/security.md), and a
few error messages found misleading by an audit of docs/api.md and docs/security.md.

Each test pins what a person reads: a 401 for a request without credentials is a security
event logged on stderr even with --quiet, like the other 401s; SIGHUP on a registry without
--auth-file says there is no auth file to reload (not that some access control "stays in
force"); a schema id path segment that is not a number is quoted in the 40403 message
instead of echoed raw; `canon auth check --help` describes the line `check` prints; and the
`canon auth hash-password` example of security.md is the hash of its example password.
"""
import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from helpers import Registry, assert_error, canon_bin

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def hash_password(pw):
    out = subprocess.run([canon_bin(), "auth", "hash-password", "--iterations", "1000"],
                         input=pw + "\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def wait_log(reg, want, timeout=5):
    """The registry's stderr once it holds want (or after timeout, for the message)."""
    deadline = time.monotonic() + timeout
    while True:
        text = reg.stderr_tail(n=10**6)
        if want in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def finish(reg):
    rc = reg.stop()
    assert not reg.sanitizer_reports(), reg.sanitizer_excerpt()
    assert rc == 0, reg.stderr_tail()


@pytest.fixture
def quiet_auth_registry(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"users": [
        {"name": "admin", "role": "admin", "password": hash_password("admin-pw")}]}))
    reg = Registry(tmp_path / "a.db", tmp_path / "a.stderr.log",
                   ["--auth-file", path, "--quiet"]).start()
    yield reg
    finish(reg)


def test_missing_credentials_401_is_logged_like_the_others_even_with_quiet(quiet_auth_registry):
    reg = quiet_auth_registry
    # the rule the other 401s follow: logged on stderr although --quiet is given
    r = requests.get(reg.url + "/subjects", auth=("admin", "wrong"), timeout=30)
    assert_error(r, 401, 40101)
    log = wait_log(reg, "bad password")
    assert re.search(r"auth: 401 GET /subjects: bad password \(user 'admin'\)", log), log
    # no Authorization header at all: the same kind of line
    r = requests.get(reg.url + "/config", timeout=30)
    assert_error(r, 401, 40101, "Authentication required")
    log = wait_log(reg, "GET /config")
    assert re.search(r"^\S+Z auth: 401 GET /config: no credentials$", log, re.M), log
    # the open endpoints are no events
    assert requests.get(reg.url + "/health", timeout=30).status_code == 200
    assert "GET /health" not in wait_log(reg, "GET /health", timeout=0.5)


def test_sighup_without_auth_file_says_there_is_nothing_to_reload(tmp_path):
    reg = Registry(tmp_path / "p.db", tmp_path / "p.stderr.log").start()
    try:
        reg.proc.send_signal(signal.SIGHUP)
        log = wait_log(reg, "SIGHUP")
        assert "canon registry: SIGHUP: no auth file to reload" in log, log
        # there was no access control to keep
        assert "stays in force" not in log and "access control" not in log, log
        assert requests.get(reg.url + "/subjects", timeout=30).status_code == 200
    finally:
        finish(reg)


@pytest.mark.parametrize("seg,shown", [("%201", "' 1'"), ("1%20", "'1 '"), ("abc", "'abc'"),
                                       ("0x1", "'0x1'")])
def test_schema_id_that_is_not_a_number_is_quoted_in_40403(fresh, seg, shown):
    for path in (f"/schemas/ids/{seg}", f"/schemas/ids/{seg}/schema"):
        body = assert_error(fresh.get(path), 404, 40403)  # Confluent's status and code kept
        assert body["message"] == (f"Schema {shown} not found: a schema id is a decimal number "
                                   "(no spaces or other characters)"), body
        assert "Schema  1" not in body["message"]


@pytest.mark.parametrize("seg", ["-1", "2147483648", "987654"])
def test_schema_id_that_is_a_number_keeps_confluents_message(fresh, seg):
    body = assert_error(fresh.get(f"/schemas/ids/{seg}"), 404, 40403)
    assert body["message"] == f"Schema {seg} not found", body


def test_auth_check_help_describes_what_check_prints(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"users": [
        {"name": "admin", "role": "admin", "password": hash_password("pw")},
        {"name": "bi", "role": "reader", "password": hash_password("pw2")}]}))
    out = subprocess.run([canon_bin(), "auth", "check", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"{path}: 2 principal(s), OK\n"
    help_ = subprocess.run([canon_bin(), "auth", "check", "--help"], capture_output=True,
                           text=True, timeout=60)
    assert help_.returncode == 0, help_.stderr
    text = " ".join(help_.stdout.split())
    assert "print its principals" not in text, text
    assert "print 'FILE: N principal(s), OK'" in text, text


def pbkdf2_ok(stored, password):
    algo, iters, salt, digest = stored.split("$")
    assert algo == "pbkdf2-sha256"
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iters))
    return got == base64.b64decode(digest)


def test_security_md_hash_password_example_is_the_example_passwords_hash(tmp_path):
    doc = open(os.path.join(ROOT, "docs", "security.md"), encoding="utf-8").read()
    m = re.search(r"\$ printf '%s\\n' '([^']+)' \| canon auth hash-password\n(\S+)\n", doc)
    assert m, "security.md lost its hash-password example"
    password, stored = m.group(1), m.group(2)
    assert pbkdf2_ok(stored, password), (password, stored)
    # and a user with that stored form logs in with that password
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"users": [
        {"name": "horse", "role": "reader", "password": stored}]}))
    reg = Registry(tmp_path / "h.db", tmp_path / "h.stderr.log", ["--auth-file", path]).start()
    try:
        r = requests.get(reg.url + "/subjects", auth=("horse", password), timeout=60)
        assert r.status_code == 200, r.text
    finally:
        finish(reg)
