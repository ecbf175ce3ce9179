"""canon_registry.py - a `canon registry` process for the real-Kafka test suites.

tests/tools, tests/aggregator, tests/bindings (Kafka helpers), tests/translators and
tests/examples all need the same thing next to their broker: the project's own registry on
a free port with a database of the test's own, stopped with SIGTERM at the end and checked
for a clean exit and for sanitizer reports (the suites also run against the ASan + UBSan
binary). CANON_BIN names the canon binary (default: build/canon of the checkout).

The suites' `canon` and `registry` fixtures come from registry_fixtures() below:

    from canon_registry import registry_fixtures
    canon, registry = registry_fixtures(person=True)  # module globals: pytest finds them
"""
import json
import os
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def canon_bin():
    path = os.environ.get("CANON_BIN", str(ROOT / "build" / "canon"))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise pytest.UsageError(f"CANON_BIN={path!r} is not an executable canon binary")
    return path


class Registry:
    """`canon registry --listen 127.0.0.1:0 --db DB`, its URL read from its first line."""

    def __init__(self, binary, db, log):
        self.log = log
        self.proc = subprocess.Popen(
            [binary, "registry", "--listen", "127.0.0.1:0", "--db", str(db), "--quiet"],
            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"canon registry did not start: {line!r}\n{Path(log).read_text()}")
        self.url = m.group(1)
        self._parsed = {}

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.load(r)

    def parsed(self, schema_id):
        """The schema with that id, parsed by fastavro (cached)."""
        import fastavro
        if schema_id not in self._parsed:
            text = self.get(f"/schemas/ids/{schema_id}")["schema"]
            self._parsed[schema_id] = fastavro.parse_schema(json.loads(text))
        return self._parsed[schema_id]

    def stop(self):
        """SIGTERM; the registry must exit 0 and its stderr hold no sanitizer report."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        text = Path(self.log).read_text(errors="replace")
        assert "Sanitizer" not in text, text[-4000:]
        assert rc == 0, f"registry exited {rc}:\n{text[-2000:]}"


def registry_fixtures(scope="session", person=False):
    """The `canon` fixture (the binary's path) and the `registry` fixture (a Registry of its
    own, stopped and checked at the end of the scope). person: schemas/person.avsc is
    registered at canon.person.entity first, its id in registry.person_entity_id.
    Returns (canon, registry), to be bound to those names in a conftest or test module."""

    @pytest.fixture(scope=scope, name="canon")
    def canon_fixture():
        return canon_bin()

    @pytest.fixture(scope=scope, name="registry")
    def registry_fixture(canon, tmp_path_factory):
        d = tmp_path_factory.mktemp("registry")
        reg = Registry(canon, d / "reg.db", d / "registry.log")
        if person:
            schema = (ROOT / "schemas" / "person.avsc").read_text()
            reg.person_entity_id = reg.post("/subjects/canon.person.entity/versions",
                                            {"schema": schema})["id"]
        yield reg
        reg.stop()

    return canon_fixture, registry_fixture
