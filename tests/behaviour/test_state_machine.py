"""A hypothesis state machine over the client API, checked against a dict model, per transport.

Rules add/upsert/update/delete random batches over a small id pool (so they collide often);
after every step the collection must hold exactly the model's records: same ids in id order,
same embeddings, metadata (merged on update/upsert) and documents, and every stored vector must
be its own nearest neighbour at distance 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chroma_grpc import ClientAPI

DIMENSION = 3
ids_pool = st.sampled_from([f"id{i}" for i in range(12)])
id_batches = st.lists(ids_pool, min_size=1, max_size=5, unique=True)
vectors = st.lists(st.integers(-8, 8).map(float), min_size=DIMENSION, max_size=DIMENSION).filter(
    lambda v: any(v)
)
metadata_values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.text(max_size=5),
)
metadatas = st.dictionaries(st.sampled_from(["a", "b", "c"]), metadata_values, min_size=1)
documents = st.text(alphabet="abcxyz ", max_size=8)


@dataclass
class Record:
    embedding: list[float]
    metadata: dict[str, Any] | None
    document: str | None


@st.composite
def batches(draw: st.DrawFn, optional_metadata: bool) -> dict[str, Any]:
    """ids + embeddings, and sometimes metadatas/documents columns for the same ids."""
    ids = draw(id_batches)
    batch: dict[str, Any] = {"ids": ids, "embeddings": [draw(vectors) for _ in ids]}
    if draw(st.booleans()):
        metadata = st.one_of(st.none(), metadatas) if optional_metadata else metadatas
        batch["metadatas"] = [draw(metadata) for _ in ids]
    if draw(st.booleans()):
        document = st.one_of(st.none(), documents) if optional_metadata else documents
        batch["documents"] = [draw(document) for _ in ids]
    return batch


def column(batch: dict[str, Any], name: str, i: int) -> Any:
    """Entry ``i`` of a batch column, None when the column was not given."""
    return batch[name][i] if name in batch else None


def merged(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    if new is None:
        return old
    return {**(old or {}), **new}


class CollectionMachine(RuleBasedStateMachine):
    client: ClientAPI

    def __init__(self) -> None:
        super().__init__()
        self.client.reset()
        self.collection = self.client.create_collection("machine", embedding_function=None)
        self.model: dict[str, Record] = {}

    @rule(batch=batches(optional_metadata=True))
    def add(self, batch: dict[str, Any]) -> None:
        self.collection.add(**batch)
        for i, id_ in enumerate(batch["ids"]):
            if id_ not in self.model:
                self.model[id_] = Record(
                    batch["embeddings"][i],
                    column(batch, "metadatas", i),
                    column(batch, "documents", i),
                )

    @rule(batch=batches(optional_metadata=False))
    def upsert(self, batch: dict[str, Any]) -> None:
        self.collection.upsert(**batch)
        self._apply(batch, insert_missing=True)

    @rule(batch=batches(optional_metadata=False), keep_embeddings=st.booleans())
    def update(self, batch: dict[str, Any], keep_embeddings: bool) -> None:
        if keep_embeddings and "documents" not in batch:  # documents would need re-embedding
            del batch["embeddings"]
        self.collection.update(**batch)
        self._apply(batch, insert_missing=False)

    @rule(ids=id_batches)
    def delete(self, ids: list[str]) -> None:
        self.collection.delete(ids=ids)
        for id_ in ids:
            self.model.pop(id_, None)

    def _apply(self, batch: dict[str, Any], insert_missing: bool) -> None:
        for i, id_ in enumerate(batch["ids"]):
            metadata, document = column(batch, "metadatas", i), column(batch, "documents", i)
            record = self.model.get(id_)
            if record is None:
                if insert_missing:
                    self.model[id_] = Record(batch["embeddings"][i], metadata, document)
                continue
            if "embeddings" in batch:
                record.embedding = batch["embeddings"][i]
            record.metadata = merged(record.metadata, metadata)
            if document is not None:
                record.document = document

    @invariant()
    def records_match_the_model(self) -> None:
        got = self.collection.get(include=["embeddings", "metadatas", "documents"])
        expected_ids = sorted(self.model)
        assert got["ids"] == expected_ids
        assert self.collection.count() == len(self.model)
        assert got["embeddings"] == [self.model[i].embedding for i in expected_ids]
        assert got["metadatas"] == [self.model[i].metadata for i in expected_ids]
        assert got["documents"] == [self.model[i].document for i in expected_ids]

    @invariant()
    def each_vector_is_its_own_nearest_neighbour(self) -> None:
        if not self.model:
            return
        ids = sorted(self.model)
        queries = [self.model[i].embedding for i in ids]
        result = self.collection.query(query_embeddings=queries, n_results=len(ids) + 3)
        assert result["distances"] is not None
        rows = zip(result["ids"], result["distances"], strict=True)
        for i, (found, distances) in enumerate(rows):
            assert sorted(found) == ids
            assert distances[0] == 0.0
            assert distances == sorted(distances)
            assert ids[i] in [f for f, d in zip(found, distances, strict=True) if d == 0.0]


def test_client_api_matches_a_dict_model(client: ClientAPI) -> None:
    machine = type("Machine", (CollectionMachine,), {"client": client})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
