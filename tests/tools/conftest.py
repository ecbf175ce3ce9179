"""conftest.py - fixtures of the CLI tool tests (tests/tools): a real Kafka broker (the
`kafka` fixture of tests/kafka/kafka_fixture.py) and a registry started with `canon
registry` on a free port, holding schemas/person.avsc at canon.person.entity.

CANON_BIN names the canon binary (default: build/canon of the checkout); a binary built
with sanitizers is fine: a registry that reports one fails the test at teardown.
"""
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))

from kafka_fixture import kafka, kafka_broker  # noqa: E402,F401


def canon_bin():
    path = os.environ.get("CANON_BIN", str(ROOT / "build" / "canon"))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise pytest.UsageError(f"CANON_BIN={path!r} is not an executable canon binary")
    return path


@pytest.fixture(scope="session")
def canon():
    return canon_bin()


class Registry:
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

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        text = Path(self.log).read_text(errors="replace")
        assert "Sanitizer" not in text, text[-4000:]
        assert rc == 0, f"registry exited {rc}:\n{text[-2000:]}"


@pytest.fixture(scope="session")
def registry(canon, tmp_path_factory):
    d = tmp_path_factory.mktemp("registry")
    reg = Registry(canon, d / "reg.db", d / "registry.log")
    schema = (ROOT / "schemas" / "person.avsc").read_text()
    reg.person_entity_id = reg.post("/subjects/canon.person.entity/versions", {"schema": schema})["id"]
    yield reg
    reg.stop()
