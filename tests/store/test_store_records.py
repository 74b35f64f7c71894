"""Record semantics (spec sections 4 and 14) and every write/read validation error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chroma_grpc.store import (
    BatchSizeExceededError,
    DuplicateIDError,
    GetResult,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidCollectionException,
    InvalidDimensionException,
    RecordBatch,
    ResourceExhaustedError,
    Store,
    StoreLimits,
)

ALL = frozenset({"embeddings", "metadatas", "documents", "uris"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path, limits=StoreLimits(max_batch_size=50, max_dimension=16, max_n_results=20))
    yield s
    s.close()


@pytest.fixture
def cid(store: Store) -> str:
    info, _ = store.create_collection("records")
    store.add(
        info.id,
        RecordBatch(
            ids=["b", "a", "C", "10", "9"],
            embeddings=np.arange(10, dtype=np.float32).reshape(5, 2),
            metadatas=[
                {"n": 1},
                {"n": 2.5, "chroma:hidden": 1},
                {"chroma:x": "y"},
                None,
                {"t": True},
            ],
            documents=["doc b", None, "doc C", "doc 10", None],
            uris=["u://b", None, None, None, "u://9"],
        ),
    )
    return info.id


def snapshot(store: Store, cid: str) -> GetResult:
    return store.get(cid, include=ALL)


def assert_same(x: GetResult, y: GetResult) -> None:
    assert x.ids == y.ids and x.metadatas == y.metadatas and x.documents == y.documents
    assert x.uris == y.uris
    assert x.embeddings is not None and y.embeddings is not None
    np.testing.assert_array_equal(x.embeddings, y.embeddings)


def test_get_orders_by_id_bytewise_and_hides_chroma_keys(store: Store, cid: str) -> None:
    got = store.get(cid, include=ALL)
    assert got.ids == ["10", "9", "C", "a", "b"]
    assert got.metadatas == [None, {"t": True}, None, {"n": 2.5}, {"n": 1}]
    assert got.documents == ["doc 10", None, "doc C", None, "doc b"]
    assert got.uris == [None, "u://9", None, None, "u://b"]
    assert got.embeddings is not None and got.embeddings.dtype == np.float32
    assert got.embeddings[-1].tolist() == [0.0, 1.0]
    assert isinstance(got.metadatas[1]["t"], bool)  # type: ignore[index]
    assert isinstance(got.metadatas[4]["n"], int)  # type: ignore[index]


def test_get_default_include_and_limits(store: Store, cid: str) -> None:
    got = store.get(cid)
    assert got.embeddings is None and got.uris is None and got.documents is not None
    assert store.get(cid, limit=2, offset=1).ids == ["9", "C"]
    assert store.get(cid, limit=0).ids == ["10", "9", "C", "a", "b"]
    assert store.get(cid, ids=["b", "zz", "a"]).ids == ["a", "b"]
    assert store.get(cid, ids=[], where={}).ids == ["10", "9", "C", "a", "b"]
    assert store.get(cid, ids=["a", "b"], where={"n": 1}).ids == ["b"]


def test_peek_returns_embeddings(store: Store, cid: str) -> None:
    peek = store.peek(cid, limit=2)
    assert (
        peek.ids == ["10", "9"] and peek.embeddings is not None and peek.embeddings.shape == (2, 2)
    )


def test_add_skips_existing_ids(store: Store, cid: str) -> None:
    before = snapshot(store, cid)
    store.add(cid, RecordBatch(ids=["a", "new"], embeddings=np.ones((2, 2)), documents=["x", "y"]))
    after = store.get(cid, include=ALL)
    assert after.ids == ["10", "9", "C", "a", "b", "new"]
    assert after.documents[3] is None and after.documents[5] == "y"  # type: ignore[index]
    assert after.metadatas[:5] == before.metadatas  # type: ignore[index]


def test_update_merges_metadata_and_skips_missing(store: Store, cid: str) -> None:
    store.update(
        cid,
        RecordBatch(
            ids=["b", "missing", "a"],
            metadatas=[{"m": "new", "n": None}, {"x": 1}, None],
            documents=["new b", "ignored", None],
        ),
    )
    got = store.get(cid, ids=["a", "b", "missing"], include=ALL)
    assert got.ids == ["a", "b"]
    assert got.metadatas == [{"n": 2.5}, {"m": "new"}]
    assert got.documents == [None, "new b"]
    store.update(cid, RecordBatch(ids=["a"], embeddings=np.array([[7, 7]], np.float32)))
    assert store.get(cid, ids=["a"], include=ALL).embeddings.tolist() == [[7.0, 7.0]]  # type: ignore[union-attr]


def test_upsert_adds_and_updates(store: Store, cid: str) -> None:
    store.upsert(
        cid,
        RecordBatch(
            ids=["a", "z"], embeddings=np.zeros((2, 2)), metadatas=[{"extra": 1}, {"new": True}]
        ),
    )
    got = store.get(cid, ids=["a", "z"], include=ALL)
    assert got.metadatas == [{"n": 2.5, "extra": 1}, {"new": True}]
    assert got.embeddings.tolist() == [[0, 0], [0, 0]]  # type: ignore[union-attr]
    assert store.count(cid) == 6


def test_delete_by_criteria(store: Store, cid: str) -> None:
    remaining = set(store.get(cid).ids)
    assert store.delete(cid, ids=["a", "nope"]) == 1
    assert store.delete(cid, where_document={"$contains": "doc"}, ids=["b", "9"]) == 1
    assert store.delete(cid, where={"t": True}) == 1
    assert set(store.get(cid).ids) == remaining - {"a", "b", "9"}
    assert store.count(cid) == 2
    with pytest.raises(InvalidArgumentError, match="You must provide either ids, where, or"):
        store.delete(cid)
    with pytest.raises(InvalidArgumentError, match="You must provide either ids, where, or"):
        store.delete(cid, ids=[], where={}, where_document={})
    assert store.count(cid) == 2


def test_dimension_fixed_by_first_embedding_and_kept(store: Store, cid: str) -> None:
    assert store.get_collection(collection_id=cid).dimension == 2
    store.delete(cid, ids=store.get(cid).ids)
    with pytest.raises(
        InvalidDimensionException,
        match="Embedding dimension 3 does not match collection dimensionality 2",
    ):
        store.add(cid, RecordBatch(ids=["x"], embeddings=np.ones((1, 3))))
    for call in (store.upsert, store.update):
        with pytest.raises(InvalidDimensionException, match="dimensionality"):
            call(cid, RecordBatch(ids=["x"], embeddings=np.ones((1, 3))))
    with pytest.raises(InvalidDimensionException, match="dimensionality"):
        store.query(cid, np.ones((1, 3)))


BAD_WRITES = [
    (RecordBatch(ids=[]), InvalidArgumentError, "Expected IDs to be a non-empty list"),
    (
        RecordBatch(ids=["a", 1], embeddings=np.ones((2, 2))),
        InvalidArgumentError,
        "Expected ID to be a str",
    ),  # type: ignore[list-item]
    (RecordBatch(ids=[""], embeddings=np.ones((1, 2))), InvalidArgumentError, "non-empty str"),
    (
        RecordBatch(ids=["a", "a", "b", "b"], embeddings=np.ones((4, 2))),
        DuplicateIDError,
        "found duplicates of: a, b",
    ),
    (
        RecordBatch(ids=[f"i{i % 12}" for i in range(24)], embeddings=np.ones((24, 2))),
        DuplicateIDError,
        "found 12 duplicated IDs: i0, i1, i2, i3, i4, ..., i6, i7, i8, i9, i10",
    ),
    (
        RecordBatch(ids=[str(i) for i in range(51)], embeddings=np.ones((51, 2))),
        BatchSizeExceededError,
        "Batch size 51 exceeds maximum batch size 50",
    ),
    (RecordBatch(ids=["n1"]), InvalidArgumentError, "embeddings"),
    (
        RecordBatch(ids=["n1", "n2"], embeddings=np.ones((1, 2))),
        InvalidArgumentError,
        "Number of embeddings 1 must match number of ids 2",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), documents=["a", "b"]),
        InvalidArgumentError,
        "Number of documents 2 must match number of ids 1",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), metadatas=[{"a": 1}, None]),
        InvalidArgumentError,
        "Number of metadatas 2 must match number of ids 1",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), uris=[]),
        InvalidArgumentError,
        "Number of uris 0 must match number of ids 1",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.array([[np.nan, 1.0]])),
        InvalidArgumentError,
        "embeddings",
    ),
    (RecordBatch(ids=["n1"], embeddings=np.array([[np.inf, 1.0]])), InvalidArgumentError, "finite"),
    (RecordBatch(ids=["n1"], embeddings=np.ones(2)), InvalidArgumentError, "2-D"),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 17))),
        InvalidArgumentError,
        "exceeds maximum dimension 16",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 3))),
        InvalidDimensionException,
        "dimensionality 2",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), metadatas=[{}]),
        InvalidArgumentError,
        "non-empty dict",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), metadatas=[{2: 1}]),
        InvalidArgumentTypeError,
        "metadata key to be a str",
    ),  # type: ignore[dict-item]
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), metadatas=[{"a": None}]),
        InvalidArgumentError,
        "metadata value",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), metadatas=[{"chroma:document": "x"}]),
        InvalidArgumentError,
        "reserved key",
    ),
    (
        RecordBatch(ids=["n1"], embeddings=np.ones((1, 2)), documents=[3]),
        InvalidArgumentError,
        "documents",
    ),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("batch", "error", "fragment"), BAD_WRITES)
@pytest.mark.parametrize("op", ["add", "upsert"])
def test_bad_writes_change_nothing(
    store: Store, cid: str, op: str, batch: RecordBatch, error: type[Exception], fragment: str
) -> None:
    before = snapshot(store, cid)
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        getattr(store, op)(cid, batch)
    assert getattr(info.value, "field", None) is not None
    assert_same(before, snapshot(store, cid))


def test_update_accepts_none_metadata_values_but_not_empty(store: Store, cid: str) -> None:
    before = snapshot(store, cid)
    with pytest.raises(InvalidArgumentError, match="non-empty dict"):
        store.update(cid, RecordBatch(ids=["a"], metadatas=[{}]))
    assert_same(before, snapshot(store, cid))


def test_unknown_collection(store: Store) -> None:
    for call in (
        lambda: store.add("nope", RecordBatch(ids=["a"], embeddings=np.ones((1, 2)))),
        lambda: store.get("nope"),
        lambda: store.count("nope"),
        lambda: store.delete("nope", ids=["a"]),
        lambda: store.query("nope", np.ones((1, 2))),
    ):
        with pytest.raises(InvalidCollectionException, match="Collection nope does not exist."):
            call()


def test_read_validation(store: Store, cid: str) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match="Expected include item to be one of embeddings, documents, metadatas, uris, data, "
        "got distances",
    ):
        store.get(cid, include=frozenset({"distances"}))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="Limit cannot be negative"):
        store.get(cid, limit=-1)
    with pytest.raises(InvalidArgumentError, match="Offset cannot be negative"):
        store.get(cid, offset=-1)
    with pytest.raises(
        InvalidArgumentTypeError,
        match="Number of requested results 0, cannot be negative, or zero.",
    ):
        store.query(cid, np.ones((1, 2)), n_results=0)
    with pytest.raises(
        InvalidArgumentError, match="Expected requested number of results to be a int"
    ):
        store.query(cid, np.ones((1, 2)), n_results=1.0)  # type: ignore[arg-type]
    with pytest.raises(ResourceExhaustedError, match="20"):
        store.query(cid, np.ones((1, 2)), n_results=21)
    with pytest.raises(InvalidArgumentError, match="query_embeddings"):
        store.query(cid, np.array([[np.nan, 0.0]]))


# -- NUL characters: stored and matched exactly -------------------------------------------------
def test_nul_ids_select_exactly_their_own_record(store: Store) -> None:
    """json_each used to cut strings at U+0000: "a\\x00zzz" selected, deleted and updated "a"."""
    info, _ = store.create_collection("nul")
    ids = ["a", "a\x00zzz", "\x00", "a\x01b", "a\x01", "a\x00"]
    store.add(
        info.id,
        RecordBatch(
            ids=ids,
            embeddings=np.eye(6, 2, dtype=np.float32),
            metadatas=[{"k": v, f"key\x00{n}": n} for n, v in enumerate(ids)],
            documents=[f"doc\x00{v}" for v in ids],
        ),
    )
    assert store.get(info.id).ids == sorted(ids, key=lambda s: s.encode())
    for n, v in enumerate(ids):
        got = store.get(info.id, ids=[v], include=frozenset({"metadatas", "documents"}))
        assert got.ids == [v]
        assert got.metadatas == [{"k": v, f"key\x00{n}": n}] and got.documents == [f"doc\x00{v}"]
    store.update(info.id, RecordBatch(ids=["a\x00zzz"], documents=["changed"]))
    assert store.get(info.id, ids=["a"], include=frozenset({"documents"})).documents == ["doc\x00a"]
    assert store.delete(info.id, ids=["a\x00zzz"]) == 1
    assert "a" in store.get(info.id).ids and "a\x00zzz" not in store.get(info.id).ids


def test_strings_that_sqlite_cannot_store_are_invalid_arguments(store: Store, cid: str) -> None:
    before = snapshot(store, cid)
    for batch in (
        RecordBatch(ids=["\ud800"], embeddings=np.ones((1, 2))),
        RecordBatch(ids=["ok"], embeddings=np.ones((1, 2)), documents=["lone \udfff"]),
    ):
        with pytest.raises(InvalidArgumentError, match="add: .* valid Unicode"):
            store.add(cid, batch)
    with pytest.raises(InvalidArgumentError, match="valid Unicode"):
        store.get(cid, ids=["\ud800"])
    assert_same(before, snapshot(store, cid))


def test_out_of_range_numbers_never_leak_overflow_error(store: Store, cid: str) -> None:
    for call in (
        lambda: store.get(cid, limit=2**63),
        lambda: store.get(cid, offset=2**64),
    ):
        with pytest.raises(InvalidArgumentError):
            call()
