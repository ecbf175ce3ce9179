"""test_tls.py - the registry over HTTPS, and the tools' registry client (issue 7).

A throw-away PKI made with `openssl` in a temp dir: a CA, a server certificate for
127.0.0.1 and localhost signed by it, another CA nobody uses, a certificate naming another
host, and a client CA with a client certificate for mutual TLS. Checked:

  - `canon registry --tls-cert --tls-key` serves HTTPS: requests trusting the CA work,
    plain HTTP to the port gets no answer, a client trusting another CA is refused;
  - confluent-kafka's SchemaRegistryClient works against it with ssl.ca.location;
  - the tools' client (`canon gen --registry https://...`) works with CANON_REGISTRY_CA,
    and without it, or against a certificate naming another host, fails saying why;
  - `--tls-client-ca`: a client without a certificate from that CA is refused, one with
    it (requests, and the tools via CANON_REGISTRY_CERT/KEY) is served;
  - a missing or garbage certificate, a key that does not match, a lone --tls-cert: the
    registry does not start and says which file and why;
  - credentials: user:password in the URL become HTTP basic auth, CANON_REGISTRY_TOKEN a
    bearer token; no message and no generated file carries the password;
  - `canon serve --tls-cert`: its aggregator talks to its own registry over HTTPS.
"""
import base64
import http.server
import json
import os
import re
import subprocess
import threading
import time

import pytest
import requests

from helpers import Registry, canon_bin

PERSON = json.dumps({"type": "record", "name": "Person", "namespace": "t",
                     "fields": [{"name": "id", "type": "string"},
                                {"name": "email", "type": ["null", "string"], "default": None}]})


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj",
            f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d, name, ca, san, usage):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n" + (f"subjectAltName={san}\n" if san else ""))
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other_ca")
    make_ca(d, "client_ca")
    make_leaf(d, "server", "ca", "IP:127.0.0.1,DNS:localhost", "serverAuth")
    make_leaf(d, "elsewhere", "ca", "DNS:registry.example.com", "serverAuth")
    make_leaf(d, "client", "client_ca", None, "clientAuth")
    make_leaf(d, "stranger", "other_ca", None, "clientAuth")
    (d / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                                   "-----END CERTIFICATE-----\n")
    return d


def start(tmp_path, name, pki, cert="server", extra=(), verify=True, client=None):
    reg = Registry(tmp_path / f"{name}.db", tmp_path / f"{name}.log",
                   extra_args=["--tls-cert", pki / f"{cert}.pem", "--tls-key", pki / f"{cert}.key",
                               *extra])
    reg.verify = str(pki / "ca.pem") if verify else False
    reg.cert = client
    return reg.start()


def finish(reg):
    rc = reg.stop()
    assert not reg.sanitizer_reports(), reg.sanitizer_excerpt()
    assert rc == 0, reg.stderr_tail()


@pytest.fixture(scope="module")
def tls_registry(pki, tmp_path_factory):
    reg = start(tmp_path_factory.mktemp("tls"), "registry", pki)
    yield reg
    finish(reg)


def register(url, subject, verify, **kw):
    r = requests.post(f"{url}/subjects/{subject}/versions", json={"schema": PERSON},
                      verify=verify, timeout=10, **kw)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def canon(*args, env=None, timeout=60):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CANON_REGISTRY_")}
    e.update(env or {})
    r = subprocess.run([canon_bin(), *args], capture_output=True, text=True, env=e,
                       timeout=timeout)
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr[-4000:]
    return r


def gen(url, subject, out, env=None):
    return canon("gen", "--lang", "python", "--out", str(out), "--registry", url, "--subject",
                 subject, env=env)


# ---- the server -------------------------------------------------------------------------


