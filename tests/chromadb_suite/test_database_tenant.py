"""chromadb 0.4.24's client.test_database_tenant, with our fixtures (conftest.py)."""

from chromadb.test.client.test_database_tenant import *  # noqa: F403
