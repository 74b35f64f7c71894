"""Issue #8.4 (the SQL side): flat ``$or`` / ``$and`` of 5,000 children work on both transports.

They used to end in INTERNAL from about 1,000 children (SQLite's expression depth limit). The
filters and the Python oracle are the store tests' (tests/store/test_store_filters.py).
"""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
import pytest

from chroma_grpc import ClientAPI
from tests.store.test_store_filters import (
    _wide_records,
    oracle_document,
    oracle_where,
    wide_and,
    wide_or,
)

SIZE = 600
IDS = [f"r{i:05d}" for i in range(SIZE)]
RECORDS = _wide_records(SIZE, seed=5)
DOCUMENTS = [f"doc {i} word{i % 50}" for i in range(SIZE)]
BUILDERS = {"or": wide_or, "and": wide_and}


@functools.cache
def _case(name: str) -> tuple[dict[str, Any], list[str]]:
    """The 5,000-child filter and the ids the oracle says it selects (computed once)."""
    where = BUILDERS[name](5000, random.Random(name), SIZE)
    expected = [i for i, md in zip(IDS, RECORDS, strict=True) if oracle_where(where, md)]
    assert 0 < len(expected) < SIZE
    return where, expected


@pytest.mark.parametrize("name", list(BUILDERS))
def test_five_thousand_children_on_get_query_and_delete(client: ClientAPI, name: str) -> None:
    where, expected = _case(name)
    collection = client.create_collection("wide", embedding_function=None)
    x = np.random.default_rng(0).standard_normal((SIZE, 4)).astype(np.float32)
    collection.add(ids=IDS, embeddings=x, metadatas=RECORDS, documents=DOCUMENTS)
    assert collection.get(where=where)["ids"] == expected
    hits = collection.query(query_embeddings=x[:2], n_results=SIZE, where=where)
    assert [sorted(h) for h in hits["ids"]] == [expected, expected]
    collection.delete(where=where)
    assert collection.get()["ids"] == [i for i in IDS if i not in set(expected)]


def test_five_thousand_document_children(client: ClientAPI) -> None:
    ids, documents = IDS[:200], DOCUMENTS[:200]
    collection = client.create_collection("wide-docs", embedding_function=None)
    collection.add(ids=ids, embeddings=np.zeros((200, 1), np.float32), documents=documents)
    any_of = {"$or": [{"$contains": f"word{k}"} for k in range(0, 5000, 3)] * 3}
    none_of = {"$and": [{"$not_contains": f"word{k}x"} for k in range(4999)] + [any_of]}
    for where_document in (any_of, none_of):
        expected = [
            i for i, d in zip(ids, documents, strict=True) if oracle_document(where_document, d)
        ]
        assert 0 < len(expected) < len(ids)
        assert collection.get(where_document=where_document)["ids"] == expected
