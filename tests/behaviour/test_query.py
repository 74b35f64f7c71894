"""query as chromadb 0.4.24 answers it: distances, n_results, filters and result shapes."""

from __future__ import annotations

import math

import pytest

from chroma_grpc import ClientAPI, Collection, Where
from chroma_grpc.errors import InvalidArgumentTypeError

QUERY_KEYS = {"ids", "embeddings", "metadatas", "documents", "uris", "data", "distances"}


@pytest.fixture
def typed(client: ClientAPI) -> Collection:
    """Records whose metadata mixes ints, floats, bools and strings under shared keys."""
    collection = client.create_collection("typed", embedding_function=None)
    collection.add(
        ids=["int1", "float1", "bool1", "str1", "int2", "none", "nokey"],
        embeddings=[[float(i), 0.0] for i in range(7)],
        metadatas=[
            {"v": 1, "n": 1},
            {"v": 1.0, "n": 1.5},
            {"v": True, "n": True},
            {"v": "1", "n": "x"},
            {"v": 2, "n": 2},
            None,
            {"other": 1},
        ],
        documents=["Apple pie", "apple tart", "Banana", "cherry", "APPLE", None, "pie"],
    )
    return collection


@pytest.mark.parametrize(
    ("space", "expected"),
    [("l2", [20.0, 25.0]), ("ip", [-2.0, 1.0]), ("cosine", [0.4, 1.0])],
)
def test_distances_per_space(client: ClientAPI, space: str, expected: list[float]) -> None:
    collection = client.create_collection(f"space-{space}", metadata={"hnsw:space": space})
    collection.add(ids=["x", "z"], embeddings=[[1.0, 0.0], [0.0, 0.0]])
    result = collection.query(query_embeddings=[[3.0, 4.0]], n_results=2)
    assert result["distances"] is not None
    distances = sorted(result["distances"][0])
    assert distances == pytest.approx(sorted(expected), abs=1e-5)


def test_query_defaults_shape_and_order(client: ClientAPI) -> None:
    collection = client.create_collection("shape", embedding_function=None)
    collection.add(
        ids=["far", "near", "mid"],
        embeddings=[[10.0, 0.0], [1.0, 0.0], [3.0, 0.0]],
        metadatas=[{"k": 1}, {"k": 2}, None],
        documents=["f", "n", None],
    )
    result = collection.query(query_embeddings=[[0.0, 0.0], [10.0, 0.0]], n_results=2)
    assert set(result) == QUERY_KEYS
    assert result["ids"] == [["near", "mid"], ["far", "mid"]]
    assert result["distances"] == [[1.0, 9.0], [0.0, 49.0]]
    assert result["metadatas"] == [[{"k": 2}, None], [{"k": 1}, None]]
    assert result["documents"] == [["n", None], ["f", None]]
    assert result["embeddings"] is None and result["uris"] is None and result["data"] is None
    assert all(type(d) is float for d in result["distances"][0])
    full = collection.query(query_embeddings=[0.0, 0.0], n_results=1, include=["embeddings"])
    assert full["embeddings"] == [[[1.0, 0.0]]] and full["distances"] is None


def test_n_results_is_clamped_and_validated(typed: Collection) -> None:
    assert len(typed.query(query_embeddings=[0.0, 0.0], n_results=100)["ids"][0]) == 7
    assert len(typed.query(query_embeddings=[0.0, 0.0], n_results=True)["ids"][0]) == 1
    for bad in (1.0, "one"):
        with pytest.raises(ValueError, match="Expected requested number of results to be a int"):
            typed.query(query_embeddings=[0.0, 0.0], n_results=bad)  # type: ignore[arg-type]
    for bad_count in (0, -1):
        with pytest.raises(TypeError, match="cannot be negative, or zero.") as caught:
            typed.query(query_embeddings=[0.0, 0.0], n_results=bad_count)
        assert caught.type is TypeError  # chromadb's own test compares the class exactly
        assert type(caught.value.__cause__) is InvalidArgumentTypeError


def test_exactly_one_query_input(typed: Collection) -> None:
    message = "You must provide one of query_embeddings, query_texts, query_images, or query_uris."
    with pytest.raises(ValueError, match=message):
        typed.query()
    with pytest.raises(ValueError, match=message):
        typed.query(query_embeddings=[0.0, 0.0], query_texts=["x"])


