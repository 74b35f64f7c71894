"""``Store``, ``StoreProxy`` and ``AsyncStoreProxy``, driven through ``StoreAPI`` directly, answer
every call alike.

Each case runs against an embedded ``Store`` and against a ``StoreProxy`` of a real server (over
its own ``Store``), again against an ``AsyncStoreProxy``, and against a ``StoreProxy`` of a
cluster's gateways, all freshly seeded the same way.
The two must return equal results and leave equal data, or raise the same class with the same
message. The client API is bypassed on purpose: it rejects many mistakes before either store is
reached. Hypothesis then throws random filters and batches, faulty in one place or in several,
at the embedded store and the sync proxy.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from chroma_grpc.client._gateways import channel_target
from chroma_grpc.client.async_proxy import AsyncStoreProxy
from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.store import Store
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import DatabaseNotFoundError, TenantNotFoundError
from chroma_grpc.store.filters import MAX_FILTER_DEPTH
from chroma_grpc.store.types import CollectionInfo, DatabaseInfo, RecordBatch
from tests.helpers.servers import serve_in_process

from .async_facade import LoopThread, SyncFace

MISSING = "00000000-0000-4000-8000-000000000000"
TENANT, DATABASE = "acme", "docs"
NAMES = ("default_tenant", "default_database", TENANT, DATABASE, "new-one")
ALL = frozenset({"embeddings", "metadatas", "documents", "uris"})
Case = Callable[[StoreAPI, str], Any]


@contextmanager
def stores(kind: str) -> Iterator[tuple[Store, StoreProxy]]:
    """The embedded store, and a proxy of a served one: ``StoreProxy`` ("grpc"), or
    ``AsyncStoreProxy`` behind a sync face ("async"; its coroutines run on a loop thread)."""
    embedded = Store(None, allow_reset=True)
    served = Store(None, allow_reset=True)
    with serve_in_process(served) as address:
        if kind == "grpc":
            proxy = StoreProxy(address, timeout=60)
            yield embedded, proxy
            proxy.close()
        else:
            runner = LoopThread()
            remote = runner.run(connected_async_proxy(address))
            yield embedded, cast(StoreProxy, SyncFace(remote, runner))
            runner.run(remote.close())
            runner.close()
    served.close()
    embedded.close()


@contextmanager
def cluster_stores(gateways: str) -> Iterator[tuple[Store, StoreProxy]]:
    """The embedded store, and a ``StoreProxy`` of a cluster's gateways: the gateway checks
    every call as the single-node store does (docs/cluster.md)."""
    embedded = Store(None, allow_reset=True)
    target, options = channel_target(gateways, 0)
    proxy = StoreProxy(target, options=options, timeout=60)
    yield embedded, proxy
    proxy.close()
    embedded.close()


@pytest.fixture(scope="module", params=["grpc", "async", "cluster"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Store, StoreProxy]]:
    """Every case runs on every proxy: of one server (sync and asyncio), and of a cluster."""
    if request.param == "cluster":
        with cluster_stores(request.getfixturevalue("cluster_gateways")) as both:
            yield both
        return
    with stores(request.param) as both:
        yield both


@pytest.fixture(scope="module")
def grpc_pair() -> Iterator[tuple[Store, StoreProxy]]:
    """The random inputs run on the sync proxy only (the async one sends the same requests,
    built by the same code, which the cases above hold to the same answers)."""
    with stores("grpc") as both:
        yield both


async def connected_async_proxy(address: str) -> AsyncStoreProxy:
    """Made in the loop that uses it: a grpc.aio channel belongs to its loop."""
    proxy = AsyncStoreProxy(address, timeout=60)
    await proxy.connect()
    return proxy


def seed(api: StoreAPI) -> str:
    """An empty database with one collection of three 2-d records; returns its id."""
    api.reset()
    info, _ = api.create_collection("seeded", {"hnsw:space": "l2", "topic": "fruit"})
    api.add(
        info.id,
        RecordBatch(
            ids=["a", "b", "c"],
            embeddings=np.array([[0, 0], [1, 0], [0, 1]], np.float32),
            metadatas=[{"n": 1, "s": "x"}, {"n": 2, "f": 0.5}, None],
            documents=["apple", "banana", None],
            uris=[None, "u://b", None],
        ),
    )
    api.create_collection("other")
    # The same name in another tenant's database: scoped calls must not see one for the other.
    api.create_tenant(TENANT)
    api.create_database(DATABASE, tenant=TENANT)
    api.create_collection("seeded", {"where": "elsewhere"}, tenant=TENANT, database=DATABASE)
    return info.id


def outcome(api: StoreAPI, cid: str, case: Case) -> tuple[str, Any]:
    """("ok", normalised result) or ("error", (class, message)), then the data left behind."""
    try:
        result: tuple[str, Any] = ("ok", normalise(case(api, cid)))
    except Exception as error:  # noqa: BLE001 - the class itself is compared
        result = ("error", (type(error), str(error)))
    if currently_in_test_context():  # --hypothesis-show-statistics shows the mix
        event(result[0] if result[0] == "ok" else f"error {result[1][0].__name__}")
    return result


def state(api: StoreAPI) -> Any:
    """Every collection (ids aside) and every record it holds, in both seeded scopes, and
    which of the tenants and databases the cases name exist."""
    collections = api.list_collections()
    if exists(lambda: api.get_database(DATABASE, tenant=TENANT)):
        collections += api.list_collections(tenant=TENANT, database=DATABASE)
    return (
        [(normalise(info), normalise(api.get(info.id, include=ALL))) for info in collections],
        [exists(lambda name=name: api.get_tenant(name)) for name in NAMES],
        [
            exists(lambda name=name, tenant=tenant: api.get_database(name, tenant=tenant))
            for name in NAMES
            for tenant in NAMES
        ],
    )


def exists(lookup: Callable[[], Any]) -> bool:
    try:
        lookup()
    except (TenantNotFoundError, DatabaseNotFoundError):
        return False
    return True


def normalise(value: Any) -> Any:
    """Comparable plain data: collection and database ids (random per store) are blanked."""
    if isinstance(value, CollectionInfo):
        return (value.name, value.metadata, value.dimension, value.tenant, value.database)
    if isinstance(value, DatabaseInfo):
        return ("DatabaseInfo", value.name, value.tenant)
    if isinstance(value, tuple):
        return tuple(normalise(v) for v in value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.tolist())
    if hasattr(value, "__dataclass_fields__"):
        return (
            type(value).__name__,
            {f.name: normalise(getattr(value, f.name)) for f in fields(value)},
        )
    return value


def assert_congruent(pair: tuple[Store, StoreProxy], case: Case) -> None:
    embedded, proxy = pair
    local = outcome(embedded, seed(embedded), case)
    remote = outcome(proxy, seed(proxy), case)
    assert remote == local
    assert state(proxy) == state(embedded)


def batch(**columns: Any) -> RecordBatch:
    columns.setdefault("ids", ["x", "y"])
    if "embeddings" not in columns:
        columns["embeddings"] = np.ones((len(columns["ids"]), 2), np.float32)
    return RecordBatch(**columns)


def deep(levels: int) -> dict[str, Any]:
    where: dict[str, Any] = {"n": 1}
    for _ in range(levels):
        where = {"$and": [where, {"n": 2}]}
    return where


CASES: dict[str, Case] = {
    # -- tenants and databases -------------------------------------------------------------
    "create tenant": lambda s, c: s.create_tenant("new-one"),
    "create tenant twice": lambda s, c: s.create_tenant(TENANT),
    "create default tenant": lambda s, c: s.create_tenant("default_tenant"),
    "create tenant short": lambda s, c: s.create_tenant("ab"),
    "create tenant empty": lambda s, c: s.create_tenant(""),
    "create tenant not str": lambda s, c: s.create_tenant(7),  # type: ignore[arg-type]
    "get tenant": lambda s, c: s.get_tenant(TENANT),
    "get default tenant": lambda s, c: s.get_tenant("default_tenant"),
    "get missing tenant": lambda s, c: s.get_tenant("nobody"),
    "get tenant not str": lambda s, c: s.get_tenant(None),  # type: ignore[arg-type]
    "create database": lambda s, c: s.create_database("new-one", tenant=TENANT),
    "create database in default tenant": lambda s, c: s.create_database("new-one"),
    "create database twice": lambda s, c: s.create_database(DATABASE, tenant=TENANT),
    "create default database again": lambda s, c: s.create_database("default_database"),
    "create database short": lambda s, c: s.create_database("db", tenant=TENANT),
    "create database not str": lambda s, c: s.create_database(1.5),  # type: ignore[arg-type]
    "create database in missing tenant": lambda s, c: s.create_database("new-one", "nobody"),
    "create database tenant not str": lambda s, c: s.create_database("new-one", 3),  # type: ignore[arg-type]
    "get database": lambda s, c: s.get_database(DATABASE, tenant=TENANT),
    "get database of another tenant": lambda s, c: s.get_database(DATABASE),
    "get missing database": lambda s, c: s.get_database("nothing", tenant=TENANT),
    "get database of missing tenant": lambda s, c: s.get_database(DATABASE, tenant="nobody"),
    # -- collections in a scope ------------------------------------------------------------
    "create in scope": lambda s, c: s.create_collection("fresh", tenant=TENANT, database=DATABASE),
    "create same name in scope": lambda s, c: s.create_collection(
        "other", tenant=TENANT, database=DATABASE
    ),
    "create duplicate in scope": lambda s, c: s.create_collection(
        "seeded", tenant=TENANT, database=DATABASE
    ),
    "get_or_create in scope": lambda s, c: s.create_collection(
        "seeded", {"k": 3}, True, tenant=TENANT, database=DATABASE
    ),
    "create in missing tenant": lambda s, c: s.create_collection("fresh", tenant="nobody"),
    "create in missing database": lambda s, c: s.create_collection(
        "fresh", tenant=TENANT, database="default_database"
    ),
    "create tenant arg not str": lambda s, c: s.create_collection("fresh", tenant=1),  # type: ignore[arg-type]
    "create database arg not str": lambda s, c: s.create_collection("fresh", database=None),  # type: ignore[arg-type]
    "get in scope": lambda s, c: s.get_collection("seeded", tenant=TENANT, database=DATABASE),
    "get missing in scope": lambda s, c: s.get_collection(
        "other", tenant=TENANT, database=DATABASE
    ),
    "get by id from another scope": lambda s, c: s.get_collection(
        collection_id=c, tenant=TENANT, database=DATABASE
    ),
    "get by id in missing scope": lambda s, c: s.get_collection(collection_id=c, tenant="nobody"),
    "get in missing database": lambda s, c: s.get_collection("seeded", database="nothing"),
    "list in scope": lambda s, c: s.list_collections(tenant=TENANT, database=DATABASE),
    "list in missing tenant": lambda s, c: s.list_collections(tenant="nobody"),
    "list in missing database": lambda s, c: s.list_collections(database="nothing"),
    "count in scope": lambda s, c: s.count_collections(tenant=TENANT, database=DATABASE),
    "count in missing scope": lambda s, c: s.count_collections(tenant=TENANT, database="nothing"),
    "delete in scope": lambda s, c: s.delete_collection("seeded", tenant=TENANT, database=DATABASE),
    "delete missing in scope": lambda s, c: s.delete_collection(
        "other", tenant=TENANT, database=DATABASE
    ),
    "delete in missing scope": lambda s, c: s.delete_collection("seeded", tenant="nobody"),
    "rename onto a name of another scope": lambda s, c: s.modify_collection(
        s.get_collection("seeded", tenant=TENANT, database=DATABASE).id, name="other"
    ),
    # -- collections ---------------------------------------------------------------------
    "create": lambda s, c: s.create_collection("fresh", {"k": 1}),
    "create get_or_create": lambda s, c: s.create_collection("seeded", {"k": 2}, True),
    "create duplicate": lambda s, c: s.create_collection("seeded"),
    "create bad name": lambda s, c: s.create_collection("a"),
    "create name not str": lambda s, c: s.create_collection(123),  # type: ignore[arg-type]
    "create name with ..": lambda s, c: s.create_collection("a..b"),
    "create empty metadata": lambda s, c: s.create_collection("fresh", {}),
    "create reserved key": lambda s, c: s.create_collection("fresh", {"chroma:document": "x"}),
    "create key not str": lambda s, c: s.create_collection("fresh", {1: "x"}),  # type: ignore[dict-item]
    "create list value": lambda s, c: s.create_collection("fresh", {"k": [1]}),  # type: ignore[dict-item]
    "create None value": lambda s, c: s.create_collection("fresh", {"k": None}),  # type: ignore[dict-item]
    "create int over 64 bits": lambda s, c: s.create_collection("fresh", {"k": 2**64}),
    "create NaN": lambda s, c: s.create_collection("fresh", {"k": math.nan}),
    "create bad space": lambda s, c: s.create_collection("fresh", {"hnsw:space": "cos"}),
    "create M too small": lambda s, c: s.create_collection("fresh", {"hnsw:M": 1}),
    "create M 2**31": lambda s, c: s.create_collection("fresh", {"hnsw:M": 2**31}),
    "create M absurd": lambda s, c: s.create_collection("fresh", {"hnsw:M": 100_000}),
    "create M str": lambda s, c: s.create_collection("fresh", {"hnsw:M": "x"}),
    "create M bool": lambda s, c: s.create_collection("fresh", {"hnsw:M": True}),
    "create ef 0": lambda s, c: s.create_collection("fresh", {"hnsw:construction_ef": 0}),
    "create search_ef huge": lambda s, c: s.create_collection("fresh", {"hnsw:search_ef": 10**9}),
    "create resize 0.5": lambda s, c: s.create_collection("fresh", {"hnsw:resize_factor": 0.5}),
    "create resize NaN": lambda s, c: s.create_collection(
        "fresh", {"hnsw:resize_factor": math.nan}
    ),
    "create unknown hnsw": lambda s, c: s.create_collection("fresh", {"hnsw:foo": 1}),
    "create threads": lambda s, c: s.create_collection("fresh", {"hnsw:num_threads": 5000}),
    "create in range": lambda s, c: s.create_collection(
        "fresh", {"hnsw:M": 128, "hnsw:search_ef": 10_000, "hnsw:resize_factor": 2}
    ),
    "get by name": lambda s, c: s.get_collection("seeded"),
    "get by id": lambda s, c: s.get_collection(collection_id=c),
    "get missing": lambda s, c: s.get_collection("missing"),
    "get missing id": lambda s, c: s.get_collection(collection_id=MISSING),
    "get id not a uuid": lambda s, c: s.get_collection(collection_id="nope"),
    "get both": lambda s, c: s.get_collection("seeded", c),
    "get neither": lambda s, c: s.get_collection(),
    "get name not str": lambda s, c: s.get_collection(123),  # type: ignore[arg-type]
    "get empty name": lambda s, c: s.get_collection(""),
    "list": lambda s, c: s.list_collections(),
    "list limit": lambda s, c: s.list_collections(limit=1),
    "list offset": lambda s, c: s.list_collections(offset=1),
    "list limit 0": lambda s, c: s.list_collections(limit=0),
    "list far offset": lambda s, c: s.list_collections(offset=10**12),
    "list negative limit": lambda s, c: s.list_collections(limit=-1),
    "list negative offset": lambda s, c: s.list_collections(offset=-1),
    "list limit 2**63": lambda s, c: s.list_collections(limit=2**63),
    "list offset 2**63": lambda s, c: s.list_collections(offset=2**63),
    "list offset 2**64": lambda s, c: s.list_collections(offset=2**64),
    "list limit 2**63-1": lambda s, c: s.list_collections(limit=2**63 - 1),
    "list limit str": lambda s, c: s.list_collections(limit="1"),  # type: ignore[arg-type]
    "list limit bool": lambda s, c: s.list_collections(limit=True),
    "count collections": lambda s, c: s.count_collections(),
    "modify rename": lambda s, c: s.modify_collection(c, name="renamed"),
    "modify onto existing": lambda s, c: s.modify_collection(c, name="other"),
    "modify bad name": lambda s, c: s.modify_collection(c, name="x"),
    "modify name not str": lambda s, c: s.modify_collection(c, name=5),  # type: ignore[arg-type]
    "modify metadata": lambda s, c: s.modify_collection(c, metadata={"k": "v"}),
    "modify space": lambda s, c: s.modify_collection(c, metadata={"hnsw:space": "ip"}),
    "modify empty metadata": lambda s, c: s.modify_collection(c, metadata={}),
    "modify M 0": lambda s, c: s.modify_collection(c, metadata={"hnsw:M": 0}),
    "modify missing": lambda s, c: s.modify_collection(MISSING, name="renamed"),
    "modify id not a uuid": lambda s, c: s.modify_collection("nope", name="renamed"),
    "delete collection": lambda s, c: s.delete_collection("seeded"),
    "delete missing collection": lambda s, c: s.delete_collection("missing"),
    "delete name not str": lambda s, c: s.delete_collection(7),  # type: ignore[arg-type]
    # -- writes ----------------------------------------------------------------------------
    "add": lambda s, c: s.add(c, batch(metadatas=[{"k": 1}, None], documents=["d", None])),
    "add existing ids": lambda s, c: s.add(c, batch(ids=["a", "z"])),
    "add duplicate ids": lambda s, c: s.add(c, batch(ids=["x", "x"])),
    "add 12 duplicate ids": lambda s, c: s.add(c, batch(ids=[f"i{i}" for i in range(12)] * 2)),
    "add no ids": lambda s, c: s.add(c, batch(ids=[])),
    "add empty id": lambda s, c: s.add(c, batch(ids=["", "y"])),
    "add id not str": lambda s, c: s.add(c, batch(ids=["x", 1])),
    "add ids a str": lambda s, c: s.add(c, RecordBatch(ids="xy", embeddings=np.ones((2, 2)))),  # type: ignore[arg-type]
    "add ragged": lambda s, c: s.add(c, batch(embeddings=[[1.0, 2.0], [1.0]])),
    "add 1-D": lambda s, c: s.add(c, batch(embeddings=np.ones(2))),
    "add 3-D": lambda s, c: s.add(c, batch(embeddings=np.ones((2, 2, 2)))),
    "add strings as vectors": lambda s, c: s.add(c, batch(embeddings=[["a", "b"], ["c", "d"]])),
    "add no components": lambda s, c: s.add(c, batch(embeddings=np.ones((2, 0)))),
    "add NaN": lambda s, c: s.add(c, batch(embeddings=np.array([[1, 2], [math.nan, 0]]))),
    "add inf": lambda s, c: s.add(c, batch(embeddings=np.array([[1, math.inf], [0, 0]]))),
    "add float64 over float32": lambda s, c: s.add(c, batch(embeddings=np.full((2, 2), 1e300))),
    "add wrong dimension": lambda s, c: s.add(c, batch(embeddings=np.ones((2, 3)))),
    "add dimension over limit": lambda s, c: s.add(c, batch(embeddings=np.ones((2, 70_000)))),
    "add vectors short": lambda s, c: s.add(c, batch(embeddings=np.ones((1, 2)))),
    "add metadatas short": lambda s, c: s.add(c, batch(metadatas=[{"k": 1}])),
    "add documents long": lambda s, c: s.add(c, batch(documents=["a", "b", "c"])),
    "add uris short": lambda s, c: s.add(c, batch(uris=["u"])),
    "add metadatas not list": lambda s, c: s.add(c, batch(metadatas={"k": 1})),
    "add None metadata value": lambda s, c: s.add(c, batch(metadatas=[{"k": None}, None])),
    "add empty metadata": lambda s, c: s.add(c, batch(metadatas=[{}, None])),
    "add reserved key": lambda s, c: s.add(c, batch(metadatas=[{"chroma:document": 1}, None])),
    "add metadata list value": lambda s, c: s.add(c, batch(metadatas=[{"k": [1]}, None])),
    "add metadata int key": lambda s, c: s.add(c, batch(metadatas=[{1: 1}, None])),
    "add metadata NaN": lambda s, c: s.add(c, batch(metadatas=[{"k": math.nan}, None])),
    "add document not str": lambda s, c: s.add(c, batch(documents=[1, None])),
    "add uri not str": lambda s, c: s.add(c, batch(uris=[None, 2])),
    "add documents only": lambda s, c: s.add(c, batch(embeddings=None, documents=["d", "e"])),
    "add None documents only": lambda s, c: s.add(
        c, batch(embeddings=None, documents=[None, None])
    ),
    "add nothing": lambda s, c: s.add(c, batch(embeddings=None)),
    "add over batch limit": lambda s, c: s.add(
        c, RecordBatch(ids=[str(i) for i in range(100_001)], embeddings=np.ones((100_001, 2)))
    ),
    "add missing collection": lambda s, c: s.add(MISSING, batch()),
    "add id not a uuid": lambda s, c: s.add("nope", batch()),
    "add several faults": lambda s, c: s.add(
        c, batch(ids=["x", "x"], embeddings=np.array([[math.nan, 1]] * 2), metadatas=[{}, {1: 2}])
    ),
    "upsert": lambda s, c: s.upsert(c, batch(ids=["a", "z"], metadatas=[{"n": 9}, None])),
    "upsert None value": lambda s, c: s.upsert(
        c, batch(ids=["a", "z"], metadatas=[{"n": None}, None])
    ),
    "update": lambda s, c: s.update(c, RecordBatch(ids=["a", "zz"], documents=["new", None])),
    "upsert None document": lambda s, c: s.upsert(
        c, batch(ids=["a", "new"], documents=[None, None], uris=["u://a", None])
    ),
    "update None documents": lambda s, c: s.update(
        c, RecordBatch(ids=["a", "b"], documents=[None, "kept"], uris=[None, None])
    ),
    "update None documents as a column": lambda s, c: s.update(
        c,
        RecordBatch(
            ids=["a", "b"],
            documents=[None, "kept"],
            uris=[None, None],
            set_columns=frozenset({"documents", "uris"}),
        ),
    ),
    "update None metadata": lambda s, c: s.update(c, RecordBatch(ids=["a"], metadatas=[None])),
    "delete name None": lambda s, c: s.delete_collection(None),  # type: ignore[arg-type]
    "get name empty": lambda s, c: s.get_collection(name=""),
    "update deletes key": lambda s, c: s.update(c, RecordBatch(ids=["a"], metadatas=[{"s": None}])),
    "update vectors": lambda s, c: s.update(c, RecordBatch(ids=["b"], embeddings=np.ones((1, 2)))),
    "update wrong dimension": lambda s, c: s.update(
        c, RecordBatch(ids=["b"], embeddings=np.ones((1, 5)))
    ),
    "update duplicate": lambda s, c: s.update(c, RecordBatch(ids=["a", "a"])),
    "delete by ids": lambda s, c: s.delete(c, ids=["a", "zz"]),
    "delete by where": lambda s, c: s.delete(c, where={"n": {"$gte": 2}}),
    "delete by document": lambda s, c: s.delete(c, where_document={"$contains": "an"}),
    "delete nothing given": lambda s, c: s.delete(c),
    "delete empty filters": lambda s, c: s.delete(c, ids=[], where={}, where_document={}),
    "delete ids a str": lambda s, c: s.delete(c, ids="a"),
    "delete id not str": lambda s, c: s.delete(c, ids=[1]),  # type: ignore[list-item]
    "delete bad where": lambda s, c: s.delete(c, where={"n": {"$gt": "x"}}),
    "delete missing": lambda s, c: s.delete(MISSING, ids=["a"]),
    "delete not a uuid": lambda s, c: s.delete("nope", ids=["a"]),
    # -- reads -----------------------------------------------------------------------------
    "get": lambda s, c: s.get(c),
    "get everything": lambda s, c: s.get(c, include=ALL),
    "get ids only": lambda s, c: s.get(c, include=frozenset()),
    "get data": lambda s, c: s.get(c, include=frozenset({"data"})),  # type: ignore[arg-type]
    "get distances": lambda s, c: s.get(c, include=frozenset({"distances"})),
    "get bogus include": lambda s, c: s.get(c, include=frozenset({"bogus"})),  # type: ignore[arg-type]
    "get include str": lambda s, c: s.get(c, include="documents"),  # type: ignore[arg-type]
    "get include item not str": lambda s, c: s.get(c, include=[1]),  # type: ignore[arg-type]
    "get include None": lambda s, c: s.get(c, include=None),  # type: ignore[arg-type]
    "get by ids": lambda s, c: s.get(c, ids=["c", "a", "missing"]),
    "get limit offset": lambda s, c: s.get(c, limit=1, offset=1),
    "get limit 0": lambda s, c: s.get(c, limit=0),
    "get negative limit": lambda s, c: s.get(c, limit=-1),
    "get negative offset": lambda s, c: s.get(c, offset=-3),
    "get limit 2**63": lambda s, c: s.get(c, limit=2**63),
    "get offset 2**63": lambda s, c: s.get(c, offset=2**63),
    "get offset 2**64": lambda s, c: s.get(c, offset=2**64),
    "get limit 2**63-1": lambda s, c: s.get(c, limit=2**63 - 1, offset=2**63 - 1),
    "get limit float": lambda s, c: s.get(c, limit=1.0),  # type: ignore[arg-type]
    "get where": lambda s, c: s.get(c, where={"$or": [{"n": 1}, {"f": {"$lt": 1}}]}),
    "get where in": lambda s, c: s.get(c, where={"s": {"$in": ["x", "y"]}}),
    "get where nin": lambda s, c: s.get(c, where={"n": {"$nin": [1]}}),
    "get where two keys": lambda s, c: s.get(c, where={"n": 1, "s": "x"}),
    "get where one child": lambda s, c: s.get(c, where={"$and": [{"n": 1}]}),
    "get where gt str": lambda s, c: s.get(c, where={"n": {"$gt": "1"}}),
    "get where gt bool": lambda s, c: s.get(c, where={"n": {"$gt": True}}),
    "get where in empty": lambda s, c: s.get(c, where={"n": {"$in": []}}),
    "get where in mixed": lambda s, c: s.get(c, where={"n": {"$in": [1, "1"]}}),
    "get where in scalar": lambda s, c: s.get(c, where={"n": {"$in": 1}}),
    "get where eq list": lambda s, c: s.get(c, where={"n": {"$eq": [1]}}),
    "get where unknown op": lambda s, c: s.get(c, where={"n": {"$regex": "x"}}),
    "get where None": lambda s, c: s.get(c, where={"n": None}),
    "get where nested dict": lambda s, c: s.get(c, where={"n": {"$eq": {"x": 1}}}),
    "get where int key": lambda s, c: s.get(c, where={1: 1}),  # type: ignore[dict-item]
    "get where int over 64": lambda s, c: s.get(c, where={"n": 2**64}),
    "get where deepest": lambda s, c: s.get(c, where=deep(MAX_FILTER_DEPTH)),
    "get where too deep": lambda s, c: s.get(c, where=deep(MAX_FILTER_DEPTH + 1)),
    "get where not dict": lambda s, c: s.get(c, where=[("n", 1)]),  # type: ignore[arg-type]
    "get document": lambda s, c: s.get(c, where_document={"$not_contains": "an"}),
    "get document empty": lambda s, c: s.get(c, where_document={"$contains": ""}),
    "get document not str": lambda s, c: s.get(c, where_document={"$contains": 1}),
    "get document bad op": lambda s, c: s.get(c, where_document={"$regex": "a"}),
    "get document one child": lambda s, c: s.get(c, where_document={"$or": [{"$contains": "a"}]}),
    "get faults everywhere": lambda s, c: s.get(
        c, include=frozenset({"distances"}), limit=-1, where={"n": {"$gt": "x"}}
    ),
    "get from a missing collection": lambda s, c: s.get(MISSING),
    "get not a uuid": lambda s, c: s.get("nope", limit=-1),
    "peek": lambda s, c: s.peek(c, 2),
    "peek 0": lambda s, c: s.peek(c, 0),
    "peek negative": lambda s, c: s.peek(c, -1),
    "count": lambda s, c: s.count(c),
    "count missing": lambda s, c: s.count(MISSING),
    "count not a uuid": lambda s, c: s.count("nope"),
    "query": lambda s, c: s.query(c, np.array([[0.1, 0.2], [1, 1]], np.float32), n_results=2),
    "query everything": lambda s, c: s.query(
        c, np.ones((1, 2)), n_results=5, include=ALL | {"distances"}
    ),
    "query filtered": lambda s, c: s.query(c, np.ones((1, 2)), where={"n": {"$lte": 1}}),
    "query n 0": lambda s, c: s.query(c, np.ones((1, 2)), n_results=0),
    "query n -1": lambda s, c: s.query(c, np.ones((1, 2)), n_results=-1),
    "query n bool": lambda s, c: s.query(c, np.ones((1, 2)), n_results=True),
    "query n float": lambda s, c: s.query(c, np.ones((1, 2)), n_results=1.5),  # type: ignore[arg-type]
    "query n over max": lambda s, c: s.query(c, np.ones((1, 2)), n_results=100_001),
    "query n 2**40": lambda s, c: s.query(c, np.ones((1, 2)), n_results=2**40),
    "query 1-D": lambda s, c: s.query(c, np.ones(2)),
    "query wrong dimension": lambda s, c: s.query(c, np.ones((1, 3))),
    "query NaN": lambda s, c: s.query(c, np.array([[math.nan, 0]])),
    "query no vectors": lambda s, c: s.query(c, np.ones((0, 2))),
    "query texts": lambda s, c: s.query(c, None, query_texts=["hello"]),
    "query both": lambda s, c: s.query(c, np.ones((1, 2)), query_texts=["hello"]),
    "query neither": lambda s, c: s.query(c, None),
    "query texts a str": lambda s, c: s.query(c, None, query_texts="hello"),
    "query texts not str": lambda s, c: s.query(c, None, query_texts=[1]),  # type: ignore[list-item]
    "query no texts": lambda s, c: s.query(c, None, query_texts=[]),
    "query bad include": lambda s, c: s.query(c, np.ones((1, 2)), include=frozenset({"x"})),  # type: ignore[arg-type]
    "query bad where": lambda s, c: s.query(c, np.ones((1, 2)), where={"n": {"$in": []}}),
    "query other collection": lambda s, c: s.query(
        s.get_collection("other").id, np.ones((1, 7)), n_results=3
    ),
    "query missing": lambda s, c: s.query(MISSING, np.ones((1, 2))),
    "reset": lambda s, c: s.reset(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_answer_on_both_transports(pair: tuple[Store, StoreProxy], name: str) -> None:
    assert_congruent(pair, CASES[name])


def test_the_cases_call_every_storeapi_method() -> None:
    methods = {
        name
        for name in dir(StoreAPI)
        if not name.startswith("_") and callable(getattr(StoreAPI, name))
    } - {"close", "heartbeat"}  # no arguments to judge; heartbeat answers the time
    sources = "\n".join(inspect.getsource(case) for case in CASES.values())
    assert {m for m in methods if f"s.{m}(" not in sources} == set()


# -- random inputs, faulty anywhere ----------------------------------------------------------
# Each strategy mixes well-formed values (so that results get compared too) with values that
# break one rule or several. `pytest --hypothesis-show-statistics` shows the mix of outcomes.

keys = st.one_of(st.sampled_from(["n", "s", "f", "$and", "$or", "$eq"]), st.integers(0, 2))
scalars = st.one_of(
    st.text(max_size=3),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
operands = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(keys, scalars, max_size=1)
)
operators = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$x"])
faulty_leaves = st.one_of(
    st.builds(lambda k, v: {k: v}, keys, operands),
    st.builds(lambda k, o, v: {k: {o: v}}, keys, operators, operands),
    st.dictionaries(keys, operands, max_size=2),
)
good_scalars = st.one_of(
    st.sampled_from(["x", "y"]), st.integers(0, 3), st.sampled_from([0.5, 2.0])
)
good_leaves = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(["n", "s", "f"]), good_scalars),
    st.builds(
        lambda k, o, v: {k: {o: v}},
        st.sampled_from(["n", "f"]),
        st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$ne"]),
        st.integers(0, 3),
    ),
    st.builds(
        lambda k, o, v: {k: {o: v}},
        st.sampled_from(["n", "s"]),
        st.sampled_from(["$in", "$nin"]),
        st.lists(st.integers(0, 3), min_size=1, max_size=3),
    ),
)


def trees(leaves: st.SearchStrategy[Any], min_children: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.builds(
            lambda op, items: {op: items},
            st.sampled_from(["$and", "$or"]),
            st.lists(children, min_size=min_children, max_size=3),
        ),
        max_leaves=6,
    )


wheres = st.one_of(st.none(), trees(good_leaves, 2), trees(good_leaves, 2), trees(faulty_leaves, 0))
documents = st.one_of(
    st.none(),
    trees(st.builds(lambda t: {"$contains": t}, st.sampled_from(["a", "an", "z"])), 2),
    trees(
        st.one_of(
            st.builds(
                lambda o, t: {o: t},
                st.sampled_from(["$contains", "$not_contains", "$x"]),
                st.one_of(st.text(max_size=2), st.integers(0, 1)),
            ),
            st.dictionaries(
                st.sampled_from(["$contains", "$and"]), st.text(max_size=1), max_size=2
            ),
        ),
        0,
    ),
)
includes = st.one_of(
    st.frozensets(st.sampled_from(["embeddings", "documents", "metadatas", "uris"])),
    st.frozensets(
        st.sampled_from(["embeddings", "documents", "metadatas", "uris", "distances", "data", "x"])
    ),
    st.just("documents"),
)
bounds = st.one_of(
    st.none(), st.integers(0, 3), st.integers(-2, 4), st.sampled_from([2**63 - 1, 2**63, 2**64])
)
SLOW = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def seeded(grpc_pair: tuple[Store, StoreProxy]) -> tuple[str, str]:
    embedded, proxy = grpc_pair
    return seed(embedded), seed(proxy)


@SLOW
@given(where=wheres, where_document=documents, include=includes, limit=bounds, offset=bounds)
def test_random_reads_get_the_same_answer(
    grpc_pair: tuple[Store, StoreProxy],
    seeded: tuple[str, str],
    where: Any,
    where_document: Any,
    include: Any,
    limit: Any,
    offset: Any,
) -> None:
    embedded, proxy = grpc_pair

    def case(api: StoreAPI, cid: str) -> Any:
        return api.get(
            cid,
            where=where,
            where_document=where_document,
            include=include,
            limit=limit,
            offset=offset,
        )

    assert outcome(proxy, seeded[1], case) == outcome(embedded, seeded[0], case)


@SLOW
@given(
    where=wheres,
    n_results=st.one_of(st.integers(1, 4), st.integers(-1, 4), st.just(2**33)),
    include=includes,
    rows=st.sampled_from([1, 2, 2, 0]),
    dimension=st.sampled_from([2, 2, 2, 1, 3]),
)
def test_random_queries_get_the_same_answer(
    grpc_pair: tuple[Store, StoreProxy],
    seeded: tuple[str, str],
    where: Any,
    n_results: int,
    include: Any,
    rows: int,
    dimension: int,
) -> None:
    embedded, proxy = grpc_pair
    vectors = np.arange(rows * dimension, dtype=np.float32).reshape(rows, dimension)

    def case(api: StoreAPI, cid: str) -> Any:
        return api.query(cid, vectors, n_results=n_results, where=where, include=include)

    assert outcome(proxy, seeded[1], case) == outcome(embedded, seeded[0], case)


good_ids = st.lists(st.sampled_from(["a", "b", "x", "y", "z"]), min_size=1, max_size=4, unique=True)
ids = st.one_of(
    good_ids,
    good_ids,
    good_ids,
    st.lists(st.one_of(st.sampled_from(["a", "x", "y", ""]), st.integers(0, 1)), max_size=4),
)
good_metadata = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(["k", "n"]), good_scalars, min_size=1)
)
faulty_metadata = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.sampled_from(["k", "chroma:document"]), st.integers(0, 1)),
        st.one_of(scalars, st.lists(st.integers(), max_size=1)),
        max_size=2,
    ),
)
metadatas = st.one_of(
    st.none(),
    st.lists(good_metadata, min_size=1, max_size=4),
    st.lists(good_metadata, min_size=1, max_size=4),
    st.lists(faulty_metadata, max_size=4),
)
texts = st.one_of(
    st.none(),
    st.none(),
    st.lists(st.one_of(st.none(), st.sampled_from(["apple", "kiwi"])), min_size=1, max_size=4),
    st.lists(st.one_of(st.none(), st.text(max_size=2), st.integers(0, 1)), max_size=4),
)


@SLOW
@given(
    kind=st.sampled_from(["add", "upsert", "update"]),
    ids=ids,
    rows=st.one_of(st.none(), st.none(), st.integers(0, 4)),
    dimension=st.sampled_from([2, 2, 2, 0, 3]),
    nan=st.integers(0, 4),
    with_vectors=st.sampled_from([True, True, True, False]),
    metadatas=metadatas,
    documents=texts,
    uris=texts,
    aligned=st.sampled_from([True, True, False]),
)
def test_random_writes_get_the_same_answer_and_leave_the_same_data(
    grpc_pair: tuple[Store, StoreProxy],
    kind: str,
    ids: list[Any],
    rows: int | None,
    dimension: int,
    nan: int,
    with_vectors: bool,
    metadatas: Any,
    documents: Any,
    uris: Any,
    aligned: bool,
) -> None:
    """``rows`` None: one vector per id; ``aligned``: each column stretched to the ids' length."""
    vectors = None
    if with_vectors:
        vectors = np.ones((len(ids) if rows is None else rows, dimension), np.float32)
        if nan == 0 and vectors.size:
            vectors[-1, -1] = math.nan
    if aligned:
        metadatas, documents, uris = (
            (column * len(ids))[: len(ids)] if column else column
            for column in (metadatas, documents, uris)
        )
    write = RecordBatch(
        ids=ids, embeddings=vectors, metadatas=metadatas, documents=documents, uris=uris
    )

    def case(api: StoreAPI, cid: str) -> Any:
        return getattr(api, kind)(cid, write)

    assert_congruent(grpc_pair, case)
