"""conftest.py - fixtures of the Python binding tests (tests/bindings/python); the
helpers are in pybind_support.py."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pybind_support import ROOT, Generated, import_binding  # noqa: E402


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    return Generated(str(tmp_path_factory.mktemp("pybind")))


@pytest.fixture(scope="session")
def person(generated):
    out = generated("person", os.path.join(ROOT, "schemas", "person.avsc"))
    return import_binding(out, "org.canongate.canon.person")
