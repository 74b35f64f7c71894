"""Chroma's ``where`` / ``where_document`` dicts <-> ``Where`` / ``WhereDocument`` trees.

Encoding accepts Chroma's grammar (a literal is shorthand for ``$eq``) and rejects what the tree
cannot express with chromadb's own messages. Decoding validates the tree's structure and always
produces the explicit operator form (``{"k": {"$eq": v}}``); value-type rules (``$gt`` needs a
number, ...) are left to the store, which applies them whatever the transport.
"""

from __future__ import annotations

from typing import Any

from chroma_grpc.store.errors import InvalidArgumentError
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
    if not isinstance(where, dict):
        raise InvalidArgumentError(f"Expected where to be a dict, got {where}")
    if not where:
        return types_pb2.Where()
    if len(where) != 1:
        raise InvalidArgumentError(f"Expected where to have exactly one operator, got {where}")
    ((key, operand),) = where.items()
    if not isinstance(key, str):
        raise InvalidArgumentError(f"Expected where key to be a str, got {key}")
    if key in _BOOL_OPS:
        if not isinstance(operand, list):
            raise InvalidArgumentError(
                f"Expected where value for $and or $or to be a list of where expressions, "
                f"got {operand}"
            )
        if len(operand) < 2:
            raise InvalidArgumentError(
                f"Expected where value for $and or $or to be a list with at least two where "
                f"expressions, got {operand}"
            )
        children = [to_proto_where(child) for child in operand]
        return types_pb2.Where(
            children=types_pb2.WhereChildren(operator=_BOOL_OPS[key], children=children)
        )
    if isinstance(operand, dict):
        if len(operand) != 1:
            raise InvalidArgumentError(
                f"Expected operator expression to have exactly one operator, got {operand}"
            )
        ((op, value),) = operand.items()
        if op not in _CMP_OPS:
            raise InvalidArgumentError(
                f"Expected where operator to be one of $gt, $gte, $lt, $lte, $ne, $eq, $in, "
                f"$nin, got {op}"
            )
    else:
        op, value = "$eq", operand
    condition = types_pb2.FieldCondition(key=key, operator=_CMP_OPS[op])
    if op in _LIST_OPS:
        if (
            not isinstance(value, list)
            or not value
            or any(type(v) is not type(value[0]) for v in value)
        ):
            raise InvalidArgumentError(
                f"Expected where operand value to be a non-empty list, and all values to be of "
                f"the same type got {value}"
            )
        condition.values.extend(_operand(v) for v in value)
    else:
        condition.value.CopyFrom(_operand(value))
    return types_pb2.Where(condition=condition)


def _operand(value: Any) -> types_pb2.MetadataValue:
    if isinstance(value, (str, int, float)):  # bool is an int
        return to_proto_value(value)
    raise InvalidArgumentError(
        f"Expected where operand value to be a str, int, float, or list of those type, got {value}"
    )


def to_proto_where_document(where_document: WhereDocument) -> types_pb2.WhereDocument:
    """Encode a ``where_document`` dict; ``{}`` gives an empty message ("no filter")."""
    if not isinstance(where_document, dict):
        raise InvalidArgumentError(
            f"Expected where document to be a dictionary, got {where_document}"
        )
    if not where_document:
        return types_pb2.WhereDocument()
    if len(where_document) != 1:
        raise InvalidArgumentError(
            f"Expected where document to have exactly one operator, got {where_document}"
        )
    ((op, operand),) = where_document.items()
    if op in _BOOL_OPS:
        if not isinstance(operand, list):
            raise InvalidArgumentError(
                f"Expected where document value for $and or $or to be a list of where document "
                f"expressions, got {operand}"
            )
        if len(operand) < 2:
            raise InvalidArgumentError(
                f"Expected where document value for $and or $or to be a list with at least two "
                f"where document expressions, got {operand}"
            )
        children = [to_proto_where_document(child) for child in operand]
        return types_pb2.WhereDocument(
            children=types_pb2.WhereDocumentChildren(operator=_BOOL_OPS[op], children=children)
        )
    if op not in _DOC_OPS:
        raise InvalidArgumentError(
            f"Expected where document operator to be one of $contains, $and, $or, got {op}"
        )
    if not isinstance(operand, str) or not operand:
        raise InvalidArgumentError(
            f"Expected where document operand value for operator {op} to be a non-empty str"
        )
    return types_pb2.WhereDocument(
        condition=types_pb2.DocumentCondition(operator=_DOC_OPS[op], text=operand)
    )