def test_query_on_a_collection_without_embeddings_is_empty(client: ClientAPI) -> None:
    empty = client.create_collection("empty")
    result = empty.query(query_embeddings=[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    assert result["ids"] == [[], []]
    assert result["distances"] == [[], []]


def test_filters_narrow_the_neighbours(typed: Collection) -> None:
    result = typed.query(query_embeddings=[0.0, 0.0], n_results=5, where={"v": {"$gte": 1}})
    assert result["ids"] == [["int1", "float1", "int2"]]
    nothing = typed.query(query_embeddings=[0.0, 0.0], where={"v": "zzz"})
    assert nothing["ids"] == [[]] and nothing["distances"] == [[]] and nothing["metadatas"] == [[]]
    by_doc = typed.query(query_embeddings=[0.0, 0.0], where_document={"$contains": "pie"})
    assert by_doc["ids"] == [["int1", "nokey"]]


def ids_where(collection: Collection, where: Where) -> list[str]:
    return sorted(collection.get(where=where)["ids"])


def test_where_equality_is_type_strict(typed: Collection) -> None:
    assert ids_where(typed, {"v": 1}) == ["int1"]
    assert ids_where(typed, {"v": 1.0}) == ["float1"]
    assert ids_where(typed, {"v": True}) == ["bool1"]
    assert ids_where(typed, {"v": "1"}) == ["str1"]
    assert ids_where(typed, {"v": {"$eq": 2}}) == ["int2"]


def test_ne_and_nin_need_the_key_and_the_type(typed: Collection) -> None:
    assert ids_where(typed, {"v": {"$ne": 1}}) == ["int2"]
    assert ids_where(typed, {"v": {"$nin": [2]}}) == ["int1"]
    assert ids_where(typed, {"v": {"$in": [1, 2]}}) == ["int1", "int2"]
    assert ids_where(typed, {"v": {"$in": ["1", "2"]}}) == ["str1"]


def test_ranges_compare_ints_and_floats_but_not_bools(typed: Collection) -> None:
    assert ids_where(typed, {"n": {"$gt": 1}}) == ["float1", "int2"]
    assert ids_where(typed, {"n": {"$gt": 1.2}}) == ["float1", "int2"]
    assert ids_where(typed, {"n": {"$lte": 1.5}}) == ["float1", "int1"]
    assert ids_where(typed, {"n": {"$lt": 100}}) == ["float1", "int1", "int2"]


def test_and_or_combine(typed: Collection) -> None:
    both = {"$and": [{"v": {"$gte": 1}}, {"n": {"$lt": 2}}]}
    assert ids_where(typed, both) == ["float1", "int1"]
    either = {"$or": [{"v": "1"}, {"other": 1}]}
    assert ids_where(typed, either) == ["nokey", "str1"]


def test_where_document_is_case_sensitive_and_skips_missing_documents(typed: Collection) -> None:
    assert sorted(typed.get(where_document={"$contains": "pple"})["ids"]) == ["float1", "int1"]
    not_apple = typed.get(where_document={"$not_contains": "pple"})["ids"]
    assert sorted(not_apple) == ["bool1", "int2", "nokey", "str1"]
    both = {"$and": [{"$contains": "pie"}, {"$not_contains": "Apple"}]}
    assert typed.get(where_document=both)["ids"] == ["nokey"]
    combined = typed.get(where={"v": 1}, where_document={"$contains": "Apple"})
    assert combined["ids"] == ["int1"]


@pytest.mark.parametrize(
    "where",
    [
        {"a": 1, "b": 2},
        {"a": {"$gt": "x"}},
        {"a": {"$contains": "x"}},
        {"a": {"$gt": 1, "$lt": 3}},
        {"a": {"$in": []}},
        {"a": {"$in": [1, "x"]}},
        {"$and": [{"a": 1}]},
        {"$or": {"a": 1}},
        {"a": None},
        {"a": {"nested": {"x": 1}}},
    ],
)
def test_invalid_where_is_a_value_error(typed: Collection, where: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Expected"):
        typed.get(where=where)
    with pytest.raises(ValueError, match="Expected"):
        typed.query(query_embeddings=[0.0, 0.0], where=where)
    with pytest.raises(ValueError, match="Expected"):
        typed.delete(where=where)


@pytest.mark.parametrize(
    "where_document",
    [{"$contains": ""}, {"$regex": "x"}, {"$contains": 1}, {"$and": [{"$contains": "a"}]}],
)
def test_invalid_where_document_is_a_value_error(
    typed: Collection, where_document: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="where document"):
        typed.get(where_document=where_document)


def test_high_dimensional_exact_neighbours(client: ClientAPI) -> None:
    collection = client.create_collection("dense", metadata={"hnsw:space": "cosine"})
    vectors = [[math.sin(i * 7 + j) for j in range(32)] for i in range(300)]
    collection.add(ids=[f"v{i:03d}" for i in range(300)], embeddings=vectors)
    for i in (0, 150, 299):
        result = collection.query(query_embeddings=vectors[i], n_results=1)
        assert result["ids"] == [[f"v{i:03d}"]]
        assert result["distances"] is not None
        assert result["distances"][0][0] == pytest.approx(0.0, abs=1e-5)
