"""Tenants and databases, chromadb 0.4.24's way, on every transport.

A collection lives in one database of one tenant; the client works in one at a time. The
``admin`` fixture is an ``AdminClient`` on the same store as ``client``.
"""

from __future__ import annotations

from uuid import UUID

import pytest

import chroma_grpc
from chroma_grpc import AdminClient, ClientAPI
from chroma_grpc.errors import UniqueConstraintError


@pytest.fixture
def admin(client: ClientAPI) -> AdminClient:
    return AdminClient(client.get_settings())


def test_admin_creates_and_gets_tenants_and_databases(admin: AdminClient) -> None:
    admin.create_tenant("acme")
    assert admin.get_tenant("acme") == {"name": "acme"}
    admin.create_database("docs", tenant="acme")
    database = admin.get_database("docs", tenant="acme")
    assert (database["name"], database["tenant"]) == ("docs", "acme")
    assert isinstance(database["id"], UUID)
    default = admin.get_database("default_database")
    assert default == {
        "id": UUID(int=0),
        "name": "default_database",
        "tenant": "default_tenant",
    }
    admin.create_database("docs")  # the same name in another tenant is another database
    assert admin.get_database("docs")["id"] != database["id"]


def test_admin_errors_are_chromadbs(admin: AdminClient) -> None:
    for create in (admin.create_tenant, admin.create_database):
        with pytest.raises(ValueError, match="name must be at least 3 characters long") as caught:
            create("ab")
        assert caught.type is ValueError
    admin.create_tenant("acme")
    with pytest.raises(UniqueConstraintError, match="Tenant acme already exists"):
        admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    with pytest.raises(UniqueConstraintError, match="Database docs already exists for tenant acme"):
        admin.create_database("docs", tenant="acme")
    with pytest.raises(ValueError, match="Tenant nobody not found"):
        admin.get_tenant("nobody")
    with pytest.raises(ValueError, match="Database nothing not found for tenant acme"):
        admin.get_database("nothing", tenant="acme")
    with pytest.raises(ValueError, match="Tenant nobody not found"):
        admin.create_database("docs", tenant="nobody")


def test_the_same_name_lives_in_two_databases(client: ClientAPI, admin: AdminClient) -> None:
    admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    here = client.create_collection("shared", metadata={"where": "default"})
    here.add(ids=["a"], embeddings=[[1.0, 2.0]])
    client.create_collection("only-default")

    client.set_tenant("acme", database="docs")
    assert (client.tenant, client.database) == ("acme", "docs")
    assert client.list_collections() == [] and client.count_collections() == 0
    with pytest.raises(ValueError, match="Collection shared does not exist."):
        client.get_collection("shared")
    there = client.create_collection("shared", metadata={"where": "acme"})
    assert (there.tenant, there.database) == ("acme", "docs") and there.id != here.id
    there.add(ids=["b", "c"], embeddings=[[0.0, 1.0], [1.0, 1.0]])
    assert [c.name for c in client.list_collections()] == ["shared"]
    assert client.count_collections() == 1
    assert client.get_or_create_collection("shared").metadata == {"where": "acme"}
    # by id a collection is found wherever it lives, as in chromadb
    assert client.get_collection(id=here.id).metadata == {"where": "default"}

    client.set_tenant("default_tenant")
    assert sorted(c.name for c in client.list_collections()) == ["only-default", "shared"]
    assert client.get_collection("shared").count() == 1
    client.delete_collection("shared")
    assert client.count_collections() == 1

    client.set_tenant("acme", "docs")
    assert client.get_collection("shared").count() == 2  # untouched by the other's delete


def test_renaming_is_unique_within_the_database_only(client: ClientAPI, admin: AdminClient) -> None:
    admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    client.create_collection("taken")
    client.set_tenant("acme", "docs")
    moving = client.create_collection("moving")
    moving.modify(name="taken")  # "taken" exists, but in another database
    assert client.get_collection("taken").id == moving.id
    client.create_collection("other")
    with pytest.raises(UniqueConstraintError, match="Collection other already exists"):
        moving.modify(name="other")


def test_set_tenant_and_set_database_check_existence(client: ClientAPI, admin: AdminClient) -> None:
    admin.create_tenant("acme")
    with pytest.raises(ValueError, match="Could not connect to database default_database") as e:
        client.set_tenant("acme")  # a tenant has no database until one is created
    assert e.type is ValueError
    admin.create_database("default_database", tenant="acme")
    client.set_tenant("acme")
    with pytest.raises(ValueError, match="Could not connect to database docs for tenant acme"):
        client.set_database("docs")
    admin.create_database("docs", tenant="acme")
    client.set_database("docs")
    with pytest.raises(ValueError, match="Could not connect to tenant nobody. Are you sure"):
        client.set_tenant("nobody")
    assert (client.tenant, client.database) == ("acme", "docs")


def test_factories_take_an_existing_tenant_and_database(
    client: ClientAPI, admin: AdminClient, transport: str, request: pytest.FixtureRequest
) -> None:
    admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    if transport == "embedded":
        settings = client.get_settings()
        scoped = chroma_grpc.EphemeralClient(settings, tenant="acme", database="docs")
        with pytest.raises(ValueError, match="Could not connect to tenant nobody") as caught:
            chroma_grpc.EphemeralClient(settings, tenant="nobody")
    else:
        from .support import remote_host_port

        host, port = remote_host_port(transport, request)
        scoped = chroma_grpc.HttpClient(host, port, tenant="acme", database="docs")
        with pytest.raises(ValueError, match="Could not connect to tenant nobody") as caught:
            chroma_grpc.HttpClient(host, port, tenant="nobody")
    assert caught.type is ValueError
    scoped.create_collection("inside")
    assert [c.name for c in scoped.list_collections()] == ["inside"]
    assert client.list_collections() == []


def test_reset_clears_tenants_and_databases_but_the_defaults(
    client: ClientAPI, admin: AdminClient
) -> None:
    admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    client.set_tenant("acme", "docs")
    client.create_collection("inside")
    assert client.reset() is True
    with pytest.raises(ValueError, match="Tenant acme not found"):
        admin.get_tenant("acme")
    client.set_tenant("default_tenant", "default_database")
    assert client.count_collections() == 0
    admin.create_tenant("acme")  # the name is free again
