"""``AdminClient``: chromadb 0.4.24's tenant and database administration, over any ``StoreAPI``.

It opens the store its settings name exactly as :func:`~chroma_grpc.client.factories.Client`
does (so an embedded ``AdminClient`` shares its process's store with the clients of the same
settings, as in chromadb), and clients then work in what it creates::

    admin = AdminClient(settings)
    admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    client = Client(settings, tenant="acme", database="docs")
"""

from __future__ import annotations

from uuid import UUID

from chroma_grpc.client._exceptions import raises_chromadb_exceptions
from chroma_grpc.client.factories import get_settings, open_store
from chroma_grpc.client.types import Database, Tenant
from chroma_grpc.config import Settings
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.types import DEFAULT_TENANT

__all__ = ["AdminClient"]


@raises_chromadb_exceptions
class AdminClient:
    """Creates and looks up tenants and their databases.

    Args:
        settings: which store, as for ``Client`` (default: the module-level settings).

    Raises:
        ValueError: a legacy configuration, or no server answering.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings if settings is not None else get_settings()
        self._store: StoreAPI = open_store(self._settings)

    @classmethod
    def from_store(cls, store: StoreAPI, settings: Settings) -> AdminClient:
        """An admin client on an open store (e.g. a client's, to manage the tenants it uses)."""
        admin = cls.__new__(cls)
        admin._settings, admin._store = settings, store
        return admin

    def create_tenant(self, name: str) -> None:
        """Create a tenant; its databases are created with :meth:`create_database`.

        Raises:
            ValueError: a name shorter than 3 characters.
            UniqueConstraintError: the tenant exists.
        """
        self._store.create_tenant(name)

    def get_tenant(self, name: str) -> Tenant:
        """The tenant.

        Raises:
            ValueError: no such tenant ("Tenant <name> not found").
        """
        return Tenant(name=self._store.get_tenant(name).name)

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        """Create a database in an existing tenant.

        Raises:
            ValueError: a name shorter than 3 characters, or no such tenant.
            UniqueConstraintError: the tenant has a database of that name.
        """
        self._store.create_database(name, tenant=tenant)

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> Database:
        """The database of the tenant.

        Raises:
            ValueError: no such tenant or database.
        """
        info = self._store.get_database(name, tenant=tenant)
        return Database(id=UUID(info.id), name=info.name, tenant=info.tenant)

    def get_settings(self) -> Settings:
        """The settings this admin client was created with."""
        return self._settings
