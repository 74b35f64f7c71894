"""TenantService: tenants and their databases (Chroma's AdminClient). Decode, one store call,
encode; the store judges names and existence."""

from __future__ import annotations

import grpc

from chroma_grpc.server._addressing import check_scope
from chroma_grpc.server.errors import unary_errors
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.v1 import tenant_service_pb2 as pb
from chroma_grpc.v1 import tenant_service_pb2_grpc
from chroma_grpc.wire.collections import to_proto_database, to_proto_tenant


class TenantServicer(tenant_service_pb2_grpc.TenantServiceServicer):
    def __init__(self, store: StoreAPI) -> None:
        self._store = store

    @unary_errors
    def CreateTenant(
        self, request: pb.CreateTenantRequest, context: grpc.ServicerContext
    ) -> pb.CreateTenantResponse:
        return pb.CreateTenantResponse(
            tenant=to_proto_tenant(self._store.create_tenant(request.name))
        )

    @unary_errors
    def GetTenant(
        self, request: pb.GetTenantRequest, context: grpc.ServicerContext
    ) -> pb.GetTenantResponse:
        return pb.GetTenantResponse(tenant=to_proto_tenant(self._store.get_tenant(request.name)))

    @unary_errors
    def CreateDatabase(
        self, request: pb.CreateDatabaseRequest, context: grpc.ServicerContext
    ) -> pb.CreateDatabaseResponse:
        tenant, _ = check_scope(request.tenant, "")
        database = self._store.create_database(request.name, tenant=tenant)
        return pb.CreateDatabaseResponse(database=to_proto_database(database))

    @unary_errors
    def GetDatabase(
        self, request: pb.GetDatabaseRequest, context: grpc.ServicerContext
    ) -> pb.GetDatabaseResponse:
        tenant, _ = check_scope(request.tenant, "")
        database = self._store.get_database(request.name, tenant=tenant)
        return pb.GetDatabaseResponse(database=to_proto_database(database))
