"""Collection lifecycle and validation of the store, against a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chroma_grpc.store import (
    CollectionNotFoundError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidCollectionException,
    RecordBatch,
    ResetNotAllowedError,
    Store,
    UniqueConstraintError,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db", allow_reset=True)
    yield s
    s.close()


def test_create_get_list_count_delete(store: Store) -> None:
    a, created = store.create_collection("alpha", {"k": 1, "f": 1.5, "b": True, "s": "x"})
    assert created and a.dimension is None and a.metadata == {"k": 1, "f": 1.5, "b": True, "s": "x"}
    assert isinstance(a.metadata["k"], int) and isinstance(a.metadata["b"], bool)
    b, _ = store.create_collection("beta")
    assert store.get_collection(name="alpha") == a
    assert store.get_collection(collection_id=b.id) == b
    assert [c.name for c in store.list_collections()] == ["alpha", "beta"]
    assert [c.name for c in store.list_collections(limit=1, offset=1)] == ["beta"]
    assert store.count_collections() == 2
    store.delete_collection("alpha")
    assert store.count_collections() == 1
    with pytest.raises(CollectionNotFoundError, match="Collection alpha does not exist."):
        store.get_collection(name="alpha")
    with pytest.raises(CollectionNotFoundError, match="Collection alpha does not exist."):
        store.delete_collection("alpha")


def test_duplicate_create_and_get_or_create(store: Store) -> None:
    store.create_collection("dup", {"a": 1})
    with pytest.raises(UniqueConstraintError, match="Collection dup already exists"):
        store.create_collection("dup")
    same, created = store.create_collection("dup", None, get_or_create=True)
    assert not created and same.metadata == {"a": 1}
    replaced, _ = store.create_collection("dup", {"b": 2}, get_or_create=True)
    assert replaced.metadata == {"b": 2}
    assert store.get_collection(name="dup").metadata == {"b": 2}


@pytest.mark.parametrize(
    "name", ["ab", "a" * 64, "-abc", "abc-", "a..b", "192.168.1.1", "héllo", "a b c"]
)
def test_bad_collection_names_are_rejected(store: Store, name: object) -> None:
    with pytest.raises(InvalidArgumentError, match="Expected collection name that"):
        store.create_collection(name)  # type: ignore[arg-type]
    assert store.count_collections() == 0


def test_a_non_string_name_is_a_type_error_with_the_name_rule(store: Store) -> None:
    """chromadb 0.4.24 raises TypeError there (its len() fails); the message is the rule's."""
    with pytest.raises(InvalidArgumentTypeError, match="Expected collection name that"):
        store.create_collection(5)  # type: ignore[arg-type]
    assert store.count_collections() == 0


def test_trailing_newline_and_periods_are_accepted(store: Store) -> None:
    info, _ = store.create_collection("jjn2yjLW1zp2T\n")
    assert store.get_collection(name="jjn2yjLW1zp2T\n").id == info.id
    store.create_collection("a.b_c-d")


@pytest.mark.parametrize(
    ("metadata", "error", "fragment"),
    [
        ({}, InvalidArgumentError, "Expected metadata to be a non-empty dict, got {}"),
        ({1: "x"}, InvalidArgumentTypeError, "Expected metadata key to be a str, got 1"),
        ({"a": None}, InvalidArgumentError, "Expected metadata value to be a str, int, float"),
        ({"a": [1]}, InvalidArgumentError, "Expected metadata value to be a str, int, float"),
        ({"chroma:document": "x"}, InvalidArgumentError, "reserved key chroma:document"),
        ({"hnsw:foo": 1}, InvalidArgumentError, "Unknown HNSW parameter: hnsw:foo"),
        ({"hnsw:M": "x"}, InvalidArgumentError, "Invalid value for HNSW parameter: hnsw:M = x"),
        ({"hnsw:space": "l1"}, InvalidArgumentError, "Invalid value for HNSW parameter"),
        ("meta", InvalidArgumentError, "Expected metadata to be a dict or None"),
    ],
)
def test_bad_collection_metadata(
    store: Store, metadata: object, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment.replace("{", r"\{").replace("}", r"\}")):
        store.create_collection("coll", metadata)  # type: ignore[arg-type]
    assert store.count_collections() == 0