def test_registry_serves_https_to_a_client_trusting_its_ca(tls_registry, pki):
    assert tls_registry.url.startswith("https://127.0.0.1:")
    ca = str(pki / "ca.pem")
    sid = register(tls_registry.url, "https-value", ca)
    r = requests.get(f"{tls_registry.url}/schemas/ids/{sid}", verify=ca, timeout=10)
    assert r.status_code == 200 and json.loads(r.json()["schema"])["name"] == "Person"
    # by name too: the certificate names localhost
    port = tls_registry.url.rsplit(":", 1)[1]
    r = requests.get(f"https://localhost:{port}/subjects", verify=ca, timeout=10)
    assert r.status_code == 200 and "https-value" in r.json()


def test_plain_http_to_the_tls_port_gets_no_answer(tls_registry):
    plain = tls_registry.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain + "/subjects", timeout=10)
    # and the server still serves TLS clients afterwards
    assert requests.get(tls_registry.url + "/subjects", verify=tls_registry.verify,
                        timeout=10).status_code == 200


def test_a_client_trusting_another_ca_is_refused(tls_registry, pki):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_registry.url + "/subjects", verify=str(pki / "other_ca.pem"), timeout=10)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_registry.url + "/subjects", timeout=10)  # system CAs only


def test_confluent_schema_registry_client_works_over_https(tls_registry, pki):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    c = SchemaRegistryClient({"url": tls_registry.url, "ssl.ca.location": str(pki / "ca.pem")})
    sid = c.register_schema("confluent-https-value", Schema(PERSON, "AVRO"))
    assert json.loads(c.get_schema(sid).schema_str)["name"] == "Person"
    assert c.get_latest_version("confluent-https-value").schema_id == sid


# ---- the tools' client ----------------------------------------------------------------


def test_tools_reach_an_https_registry_with_CANON_REGISTRY_CA(tls_registry, pki, tmp_path):
    register(tls_registry.url, "gen-https-value", tls_registry.verify)
    r = gen(tls_registry.url, "gen-https-value", tmp_path / "g1",
            env={"CANON_REGISTRY_CA": str(pki / "ca.pem")})
    assert r.returncode == 0, r.stderr
    assert "Person" in "".join(p.read_text() for p in (tmp_path / "g1").rglob("*.py"))


def test_tools_without_the_ca_fail_saying_the_certificate_is_not_trusted(tls_registry, tmp_path):
    register(tls_registry.url, "gen-noca-value", tls_registry.verify)
    t0 = time.monotonic()
    r = gen(tls_registry.url, "gen-noca-value", tmp_path / "g2")
    assert r.returncode == 1
    assert time.monotonic() - t0 < 30
    assert f"registry {tls_registry.url}: TLS certificate verification failed" in r.stderr, r.stderr
    assert "issuer is unknown" in r.stderr and "CANON_REGISTRY_CA" in r.stderr, r.stderr
    # a CA file that is not the registry's CA is no better
    r = gen(tls_registry.url, "gen-noca-value", tmp_path / "g2",
            env={"CANON_REGISTRY_CA": str(tls_registry.verify).replace("ca.pem", "other_ca.pem")})
    assert r.returncode == 1 and "TLS certificate verification failed" in r.stderr, r.stderr


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tools_refuse_a_certificate_that_names_another_host(pki, tmp_path):
    reg = start(tmp_path, "elsewhere", pki, cert="elsewhere", verify=False)
    try:
        reg_url = reg.url
        # requests agrees the name is wrong
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(reg_url + "/subjects", verify=str(pki / "ca.pem"), timeout=10)
        r = gen(reg_url, "x-value", tmp_path / "g", env={"CANON_REGISTRY_CA": str(pki / "ca.pem")})
        assert r.returncode == 1
        assert "TLS certificate verification failed" in r.stderr, r.stderr
        assert "does not name the host 127.0.0.1" in r.stderr, r.stderr
    finally:
        finish(reg)


