"""Client-level API (chromadb 0.4.24's ClientAPI): system calls and collection management, on
both transports."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

import chroma_grpc
from chroma_grpc import ClientAPI, Collection
from chroma_grpc.errors import (
    ChromaError,
    CollectionNotFoundError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidCollectionException,
    UniqueConstraintError,
)

NAME_MESSAGE = "Expected collection name that (1) contains 3-63 characters"


def test_heartbeat_is_nanoseconds_since_the_epoch(client: ClientAPI) -> None:
    before = time.time_ns()
    beat = client.heartbeat()
    assert isinstance(beat, int)
    assert before - 10**9 < beat < time.time_ns() + 10**9


def test_version_settings_and_batch_size(client: ClientAPI) -> None:
    assert client.get_version() == "0.4.24"
    assert client.get_settings().is_persistent is False
    assert client.max_batch_size >= 1000


def test_create_then_get_returns_an_equal_collection(client: ClientAPI) -> None:
    created = client.create_collection("docs", metadata={"topic": "a", "n": 1})
    fetched = client.get_collection("docs")
    assert created == fetched
    assert repr(fetched) == "Collection(name=docs)"
    assert isinstance(fetched.id, uuid.UUID)
    assert fetched.metadata == {"topic": "a", "n": 1}
    assert (fetched.tenant, fetched.database) == ("default_tenant", "default_database")


def test_get_collection_by_id(client: ClientAPI) -> None:
    created = client.create_collection("docs")
    assert client.get_collection(id=created.id) == created
    assert client.get_collection(id=str(created.id)).name == "docs"


@pytest.mark.parametrize("kwargs", [{}, {"name": "docs", "id": uuid.uuid4()}])
def test_get_collection_needs_exactly_one_of_name_and_id(
    client: ClientAPI, kwargs: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="Name or id must be specified, but not both"):
        client.get_collection(**kwargs)  # type: ignore[arg-type]


def test_duplicate_create_is_a_unique_constraint_error_not_a_value_error(
    client: ClientAPI,
) -> None:
    client.create_collection("docs")
    with pytest.raises(UniqueConstraintError, match="Collection docs already exists") as caught:
        client.create_collection("docs")
    assert not isinstance(caught.value, ValueError)


def test_missing_collection_is_exactly_a_value_error(client: ClientAPI) -> None:
    """chromadb 0.4.24 raises ValueError itself; the store's CollectionNotFoundError (and its
    reason on the wire) is kept as the cause."""
    with pytest.raises(ValueError, match="Collection nope does not exist.") as caught:
        client.get_collection("nope")
    assert caught.type is ValueError
    assert type(caught.value.__cause__) is CollectionNotFoundError
    with pytest.raises(ValueError, match="Collection nope does not exist.") as caught:
        client.delete_collection("nope")
    assert caught.type is ValueError


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "-abc", "abc-", "a..b", "192.168.1.1", "ab c", "café", "abc\n\n"],
)
def test_invalid_collection_names_are_rejected(client: ClientAPI, name: str) -> None:
    with pytest.raises(ValueError, match=NAME_MESSAGE.replace("(", r"\(").replace(")", r"\)")):
        client.create_collection(name)


@pytest.mark.parametrize("name", ["abc", "a.b-c_d", "A1" * 31 + "z", "jjn2yjLW1zp2T\n"])
def test_valid_collection_names_are_accepted(client: ClientAPI, name: str) -> None:
    assert client.create_collection(name).name == name


def test_collection_metadata_is_validated(client: ClientAPI) -> None:
    with pytest.raises(ValueError, match="Expected metadata to be a non-empty dict, got {}"):
        client.create_collection("docs", metadata={})
    with pytest.raises(TypeError, match="Expected metadata key to be a str") as caught:
        client.create_collection("docs", metadata={1: "x"})  # type: ignore[dict-item]
    assert caught.type is TypeError
    assert type(caught.value.__cause__) is InvalidArgumentTypeError
    with pytest.raises(ValueError, match="Expected metadata value to be a str, int, float or bool"):
        client.create_collection("docs", metadata={"a": None})
    with pytest.raises(ValueError, match="Unknown HNSW parameter: hnsw:foo"):
        client.create_collection("docs", metadata={"hnsw:foo": 1})
    with pytest.raises(ValueError, match="Invalid value for HNSW parameter: hnsw:M = x"):
        client.create_collection("docs", metadata={"hnsw:M": "x"})
    assert client.count_collections() == 0


def test_get_or_create_keeps_or_replaces_metadata(client: ClientAPI) -> None:
    first = client.get_or_create_collection("docs", metadata={"a": 1})
    again = client.get_or_create_collection("docs")
    assert again.id == first.id and again.metadata == {"a": 1}
    replaced = client.get_or_create_collection("docs", metadata={"b": 2})
    assert replaced.id == first.id and replaced.metadata == {"b": 2}
    assert client.get_collection("docs").metadata == {"b": 2}
    assert client.create_collection("docs", get_or_create=True).metadata == {"b": 2}


def test_list_count_and_slice_collections(client: ClientAPI, transport: str) -> None:
    assert client.list_collections() == [] and client.count_collections() == 0
    for name in ["one", "two", "three"]:
        client.create_collection(name)
    listed = client.list_collections()
    expected = chroma_grpc.AsyncCollection if transport == "async" else Collection
    assert all(isinstance(c, expected) for c in listed)
    assert sorted(c.name for c in listed) == ["one", "three", "two"]
    assert client.list_collections() == listed
    assert client.count_collections() == 3
    assert client.list_collections(limit=2) == listed[:2]
    assert client.list_collections(offset=1) == listed[1:]
    assert client.list_collections(limit=1, offset=2) == listed[2:]


def test_delete_collection_removes_it_and_its_records(client: ClientAPI) -> None:
    collection = client.create_collection("docs")
    collection.add(ids="a", embeddings=[1.0, 2.0])
    client.delete_collection("docs")
    assert client.count_collections() == 0
    recreated = client.create_collection("docs")
    assert recreated.id != collection.id and recreated.count() == 0


def test_a_deleted_collection_handle_raises_invalid_collection(client: ClientAPI) -> None:
    collection = client.create_collection("docs")
    collection.add(ids="a", embeddings=[1.0, 2.0])
    client.delete_collection("docs")
    operations: list[Callable[[], object]] = [
        lambda: collection.add(ids="b", embeddings=[1.0, 2.0]),
        lambda: collection.upsert(ids="b", embeddings=[1.0, 2.0]),
        lambda: collection.update(ids="a", embeddings=[1.0, 2.0]),
        lambda: collection.delete(ids="a"),
        lambda: collection.query(query_embeddings=[1.0, 2.0]),
        lambda: collection.get(),
        lambda: collection.count(),
        lambda: collection.peek(),
    ]
    for operation in operations:
        with pytest.raises(InvalidCollectionException, match="does not exist"):
            operation()


def test_modify_renames_and_replaces_metadata(client: ClientAPI) -> None:
    collection = client.create_collection("docs", metadata={"a": 1, "hnsw:space": "ip"})
    collection.modify(name="papers")
    assert collection.name == "papers"
    assert client.get_collection("papers").id == collection.id
    with pytest.raises(ValueError):
        client.get_collection("docs")
    collection.modify(metadata={"b": 2})
    assert collection.metadata == client.get_collection("papers").metadata
    assert client.get_collection("papers").metadata is not None
    assert "a" not in (client.get_collection("papers").metadata or {})


def test_modify_rejects_distance_change_bad_names_and_name_clashes(client: ClientAPI) -> None:
    collection = client.create_collection("docs")
    client.create_collection("taken")
    with pytest.raises(ValueError, match="Changing the distance function of a collection"):
        collection.modify(metadata={"hnsw:space": "cosine"})
    with pytest.raises(ValueError, match="Expected metadata to be a non-empty dict"):
        collection.modify(metadata={})
    with pytest.raises(ValueError, match="Expected collection name"):
        collection.modify(name="x")
    with pytest.raises(ChromaError):
        collection.modify(name="taken")
    assert collection.name == "docs"


def test_reset_wipes_everything(client: ClientAPI) -> None:
    client.create_collection("docs").add(ids="a", embeddings=[1.0])
    assert client.reset() is True
    assert client.list_collections() == []


def test_only_the_default_tenant_and_database_exist(client: ClientAPI) -> None:
    client.set_tenant("default_tenant", database="default_database")
    client.set_database("default_database")
    with pytest.raises(ValueError, match="Could not connect to tenant other. Are you sure"):
        client.set_tenant("other")
    with pytest.raises(ValueError, match="Could not connect to database other for tenant"):
        client.set_database("other")
    assert (client.tenant, client.database) == ("default_tenant", "default_database")
    assert issubclass(InvalidArgumentError, ValueError)
