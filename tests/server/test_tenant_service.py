"""TenantService and scoped CollectionRefs through raw stubs: what a grpcurl or Node caller sees."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from chroma_grpc.store import Store
from chroma_grpc.store.types import CollectionInfo, RecordBatch
from chroma_grpc.v1 import collection_service_pb2 as cpb
from chroma_grpc.v1 import record_service_pb2 as rpb
from chroma_grpc.v1 import tenant_service_pb2 as tpb
from chroma_grpc.v1 import tenant_service_pb2_grpc, types_pb2
from tests.server.conftest import Stubs
from tests.server.test_contract import failure, reason


@pytest.fixture
def tenants(channel: grpc.Channel) -> tenant_service_pb2_grpc.TenantServiceStub:
    return tenant_service_pb2_grpc.TenantServiceStub(channel)


@pytest.fixture
def elsewhere(store: Store) -> Iterator[CollectionInfo]:
    """A collection "seeded" in database "docs" of tenant "acme", holding one record."""
    store.create_tenant("acme")
    store.create_database("docs", tenant="acme")
    info, _ = store.create_collection("seeded", tenant="acme", database="docs")
    store.add(info.id, RecordBatch(ids=["z"], embeddings=np.ones((1, 2), np.float32)))
    yield info


def test_tenants_and_databases_over_the_wire(
    tenants: tenant_service_pb2_grpc.TenantServiceStub,
) -> None:
    created = tenants.CreateTenant(tpb.CreateTenantRequest(name="acme"))
    assert created.tenant.name == "acme"
    assert tenants.GetTenant(tpb.GetTenantRequest(name="acme")).tenant.name == "acme"
    database = tenants.CreateDatabase(tpb.CreateDatabaseRequest(tenant="acme", name="docs"))
    assert (database.database.tenant, database.database.name) == ("acme", "docs")
    uuid.UUID(database.database.id)
    fetched = tenants.GetDatabase(tpb.GetDatabaseRequest(tenant="acme", name="docs"))
    assert fetched.database == database.database
    default = tenants.GetDatabase(tpb.GetDatabaseRequest(name="default_database"))
    assert default.database.tenant == "default_tenant"  # an empty tenant is the default one
    cases = [
        (lambda: tenants.CreateTenant(tpb.CreateTenantRequest(name="acme")), "UNIQUE_CONSTRAINT"),
        (lambda: tenants.CreateTenant(tpb.CreateTenantRequest(name="ab")), "INVALID_ARGUMENT"),
        (lambda: tenants.GetTenant(tpb.GetTenantRequest(name="nobody")), "TENANT_NOT_FOUND"),
        (
            lambda: tenants.CreateDatabase(tpb.CreateDatabaseRequest(tenant="nobody", name="db1")),
            "TENANT_NOT_FOUND",
        ),
        (
            lambda: tenants.CreateDatabase(tpb.CreateDatabaseRequest(tenant="acme", name="docs")),
            "UNIQUE_CONSTRAINT",
        ),
        (
            lambda: tenants.GetDatabase(tpb.GetDatabaseRequest(tenant="acme", name="nothing")),
            "DATABASE_NOT_FOUND",
        ),
    ]
    codes = {
        "UNIQUE_CONSTRAINT": grpc.StatusCode.ALREADY_EXISTS,
        "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
        "TENANT_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
        "DATABASE_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    }
    for call, expected in cases:
        error = failure(call)
        assert reason(error) == expected
        assert error.code() == codes[expected]  # type: ignore[attr-defined]


def test_names_are_resolved_in_the_scope_the_request_names(
    stubs: Stubs, collection: CollectionInfo, elsewhere: CollectionInfo
) -> None:
    scoped = {"tenant": "acme", "database": "docs"}
    count = stubs.records.CountRecords(
        rpb.CountRecordsRequest(collection=types_pb2.CollectionRef(name="seeded", **scoped))
    )
    assert count.count == 1
    default = stubs.records.CountRecords(
        rpb.CountRecordsRequest(collection=types_pb2.CollectionRef(name="seeded"))
    )
    assert default.count == 3
    listed = stubs.collections.ListCollections(cpb.ListCollectionsRequest(**scoped))
    assert [c.id for c in listed.collections] == [elsewhere.id]
    assert stubs.collections.CountCollections(cpb.CountCollectionsRequest(**scoped)).count == 1
    got = stubs.collections.GetCollection(
        cpb.GetCollectionRequest(collection=types_pb2.CollectionRef(name="seeded", **scoped))
    )
    assert (got.collection.id, got.collection.tenant) == (elsewhere.id, "acme")
    stubs.collections.DeleteCollection(
        cpb.DeleteCollectionRequest(collection=types_pb2.CollectionRef(name="seeded", **scoped))
    )
    assert stubs.collections.CountCollections(cpb.CountCollectionsRequest(**scoped)).count == 0
    assert stubs.collections.CountCollections(cpb.CountCollectionsRequest()).count == 1


def test_an_id_with_a_scope_must_live_there(
    stubs: Stubs, collection: CollectionInfo, elsewhere: CollectionInfo
) -> None:
    # Without a scope an id is found wherever it lives (ids are unique across the server).
    plain = types_pb2.CollectionRef(id=elsewhere.id)
    assert stubs.records.CountRecords(rpb.CountRecordsRequest(collection=plain)).count == 1
    assert stubs.collections.GetCollection(cpb.GetCollectionRequest(collection=plain))
    # Its own scope spelled out: the same.
    own = types_pb2.CollectionRef(id=elsewhere.id, tenant="acme", database="docs")
    assert stubs.records.CountRecords(rpb.CountRecordsRequest(collection=own)).count == 1
    # Another (existing) scope: not found, and nothing is touched.
    wrong = types_pb2.CollectionRef(
        id=collection.id, tenant="acme", database="docs"
    )  # lives in the default scope
    for call, expected in [
        (
            lambda: stubs.records.CountRecords(rpb.CountRecordsRequest(collection=wrong)),
            "INVALID_COLLECTION",
        ),
        (
            lambda: stubs.records.DeleteRecords(
                rpb.DeleteRecordsRequest(collection=wrong, ids=["a"])
            ),
            "INVALID_COLLECTION",
        ),
        (
            lambda: stubs.collections.GetCollection(cpb.GetCollectionRequest(collection=wrong)),
            "COLLECTION_NOT_FOUND",
        ),
        (
            lambda: stubs.collections.UpdateCollection(
                cpb.UpdateCollectionRequest(collection=wrong, new_name="moved")
            ),
            "COLLECTION_NOT_FOUND",
        ),
        (
            lambda: stubs.collections.DeleteCollection(
                cpb.DeleteCollectionRequest(collection=wrong)
            ),
            "COLLECTION_NOT_FOUND",
        ),
    ]:
        error = failure(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
        assert reason(error) == expected
        assert "does not exist in database docs of tenant acme" in error.details()  # type: ignore[attr-defined]
    assert (
        stubs.records.CountRecords(
            rpb.CountRecordsRequest(collection=types_pb2.CollectionRef(id=collection.id))
        ).count
        == 3
    )
    names = [
        c.name for c in stubs.collections.ListCollections(cpb.ListCollectionsRequest()).collections
    ]
    assert names == ["seeded"]
