"""Metadata dicts <-> ``Metadata`` messages with a typed oneof, so an int never turns float.

Python ``None`` travels as ``null_value`` (Chroma's "delete this key", meaningful in update and
upsert metadata only); the store, not this module, decides where it is allowed. Encoding
expects values whose shape was checked (:func:`chroma_grpc.store.validation.check_metadata_shape`).
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import struct_pb2

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import MetadataValue
from chroma_grpc.v1 import types_pb2


def to_proto_value(value: MetadataValue | None) -> types_pb2.MetadataValue:
    """One typed value; bool is checked before int because bool is an int in Python."""
    if value is None:
        return types_pb2.MetadataValue(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return types_pb2.MetadataValue(bool_value=value)
    if isinstance(value, int):
        return types_pb2.MetadataValue(int_value=value)
    if isinstance(value, float):
        return types_pb2.MetadataValue(float_value=value)
    if isinstance(value, str):
        return types_pb2.MetadataValue(string_value=value)
    raise TypeError(f"not a metadata value: {value!r} (check the shape before encoding)")


def from_proto_value(message: types_pb2.MetadataValue, *, field: str) -> MetadataValue | None:
    """The Python value of a MetadataValue (None for null_value); an unset one is rejected."""
    kind = message.WhichOneof("value")
    if kind == "string_value":
        return message.string_value
    if kind == "int_value":
        return message.int_value
    if kind == "float_value":
        return message.float_value
    if kind == "bool_value":
        return message.bool_value
    if kind == "null_value":
        return None
    raise InvalidArgumentError(
        f"{field}: no value set; set one of string_value, int_value, float_value, bool_value "
        "(or null_value to delete the key in an update)",
        field=field,
    )


def to_proto_metadata(metadata: Mapping[str, MetadataValue | None]) -> types_pb2.Metadata:
    """A metadata mapping as a message."""
    message = types_pb2.Metadata()
    for key, value in metadata.items():
        message.fields[key].CopyFrom(to_proto_value(value))
    return message


def from_proto_metadata(
    message: types_pb2.Metadata, *, field: str
) -> dict[str, MetadataValue | None]:
    """A plain dict, possibly empty or holding None values: the store judges both."""
    return {
        key: from_proto_value(value, field=f"{field}.fields[{key!r}]")
        for key, value in message.fields.items()
    }
