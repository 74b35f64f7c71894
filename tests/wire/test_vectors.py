"""Vectors: packed and flat forms decode alike, and every malformed message is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import StoreLimits
from chroma_grpc.store.validation import check_embeddings_shape, check_embeddings_values
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.vectors import from_proto_vectors, to_proto_vectors


def decode(message: types_pb2.Vectors, **kwargs: object) -> np.ndarray:
    return from_proto_vectors(message, field="batch.embeddings", **kwargs)  # type: ignore[arg-type]


def test_packed_round_trip_is_exact_little_endian_float32_without_a_copy() -> None:
    vectors = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    message = to_proto_vectors(vectors)
    assert message.dimension == 7
    assert message.packed_float32 == vectors.astype("<f4").tobytes()
    decoded = decode(message, expected_count=5)
    assert decoded.dtype == np.float32 and decoded.base is not None  # a view of the bytes
    np.testing.assert_array_equal(decoded, vectors)


def test_float64_and_big_endian_input_is_cast() -> None:
    vectors = np.arange(6, dtype=">f8").reshape(2, 3)
    np.testing.assert_array_equal(decode(to_proto_vectors(vectors)), vectors.astype(np.float32))


def test_values_form_decodes_like_packed() -> None:
    message = types_pb2.Vectors(dimension=2, values=types_pb2.FloatList(values=[1, 2, 3, 4]))
    np.testing.assert_array_equal(decode(message), [[1, 2], [3, 4]])


def test_the_two_forms_are_a_oneof() -> None:
    message = types_pb2.Vectors(dimension=2, packed_float32=b"\0" * 8)
    message.values.values.extend([1.0, 2.0])
    assert message.WhichOneof("data") == "values" and not message.packed_float32
    np.testing.assert_array_equal(decode(message), [[1, 2]])


def test_empty_message_is_zero_vectors() -> None:
    assert decode(types_pb2.Vectors()).shape == (0, 0)
    assert decode(types_pb2.Vectors(dimension=4)).shape == (0, 4)


@pytest.mark.parametrize(
    ("message", "field_fragment"),
    [
        (types_pb2.Vectors(dimension=0, packed_float32=b"\0" * 8), "dimension"),
        (types_pb2.Vectors(dimension=3, packed_float32=b"\0" * 8), "packed_float32"),
        (types_pb2.Vectors(dimension=2, packed_float32=b"\0" * 7), "packed_float32"),
        (
            types_pb2.Vectors(dimension=3, values=types_pb2.FloatList(values=[1.0, 2.0])),
            "values",
        ),
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
    with pytest.raises(InvalidArgumentError, match="not a multiple of dimension 2147483647"):
        decode(message)


def test_count_must_match_the_records() -> None:
    with pytest.raises(InvalidArgumentError, match="got 2 vectors for 3 records"):
        decode(to_proto_vectors(np.zeros((2, 4), np.float32)), expected_count=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_cross_the_wire_and_the_store_rejects_them(bad: float) -> None:
    """Finite values are Chroma's rule, checked once by the store, not by the decoder."""
    vectors = np.zeros((3, 2), np.float32)
    vectors[1, 1] = bad
    decoded = decode(to_proto_vectors(vectors))
    assert not np.isfinite(decoded[1, 1])
    with pytest.raises(InvalidArgumentError, match="finite values, got NaN or infinity at pos 1"):
        check_embeddings_values(decoded, StoreLimits(), field="embeddings")


def test_what_the_wire_cannot_carry_fails_the_shape_check() -> None:
    with pytest.raises(InvalidArgumentError, match="2-D"):
        check_embeddings_shape(np.zeros(3, np.float32))
    with pytest.raises(InvalidArgumentError, match="same dimension"):
        check_embeddings_shape([[1.0, 2.0], [1.0]])
    with pytest.raises(InvalidArgumentError, match="non-empty list"):
        check_embeddings_shape(np.zeros((2, 0), np.float32))
