"""chromadb 0.4.24's client.test_multiple_clients_concurrency, with our fixtures (conftest.py)."""

from chromadb.test.client.test_multiple_clients_concurrency import *  # noqa: F403
