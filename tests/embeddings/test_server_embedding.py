"""Server-side embedding: gRPC callers send text, the server embeds it with the default model.

Drives a real `chroma-grpc run` subprocess (embedding on, and off) through the raw stubs, and
checks that all three Python clients give the same neighbours as embeddings passed by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_status import rpc_status

import chroma_grpc
from chroma_grpc.embeddings import default_embedder
from chroma_grpc.v1 import (
    collection_service_pb2,
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    types_pb2,
)
from tests.helpers.servers import ServerProcess, start_server_process

DOCUMENTS = [
    "The cat sat on the mat.",
    "Stock markets fell sharply on Monday.",
    "A recipe for sourdough bread with a long fermentation.",
    "Quantum computers use qubits instead of bits.",
]
IDS = ["cat", "stocks", "bread", "quantum"]
QUESTIONS = ["How do I bake bread?", "kitten on a rug"]


@pytest.fixture(scope="module")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server_process(tmp_path_factory.mktemp("embedding-on")) as server:
        yield server


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("embedding-off")
    with start_server_process(path, "--no-server-embedding") as server:
        yield server


def _stubs(
    address: str,
) -> tuple[
    collection_service_pb2_grpc.CollectionServiceStub, record_service_pb2_grpc.RecordServiceStub
]:
    channel = grpc.insecure_channel(address)
    return (
        collection_service_pb2_grpc.CollectionServiceStub(channel),
        record_service_pb2_grpc.RecordServiceStub(channel),
    )


def _create(stub: collection_service_pb2_grpc.CollectionServiceStub, name: str) -> str:
    request = collection_service_pb2.CreateCollectionRequest(name=name)
    return str(stub.CreateCollection(request).collection.id)


def _documents_only(collection_id: str) -> record_service_pb2.AddRecordsRequest:
    records = [types_pb2.Record(id=i, document=d) for i, d in zip(IDS, DOCUMENTS, strict=True)]
    return record_service_pb2.AddRecordsRequest(
        collection=types_pb2.CollectionRef(id=collection_id),
        batch=types_pb2.RecordBatch(records=records),
        commit=True,
    )


def test_raw_stub_documents_are_embedded_by_the_server(embedding_server: ServerProcess) -> None:
    collections, records = _stubs(embedding_server.address)
    collection_id = _create(collections, "raw-text")
    records.AddRecords(iter([_documents_only(collection_id)]))

    include = types_pb2.Include(
        fields=[types_pb2.INCLUDE_FIELD_EMBEDDINGS, types_pb2.INCLUDE_FIELD_DISTANCES]
    )
    query = record_service_pb2.QueryRecordsRequest(
        collection=types_pb2.CollectionRef(id=collection_id),
        query_texts=record_service_pb2.QueryTexts(texts=QUESTIONS),
        n_results=2,
        include=include,
    )
    replies = list(records.QueryRecords(query))

    assert [reply.records[0].id for reply in replies] == ["bread", "cat"]
    expected = default_embedder().embed(QUESTIONS)
    stored = default_embedder().embed(DOCUMENTS)
    for reply, question in zip(replies, expected, strict=True):
        nearest = IDS.index(reply.records[0].id)
        assert reply.distances[0] == pytest.approx(
            float(((stored[nearest] - question) ** 2).sum()), abs=1e-5
        )
        vectors = np.frombuffer(reply.embeddings.packed_float32, dtype="<f4").reshape(-1, 384)
        np.testing.assert_allclose(vectors[0], stored[nearest], atol=1e-6)


def test_server_info_advertises_server_side_embedding(
    embedding_server: ServerProcess, plain_server: ServerProcess
) -> None:
    for server, expected in ((embedding_server, True), (plain_server, False)):
        stub = system_service_pb2_grpc.SystemServiceStub(grpc.insecure_channel(server.address))
        info = stub.GetServerInfo(system_service_pb2.GetServerInfoRequest())
        assert info.server_side_embedding is expected


def _assert_failed_precondition(error: grpc.RpcError, field: str) -> None:
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert field in error.details() and "server-side embedding is off" in error.details()
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None


def test_embedding_switched_off_answers_failed_precondition(plain_server: ServerProcess) -> None:
    collections, records = _stubs(plain_server.address)
    collection_id = _create(collections, "no-embedding")
    with pytest.raises(grpc.RpcError) as add_error:
        records.AddRecords(iter([_documents_only(collection_id)]))
    _assert_failed_precondition(add_error.value, "embeddings")

    query = record_service_pb2.QueryRecordsRequest(
        collection=types_pb2.CollectionRef(id=collection_id),
        query_texts=record_service_pb2.QueryTexts(texts=["x"]),
    )
    with pytest.raises(grpc.RpcError) as query_error:
        list(records.QueryRecords(query))
    _assert_failed_precondition(query_error.value, "query_texts")

    count = records.CountRecords(
        record_service_pb2.CountRecordsRequest(collection=types_pb2.CollectionRef(id=collection_id))
    )
    assert count.count == 0


def _neighbours(client: chroma_grpc.ClientAPI, name: str, **create: object) -> list[list[str]]:
    """Add documents only, then query by text; returns the ids found per question."""
    collection = client.create_collection(name, **create)  # type: ignore[arg-type]
    collection.add(ids=IDS, documents=DOCUMENTS)
    result = collection.query(query_texts=QUESTIONS, n_results=2)
    return result["ids"]


def _by_hand(client: chroma_grpc.ClientAPI, name: str) -> list[list[str]]:
    collection = client.create_collection(name, embedding_function=None)
    collection.add(ids=IDS, documents=DOCUMENTS, embeddings=default_embedder().embed(DOCUMENTS))
    result = collection.query(query_embeddings=default_embedder().embed(QUESTIONS), n_results=2)
    return result["ids"]


def test_documents_and_query_texts_work_on_all_three_clients(
    embedding_server: ServerProcess, tmp_path: Path
) -> None:
    remote = chroma_grpc.HttpClient(host=embedding_server.host, port=embedding_server.port)
    clients = {
        "ephemeral": chroma_grpc.EphemeralClient(),
        "persistent": chroma_grpc.PersistentClient(str(tmp_path / "persistent")),
        "http": remote,
    }
    for kind, client in clients.items():
        found = _neighbours(client, f"text-{kind}")
        assert found == _by_hand(client, f"hand-{kind}"), kind
        assert [ids[0] for ids in found] == ["bread", "cat"], kind
    # Without an embedding function the remote client sends text and the server embeds it.
    assert _neighbours(remote, "server-embeds", embedding_function=None) == _by_hand(
        remote, "server-hand"
    )


def test_embedded_client_without_embedding_function_keeps_chromas_error(tmp_path: Path) -> None:
    client = chroma_grpc.PersistentClient(str(tmp_path / "no-ef"))
    collection = client.create_collection("no-ef", embedding_function=None)
    with pytest.raises(ValueError, match="You must provide an embedding function"):
        collection.add(ids=["a"], documents=["text"])
