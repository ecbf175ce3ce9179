"""conftest.py - fixtures of the CLI tool tests (tests/tools): a real Kafka broker (the
`kafka` fixture of tests/kafka/kafka_fixture.py) and a registry started with `canon
registry` on a free port, holding schemas/person.avsc at canon.person.entity.

CANON_BIN names the canon binary (default: build/canon of the checkout); a binary built
with sanitizers is fine: a registry that reports one fails the test at teardown.
"""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))

from kafka_fixture import kafka, kafka_broker  # noqa: E402,F401
from sanitizer_guard import sanitizer_guard, sanitizer_reports_dir  # noqa: E402,F401
from canon_registry import Registry, canon_bin  # noqa: E402


@pytest.fixture(scope="session")
def canon():
    return canon_bin()


@pytest.fixture(scope="session")
def registry(canon, tmp_path_factory):
    d = tmp_path_factory.mktemp("registry")
    reg = Registry(canon, d / "reg.db", d / "registry.log")
    schema = (ROOT / "schemas" / "person.avsc").read_text()
    reg.person_entity_id = reg.post("/subjects/canon.person.entity/versions", {"schema": schema})["id"]
    yield reg
    reg.stop()
