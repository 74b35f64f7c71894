"""``ClusterStore``: the StoreAPI a gateway serves, over NATS JetStream and shard workers.

A gateway is ``create_server(ClusterStore(...))``: the public servicers, validation, errors and
limits are the single-node server's own. This class checks every call with the same rules in
the same order as :class:`~chroma_grpc.store.Store` (:mod:`chroma_grpc.store.validation`), so
bad input gets exactly the single-node error, and then:

* **catalog calls** (tenants, databases, collections) read the KV catalog after a barrier and
  change it with compare-and-set (:mod:`.catalog`);
* **writes** are split by the stable hash of each id into the collection's shards and
  published, one message per shard (the whole op, protobuf), to the collection's log stream
  with ``Nats-Msg-Id = <request id>:<shard>``; the call returns once every shard's PubAck is
  in: on a majority of the log's servers. A retried write (same request id, within the
  duplicate window) is stored once;
* **reads** are strong: the log stream's last sequence when the read arrived goes to one ready
  replica per shard (hedged, :mod:`.fanout`), which answers once it has applied that far;
  results merge as one store would answer (top-k by distance, ids in order, counts summed).

The StoreAPI methods run on the server's worker threads and wait for coroutines on this
store's own event loop (``LoopThread``), where the NATS connection and the gRPC channels to
workers live.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import heapq
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NoStreamResponseError

from chroma_grpc.cluster import ops
from chroma_grpc.cluster.catalog import Catalog, CollectionEntry, DatabaseDoc, unavailable
from chroma_grpc.cluster.fanout import ReplicaCaller
from chroma_grpc.cluster.fresh import FreshValue
from chroma_grpc.cluster.membership import Membership
from chroma_grpc.cluster.nats_io import (
    CATALOG_BUCKET,
    DEFAULT_PARTITIONS,
    DEFAULT_REPLICAS,
    MEMBERS_BUCKET,
    LoopThread,
    Topology,
    bucket_of,
    collection_subjects,
    connect,
    ensure_resources,
    shard_subject,
    stream_name,
    through_elections,
)
from chroma_grpc.cluster.routing import shard_key, shard_of, split_by_shard
from chroma_grpc.cluster.settings import (
    check_cluster_metadata,
    check_shards_unchanged,
    shards_of,
)
from chroma_grpc.cluster.v1 import shard_service_pb2 as pb
from chroma_grpc.store._embedding import embed_texts
from chroma_grpc.store._query import empty_result
from chroma_grpc.store.api import WRITE_REQUEST_ID
from chroma_grpc.store.errors import (
    CollectionNotFoundError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidCollectionException,
    ResetNotAllowedError,
    ServerUnavailableError,
)
from chroma_grpc.store.filters import INT64_MAX
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
    TextEmbedder,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.store.validation import (
    CHANGE_SPACE_MESSAGE,
    DELETE_NO_CRITERIA_MESSAGE,
    NAME_OR_ID_MESSAGE,
    RESET_NOT_ALLOWED_MESSAGE,
    check_collection_id,
    check_collection_metadata_values,
    check_collection_name_shape,
    check_embeddings_values,
    check_lookup_name_shape,
    check_metadata_shape,
    check_query_inputs_shape,
    check_query_texts_values,
    check_read_shape,
    check_read_values,
    check_scope_name_shape,
    check_scope_shape,
    collection_not_found_message,
    dimension_mismatch,
    documents_to_embed,
    unique_collection_error,
    validate_batch,
    validate_collection_name,
    validate_database_name,
    validate_limit_offset,
    validate_n_results,
    validate_tenant_name,
)
from chroma_grpc.wire.filters import to_proto_where, to_proto_where_document
from chroma_grpc.wire.records import from_proto_query_response, merge_get_pages, to_proto_include
from chroma_grpc.wire.vectors import to_proto_vectors

if TYPE_CHECKING:
    from chroma_grpc.cluster.v1.shard_service_pb2_grpc import ShardServiceAsyncStub as Stub

log = logging.getLogger(__name__)
T = TypeVar("T")
Part = TypeVar("Part")
# A write whose log servers are electing a leader is retried (same message ids) this long.
PUBLISH_DEADLINE_S = 30.0
# A shard's part of a write above this many bytes goes as several messages.
MESSAGE_HEADROOM = 64 * 1024


class ClusterStore:
    """StoreAPI over a cluster (module docstring). Thread-safe; close() when done."""

    def __init__(
        self,
        nats_urls: Sequence[str],
        *,
        limits: StoreLimits = StoreLimits(),  # noqa: B008 - frozen dataclass
        allow_reset: bool = False,
        embedder: TextEmbedder | None = None,
        default_shards: int = 1,
        partitions: int = DEFAULT_PARTITIONS,
        replicas: int = DEFAULT_REPLICAS,
        hedge_after_s: float = 0.05,
        ready_wait_s: float = 15.0,
        name: str = "chroma-grpc-gateway",
    ) -> None:
        self._limits = limits
        self._allow_reset = allow_reset
        self._embedder = embedder
        self._default_shards = default_shards
        self._runner = LoopThread(name)
        self._closed = False
        try:
            self._runner.run(
                self._start(nats_urls, name, Topology(partitions, replicas)), timeout=60
            )
            self._replicas = ReplicaCaller(
                self._membership, hedge_after_s=hedge_after_s, ready_wait_s=ready_wait_s
            )
        except BaseException:
            self._runner.close()
            raise

    async def _start(self, urls: Sequence[str], name: str, topology: Topology) -> None:
        self._nc: NATS = await connect(urls, name)
        self._js: JetStreamContext = self._nc.jetstream(timeout=5.0)
        await ensure_resources(self._js, topology)
        self._catalog = Catalog(self._js, await bucket_of(self._js, CATALOG_BUCKET, 1))
        await self._catalog.start()
        self._topology = await self._catalog.bootstrap(topology)
        self._membership = Membership(await bucket_of(self._js, MEMBERS_BUCKET, 1))
        await self._membership.start()
        self._log_ends = [
            FreshValue(functools.partial(self._log_end, p))
            for p in range(self._topology.partitions)
        ]

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coroutine.close()
            raise FailedPreconditionError("The store is closed")
        return self._runner.run(coroutine)

    # -- StoreAPI: the store itself ----------------------------------------------------------

    @property
    def limits(self) -> StoreLimits:
        return self._limits

    @property
    def allow_reset(self) -> bool:
        return self._allow_reset

    @property
    def embeds_texts(self) -> bool:
        return self._embedder is not None

    @property
    def topology(self) -> Topology:
        return self._topology

    def heartbeat(self) -> int:
        if self._closed:
            raise FailedPreconditionError("The store is closed")
        return time.time_ns()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            await self._replicas.close()
            await self._membership.stop()
            await self._catalog.stop()
            await self._nc.close()

        try:
            self._runner.run(stop(), timeout=10)
        finally:
            self._runner.close()

    def reset(self) -> None:
        if self._closed:
            raise FailedPreconditionError("The store is closed")
        if not self._allow_reset:
            raise ResetNotAllowedError(RESET_NOT_ALLOWED_MESSAGE)
        self._run(self._reset())

    async def _reset(self) -> None:
        dropped = await self._catalog.reset()
        await asyncio.gather(*(self._purge_collection(entry) for entry in dropped))

    async def _purge_collection(self, entry: CollectionEntry) -> None:
        """Drop a deleted collection's log (its replicas and checkpoints go with it)."""
        try:
            await self._js.purge_stream(
                stream_name(entry.partition),
                subject=collection_subjects(entry.partition, entry.id),
            )
        except Exception as error:  # the workers ignore the log of a collection that is gone
            log.warning("could not purge the log of collection %s: %s", entry.id, error)

    # -- tenants and databases ---------------------------------------------------------------

    def create_tenant(self, name: str) -> TenantInfo:
        validate_tenant_name(name)
        return self._run(self._catalog.create_tenant(name))

    def get_tenant(self, name: str) -> TenantInfo:
        check_scope_name_shape(name, "tenant")
        tenant: TenantInfo = self._run(self._read_catalog(lambda: self._catalog.get_tenant(name)))
        return tenant

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        validate_database_name(name)
        check_scope_name_shape(tenant, "tenant")
        return self._run(self._catalog.create_database(tenant, name))

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        check_scope_name_shape(name, "database")
        check_scope_name_shape(tenant, "tenant")
        found: DatabaseInfo = self._run(
            self._read_catalog(lambda: self._catalog.get_database(tenant, name))
        )
        return found

    async def _read_catalog(self, read: Any) -> Any:
        await self._catalog.barrier()
        return read()

    # -- collections -------------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        metadata: Metadata | None = None,
        get_or_create: bool = False,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> tuple[CollectionInfo, bool]:
        check_scope_shape(tenant, database)
        check_collection_name_shape(name)
        checked = None if metadata is None else dict(check_metadata_shape(metadata))
        validate_collection_name(name)
        if checked is not None:
            check_collection_metadata_values(checked)
            check_cluster_metadata(checked)
        created: list[CollectionEntry] = []

        def change(doc: DatabaseDoc) -> DatabaseDoc | None:
            created.clear()
            existing = doc.by_name(name)
            if existing is None:
                new_id = str(uuid.uuid4())
                entry = CollectionEntry(
                    id=new_id,
                    name=name,
                    metadata=checked,
                    dimension=None,
                    shards=shards_of(checked, self._default_shards),
                    partition=partition_of(new_id, self._topology.partitions),
                    tenant=tenant,
                    database=database,
                    space=str((checked or {}).get("hnsw:space", "l2")),
                )
                created.append(entry)
                return dataclasses.replace(doc, collections=(*doc.collections, entry))
            if not get_or_create:
                raise unique_collection_error(name)
            if checked is None:
                return None
            if checked.get("hnsw:space", existing.space) != existing.space:
                raise InvalidArgumentError(CHANGE_SPACE_MESSAGE, field="metadata")
            check_shards_unchanged(checked, existing.shards)
            return _with_entry(doc, dataclasses.replace(existing, metadata=checked))

        doc = self._run(self._catalog.change_database(tenant, database, change))
        if created:
            return created[0].info(), True
        found = doc.by_name(name)
        assert found is not None
        return found.info(), False

    def get_collection(
        self,
        name: str | None = None,
        collection_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> CollectionInfo:
        check_scope_shape(tenant, database)
        if (name is None) == (collection_id is None):
            raise InvalidArgumentError(NAME_OR_ID_MESSAGE)
        check_lookup_name_shape(name if name is not None else collection_id)

        def find() -> CollectionInfo:
            doc = self._catalog.scope(tenant, database)
            if name is not None:
                entry = doc.by_name(name)
            else:
                entry = self._catalog.by_id(str(collection_id))
            if entry is None:
                wanted = name if name is not None else collection_id
                raise CollectionNotFoundError(collection_not_found_message(wanted))
            return entry.info()

        result: CollectionInfo = self._run(self._read_catalog(find))
        return result

    def list_collections(
        self,
        limit: int | None = None,
        offset: int | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> list[CollectionInfo]:
        check_scope_shape(tenant, database)
        sql_limit, sql_offset = validate_limit_offset(limit, offset)

        def listing() -> list[CollectionInfo]:
            entries = self._catalog.scope(tenant, database).collections[sql_offset:]
            if sql_limit >= 0:
                entries = entries[:sql_limit]
            return [e.info() for e in entries]

        result: list[CollectionInfo] = self._run(self._read_catalog(listing))
        return result

    def count_collections(
        self, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> int:
        check_scope_shape(tenant, database)
        count: int = self._run(
            self._read_catalog(lambda: len(self._catalog.scope(tenant, database).collections))
        )
        return count

    def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        check_collection_id(collection_id)
        if name is not None:
            check_collection_name_shape(name)
        checked = None if metadata is None else dict(check_metadata_shape(metadata))
        if name is not None:
            validate_collection_name(name)
        if checked is not None:
            check_collection_metadata_values(checked)
            if "hnsw:space" in checked:
                raise InvalidArgumentError(CHANGE_SPACE_MESSAGE, field="metadata")
            check_cluster_metadata(checked)
        return self._run(self._modify(collection_id, name, checked))

    async def _modify(
        self, collection_id: str, name: str | None, metadata: dict[str, Any] | None
    ) -> CollectionInfo:
        entry = await self._require(collection_id)
        if metadata is not None:
            check_shards_unchanged(metadata, entry.shards)

        def change(doc: DatabaseDoc) -> DatabaseDoc | None:
            current = next((c for c in doc.collections if c.id == collection_id), None)
            if current is None:
                raise _missing(collection_id)
            updated = current
            if name is not None and name != current.name:
                if doc.by_name(name) is not None:
                    raise unique_collection_error(name)
                updated = dataclasses.replace(updated, name=name)
            if metadata is not None:
                updated = dataclasses.replace(updated, metadata=metadata)
            return _with_entry(doc, updated)

        doc = await self._catalog.change_database(entry.tenant, entry.database, change)
        found = next(c for c in doc.collections if c.id == collection_id)
        return found.info()

    def delete_collection(
        self, name: str, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> None:
        check_scope_shape(tenant, database)
        check_lookup_name_shape(name)
        self._run(self._delete_collection(name, tenant, database))

    async def _delete_collection(self, name: str, tenant: str, database: str) -> None:
        deleted: list[CollectionEntry] = []

        def change(doc: DatabaseDoc) -> DatabaseDoc:
            deleted.clear()
            entry = doc.by_name(name)
            if entry is None:
                raise CollectionNotFoundError(collection_not_found_message(name), field="name")
            deleted.append(entry)
            remaining = tuple(c for c in doc.collections if c.id != entry.id)
            return dataclasses.replace(doc, collections=remaining)

        await self._catalog.change_database(tenant, database, change)
        await self._purge_collection(deleted[0])

    async def _require(self, collection_id: str) -> CollectionEntry:
        """The collection a record call names, after the catalog barrier."""
        await self._catalog.barrier()
        entry = self._catalog.by_id(collection_id)
        if entry is None:
            raise _missing(collection_id)
        return entry

    # -- writes ------------------------------------------------------------------------------

    def add(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("add", collection_id, batch)

    def upsert(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("upsert", collection_id, batch)

    def update(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("update", collection_id, batch)

    def _write(self, kind: ops.WriteKind, collection_id: str, batch: RecordBatch) -> None:
        """The single-node store's checks, then embedding, then the log (module docstring)."""
        check_collection_id(collection_id)
        is_update = kind == "update"
        vectors = validate_batch(batch, self._limits, is_update=is_update)
        texts = documents_to_embed(batch, can_embed=self.embeds_texts, is_update=is_update)
        if texts is not None:
            vectors = embed_texts(texts, self._embedder, field="documents")
            check_embeddings_values(vectors, self._limits, field="documents")
        checked = dataclasses.replace(batch, embeddings=vectors)
        request_id = WRITE_REQUEST_ID.get() or str(uuid.uuid4())
        self._run(self._publish_write(kind, collection_id, checked, request_id))

    async def _publish_write(
        self, kind: ops.WriteKind, collection_id: str, batch: RecordBatch, request_id: str
    ) -> None:
        entry = await self._require(collection_id)
        if batch.embeddings is not None:
            entry = await self._fix_dimension(entry, int(batch.embeddings.shape[1]))
        if not batch.ids:
            return
        parts = [
            (shard, ops.WriteRecords(kind, _take(batch, positions)))
            for shard, positions in split_by_shard(batch.ids, entry.shards).items()
        ]
        await asyncio.gather(
            *(self._publish(entry, shard, op, f"{request_id}:{shard}") for shard, op in parts)
        )

    async def _fix_dimension(self, entry: CollectionEntry, dimension: int) -> CollectionEntry:
        """The collection's dimension: the first embedding fixes it (compare-and-set), later
        writes must match it (the single-node store's rule and message)."""
        if entry.dimension is not None:
            if dimension != entry.dimension:
                raise dimension_mismatch(dimension, entry.dimension, field="embeddings")
            return entry

        def change(doc: DatabaseDoc) -> DatabaseDoc | None:
            current = next((c for c in doc.collections if c.id == entry.id), None)
            if current is None:
                raise _missing(entry.id)
            if current.dimension is not None:
                if current.dimension != dimension:
                    raise dimension_mismatch(dimension, current.dimension, field="embeddings")
                return None
            return _with_entry(doc, dataclasses.replace(current, dimension=dimension))

        await self._catalog.change_database(entry.tenant, entry.database, change)
        return dataclasses.replace(entry, dimension=dimension)

    async def _publish(
        self, entry: CollectionEntry, shard: int, op: ops.Operation, msg_id: str
    ) -> int:
        """Append ``op`` to the shard's log, retrying (same message id) while the log's
        servers elect a leader; the PubAck's sequence."""
        subject = shard_subject(entry.partition, entry.id, shard)
        payloads = _split_payload(op, self._nc.max_payload - MESSAGE_HEADROOM)
        seq = 0
        for part, payload in enumerate(payloads):
            part_id = msg_id if len(payloads) == 1 else f"{msg_id}:{part}"
            seq = await self._publish_one(subject, payload, part_id, entry.partition)
        return seq

    async def _publish_one(self, subject: str, payload: bytes, msg_id: str, partition: int) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PUBLISH_DEADLINE_S
        delay = 0.05
        while True:
            try:
                ack = await self._js.publish(
                    subject,
                    payload,
                    stream=stream_name(partition),
                    timeout=5.0,
                    headers={"Nats-Msg-Id": msg_id},
                )
                return int(ack.seq)
            except (asyncio.TimeoutError, NoStreamResponseError, Exception) as error:
                if _permanent(error) or loop.time() + delay > deadline:
                    raise unavailable("write to its log", error) from error
                log.info("publish to %s failed (%s); retrying", subject, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def delete(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
    ) -> int:
        check_collection_id(collection_id)
        lookup = check_read_shape(
            include=frozenset(), ids=ids, where=where, where_document=where_document
        )
        check_read_values(
            include=frozenset(), allow_distances=False, where=where, where_document=where_document
        )
        if lookup is None and not where and not where_document:
            raise InvalidArgumentError(DELETE_NO_CRITERIA_MESSAGE)
        request_id = str(uuid.uuid4())
        deleted: int = self._run(
            self._delete(collection_id, lookup, where or None, where_document or None, request_id)
        )
        return deleted

    async def _delete(
        self,
        collection_id: str,
        lookup: list[str] | None,
        where: Where | None,
        where_document: WhereDocument | None,
        request_id: str,
    ) -> int:
        """Log the delete on every shard it concerns, then ask a replica of each how many
        records it removed (the single-node store answers that count too)."""
        entry = await self._require(collection_id)
        parts: dict[int, list[str] | None]
        if lookup is None:
            parts = {shard: None for shard in range(entry.shards)}
        else:
            parts = {
                shard: [lookup[i] for i in positions]
                for shard, positions in split_by_shard(lookup, entry.shards).items()
            }
        seqs = await asyncio.gather(
            *(
                self._publish(
                    entry,
                    shard,
                    ops.DeleteRecords(ids, where, where_document),
                    f"{request_id}:{shard}",
                )
                for shard, ids in parts.items()
            )
        )

        async def count(shard: int, seq: int) -> int:
            request = pb.ShardAwaitRequest(shard=_ref(entry, shard, 0), seq=seq)
            reply = await self._replicas.call(
                shard_key(entry.id, shard),
                lambda stub: stub.ShardAwait(request, timeout=self._replicas.call_timeout_s),
            )
            return int(reply.deleted_count)

        counts = await asyncio.gather(
            *(count(shard, seq) for shard, seq in zip(parts, seqs, strict=True))
        )
        return sum(counts)

    # -- reads -------------------------------------------------------------------------------

    async def _read_position(self, collection_id: str) -> tuple[CollectionEntry, int]:
        """The collection (after the catalog barrier) and the log position reads must reflect:
        both asked of NATS at once."""
        partition = partition_of(collection_id, self._topology.partitions)
        _, last = await asyncio.gather(self._catalog.barrier(), self._log_ends[partition].get())
        entry = self._catalog.by_id(collection_id)
        if entry is None:
            raise _missing(collection_id)
        return entry, last

    async def _strong_read(
        self,
        collection_id: str,
        plan: Callable[[CollectionEntry], list[Part]],
        ask: Callable[[CollectionEntry, Part, int], Awaitable[tuple[T, int]]],
        *,
        needs_dimension: bool = False,
    ) -> tuple[CollectionEntry, list[T]]:
        """Read shards so that the answer reflects every write acknowledged before the call.

        ``plan`` lists the shard parts to ask; ``ask(entry, part, min_seq)`` answers one with
        the replica's ``known_through``. When the collection is cached, the shards are asked
        at once, beside the catalog barrier and the log position; a shard whose answer was not
        current enough is asked again with the position. Otherwise (or when a query needs the
        dimension the cache does not have yet) the position comes first.
        """
        cached = self._catalog.by_id(collection_id)
        if cached is None or (needs_dimension and cached.dimension is None):
            entry, position = await self._read_position(collection_id)
            answers = await asyncio.gather(*(ask(entry, p, position) for p in plan(entry)))
            return entry, [result for result, _ in answers]
        parts = plan(cached)
        barrier = asyncio.ensure_future(self._catalog.barrier())
        end = asyncio.ensure_future(self._log_ends[cached.partition].get())
        try:
            answers = await asyncio.gather(*(ask(cached, p, 0) for p in parts))
            position = await end
            await barrier
        finally:
            for task in (barrier, end):
                if not task.done():
                    task.cancel()
        current = self._catalog.by_id(collection_id)
        if current is None:
            raise _missing(collection_id)
        stale = [i for i, (_, known) in enumerate(answers) if known < position]
        again = await asyncio.gather(*(ask(cached, parts[i], position) for i in stale))
        results = [result for result, _ in answers]
        for i, (result, _) in zip(stale, again, strict=True):
            results[i] = result
        return current, results

    async def _log_end(self, partition: int) -> int:
        try:
            info = await through_elections(lambda: self._js.stream_info(stream_name(partition)))
        except Exception as error:
            raise unavailable("read its log position", error) from error
        return int(info.state.last_seq)

    def count(self, collection_id: str) -> int:
        check_collection_id(collection_id)
        count: int = self._run(self._count(collection_id))
        return count

    async def _count(self, collection_id: str) -> int:
        async def ask(entry: CollectionEntry, shard: int, min_seq: int) -> tuple[int, int]:
            request = pb.ShardCountRequest(shard=_ref(entry, shard, min_seq))
            reply = await self._replicas.call(
                shard_key(entry.id, shard),
                lambda stub: stub.ShardCount(request, timeout=self._replicas.call_timeout_s),
            )
            return int(reply.count), int(reply.known_through)

        _, counts = await self._strong_read(
            collection_id, lambda entry: list(range(entry.shards)), ask
        )
        return sum(counts)

    def get(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: ResultFields = DEFAULT_GET_INCLUDE,
    ) -> Records:
        check_collection_id(collection_id)
        lookup = check_read_shape(
            include=include,
            ids=ids,
            where=where,
            where_document=where_document,
            limit=limit,
            offset=offset,
        )
        columns, sql_limit, sql_offset = check_read_values(
            include=include,
            allow_distances=False,
            where=where,
            where_document=where_document,
            limit=limit,
            offset=offset,
        )
        records: Records = self._run(
            self._get(
                collection_id,
                lookup,
                where or None,
                where_document or None,
                sql_limit,
                sql_offset,
                columns,
            )
        )
        return records

    async def _get(
        self,
        collection_id: str,
        lookup: list[str] | None,
        where: Where | None,
        where_document: WhereDocument | None,
        sql_limit: int,
        sql_offset: int,
        columns: frozenset[str],
    ) -> Records:
        wanted = 0 if sql_limit < 0 else min(sql_limit + sql_offset, INT64_MAX)
        include = to_proto_include(columns)
        fields = frozenset(c for c in columns if c != "distances")

        def plan(entry: CollectionEntry) -> list[tuple[int, list[str] | None]]:
            if lookup is None:
                return [(shard, None) for shard in range(entry.shards)]
            groups = split_by_shard(lookup, entry.shards)
            return [(shard, [lookup[i] for i in spots]) for shard, spots in groups.items()]

        async def ask(
            entry: CollectionEntry, part: tuple[int, list[str] | None], min_seq: int
        ) -> tuple[Records, int]:
            shard, ids = part
            request = pb.ShardGetRequest(
                shard=_ref(entry, shard, min_seq),
                ids=ids or [],
                by_ids=ids is not None,
                limit=wanted,
                include=include,
            )
            _set_filters(request, where, where_document)

            async def invoke(stub: Stub) -> tuple[Records, int]:
                call = stub.ShardGet(request, timeout=self._replicas.call_timeout_s)
                replies = [reply async for reply in call]
                known = min((r.known_through for r in replies), default=0)
                pages = [reply.page for reply in replies]
                return merge_get_pages(pages, fields), known  # type: ignore[arg-type]

            return await self._replicas.call(shard_key(entry.id, shard), invoke)

        entry, parts = await self._strong_read(collection_id, plan, ask)
        return merge_records(parts, fields, sql_offset, sql_limit, entry.dimension or 0)

    def peek(self, collection_id: str, limit: int = 10) -> Records:
        return self.get(collection_id, limit=limit, include=PEEK_INCLUDE)

    def query(
        self,
        collection_id: str,
        query_embeddings: Vectors | None,
        n_results: int = 10,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        include: ResultFields = DEFAULT_QUERY_INCLUDE,
        query_texts: Sequence[str] | None = None,
    ) -> list[Neighbours]:
        check_collection_id(collection_id)
        queries, texts = check_query_inputs_shape(query_embeddings, query_texts)
        k = validate_n_results(n_results, self._limits)
        check_read_shape(include=include, where=where, where_document=where_document)
        columns, _, _ = check_read_values(
            include=include, allow_distances=True, where=where, where_document=where_document
        )
        if texts is not None:
            check_query_texts_values(texts)
            queries = embed_texts(texts, self._embedder, field="query_texts")
        assert queries is not None  # exactly one of the two inputs
        check_embeddings_values(queries, self._limits, field="query_embeddings")
        result: list[Neighbours] = self._run(
            self._query(collection_id, queries, k, where or None, where_document or None, columns)
        )
        return result

    async def _query(
        self,
        collection_id: str,
        queries: Vectors,
        k: int,
        where: Where | None,
        where_document: WhereDocument | None,
        columns: frozenset[str],
    ) -> list[Neighbours]:
        asked = frozenset({*columns, "distances"})
        include = to_proto_include(asked)
        vectors = to_proto_vectors(queries)

        def plan(entry: CollectionEntry) -> list[int]:
            if entry.dimension is None or queries.shape[1] != entry.dimension:
                return []  # answered below, once the catalog is known to be current
            return list(range(entry.shards))

        async def ask(
            entry: CollectionEntry, shard: int, min_seq: int
        ) -> tuple[list[Neighbours], int]:
            request = pb.ShardQueryRequest(
                shard=_ref(entry, shard, min_seq),
                query_embeddings=vectors,
                n_results=k,
                include=include,
            )
            _set_filters(request, where, where_document)
            reply = await self._replicas.call(
                shard_key(entry.id, shard),
                lambda stub: stub.ShardQuery(request, timeout=self._replicas.call_timeout_s),
            )
            results = [from_proto_query_response(r, asked) for r in reply.results]  # type: ignore[arg-type]
            return results, int(reply.known_through)

        entry, per_shard = await self._strong_read(collection_id, plan, ask, needs_dimension=True)
        if entry.dimension is None:  # never had an embedding: any dimension, no results
            return [empty_result(columns) for _ in range(len(queries))]
        if queries.shape[1] != entry.dimension:
            raise dimension_mismatch(queries.shape[1], entry.dimension, field="query_embeddings")
        return [
            merge_neighbours([shard[q] for shard in per_shard], k, columns, entry.dimension)
            for q in range(len(queries))
        ]


# -- helpers ---------------------------------------------------------------------------------


def partition_of(collection_id: str, partitions: int) -> int:
    """The log stream a collection's shards live in (fixed by its id)."""
    return shard_of(collection_id, partitions)


def _missing(collection_id: str) -> InvalidCollectionException:
    return InvalidCollectionException(
        collection_not_found_message(collection_id), field="collection_id"
    )


def _with_entry(doc: DatabaseDoc, entry: CollectionEntry) -> DatabaseDoc:
    return dataclasses.replace(
        doc, collections=tuple(entry if c.id == entry.id else c for c in doc.collections)
    )


def _ref(entry: CollectionEntry, shard: int, min_seq: int) -> pb.ShardRef:
    return pb.ShardRef(collection_id=entry.id, shard=shard, min_seq=min_seq)


def _set_filters(request: Any, where: Where | None, where_document: WhereDocument | None) -> None:
    if where:
        request.where.CopyFrom(to_proto_where(where))
    if where_document:
        request.where_document.CopyFrom(to_proto_where_document(where_document))


def _take(batch: RecordBatch, positions: list[int]) -> RecordBatch:
    """The records of ``batch`` at ``positions``, every column kept."""

    def column(values: list[Any] | None) -> list[Any] | None:
        return None if values is None else [values[i] for i in positions]

    return RecordBatch(
        ids=[batch.ids[i] for i in positions],
        embeddings=None if batch.embeddings is None else batch.embeddings[positions],
        metadatas=column(batch.metadatas),
        documents=column(batch.documents),
        uris=column(batch.uris),
        set_columns=batch.set_columns,
    )


def _split_payload(op: ops.Operation, max_bytes: int) -> list[bytes]:
    """The op as one message, or (a write over the log's message limit) as several ops."""
    payload = ops.encode(op)
    if len(payload) <= max_bytes or not isinstance(op, ops.WriteRecords) or len(op.batch) < 2:
        return [payload]
    half = len(op.batch) // 2
    left = ops.WriteRecords(op.kind, _take(op.batch, list(range(half))))
    right = ops.WriteRecords(op.kind, _take(op.batch, list(range(half, len(op.batch)))))
    return _split_payload(left, max_bytes) + _split_payload(right, max_bytes)


def _permanent(error: BaseException) -> bool:
    """A publish error that retrying cannot fix (the message is refused as it is)."""
    text = str(error).lower()
    return "maximum payload" in text or "message size exceeds" in text


def merge_records(
    parts: Sequence[Records], fields: frozenset[str], offset: int, limit: int, dimension: int
) -> Records:
    """Shards' records (each ascending by id) as one store's answer: ascending by id (byte
    order of UTF-8, which is code point order: Python's), then offset and limit."""
    merged = list(heapq.merge(*(_keyed(p, part.ids) for p, part in enumerate(parts))))
    end = None if limit < 0 else offset + limit
    chosen = [(p, i) for _, p, i in merged[offset:end]]
    result = Records(ids=[parts[p].ids[i] for p, i in chosen])
    _copy_columns(result, parts, chosen, fields, dimension)
    return result


def _keyed(part: int, ids: list[str]) -> list[tuple[str, int, int]]:
    return [(record_id, part, i) for i, record_id in enumerate(ids)]


def merge_neighbours(
    parts: Sequence[Neighbours], k: int, columns: frozenset[str], dimension: int
) -> Neighbours:
    """Shards' nearest neighbours of one query as one store's: the k nearest overall (a tie
    keeps the order of shards, then each shard's order)."""
    candidates = [
        (float(distance), p, i)
        for p, part in enumerate(parts)
        for i, distance in enumerate(part.distances if part.distances is not None else ())
    ]
    chosen = [(p, i) for _, p, i in heapq.nsmallest(k, candidates)]
    result = Neighbours(ids=[parts[p].ids[i] for p, i in chosen])
    if "distances" in columns:
        result.distances = np.asarray(
            [parts[p].distances[i] for p, i in chosen],  # type: ignore[index]
            dtype=np.float32,
        )
    _copy_columns(result, parts, chosen, columns, dimension)
    return result


def _copy_columns(
    result: Records | Neighbours,
    parts: Sequence[Records | Neighbours],
    chosen: list[tuple[int, int]],
    fields: frozenset[str],
    dimension: int,
) -> None:
    """The chosen (part, position) records' included fields, in order, into ``result``."""
    for column in ("metadatas", "documents", "uris"):
        if column in fields:
            setattr(result, column, [getattr(parts[p], column)[i] for p, i in chosen])
    if "embeddings" in fields:
        rows = [parts[p].embeddings[i] for p, i in chosen]  # type: ignore[index]
        result.embeddings = (
            np.stack(rows).astype(np.float32, copy=False)
            if rows
            else np.zeros((0, dimension), np.float32)
        )


__all__ = ["ClusterStore", "ServerUnavailableError", "merge_neighbours", "merge_records"]
