"""float32 matrices <-> ``Vectors``: one packed little-endian buffer per batch, no Python lists.

Every size check runs before anything is allocated, so a request claiming a huge dimension or
count is INVALID_ARGUMENT rather than a MemoryError.
"""

from __future__ import annotations

import numpy as np

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import Vectors
from chroma_grpc.v1 import types_pb2

_FLOAT32_LE = np.dtype("<f4")
FLOAT32_BYTES = 4


def to_proto_vectors(vectors: Vectors) -> types_pb2.Vectors:
    """Pack a ``(count, dimension)`` array; any float dtype is cast to little-endian float32."""
    array = np.ascontiguousarray(vectors, dtype=_FLOAT32_LE)
    if array.ndim != 2:
        raise InvalidArgumentError(
            f"Expected embeddings to be a 2-D array (count, dimension), got shape {array.shape}"
        )
    return types_pb2.Vectors(dimension=array.shape[1], packed_float32=array.tobytes())


def from_proto_vectors(
    message: types_pb2.Vectors,
    *,
    field: str,
    max_dimension: int,
    expected_count: int | None = None,
    copy: bool = True,
) -> Vectors:
    """Decode and validate a ``Vectors`` message into a ``(count, dimension)`` float32 array.

    ``copy=False`` returns a read-only view of the message's bytes (for callers that copy
    anyway, e.g. when concatenating chunks).
    """
    packed = message.packed_float32
    values = message.values
    dimension = message.dimension
    if packed and len(values):
        raise InvalidArgumentError(
            f"{field}: set either packed_float32 or values, not both", field=field
        )
    total = len(packed) // FLOAT32_BYTES if packed else len(values)
    if total == 0 and len(packed) == 0:
        _check_count(0, expected_count, field)
        return np.empty((0, dimension if 0 < dimension <= max_dimension else 0), np.float32)
    if dimension == 0:
        raise InvalidArgumentError(
            f"{field}.dimension: must be > 0 when vectors are present", field=f"{field}.dimension"
        )
    if dimension > max_dimension:
        raise InvalidArgumentError(
            f"{field}.dimension: {dimension} exceeds the maximum dimension {max_dimension}; "
            "use smaller vectors (the limit is the server's --max-dimension)",
            field=f"{field}.dimension",
        )
    if packed and len(packed) % (FLOAT32_BYTES * dimension):
        raise InvalidArgumentError(
            f"{field}.packed_float32: length {len(packed)} bytes is not a multiple of "
            f"4 * dimension ({FLOAT32_BYTES * dimension}); send count * dimension "
            "little-endian float32 values",
            field=f"{field}.packed_float32",
        )
    if not packed and total % dimension:
        raise InvalidArgumentError(
            f"{field}.values: {total} values is not a multiple of dimension {dimension}",
            field=f"{field}.values",
        )
    count = total // dimension
    _check_count(count, expected_count, field)
    if packed:
        array = np.frombuffer(packed, dtype=_FLOAT32_LE).reshape(count, dimension)
        array = array.astype(np.float32, copy=copy)
    else:
        array = np.asarray(values, dtype=np.float32).reshape(count, dimension)
    if not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise InvalidArgumentError(
            f"{field}: vector {row} contains NaN or infinity; embeddings must be finite",
            field=field,
        )
    return array


def _check_count(count: int, expected: int | None, field: str) -> None:
    if expected is not None and count != expected:
        raise InvalidArgumentError(
            f"{field}: got {count} vectors for {expected} records; send one vector per record",
            field=field,
        )
