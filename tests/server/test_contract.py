"""The v1 contract's promises, through raw stubs: write streams commit explicitly, collections
are named by id or by name inside a scope, listings and reads page with resumable tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import pytest

from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.server.records import RecordServicer
from chroma_grpc.store import Store
from chroma_grpc.store.types import CollectionInfo, RecordBatch
from chroma_grpc.v1 import collection_service_pb2 as cpb
from chroma_grpc.v1 import record_service_pb2 as rpb
from chroma_grpc.v1 import record_service_pb2_grpc, types_pb2
from chroma_grpc.wire.errors import error_info
from chroma_grpc.wire.vectors import to_proto_vectors
from tests.server.conftest import Stubs


def chunk(*ids: str) -> types_pb2.RecordBatch:
    batch = types_pb2.RecordBatch(records=[types_pb2.Record(id=i) for i in ids])
    batch.embeddings.CopyFrom(to_proto_vectors(np.ones((len(ids), 2), np.float32)))
    return batch


def by_id(collection: CollectionInfo) -> types_pb2.CollectionRef:
    return types_pb2.CollectionRef(id=collection.id)


def failure(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    return caught.value


def reason(error: grpc.RpcError) -> str:
    info = error_info(error)  # type: ignore[arg-type]
    assert info is not None
    return info.reason


# -- the write-stream commit protocol --------------------------------------------------------


def test_a_stream_is_applied_only_when_its_last_message_commits(
    stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    requests = [
        rpb.AddRecordsRequest(collection=by_id(collection), request_id="r1", batch=chunk("x")),
        rpb.AddRecordsRequest(batch=chunk("y")),
        rpb.AddRecordsRequest(collection=by_id(collection), commit=True),  # may repeat; no data
    ]
    assert stubs.records.AddRecords(iter(requests)).record_count == 2
    assert store.get(collection.id, ids=["x", "y"]).ids == ["x", "y"]


@pytest.mark.parametrize("messages", [0, 1, 3])
def test_a_stream_that_ends_without_commit_writes_nothing(
    stubs: Stubs, store: Store, collection: CollectionInfo, messages: int
) -> None:
    requests = [
        rpb.UpsertRecordsRequest(collection=by_id(collection), batch=chunk(f"n{i}", "a"))
        for i in range(messages)
    ]
    error = failure(lambda: stubs.records.UpsertRecords(iter(requests)))
    assert error.code() == grpc.StatusCode.ABORTED  # type: ignore[attr-defined]
    assert reason(error) == "WRITE_NOT_COMMITTED"
    assert "Nothing was written" in error.details()  # type: ignore[attr-defined]
    assert '"commit": true' in error.details()  # type: ignore[attr-defined]
    assert store.count(collection.id) == 3
    assert store.get(collection.id, ids=["a"], include=frozenset({"embeddings"})).embeddings[
        0
    ].tolist() == [0, 0]  # type: ignore[index]


def test_a_message_after_the_commit_is_refused_and_nothing_is_written(
    stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    requests = [
        rpb.AddRecordsRequest(collection=by_id(collection), batch=chunk("x"), commit=True),
        rpb.AddRecordsRequest(batch=chunk("y")),
    ]
    error = failure(lambda: stubs.records.AddRecords(iter(requests)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "after the message with commit" in error.details()  # type: ignore[attr-defined]
    assert store.count(collection.id) == 3


def test_request_id_is_bounded_and_fixed_by_the_first_message(
    stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    long_id = rpb.UpdateRecordsRequest(
        collection=by_id(collection), request_id="r" * 129, batch=chunk("a"), commit=True
    )
    error = failure(lambda: stubs.records.UpdateRecords(iter([long_id])))
    assert "request_id" in error.details()  # type: ignore[attr-defined]
    changed = [
        rpb.UpdateRecordsRequest(collection=by_id(collection), request_id="one"),
        rpb.UpdateRecordsRequest(request_id="two", batch=chunk("a"), commit=True),
    ]
    error = failure(lambda: stubs.records.UpdateRecords(iter(changed)))
    assert "request_id: changed mid-stream" in error.details()  # type: ignore[attr-defined]


def test_the_proxy_commits_on_its_last_chunk(address: str) -> None:
    proxy = StoreProxy(address)
    info, _ = proxy.create_collection("chunked")
    vectors = np.ones((3000, 256), np.float32)  # 3 MB: more than one chunk
    ids = [f"p{i}" for i in range(3000)]
    proxy.add(info.id, RecordBatch(ids=ids, embeddings=vectors))
    assert proxy.count(info.id) == 3000
    proxy.close()


# -- naming collections ----------------------------------------------------------------------


def test_every_record_rpc_takes_the_collection_by_name(
    stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    by_name = types_pb2.CollectionRef(name=collection.name)
    stubs.records.AddRecords(
        iter([rpb.AddRecordsRequest(collection=by_name, batch=chunk("n"), commit=True)])
    )
    assert stubs.records.CountRecords(rpb.CountRecordsRequest(collection=by_name)).count == 4
    pages = list(stubs.records.GetRecords(rpb.GetRecordsRequest(collection=by_name, ids=["n"])))
    assert [r.id for r in pages[0].records] == ["n"]
    peek = stubs.records.PeekRecords(rpb.PeekRecordsRequest(collection=by_name))
    assert [r.id for r in peek.records] == ["a", "b", "c", "n"]
    query = rpb.QueryRecordsRequest(
        collection=by_name, query_embeddings=to_proto_vectors(np.zeros((1, 2), np.float32))
    )
    assert [r.id for r in next(stubs.records.QueryRecords(query)).records][0] == "a"
    deleted = stubs.records.DeleteRecords(rpb.DeleteRecordsRequest(collection=by_name, ids=["n"]))
    assert deleted.deleted_count == 1
    missing = types_pb2.CollectionRef(name="missing")
    error = failure(lambda: stubs.records.CountRecords(rpb.CountRecordsRequest(collection=missing)))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert reason(error) == "COLLECTION_NOT_FOUND"


def test_get_update_and_delete_collection_take_id_or_name(
    stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    by_name = types_pb2.CollectionRef(name="seeded")
    got = stubs.collections.GetCollection(cpb.GetCollectionRequest(collection=by_name))
    assert got.collection.id == collection.id
    renamed = stubs.collections.UpdateCollection(
        cpb.UpdateCollectionRequest(collection=by_name, new_name="renamed")
    )
    assert renamed.collection.id == collection.id
    stubs.collections.UpdateCollection(
        cpb.UpdateCollectionRequest(collection=by_id(collection), new_name="again")
    )
    stubs.collections.DeleteCollection(cpb.DeleteCollectionRequest(collection=by_id(collection)))
    assert store.count_collections() == 0
    error = failure(
        lambda: stubs.collections.GetCollection(
            cpb.GetCollectionRequest(collection=types_pb2.CollectionRef())
        )
    )
    assert error.details() == "Name or id must be specified, but not both"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("scope", "fragment", "expected"),
    [
        ({"tenant": "acme"}, "Could not connect to tenant acme", "TENANT_NOT_FOUND"),
        ({"database": "db2"}, "Could not connect to database db2", "DATABASE_NOT_FOUND"),
    ],
)
def test_only_the_default_tenant_and_database_exist(
    stubs: Stubs, scope: dict[str, str], fragment: str, expected: str
) -> None:
    explicit = {"tenant": "default_tenant", "database": "default_database"}
    calls: list[Callable[[dict[str, str]], Any]] = [
        lambda s: stubs.collections.CreateCollection(cpb.CreateCollectionRequest(name="xyz", **s)),
        lambda s: stubs.collections.ListCollections(cpb.ListCollectionsRequest(**s)),
        lambda s: stubs.collections.CountCollections(cpb.CountCollectionsRequest(**s)),
        lambda s: stubs.collections.GetCollection(
            cpb.GetCollectionRequest(collection=types_pb2.CollectionRef(name="xyz", **s))
        ),
    ]
    for call in calls:
        call(explicit)  # the defaults, spelled out, are the same as empty
        error = failure(lambda call=call: call(scope))  # type: ignore[misc]
        assert error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
        assert fragment in error.details() and reason(error) == expected  # type: ignore[attr-defined]


# -- paging ----------------------------------------------------------------------------------


def test_list_collections_pages_per_aip_158(stubs: Stubs, store: Store) -> None:
    for i in range(7):
        store.create_collection(f"c{i}x")
    names, token, pages = [], "", 0
    while True:
        reply = stubs.collections.ListCollections(
            cpb.ListCollectionsRequest(page_size=3, page_token=token, skip=1)
        )
        names += [c.name for c in reply.collections]
        pages += 1
        token = reply.next_page_token
        if not token:
            break
    assert names == [f"c{i}x" for i in range(1, 7)] and pages == 2
    everything = stubs.collections.ListCollections(cpb.ListCollectionsRequest())
    assert len(everything.collections) == 7 and not everything.next_page_token


def test_a_list_token_survives_deletions_before_it_and_refuses_another_request(
    stubs: Stubs, store: Store
) -> None:
    for i in range(6):
        store.create_collection(f"c{i}x")
    first = stubs.collections.ListCollections(cpb.ListCollectionsRequest(page_size=3))
    store.delete_collection("c0x")  # shifts every later collection one place
    rest = stubs.collections.ListCollections(
        cpb.ListCollectionsRequest(page_size=3, page_token=first.next_page_token)
    )
    assert [c.name for c in rest.collections] == ["c3x", "c4x", "c5x"]
    error = failure(
        lambda: stubs.collections.ListCollections(
            cpb.ListCollectionsRequest(page_token=first.next_page_token, skip=2)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "page_token" in error.details()  # type: ignore[attr-defined]
    error = failure(
        lambda: stubs.collections.ListCollections(cpb.ListCollectionsRequest(page_size=-1))
    )
    assert "page_size" in error.details()  # type: ignore[attr-defined]


def test_a_broken_read_resumes_from_its_last_page(
    stubs: Stubs, store: Store, collection: CollectionInfo
) -> None:
    ids = [f"r{i:02d}" for i in range(20)]
    store.add(collection.id, RecordBatch(ids=ids, embeddings=np.ones((20, 2), np.float32)))
    request = rpb.GetRecordsRequest(collection=by_id(collection), page_size=4, limit=15, offset=2)
    expected = store.get(collection.id, limit=15, offset=2).ids
    stream = stubs.records.GetRecords(request)
    first, second = next(stream), next(stream)
    stream.cancel()  # the reader goes away after two pages
    # meanwhile a record lands before the cursor and one after it is deleted
    store.add(collection.id, RecordBatch(ids=["a0"], embeddings=np.ones((1, 2), np.float32)))
    store.delete(collection.id, ids=[expected[9]])
    request.page_token = second.next_page_token
    rest = list(stubs.records.GetRecords(request))
    got = [r.id for page in (first, second, *rest) for r in page.records]
    # after the cursor, as the data is now: one record fewer, so one more fills the limit of 15
    assert got == [i for i in expected if i != expected[9]] + [ids[14]]
    assert first.next_page_token and not rest[-1].next_page_token
    assert all(len(page.records) <= 4 for page in (first, second, *rest))


class BreakFirstRead(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """A fault in front of the servicer: the first GetRecords stream breaks (UNAVAILABLE)
    after its first page, as a dropped connection would end it."""

    def __init__(self) -> None:
        self.tokens: list[str] = []  # page_token of each GetRecords call

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = continuation(details)
        if not details.method.endswith("/GetRecords"):
            return handler

        def pages(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            self.tokens.append(request.page_token)
            for index, page in enumerate(handler.unary_stream(request, context)):
                if index == 1 and len(self.tokens) == 1:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
                yield page

        return grpc.unary_stream_rpc_method_handler(
            pages, handler.request_deserializer, handler.response_serializer
        )


def test_the_proxy_resumes_a_read_whose_stream_breaks(
    collection: CollectionInfo, store: Store
) -> None:
    ids = [f"r{i:03d}" for i in range(300)]
    store.add(collection.id, RecordBatch(ids=ids, embeddings=np.ones((300, 2), np.float32)))
    expected = store.get(collection.id, include=frozenset({"embeddings"}))
    fault = BreakFirstRead()
    server = grpc.server(futures.ThreadPoolExecutor(4), interceptors=[fault])
    # A 4 KiB send limit makes pages of about 2 KiB: several for 303 records.
    servicer = RecordServicer(store, max_send_message_bytes=4096)
    record_service_pb2_grpc.add_RecordServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        proxy = StoreProxy(f"127.0.0.1:{port}")
        got = proxy.get(collection.id, include=frozenset({"embeddings"}))
        proxy.close()
    finally:
        server.stop(None)
    assert len(fault.tokens) == 2 and fault.tokens[0] == "" and fault.tokens[1]
    assert got.ids == expected.ids
    np.testing.assert_array_equal(got.embeddings, expected.embeddings)  # type: ignore[arg-type]
