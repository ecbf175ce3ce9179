"""The entity layer of the Java binding (update builder, envelope decoder, producer and
registry look-up), on tests/vectors/person.avsc, checked with Avro Java's generic API."""
import http.server
import json
import subprocess
import threading

from java_support import ROOT, HERE


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


def test_entity_layer(generate):
    schema = (ROOT / "tests" / "vectors" / "person.avsc").read_text()
    b = generate(schema, "person")
    b.harness([])  # builds the binding and caches the classpath
    cp = b.classpath()
    cls = b.out / "target" / "entitycheck"
    subprocess.run(["javac", "-J-XX:TieredStopAtLevel=1", "--release", "17", "-Xlint:all",
                    "-Werror", "-cp", cp, "-d", str(cls), str(HERE / "EntityCheck.java")],
                   check=True)
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
