"""where / where_document: Chroma's validation messages, and SQL evaluation against an oracle."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_grpc.store import InvalidArgumentError, RecordBatch, Store
from chroma_grpc.store.filters import validate_where, validate_where_document


@pytest.mark.parametrize(
    ("where", "fragment"),
    [
        ({"a": 1, "b": 2}, "Expected where to have exactly one operator"),
        (
            {"$and": [{"a": 1}]},
            "Expected where value for $and or $or to be a list with at least two",
        ),
        (
            {"$or": {"a": 1}},
            "Expected where value for $and or $or to be a list of where expressions",
        ),
        ({"a": {"$gt": "x"}}, "Expected operand value to be an int or a float for operator $gt"),
        ({"a": {"$gt": True}}, "Expected operand value to be an int or a float"),
        ({"a": {"$in": "x"}}, "Expected operand value to be an list for operator $in"),
        ({"a": {"$in": []}}, "Expected where operand value to be a non-empty list"),
        ({"a": {"$nin": [1, "x"]}}, "all values to be of the same type"),
        ({"a": {"$in": [1, True]}}, "all values to be of the same type"),
        ({"a": {"$contains": "x"}}, "Expected where operator to be one of $gt, $gte"),
        ({"a": {"$eq": 1, "$ne": 2}}, "Expected operator expression to have exactly one operator"),
        ({"a": None}, "Expected where value to be a str, int, float, or operator expression"),
        ({"a": {"$eq": None}}, "Expected where operand value to be a str, int, float"),
        ({"a": {"$eq": {"b": 1}}}, "where"),
        ({"a": 2**70}, "64-bit"),
        ("a", "Expected where to be a dict"),
    ],
)
def test_where_validation_messages(where: Any, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=_escape(fragment)) as info:
        validate_where(where)
    assert isinstance(info.value, ValueError) and info.value.field == "where"


@pytest.mark.parametrize(
    ("where_document", "fragment"),
    [
        (
            {"$contains": ""},
            "Expected where document operand value for operator $contains to be a non-empty str",
        ),
        ({"$contains": 1}, "where document operand value for operator $contains to be a str"),
        (
            {"$regex": "x"},
            "Expected where document operator to be one of $contains, $and, $or, got $regex",
        ),
        ({"$and": [{"$contains": "a"}]}, "at least two where document expressions"),
        (
            {"$contains": "a", "$not_contains": "b"},
            "Expected where document to have exactly one operator",
        ),
        ([], "Expected where document to be a dictionary"),
    ],
)
def test_where_document_validation_messages(where_document: Any, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=_escape(fragment)):
        validate_where_document(where_document)


def _escape(text: str) -> str:
    return "".join("\\" + c if c in "$()[]{}.*+?^|" else c for c in text)


# -- evaluation -----------------------------------------------------------------------------------
KEYS = ["i", "f", "b", "s"]
VALUES = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([-1.5, 0.0, 1.0, 2.0, 2.5]),
    st.booleans(),
    st.sampled_from(["", "a", "b", "A", "%", "_"]),
)
METADATA = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=4)
)
DOCUMENTS = st.one_of(st.none(), st.text(alphabet="abAB%_ ", max_size=6))


def _kind(v: object) -> str:
    return {bool: "b", int: "i", float: "f", str: "s"}[type(v)]


def _leaf_strategy() -> st.SearchStrategy[dict[str, Any]]:
    scalar = VALUES
    numeric = st.one_of(st.integers(-3, 3), st.sampled_from([-1.5, 0.0, 1.0, 2.5]))
    ops = st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), scalar),
        st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numeric),
        st.tuples(
            st.sampled_from(["$in", "$nin"]),
            scalar.flatmap(
                lambda first: st.lists(
                    VALUES.filter(lambda v: _kind(v) == _kind(first)), max_size=3
                ).map(lambda rest: [first, *rest])
            ),
        ),
    )
    return st.tuples(st.sampled_from(KEYS), ops, st.booleans()).map(
        lambda t: {t[0]: t[1][1]} if t[1][0] == "$eq" and t[2] else {t[0]: {t[1][0]: t[1][1]}}
    )


WHERE = st.recursive(
    _leaf_strategy(),
    lambda children: st.tuples(
        st.sampled_from(["$and", "$or"]), st.lists(children, min_size=2, max_size=3)
    ).map(lambda t: {t[0]: t[1]}),
    max_leaves=5,
)
DOC_LEAF = st.tuples(
    st.sampled_from(["$contains", "$not_contains"]),
    st.text(alphabet="abAB%_", min_size=1, max_size=2),
).map(lambda t: {t[0]: t[1]})
WHERE_DOCUMENT = st.recursive(
    DOC_LEAF,
    lambda children: st.tuples(
        st.sampled_from(["$and", "$or"]), st.lists(children, min_size=2, max_size=3)
    ).map(lambda t: {t[0]: t[1]}),
    max_leaves=4,
)


def oracle_where(where: dict[str, Any], md: dict[str, Any] | None) -> bool:
    """Spec section 7 in plain Python."""
    ((key, value),) = where.items()
    if key == "$and":
        return all(oracle_where(w, md) for w in value)
    if key == "$or":
        return any(oracle_where(w, md) for w in value)
    if md is None or key not in md:
        return False
    op, operand = next(iter(value.items())) if isinstance(value, dict) else ("$eq", value)
    stored = md[key]
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(stored, (bool, str)):
            return False
        return {
            "$gt": stored > operand,
            "$gte": stored >= operand,
            "$lt": stored < operand,
            "$lte": stored <= operand,
        }[op]
    sample = operand[0] if op in ("$in", "$nin") else operand
    if _kind(stored) != _kind(sample):
        return False
    if op == "$eq":
        return bool(stored == operand)
    if op == "$ne":
        return bool(stored != operand)
    if op == "$in":
        return stored in operand
    return stored not in operand


def oracle_document(where_document: dict[str, Any], doc: str | None) -> bool:
    ((op, operand),) = where_document.items()
    if op == "$and":
        return all(oracle_document(w, doc) for w in operand)
    if op == "$or":
        return any(oracle_document(w, doc) for w in operand)
    if doc is None:
        return False
    return (operand in doc) == (op == "$contains")


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = Store(None)
    yield s
    s.close()


def _fresh_collection(
    store: Store, name: str, records: list[tuple[dict[str, Any] | None, str | None]]
) -> tuple[str, list[str]]:
    """An empty collection ``name`` (re)created with one record per (metadata, document)."""
    store.create_collection(name, get_or_create=True)
    store.delete_collection(name)
    info, _ = store.create_collection(name)
    ids = [f"r{i:02d}" for i in range(len(records))]
    store.add(
        info.id,
        RecordBatch(
            ids=ids,
            embeddings=np.arange(len(records), dtype=np.float32).reshape(-1, 1),
            metadatas=[r[0] for r in records],
            documents=[r[1] for r in records],
        ),
    )
    return info.id, ids


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(st.tuples(METADATA, DOCUMENTS), min_size=1, max_size=12),
    where=st.one_of(st.none(), WHERE),
    where_document=st.one_of(st.none(), WHERE_DOCUMENT),
)
def test_sql_filters_match_the_oracle(
    store: Store,
    records: list[tuple[dict[str, Any] | None, str | None]],
    where: Any,
    where_document: Any,
) -> None:
    if where is not None:
        validate_where(where)
    if where_document is not None:
        validate_where_document(where_document)
    cid, ids = _fresh_collection(store, "prop", records)
    expected = [
        i
        for i, (md, doc) in zip(ids, records, strict=True)
        if (where is None or oracle_where(where, md))
        and (where_document is None or oracle_document(where_document, doc))
    ]
    assert store.get(cid, where=where, where_document=where_document).ids == expected
    hits = store.query(
        cid,
        np.zeros((1, 1), np.float32),
        n_results=20,
        where=where,
        where_document=where_document,
    )
    assert sorted(hits[0].ids) == expected


def test_type_strict_equality_examples(store: Store) -> None:
    info, _ = store.create_collection("strict")
    store.add(
        info.id,
        RecordBatch(
            ids=["int", "float", "bool", "none", "str"],
            embeddings=np.zeros((5, 1)),
            metadatas=[{"v": 1}, {"v": 1.0}, {"v": True}, None, {"v": "1"}],
            documents=["50% off", "A_b", None, "abc", "ABC"],
        ),
    )
    get = lambda **kw: store.get(info.id, **kw).ids  # noqa: E731
    assert get(where={"v": 1}) == ["int"]
    assert get(where={"v": 1.0}) == ["float"]
    assert get(where={"v": True}) == ["bool"]
    assert get(where={"v": {"$ne": 1}}) == []
    assert get(where={"v": {"$gte": 1}}) == ["float", "int"]
    assert get(where={"v": {"$nin": ["2"]}}) == ["str"]
    assert get(where_document={"$contains": "%"}) == ["int"]
    assert get(where_document={"$contains": "_"}) == ["float"]
    assert get(where_document={"$contains": "abc"}) == ["none"]
    assert get(where_document={"$not_contains": "abc"}) == ["float", "int", "str"]
    store.delete_collection("strict")


WIDE_WHERE = st.tuples(
    st.sampled_from(["$and", "$or"]),
    st.lists(st.one_of(_leaf_strategy(), WHERE), min_size=2, max_size=40),
).map(lambda t: {t[0]: t[1]})


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(st.tuples(METADATA, DOCUMENTS), min_size=1, max_size=12),
    where=WIDE_WHERE,
)
def test_wide_filters_with_repeated_keys_match_the_oracle(
    store: Store, records: list[tuple[dict[str, Any] | None, str | None]], where: Any
) -> None:
    """Wide $and/$or with repeated keys exercise the rewrites (shared subqueries, merged
    equalities and inequalities); they must not change a single answer."""
    validate_where(where)
    cid, ids = _fresh_collection(store, "wide", records)
    expected = [i for i, (md, _) in zip(ids, records, strict=True) if oracle_where(where, md)]
    assert store.get(cid, where=where).ids == expected


# -- 5,000 flat children (SQLite's expression depth limit is 1,000) ------------------------------
def _wide_records(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        md: dict[str, Any] = {"g": i % 97, "u": i}
        if i % 7:
            md["i"] = rng.randrange(-50, 50)
        if i % 5:
            md["f"] = rng.choice([-1.5, 0.25, 3.0, 7.5, float(i % 13)])
        if i % 3:
            md["s"] = f"s{rng.randrange(200)}"
        if i % 2:
            md["b"] = i % 4 == 1
        records.append(md)
    return records


def wide_or(n: int, rng: random.Random, size: int) -> dict[str, Any]:
    """A flat $or of ``n`` children: selective leaves of every operator, a few nested $and."""
    children: list[Any] = []
    while len(children) < n:
        r = rng.random()
        if r < 0.45:
            children.append({"u": rng.randrange(0, 40 * size)})
        elif r < 0.55:
            children.append({"s": {"$eq": f"s{rng.randrange(4000)}"}})
        elif r < 0.65:
            children.append({"i": {"$in": [rng.randrange(-9000, 9000) for _ in range(3)]}})
        elif r < 0.72:
            children.append({"u": {"$lte": rng.randrange(0, 3)}})
        elif r < 0.78:
            children.append({"u": {"$gt": size - rng.randrange(1, 4)}})
        elif r < 0.82:
            children.append({"f": {"$lt": -1.0}} if rng.random() < 0.5 else {"f": {"$gte": 12.0}})
        elif r < 0.88:
            children.append({"$and": [{"g": rng.randrange(97)}, {"b": True}]})
        elif r < 0.94:
            children.append({"s": {"$nin": [f"s{k}" for k in range(199)]}})
        else:
            children.append({"b": False} if rng.random() < 0.5 else {"b": {"$ne": True}})
    return {"$or": children}


def wide_and(n: int, rng: random.Random, size: int) -> dict[str, Any]:
    """A flat $and of ``n`` children, mostly true (inequalities, loose ranges), a few nested $or."""
    children: list[Any] = [{"g": {"$lt": 90}}, {"u": {"$gte": 10}}]
    while len(children) < n:
        r = rng.random()
        if r < 0.35:
            children.append({"u": {"$ne": rng.randrange(0, size * 8)}})
        elif r < 0.5:
            children.append({"s": {"$nin": [f"s{rng.randrange(400)}", f"t{rng.randrange(9)}"]}})
        elif r < 0.65:
            children.append({"g": {"$lte": 96 - rng.randrange(0, 3)}})
        elif r < 0.75:
            children.append({"u": {"$lt": size + rng.randrange(0, 100)}})
        elif r < 0.85:
            children.append({"$or": [{"g": {"$ne": rng.randrange(97)}}, {"b": False}]})
        elif r < 0.95:
            children.append({"i": {"$gte": -200 + rng.randrange(0, 100)}})
        else:
            children.append({"f": {"$ne": 100.5}})
    return {"$and": children}


@pytest.mark.parametrize("build", [wide_or, wide_and])
def test_five_thousand_flat_children_on_get_query_and_delete(store: Store, build: Any) -> None:
    size = 600  # the Python oracle, not the store, is what takes time here
    records = _wide_records(size, seed=11)
    where = build(5000, random.Random(3), size)
    validate_where(where)
    info, _ = store.create_collection(f"wide-{build.__name__.replace('_', '-')}")
    ids = [f"r{i:05d}" for i in range(size)]
    x = np.random.default_rng(0).standard_normal((size, 4)).astype(np.float32)
    store.add(info.id, RecordBatch(ids=ids, embeddings=x, metadatas=records))
    expected = [i for i, md in zip(ids, records, strict=True) if oracle_where(where, md)]
    assert 0 < len(expected) < size  # a real selection, not everything or nothing
    assert store.get(info.id, where=where).ids == expected
    (hits,) = store.query(info.id, x[:1], n_results=size, where=where)
    assert sorted(hits.ids) == expected
    assert store.delete(info.id, where=where) == len(expected)
    assert store.get(info.id).ids == [i for i in ids if i not in set(expected)]
    store.delete_collection(info.name)


@pytest.mark.parametrize("operator", ["$and", "$or"])
def test_five_thousand_flat_document_children(store: Store, operator: str) -> None:
    info, _ = store.create_collection(f"wide-docs-{operator[1:]}")
    documents = [f"doc {i} word{i % 50}" for i in range(300)]
    store.add(
        info.id,
        RecordBatch(
            ids=[f"d{i:03d}" for i in range(300)],
            embeddings=np.zeros((300, 1), np.float32),
            documents=documents,
        ),
    )
    if operator == "$or":
        children = [{"$contains": f"word{k}"} for k in range(0, 5000, 7)] * 7
    else:
        children = [{"$not_contains": f"word{k}x"} for k in range(5000)]
        children[123] = {"$contains": "word3"}
    where_document = {operator: children[:5000]}
    validate_where_document(where_document)
    expected = [f"d{i:03d}" for i, d in enumerate(documents) if oracle_document(where_document, d)]
    assert 0 < len(expected) < 300
    assert store.get(info.id, where_document=where_document).ids == expected
    store.delete_collection(info.name)


def test_too_many_distinct_conditions_are_refused_with_the_limit_named(store: Store) -> None:
    info, _ = store.create_collection("too-wide")
    with store._db.reading() as conn:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        where = {"$or": [{"k": {"$gt": i}} for i in range(600)]}  # 1,200 values bound
        with pytest.raises(InvalidArgumentError, match="limit of 999.*one \\$in / \\$nin list"):
            store.get(info.id, where=where)
        assert store.get(info.id, where={"$or": [{"k": i} for i in range(5000)]}).ids == []
    finally:
        with store._db.reading() as conn:
            conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)
    store.delete_collection("too-wide")


# -- NUL characters in every operator -----------------------------------------------------------
NUL_VALUES = ["a", "a\x00", "a\x00zzz", "\x00", "a\x01b", "a\x01"]


def test_every_operator_matches_nul_strings_exactly(store: Store) -> None:
    info, _ = store.create_collection("nul-filters")
    ids = [f"n{i}" for i in range(len(NUL_VALUES))]
    metadatas = [{"k": v, f"n\x00{i}": i} for i, v in enumerate(NUL_VALUES)]
    documents = [f"<{v}>" for v in NUL_VALUES]
    store.add(
        info.id,
        RecordBatch(
            ids=ids,
            embeddings=np.zeros((len(ids), 1), np.float32),
            metadatas=metadatas,
            documents=documents,
        ),
    )
    wheres: list[Any] = []
    for v in NUL_VALUES:
        wheres += [
            {"k": v},
            {"k": {"$eq": v}},
            {"k": {"$ne": v}},
            {"k": {"$in": [v]}},
            {"k": {"$in": [v, "b"]}},
            {"k": {"$nin": [v]}},
            {"k": {"$nin": [v, "a"]}},
            {"$or": [{"k": v}, {"k": "zz"}]},
            {"$and": [{"k": {"$ne": v}}, {"k": {"$ne": "a"}}]},
        ]
    for i in range(len(NUL_VALUES)):
        key = f"n\x00{i}"
        wheres += [{key: i}, {key: {"$gte": i}}, {key: {"$lt": i + 1}}, {key: {"$in": [i]}}]
    for where in wheres:
        validate_where(where)
        expected = [i for i, md in zip(ids, metadatas, strict=True) if oracle_where(where, md)]
        assert store.get(info.id, where=where).ids == expected, where
        (hits,) = store.query(info.id, np.zeros((1, 1), np.float32), len(ids), where=where)
        assert sorted(hits.ids) == expected, where
    for v in NUL_VALUES:
        for where_document in ({"$contains": f"<{v}>"}, {"$not_contains": f"<{v}>"}):
            expected = [
                i for i, d in zip(ids, documents, strict=True) if oracle_document(where_document, d)
            ]
            assert store.get(info.id, where_document=where_document).ids == expected
    store.delete_collection("nul-filters")
