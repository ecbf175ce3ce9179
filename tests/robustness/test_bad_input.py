"""test_bad_input.py - hostile request bodies and paths against `canon registry`.

Oversized bodies (past the 16 MiB default limit), truncated bodies, invalid UTF-8 in JSON
strings and in subjects, 100,000-deep JSON nesting and 10 MB schemas. Each must get a clear
answer (a 4xx in Confluent's JSON error format, or success where the input is valid), the
server must stay up and keep its memory bounded, and nothing valid already stored is lost.
"""
import json
import socket

import requests

from conftest import vm_rss_kib
from helpers import V1, assert_error

LIMIT = 16 * 1024 * 1024  # REG_DEFAULT_MAX_BODY in registry/http.h


def _raw(api, data, read=True, timeout=30):
    port = int(api.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def _status(resp):
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else None


def _alive(api):
    r = api.get("/subjects", timeout=15)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def test_oversized_body_413_names_limit(fresh):
    fresh.register_ok("keep", {"type": "string"})
    body = b'{"schema": "' + b"x" * (LIMIT + 1) + b'"}'
    try:
        r = fresh.post("/subjects/big/versions", raw=body, timeout=60)
    except requests.ConnectionError:
        # The server may answer and close before reading it all: read the answer raw.
        resp = _raw(fresh, b"POST /subjects/big/versions HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: " + V1.encode() + b"\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        assert _status(resp) == 413, resp[:300]
        err = json.loads(resp.split(b"\r\n\r\n", 1)[1])
        assert str(LIMIT) in err["message"], err
    else:
        assert_error(r, 413, message_contains=str(LIMIT))
    assert _alive(fresh) == ["keep"]


def test_truncated_bodies_then_still_served(fresh):
    for declared, sent in ((1000, 10), (LIMIT, 5), (50, 0)):
        head = (b"POST /subjects/t/versions HTTP/1.1\r\nHost: x\r\nContent-Type: " + V1.encode()
                + b"\r\nContent-Length: " + str(declared).encode() + b"\r\n\r\n")
        # libmicrohttpd does not always notice the half-close at once (the FIN may come in
        # the same read as the data) and then keeps the connection until its timeout: a
        # client that waited 3 s without an answer gives up and closes, which is what a
        # real truncated upload looks like to the server.
        try:
            resp = _raw(fresh, head + b'{"schema"'[:sent], read=True, timeout=3)
        except TimeoutError:
            resp = b""
        # The client stopped writing: either no answer, or a clear 4xx; never a success.
        st = _status(resp)
        assert st is None or 400 <= st < 500, resp[:300]
    assert _alive(fresh) == [], "a truncated body registered something"


def test_invalid_utf8_in_json_string(fresh):
    for raw in (b'{"schema": "\xff\xfe"}', b'{"schema": "{\\"type\\": \\"enum\\", \\"name\\": \\"E\\",'
                b' \\"symbols\\": [\\"\xc3\\"]}"}', b'{"schema": "\\"string\\"", "x\xed\xa0\x80": 1}'):
        r = fresh.post("/subjects/u/versions", raw=raw)
        assert 400 <= r.status_code < 500, (raw, r.status_code, r.text)
        assert_error(r, r.status_code)
    assert _alive(fresh) == []


def test_invalid_utf8_in_subject(fresh):
    body = json.dumps({"schema": '"string"'}).encode()
    for path in (b"/subjects/%FF%FEbad/versions", b"/subjects/\xff\xfebad/versions"):
        resp = _raw(fresh, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    + V1.encode() + b"\r\nContent-Length: " + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n" + body)
        st = _status(resp)
        assert st is not None and st < 500, resp[:300]
        if st >= 400:
            json.loads(resp.split(b"\r\n\r\n", 1)[1])  # Confluent JSON error, parseable
    # Whatever was accepted, the listing must stay valid JSON (UTF-8).
    subjects = _alive(fresh)
    assert all(isinstance(s, str) for s in subjects), subjects


def test_deeply_nested_json(fresh):
    pid = fresh.registry.proc.pid
    deep = "[" * 100000
    cases = [deep.encode(),                                     # the body itself
             json.dumps({"schema": deep}).encode(),             # the schema text
             json.dumps({"schema": '{"type":' * 50000 + '"string"' + "}" * 50000}).encode()]
    for raw in cases:
        r = fresh.post("/subjects/deep/versions", raw=raw, timeout=60)
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
        assert_error(r, r.status_code)
        assert fresh.registry.proc.poll() is None, "registry died on nested JSON"
    assert vm_rss_kib(pid) < 1024 * 1024
    assert _alive(fresh) == []


def test_ten_megabyte_schemas(fresh):
    pid = fresh.registry.proc.pid
    rss0 = vm_rss_kib(pid)
    doc = "d" * (10 * 1024 * 1024)
    big_doc = {"type": "record", "name": "BigDoc", "doc": doc,
               "fields": [{"name": "a", "type": "long"}]}
    r = fresh.register("bigdoc", big_doc, timeout=120)
    big_status = r.status_code
    assert r.status_code in (200, 413, 422), (r.status_code, r.text[:300])
    if r.status_code == 200:
        sid = r.json()["id"]
        got = fresh.get(f"/schemas/ids/{sid}", timeout=120)
        assert got.status_code == 200 and doc in got.json()["schema"]
    else:
        assert_error(r, r.status_code)
    # Many fields: ~30,000 fields (~1 MB) - the parse, canonical form and fingerprint path.
    many = {"type": "record", "name": "Wide",
            "fields": [{"name": f"f{i}", "type": "long"} for i in range(30000)]}
    r = fresh.register("wide", many, timeout=120)
    assert r.status_code in (200, 413, 422), (r.status_code, r.text[:300])
    rss1 = vm_rss_kib(pid)
    print(f"10 MB doc -> {big_status}, 30,000 fields -> {r.status_code}; VmRSS {rss0} -> {rss1} KiB")
    # A 10 MB body is held a few times over (body, JSON, schema, canonical form); 1 GiB bound.
    assert rss1 - rss0 < 1024 * 1024, f"VmRSS {rss0} -> {rss1} KiB for a 10 MB schema"
    assert fresh.registry.proc.poll() is None
    _alive(fresh)
