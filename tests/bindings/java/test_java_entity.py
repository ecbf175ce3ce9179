"""The entity layer of the Java binding (update builder, envelope decoder, producer and
registry look-up), on tests/vectors/person.avsc, checked with Avro Java's generic API."""
import http.server
import json
import subprocess
import threading

from java_support import ROOT, compile_program


class FakeRegistry(http.server.BaseHTTPRequestHandler):
    """Answers POST /subjects/canon.person.updates-value with id 42, checking the body."""
    seen = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeRegistry.seen.append((self.path, body))
        ok = self.path == "/subjects/canon.person.updates-value" and "PersonUpdate" in body["schema"]
        out = json.dumps({"id": 42} if ok else {"error_code": 40401}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def compile_check(generate, program):
    """Builds the binding of tests/vectors/person.avsc and compiles the check program
    (e.g. "EntityCheck") against it: (its classpath, the binding's classpath)."""
    schema = (ROOT / "tests" / "vectors" / "person.avsc").read_text()
    return compile_program(generate(schema, "person"), program)


def test_entity_layer(generate):
    cls, cp = compile_check(generate, "EntityCheck")
    srv = http.server.HTTPServer(("127.0.0.1", 0), FakeRegistry)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = subprocess.run(["java", "-Dslf4j.internal.verbosity=ERROR", "-cp", f"{cls}:{cp}",
                            "EntityCheck", f"http://127.0.0.1:{srv.server_port}"],
                           capture_output=True, text=True, timeout=300)
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("\n")[:-1] == ["ok schemas", "ok update builder", "ok delete",
                                         "ok envelope", "ok producer", "ok registry",
                                         "ok builders"], r.stdout
    assert FakeRegistry.seen and FakeRegistry.seen[0][0] == "/subjects/canon.person.updates-value"


def test_envelopes_of_other_versions_resolve_through_the_registry(generate, tmp_path):
    """PersonCanon.envelopeDecoder(registryUrl) (what consumer(kafka, registryUrl) decodes
    with) reads an envelope written with the envelope schema as first derived, whose
    FieldVersion has only source, event_time and seq: the writer schema is fetched by id
    and Avro resolves it (partition and offset: -1). Also its own version, and clear errors
    naming the schema id (ResolveCheck.java)."""
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "kafka"))
    from canon_registry import Registry
    from java_support import canon_bin

    schema = (ROOT / "tests" / "vectors" / "person.avsc").read_text()
    cls, cp = compile_check(generate, "ResolveCheck")
    reg = Registry(canon_bin(), tmp_path / "reg.db", tmp_path / "reg.log")
    try:
        reg.post("/subjects/canon.person.entity/versions", {"schema": schema})
        current = reg.get("/subjects/canon.person-value/versions/latest")
        legacy = json.loads(current["schema"])
        fv = next(f for f in legacy["fields"] if f["name"] == "provenance")["type"]["values"]
        assert [f["name"] for f in fv["fields"]] == ["source", "event_time", "seq",
                                                     "partition", "offset"]
        fv["fields"] = fv["fields"][:3]
        legacy_text = json.dumps(legacy)
        legacy_id = reg.post("/subjects/legacy-person-envelope-value/versions",
                             {"schema": legacy_text})["id"]
        bad = {"type": "record", "name": "PersonEnvelope", "namespace": "org.canongate.canon",
               "fields": [{"name": "key", "type": "string"}]}
        bad_id = reg.post("/subjects/unrelated-value/versions", {"schema": json.dumps(bad)})["id"]
        (tmp_path / "legacy.avsc").write_text(legacy_text)
        r = subprocess.run(["java", "-Dslf4j.internal.verbosity=ERROR", "-cp", f"{cls}:{cp}",
                            "ResolveCheck", reg.url, str(legacy_id), str(tmp_path / "legacy.avsc"),
                            str(current["id"]), str(bad_id)],
                           capture_output=True, text=True, timeout=300)
    finally:
        reg.stop()
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("\n")[:-1] == ["ok legacy envelope",
                                         "ok exact-version decoder refuses legacy bytes",
                                         "ok own envelope", "ok errors", "ok limits",
                                         "ok threads"], r.stdout
