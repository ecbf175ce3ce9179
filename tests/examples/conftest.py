"""conftest.py - fixtures of the example domains' tests (tests/examples): a real Kafka
broker (tests/kafka/kafka_fixture.py), a registry (`canon registry` on a free port, holding
schemas/person.avsc at canon.person.entity) and the updates topic canon.person.updates.

CANON_BIN names the canon binary (default: build/canon of the checkout).
"""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kafka"))

from kafka_fixture import kafka, kafka_broker  # noqa: E402,F401
from sanitizer_guard import sanitizer_guard, sanitizer_reports_dir  # noqa: E402,F401
from canon_registry import registry_fixtures  # noqa: E402

UPDATES_TOPIC = "canon.person.updates"
UPDATES_PARTITIONS = 6

canon, registry = registry_fixtures(person=True)


@pytest.fixture(scope="session")
def updates_topic(kafka):
    """canon.person.updates on the session broker (the aggregator would create it; no
    aggregator runs here: the tests read what the translators produce)."""
    md = kafka.admin().list_topics(timeout=10)
    if UPDATES_TOPIC not in md.topics:
        kafka.create_topic(UPDATES_TOPIC, UPDATES_PARTITIONS)
    return UPDATES_TOPIC
