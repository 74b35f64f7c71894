"""The catalog in JetStream KV: tenants, databases and their collections.

The bucket ``chroma_catalog`` is the one authority for what exists. Keys:

* ``tenant.<name>``: a tenant;
* ``db.<tenant>.<name>``: a database, holding its collections in creation order (id, name,
  metadata, dimension, shard count, log partition). One key per database makes every change
  to a database's collections (create, rename, modify, delete, the first write's dimension)
  one compare-and-set on that key's revision, so names stay unique within a database and
  concurrent gateways never lose each other's changes;
* ``config``: the cluster's fixed topology (log partitions, replicas).

Names are key tokens (:func:`~chroma_grpc.cluster.nats_io.key_token`). Every process keeps a
cache of the whole bucket from a KV watch. Reads are linearizable: :meth:`Catalog.barrier`
asks the bucket's stream for its last sequence (answered by its leader) and waits until the
watch has delivered it, so a read sees every change acknowledged before it began, whichever
gateway made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from chroma_grpc.cluster.fresh import FreshValue
from chroma_grpc.cluster.nats_io import (
    CATALOG_BUCKET,
    Topology,
    key_token,
    through_elections,
    token_text,
)
from chroma_grpc.store.errors import (
    DatabaseNotFoundError,
    ServerUnavailableError,
    TenantNotFoundError,
    UniqueConstraintError,
)
from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_TENANT,
    CollectionInfo,
    DatabaseInfo,
    MetadataValue,
    TenantInfo,
)
from chroma_grpc.store.validation import (
    database_exists_message,
    database_not_found_message,
    scope_database_error,
    scope_tenant_error,
    tenant_exists_message,
    tenant_not_found_message,
)

log = logging.getLogger(__name__)
CONFIG_KEY = "config"
# chromadb's id of the default database (the single-node store's too).
DEFAULT_DATABASE_ID = str(uuid.UUID(int=0))
_BARRIER_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class CollectionEntry:
    """A collection as the catalog holds it."""

    id: str
    name: str
    metadata: dict[str, MetadataValue] | None
    dimension: int | None
    shards: int
    partition: int
    tenant: str
    database: str
    # The distance space, fixed at creation (metadata may later drop the hnsw:space key).
    space: str = "l2"

    def info(self) -> CollectionInfo:
        return CollectionInfo(
            id=self.id,
            name=self.name,
            metadata=None if self.metadata is None else dict(self.metadata),
            dimension=self.dimension,
            tenant=self.tenant,
            database=self.database,
        )


@dataclass(frozen=True)
class DatabaseDoc:
    """One database key's value and revision."""

    id: str
    tenant: str
    name: str
    collections: tuple[CollectionEntry, ...] = ()
    revision: int = 0

    def to_json(self) -> bytes:
        body = {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "collections": [asdict(c) for c in self.collections],
        }
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    @staticmethod
    def from_json(data: bytes, revision: int) -> DatabaseDoc:
        body = json.loads(data)
        return DatabaseDoc(
            id=body["id"],
            tenant=body["tenant"],
            name=body["name"],
            collections=tuple(CollectionEntry(**c) for c in body["collections"]),
            revision=revision,
        )

    def by_name(self, name: str) -> CollectionEntry | None:
        return next((c for c in self.collections if c.name == name), None)

    def info(self) -> DatabaseInfo:
        return DatabaseInfo(id=self.id, name=self.name, tenant=self.tenant)


def tenant_key(tenant: str) -> str:
    return f"tenant.{key_token(tenant)}"


def database_key(tenant: str, database: str) -> str:
    return f"db.{key_token(tenant)}.{key_token(database)}"


@dataclass
class _Snapshot:
    """The cached bucket, and indexes derived from it."""

    tenants: dict[str, int] = field(default_factory=dict)  # name -> revision
    databases: dict[tuple[str, str], DatabaseDoc] = field(default_factory=dict)
    by_id: dict[str, CollectionEntry] = field(default_factory=dict)
    topology: Topology | None = None


