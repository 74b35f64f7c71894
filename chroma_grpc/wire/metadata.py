"""Metadata dicts <-> ``Metadata`` messages with a typed oneof, so an int never turns float.

A ``MetadataValue`` with no oneof set stands for Python ``None``. That is only meaningful in
update/upsert metadata (Chroma's "delete this key"); every other decoder rejects it.
"""

from __future__ import annotations

from collections.abc import Mapping

from chroma_grpc.store.errors import InvalidArgumentError, InvalidArgumentTypeError
from chroma_grpc.store.types import MetadataValue
from chroma_grpc.v1 import types_pb2

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def to_proto_value(value: MetadataValue | None) -> types_pb2.MetadataValue:
    """One typed value; bool is checked before int because bool is an int in Python."""
    if value is None:
        return types_pb2.MetadataValue()
    if isinstance(value, bool):
        return types_pb2.MetadataValue(bool_value=value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidArgumentError(
                f"Expected metadata int value to fit in 64 bits, got {value}"
            )
        return types_pb2.MetadataValue(int_value=value)
    if isinstance(value, float):
        return types_pb2.MetadataValue(float_value=value)
    if isinstance(value, str):
        return types_pb2.MetadataValue(string_value=value)
    raise InvalidArgumentError(
        "Expected metadata value to be a str, int, float or bool, "
        f"got {value!r} which is a {type(value)}"
    )


def from_proto_value(message: types_pb2.MetadataValue, *, field: str) -> MetadataValue:
    """The Python value of a MetadataValue; one with no oneof set is rejected."""
    value = from_proto_optional_value(message, field=field, allow_none=False)
    assert value is not None  # allow_none=False never returns None
    return value


def from_proto_optional_value(
    message: types_pb2.MetadataValue, *, field: str, allow_none: bool
) -> MetadataValue | None:
    """Like from_proto_value, but an empty value gives None when ``allow_none``."""
    kind = message.WhichOneof("value")
    if kind == "string_value":
        return message.string_value
    if kind == "int_value":
        return message.int_value
    if kind == "float_value":
        return message.float_value
    if kind == "bool_value":
        return message.bool_value
    if allow_none:
        return None
    raise InvalidArgumentError(
        f"{field}: no value set; set one of string_value, int_value, float_value, bool_value",
        field=field,
    )


def to_proto_metadata(metadata: Mapping[str, MetadataValue | None]) -> types_pb2.Metadata:
    """A metadata mapping as a message; keys must be strings (as chromadb requires)."""
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(
            f"Expected metadata to be a dict or None, got {metadata!r} as metadata"
        )
    message = types_pb2.Metadata()
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidArgumentTypeError(
                f"Expected metadata key to be a str, got {key!r} which is a {type(key)}"
            )
        message.fields[key].CopyFrom(to_proto_value(value))
    return message


def from_proto_metadata(message: types_pb2.Metadata, *, field: str) -> dict[str, MetadataValue]:
    """A plain dict; may be empty (the store decides whether ``{}`` is allowed)."""
    return {
        key: from_proto_value(value, field=f"{field}.fields[{key!r}]")
        for key, value in message.fields.items()
    }


def from_proto_update_metadata(
    message: types_pb2.Metadata, *, field: str
) -> dict[str, MetadataValue | None]:
    """Update/upsert metadata, where an empty value means "delete this key"."""
    return {
        key: from_proto_optional_value(value, field=f"{field}.fields[{key!r}]", allow_none=True)
        for key, value in message.fields.items()
    }
