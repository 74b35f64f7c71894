"""float32 matrices <-> ``Vectors``: one packed little-endian buffer per batch, no Python lists.

Decoding checks only what makes bytes into a matrix (a dimension, a length that divides into
rows, one row per record); Chroma's rules about the values (finite, dimension limit) are the
store's. Nothing is allocated from a claimed size: the row count comes from the bytes received.
"""

from __future__ import annotations

import numpy as np

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import Vectors
from chroma_grpc.v1 import types_pb2

_FLOAT32_LE = np.dtype("<f4")
FLOAT32_BYTES = 4


def to_proto_vectors(vectors: Vectors) -> types_pb2.Vectors:
    """Pack a ``(count, dimension)`` float array as little-endian float32 (the caller checked
    the shape: :func:`chroma_grpc.store.validation.check_embeddings_shape`)."""
    array = np.ascontiguousarray(vectors, dtype=_FLOAT32_LE)
    return types_pb2.Vectors(dimension=array.shape[1], packed_float32=array.tobytes())


def from_proto_vectors(
    message: types_pb2.Vectors, *, field: str, expected_count: int | None = None
) -> Vectors:
    """A ``(count, dimension)`` float32 array; packed bytes come back as a read-only view."""
    dimension = message.dimension
    form = message.WhichOneof("data")
    if form == "values":
        total = len(message.values.values)
    elif form == "packed_float32":
        packed = message.packed_float32
        if len(packed) % FLOAT32_BYTES:
            raise InvalidArgumentError(
                f"{field}.packed_float32: length {len(packed)} bytes is not a multiple of 4; "
                "send count * dimension little-endian float32 values",
                field=f"{field}.packed_float32",
            )
        total = len(packed) // FLOAT32_BYTES
    else:
        total = 0
    if total == 0:
        _check_count(0, expected_count, field)
        return np.empty((0, dimension), np.float32) if dimension else np.empty((0, 0), np.float32)
    if dimension == 0:
        raise InvalidArgumentError(
            f"{field}.dimension: must be > 0 when vectors are present", field=f"{field}.dimension"
        )
    if total % dimension:
        part = "values.values" if form == "values" else "packed_float32"
        raise InvalidArgumentError(
            f"{field}.{part}: {total} values is not a multiple of dimension {dimension}; send "
            "count * dimension values",
            field=f"{field}.{part}",
        )
    count = total // dimension
    _check_count(count, expected_count, field)
    if form == "values":
        return np.asarray(message.values.values, dtype=np.float32).reshape(count, dimension)
    array = np.frombuffer(packed, dtype=_FLOAT32_LE).reshape(count, dimension)
    return array.astype(np.float32, copy=False)


def _check_count(count: int, expected: int | None, field: str) -> None:
    if expected is not None and count != expected:
        raise InvalidArgumentError(
            f"{field}: got {count} vectors for {expected} records; send one vector per record",
            field=field,
        )
