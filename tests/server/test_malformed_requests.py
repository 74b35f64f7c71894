"""Malformed requests sent straight through the stubs: each gets the right status code, a
message naming the field, the ErrorInfo reason in the trailers, and stored data stays as it was."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chroma_grpc.store import Store
from chroma_grpc.store.filters import MAX_FILTER_DEPTH
from chroma_grpc.store.types import CollectionInfo, Records, StoreLimits
from chroma_grpc.v1 import collection_service_pb2 as cpb
from chroma_grpc.v1 import record_service_pb2 as rpb
from chroma_grpc.v1 import (
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    types_pb2,
)
from chroma_grpc.wire.filters import to_proto_where
from chroma_grpc.wire.vectors import to_proto_vectors
from tests.helpers import wire
from tests.helpers.servers import serve_in_process
from tests.server.conftest import Stubs

ALL = frozenset({"embeddings", "metadatas", "documents"})
MISSING = "00000000-0000-4000-8000-000000000000"


def snapshot(store: Store, collection: CollectionInfo) -> tuple[list[str], Any, Any, Any]:
    result: Records = store.get(collection.id, include=ALL)
    assert result.embeddings is not None
    return result.ids, result.embeddings.tolist(), result.metadatas, result.documents


def call_error(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if isinstance(result, Iterable) and not isinstance(result, (bytes, str)):
            list(result)  # server-streaming: the error arrives while iterating
    return info.value


def reason_of(error: grpc.RpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason, dict(info.metadata)
    raise AssertionError("no ErrorInfo detail")


def record_batch(ids: list[str], vectors: types_pb2.Vectors | None) -> types_pb2.RecordBatch:
    batch = types_pb2.RecordBatch(records=[types_pb2.Record(id=i) for i in ids])
    if vectors is not None:
        batch.embeddings.CopyFrom(vectors)
    return batch


def ref(collection_id: str) -> types_pb2.CollectionRef:
    return types_pb2.CollectionRef(id=collection_id)


def add(stubs: Stubs, collection_id: str, batch: types_pb2.RecordBatch) -> Callable[[], Any]:
    return lambda: stubs.records.AddRecords(
        iter([rpb.AddRecordsRequest(collection=ref(collection_id), batch=batch, commit=True)])
    )


def nan_vectors() -> types_pb2.Vectors:
    vectors = np.ones((1, 2), np.float32)
    vectors[0, 1] = np.nan
    return to_proto_vectors(vectors)


def cases(stubs: Stubs, cid: str) -> dict[str, tuple[Callable[[], Any], grpc.StatusCode, str, str]]:
    """name -> (call, code, fragment the message must contain, ErrorInfo reason)."""
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    two_d = to_proto_vectors(np.ones((1, 2), np.float32))
    eq = types_pb2.COMPARISON_OPERATOR_EQ
    one = types_pb2.MetadataValue(int_value=1)
    return {
        "wrong dimension": (
            add(stubs, cid, record_batch(["x"], to_proto_vectors(np.ones((1, 3), np.float32)))),
            invalid,
            "dimensionality",
            "INVALID_DIMENSION",
        ),
        "unknown collection": (
            add(stubs, MISSING, record_batch(["x"], two_d)),
            grpc.StatusCode.NOT_FOUND,
            MISSING,
            "INVALID_COLLECTION",
        ),
        "collection id not a uuid": (
            add(stubs, "not-a-uuid", record_batch(["x"], two_d)),
            invalid,
            "collection.id",
            "INVALID_ARGUMENT",
        ),
        "unknown tenant": (
            lambda: stubs.records.CountRecords(
                rpb.CountRecordsRequest(collection=types_pb2.CollectionRef(tenant="acme", id=cid))
            ),
            grpc.StatusCode.NOT_FOUND,
            "Could not connect to tenant acme",
            "TENANT_NOT_FOUND",
        ),
        "unknown database": (
            lambda: stubs.records.CountRecords(
                rpb.CountRecordsRequest(
                    collection=types_pb2.CollectionRef(database="other", id=cid)
                )
            ),
            grpc.StatusCode.NOT_FOUND,
            "Could not connect to database other for tenant default_tenant",
            "DATABASE_NOT_FOUND",
        ),
        "no collection named": (
            lambda: stubs.records.CountRecords(rpb.CountRecordsRequest()),
            invalid,
            "collection: required",
            "INVALID_ARGUMENT",
        ),
        "empty ids": (add(stubs, cid, record_batch([], two_d)), invalid, "IDs", "INVALID_ARGUMENT"),
        "NaN in vectors": (
            add(stubs, cid, record_batch(["x"], nan_vectors())),
            invalid,
            "embeddings to contain only finite values",
            "INVALID_ARGUMENT",
        ),
        "2 GB claimed dimension": (
            add(
                stubs,
                cid,
                record_batch(["x"], types_pb2.Vectors(dimension=2**31, packed_float32=b"\0" * 8)),
            ),
            invalid,
            "batch.embeddings.packed_float32",
            "INVALID_ARGUMENT",
        ),
        "dimension over the limit": (
            add(
                stubs,
                cid,
                record_batch(["x"], to_proto_vectors(np.ones((1, 70_000), np.float32))),
            ),
            invalid,
            "exceeds maximum dimension 65536",
            "INVALID_ARGUMENT",
        ),
        "values not a multiple of the dimension": (
            add(
                stubs,
                cid,
                record_batch(
                    ["x"],
                    types_pb2.Vectors(dimension=2, values=types_pb2.FloatList(values=[1, 2, 3])),
                ),
            ),
            invalid,
            "batch.embeddings.values",
            "INVALID_ARGUMENT",
        ),
        "byte length not a multiple": (
            add(
                stubs,
                cid,
                record_batch(["x"], types_pb2.Vectors(dimension=2, packed_float32=b"\0" * 7)),
            ),
            invalid,
            "batch.embeddings.packed_float32",
            "INVALID_ARGUMENT",
        ),
        "vector count differs from records": (
            add(stubs, cid, record_batch(["x", "y"], two_d)),
            invalid,
            "batch.embeddings",
            "INVALID_ARGUMENT",
        ),
        "unknown include enum": (
            lambda: stubs.records.GetRecords(
                rpb.GetRecordsRequest(collection=ref(cid), include=types_pb2.Include(fields=[77]))
            ),
            invalid,
            "include.fields[0]",
            "INVALID_ARGUMENT",
        ),
        "unknown comparison enum": (
            lambda: stubs.records.DeleteRecords(
                rpb.DeleteRecordsRequest(
                    collection=ref(cid),
                    where=types_pb2.Where(
                        condition=types_pb2.FieldCondition(key="n", operator=42, value=one)
                    ),
                )
            ),
            invalid,
            "where.condition.operator",
            "INVALID_ARGUMENT",
        ),
        "and with one child": (
            lambda: stubs.records.DeleteRecords(
                rpb.DeleteRecordsRequest(
                    collection=ref(cid),
                    where=types_pb2.Where(
                        children=types_pb2.WhereChildren(
                            operator=types_pb2.BOOLEAN_OPERATOR_AND,
                            children=[
                                types_pb2.Where(
                                    condition=types_pb2.FieldCondition(
                                        key="n", operator=eq, value=one
                                    )
                                )
                            ],
                        )
                    ),
                )
            ),
            invalid,
            "at least two where expressions",
            "INVALID_ARGUMENT",
        ),
        "in with no values": (
            lambda: stubs.records.DeleteRecords(
                rpb.DeleteRecordsRequest(
                    collection=ref(cid),
                    where=types_pb2.Where(
                        condition=types_pb2.FieldCondition(
                            key="n", operator=types_pb2.COMPARISON_OPERATOR_IN
                        )
                    ),
                )
            ),
            invalid,
            "where.condition.values",
            "INVALID_ARGUMENT",
        ),
        "in with an empty list": (
            lambda: stubs.records.DeleteRecords(
                rpb.DeleteRecordsRequest(
                    collection=ref(cid),
                    where=types_pb2.Where(
                        condition=types_pb2.FieldCondition(
                            key="n",
                            operator=types_pb2.COMPARISON_OPERATOR_IN,
                            values=types_pb2.MetadataValues(),
                        )
                    ),
                )
            ),
            invalid,
            "non-empty list",
            "INVALID_ARGUMENT",
        ),
        "document filter without text": (
            lambda: stubs.records.DeleteRecords(
                rpb.DeleteRecordsRequest(
                    collection=ref(cid),
                    where_document=types_pb2.WhereDocument(
                        condition=types_pb2.DocumentCondition(
                            operator=types_pb2.DOCUMENT_OPERATOR_CONTAINS
                        )
                    ),
                )
            ),
            invalid,
            "to be a non-empty str",
            "INVALID_ARGUMENT",
        ),
        "filter nested too deep": (
            lambda: stubs.records.DeleteRecords(
                rpb.DeleteRecordsRequest(
                    collection=ref(cid), where=deep_where(MAX_FILTER_DEPTH + 1)
                )
            ),
            invalid,
            f"at most {MAX_FILTER_DEPTH} levels deep",
            "INVALID_ARGUMENT",
        ),
        "negative limit": (
            lambda: stubs.records.GetRecords(rpb.GetRecordsRequest(collection=ref(cid), limit=-1)),
            invalid,
            "Limit cannot be negative",
            "INVALID_ARGUMENT",
        ),
        "negative page size": (
            lambda: stubs.records.GetRecords(
                rpb.GetRecordsRequest(collection=ref(cid), page_size=-1)
            ),
            invalid,
            "page_size",
            "INVALID_ARGUMENT",
        ),
        "foreign page token": (
            lambda: stubs.records.GetRecords(
                rpb.GetRecordsRequest(collection=ref(cid), page_token="bm90LWEtdG9rZW4")
            ),
            invalid,
            "page_token",
            "INVALID_ARGUMENT",
        ),
        "n_results zero": (
            lambda: stubs.records.QueryRecords(
                rpb.QueryRecordsRequest(collection=ref(cid), query_embeddings=two_d, n_results=0)
            ),
            invalid,
            "Number of requested results 0, cannot be negative, or zero.",
            "INVALID_ARGUMENT_TYPE",
        ),
        "null_value outside an update": (
            lambda: stubs.collections.CreateCollection(
                cpb.CreateCollectionRequest(
                    name="other",
                    metadata=types_pb2.Metadata(
                        fields={"k": types_pb2.MetadataValue(null_value=0)}
                    ),
                )
            ),
            invalid,
            "got None",
            "INVALID_ARGUMENT",
        ),
        "hnsw parameter out of range": (
            lambda: stubs.collections.CreateCollection(
                cpb.CreateCollectionRequest(
                    name="other",
                    metadata=types_pb2.Metadata(
                        fields={"hnsw:M": types_pb2.MetadataValue(int_value=2**31)}
                    ),
                )
            ),
            invalid,
            "Invalid value for HNSW parameter: hnsw:M = 2147483648; expected an int from 2",
            "INVALID_ARGUMENT",
        ),
        "query nan": (
            lambda: stubs.records.QueryRecords(
                rpb.QueryRecordsRequest(collection=ref(cid), query_embeddings=nan_vectors())
            ),
            invalid,
            "query_embeddings",
            "INVALID_ARGUMENT",
        ),
        "query without vectors": (
            lambda: stubs.records.QueryRecords(rpb.QueryRecordsRequest(collection=ref(cid))),
            invalid,
            "query_embeddings",
            "INVALID_ARGUMENT",
        ),
        "metadata value with no oneof": (
            lambda: stubs.collections.CreateCollection(
                cpb.CreateCollectionRequest(
                    name="other",
                    metadata=types_pb2.Metadata(fields={"k": types_pb2.MetadataValue()}),
                )
            ),
            invalid,
            "metadata.fields['k']",
            "INVALID_ARGUMENT",
        ),
    }


CASE_NAMES = list(cases(None, "").keys())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_malformed_request_is_rejected_precisely(
    name: str, stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    before = snapshot(store, collection)
    call, code, fragment, reason = cases(stubs, collection.id)[name]
    error = call_error(call)
    assert error.code() == code, error.details()  # type: ignore[attr-defined]
    assert fragment in error.details(), error.details()  # type: ignore[attr-defined]
    assert reason_of(error)[0] == reason
    assert snapshot(store, collection) == before
    assert store.count_collections() == 1


def test_field_is_in_error_info_metadata(stubs: Stubs, collection: CollectionInfo) -> None:
    """The store names its argument; the server names the request field it came from."""
    error = call_error(cases(stubs, collection.id)["NaN in vectors"][0])
    assert reason_of(error)[1] == {"exception": "InvalidArgumentError", "field": "batch.embeddings"}
    error = call_error(cases(stubs, collection.id)["dimension over the limit"][0])
    assert reason_of(error)[1]["field"] == "batch.embeddings"


def deep_where(levels: int) -> types_pb2.Where:
    where: dict[str, Any] = {"a": 1}
    for _ in range(levels):
        where = {"$and": [where, {"b": 2}]}
    return to_proto_where(where)


def test_a_stream_that_changes_collection_is_rejected_and_stores_nothing(
    stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    before = snapshot(store, collection)
    vectors = to_proto_vectors(np.ones((1, 2), np.float32))
    requests = [
        rpb.AddRecordsRequest(collection=ref(collection.id), batch=record_batch(["x"], vectors)),
        rpb.AddRecordsRequest(
            collection=ref(MISSING), batch=record_batch(["y"], vectors), commit=True
        ),
    ]
    error = call_error(lambda: stubs.records.AddRecords(iter(requests)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "collection: changed mid-stream" in error.details()  # type: ignore[attr-defined]
    assert snapshot(store, collection) == before


def test_a_stream_without_a_collection_is_rejected(stubs: Stubs) -> None:
    vectors = to_proto_vectors(np.ones((1, 2), np.float32))
    request = rpb.AddRecordsRequest(batch=record_batch(["x"], vectors), commit=True)
    error = call_error(lambda: stubs.records.AddRecords(iter([request])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "collection: required in the first message" in error.details()  # type: ignore[attr-defined]


def test_a_stream_over_the_batch_limit_stores_nothing(stubs: Stubs) -> None:
    limited = Store(None, limits=StoreLimits(max_batch_size=5))
    info, _ = limited.create_collection("limited")
    with serve_in_process(limited) as address, grpc.insecure_channel(address) as channel:
        records = record_service_pb2_grpc.RecordServiceStub(channel)
        vectors = to_proto_vectors(np.ones((3, 2), np.float32))
        requests = [
            rpb.AddRecordsRequest(
                collection=ref(info.id),
                batch=record_batch([f"{k}{i}" for i in range(3)], vectors),
                commit=k == "c",
            )
            for k in "abc"
        ]
        error = call_error(lambda: records.AddRecords(iter(requests)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "exceeds maximum batch size" in error.details()  # type: ignore[attr-defined]
    assert reason_of(error)[0] == "BATCH_SIZE_EXCEEDED"
    assert limited.count(info.id) == 0
    limited.close()


def test_reset_is_refused_when_the_server_does_not_allow_it(store: Store) -> None:
    with (
        serve_in_process(store, allow_reset=False) as address,
        grpc.insecure_channel(address) as channel,
    ):
        system = system_service_pb2_grpc.SystemServiceStub(channel)
        error = call_error(lambda: system.Reset(system_service_pb2.ResetRequest()))
        info = system.GetServerInfo(system_service_pb2.GetServerInfoRequest())
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert reason_of(error)[0] == "RESET_NOT_ALLOWED"
    assert info.allow_reset is False


# -- requests that do not decode (issue #8, item 4) ---------------------------------------------


def _deeply_nested_get(collection_id: str, levels: int) -> bytes:
    """GetRecordsRequest bytes whose where nests ``levels`` $and levels (one child each)."""
    head = rpb.GetRecordsRequest(collection=ref(collection_id)).SerializeToString()
    return head + wire.length_delimited(3, wire.deep_where(levels))  # field 3: where


def raw_error(channel: grpc.Channel, method: str, payloads: list[bytes]) -> grpc.RpcError:
    """The error a call with these raw request bytes ends with."""
    if method.endswith(("AddRecords", "UpsertRecords", "UpdateRecords")):
        return call_error(lambda: channel.stream_unary(method)(iter(payloads), timeout=10))
    if method.endswith(("GetRecords", "QueryRecords")):
        return call_error(lambda: list(channel.unary_stream(method)(payloads[0], timeout=10)))
    return call_error(lambda: channel.unary_unary(method)(payloads[0], timeout=10))


def test_a_request_nested_deeper_than_protobuf_decodes_is_invalid_argument(
    channel: grpc.Channel, collection: CollectionInfo
) -> None:
    error = raw_error(
        channel, "/chroma_grpc.v1.RecordService/GetRecords", [_deeply_nested_get(collection.id, 60)]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    details = error.details()  # type: ignore[attr-defined]
    assert "could not be decoded as chroma_grpc.v1.GetRecordsRequest" in details
    assert "deeper than protobuf's limit" in details and f"{MAX_FILTER_DEPTH} levels" in details
    assert reason_of(error)[0] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("/chroma_grpc.v1.CollectionService/CreateCollection", b"\xff\xff\xff"),
        ("/chroma_grpc.v1.RecordService/CountRecords", b"\x0a\x10truncated"),
        ("/chroma_grpc.v1.RecordService/QueryRecords", b"\x0a"),
        ("/chroma_grpc.v1.SystemService/Heartbeat", b"\x08\x80"),
        ("/grpc.health.v1.Health/Check", b"\x0a\x05ab"),
    ],
)
def test_bytes_that_are_not_the_request_are_invalid_argument(
    channel: grpc.Channel, method: str, payload: bytes
) -> None:
    error = raw_error(channel, method, [payload])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "not a valid encoding" in error.details()  # type: ignore[attr-defined]


def test_a_write_stream_with_an_undecodable_message_stores_nothing(
    channel: grpc.Channel, store: Store, collection: CollectionInfo
) -> None:
    before = snapshot(store, collection)
    first = rpb.AddRecordsRequest(
        collection=ref(collection.id),
        batch=record_batch(["new"], to_proto_vectors(np.ones((1, 2), np.float32))),
    ).SerializeToString()
    commit = rpb.AddRecordsRequest(commit=True).SerializeToString()
    error = raw_error(
        channel, "/chroma_grpc.v1.RecordService/AddRecords", [first, b"\x12\xff\x01", commit]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "AddRecordsRequest" in error.details()  # type: ignore[attr-defined]
    assert snapshot(store, collection) == before