def test_tools_bad_CANON_REGISTRY_CA_is_reported_by_name(tls_registry, tmp_path):
    r = gen(tls_registry.url, "x-value", tmp_path / "g",
            env={"CANON_REGISTRY_CA": str(tmp_path / "no-such-ca.pem")})
    assert r.returncode == 1 and "CANON_REGISTRY_CA" in r.stderr and "no-such-ca.pem" in r.stderr


def test_https_client_to_a_plain_http_registry_says_so(tmp_path):
    reg = Registry(tmp_path / "plain.db", tmp_path / "plain.log").start()
    try:
        url = reg.url.replace("http://", "https://")
        r = gen(url, "x-value", tmp_path / "g")
        assert r.returncode == 1 and "TLS handshake failed" in r.stderr, r.stderr
    finally:
        finish(reg)


# ---- mutual TLS ----------------------------------------------------------------------


def test_client_certificates_are_required_with_tls_client_ca(pki, tmp_path):
    client = (str(pki / "client.pem"), str(pki / "client.key"))
    reg = start(tmp_path, "mtls", pki, extra=["--tls-client-ca", pki / "client_ca.pem"],
                client=client)
    ca = str(pki / "ca.pem")
    stranger = (str(pki / "stranger.pem"), str(pki / "stranger.key"))
    try:
        sid = register(reg.url, "mtls-value", ca, cert=client)
        for cert in (None, stranger):
            with pytest.raises(requests.exceptions.ConnectionError):
                requests.get(f"{reg.url}/schemas/ids/{sid}", verify=ca, cert=cert, timeout=10)
        env = {"CANON_REGISTRY_CA": ca}
        r = gen(reg.url, "mtls-value", tmp_path / "g0", env=env)
        assert r.returncode == 1, r.stderr
        env.update(CANON_REGISTRY_CERT=client[0], CANON_REGISTRY_KEY=client[1])
        r = gen(reg.url, "mtls-value", tmp_path / "g1", env=env)
        assert r.returncode == 0, r.stderr
        r = gen(reg.url, "mtls-value", tmp_path / "g2",
                env={"CANON_REGISTRY_CA": ca, "CANON_REGISTRY_CERT": client[0]})
        assert r.returncode == 1 and "go together" in r.stderr, r.stderr
    finally:
        finish(reg)


# ---- start-up errors -------------------------------------------------------------------


