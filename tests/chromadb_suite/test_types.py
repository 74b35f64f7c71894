"""chromadb 0.4.24's api.test_types, with our fixtures (conftest.py)."""

from chromadb.test.api.test_types import *  # noqa: F403
