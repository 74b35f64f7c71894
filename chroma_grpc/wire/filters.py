"""Chroma's ``where`` / ``where_document`` dicts <-> ``Where`` / ``WhereDocument`` trees.

Encoding expects a filter whose shape was checked
(:func:`chroma_grpc.store.filters.check_where_shape`): a literal becomes an explicit ``$eq``.
Decoding checks only what makes a tree into a dict (a node is set, operators are known, the
value fields fit the operator) and the nesting limit, then hands the store the dict in explicit
operator form for Chroma's rules. Operands come back exactly as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.filters import MAX_FILTER_DEPTH, filter_too_deep
from chroma_grpc.store.types import Where, WhereDocument
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.metadata import from_proto_value, to_proto_value

_BOOL_OPS = {
    "$and": types_pb2.BOOLEAN_OPERATOR_AND,
    "$or": types_pb2.BOOLEAN_OPERATOR_OR,
}
_BOOL_NAMES = {value: key for key, value in _BOOL_OPS.items()}
_CMP_OPS = {
    "$eq": types_pb2.COMPARISON_OPERATOR_EQ,
    "$ne": types_pb2.COMPARISON_OPERATOR_NE,
    "$gt": types_pb2.COMPARISON_OPERATOR_GT,
    "$gte": types_pb2.COMPARISON_OPERATOR_GTE,
    "$lt": types_pb2.COMPARISON_OPERATOR_LT,
    "$lte": types_pb2.COMPARISON_OPERATOR_LTE,
    "$in": types_pb2.COMPARISON_OPERATOR_IN,
    "$nin": types_pb2.COMPARISON_OPERATOR_NIN,
}
_CMP_NAMES = {value: key for key, value in _CMP_OPS.items()}
_LIST_OPS = {"$in", "$nin"}
_DOC_OPS = {
    "$contains": types_pb2.DOCUMENT_OPERATOR_CONTAINS,
    "$not_contains": types_pb2.DOCUMENT_OPERATOR_NOT_CONTAINS,
}
_DOC_NAMES = {value: key for key, value in _DOC_OPS.items()}


# -- encoding (client side) ------------------------------------------------------------------


def to_proto_where(where: Where) -> types_pb2.Where:
    """Encode a ``where`` dict; ``{}`` gives an empty message, which means "no filter"."""
    if not where:
        return types_pb2.Where()
    ((key, operand),) = where.items()
    if key in _BOOL_OPS:
        children = [to_proto_where(child) for child in operand]
        return types_pb2.Where(
            children=types_pb2.WhereChildren(operator=_BOOL_OPS[key], children=children)
        )
    op, value = next(iter(operand.items())) if isinstance(operand, Mapping) else ("$eq", operand)
    condition = types_pb2.FieldCondition(key=key, operator=_CMP_OPS[op])
    if isinstance(value, list):
        condition.values.values.extend(to_proto_value(v) for v in value)
    else:
        condition.value.CopyFrom(to_proto_value(value))
    return types_pb2.Where(condition=condition)


def to_proto_where_document(where_document: WhereDocument) -> types_pb2.WhereDocument:
    """Encode a ``where_document`` dict; ``{}`` gives an empty message ("no filter")."""
    if not where_document:
        return types_pb2.WhereDocument()
    ((op, operand),) = where_document.items()
    if op in _BOOL_OPS:
        children = [to_proto_where_document(child) for child in operand]
        return types_pb2.WhereDocument(
            children=types_pb2.WhereDocumentChildren(operator=_BOOL_OPS[op], children=children)
        )
    return types_pb2.WhereDocument(
        condition=types_pb2.DocumentCondition(operator=_DOC_OPS[op], text=operand)
    )


# -- decoding (server side) ------------------------------------------------------------------


def from_proto_where(message: types_pb2.Where, *, field: str = "where") -> dict[str, Any]:
    """Decode a tree; an empty top-level message means no filter (``{}``)."""
    if message.WhichOneof("node") is None:
        return {}
    return _where_node(message, field, 0)


def _where_node(message: types_pb2.Where, field: str, levels: int) -> dict[str, Any]:
    node = message.WhichOneof("node")
    if node == "children":
        group = message.children
        op = _enum(_BOOL_NAMES, group.operator, f"{field}.children.operator", "BOOLEAN_OPERATOR")
        if levels >= MAX_FILTER_DEPTH:
            raise filter_too_deep("where", field)
        return {
            op: [
                _where_node(child, f"{field}.children.children[{i}]", levels + 1)
                for i, child in enumerate(group.children)
            ]
        }
    if node == "condition":
        return _condition(message.condition, f"{field}.condition")
    raise InvalidArgumentError(
        f"{field}: empty filter node; set condition or children", field=field
    )


def _condition(condition: types_pb2.FieldCondition, field: str) -> dict[str, Any]:
    if not condition.key:
        raise InvalidArgumentError(
            f"{field}.key: required; name the metadata key to compare", field=f"{field}.key"
        )
    op = _enum(_CMP_NAMES, condition.operator, f"{field}.operator", "COMPARISON_OPERATOR")
    which = condition.WhichOneof("operand")
    if which is None:
        wanted = "values" if op in _LIST_OPS else "value"
        raise InvalidArgumentError(
            f"{field}.{wanted}: required for {op}", field=f"{field}.{wanted}"
        )
    if which == "value" and op in _LIST_OPS:
        raise InvalidArgumentError(
            f"{field}.value: {op} takes `values`, not `value`", field=f"{field}.value"
        )
    operand: Any = (
        from_proto_value(condition.value, field=f"{field}.value")
        if which == "value"
        else [
            from_proto_value(value, field=f"{field}.values.values[{i}]")
            for i, value in enumerate(condition.values.values)
        ]
    )
    return {condition.key: {op: operand}}


def from_proto_where_document(
    message: types_pb2.WhereDocument, *, field: str = "where_document"
) -> dict[str, Any]:
    """Decode a tree; an empty top-level message means no filter (``{}``)."""
    if message.WhichOneof("node") is None:
        return {}
    return _document_node(message, field, 0)


def _document_node(message: types_pb2.WhereDocument, field: str, levels: int) -> dict[str, Any]:
    node = message.WhichOneof("node")
    if node == "children":
        group = message.children
        op = _enum(_BOOL_NAMES, group.operator, f"{field}.children.operator", "BOOLEAN_OPERATOR")
        if levels >= MAX_FILTER_DEPTH:
            raise filter_too_deep("where document", field)
        return {
            op: [
                _document_node(child, f"{field}.children.children[{i}]", levels + 1)
                for i, child in enumerate(group.children)
            ]
        }
    if node == "condition":
        condition = message.condition
        path = f"{field}.condition"
        op = _enum(_DOC_NAMES, condition.operator, f"{path}.operator", "DOCUMENT_OPERATOR")
        return {op: condition.text}
    raise InvalidArgumentError(
        f"{field}: empty filter node; set condition or children", field=field
    )


def _enum(names: dict[Any, str], value: int, field: str, prefix: str) -> str:
    """Map a wire enum to its Chroma operator; UNSPECIFIED and unknown raw ints are rejected."""
    name = names.get(value)
    if name is None:
        choices = ", ".join(f"{prefix}_{n.lstrip('$').upper()}" for n in names.values())
        raise InvalidArgumentError(
            f"{field}: unsupported value {value}; use one of {choices}", field=field
        )
    return name
