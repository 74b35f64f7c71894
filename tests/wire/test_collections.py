"""CollectionInfo round-trips, absent fields included."""

from __future__ import annotations

import pytest

from chroma_grpc.store.types import CollectionInfo
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.collections import from_proto_collection, to_proto_collection


@pytest.mark.parametrize(
    "info",
    [
        CollectionInfo(id="6f1c0b8e-52a3-4c1b-9d0e-3f2a1b4c5d6e", name="docs", metadata=None),
        CollectionInfo(
            id="6f1c0b8e-52a3-4c1b-9d0e-3f2a1b4c5d6e",
            name="docs",
            metadata={"hnsw:space": "cosine", "n": 3, "f": 0.5, "b": False},
            dimension=384,
            tenant="t",
            database="d",
        ),
    ],
)
def test_collection_round_trips(info: CollectionInfo) -> None:
    wire = to_proto_collection(info).SerializeToString()
    assert from_proto_collection(types_pb2.Collection.FromString(wire)) == info


def test_dimension_zero_is_not_absent() -> None:
    info = CollectionInfo(id="x", name="abc", metadata=None, dimension=0)
    assert from_proto_collection(to_proto_collection(info)).dimension == 0
