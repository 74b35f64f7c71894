"""The log's operations: store types <-> ``chroma_grpc.cluster.v1.LogOp`` bytes.

A gateway encodes each shard's part of a write or delete once; every replica of the shard
decodes and applies it with the single-node store's own method, so replaying the log in order
rebuilds the same records anywhere. Batches reuse the public wire encoding
(:mod:`chroma_grpc.wire.records`), so what a replica applies is exactly what a single-node
server would have decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from chroma_grpc.cluster.v1 import log_pb2
from chroma_grpc.store.types import RecordBatch, Where, WhereDocument
from chroma_grpc.wire.filters import (
    from_proto_where,
    from_proto_where_document,
    to_proto_where,
    to_proto_where_document,
)
from chroma_grpc.wire.records import iter_batch_chunks, merge_batch_chunks

WriteKind = Literal["add", "upsert", "update"]
_KINDS: dict[WriteKind, log_pb2.WriteKind.ValueType] = {
    "add": log_pb2.WRITE_KIND_ADD,
    "upsert": log_pb2.WRITE_KIND_UPSERT,
    "update": log_pb2.WRITE_KIND_UPDATE,
}
_KIND_NAMES = {value: name for name, value in _KINDS.items()}
# One chunk: a log message carries a shard's whole part of a write.
_WHOLE = 1 << 62


@dataclass(frozen=True)
class WriteRecords:
    kind: WriteKind
    batch: RecordBatch


@dataclass(frozen=True)
class DeleteRecords:
    ids: list[str] | None
    where: Where | None
    where_document: WhereDocument | None


Operation = Union[WriteRecords, DeleteRecords]


def record_count(op: Operation) -> int:
    """Records a write carries (a delete by ids: the ids; by filter: 1)."""
    if isinstance(op, WriteRecords):
        return len(op.batch.ids)
    return len(op.ids) if op.ids is not None else 1


def encode(op: Operation) -> bytes:
    message = log_pb2.LogOp()
    if isinstance(op, WriteRecords):
        message.write.kind = _KINDS[op.kind]
        message.write.batch.CopyFrom(next(iter_batch_chunks(op.batch, _WHOLE)))
    else:
        message.delete.by_ids = op.ids is not None
        message.delete.ids.extend(op.ids or [])
        if op.where:
            message.delete.where.CopyFrom(to_proto_where(op.where))
        if op.where_document:
            message.delete.where_document.CopyFrom(to_proto_where_document(op.where_document))
    return message.SerializeToString()


def decode(data: bytes) -> Operation:
    message = log_pb2.LogOp.FromString(data)
    if message.WhichOneof("op") == "write":
        batch = merge_batch_chunks([message.write.batch], max_batch_size=_WHOLE)
        return WriteRecords(_KIND_NAMES[message.write.kind], batch)
    delete = message.delete
    return DeleteRecords(
        ids=list(delete.ids) if delete.by_ids else None,
        where=from_proto_where(delete.where) or None if delete.HasField("where") else None,
        where_document=from_proto_where_document(delete.where_document) or None
        if delete.HasField("where_document")
        else None,
    )
