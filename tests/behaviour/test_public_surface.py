"""The public surface: ``chroma_grpc.__all__`` is sorted, importable, and chromadb-shaped."""

from __future__ import annotations

import inspect

import chroma_grpc
from chroma_grpc import errors


def test_all_is_sorted_unique_and_importable() -> None:
    assert chroma_grpc.__all__ == sorted(set(chroma_grpc.__all__))
    for name in chroma_grpc.__all__:
        assert hasattr(chroma_grpc, name), name
    assert chroma_grpc.__version__ == "0.1.0"


def test_errors_all_is_sorted_and_importable() -> None:
    assert errors.__all__ == sorted(set(errors.__all__))
    for name in errors.__all__:
        assert hasattr(errors, name), name


def test_chromadb_error_names_and_bases() -> None:
    for name in [
        "ChromaError",
        "InvalidDimensionException",
        "InvalidCollectionException",
        "IDAlreadyExistsError",
        "DuplicateIDError",
        "InvalidUUIDError",
        "AuthorizationError",
        "UniqueConstraintError",
        "NotFoundError",
    ]:
        assert issubclass(getattr(errors, name), errors.ChromaError), name
    for not_value_errors in [
        errors.DuplicateIDError,
        errors.InvalidDimensionException,
        errors.UniqueConstraintError,
    ]:
        assert not issubclass(not_value_errors, ValueError)
    assert errors.NotFoundError("x").name() == "CollectionNotFoundError"


def test_factory_signatures_match_chromadb_0_4_24() -> None:
    def parameters(function: object) -> list[tuple[str, object]]:
        signature = inspect.signature(function)  # type: ignore[arg-type]
        return [(p.name, p.default) for p in signature.parameters.values()]

    tenant = [("tenant", "default_tenant"), ("database", "default_database")]
    assert parameters(chroma_grpc.EphemeralClient) == [("settings", None), *tenant]
    assert parameters(chroma_grpc.PersistentClient) == [
        ("path", "./chroma"),
        ("settings", None),
        *tenant,
    ]
    assert parameters(chroma_grpc.HttpClient) == [
        ("host", "localhost"),
        ("port", 8000),
        ("ssl", False),
        ("headers", None),
        ("settings", None),
        *tenant,
    ]
    # chromadb >= 0.5 names and shapes its asyncio client so; AdminClient as in 0.4.24.
    assert inspect.iscoroutinefunction(chroma_grpc.AsyncHttpClient)
    assert parameters(chroma_grpc.AsyncHttpClient) == parameters(chroma_grpc.HttpClient)
    assert parameters(chroma_grpc.AdminClient) == [("settings", None)]
    for sync, asynchronous in (
        (chroma_grpc.ClientAPI, chroma_grpc.AsyncClientAPI),
        (chroma_grpc.Collection, chroma_grpc.AsyncCollection),
    ):
        for name in (
            "create_collection",
            "get_collection",
            "list_collections",
            "delete_collection",
            "add",
            "get",
            "query",
            "update",
            "upsert",
            "delete",
            "peek",
            "modify",
        ):
            if hasattr(sync, name):
                assert inspect.iscoroutinefunction(getattr(asynchronous, name)), name
                assert parameters(getattr(sync, name)) == parameters(getattr(asynchronous, name))
    names = [n for n, _ in parameters(chroma_grpc.ClientAPI.create_collection)]
    assert names == [
        "self",
        "name",
        "metadata",
        "embedding_function",
        "data_loader",
        "get_or_create",
    ]
    query = [n for n, _ in parameters(chroma_grpc.Collection.query)]
    assert query == [
        "self",
        "query_embeddings",
        "query_texts",
        "query_images",
        "query_uris",
        "n_results",
        "where",
        "where_document",
        "include",
    ]
