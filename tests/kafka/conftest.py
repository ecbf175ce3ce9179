"""conftest.py - tests/kafka: the broker fixtures of kafka_fixture.py for test_broker.py.

(Imported by name, not through pytest_plugins, which pytest allows only in a root
conftest; other test folders can do the same.)"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kafka_fixture import kafka, kafka_broker  # noqa: E402,F401
from sanitizer_guard import sanitizer_guard, sanitizer_reports_dir  # noqa: E402,F401

__all__ = ["kafka", "kafka_broker"]
