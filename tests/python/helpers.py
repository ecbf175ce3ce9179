"""helpers.py - start, stop and talk to a real `canon registry` process for the black-box tests.

The tests treat the registry as a black box: they start the binary named by CANON_BIN on a
temporary database, read the port from its ready line, and speak HTTP to it exactly as a
Confluent Schema Registry client would. Nothing here knows the server's code.
"""
import json
import os
import re
import select
import signal
import subprocess
import threading
import time
import urllib.parse

import requests

V1 = "application/vnd.schemaregistry.v1+json"
READY_RE = re.compile(r"canon registry: listening on (https?://\S+) \(db (.*)\)")
START_TIMEOUT = 60.0  # seconds; the ASan build starts slower
STOP_TIMEOUT = 20.0
# Sanitizer reports that must never appear on the registry's stderr.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "UndefinedBehaviorSanitizer")


def canon_bin():
    path = os.environ.get("CANON_BIN")
    if not path:
        raise RuntimeError(
            "CANON_BIN is not set: point it at the canon binary, e.g. "
            "CANON_BIN=$PWD/build/canon .venv/bin/python -m pytest tests/python")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(f"CANON_BIN={path!r} is not an executable file")
    return path


def q(subject):
    """URL-encodes a subject for a path segment ('/' included)."""
    return urllib.parse.quote(subject, safe="")


class Registry:
    """One `canon registry` process on a database file."""

    def __init__(self, db_path, log_path, extra_args=()):
        self.db_path = str(db_path)
        self.log_path = str(log_path)
        self.extra_args = [str(a) for a in extra_args]  # e.g. ["--auth-file", path]
        self.proc = None
        self.url = None
        self.verify = True  # for https (--tls-cert in extra_args): the CA file to trust
        self.cert = None  # and with --tls-client-ca: (certificate, key) files
        self._log = None
        self._drain = None

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [canon_bin(), "registry", "--listen", "127.0.0.1:0", "--db", self.db_path,
             *self.extra_args],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"registry did not print its ready line within {START_TIMEOUT}s; "
                    f"stdout so far: {seen!r}; stderr: {self.stderr_tail()}")
            if self.proc.poll() is not None and not buf:
                rest = self.proc.stdout.read() or b""
                raise AssertionError(
                    f"registry exited with {self.proc.returncode} before it was ready; "
                    f"stdout: {seen!r} {rest!r}; stderr: {self.stderr_tail()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                buf = b""
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                seen.append(text)
                m = READY_RE.search(text)
                if m:
                    self.url = m.group(1).rstrip("/")
                    assert m.group(2) == self.db_path, (
                        f"ready line names db {m.group(2)!r}, expected {self.db_path!r}")
                    self._start_drain()
                    self._wait_healthy(deadline)
                    return self

    def _start_drain(self):
        # Keep reading stdout so that a chatty server can never block on a full pipe.
        out = self.proc.stdout

        def drain():
            try:
                while out.read(4096):
                    pass
            except (OSError, ValueError):
                pass

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()

    def _wait_healthy(self, deadline):
        last = None
        while time.monotonic() < deadline:
            try:
                r = requests.get(self.url + "/health", timeout=5, verify=self.verify,
                                 cert=self.cert)
                if r.status_code == 200:
                    return
                last = r.status_code
            except requests.RequestException as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"GET /health never answered 200 (last: {last!r})")

    def stderr_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_reports(self):
        text = self.stderr_tail(n=10**7)
        return [m for m in SANITIZER_MARKERS if m in text]

    def sanitizer_excerpt(self, n=8000):
        """The sanitizer's report itself (from its first marker), for failure messages."""
        text = self.stderr_tail(n=10**7)
        starts = [text.find(m) for m in SANITIZER_MARKERS if m in text]
        if not starts:
            return ""
        start = text.rfind("\n", 0, min(starts)) + 1
        return text[start:start + n]

    def stop(self):
        """SIGTERM, and wait: returns the exit code (graceful shutdown is expected)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"registry ignored SIGTERM for {STOP_TIMEOUT}s")
        finally:
            self._close()
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close()

    def _close(self):
        if self._log:
            self._log.close()
            self._log = None
        if self.proc is not None and self.proc.stdout:
            try:
                self.proc.stdout.close()
            except OSError:
                pass


class Api:
    """A thin HTTP helper: base URL and Confluent's preferred content type."""

    def __init__(self, base):
        self.base = base
        self.s = requests.Session()
        self.s.headers.update({"Accept": V1, "Content-Type": V1})

    def url(self, path):
        return self.base + path

    def request(self, method, path, body=None, raw=None, headers=None, params=None, timeout=30):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.s.request(method, self.url(path), data=data, headers=headers,
                              params=params, timeout=timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # Confluent API shortcuts -------------------------------------------------------------
    def register(self, subject, schema, **extra):
        params = extra.pop("params", None)
        body = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
        body.update(extra)
        return self.post(f"/subjects/{q(subject)}/versions", body, params=params)

    def register_ok(self, subject, schema, **extra):
        r = self.register(subject, schema, **extra)
        assert r.status_code == 200, f"register {subject!r}: {r.status_code} {r.text}"
        body = r.json()
        assert isinstance(body.get("id"), int), body
        return body["id"]

    def lookup(self, subject, schema, **extra):
        params = extra.pop("params", None)
        body = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
        body.update(extra)
        return self.post(f"/subjects/{q(subject)}", body, params=params)

    def versions(self, subject, **kw):
        return self.get(f"/subjects/{q(subject)}/versions", **kw)

    def set_config(self, subject, level):
        path = "/config" if subject is None else f"/config/{q(subject)}"
        r = self.put(path, {"compatibility": level})
        assert r.status_code == 200, f"PUT {path} {level}: {r.status_code} {r.text}"
        return r

    def set_mode(self, subject, mode, params=None):
        path = "/mode" if subject is None else f"/mode/{q(subject)}"
        return self.put(path, {"mode": mode}, params=params)


def assert_error(r, status, code=None, message_contains=None):
    """Confluent's standard error format: HTTP status, JSON {"error_code", "message"}."""
    assert r.status_code == status, f"expected HTTP {status}, got {r.status_code}: {r.text[:500]}"
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {r.text[:500]!r}")
    assert isinstance(body, dict), body
    assert "error_code" in body and "message" in body, f"not Confluent's error format: {body}"
    assert isinstance(body["error_code"], int), body
    assert isinstance(body["message"], str) and body["message"], body
    if code is not None:
        if isinstance(code, (tuple, list, set)):
            assert body["error_code"] in code, f"error_code {body['error_code']} not in {code}: {body}"
        else:
            assert body["error_code"] == code, f"error_code {body['error_code']} != {code}: {body}"
    if message_contains is not None:
        assert message_contains in body["message"], (
            f"message {body['message']!r} lacks {message_contains!r}")
    return body


def record(name, fields, namespace=None, **props):
    s = {"type": "record", "name": name, "fields": fields}
    if namespace:
        s["namespace"] = namespace
    s.update(props)
    return s


def field(name, type_, **kw):
    f = {"name": name, "type": type_}
    f.update(kw)
    return f
