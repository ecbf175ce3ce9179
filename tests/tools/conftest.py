"""conftest.py - fixtures of the CLI tool tests (tests/tools): a real Kafka broker (the
`kafka` fixture of tests/kafka/kafka_fixture.py) and a registry started with `canon
registry` on a free port, holding schemas/person.avsc at canon.person.entity.

CANON_BIN names the canon binary (default: build/canon of the checkout); a binary built
with sanitizers is fine: a registry that reports one fails the test at teardown.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))

from kafka_fixture import kafka, kafka_broker  # noqa: E402,F401
from sanitizer_guard import sanitizer_guard, sanitizer_reports_dir  # noqa: E402,F401
from canon_registry import registry_fixtures  # noqa: E402

canon, registry = registry_fixtures(person=True)
