"""canon_registry_fetch (codegen/c_runtime/canon_registry.c): the C bindings' way to get a
writer schema by id, against a small HTTP(S) registry stand-in that checks credentials.

What a C consumer meets in production: a registry with access control (docs/security.md:
HTTP basic auth with user:password@ in the URL, or a bearer API key in
CANON_REGISTRY_TOKEN), over HTTPS with a private CA (CANON_REGISTRY_CA), answering 404 for
an unknown id. Each case checks what the function returns, and that no message carries the
password. The real registry's answers for ids are covered by test_kafka_helpers.py.
"""
import base64
import json
import os
import shutil
import subprocess

import pytest

from bindings_support import HERE, ROOT, JsonServer

RUNTIME = os.path.join(ROOT, "codegen", "c_runtime")
SCHEMA = '{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}'


@pytest.fixture(scope="module")
def fetch(tmp_path_factory):
    d = tmp_path_factory.mktemp("fetch")
    exe = str(d / "fetch_check")
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
           "-I", RUNTIME, "-o", exe, os.path.join(HERE, "resolve", "fetch_check.c"),
           os.path.join(RUNTIME, "canon_registry.c"), os.path.join(RUNTIME, "canon_rt.c")]
    libs = ["-lcurl", "-ljansson", "-lm"]
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    r = subprocess.run(cmd + san + libs, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "sanitize" in r.stderr:
        r = subprocess.run(cmd + libs, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]

    def run(url, schema_id, **env):
        e = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        e.pop("CANON_REGISTRY_TOKEN", None)
        e.pop("CANON_REGISTRY_CA", None)
        e.update(env)
        p = subprocess.run([exe, url, str(schema_id)], capture_output=True, text=True,
                           timeout=60, env=e)
        assert p.returncode in (0, 1), p.stderr[-3000:]
        return p.stdout.rstrip("\n")

    return run


class Registry(JsonServer):
    """Answers GET /schemas/ids/7 with SCHEMA, /schemas/ids/8 with a Protobuf schema, any
    other id with 404, and anything without the expected credentials with 401; records the
    Authorization headers it saw."""

    def __init__(self, auth=None, tls=None):
        seen = self.seen = []

        def answer(path, headers):
            seen.append(headers.get("Authorization"))
            if auth is not None and headers.get("Authorization") != auth:
                code, body = 401, {"error_code": 40101, "message": "Authentication required"}
            elif path == "/schemas/ids/7":
                code, body = 200, {"schema": SCHEMA}
            elif path == "/schemas/ids/8":
                code, body = 200, {"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}
            else:
                code, body = 404, {"error_code": 40403, "message": "Schema not found"}
            return code, json.dumps(body).encode()

        super().__init__(answer, tls)


@pytest.fixture
def registry():
    made = []

    def make(**kw):
        r = Registry(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def test_plain_fetch_and_trailing_slash(fetch, registry):
    r = registry()
    assert fetch(r.url, 7) == SCHEMA
    assert fetch(r.url + "/", 7) == SCHEMA
    assert r.seen == [None, None]


def test_unknown_id_names_the_status_and_the_registry_message(fetch, registry):
    r = registry()
    out = fetch(r.url, 99)
    assert out == "error: 8 schema id 99: GET %s/schemas/ids/99: HTTP 404: Schema not found" % r.url


def test_a_schema_that_is_not_avro_is_refused(fetch, registry):
    assert fetch(registry().url, 8) == "error: 8 schema id 8: a PROTOBUF schema, not Avro"


def test_basic_auth_from_the_url_and_no_password_in_messages(fetch, registry):
    want = "Basic " + base64.b64encode(b"crm:s3cret-pw").decode()
    r = registry(auth=want)
    host = r.url.split("://")[1]
    assert fetch("http://crm:s3cret-pw@%s" % host, 7) == SCHEMA
    assert r.seen[-1] == want
    out = fetch("http://crm:wrong-pw@%s" % host, 7)
    assert out.startswith("error: 8 ") and "HTTP 401" in out, out
    assert "wrong-pw" not in out and "crm:" not in out and "http://%s/schemas/ids/7" % host in out
    out = fetch("http://crm:wrong-pw@%s" % host, 99)  # not a 404: auth comes first
    assert "HTTP 401" in out and "wrong-pw" not in out


def test_bearer_key_from_the_environment(fetch, registry):
    r = registry(auth="Bearer cgk_testkey")
    assert fetch(r.url, 7, CANON_REGISTRY_TOKEN="cgk_testkey") == SCHEMA
    assert r.seen[-1] == "Bearer cgk_testkey"
    assert "HTTP 401" in fetch(r.url, 7)  # no key
    out = fetch(r.url, 7, CANON_REGISTRY_TOKEN="cgk\r\nX-Evil: 1")
    assert out == "error: 8 schema id 7: CANON_REGISTRY_TOKEN holds a line break or is too long"
    assert r.seen.count("Bearer cgk_testkey") == 1 and len(r.seen) == 2


def test_unreachable_registry(fetch):
    out = fetch("http://127.0.0.1:1", 7)
    assert out.startswith("error: 8 schema id 7: GET http://127.0.0.1:1/schemas/ids/7: "), out


def test_https_with_a_private_ca(fetch, registry, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("no openssl to make a certificate")
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    r = registry(tls=(cert, key))
    out = fetch(r.url, 7)  # not trusted without the CA
    assert out.startswith("error: 8 schema id 7: GET https://") and "certificate" in out.lower(), out
    assert fetch(r.url, 7, CANON_REGISTRY_CA=cert) == SCHEMA
