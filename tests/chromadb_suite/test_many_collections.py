"""chromadb 0.4.24's stress.test_many_collections, on our PersistentClient."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.test.stress.test_many_collections import *  # noqa: F403

import chroma_grpc


@pytest.fixture
def api(tmp_path: Path) -> Iterator[chroma_grpc.ClientAPI]:
    """A PersistentClient: the test returns at once for any other client."""
    yield chroma_grpc.PersistentClient(tmp_path, chroma_grpc.Settings(allow_reset=True))