def registry_fails(tmp_path, *args):
    r = subprocess.run([canon_bin(), "registry", "--listen", "127.0.0.1:0", "--db",
                        str(tmp_path / "x.db"), *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stdout
    assert "listening" not in r.stdout
    assert "Sanitizer" not in r.stderr, r.stderr
    return r.stderr


def test_bad_tls_files_stop_the_start_with_a_message_naming_the_file(pki, tmp_path):
    err = registry_fails(tmp_path, "--tls-cert", tmp_path / "nope.pem", "--tls-key",
                         pki / "server.key")
    assert "TLS certificate" in err and "nope.pem" in err and "No such file" in err, err
    err = registry_fails(tmp_path, "--tls-cert", pki / "garbage.pem", "--tls-key",
                         pki / "server.key")
    assert "garbage.pem" in err and "not a PEM certificate" in err, err
    err = registry_fails(tmp_path, "--tls-cert", pki / "server.pem", "--tls-key",
                         pki / "garbage.pem")
    assert "TLS key" in err and "garbage.pem" in err, err
    err = registry_fails(tmp_path, "--tls-cert", pki / "server.pem", "--tls-key",
                         pki / "client.key")
    assert "server.pem" in err and "client.key" in err and "do not match" in err, err
    err = registry_fails(tmp_path, "--tls-cert", pki / "server.pem")
    assert "both a certificate file and a key file" in err, err
    err = registry_fails(tmp_path, "--tls-cert", pki / "server.pem", "--tls-key",
                         pki / "server.key", "--tls-client-ca", pki / "garbage.pem")
    assert "client CA" in err and "garbage.pem" in err, err


# ---- credentials -------------------------------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET as a registry that does not know the subject, recording the
    Authorization header it got."""
    seen = []

    def do_GET(self):
        Recorder.seen.append(self.headers.get("Authorization"))
        body = json.dumps({"error_code": 40401, "message": "Subject 'x' not found."}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def recorder():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    Recorder.seen = []
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_url_credentials_become_basic_auth_and_are_never_printed(recorder, tmp_path):
    url = f"http://us%40er:p%3As%40ss@127.0.0.1:{recorder}/"
    r = gen(url, "x", tmp_path / "g")
    assert r.returncode == 1 and "not found" in r.stderr, r.stderr
    assert Recorder.seen == ["Basic " + base64.b64encode(b"us@er:p:s@ss").decode()]
    assert "p%3As%40ss" not in r.stderr and "p:s@ss" not in r.stderr and "us%40er" not in r.stderr
    assert f"registry http://127.0.0.1:{recorder}:" in r.stderr, r.stderr


def test_CANON_REGISTRY_TOKEN_is_sent_as_a_bearer_token(recorder, tmp_path):
    r = gen(f"http://127.0.0.1:{recorder}", "x", tmp_path / "g",
            env={"CANON_REGISTRY_TOKEN": "tok-123"})
    assert r.returncode == 1
    assert Recorder.seen == ["Bearer tok-123"]
    assert "tok-123" not in r.stderr
    # credentials in the URL take precedence over the environment's token
    Recorder.seen = []
    gen(f"http://a:b@127.0.0.1:{recorder}", "x", tmp_path / "g",
        env={"CANON_REGISTRY_TOKEN": "tok-123"})
    assert Recorder.seen == ["Basic " + base64.b64encode(b"a:b").decode()]
    Recorder.seen = []
    gen(f"http://127.0.0.1:{recorder}", "x", tmp_path / "g")
    assert Recorder.seen == [None]


def test_generated_code_never_carries_the_password(tls_registry, pki, tmp_path):
    register(tls_registry.url, "gen-cred-value", tls_registry.verify)
    url = tls_registry.url.replace("https://", "https://bob:hunter2@")
    r = gen(url, "gen-cred-value", tmp_path / "g", env={"CANON_REGISTRY_CA": str(pki / "ca.pem")})
    assert r.returncode == 0, r.stderr
    text = "".join(p.read_text() for p in (tmp_path / "g").rglob("*") if p.is_file())
    assert tls_registry.url in text  # the origin is recorded...
    assert "hunter2" not in text and "bob:" not in text  # ...without the credentials


# ---- canon serve -----------------------------------------------------------------------


def test_serve_with_tls_runs_its_aggregator_against_its_own_https_registry(pki, tmp_path):
    log = tmp_path / "serve.log"
    p = subprocess.Popen([canon_bin(), "serve", "--listen", "127.0.0.1:0", "--db",
                          str(tmp_path / "s.db"), "--tls-cert", str(pki / "server.pem"),
                          "--tls-key", str(pki / "server.key"), "--no-transactions"],
                         stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                         env={k: v for k, v in os.environ.items()
                              if not k.startswith("CANON_REGISTRY_")})
    try:
        line = p.stdout.readline()
        m = re.search(r"listening on (https://\S+)", line)
        assert m, line + log.read_text()
        # The aggregator polls GET /canon/entities over HTTPS; the access log shows it.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"GET /canon/entities" 200' not in log.read_text():
            assert p.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert '"GET /canon/entities" 200' in log.read_text(), log.read_text()[-3000:]
        assert requests.get(m.group(1) + "/subjects", verify=str(pki / "ca.pem"),
                            timeout=10).status_code == 200
    finally:
        p.terminate()
        rc = p.wait(timeout=60)
        p.stdout.close()
    text = log.read_text(errors="replace")
    assert rc == 0, text[-3000:]
    assert "Sanitizer" not in text and "runtime error:" not in text, text[-4000:]
