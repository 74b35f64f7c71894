"""AsyncStoreProxy: the StoreAPI of a chroma-grpc server, with ``async def`` methods on grpc.aio.

The asyncio twin of :class:`~chroma_grpc.client.proxy.StoreProxy`: the same requests (built and
shape-checked by :mod:`chroma_grpc.client._requests`), the same committed write streams and
resumable paged reads, the same errors (:mod:`chroma_grpc.wire.errors` maps grpc.aio statuses
too), sent on one ``grpc.aio`` channel that any number of coroutines share. The server's limits
are fetched by :meth:`connect` (the async client calls it), so the sync properties
(``limits``, ``allow_reset``, ``embeds_texts``) answer without a round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio

from chroma_grpc.client import _requests as calls
from chroma_grpc.client._transport import proxy_options
from chroma_grpc.client.proxy import (
    DEFAULT_CHANNEL_OPTIONS,
    reporting,
    resumable,
    warn_plaintext_token,
    write_progress,
)
from chroma_grpc.store.errors import FailedPreconditionError
from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    DEFAULT_TENANT,
    PEEK_INCLUDE,
    CollectionInfo,
    DatabaseInfo,
    Metadata,
    Neighbours,
    RecordBatch,
    Records,
    ResultFields,
    StoreLimits,
    TenantInfo,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.v1 import (
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    tenant_service_pb2_grpc,
)
from chroma_grpc.wire.collections import (
    from_proto_collection,
    from_proto_database,
    from_proto_tenant,
)
from chroma_grpc.wire.errors import from_rpc_error, raising_store_errors
from chroma_grpc.wire.records import from_proto_query_response, merge_get_pages

if TYPE_CHECKING:
    from chroma_grpc.config import Settings

_Reply = TypeVar("_Reply")


class AsyncStoreProxy:
    """StoreAPI, awaitable, over a grpc.aio channel to a chroma-grpc server.

    Args:
        target: ``host:port``; the channel is created here (in the running event loop's
            context) and closed by :meth:`close`.
        options, credentials, timeout, metadata, settings, progress: as for ``StoreProxy``.
    """

    def __init__(
        self,
        target: str,
        *,
        options: Sequence[tuple[str, Any]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        settings: Settings | None = None,
        progress: bool | None = None,
    ) -> None:
        folded = proxy_options(settings, metadata, credentials, progress)
        self._progress = folded.progress
        if folded.credentials is None:
            warn_plaintext_token(target, folded.metadata)
        channel_options = [*DEFAULT_CHANNEL_OPTIONS, *options]
        self._channel = (
            grpc.aio.secure_channel(target, folded.credentials, options=channel_options)
            if folded.credentials is not None
            else grpc.aio.insecure_channel(target, options=channel_options)
        )
        self._system = system_service_pb2_grpc.SystemServiceStub(self._channel)
        self._collections = collection_service_pb2_grpc.CollectionServiceStub(self._channel)
        self._records = record_service_pb2_grpc.RecordServiceStub(self._channel)
        self._tenants = tenant_service_pb2_grpc.TenantServiceStub(self._channel)
        self._timeout = timeout
        self._metadata = folded.metadata
        self._info: system_service_pb2.GetServerInfoResponse | None = None

    # -- server info -------------------------------------------------------------------------

    async def connect(self) -> system_service_pb2.GetServerInfoResponse:
        """Fetch the server's version and limits (once); the sync properties need them."""
        if self._info is None:
            self._info = await self._unary(
                self._system.GetServerInfo, system_service_pb2.GetServerInfoRequest()
            )
        return self._info

    @property
    def server_info(self) -> system_service_pb2.GetServerInfoResponse:
        if self._info is None:
            raise FailedPreconditionError(
                "AsyncStoreProxy: await connect() first (AsyncHttpClient does)"
            )
        return self._info

    @property
    def limits(self) -> StoreLimits:
        return calls.limits_of(self.server_info)

    @property
    def allow_reset(self) -> bool:
        return self.server_info.allow_reset

    @property
    def embeds_texts(self) -> bool:
        return self.server_info.server_side_embedding

    async def _unary(self, method: Callable[..., Any], request: Any) -> Any:
        """One unary call with this proxy's deadline and metadata, errors as store errors."""
        with raising_store_errors():
            return await method(request, timeout=self._timeout, metadata=self._metadata)

    async def heartbeat(self) -> int:
        reply = await self._unary(self._system.Heartbeat, system_service_pb2.HeartbeatRequest())
        return int(reply.nanosecond_heartbeat)

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled)."""
        await self._channel.close(None)

    async def reset(self) -> None:
        await self._unary(self._system.Reset, system_service_pb2.ResetRequest())

    # -- tenants and databases ---------------------------------------------------------------

    async def create_tenant(self, name: str) -> TenantInfo:
        reply = await self._unary(self._tenants.CreateTenant, calls.create_tenant(name))
        return from_proto_tenant(reply.tenant)

    async def get_tenant(self, name: str) -> TenantInfo:
        reply = await self._unary(self._tenants.GetTenant, calls.get_tenant(name))
        return from_proto_tenant(reply.tenant)

    async def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        request = calls.create_database(name, tenant)
        return from_proto_database(
            (await self._unary(self._tenants.CreateDatabase, request)).database
        )

    async def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        request = calls.get_database(name, tenant)
        return from_proto_database((await self._unary(self._tenants.GetDatabase, request)).database)

    # -- collections -------------------------------------------------------------------------

    async def create_collection(
        self,
        name: str,
        metadata: Metadata | None = None,
        get_or_create: bool = False,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> tuple[CollectionInfo, bool]:
        request = calls.create_collection(name, metadata, get_or_create, tenant, database)
        return calls.created(await self._unary(self._collections.CreateCollection, request))

    async def get_collection(
        self,
        name: str | None = None,
        collection_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> CollectionInfo:
        request, check_scope = calls.get_collection(name, collection_id, tenant, database)
        if check_scope:
            await self.count_collections(tenant=tenant, database=database)
        reply = await self._unary(self._collections.GetCollection, request)
        return from_proto_collection(reply.collection)

    async def list_collections(
        self,
        limit: int | None = None,
        offset: int | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> list[CollectionInfo]:
        request, wanted = calls.list_collections(limit, offset, tenant, database)
        found: list[CollectionInfo] = []
        while calls.next_list_page(request, wanted, len(found)):
            reply = await self._unary(self._collections.ListCollections, request)
            found.extend(from_proto_collection(c) for c in reply.collections)
            if not reply.next_page_token:
                break
            request.page_token = reply.next_page_token
        return found if wanted is None else found[:wanted]

    async def count_collections(
        self, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> int:
        request = calls.count_collections(tenant, database)
        return int((await self._unary(self._collections.CountCollections, request)).count)

    async def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        request = calls.modify_collection(collection_id, name, metadata)
        reply = await self._unary(self._collections.UpdateCollection, request)
        return from_proto_collection(reply.collection)

    async def delete_collection(
        self, name: str, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> None:
        request = calls.delete_collection(name, tenant, database)
        await self._unary(self._collections.DeleteCollection, request)

    # -- writes ------------------------------------------------------------------------------

    async def _write(
        self,
        rpc: Any,
        request_type: type[calls.WriteRequest],
        collection_id: str,
        batch: RecordBatch,
    ) -> None:
        """Stream the chunks (the shape is checked before the first); the last one of each
        stream commits it (a batch over the server's per-stream limit goes as several)."""
        progress = write_progress(request_type, batch) if self._progress else None
        streams = calls.write_streams(
            request_type,
            collection_id,
            batch,
            self.limits,
            self.server_info,
            None if progress is None else progress.sent,
        )
        with reporting(progress):
            for requests in streams:
                with raising_store_errors():
                    await rpc(requests, timeout=self._timeout, metadata=self._metadata)

    async def add(self, collection_id: str, batch: RecordBatch) -> None:
        await self._write(
            self._records.AddRecords, record_service_pb2.AddRecordsRequest, collection_id, batch
        )

    async def upsert(self, collection_id: str, batch: RecordBatch) -> None:
        await self._write(
            self._records.UpsertRecords,
            record_service_pb2.UpsertRecordsRequest,
            collection_id,
            batch,
        )

    async def update(self, collection_id: str, batch: RecordBatch) -> None:
        await self._write(
            self._records.UpdateRecords,
            record_service_pb2.UpdateRecordsRequest,
            collection_id,
            batch,
        )

    async def delete(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
    ) -> int:
        request = calls.delete(collection_id, ids, where, where_document)
        return int((await self._unary(self._records.DeleteRecords, request)).deleted_count)

    # -- reads -------------------------------------------------------------------------------

    async def get(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: ResultFields = DEFAULT_GET_INCLUDE,
    ) -> Records:
        request, fields = calls.get(
            collection_id, ids, where, where_document, limit, offset, include
        )
        pages = [page async for page in self._get_pages(request)]
        return merge_get_pages(pages, fields)

    async def _get_pages(
        self, request: record_service_pb2.GetRecordsRequest
    ) -> AsyncIterator[record_service_pb2.GetRecordsResponse]:
        """The pages of a read, resumed from the last page's token if the stream breaks."""
        resumptions = 0
        while True:
            token = ""
            call = self._records.GetRecords(request, timeout=self._timeout, metadata=self._metadata)
            try:
                async for page in call:
                    yield page
                    token = page.next_page_token
                return
            except grpc.RpcError as error:
                if not resumable(error, token, resumptions):
                    raise from_rpc_error(error) from None
                resumptions += 1
                request.page_token = token

    async def query(
        self,
        collection_id: str,
        query_embeddings: Vectors | None,
        n_results: int = 10,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        include: ResultFields = DEFAULT_QUERY_INCLUDE,
        query_texts: Sequence[str] | None = None,
    ) -> list[Neighbours]:
        request, fields = calls.query(
            collection_id,
            query_embeddings,
            n_results,
            where,
            where_document,
            include,
            query_texts,
            self.limits,
        )
        with raising_store_errors():
            call = self._records.QueryRecords(
                request, timeout=self._timeout, metadata=self._metadata
            )
            return [from_proto_query_response(reply, fields) async for reply in call]

    async def count(self, collection_id: str) -> int:
        request = calls.count(collection_id)
        return int((await self._unary(self._records.CountRecords, request)).count)

    async def peek(self, collection_id: str, limit: int = 10) -> Records:
        return await self.get(collection_id, limit=limit, include=PEEK_INCLUDE)
