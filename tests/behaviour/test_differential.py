"""Where a differential run against chromadb 0.4.24 found our answers different, and what we
answer now: the same on every transport (docs/compatibility.md lists where we differ on purpose).
"""

from __future__ import annotations

import re

import pytest

from chroma_grpc import ClientAPI, Collection
from chroma_grpc.errors import InvalidArgumentError, InvalidArgumentTypeError

NAME_RULE = "Expected collection name that (1) contains 3-63 characters"


@pytest.fixture
def collection(client: ClientAPI) -> Collection:
    collection = client.create_collection("diff", embedding_function=None)
    collection.add(
        ids=["x", "y"],
        embeddings=[[1.0, 2.0], [3.0, 4.0]],
        documents=["kept", "also kept"],
        uris=["u://x", "u://y"],
        metadatas=[{"a": 1}, {"a": 2}],
    )
    return collection


def stored(collection: Collection, record_id: str) -> tuple[object, object, object]:
    got = collection.get(ids=[record_id], include=["documents", "uris", "metadatas"])
    return got["documents"][0], got["uris"][0], got["metadatas"][0]


def test_a_none_document_in_upsert_or_update_removes_the_document(collection: Collection) -> None:
    """chromadb 0.4.24 stores documents=[None] as "no document" for an existing record."""
    collection.upsert(ids=["x"], embeddings=[[1.0, 2.0]], documents=[None])
    assert stored(collection, "x") == (None, "u://x", {"a": 1})
    collection.update(ids=["y"], embeddings=[[0.0, 1.0]], documents=[None])
    assert stored(collection, "y") == (None, "u://y", {"a": 2})
    collection.update(ids=["y"], uris=[None])  # uris are a column like documents
    assert stored(collection, "y") == (None, None, {"a": 2})
    # A column given with a value for some records only: the others lose theirs.
    collection.update(ids=["x", "y"], embeddings=[[1.0, 1.0]] * 2, documents=["back", None])
    assert [stored(collection, i)[0] for i in ("x", "y")] == ["back", None]
    # A column not given, or a None metadata, leaves what is stored.
    collection.update(ids=["x"], embeddings=[[2.0, 2.0]], metadatas=[None])
    assert stored(collection, "x") == ("back", "u://x", {"a": 1})


def test_eq_with_a_list_operand_is_a_value_error_empty_collection_or_not(
    client: ClientAPI, collection: Collection
) -> None:
    """chromadb 0.4.24 answers [] (its SQL compares with nothing); we refuse the filter, the
    same way whether or not the collection holds records, before any store is reached."""
    empty = client.create_collection("empty", embedding_function=None)
    for target in (empty, collection):
        for call in (
            lambda t=target: t.get(where={"a": {"$eq": [1]}}),
            lambda t=target: t.query(query_embeddings=[[1.0, 2.0]], where={"a": {"$ne": [1]}}),
            lambda t=target: t.delete(where={"a": {"$eq": [1]}}),
        ):
            with pytest.raises(ValueError, match=re.escape("only $in and $nin take a list")) as e:
                call()  # type: ignore[no-untyped-call]
            assert e.type is ValueError
            assert type(e.value.__cause__) is InvalidArgumentError
    assert collection.count() == 2


@pytest.mark.parametrize("name", [123, 1.5, None, b"bytes", ["abc"]])
def test_a_non_string_collection_name_gets_chromadbs_class(client: ClientAPI, name: object) -> None:
    """chromadb 0.4.24: create_collection(123) is a TypeError (its len() fails), while
    get_collection / delete_collection(123) find nothing: ValueError."""
    if name is not None:
        with pytest.raises(TypeError, match="Expected collection name") as created:
            client.create_collection(name)  # type: ignore[arg-type]
        assert created.type is TypeError
        assert type(created.value.__cause__) is InvalidArgumentTypeError
        with pytest.raises(ValueError, match=re.escape(f"Collection {name} does not exist.")) as e:
            client.get_collection(name)  # type: ignore[arg-type]
        assert e.type is ValueError
    with pytest.raises(ValueError, match=re.escape(f"Collection {name} does not exist.")) as e:
        client.delete_collection(name)  # type: ignore[arg-type]
    assert e.type is ValueError
    assert client.count_collections() == 0


def test_modify_to_a_non_string_name_is_a_type_error(collection: Collection) -> None:
    with pytest.raises(TypeError, match=NAME_RULE.replace("(", r"\(").replace(")", r"\)")) as e:
        collection.modify(name=5)  # type: ignore[arg-type]
    assert e.type is TypeError
    assert collection.name == "diff"


def test_get_collection_of_an_empty_name_is_not_found(client: ClientAPI) -> None:
    """chromadb 0.4.24 looks "" up like any name: "Collection  does not exist." (ValueError)."""
    for call in (lambda: client.get_collection(""), lambda: client.delete_collection("")):
        with pytest.raises(ValueError) as caught:
            call()
        assert caught.type is ValueError
        assert str(caught.value) == "Collection  does not exist."
    with pytest.raises(ValueError, match="Name or id must be specified, but not both"):
        client.get_collection()
