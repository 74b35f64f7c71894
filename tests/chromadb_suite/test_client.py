"""chromadb 0.4.24's test_client, with our fixtures (conftest.py)."""

from collections.abc import Iterator

import pytest
from chromadb.test.test_client import *  # noqa: F403

import chroma_grpc


@pytest.fixture
def http_api(server_address: str) -> Iterator[chroma_grpc.ClientAPI]:
    """An ``HttpClient`` of our server. chromadb's fixture patches its private
    ``Client._validate_tenant_database`` so that ``HttpClient()`` builds with no server."""
    host, _, port = server_address.rpartition(":")
    client = chroma_grpc.HttpClient(host, int(port))
    yield client
    client.clear_system_cache()
