"""pytest fixtures of the Java binding tests; the helpers live in java_support.py (a
module of its own name, since tests/bindings/conftest.py is another `conftest`)."""
from java_support import generate  # noqa: F401  (the session fixture)
