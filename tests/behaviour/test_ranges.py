"""Numbers out of range are refused with a message, on both transports, before they reach
SQLite or FAISS: HNSW parameters at create / modify / get_or_create (absurdly large in-range
ints too), and limit / offset at or beyond 2**63."""

from __future__ import annotations

import pytest

from chroma_grpc import ClientAPI
from chroma_grpc.errors import InvalidArgumentError

OUT_OF_RANGE = [
    ("hnsw:M", 2**31, "an int from 2 to 128"),
    ("hnsw:M", 100_000, "an int from 2 to 128"),
    ("hnsw:M", 1, "an int from 2 to 128"),
    ("hnsw:construction_ef", 2**31, "an int from 1 to 10000"),
    ("hnsw:construction_ef", 0, "an int from 1 to 10000"),
    ("hnsw:search_ef", 2**40, "an int from 1 to 10000"),
    ("hnsw:num_threads", -1, "an int from 1 to 1024"),
    ("hnsw:resize_factor", 1e9, "a number from 1.0 to 10.0"),
    ("hnsw:batch_size", 2, "an int from 3 to 2147483647"),
    ("hnsw:sync_threshold", 2**31, "an int from 3 to 2147483647"),
]


@pytest.mark.parametrize(("key", "value", "expected"), OUT_OF_RANGE)
def test_hnsw_parameters_out_of_range_are_refused_everywhere(
    client: ClientAPI, key: str, value: float, expected: str
) -> None:
    message = f"Invalid value for HNSW parameter: {key} = {value}; expected {expected}"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        client.create_collection("ranges", metadata={key: value})
    assert client.count_collections() == 0
    collection = client.create_collection("ranges")
    with pytest.raises(ValueError, match="Invalid value for HNSW parameter"):
        collection.modify(metadata={key: value})
    with pytest.raises(ValueError, match="Invalid value for HNSW parameter"):
        client.get_or_create_collection("ranges", metadata={key: value})
    assert client.get_collection("ranges").metadata is None


def test_hnsw_parameters_in_range_are_kept(client: ClientAPI) -> None:
    metadata = {"hnsw:M": 128, "hnsw:construction_ef": 10_000, "hnsw:resize_factor": 1.0}
    collection = client.create_collection("ranges", metadata=metadata)
    collection.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
    assert collection.query(query_embeddings=[[1.0, 0.1]], n_results=1)["ids"] == [["a"]]
    assert client.get_collection("ranges").metadata == metadata


@pytest.mark.parametrize("value", [2**63, 2**63 + 1, 2**64, 2**80])
def test_limit_and_offset_beyond_int64_are_invalid_argument(client: ClientAPI, value: int) -> None:
    collection = client.create_collection("bounds")
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]])
    for kwargs in ({"limit": value}, {"offset": value}):
        with pytest.raises(ValueError, match="must be at most 9223372036854775807") as caught:
            collection.get(**kwargs)  # type: ignore[arg-type]
        assert caught.type is ValueError
        assert type(caught.value.__cause__) is InvalidArgumentError
    with pytest.raises(ValueError, match="must be at most") as caught:
        client.list_collections(offset=value)
    assert caught.type is ValueError
    assert collection.get(limit=2**63 - 1, offset=2**63 - 1)["ids"] == []
    assert collection.get(limit=2**63 - 1)["ids"] == ["a"]
