"""Fails when a message in types.proto has no converter exercised here (add one when adding a
message), in the spirit of qdrant's test_validate_conversions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chroma_grpc.store.types import CollectionInfo, RecordBatch
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.collections import from_proto_collection, to_proto_collection, to_proto_ref
from chroma_grpc.wire.filters import (
    from_proto_where,
    from_proto_where_document,
    to_proto_where,
    to_proto_where_document,
)
from chroma_grpc.wire.metadata import (
    from_proto_metadata,
    from_proto_value,
    to_proto_metadata,
    to_proto_value,
)
from chroma_grpc.wire.records import (
    from_proto_include,
    iter_batch_chunks,
    merge_batch_chunks,
    to_proto_include,
    to_proto_record,
)
from chroma_grpc.wire.vectors import from_proto_vectors, to_proto_vectors


def vectors() -> None:
    array = np.eye(3, dtype=np.float32)
    assert (from_proto_vectors(to_proto_vectors(array), field="v") == array).all()


def metadata_value() -> None:
    assert from_proto_value(to_proto_value(7), field="v") == 7


def metadata() -> None:
    assert from_proto_metadata(to_proto_metadata({"a": 1}), field="m") == {"a": 1}


def where() -> None:  # Where, WhereChildren, FieldCondition
    tree = {"$or": [{"a": {"$in": [1, 2]}}, {"b": {"$gt": 0.5}}]}
    assert from_proto_where(to_proto_where(tree)) == tree


def where_document() -> None:  # WhereDocument, WhereDocumentChildren, DocumentCondition
    tree = {"$and": [{"$contains": "x"}, {"$not_contains": "y"}]}
    assert from_proto_where_document(to_proto_where_document(tree)) == tree


def include() -> None:
    assert from_proto_include(to_proto_include({"documents"})) == {"documents"}


def collection_ref() -> None:
    assert to_proto_ref(name="docs").WhichOneof("collection") == "name"
    assert to_proto_ref(collection_id="i").id == "i"


def float_list() -> None:  # the JSON form of Vectors
    message = types_pb2.Vectors(dimension=1, values=types_pb2.FloatList(values=[2.0]))
    assert from_proto_vectors(message, field="v").tolist() == [[2.0]]


def record_batch() -> None:  # RecordBatch, Record
    batch = RecordBatch(ids=["a"], documents=["d"], embeddings=np.ones((1, 2), np.float32))
    assert to_proto_record("a", document="d").document == "d"
    merged = merge_batch_chunks(iter_batch_chunks(batch), max_batch_size=8)
    assert merged.ids == ["a"] and merged.documents == ["d"]


def collection() -> None:
    info = CollectionInfo(id="i", name="abc", metadata=None)
    assert from_proto_collection(to_proto_collection(info)) == info


CONVERTERS: dict[str, Callable[[], None]] = {
    "Vectors": vectors,
    "MetadataValue": metadata_value,
    "Metadata": metadata,
    "Where": where,
    "WhereChildren": where,
    "FieldCondition": where,
    "MetadataValues": where,
    "WhereDocument": where_document,
    "WhereDocumentChildren": where_document,
    "DocumentCondition": where_document,
    "Include": include,
    "Record": record_batch,
    "RecordBatch": record_batch,
    "Collection": collection,
    "CollectionRef": collection_ref,
    "FloatList": float_list,
}


def test_every_types_proto_message_has_a_converter() -> None:
    messages = set(types_pb2.DESCRIPTOR.message_types_by_name)
    assert messages == set(CONVERTERS), (
        f"without a converter: {sorted(messages - set(CONVERTERS))}; "
        f"stale entries: {sorted(set(CONVERTERS) - messages)}"
    )


def test_every_converter_round_trips() -> None:
    for check in set(CONVERTERS.values()):
        check()
