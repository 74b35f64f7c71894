"""Filters: every valid Chroma filter round-trips; a tree the decoder cannot turn into a filter
names the field at fault; everything else is decoded as sent and judged by Chroma's rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.filters import (
    MAX_FILTER_DEPTH,
    check_where_document_shape,
    check_where_shape,
    validate_where,
    validate_where_document,
)
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


def LIST(*values: types_pb2.MetadataValue) -> types_pb2.MetadataValues:  # noqa: N802
    return types_pb2.MetadataValues(values=values)


INT = types_pb2.MetadataValue(int_value=1)
MISSING = types_pb2.MetadataValue()
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
        (cond(key="a", operator=IN), "where.condition.values"),
        (cond(key="a", operator=IN, value=INT), "where.condition.value"),
        (cond(key="a", operator=IN, values=LIST(INT, MISSING)), "where.condition.values.values[1]"),
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
            types_pb2.WhereDocument(children=types_pb2.WhereDocumentChildren(operator=7)),
            "where_document.children.operator",
        ),
        (
            types_pb2.WhereDocument(
                children=types_pb2.WhereDocumentChildren(
                    operator=AND, children=[types_pb2.WhereDocument()] * 2
                )
            ),
            "where_document.children.children[0]",
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
        {"a": None},
        {"a": {"$in": [1, None]}},
        {"a": 2**64},
    ],
)
def test_what_the_tree_cannot_carry_fails_the_shape_check(where: dict[str, Any]) -> None:
    """The proxy runs this check before encoding: the store runs it first too."""
    with pytest.raises(InvalidArgumentError, match="Expected"):
        check_where_shape(where)


@pytest.mark.parametrize("where", [{"a": {"$in": []}}, {"a": {"$in": [1, "x"]}}])
def test_what_the_tree_can_carry_is_left_to_the_operand_rules(where: dict[str, Any]) -> None:
    check_where_shape(where)
    decoded = from_proto_where(to_proto_where(where))
    assert decoded == where
    with pytest.raises(InvalidArgumentError, match="Expected where operand value"):
        validate_where(decoded)


@pytest.mark.parametrize(
    "where_document", [{"$regex": "x"}, {"$and": [{"$contains": "x"}]}, {"$contains": 1}]
)
def test_document_shape_check_rejects_what_the_tree_cannot_carry(
    where_document: dict[str, Any],
) -> None:
    with pytest.raises(InvalidArgumentError, match="Expected (where )?document"):
        check_where_document_shape(where_document)


ONE = cond(key="a", operator=EQ, value=INT)


@pytest.mark.parametrize(
    ("tree", "decoded", "message"),
    [
        (cond(key="a", operator=IN, values=LIST()), {"a": {"$in": []}}, "non-empty list"),
        (
            cond(key="a", operator=IN, values=LIST(INT, STR)),
            {"a": {"$in": [1, "a"]}},
            "all values to be of the same type",
        ),
        (cond(key="a", operator=EQ, values=LIST(INT)), {"a": {"$eq": [1]}}, r"only \$in and \$nin"),
        (cond(key="a", operator=types_pb2.COMPARISON_OPERATOR_GT, value=STR), None, "int or a"),
        (
            types_pb2.Where(children=types_pb2.WhereChildren(operator=AND, children=[ONE])),
            {"$and": [{"a": {"$eq": 1}}]},
            "at least two",
        ),
    ],
)
def test_what_the_tree_can_say_is_decoded_as_sent_and_judged_by_the_rules(
    tree: types_pb2.Where, decoded: dict[str, Any] | None, message: str
) -> None:
    where = from_proto_where(tree)
    if decoded is not None:
        assert where == decoded
    with pytest.raises(InvalidArgumentError, match=message):
        validate_where(where)


def test_an_empty_document_text_is_judged_by_the_rules() -> None:
    tree = types_pb2.WhereDocument(condition=DOC(operator=types_pb2.DOCUMENT_OPERATOR_CONTAINS))
    assert from_proto_where_document(tree) == {"$contains": ""}
    with pytest.raises(InvalidArgumentError, match="non-empty str"):
        validate_where_document(from_proto_where_document(tree))


def nested(levels: int) -> dict[str, Any]:
    where: dict[str, Any] = {"a": 1}
    for _ in range(levels):
        where = {"$and": [where, {"b": 2}]}
    return where


def nested_documents(levels: int) -> dict[str, Any]:
    where_document: dict[str, Any] = {"$contains": "a"}
    for _ in range(levels):
        where_document = {"$or": [where_document, {"$contains": "b"}]}
    return where_document


def test_filters_nest_at_most_max_filter_depth_levels_everywhere() -> None:
    validate_where(nested(MAX_FILTER_DEPTH))
    validate_where_document(nested_documents(MAX_FILTER_DEPTH))
    deepest = to_proto_where(nested(MAX_FILTER_DEPTH)).SerializeToString()
    assert from_proto_where(types_pb2.Where.FromString(deepest)) == explicit(
        nested(MAX_FILTER_DEPTH)
    )
    too_deep = f"at most {MAX_FILTER_DEPTH} levels deep"
    with pytest.raises(InvalidArgumentError, match=too_deep):
        validate_where(nested(MAX_FILTER_DEPTH + 1))
    with pytest.raises(InvalidArgumentError, match=too_deep):
        validate_where_document(nested_documents(MAX_FILTER_DEPTH + 1))
    # The decoder refuses a deeper tree from any caller, naming the limit.
    tree = types_pb2.Where.FromString(
        to_proto_where(nested(MAX_FILTER_DEPTH + 1)).SerializeToString()
    )
    with pytest.raises(InvalidArgumentError, match=too_deep) as info:
        from_proto_where(tree)
    assert info.value.field is not None and info.value.field.startswith("where")
    document_tree = to_proto_where_document(nested_documents(MAX_FILTER_DEPTH + 1))
    with pytest.raises(InvalidArgumentError, match=too_deep):
        from_proto_where_document(document_tree)


def test_a_wide_filter_is_not_a_deep_one() -> None:
    wide = {"$or": [{"k": i} for i in range(5000)]}
    validate_where(wide)
    assert from_proto_where(to_proto_where(wide)) == explicit(wide)


def test_value_and_values_are_a_oneof() -> None:
    condition = types_pb2.FieldCondition(key="a", operator=IN, value=INT)
    condition.values.values.append(INT)
    assert condition.WhichOneof("operand") == "values" and not condition.HasField("value")
    assert from_proto_where(types_pb2.Where(condition=condition)) == {"a": {"$in": [1]}}
