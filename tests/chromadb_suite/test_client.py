"""chromadb 0.4.24's test_client, with our fixtures (conftest.py)."""

from chromadb.test.test_client import *  # noqa: F403
