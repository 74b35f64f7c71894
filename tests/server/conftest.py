"""A real server on 127.0.0.1 (free port) over an in-memory Store, plus stubs for raw calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np
import pytest

from chroma_grpc.store import Store
from chroma_grpc.store.types import CollectionInfo, RecordBatch
from chroma_grpc.v1 import (
    collection_service_pb2_grpc,
    record_service_pb2_grpc,
    system_service_pb2_grpc,
)
from tests.helpers.servers import serve_in_process


@dataclass
class Stubs:
    system: system_service_pb2_grpc.SystemServiceStub
    collections: collection_service_pb2_grpc.CollectionServiceStub
    records: record_service_pb2_grpc.RecordServiceStub


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store(None, allow_reset=True)
    yield store
    store.close()


@pytest.fixture
def address(store: Store) -> Iterator[str]:
    with serve_in_process(store) as address:
        yield address


@pytest.fixture
def channel(address: str) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(address)
    yield channel
    channel.close()


@pytest.fixture
def stubs(channel: grpc.Channel) -> Stubs:
    return Stubs(
        system_service_pb2_grpc.SystemServiceStub(channel),
        collection_service_pb2_grpc.CollectionServiceStub(channel),
        record_service_pb2_grpc.RecordServiceStub(channel),
    )


@pytest.fixture
def collection(store: Store) -> CollectionInfo:
    """A collection holding three 2-d records with metadata and documents."""
    info, _ = store.create_collection("seeded")
    store.add(
        info.id,
        RecordBatch(
            ids=["a", "b", "c"],
            embeddings=np.array([[0, 0], [1, 0], [0, 1]], np.float32),
            metadatas=[{"n": 1}, {"n": 2}, {"n": 3}],
            documents=["apple", "banana", "cherry"],
        ),
    )
    return store.get_collection(collection_id=info.id)