# -- decoding (server side) ------------------------------------------------------------------


def from_proto_where(message: types_pb2.Where, *, field: str = "where") -> dict[str, Any]:
    """Decode and validate a tree; an empty top-level message means no filter (``{}``)."""
    if message.WhichOneof("node") is None:
        return {}
    return _where_node(message, field)


def _where_node(message: types_pb2.Where, field: str) -> dict[str, Any]:
    node = message.WhichOneof("node")
    if node == "children":
        group = message.children
        op = _enum(_BOOL_NAMES, group.operator, f"{field}.children.operator", "BOOLEAN_OPERATOR")
        _check_arity(len(group.children), f"{field}.children.children")
        return {
            op: [
                _where_node(child, f"{field}.children.children[{i}]")
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
    if op in _LIST_OPS:
        if condition.HasField("value"):
            raise InvalidArgumentError(
                f"{field}.value: {op} takes `values`, not `value`", field=f"{field}.value"
            )
        if not condition.values:
            raise InvalidArgumentError(
                f"{field}.values: {op} needs a non-empty list of values", field=f"{field}.values"
            )
        kinds = {value.WhichOneof("value") for value in condition.values}
        values = [
            from_proto_value(value, field=f"{field}.values[{i}]")
            for i, value in enumerate(condition.values)
        ]
        if len(kinds) != 1:
            raise InvalidArgumentError(
                f"{field}.values: all values of {op} must have the same type, got {values}",
                field=f"{field}.values",
            )
        return {condition.key: {op: values}}
    if condition.values:
        raise InvalidArgumentError(
            f"{field}.values: {op} takes one `value`, not `values`", field=f"{field}.values"
        )
    if not condition.HasField("value"):
        raise InvalidArgumentError(f"{field}.value: required for {op}", field=f"{field}.value")
    return {condition.key: {op: from_proto_value(condition.value, field=f"{field}.value")}}


def from_proto_where_document(
    message: types_pb2.WhereDocument, *, field: str = "where_document"
) -> dict[str, Any]:
    """Decode and validate a tree; an empty top-level message means no filter (``{}``)."""
    if message.WhichOneof("node") is None:
        return {}
    return _document_node(message, field)


def _document_node(message: types_pb2.WhereDocument, field: str) -> dict[str, Any]:
    node = message.WhichOneof("node")
    if node == "children":
        group = message.children
        op = _enum(_BOOL_NAMES, group.operator, f"{field}.children.operator", "BOOLEAN_OPERATOR")
        _check_arity(len(group.children), f"{field}.children.children")
        return {
            op: [
                _document_node(child, f"{field}.children.children[{i}]")
                for i, child in enumerate(group.children)
            ]
        }
    if node == "condition":
        condition = message.condition
        path = f"{field}.condition"
        op = _enum(_DOC_NAMES, condition.operator, f"{path}.operator", "DOCUMENT_OPERATOR")
        if not condition.text:
            raise InvalidArgumentError(
                f"{path}.text: must be a non-empty string for {op}", field=f"{path}.text"
            )
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


def _check_arity(count: int, field: str) -> None:
    if count < 2:
        raise InvalidArgumentError(
            f"{field}: $and / $or need at least two children, got {count}; "
            "use the single filter directly",
            field=field,
        )
