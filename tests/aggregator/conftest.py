"""conftest.py - fixtures of the aggregator pipeline tests (tests/aggregator): a real Kafka
broker (the `kafka` fixture of tests/kafka/kafka_fixture.py), a registry started with
`canon registry` on a free port, and fixtures around aggregator_support.py's Entity (one
entity of a test's own) and Aggregator (one `canon aggregate` process).

CANON_BIN names the canon binary (default: build/canon of the checkout).
"""
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))

from kafka_fixture import kafka, kafka_broker  # noqa: E402,F401
from sanitizer_guard import sanitizer_guard, sanitizer_reports_dir  # noqa: E402,F401
from canon_registry import registry_fixtures  # noqa: E402
from aggregator_support import Aggregator, Entity  # noqa: E402

canon, registry = registry_fixtures()


@pytest.fixture
def entity(kafka, registry):
    return Entity(kafka, registry)


@pytest.fixture
def aggregator(canon, kafka, registry, tmp_path):
    started = []

    def make(entity, **kw):
        a = Aggregator(canon, kafka, registry, entity, tmp_path / f"agg{len(started)}.log", **kw)
        started.append(a)
        return a.start()

    yield make
    # A graceful stop must be clean: exit 0 (a LeakSanitizer report at exit also makes it
    # non-zero) and no sanitizer report. Instances a test killed or stopped itself were
    # checked by the test (Aggregator.stop()).
    unclean = []
    for a in started:
        if a.proc and a.proc.poll() is None:
            a.proc.send_signal(signal.SIGTERM)
            try:
                rc = a.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                a.proc.kill()
                rc = "no exit 30 s after SIGTERM"
            if rc != 0:
                unclean.append(f"{a.log}: {rc}\n{a.text()[-2000:]}")
        a.check_clean()
    assert not unclean, "aggregator stopped uncleanly:\n" + "\n".join(unclean)


@pytest.fixture
def entity_factory(kafka, registry):
    """Makes entities with a chosen partition count (the `entity` fixture has 3)."""
    def make(partitions=3):
        return Entity(kafka, registry, partitions)
    return make
