"""HTTP behaviour: content negotiation, error format, unknown routes, malformed and oversize
bodies, /health and /metrics.

Reference: Confluent API reference, "Content Types" (application/vnd.schemaregistry.v1+json
preferred; application/vnd.schemaregistry+json, application/json and, for requests,
application/octet-stream accepted; weighted Accept preferences) and "Errors" ("All API
endpoints use a standard error message format for any requests that return an HTTP status
indicating an error (any 400 or 500 statuses)": {"error_code": ..., "message": ...}).
Confluent (rest-utils) answers a body that is not JSON with HTTP 400, error_code 400, and
maps Jersey's 404/405/406/415 to the same format with error_code = HTTP status. Issue 3
adds: request body limit with a clear 413, GET /health, GET /metrics (Prometheus text).
"""
import json
import re
import socket
import time
import urllib.parse

import pytest
import requests

from helpers import V1, assert_error, field, q, record

SCHEMA = record("Http", [field("a", "string")])


def raw_get(api, path, headers):
    return requests.get(api.url(path), headers=headers, timeout=30)


@pytest.mark.parametrize("accept,expect", [
    (V1, V1),
    ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
    ("application/json", "application/json"),
    ("*/*", V1),
    ("application/*", V1),
    (None, V1),
    (V1 + "; q=0.9, application/json; q=0.5", V1),
    ("application/json; q=0.5, " + V1 + "; q=0.9", V1),
    ("text/html, application/json", "application/json"),
])
def test_accept_negotiation(api, subj, accept, expect):
    s = subj()
    sid = api.register_ok(s, SCHEMA)
    headers = {"Accept": None} if accept is None else {"Accept": accept}  # None: no header
    for path in ("/subjects", f"/schemas/ids/{sid}", f"/subjects/{q(s)}/versions/1", "/config"):
        r = raw_get(api, path, headers)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert r.headers["Content-Type"].split(";")[0].strip() == expect, (path, r.headers)
        r.json()


def test_not_acceptable_406(api):
    for accept in ("text/html", "text/plain", "application/xml"):
        r = raw_get(api, "/subjects", {"Accept": accept})
        assert_error(r, 406, 406)


@pytest.mark.parametrize("ctype", [
    V1, "application/vnd.schemaregistry+json", "application/json",
    "application/json; charset=utf-8", "application/octet-stream",
])
def test_accepted_request_content_types(api, subj, ctype):
    s = subj()
    r = requests.post(api.url(f"/subjects/{q(s)}/versions"),
                      data=json.dumps({"schema": json.dumps(SCHEMA)}),
                      headers={"Content-Type": ctype, "Accept": V1}, timeout=30)
    assert r.status_code == 200, (ctype, r.text)
    assert isinstance(r.json()["id"], int)


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml",
                                   "application/x-www-form-urlencoded"])
def test_unsupported_media_type_415(api, subj, ctype):
    s = subj()
    r = requests.post(api.url(f"/subjects/{q(s)}/versions"),
                      data=json.dumps({"schema": json.dumps(SCHEMA)}),
                      headers={"Content-Type": ctype, "Accept": V1}, timeout=30)
    assert_error(r, 415, 415)
    assert r.headers["Content-Type"].startswith(V1)
    assert_error(api.versions(s), 404, 40401)
    r = requests.put(api.url("/config"), data='{"compatibility": "FULL"}',
                     headers={"Content-Type": ctype}, timeout=30)
    assert_error(r, 415, 415)


def test_error_content_type_is_json(api, subj):
    r = api.get(f"/subjects/{q(subj())}/versions")
    assert_error(r, 404, 40401)
    assert r.headers["Content-Type"].startswith(V1)
    r = raw_get(api, f"/subjects/{q(subj())}/versions", {"Accept": "application/json"})
    assert_error(r, 404, 40401)
    assert r.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("body", ["{not json", '{"schema": ', "\x00\x01", '{"schema": "x"'])
def test_malformed_json_body_400(api, subj, body):
    s = subj()
    r = api.post(f"/subjects/{q(s)}/versions", raw=body)
    assert_error(r, 400, 400)
    assert_error(api.versions(s), 404, 40401)


def test_malformed_json_other_endpoints_400(api, subj):
    s = subj()
    api.register_ok(s, SCHEMA)
    assert_error(api.put("/config", raw="{oops"), 400, 400)
    assert_error(api.put(f"/config/{q(s)}", raw="{oops"), 400, 400)
    assert_error(api.put("/mode", raw="{oops"), 400, 400)
    assert_error(api.post(f"/subjects/{q(s)}", raw="{oops"), 400, 400)
    assert_error(api.post(f"/compatibility/subjects/{q(s)}/versions/latest", raw="{oops"), 400, 400)
    assert api.get("/config").status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/subjects/x/nope", "/schemas/ids", "/schemas/nope/1",
                                  "/compatibility/nope", "/subjects/x/versions/1/nope", "/canon/nope"])
def test_unknown_route_404(api, path):
    assert_error(api.get(path), 404, 404)


def test_schema_id_not_a_number_404(api):
    assert_error(api.get("/schemas/ids/abc"), 404)


def test_method_not_allowed_405(api):
    r = api.request("PATCH", "/subjects")
    assert_error(r, 405, 405)
    r = api.request("PUT", "/schemas/types")
    assert_error(r, 405, 405)


