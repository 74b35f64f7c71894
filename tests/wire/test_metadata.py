"""Metadata keeps each value's type across the wire; None travels as null_value; untyped values
are rejected."""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from chroma_grpc.store.errors import InvalidArgumentError, InvalidArgumentTypeError
from chroma_grpc.store.validation import check_metadata_shape
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.metadata import (
    from_proto_metadata,
    from_proto_value,
    to_proto_metadata,
    to_proto_value,
)

scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
metadatas = st.dictionaries(st.text(), scalars, max_size=8)


@given(metadatas)
def test_metadata_round_trips_with_exact_types(metadata: dict[str, object]) -> None:
    decoded = from_proto_metadata(to_proto_metadata(metadata), field="metadata")  # type: ignore[arg-type]
    assert decoded == metadata
    assert [type(v) for v in decoded.values()] == [type(metadata[k]) for k in decoded]


@given(metadatas)
def test_metadata_survives_serialization(metadata: dict[str, object]) -> None:
    wire = to_proto_metadata(metadata).SerializeToString()  # type: ignore[arg-type]
    decoded = from_proto_metadata(types_pb2.Metadata.FromString(wire), field="metadata")
    assert decoded == metadata


def test_int_stays_int_and_bool_stays_bool() -> None:
    assert to_proto_value(1).WhichOneof("value") == "int_value"
    assert to_proto_value(True).WhichOneof("value") == "bool_value"
    assert to_proto_value(1.0).WhichOneof("value") == "float_value"
    assert type(from_proto_value(to_proto_value(3), field="f")) is int


def test_a_value_with_no_oneof_is_invalid_and_names_the_field() -> None:
    message = types_pb2.Metadata()
    message.fields["k"].CopyFrom(types_pb2.MetadataValue())
    with pytest.raises(InvalidArgumentError, match=r"metadata.fields\['k'\]") as info:
        from_proto_metadata(message, field="metadata")
    assert info.value.field == "metadata.fields['k']"


def test_none_travels_as_an_explicit_null_value() -> None:
    message = to_proto_metadata({"gone": None, "kept": 1})
    assert message.fields["gone"].WhichOneof("value") == "null_value"
    assert from_proto_metadata(message, field="m") == {"gone": None, "kept": 1}
    for text in ('{"null_value": "NULL_VALUE"}', '{"null_value": null}'):  # grpcurl, protojson
        parsed = json_format.Parse(text, types_pb2.MetadataValue())
        assert from_proto_value(parsed, field="v") is None


def test_what_the_wire_cannot_carry_fails_the_shape_check_with_chromadb_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="str, int, float or bool"):
        check_metadata_shape({"k": [1, 2]})
    with pytest.raises(InvalidArgumentTypeError, match="metadata key to be a str"):
        check_metadata_shape({1: "v"})
    with pytest.raises(InvalidArgumentError, match="64 bits"):
        check_metadata_shape({"k": 2**64})
    with pytest.raises(TypeError, match="check the shape"):
        to_proto_value([1, 2])  # type: ignore[arg-type]
