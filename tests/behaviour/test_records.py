"""Record operations with chromadb 0.4.24's semantics: add/get/peek/update/upsert/delete/count."""

from __future__ import annotations

import numpy as np
import pytest

from chroma_grpc import ClientAPI, Collection
from chroma_grpc.errors import (
    DuplicateIDError,
    InvalidArgumentTypeError,
    InvalidDimensionException,
)

KEYS = {"ids", "embeddings", "metadatas", "documents", "uris", "data"}


@pytest.fixture
def collection(client: ClientAPI) -> Collection:
    return client.create_collection("records", embedding_function=None)


def add_five(collection: Collection) -> None:
    collection.add(
        ids=["b", "a", "C", "10", "9"],
        embeddings=[[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]],
        metadatas=[{"i": 1}, {"f": 1.5}, None, {"b": True}, {"s": "x"}],
        documents=["bee", "ay", None, "ten", "nine"],
    )


def test_get_sorts_by_id_and_has_every_key(collection: Collection) -> None:
    add_five(collection)
    result = collection.get()
    assert set(result) == KEYS
    assert result["ids"] == ["10", "9", "C", "a", "b"]
    assert result["documents"] == ["ten", "nine", None, "ay", "bee"]
    assert result["metadatas"] == [{"b": True}, {"s": "x"}, None, {"f": 1.5}, {"i": 1}]
    assert result["embeddings"] is None and result["uris"] is None and result["data"] is None
    assert collection.get(ids=["b", "a"])["ids"] == ["a", "b"]


def test_get_include_embeddings_returns_python_floats(collection: Collection) -> None:
    add_five(collection)
    result = collection.get(ids="a", include=["embeddings"])
    assert result["embeddings"] == [[3.0, 4.0]]
    assert all(type(x) is float for x in result["embeddings"][0])
    assert result["documents"] is None and result["metadatas"] is None


def test_metadata_values_round_trip_with_their_types(collection: Collection) -> None:
    metadata: dict[str, str | int | float | bool] = {
        "int": 1,
        "float": 1.0,
        "bool": False,
        "str": "s",
        "neg": -(2**40),
        "pi": 3.25,
    }
    collection.add(ids="a", embeddings=[1.0], metadatas=metadata)
    stored = collection.get()["metadatas"]
    assert stored == [metadata]
    assert stored is not None and stored[0] is not None
    for key, value in metadata.items():
        assert type(stored[0][key]) is type(value)


def test_get_limit_offset_and_empty_filters(collection: Collection) -> None:
    add_five(collection)
    assert collection.get(limit=2)["ids"] == ["10", "9"]
    assert collection.get(limit=2, offset=2)["ids"] == ["C", "a"]
    assert collection.get(limit=0)["ids"] == ["10", "9", "C", "a", "b"]
    assert collection.get(ids=[], where={}, where_document={})["ids"] == collection.get()["ids"]
    assert collection.get(ids=["zz"])["ids"] == []
    with pytest.raises(ValueError, match="Limit cannot be negative"):
        collection.get(limit=-1)


def test_get_with_nothing_matching_returns_empty_included_lists(collection: Collection) -> None:
    add_five(collection)
    result = collection.get(ids=["nope"], include=["embeddings", "metadatas", "documents"])
    assert result == {
        "ids": [],
        "embeddings": [],
        "metadatas": [],
        "documents": [],
        "uris": None,
        "data": None,
    }


def test_include_is_validated(collection: Collection) -> None:
    with pytest.raises(ValueError, match="Expected include item to be one of embeddings, "):
        collection.get(include=["distances"])
    with pytest.raises(ValueError, match="Expected include to be a list, got None"):
        collection.get(include=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="You must set a data loader on the collection"):
        collection.get(include=["data"])


def test_peek_returns_the_smallest_ids_with_embeddings(collection: Collection) -> None:
    add_five(collection)
    result = collection.peek(limit=2)
    assert set(result) == KEYS
    assert result["ids"] == ["10", "9"]
    assert result["embeddings"] == [[7.0, 8.0], [9.0, 10.0]]
    assert result["documents"] == ["ten", "nine"]
    assert collection.peek()["ids"] == ["10", "9", "C", "a", "b"]


def test_one_or_many_arguments_and_numpy_embeddings(collection: Collection) -> None:
    collection.add(ids="one", embeddings=[1, 2], metadatas={"k": 1}, documents="doc")
    collection.add(ids=["two", "three"], embeddings=np.array([[3, 4], [5, 6]], dtype=np.float64))
    collection.add(ids="four", embeddings=np.array([7.0, 8.0]))
    assert collection.count() == 4
    got = collection.get(ids="one", include=["embeddings", "metadatas", "documents"])
    assert got["embeddings"] == [[1.0, 2.0]] and got["metadatas"] == [{"k": 1}]
    assert got["documents"] == ["doc"]


