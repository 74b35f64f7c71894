"""Filters: every valid Chroma filter round-trips; every malformed tree names the field at fault."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.filters import validate_where, validate_where_document
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.filters import (
    from_proto_where,
    from_proto_where_document,
    to_proto_where,
    to_proto_where_document,
)

keys = st.text(min_size=1, max_size=5).filter(lambda k: not k.startswith("$"))
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.text(max_size=5), ints, floats, st.booleans())
numbers = st.one_of(ints, floats)


def same_type_lists() -> st.SearchStrategy[list[Any]]:
    return st.one_of(
        *(st.lists(s, min_size=1, max_size=4) for s in (st.text(), ints, floats, st.booleans()))
    )


leaves = st.one_of(
    st.builds(lambda k, v: {k: v}, keys, scalars),
    st.builds(lambda k, op, v: {k: {op: v}}, keys, st.sampled_from(["$eq", "$ne"]), scalars),
    st.builds(
        lambda k, op, v: {k: {op: v}},
        keys,
        st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
        numbers,
    ),
    st.builds(
        lambda k, op, v: {k: {op: v}}, keys, st.sampled_from(["$in", "$nin"]), same_type_lists()
    ),
)
wheres = st.recursive(
    leaves,
    lambda children: st.builds(
        lambda op, c: {op: c},
        st.sampled_from(["$and", "$or"]),
        st.lists(children, min_size=2, max_size=3),
    ),
    max_leaves=8,
)
documents = st.recursive(
    st.builds(
        lambda op, t: {op: t}, st.sampled_from(["$contains", "$not_contains"]), st.text(min_size=1)
    ),
    lambda children: st.builds(
        lambda op, c: {op: c},
        st.sampled_from(["$and", "$or"]),
        st.lists(children, min_size=2, max_size=3),
    ),
    max_leaves=6,
)


def explicit(where: dict[str, Any]) -> dict[str, Any]:
    """Chroma's shorthand {"k": v} spelled as {"k": {"$eq": v}}, which is what decoding gives."""
    ((key, value),) = where.items()
    if key in ("$and", "$or"):
        return {key: [explicit(child) for child in value]}
    return {key: value if isinstance(value, dict) else {"$eq": value}}


@given(wheres)
def test_where_round_trips_through_the_wire(where: dict[str, Any]) -> None:
    validate_where(where)
    wire = to_proto_where(where).SerializeToString()
    decoded = from_proto_where(types_pb2.Where.FromString(wire))
    assert decoded == explicit(where)
    assert _types(decoded) == _types(explicit(where))
    validate_where(decoded)


@given(documents)
def test_where_document_round_trips_through_the_wire(where_document: dict[str, Any]) -> None:
    validate_where_document(where_document)
    wire = to_proto_where_document(where_document).SerializeToString()
    assert from_proto_where_document(types_pb2.WhereDocument.FromString(wire)) == where_document


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value)


def test_empty_filters_mean_no_filter() -> None:
    assert from_proto_where(to_proto_where({})) == {}
    assert from_proto_where_document(to_proto_where_document({})) == {}


def cond(**kwargs: Any) -> types_pb2.Where:
    return types_pb2.Where(condition=types_pb2.FieldCondition(**kwargs))


INT = types_pb2.MetadataValue(int_value=1)
STR = types_pb2.MetadataValue(string_value="a")
EQ = types_pb2.COMPARISON_OPERATOR_EQ
IN = types_pb2.COMPARISON_OPERATOR_IN
AND = types_pb2.BOOLEAN_OPERATOR_AND


@pytest.mark.parametrize(
    ("tree", "field"),
    [
        (cond(key="", operator=EQ, value=INT), "where.condition.key"),
        (cond(key="a", operator=0, value=INT), "where.condition.operator"),
        (cond(key="a", operator=99, value=INT), "where.condition.operator"),
        (cond(key="a", operator=EQ), "where.condition.value"),
        (cond(key="a", operator=EQ, value=types_pb2.MetadataValue()), "where.condition.value"),
        (cond(key="a", operator=EQ, value=INT, values=[INT]), "where.condition.values"),
        (cond(key="a", operator=IN), "where.condition.values"),
        (cond(key="a", operator=IN, values=[INT, STR]), "where.condition.values"),
        (cond(key="a", operator=IN, value=INT, values=[INT]), "where.condition.value"),
        (
            types_pb2.Where(
                children=types_pb2.WhereChildren(
                    operator=AND, children=[cond(key="a", operator=EQ, value=INT)]
                )
            ),
            "where.children.children",
        ),
        (
            types_pb2.Where(
                children=types_pb2.WhereChildren(
                    operator=7, children=[cond(key="a", operator=EQ, value=INT)] * 2
                )
            ),
            "where.children.operator",
        ),
        (
            types_pb2.Where(
                children=types_pb2.WhereChildren(
                    operator=AND,
                    children=[cond(key="a", operator=EQ, value=INT), types_pb2.Where()],
                )
            ),
            "where.children.children[1]",
        ),
    ],
)
def test_invalid_where_trees_name_the_field(tree: types_pb2.Where, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        from_proto_where(tree)
    assert info.value.field == field
    assert str(info.value).startswith(field)


DOC = types_pb2.DocumentCondition


@pytest.mark.parametrize(
    ("tree", "field"),
    [
        (
            types_pb2.WhereDocument(condition=DOC(operator=0, text="x")),
            "where_document.condition.operator",
        ),
        (
            types_pb2.WhereDocument(condition=DOC(operator=42, text="x")),
            "where_document.condition.operator",
        ),
        (
            types_pb2.WhereDocument(condition=DOC(operator=types_pb2.DOCUMENT_OPERATOR_CONTAINS)),
            "where_document.condition.text",
        ),
        (
            types_pb2.WhereDocument(children=types_pb2.WhereDocumentChildren(operator=AND)),
            "where_document.children.children",
        ),
    ],
)
def test_invalid_where_document_trees_name_the_field(
    tree: types_pb2.WhereDocument, field: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        from_proto_where_document(tree)
    assert info.value.field == field


@pytest.mark.parametrize(
    "where",
    [
        {"a": 1, "b": 2},
        {"$and": [{"a": 1}]},
        {"$or": "x"},
        {"a": {"$gt": 1, "$lt": 2}},
        {"a": {"$contains": "x"}},
        {"a": {"$in": []}},
        {"a": {"$in": [1, "x"]}},
        {"a": None},
    ],
)
def test_encoding_rejects_what_chroma_rejects(where: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="Expected"):
        to_proto_where(where)


@pytest.mark.parametrize(
    "where_document",
    [{"$contains": ""}, {"$regex": "x"}, {"$and": [{"$contains": "x"}]}, {"$contains": 1}],
)
def test_document_encoding_rejects_what_chroma_rejects(where_document: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="Expected where document"):
        to_proto_where_document(where_document)