def test_hnsw_keys_accepted(store: Store) -> None:
    md = {
        "hnsw:space": "cosine",
        "hnsw:M": 8,
        "hnsw:construction_ef": 50,
        "hnsw:search_ef": 20,
        "hnsw:num_threads": 2,
        "hnsw:resize_factor": 1.5,
        "hnsw:batch_size": 100,
        "hnsw:sync_threshold": 1000,
    }
    info, _ = store.create_collection("hnsw", md)
    assert info.metadata == md


def test_modify_renames_and_replaces_metadata(store: Store) -> None:
    info, _ = store.create_collection("one", {"a": 1, "hnsw:space": "ip"})
    store.create_collection("two")
    changed = store.modify_collection(info.id, name="uno", metadata={"b": 2})
    assert changed.name == "uno" and changed.metadata == {"b": 2}
    with pytest.raises(UniqueConstraintError):
        store.modify_collection(info.id, name="two")
    with pytest.raises(InvalidArgumentError, match="Changing the distance function"):
        store.modify_collection(info.id, metadata={"hnsw:space": "l2"})
    with pytest.raises(InvalidArgumentError, match="non-empty dict"):
        store.modify_collection(info.id, metadata={})
    assert store.get_collection(collection_id=info.id) == changed
    with pytest.raises(InvalidCollectionException, match="Collection nope does not exist."):
        store.modify_collection("nope", name="xyz")


def test_get_or_create_refuses_another_space_exactly_as_modify_does(store: Store) -> None:
    info, _ = store.create_collection("spaced", {"hnsw:space": "l2", "k": 1})
    vectors = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    store.add(info.id, RecordBatch(ids=["x", "y"], embeddings=vectors))
    with pytest.raises(InvalidArgumentError) as by_modify:
        store.modify_collection(info.id, metadata={"hnsw:space": "cosine"})
    with pytest.raises(InvalidArgumentError) as by_get_or_create:
        store.create_collection("spaced", {"hnsw:space": "cosine"}, get_or_create=True)
    assert type(by_get_or_create.value) is type(by_modify.value)
    assert by_get_or_create.value.message == by_modify.value.message
    assert by_get_or_create.value.field == by_modify.value.field == "metadata"
    # Nothing changed: metadata and distances are still l2's.
    assert store.get_collection(name="spaced").metadata == {"hnsw:space": "l2", "k": 1}
    (hits,) = store.query(info.id, np.array([[2.0, 0.0]], np.float32), n_results=2)
    assert hits.distances is not None and hits.distances.tolist() == [1.0, 8.0]
    # The same space, or metadata without one, is still a get (metadata replaced as before).
    same, created = store.create_collection("spaced", {"hnsw:space": "l2", "k": 2}, True)
    assert not created and same.metadata == {"hnsw:space": "l2", "k": 2}
    default, _ = store.create_collection("default-space")
    with pytest.raises(InvalidArgumentError, match="Changing the distance function"):
        store.create_collection("default-space", {"hnsw:space": "ip"}, get_or_create=True)
    assert store.create_collection("default-space", {"hnsw:space": "l2"}, True)[0].id == default.id


def test_get_collection_needs_exactly_one_key(store: Store) -> None:
    with pytest.raises(InvalidArgumentError, match="Name or id must be specified, but not both"):
        store.get_collection()
    with pytest.raises(InvalidArgumentError, match="Name or id must be specified, but not both"):
        store.get_collection(name="a", collection_id="b")


def test_reset_refused_without_allow_reset(tmp_path: Path) -> None:
    s = Store(tmp_path)
    s.create_collection("keep")
    with pytest.raises(
        ResetNotAllowedError, match="Resetting is not allowed by this configuration"
    ):
        s.reset()
    assert s.count_collections() == 1
    s.close()


def test_reset_wipes_everything(tmp_path: Path) -> None:
    s = Store(tmp_path, allow_reset=True)
    info, _ = s.create_collection("gone")
    s.add(info.id, RecordBatch(ids=["a"], embeddings=np.ones((1, 3), np.float32), documents=["x"]))
    s.query(info.id, np.ones((1, 3), np.float32))
    s.reset()
    assert s.count_collections() == 0
    s.close()
    reopened = Store(tmp_path)
    assert reopened.count_collections() == 0
    raw = (tmp_path / "chroma.sqlite3").read_bytes()
    assert b"gone" not in raw
    reopened.close()


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    s = Store(tmp_path)
    s.close()
    with pytest.raises(Exception, match="closed"):
        s.count_collections()
    s.close()


def test_heartbeat_is_nanoseconds(store: Store) -> None:
    assert store.heartbeat() > 1_600_000_000 * 10**9
