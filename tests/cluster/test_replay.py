"""A replica that crashed between an op's commit and recording its position applies that op
again: applying any op twice in a row must give the records applying it once gives.

(Replaying a longer suffix of the log is not safe in general: an update that skipped a missing
id, replayed after a later add of that id, changes it. This test found that, which is why a
replica records its position after every op: docs/cluster.md.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chroma_grpc.cluster import ops
from chroma_grpc.cluster.replica import apply_op
from chroma_grpc.store import Store
from chroma_grpc.store.errors import ChromaError, ErrorCode
from chroma_grpc.store.types import RecordBatch

IDS = ["a", "b", "c", "d"]
values = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y"]), st.booleans())


@st.composite
def operations(draw: Any) -> ops.Operation:
    kind = draw(st.sampled_from(["add", "upsert", "update", "delete", "delete_where"]))
    if kind == "delete":
        return ops.DeleteRecords(draw(st.lists(st.sampled_from(IDS), max_size=3)), None, None)
    if kind == "delete_where":
        return ops.DeleteRecords(None, {"k": {"$gte": draw(st.integers(-3, 3))}}, None)
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True))
    with_vectors = kind != "update" or draw(st.booleans())
    metadata = st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["k", "m"]),
            values if kind == "add" else st.one_of(values, st.none()),
            max_size=2,
        ),
    )
    return ops.WriteRecords(
        kind,
        RecordBatch(
            ids=ids,
            embeddings=np.array([[draw(st.integers(0, 3)), 1.0] for _ in ids], np.float32)
            if with_vectors
            else None,
            metadatas=[draw(metadata) for _ in ids],
            documents=[draw(st.one_of(st.none(), st.sampled_from(["d1", "d2"]))) for _ in ids],
        ),
    )


def state(store: Store, collection_id: str) -> Any:
    found = store.get(collection_id, include=frozenset({"embeddings", "metadatas", "documents"}))
    vectors = [] if found.embeddings is None else found.embeddings.tolist()
    return found.ids, vectors, found.metadatas, found.documents


def apply(store: Store, collection_id: str, payload: bytes) -> None:
    """As a replica applies a log message: refused ops are refused alike, and skipped."""
    try:
        apply_op(store, collection_id, ops.decode(payload))
    except ChromaError as error:
        assert error.code is ErrorCode.INVALID_ARGUMENT, error


@settings(max_examples=80, deadline=None)
@given(st.lists(operations(), min_size=1, max_size=12), st.data())
def test_an_op_applied_again_after_a_crash_changes_nothing(
    log: list[ops.Operation], data: st.DataObject
) -> None:
    once, twice = Store(None), Store(None)
    try:
        first = once.create_collection("shard")[0].id
        second = twice.create_collection("shard")[0].id
        encoded = [ops.encode(op) for op in log]  # what the log holds
        crashed_after = data.draw(st.integers(0, len(encoded) - 1))
        for position, payload in enumerate(encoded):
            apply(once, first, payload)
            apply(twice, second, payload)
            if position == crashed_after:  # committed, position not recorded: applied again
                apply(twice, second, payload)
        assert state(twice, second) == state(once, first)
    finally:
        once.close()
        twice.close()
