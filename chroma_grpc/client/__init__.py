"""Chroma's Python client API (factories, ``ClientAPI``, ``Collection``) over a ``StoreAPI``."""

from chroma_grpc.client.admin import AdminClient
from chroma_grpc.client.api import ClientAPI
from chroma_grpc.client.async_api import AsyncClientAPI, AsyncCollection, AsyncHttpClient
from chroma_grpc.client.collection import Collection
from chroma_grpc.client.factories import (
    Client,
    EphemeralClient,
    HttpClient,
    PersistentClient,
    configure,
    get_settings,
)

__all__ = [
    "AdminClient",
    "AsyncClientAPI",
    "AsyncCollection",
    "AsyncHttpClient",
    "Client",
    "ClientAPI",
    "Collection",
    "EphemeralClient",
    "HttpClient",
    "PersistentClient",
    "configure",
    "get_settings",
]