class Catalog:
    """The catalog bucket, cached from a watch (module docstring). Used on one event loop."""

    def __init__(self, js: JetStreamContext, kv: KeyValue) -> None:
        self._js = js
        self._kv = kv
        self._snapshot = _Snapshot()
        self._seen = 0
        self._advanced = asyncio.Condition()
        self._watch_task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._end = FreshValue(self._last_sequence)

    # -- the cache -------------------------------------------------------------------------

    async def start(self) -> None:
        watcher = await self._kv.watchall()
        self._watch_task = asyncio.get_running_loop().create_task(self._follow(watcher))
        await self.barrier()

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the loop) after each change the watch delivers."""
        self._listeners.append(listener)

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is None:
                continue
            try:
                self._apply(entry.key, entry.value, entry.revision, entry.operation)
            except Exception:  # a malformed value must not stop the watch
                log.exception("catalog: cannot read key %s", entry.key)
            async with self._advanced:
                self._seen = max(self._seen, entry.revision or 0)
                self._advanced.notify_all()
            for listener in self._listeners:
                listener()

    def _apply(self, key: str, value: bytes | None, revision: int, operation: str | None) -> None:
        snap = self._snapshot
        deleted = operation is not None or not value
        parts = key.split(".")
        if parts[0] == "tenant" and len(parts) == 2:
            name = token_text(parts[1])
            if deleted:
                snap.tenants.pop(name, None)
            else:
                snap.tenants[name] = revision
        elif parts[0] == "db" and len(parts) == 3:
            scope = (token_text(parts[1]), token_text(parts[2]))
            old = snap.databases.pop(scope, None)
            if old is not None:
                for entry in old.collections:
                    snap.by_id.pop(entry.id, None)
            if not deleted:
                assert value is not None
                doc = DatabaseDoc.from_json(value, revision)
                snap.databases[scope] = doc
                for entry in doc.collections:
                    snap.by_id[entry.id] = entry
        elif key == CONFIG_KEY and not deleted:
            assert value is not None
            body = json.loads(value)
            snap.topology = Topology(partitions=body["partitions"], replicas=body["replicas"])

    async def _last_sequence(self) -> int:
        try:
            info = await through_elections(lambda: self._js.stream_info(f"KV_{CATALOG_BUCKET}"))
        except Exception as error:
            raise unavailable("read the catalog", error) from error
        return int(info.state.last_seq)

    async def barrier(self) -> None:
        """Wait until the cache holds every change acknowledged before this call."""
        last = await self._end.get()
        async with self._advanced:
            try:
                await asyncio.wait_for(
                    self._advanced.wait_for(lambda: self._seen >= last), _BARRIER_TIMEOUT_S
                )
            except asyncio.TimeoutError:
                raise ServerUnavailableError(
                    "The cluster's catalog did not catch up in time; retry shortly"
                ) from None

    # -- reads of the cache (call barrier() first for a linearizable answer) ----------------

    @property
    def topology(self) -> Topology | None:
        return self._snapshot.topology

    def collections(self) -> list[CollectionEntry]:
        """Every collection of every database."""
        return list(self._snapshot.by_id.values())

    def by_id(self, collection_id: str) -> CollectionEntry | None:
        return self._snapshot.by_id.get(collection_id)

    def tenant_exists(self, tenant: str) -> bool:
        return tenant in self._snapshot.tenants

    def database(self, tenant: str, database: str) -> DatabaseDoc | None:
        return self._snapshot.databases.get((tenant, database))

    def get_tenant(self, name: str) -> TenantInfo:
        if not self.tenant_exists(name):
            raise TenantNotFoundError(tenant_not_found_message(name), field="name")
        return TenantInfo(name=name)

    def get_database(self, tenant: str, name: str) -> DatabaseInfo:
        self.get_tenant(tenant)
        doc = self.database(tenant, name)
        if doc is None:
            raise DatabaseNotFoundError(database_not_found_message(name, tenant), field="name")
        return doc.info()

    def scope(self, tenant: str, database: str) -> DatabaseDoc:
        """The database a collection call addresses, else chromadb's "Could not connect"."""
        if not self.tenant_exists(tenant):
            raise scope_tenant_error(tenant)
        doc = self.database(tenant, database)
        if doc is None:
            raise scope_database_error(database, tenant)
        return doc

    # -- changes -----------------------------------------------------------------------------

    async def bootstrap(self, topology: Topology) -> Topology:
        """The cluster's topology (the first process sets it) and the default scope."""
        body = json.dumps({"partitions": topology.partitions, "replicas": topology.replicas})
        for key, value in (
            (CONFIG_KEY, body.encode()),
            (tenant_key(DEFAULT_TENANT), json.dumps({"name": DEFAULT_TENANT}).encode()),
            (
                database_key(DEFAULT_TENANT, DEFAULT_DATABASE),
                DatabaseDoc(DEFAULT_DATABASE_ID, DEFAULT_TENANT, DEFAULT_DATABASE).to_json(),
            ),
        ):
            with contextlib.suppress(KeyWrongLastSequenceError):  # another process was first
                await self._kv.create(key, value)
        await self.barrier()
        assert self.topology is not None
        return self.topology

    async def create_tenant(self, name: str) -> TenantInfo:
        try:
            await self._kv.create(tenant_key(name), json.dumps({"name": name}).encode())
        except KeyWrongLastSequenceError:
            raise UniqueConstraintError(tenant_exists_message(name), field="name") from None
        await self.barrier()
        return TenantInfo(name=name)

    async def create_database(self, tenant: str, name: str) -> DatabaseInfo:
        await self.barrier()
        self.get_tenant(tenant)
        doc = DatabaseDoc(str(uuid.uuid4()), tenant, name)
        try:
            await self._kv.create(database_key(tenant, name), doc.to_json())
        except KeyWrongLastSequenceError:
            raise UniqueConstraintError(
                database_exists_message(name, tenant), field="name"
            ) from None
        await self.barrier()
        return doc.info()

    async def change_database(
        self, tenant: str, database: str, change: Callable[[DatabaseDoc], DatabaseDoc | None]
    ) -> DatabaseDoc:
        """Apply ``change`` to the database's current value with compare-and-set, retrying
        on a concurrent change. ``change`` raises to refuse, or returns None for "nothing to
        write" (the current value is returned)."""
        while True:
            await self.barrier()
            current = self.scope(tenant, database)
            updated = change(current)
            if updated is None:
                return current
            try:
                revision = await self._kv.update(
                    database_key(tenant, database), updated.to_json(), last=current.revision
                )
            except KeyWrongLastSequenceError:
                continue  # someone else changed it first: look again
            except Exception as error:
                raise unavailable("change the catalog", error) from error
            await self.barrier()
            return replace(updated, revision=revision)

    async def reset(self) -> list[CollectionEntry]:
        """Every tenant and database but the defaults gone, the default database emptied;
        returns the collections that were dropped."""
        await self.barrier()
        dropped = self.collections()
        for tenant in list(self._snapshot.tenants):
            if tenant != DEFAULT_TENANT:
                await self._delete(tenant_key(tenant))
        for tenant, database in list(self._snapshot.databases):
            if (tenant, database) != (DEFAULT_TENANT, DEFAULT_DATABASE):
                await self._delete(database_key(tenant, database))
        await self.change_database(
            DEFAULT_TENANT,
            DEFAULT_DATABASE,
            lambda doc: replace(doc, collections=()) if doc.collections else None,
        )
        return dropped

    async def _delete(self, key: str) -> None:
        with contextlib.suppress(KeyNotFoundError):
            await self._kv.purge(key)


def unavailable(action: str, error: BaseException) -> ServerUnavailableError:
    """NATS did not answer (a leader election, a lost server): UNAVAILABLE, worth a retry."""
    return ServerUnavailableError(
        f"The cluster could not {action} ({type(error).__name__}: {error}); retry shortly"
    )
