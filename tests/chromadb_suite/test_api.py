"""chromadb 0.4.24's test_api, with our fixtures (conftest.py)."""

from chromadb.test.test_api import *  # noqa: F403