def test_large_schema_accepted(api, subj):
    s = subj()
    big = record("Wide", [field(f"f{i}", ["null", "string"], default=None, doc="x" * 100)
                          for i in range(1000)])
    text = json.dumps(big)
    assert len(text) > 150_000
    sid = api.register_ok(s, text)
    assert api.get(f"/schemas/ids/{sid}").json()["schema"] == text


def _raw_post(host, port, path, length, chunk=1 << 16, timeout=30.0, chunked=False):
    """Sends a POST of `length` bytes (announced with Content-Length, or sent with chunked
    transfer encoding) and streams the body until the server answers (it may answer early
    and close). Returns (status, headers, body)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        framing = ("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {V1}\r\n"
                f"Accept: {V1}\r\n{framing}\r\nConnection: close\r\n\r\n")
        sock.sendall(head.encode())
        payload = b'{"schema": "' + b" " * chunk
        sent = 0
        pending = b""
        deadline = time.monotonic() + timeout
        sock.setblocking(False)
        response = b""
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
                if data:
                    response += data
                    break
                if data == b"":
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            if not pending and sent < length:
                piece = payload[: min(len(payload), length - sent)]
                payload = b" " * chunk
                sent += len(piece)
                pending = (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece
                if chunked and sent >= length:
                    pending += b"0\r\n\r\n"
            if pending:
                try:
                    pending = pending[sock.send(pending):]
                except BlockingIOError:
                    time.sleep(0.001)
                except (BrokenPipeError, ConnectionResetError):
                    pending, sent = b"", length
            else:
                time.sleep(0.005)
        sock.setblocking(True)
        sock.settimeout(timeout)
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            response += data
    finally:
        sock.close()
    assert response, "no response to an oversize body"
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, headers, body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversize_body_413(api, subj, chunked):
    u = urllib.parse.urlparse(api.base)
    status, headers, body = _raw_post(u.hostname, u.port, f"/subjects/{q(subj())}/versions",
                                      length=64 * 1024 * 1024, chunked=chunked)
    assert status == 413, (status, body[:300])
    err = json.loads(body)
    assert err["error_code"] == 413, err
    assert isinstance(err["message"], str) and err["message"], err
    assert headers.get("content-type", "").startswith(V1), headers
    assert api.get("/health").status_code == 200  # still serving


def test_health(api):
    r = requests.get(api.url("/health"), timeout=10)
    assert r.status_code == 200


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(api):
    r = requests.get(api.url("/metrics"), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    types, samples = {}, []
    for line in r.text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return types, samples


def family(types, name):
    for suffix in ("_bucket", "_sum", "_count", "_total", "_created"):
        if name.endswith(suffix) and name[: -len(suffix)] in types:
            return name[: -len(suffix)]
    return name


def test_metrics(fresh):
    types, samples = scrape(fresh)
    assert "counter" in types.values(), types
    assert "gauge" in types.values(), types
    hist = [n for n, k in types.items() if k == "histogram"]
    assert hist, f"no latency histogram: {types}"
    h = hist[0]
    assert any(n == h + "_bucket" and lab.get("le") == "+Inf" for n, lab, _ in samples)
    assert any(n == h + "_sum" for n, _, _ in samples)
    assert any(n == h + "_count" for n, _, _ in samples)

    def gauges(samples):
        return {(n, tuple(sorted(lab.items()))): v for n, lab, v in samples
                if types.get(family(types, n)) == "gauge"}

    def requests_total(samples):
        return sum(v for n, lab, v in samples
                   if types.get(family(types, n)) == "counter" and "request" in n)

    g0, r0 = gauges(samples), requests_total(samples)
    fresh.register_ok("metrics-subject", SCHEMA)
    fresh.get("/subjects/no-such-subject/versions")  # a 404
    types, samples = scrape(fresh)
    g1, r1 = gauges(samples), requests_total(samples)
    assert r1 >= r0 + 2, (r0, r1)
    changed = {k: (g0.get(k, 0.0), v) for k, v in g1.items() if v != g0.get(k, 0.0)}
    schema_gauges = [k for k, (a, b) in changed.items()
                     if "schema" in k[0] and "subject" not in k[0] and b == a + 1]
    subject_gauges = [k for k, (a, b) in changed.items() if "subject" in k[0] and b == a + 1]
    assert schema_gauges, f"no schema gauge rose by 1 after a registration: {changed}"
    assert subject_gauges, f"no subject gauge rose by 1 after a registration: {changed}"
    # requests are counted by status: the 404 above is visible
    assert any("request" in n and "404" in lab.values() for n, lab, _ in samples), \
        "no request counter labelled with status 404"
    # a soft-deleted subject no longer counts as a subject
    fresh.delete("/subjects/metrics-subject")
    types, samples = scrape(fresh)
    g2 = gauges(samples)
    for k in subject_gauges:
        assert g2[k] == g1[k] - 1, (k, g1[k], g2[k])


def test_percent_encoded_nul_in_a_subject_is_refused(api, subj):
    """%00 decoded into a NUL once cut the name: "ab%00cd" was registered as "ab"."""
    s = subj()
    r = api.request("POST", f"/subjects/{q(s)}%00cd/versions",
                    raw=json.dumps({"schema": json.dumps(SCHEMA)}).encode(),
                    headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    assert r.status_code == 404, (r.status_code, r.text)
    assert s not in api.get("/subjects").json()
    assert api.register_ok(s, SCHEMA) > 0  # the name without the NUL is still free
