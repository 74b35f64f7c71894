"""Issue #7.2: NUL characters select exactly the record they name, on both transports.

SQLite's ``json_each`` used to cut strings at U+0000, so ``delete(ids=["a\\x00zzz"])`` deleted
``"a"``, ``get`` returned it, ``{"k": {"$in": ["a\\x00zzz"]}}`` matched ``k == "a"`` and adding
such an id failed with INTERNAL. chroma-grpc stores and matches every string exactly, NUL
included: ids, documents, uris, metadata keys and values, and every filter operand.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from chroma_grpc import ClientAPI

# Near-collisions: each is a prefix, an extension or an escaped form of another.
VALUES = ["a", "a\x00", "a\x00zzz", "\x00", "\x00a", "a\x01b", "a\x01", "a\x01\x00"]
ALL = ["metadatas", "documents", "uris"]


def _vector(i: int) -> list[float]:
    return [float(i), 1.0]


def _collection(client: ClientAPI) -> Any:
    collection = client.create_collection("nul", embedding_function=None)
    collection.add(
        ids=VALUES,
        embeddings=[_vector(i) for i in range(len(VALUES))],
        metadatas=[{"k": v, f"n\x00{i}": i, "tag": "x"} for i, v in enumerate(VALUES)],
        documents=[f"<{v}>" for v in VALUES],
        uris=[f"u://{v}" for v in VALUES],
    )
    return collection


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": operator.eq,
    "$ne": operator.ne,
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
    "$in": lambda stored, operand: stored in operand,
    "$nin": lambda stored, operand: stored not in operand,
}


def _matching(where: dict[str, Any]) -> list[str]:
    """The oracle for the leaves used below: id VALUES[i] has "k": VALUES[i], "n\x00i": i."""
    ((key, value),) = where.items()
    op, operand = next(iter(value.items())) if isinstance(value, dict) else ("$eq", value)
    stored = {v: (v if key == "k" else i) for i, v in enumerate(VALUES)}
    present = [v for i, v in enumerate(VALUES) if key in ("k", f"n\x00{i}")]
    return sorted((v for v in present if COMPARE[op](stored[v], operand)), key=str.encode)


def test_ids_documents_uris_and_metadata_round_trip_exactly(client: ClientAPI) -> None:
    collection = _collection(client)
    got = collection.get(include=ALL)
    assert got["ids"] == sorted(VALUES, key=lambda s: s.encode())  # byte-wise order
    for v in VALUES:
        one = collection.get(ids=[v], include=ALL)
        i = VALUES.index(v)
        assert one["ids"] == [v]
        assert one["metadatas"] == [{"k": v, f"n\x00{i}": i, "tag": "x"}]
        assert one["documents"] == [f"<{v}>"] and one["uris"] == [f"u://{v}"]
    assert collection.get(ids=["a\x00", "\x00a"])["ids"] == ["\x00a", "a\x00"]
    assert collection.count() == len(VALUES)


def test_every_where_operator_matches_exactly_on_get_and_query(client: ClientAPI) -> None:
    collection = _collection(client)
    wheres: list[dict[str, Any]] = []
    for v in VALUES:
        wheres += [
            {"k": v},
            {"k": {"$eq": v}},
            {"k": {"$ne": v}},
            {"k": {"$in": [v]}},
            {"k": {"$in": [v, "zz"]}},
            {"k": {"$nin": [v]}},
            {"k": {"$nin": [v, "a"]}},
        ]
    for i in range(len(VALUES)):
        key = f"n\x00{i}"
        for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"):
            wheres.append({key: {op: i}})
        wheres += [{key: {"$in": [i, 99]}}, {key: {"$nin": [99]}}]
    for where in wheres:
        expected = _matching(where)
        assert collection.get(where=where)["ids"] == expected, where
        hits = collection.query(query_embeddings=[[0.0, 1.0]], n_results=20, where=where)
        assert sorted(hits["ids"][0], key=lambda s: s.encode()) == expected, where
    combined = {"$or": [{"k": "a\x00zzz"}, {"$and": [{"k": {"$ne": "a"}}, {"tag": "x"}]}]}
    assert collection.get(where=combined)["ids"] == sorted(
        [v for v in VALUES if v != "a"], key=lambda s: s.encode()
    )


def test_contains_and_not_contains_match_nul_substrings(client: ClientAPI) -> None:
    collection = _collection(client)
    for v in VALUES:
        needle = f"<{v}>"
        assert collection.get(where_document={"$contains": needle})["ids"] == [v]
        others = sorted((w for w in VALUES if w != v), key=lambda s: s.encode())
        assert collection.get(where_document={"$not_contains": needle})["ids"] == others
        hits = collection.query(
            query_embeddings=[[0.0, 1.0]], n_results=20, where_document={"$contains": needle}
        )
        assert hits["ids"] == [[v]]
    with_nul = sorted((v for v in VALUES if "\x00" in v), key=lambda s: s.encode())
    assert collection.get(where_document={"$contains": "\x00"})["ids"] == with_nul


def test_update_upsert_and_delete_touch_only_the_named_record(client: ClientAPI) -> None:
    collection = _collection(client)
    collection.update(
        ids=["a\x00zzz"],
        embeddings=[[7.0, 7.0]],
        documents=["updated"],
        metadatas=[{"k": "new\x00"}],
    )
    collection.upsert(
        ids=["a\x00", "b\x00"],
        embeddings=[[9.0, 9.0], [8.0, 8.0]],
        documents=["upserted", "inserted"],
    )
    got = collection.get(include=["documents"])
    docs = dict(zip(got["ids"], got["documents"], strict=True))
    assert docs["a\x00zzz"] == "updated" and docs["a"] == "<a>"
    assert docs["a\x00"] == "upserted" and docs["b\x00"] == "inserted" and docs["\x00"] == "<\x00>"
    assert collection.get(where={"k": "new\x00"})["ids"] == ["a\x00zzz"]
    assert collection.get(where={"k": "new"})["ids"] == []

    collection.delete(ids=["a\x00zzz"])
    left = collection.get()["ids"]
    assert "a" in left and "a\x00zzz" not in left and len(left) == len(VALUES)
    collection.delete(where={"k": {"$in": ["a\x00"]}})
    assert collection.get(ids=["a", "a\x00"])["ids"] == ["a"]
    collection.delete(where_document={"$contains": "<\x00>"})
    assert collection.get(ids=["\x00", "\x00a"])["ids"] == ["\x00a"]
