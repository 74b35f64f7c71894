"""Vectors: packed and flat forms decode alike, and every malformed message is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.vectors import from_proto_vectors, to_proto_vectors

MAX_DIM = 65_536


def decode(message: types_pb2.Vectors, **kwargs: object) -> np.ndarray:
    return from_proto_vectors(message, field="batch.embeddings", max_dimension=MAX_DIM, **kwargs)


def test_packed_round_trip_is_exact_little_endian_float32() -> None:
    vectors = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    message = to_proto_vectors(vectors)
    assert message.dimension == 7
    assert message.packed_float32 == vectors.astype("<f4").tobytes()
    decoded = decode(message, expected_count=5)
    assert decoded.dtype == np.float32 and decoded.flags.writeable
    np.testing.assert_array_equal(decoded, vectors)


def test_float64_and_big_endian_input_is_cast() -> None:
    vectors = np.arange(6, dtype=">f8").reshape(2, 3)
    np.testing.assert_array_equal(decode(to_proto_vectors(vectors)), vectors.astype(np.float32))


def test_values_form_decodes_like_packed() -> None:
    message = types_pb2.Vectors(dimension=2, values=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(decode(message), [[1, 2], [3, 4]])


def test_empty_message_is_zero_vectors() -> None:
    assert decode(types_pb2.Vectors()).shape == (0, 0)
    assert decode(types_pb2.Vectors(dimension=4)).shape == (0, 4)


@pytest.mark.parametrize(
    ("message", "field_fragment"),
    [
        (types_pb2.Vectors(dimension=2, packed_float32=b"\0" * 8, values=[1, 2]), "not both"),
        (types_pb2.Vectors(dimension=0, packed_float32=b"\0" * 8), "dimension"),
        (types_pb2.Vectors(dimension=3, packed_float32=b"\0" * 8), "packed_float32"),
        (types_pb2.Vectors(dimension=3, values=[1.0, 2.0]), "values"),
        (types_pb2.Vectors(dimension=MAX_DIM + 1, packed_float32=b"\0" * 4), "dimension"),
    ],
)
def test_malformed_vectors_are_invalid_argument(
    message: types_pb2.Vectors, field_fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError, match="batch.embeddings") as info:
        decode(message)
    assert field_fragment in str(info.value)
    assert info.value.field is not None and info.value.field.startswith("batch.embeddings")


def test_a_2gb_claimed_dimension_is_rejected_before_allocating() -> None:
    message = types_pb2.Vectors(dimension=2**31 - 1, packed_float32=b"\0" * 16)
    with pytest.raises(InvalidArgumentError, match="exceeds the maximum dimension"):
        decode(message)


def test_count_must_match_the_records() -> None:
    with pytest.raises(InvalidArgumentError, match="got 2 vectors for 3 records"):
        decode(to_proto_vectors(np.zeros((2, 4), np.float32)), expected_count=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected_naming_the_field_and_row(bad: float) -> None:
    vectors = np.zeros((3, 2), np.float32)
    vectors[1, 1] = bad
    with pytest.raises(InvalidArgumentError, match=r"batch.embeddings: vector 1") as info:
        decode(to_proto_vectors(vectors))
    assert info.value.field == "batch.embeddings"
    with pytest.raises(InvalidArgumentError):
        decode(types_pb2.Vectors(dimension=2, values=vectors.ravel().tolist()))


def test_non_2d_input_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="2-D"):
        to_proto_vectors(np.zeros(3, np.float32))
