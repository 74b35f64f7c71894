"""chromadb 0.4.24's property.test_persist, with our fixtures (conftest.py) and chromadb's
``System`` on our PersistentClient (chromadb_system.py)."""

from typing import Any

import chromadb.test.property.test_persist as chromadb_test_persist
import pytest
from chromadb.test.property.test_persist import *  # noqa: F403

import chroma_grpc
from tests.chromadb_suite.chromadb_system import check_spawned_processes_with_our_names

# Its state machine checks the folder in a spawned process, which does not run our conftest.
check_spawned_processes_with_our_names(chromadb_test_persist)


def test_spawned_check_reads_the_folder_and_can_fail(settings: Any) -> None:
    """Ours, not chromadb's: the state machine's ``persist`` step (which the few steps of
    ``make test`` rarely reach) passes on what was written and fails on a mismatch."""
    api = chroma_grpc.Client(settings)
    machine = chromadb_test_persist.PersistEmbeddingsStateMachine(api=api, settings=settings)
    machine.collection = api.create_collection("persisted", metadata={"hnsw:space": "l2"})
    records = {
        "ids": ["a", "b", "c"],
        "embeddings": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        "metadatas": [{"n": 1}, None, {"s": "x"}],
        "documents": ["one", None, "three"],
    }
    machine.collection.add(**records)
    machine.record_set_state = records
    machine.persist()

    machine.record_set_state = {**records, "documents": ["one", None, "other"]}
    with pytest.raises(AssertionError):
        machine.persist()
    machine.teardown()
