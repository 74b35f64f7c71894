"""StoreProxy against a real server: large batches within default limits, same exceptions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import chroma_grpc
from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.store import Store
from chroma_grpc.store.errors import (
    CollectionNotFoundError,
    DuplicateIDError,
    InvalidArgumentError,
    InvalidCollectionException,
    InvalidDimensionException,
    UniqueConstraintError,
)
from chroma_grpc.store.types import RecordBatch
from chroma_grpc.wire.errors import ServerUnavailableError


@pytest.fixture
def remote(address: str) -> Iterator[StoreProxy]:
    store = StoreProxy(address)
    yield store
    store.close()


def test_fifty_thousand_384_d_vectors_in_one_add_and_one_get(remote: StoreProxy) -> None:
    info, _ = remote.create_collection("big")
    n, dim = 50_000, 384
    vectors = np.random.default_rng(1).standard_normal((n, dim)).astype(np.float32)
    # More than one request message may hold: only a streamed add can carry it.
    assert vectors.nbytes > remote.server_info.max_receive_message_bytes
    ids = [f"id{i:06d}" for i in range(n)]
    remote.add(info.id, RecordBatch(ids=ids, embeddings=vectors))
    assert remote.count(info.id) == n
    result = remote.get(info.id, include=frozenset({"embeddings"}))
    assert result.ids == ids
    assert result.embeddings is not None
    np.testing.assert_array_equal(result.embeddings, vectors)


def test_server_info_advertises_limits(remote: StoreProxy, store: Store) -> None:
    assert remote.limits == store.limits
    assert remote.allow_reset is True
    info = remote.server_info
    assert info.version == "0.4.24"
    assert info.max_receive_message_bytes == 64 * 1024 * 1024
    assert info.server_side_embedding is False
    assert info.server_version == chroma_grpc.__version__


def test_round_trip_of_every_field(remote: StoreProxy) -> None:
    info, created = remote.create_collection("full", {"hnsw:space": "cosine", "n": 1})
    assert created and info.metadata == {"hnsw:space": "cosine", "n": 1}
    batch = RecordBatch(
        ids=["b", "a"],
        embeddings=np.array([[1, 0], [0, 1]], np.float32),
        metadatas=[{"i": 1, "f": 1.5, "t": True, "s": "x"}, None],
        documents=[None, "doc a"],
        uris=["u://b", None],
    )
    remote.add(info.id, batch)
    everything = frozenset({"embeddings", "metadatas", "documents", "uris"})
    result = remote.get(info.id, include=everything)
    assert result.ids == ["a", "b"]
    assert result.metadatas == [None, {"i": 1, "f": 1.5, "t": True, "s": "x"}]
    assert type(result.metadatas[1]["i"]) is int  # type: ignore[index]
    assert result.documents == ["doc a", None] and result.uris == [None, "u://b"]
    peek = remote.peek(info.id, 1)
    assert peek.ids == ["a"] and peek.embeddings is not None and peek.uris is None
    remote.update(info.id, RecordBatch(ids=["b"], metadatas=[{"i": None, "new": 2}]))  # type: ignore[list-item]
    assert remote.get(info.id, ids=["b"]).metadatas == [{"f": 1.5, "t": True, "s": "x", "new": 2}]
    remote.upsert(info.id, RecordBatch(ids=["c"], embeddings=np.ones((1, 2), np.float32)))
    assert remote.count(info.id) == 3
    assert remote.delete(info.id, where={"new": 2}) == 1
    assert remote.get(info.id, where_document={"$contains": "doc"}).ids == ["a"]
    renamed = remote.modify_collection(info.id, name="renamed")
    assert remote.get_collection(collection_id=info.id) == renamed
    assert [c.name for c in remote.list_collections()] == ["renamed"]
    assert remote.count_collections() == 1
    remote.delete_collection("renamed")
    assert remote.count_collections() == 0


def test_errors_are_the_embedded_stores_classes(remote: StoreProxy, store: Store) -> None:
    info, _ = remote.create_collection("errs")
    remote.add(info.id, RecordBatch(ids=["a"], embeddings=np.ones((1, 2), np.float32)))
    for target in (remote, store):
        with pytest.raises(UniqueConstraintError):
            target.create_collection("errs")
        with pytest.raises(CollectionNotFoundError, match="does not exist"):
            target.get_collection("missing")
        with pytest.raises(InvalidDimensionException, match="dimensionality"):
            target.add(info.id, RecordBatch(ids=["b"], embeddings=np.ones((1, 3), np.float32)))
        with pytest.raises(DuplicateIDError):
            target.add(info.id, RecordBatch(ids=["b", "b"], embeddings=np.ones((2, 2), np.float32)))
        with pytest.raises(InvalidArgumentError, match="Expected where"):
            target.get(info.id, where={"a": 1, "b": 2})
        with pytest.raises(TypeError):
            target.query(info.id, np.ones((1, 2), np.float32), n_results=0)
        with pytest.raises(InvalidCollectionException):
            target.count("not-a-uuid")
        with pytest.raises(ValueError, match="Expected include item"):
            target.get(info.id, include=frozenset({"distances"}))
    assert remote.count(info.id) == 1


def test_unreachable_server_raises_a_connection_error() -> None:
    remote = StoreProxy("127.0.0.1:1", timeout=5)
    with pytest.raises(ServerUnavailableError, match="Could not connect to a Chroma server"):
        remote.heartbeat()
    remote.close()