def test_adding_an_existing_id_is_skipped(collection: Collection) -> None:
    collection.add(ids=["a"], embeddings=[[1.0, 1.0]], documents=["first"])
    collection.add(ids=["a", "b"], embeddings=[[2.0, 2.0], [3.0, 3.0]], documents=["x", "y"])
    result = collection.get(include=["embeddings", "documents"])
    assert result["ids"] == ["a", "b"]
    assert result["documents"] == ["first", "y"]
    assert result["embeddings"] == [[1.0, 1.0], [3.0, 3.0]]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], r"Expected IDs to be a non-empty list, got \[\]"),
        ({"a"}, "Expected IDs to be a list, got"),
        ([1], "Expected ID to be a str, got 1"),
    ],
)
def test_invalid_ids_are_value_errors(collection: Collection, ids: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        collection.add(ids=ids, embeddings=[[1.0]])  # type: ignore[arg-type]


def test_duplicate_ids_raise_duplicate_id_error_in_add_and_upsert(collection: Collection) -> None:
    for write in (collection.add, collection.upsert):
        with pytest.raises(DuplicateIDError, match="found duplicates of: a") as caught:
            write(ids=["a", "b", "a"], embeddings=[[1.0], [2.0], [3.0]])
        assert not isinstance(caught.value, ValueError)
    many = [f"id{i}" for i in range(12)] * 2
    with pytest.raises(DuplicateIDError, match="found 12 duplicated IDs: id0, "):
        collection.add(ids=many, embeddings=[[1.0]] * 24)
    assert collection.count() == 0


@pytest.mark.parametrize(
    ("embeddings", "message"),
    [
        ("x", "Expected embeddings to be a list, got x"),
        ([], "Expected embeddings to be a list with at least one item"),
        ([[1.0], 2], "Expected each embedding in the embeddings to be a list"),
        ([[]], "Expected each embedding in the embeddings to be a non-empty list, got empty"),
        ([[True]], "Expected each value in the embedding to be a int or float"),
        ([["a"]], "Expected each value in the embedding to be a int or float"),
    ],
)
def test_invalid_embeddings_are_value_errors(
    collection: Collection, embeddings: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        collection.add(ids=["a"], embeddings=embeddings)  # type: ignore[arg-type]


def test_record_metadata_is_validated(collection: Collection) -> None:
    with pytest.raises(ValueError, match="Expected metadata to be a non-empty dict, got {}"):
        collection.add(ids="a", embeddings=[1.0], metadatas={})
    with pytest.raises(ValueError, match="reserved key chroma:document"):
        collection.add(ids="a", embeddings=[1.0], metadatas={"chroma:document": "x"})
    with pytest.raises(TypeError, match="Expected metadata key to be a str") as caught:
        collection.add(ids="a", embeddings=[1.0], metadatas={3: "x"})  # type: ignore[dict-item]
    assert caught.type is TypeError
    assert type(caught.value.__cause__) is InvalidArgumentTypeError
    with pytest.raises(ValueError, match="Expected metadata value to be a str, int, float or bool"):
        collection.add(ids="a", embeddings=[1.0], metadatas={"k": [1]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="Expected metadata value to be a str, int, float or bool"):
        collection.update(ids="a", metadatas={"k": None})  # type: ignore[dict-item]


def test_presence_and_length_checks(collection: Collection) -> None:
    with pytest.raises(
        ValueError, match="You must provide embeddings, documents, images, or uris."
    ):
        collection.add(ids=["a"])
    with pytest.raises(
        ValueError, match="You must provide embeddings, documents, images, or uris."
    ):
        collection.upsert(ids=["a"], metadatas=[{"k": 1}])
    with pytest.raises(ValueError, match="Number of embeddings 1 must match number of ids 2"):
        collection.add(ids=["a", "b"], embeddings=[[1.0]])
    with pytest.raises(ValueError, match="Number of metadatas 1 must match number of ids 2"):
        collection.add(ids=["a", "b"], embeddings=[[1.0], [2.0]], metadatas=[{"k": 1}])
    with pytest.raises(ValueError, match="Number of documents 3 must match number of ids 2"):
        collection.add(ids=["a", "b"], embeddings=[[1.0], [2.0]], documents=["x", "y", "z"])
    with pytest.raises(ValueError, match="You must provide an embedding function to compute"):
        collection.add(ids=["a"], documents=["needs embedding"])


def test_dimension_is_fixed_by_the_first_embedding(collection: Collection) -> None:
    collection.add(ids="a", embeddings=[1.0, 2.0])
    for write in (collection.add, collection.upsert, collection.update):
        with pytest.raises(InvalidDimensionException, match="dimensionality 2") as caught:
            write(ids="b", embeddings=[1.0, 2.0, 3.0])
        assert not isinstance(caught.value, ValueError)
    with pytest.raises(InvalidDimensionException, match="dimensionality"):
        collection.query(query_embeddings=[1.0])
    with pytest.raises(InvalidDimensionException, match="dimensionality"):
        collection.add(ids=["c", "d"], embeddings=[[1.0, 2.0], [1.0]])
    collection.delete(ids="a")
    with pytest.raises(InvalidDimensionException):
        collection.add(ids="a", embeddings=[1.0])


def test_batch_size_limit(client: ClientAPI, collection: Collection) -> None:
    size = client.max_batch_size + 1
    with pytest.raises(ValueError, match=f"Batch size {size} exceeds maximum batch size"):
        collection.add(ids=[str(i) for i in range(size)], embeddings=[[1.0]] * size)


def test_update_merges_metadata_and_skips_missing_ids(collection: Collection) -> None:
    collection.add(ids="a", embeddings=[1.0, 1.0], metadatas={"x": 1, "y": "keep"}, documents="d")
    collection.update(ids=["a", "ghost"], metadatas=[{"x": 2, "z": True}, {"x": 3}])
    result = collection.get(include=["metadatas", "documents", "embeddings"])
    assert result["ids"] == ["a"]
    assert result["metadatas"] == [{"x": 2, "y": "keep", "z": True}]
    assert result["documents"] == ["d"] and result["embeddings"] == [[1.0, 1.0]]
    collection.update(ids="a", embeddings=[2.0, 3.0], documents="new")
    result = collection.get(include=["metadatas", "documents", "embeddings"])
    assert result["documents"] == ["new"] and result["embeddings"] == [[2.0, 3.0]]
    assert result["metadatas"] == [{"x": 2, "y": "keep", "z": True}]
    assert collection.count() == 1


def test_upsert_adds_new_and_merges_existing(collection: Collection) -> None:
    collection.add(ids="a", embeddings=[1.0, 1.0], metadatas={"x": 1, "y": 1}, documents="old")
    collection.upsert(
        ids=["a", "b"],
        embeddings=[[5.0, 5.0], [6.0, 6.0]],
        metadatas=[{"y": 2}, {"n": 1}],
        documents=["new", "bee"],
    )
    result = collection.get(include=["metadatas", "documents", "embeddings"])
    assert result["ids"] == ["a", "b"]
    assert result["metadatas"] == [{"x": 1, "y": 2}, {"n": 1}]
    assert result["documents"] == ["new", "bee"]
    assert result["embeddings"] == [[5.0, 5.0], [6.0, 6.0]]


def test_delete_by_ids_and_filters(collection: Collection) -> None:
    add_five(collection)
    collection.delete(ids=["a", "missing"])
    assert collection.get()["ids"] == ["10", "9", "C", "b"]
    collection.delete(where={"i": 1})
    assert collection.get()["ids"] == ["10", "9", "C"]
    collection.delete(where_document={"$contains": "ten"})
    assert collection.get()["ids"] == ["9", "C"]
    collection.delete(ids=["9", "C"], where={"s": "nope"})
    assert collection.count() == 2
    with pytest.raises(ValueError, match="You must provide either ids, where, or where_document"):
        collection.delete()
    with pytest.raises(ValueError, match="You must provide either ids, where, or where_document"):
        collection.delete(ids=[], where={})


def test_deleted_and_updated_records_never_come_back_stale(collection: Collection) -> None:
    collection.add(ids=["a", "b", "c"], embeddings=[[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    collection.delete(ids="a")
    collection.update(ids="b", embeddings=[10.0, 10.0])
    result = collection.query(query_embeddings=[0.0, 0.0], n_results=3, include=["embeddings"])
    assert result["ids"] == [["c", "b"]]
    assert result["embeddings"] == [[[5.0, 5.0], [10.0, 10.0]]]
    collection.add(ids="a", embeddings=[9.0, 9.0])
    nearest = collection.query(query_embeddings=[9.0, 9.0], n_results=1)
    assert nearest["ids"] == [["a"]]
    assert collection.get(ids="a", include=["embeddings"])["embeddings"] == [[9.0, 9.0]]
