"""The same mistake raises the same exception, with the same message, on both transports.

Each case runs against an embedded client and a remote one side by side, so a difference in
class or text fails here even where the per-transport tests only check ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chroma_grpc
from chroma_grpc import ClientAPI, Settings
from tests.helpers.servers import start_server_process

from .support import split_address

Operation = Callable[[ClientAPI], object]


def _collection(client: ClientAPI, dimension: int = 2) -> chroma_grpc.Collection:
    collection = client.get_or_create_collection("cases", embedding_function=None)
    if collection.count() == 0:
        collection.add(ids=["a", "b"], embeddings=[[1.0] * dimension, [2.0] * dimension])
    return collection


def _rename_onto_existing(client: ClientAPI) -> None:
    client.create_collection("other")
    _collection(client).modify(name="other")


CASES: dict[str, Operation] = {
    "duplicate create": lambda c: [c.create_collection("dup"), c.create_collection("dup")],
    "missing get": lambda c: c.get_collection("missing"),
    "missing delete": lambda c: c.delete_collection("missing"),
    "bad name": lambda c: c.create_collection("a"),
    "bad hnsw": lambda c: c.create_collection("hnsw", metadata={"hnsw:space": "manhattan"}),
    "empty metadata": lambda c: c.create_collection("meta", metadata={}),
    "dimension add": lambda c: _collection(c).add(ids="x", embeddings=[1.0, 2.0, 3.0]),
    "dimension query": lambda c: _collection(c).query(query_embeddings=[1.0]),
    "duplicate ids": lambda c: _collection(c).add(ids=["x", "x"], embeddings=[[1, 2], [1, 2]]),
    "delete nothing": lambda c: _collection(c).delete(),
    "bad where": lambda c: _collection(c).get(where={"a": 1, "b": 2}),
    "bad where_document": lambda c: _collection(c).get(where_document={"$regex": "x"}),
    "n_results zero": lambda c: _collection(c).query(query_embeddings=[1.0, 2.0], n_results=0),
    "include distances in get": lambda c: _collection(c).get(include=["distances"]),
    "change space": lambda c: _collection(c).modify(metadata={"hnsw:space": "ip"}),
    "rename onto existing": lambda c: _rename_onto_existing(c),
}


@pytest.fixture
def both(server_address: str) -> Iterator[tuple[ClientAPI, ClientAPI]]:
    embedded = chroma_grpc.EphemeralClient(Settings(allow_reset=True))
    host, port = split_address(server_address)
    remote = chroma_grpc.HttpClient(host=host, port=port)
    embedded.reset()
    remote.reset()
    yield embedded, remote
    remote.reset()


def _raised(operation: Operation, client: ClientAPI) -> BaseException:
    with pytest.raises(Exception) as caught:
        operation(client)
    return caught.value


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_transports_raise_the_same_class_and_message(
    both: tuple[ClientAPI, ClientAPI], case: str
) -> None:
    embedded, remote = both
    local_error = _raised(CASES[case], embedded)
    remote_error = _raised(CASES[case], remote)
    assert type(remote_error) is type(local_error)
    assert str(remote_error) == str(local_error)


def test_http_client_against_a_server_process_survives_a_restart(tmp_path: Path) -> None:
    with start_server_process(tmp_path / "data") as server:
        client = chroma_grpc.HttpClient(host=server.host, port=server.port)
        collection = client.create_collection("kept", metadata={"k": 1})
        collection.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["x", "y"])
    with start_server_process(tmp_path / "data") as server:
        client = chroma_grpc.HttpClient(host=server.host, port=server.port)
        kept = client.get_collection("kept")
        assert kept.metadata == {"k": 1}
        assert kept.get()["documents"] == ["x", "y"]
        assert kept.query(query_embeddings=[0.1, 1.0], n_results=1)["ids"] == [["b"]]
        with pytest.raises(ValueError, match="Resetting is not allowed"):
            client.reset()
