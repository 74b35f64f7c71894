"""Chroma's argument rules and their messages, each defined once for every hop that checks them.

chromadb keeps its validators in one module (``chromadb/api/types.py``) that its client and its
server both import; this is that module (the ``where`` grammar lives beside its SQL compiler in
:mod:`chroma_grpc.store.filters`). Three hops use it, each once per call:

* the client API (``chroma_grpc.client``) checks a call's arguments before it embeds anything
  or calls a store, so a mistake fails without a round trip and without running a model;
* :class:`~chroma_grpc.store.Store` checks every call it serves: gRPC callers in any language
  reach it without the Python client;
* the remote proxy (``chroma_grpc.client.proxy.StoreProxy``) checks only what the wire cannot
  carry (a non-str id, a ragged or 3-D vector array, an int beyond 64 bits, ...) and leaves the
  rest to the server's store, whose error comes back with the same class and message.

For that last point every StoreAPI call's checks come in two steps, run in this order by the
Store: ``check_*_shape`` (types and sizes a request message can carry) and then the value
rules (duplicates, empty or non-finite values, ranges). The proxy runs the same shape checks
before it encodes, so for any input, faulty in one place or in several, both transports report
the same first fault. A value rule must therefore only look at what survives encoding exactly.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from chroma_grpc.store.errors import (
    BatchSizeExceededError,
    CollectionNotFoundError,
    DatabaseNotFoundError,
    DuplicateIDError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidCollectionException,
    InvalidDimensionException,
    ResourceExhaustedError,
    TenantNotFoundError,
    UniqueConstraintError,
)
from chroma_grpc.store.filters import (
    INT64_MAX,
    INT64_MIN,
    check_where_document_shape,
    check_where_document_values,
    check_where_shape,
    check_where_values,
    value_kind,
)
from chroma_grpc.store.types import (
    MetadataValue,
    RecordBatch,
    StoreLimits,
    Vectors,
    Where,
    WhereDocument,
)

__all__ = [
    "CHANGE_SPACE_MESSAGE",
    "DELETE_NO_CRITERIA_MESSAGE",
    "HNSW_PARAMETERS",
    "NAME_OR_ID_MESSAGE",
    "NO_EMBEDDER_MESSAGE",
    "RESERVED_DOCUMENT_KEY",
    "RESET_NOT_ALLOWED_MESSAGE",
    "SERVER_UNREACHABLE_MESSAGE",
    "batch_size_exceeded",
    "check_batch_shape",
    "check_batch_values",
    "check_collection_id",
    "check_collection_metadata_values",
    "check_collection_name_shape",
    "check_embeddings_shape",
    "check_embeddings_values",
    "check_lookup_name_shape",
    "check_metadata_shape",
    "check_metadata_values",
    "check_query_inputs_shape",
    "check_query_texts_values",
    "check_read_shape",
    "check_read_values",
    "check_scope_name_shape",
    "check_scope_shape",
    "collection_not_found_message",
    "dimension_mismatch",
    "database_exists_message",
    "database_not_found_message",
    "documents_to_embed",
    "length_mismatch",
    "scope_database_error",
    "scope_tenant_error",
    "tenant_exists_message",
    "tenant_not_found_message",
    "unique_collection_error",
    "validate_batch",
    "validate_collection_name",
    "validate_ids",
    "validate_include",
    "validate_limit_offset",
    "validate_metadata",
    "validate_n_results",
    "validate_database_name",
    "validate_tenant_name",
]

# -- messages used in more than one place ---------------------------------------------------

RESERVED_DOCUMENT_KEY = "chroma:document"
NAME_OR_ID_MESSAGE = "Name or id must be specified, but not both"
CHANGE_SPACE_MESSAGE = (
    "Changing the distance function of a collection once it is created is not supported currently."
)
RESET_NOT_ALLOWED_MESSAGE = (
    "Resetting is not allowed by this configuration (to enable it, set `allow_reset` to `True` "
    "in your Settings() or include `ALLOW_RESET=TRUE` in your environment variables)"
)
DELETE_NO_CRITERIA_MESSAGE = """
    You must provide either ids, where, or where_document to delete. If you want to delete all data in a collection you can delete the collection itself using the delete_collection method. Or alternatively, you can get() all the relevant ids and then delete them.
"""  # noqa: E501  (chromadb's text, leading newline and indentation included)
SERVER_UNREACHABLE_MESSAGE = "Could not connect to a Chroma server. Are you sure it is running?"


def collection_not_found_message(name_or_id: object) -> str:
    """chromadb's text for a collection that does not exist (looked up by name or by id)."""
    return f"Collection {name_or_id} does not exist."


def unique_collection_error(name: str) -> UniqueConstraintError:
    """A collection of this name exists in the database already (chromadb's text)."""
    return UniqueConstraintError(f"Collection {name} already exists", field="name")


def dimension_mismatch(dimension: int, expected: int, *, field: str) -> InvalidDimensionException:
    """Vectors of another dimension than the collection's (fixed by its first embedding)."""
    return InvalidDimensionException(
        f"Embedding dimension {dimension} does not match collection dimensionality {expected}",
        field=field,
    )


def length_mismatch(column: str, count: int, ids: int) -> InvalidArgumentError:
    """A column whose length differs from the number of ids."""
    return InvalidArgumentError(
        f"Number of {column} {count} must match number of ids {ids}", field=column
    )


def batch_size_exceeded(
    count: int, max_batch_size: int, *, field: str = "ids"
) -> BatchSizeExceededError:
    """More records in one write than the store takes, and how to stay under the limit."""
    return BatchSizeExceededError(
        f"Batch size {count} exceeds maximum batch size {max_batch_size}; split the records "
        f"into batches of at most {max_batch_size} (client.max_batch_size; the limit is the "
        "server's --max-batch-size)",
        field=field,
    )


# -- tenants and databases ------------------------------------------------------------------


def tenant_not_found_message(name: object) -> str:
    """chromadb's text when an admin call names a tenant that does not exist."""
    return f"Tenant {name} not found"


def database_not_found_message(name: object, tenant: object) -> str:
    return f"Database {name} not found for tenant {tenant}"


def tenant_exists_message(name: str) -> str:
    return f"Tenant {name} already exists"


def database_exists_message(name: str, tenant: str) -> str:
    return f"Database {name} already exists for tenant {tenant}"


def scope_tenant_error(tenant: object) -> TenantNotFoundError:
    """chromadb's error when a client (or a collection call) addresses a missing tenant."""
    return TenantNotFoundError(
        f"Could not connect to tenant {tenant}. Are you sure it exists?", field="tenant"
    )


def scope_database_error(database: object, tenant: object) -> DatabaseNotFoundError:
    """chromadb's error when a client (or a collection call) addresses a missing database."""
    return DatabaseNotFoundError(
        f"Could not connect to database {database} for tenant {tenant}. Are you sure it exists?",
        field="database",
    )


def check_scope_shape(tenant: object, database: object) -> tuple[str, str]:
    """The (tenant, database) of a collection call: two str, else no such tenant / database
    (what chromadb answers for any value it cannot find)."""
    if not isinstance(tenant, str):
        raise scope_tenant_error(tenant)
    if not isinstance(database, str):
        raise scope_database_error(database, tenant)
    return tenant, database


def check_scope_name_shape(name: object, what: str) -> str:
    """A tenant's or database's name (``what``) as a call passes it: a str."""
    if not isinstance(name, str):
        raise InvalidArgumentTypeError(
            f"Expected {what} name to be a str, got {name} which is a {type(name)}", field="name"
        )
    return name


def _validate_scope_name(name: object, what: str) -> str:
    """chromadb's rule for a new tenant's or database's name: a str of 3 characters or more."""
    check_scope_name_shape(name, what)
    assert isinstance(name, str)
    if len(name) < 3:
        raise InvalidArgumentError(
            f"{what.capitalize()} name must be at least 3 characters long", field="name"
        )
    return name


def validate_tenant_name(name: object) -> str:
    return _validate_scope_name(name, "tenant")


def validate_database_name(name: object) -> str:
    return _validate_scope_name(name, "database")


# -- collections ----------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
_IPV4_RE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")


def _collection_name_message(name: object) -> str:
    return (
        "Expected collection name that (1) contains 3-63 characters, (2) starts and ends "
        "with an alphanumeric character, (3) otherwise contains only alphanumeric "
        "characters, underscores or hyphens (-), (4) contains no two consecutive periods "
        f"(..) and (5) is not a valid IPv4 address, got {name}"
    )


def validate_collection_name(name: object) -> str:
    """Chroma's ``check_index_name``; ``$`` matching before a final newline is kept on purpose."""
    check_collection_name_shape(name)
    assert isinstance(name, str)
    if not 3 <= len(name) <= 63 or not _NAME_RE.match(name) or ".." in name or _IPV4_RE.match(name):
        raise InvalidArgumentError(_collection_name_message(name), field="name")
    return name


def check_collection_name_shape(name: object) -> None:
    """A name the wire can carry: a str. Anything else is the name rule's message as a
    TypeError, the class chromadb 0.4.24 raises there (its ``len(name)`` fails)."""
    if not isinstance(name, str):
        raise InvalidArgumentTypeError(_collection_name_message(name), field="name")


def check_lookup_name_shape(name: object) -> None:
    """A name to look up: anything but a str (None included) names no collection."""
    if not isinstance(name, str):
        raise CollectionNotFoundError(collection_not_found_message(name), field="name")


def check_collection_id(collection_id: object) -> str:
    """A record call's collection id: a UUID string, else no collection has it.

    The store checks this first, before any other argument, and so does the proxy (the
    server refuses a malformed id outright), which keeps both transports' first error the same.
    """
    if isinstance(collection_id, str):
        try:
            uuid.UUID(collection_id)
        except ValueError:
            pass
        else:
            return collection_id
    raise InvalidCollectionException(
        collection_not_found_message(collection_id), field="collection_id"
    )


# (low, high, what) per HNSW parameter. Ranges bound what a graph build can allocate or spend:
# FAISS keeps 2*M links per vector, and ef sizes the candidate lists of every insert and search.
HNSW_PARAMETERS: dict[str, tuple[float, float, str]] = {
    "hnsw:M": (2, 128, "int"),
    "hnsw:construction_ef": (1, 10_000, "int"),
    "hnsw:search_ef": (1, 10_000, "int"),
    "hnsw:num_threads": (1, 1_024, "int"),
    "hnsw:batch_size": (3, 2**31 - 1, "int"),
    "hnsw:sync_threshold": (3, 2**31 - 1, "int"),
    "hnsw:resize_factor": (1.0, 10.0, "number"),
}
HNSW_SPACES = ("l2", "ip", "cosine")


def _check_hnsw_parameter(key: str, value: MetadataValue) -> None:
    if key == "hnsw:space":
        if value not in HNSW_SPACES:
            raise _invalid_hnsw(key, value, f"one of {', '.join(HNSW_SPACES)}")
        return
    if key not in HNSW_PARAMETERS:
        raise InvalidArgumentError(f"Unknown HNSW parameter: {key}", field="metadata")
    low, high, what = HNSW_PARAMETERS[key]
    kind = value_kind(value)
    expected = f"an int from {low} to {high}" if what == "int" else f"a number from {low} to {high}"
    if kind not in (("i",) if what == "int" else ("i", "f")):
        raise _invalid_hnsw(key, value, expected)
    assert isinstance(value, (int, float))  # kind says so
    if not low <= value <= high:  # NaN fails both comparisons
        raise _invalid_hnsw(key, value, expected)


def _invalid_hnsw(key: str, value: object, expected: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Invalid value for HNSW parameter: {key} = {value}; expected {expected}", field="metadata"
    )


def check_collection_metadata_values(metadata: Mapping[str, Any]) -> None:
    """Record-metadata value rules plus the ``hnsw:*`` keys Chroma understands, each in range."""
    check_metadata_values(metadata)
    for key, value in metadata.items():
        if key.startswith("hnsw:"):
            _check_hnsw_parameter(key, value)


# -- metadata -------------------------------------------------------------------------------


def check_metadata_shape(metadata: object, *, field: str = "metadata") -> Mapping[str, Any]:
    """A mapping of str keys to values a message can carry: str, int (64-bit), float, bool,
    or None (the wire's null, meaningful in updates only)."""
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(
            f"Expected metadata to be a dict or None, got {type(metadata).__name__} as metadata",
            field=field,
        )
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidArgumentTypeError(
                f"Expected metadata key to be a str, got {key} which is a {type(key)}", field=field
            )
        if value is not None and value_kind(value) is None:
            raise _bad_metadata_value(value, field)
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise InvalidArgumentError(
                f"Expected metadata int value to fit in 64 bits, got {value}", field=field
            )
    return metadata


def check_metadata_values(
    metadata: Mapping[str, Any], *, field: str = "metadata", allow_none_values: bool = False
) -> None:
    """Non-empty, no reserved key, no NaN; None values ("delete this key") only in updates."""
    if len(metadata) == 0:
        raise InvalidArgumentError("Expected metadata to be a non-empty dict, got {}", field=field)
    for key, value in metadata.items():
        if key == RESERVED_DOCUMENT_KEY:
            raise InvalidArgumentError(
                f"Expected metadata to not contain the reserved key {RESERVED_DOCUMENT_KEY}",
                field=field,
            )
        if value is None and not allow_none_values:
            raise _bad_metadata_value(value, field)
        if isinstance(value, float) and math.isnan(value):
            raise InvalidArgumentError(
                f"Expected metadata float value to be a number, got {value}", field=field
            )


def _bad_metadata_value(value: object, field: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Expected metadata value to be a str, int, float or bool, got {value} which is a "
        f"{type(value)}",
        field=field,
    )


def validate_metadata(
    metadata: object, *, field: str = "metadata", allow_none_values: bool = False
) -> dict[str, MetadataValue]:
    """One record's or collection's metadata: shape, then values; returns a plain dict."""
    checked = check_metadata_shape(metadata, field=field)
    check_metadata_values(checked, field=field, allow_none_values=allow_none_values)
    return dict(checked)


# -- ids ------------------------------------------------------------------------------------


def _check_ids_shape(ids: object) -> list[str]:
    if not isinstance(ids, list):
        raise InvalidArgumentError(f"Expected IDs to be a list, got {ids}", field="ids")
    for id_ in ids:
        if not isinstance(id_, str):
            raise InvalidArgumentError(f"Expected ID to be a str, got {id_}", field="ids")
    return ids


def _check_ids_values(ids: list[str]) -> None:
    if not ids:
        raise InvalidArgumentError("Expected IDs to be a non-empty list, got []", field="ids")
    if "" in ids:
        raise InvalidArgumentError("Expected ID to be a non-empty str, got ''", field="ids")
    unique = set(ids)
    if len(unique) == len(ids):
        return
    seen: set[str] = set()
    duplicates: dict[str, None] = {}  # insertion-ordered set
    for id_ in ids:
        if id_ in seen:
            duplicates[id_] = None
        seen.add(id_)
    names = list(duplicates)
    if len(names) < 10:
        message = f"Expected IDs to be unique, found duplicates of: {', '.join(names)}"
    else:
        examples = names[:11]  # chromadb's examples stop at its 11th duplicate
        message = (
            f"Expected IDs to be unique, found {len(names)} duplicated IDs: "
            f"{', '.join(examples[:5])}, ..., {', '.join(examples[-5:])}"
        )
    raise DuplicateIDError(message, field="ids")


def validate_ids(ids: object) -> list[str]:
    """A non-empty list of non-empty, unique str (chromadb's rule, plus non-empty strings)."""
    checked = _check_ids_shape(ids)
    _check_ids_values(checked)
    return checked


def _check_lookup_shape(ids: object) -> list[str] | None:
    """ids for get/delete: None or [] means no id filter; duplicates are harmless."""
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InvalidArgumentError(f"Expected IDs to be a list of str, got {ids}", field="ids")
    if not all(isinstance(i, str) for i in ids):
        raise InvalidArgumentError(f"Expected IDs to be a list of str, got {ids}", field="ids")
    return list(ids) or None


# -- embeddings -----------------------------------------------------------------------------


def check_embeddings_shape(embeddings: object, *, field: str = "embeddings") -> Vectors:
    """A 2-D numeric array with at least one component per vector, as C-contiguous float32."""
    try:
        array = np.asarray(embeddings)
    except ValueError:  # ragged rows
        raise InvalidArgumentError(
            f"Expected each embedding in the {field} to have the same dimension", field=field
        ) from None
    if array.ndim != 2:
        raise InvalidArgumentError(
            f"Expected {field} to be a 2-D array of shape (count, dimension), got shape "
            f"{array.shape}",
            field=field,
        )
    if array.dtype.kind not in "iuf":
        raise InvalidArgumentError(
            f"Expected each value in the embedding to be a int or float, got {array.dtype}",
            field=field,
        )
    if array.shape[1] == 0 and array.shape[0] > 0:
        raise InvalidArgumentError(
            f"Expected each embedding in the {field} to be a non-empty list, got empty "
            "embedding at pos 0",
            field=field,
        )
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf: the value rules say so
        return np.ascontiguousarray(array, dtype=np.float32)


def check_embeddings_values(vectors: Vectors, limits: StoreLimits, *, field: str) -> None:
    """At least one vector, no larger than the dimension limit, every value finite."""
    if vectors.shape[0] == 0:
        raise InvalidArgumentError(
            f"Expected {field} to be a list with at least one item, got 0 embeddings", field=field
        )
    if vectors.shape[1] > limits.max_dimension:
        raise InvalidArgumentError(
            f"Embedding dimension {vectors.shape[1]} exceeds maximum dimension "
            f"{limits.max_dimension}; use smaller vectors (the limit is the server's "
            "--max-dimension)",
            field=field,
        )
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        pos = int(np.flatnonzero(~finite)[0])
        raise InvalidArgumentError(
            f"Expected {field} to contain only finite values, got NaN or infinity at pos {pos}",
            field=field,
        )


# -- write batches --------------------------------------------------------------------------


def check_batch_shape(batch: RecordBatch, limits: StoreLimits) -> Vectors | None:
    """What a write stream can carry: column types, one entry per id in every column, and no
    more records than the store takes (the server stops reading a stream past that limit).
    Returns the embeddings as float32, or None."""
    ids = _check_ids_shape(batch.ids)
    if len(ids) > limits.max_batch_size:
        raise batch_size_exceeded(len(ids), limits.max_batch_size)
    vectors = None
    if batch.embeddings is not None:
        vectors = check_embeddings_shape(batch.embeddings)
    if batch.metadatas is not None:
        _check_list(batch.metadatas, "metadatas")
        for metadata in batch.metadatas:
            if metadata is not None:
                check_metadata_shape(metadata, field="metadatas")
    for name in ("documents", "uris"):
        column = getattr(batch, name)
        if column is not None:
            _check_list(column, name)
            for value in column:
                if value is not None and not isinstance(value, str):
                    raise InvalidArgumentError(
                        f"Expected each of {name} to be a str or None, got {value}", field=name
                    )
    columns: dict[str, Collection[Any] | None] = {
        "embeddings": vectors,
        "metadatas": batch.metadatas,
        "documents": batch.documents,
        "uris": batch.uris,
    }
    for name, column in columns.items():
        if column is not None and len(column) != len(ids):
            raise length_mismatch(name, len(column), len(ids))
    return vectors


def check_batch_values(
    batch: RecordBatch, vectors: Vectors | None, limits: StoreLimits, *, is_update: bool
) -> None:
    """The value rules of a batch whose shape passed: ids, vectors, metadata values."""
    _check_ids_values(batch.ids)
    if vectors is not None:
        check_embeddings_values(vectors, limits, field="embeddings")
    for metadata in batch.metadatas or ():
        if metadata is not None:
            check_metadata_values(metadata, field="metadatas", allow_none_values=is_update)


def validate_batch(batch: RecordBatch, limits: StoreLimits, *, is_update: bool) -> Vectors | None:
    """Every rule of a write batch; returns its embeddings as float32 (or None)."""
    vectors = check_batch_shape(batch, limits)
    check_batch_values(batch, vectors, limits, is_update=is_update)
    return vectors


def _check_list(column: object, name: str) -> None:
    if not isinstance(column, list):
        raise InvalidArgumentError(f"Expected {name} to be a list, got {column}", field=name)


# -- reads ----------------------------------------------------------------------------------

_INCLUDE_ITEMS = ("embeddings", "documents", "metadatas", "uris", "data")


def _check_include_shape(include: object) -> Collection[str]:
    if isinstance(include, (str, bytes)) or not isinstance(include, Collection):
        raise InvalidArgumentError(f"Expected include to be a list, got {include}", field="include")
    for item in include:
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"Expected include item to be a str, got {item}", field="include"
            )
        if item not in _INCLUDE_ITEMS and item != "distances":
            raise _bad_include_item(item, allow_distances=True)
    return include


def _bad_include_item(item: str, *, allow_distances: bool) -> InvalidArgumentError:
    allowed = (*_INCLUDE_ITEMS, "distances") if allow_distances else _INCLUDE_ITEMS
    return InvalidArgumentError(
        f"Expected include item to be one of {', '.join(allowed)}, got {item}", field="include"
    )


def validate_include(include: object, *, allow_distances: bool) -> frozenset[str]:
    """Chroma's ``validate_include``: a list of known fields, ``distances`` for queries only;
    ``data`` is accepted (the client API loads it from the uris)."""
    checked = _check_include_shape(include)
    _check_include_values(checked, allow_distances=allow_distances)
    return frozenset(checked)


def _check_include_values(include: Collection[str], *, allow_distances: bool) -> None:
    if not allow_distances and "distances" in include:
        raise _bad_include_item("distances", allow_distances=False)


def _check_limit_offset_shape(limit: object, offset: object) -> None:
    for name, value in (("limit", limit), ("offset", offset)):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgumentError(f"Expected {name} to be an int, got {value}", field=name)
        if value > INT64_MAX:
            raise InvalidArgumentError(
                f"{name.capitalize()} {value} is too large; it must be at most {INT64_MAX} "
                "(2**63 - 1)",
                field=name,
            )


def validate_limit_offset(limit: object, offset: object) -> tuple[int, int]:
    """Returns SQL ``(limit, offset)``; limit None or 0 means no limit (-1 in SQLite)."""
    _check_limit_offset_shape(limit, offset)
    return _check_limit_offset_values(limit, offset)


def _check_limit_offset_values(limit: object, offset: object) -> tuple[int, int]:
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, int) and value < 0:
            raise InvalidArgumentError(f"{name.capitalize()} cannot be negative", field=name)
    sql_limit = limit if isinstance(limit, int) and limit > 0 else -1
    sql_offset = offset if isinstance(offset, int) else 0
    return sql_limit, sql_offset


def check_read_shape(
    *,
    include: object,
    ids: object = None,
    where: object = None,
    where_document: object = None,
    limit: object = None,
    offset: object = None,
) -> list[str] | None:
    """The shape of a get/delete/query's common arguments, in the store's order; returns the
    lookup ids (None for no id filter). A delete has no include: it passes ``frozenset()``."""
    _check_include_shape(include)
    _check_limit_offset_shape(limit, offset)
    lookup = _check_lookup_shape(ids)
    if where:
        check_where_shape(where)
    if where_document:
        check_where_document_shape(where_document)
    return lookup


def check_read_values(
    *,
    include: Collection[str],
    allow_distances: bool,
    where: Where | None = None,
    where_document: WhereDocument | None = None,
    limit: object = None,
    offset: object = None,
) -> tuple[frozenset[str], int, int]:
    """The value rules of arguments whose shape :func:`check_read_shape` passed; returns the
    include set and the SQL ``(limit, offset)``."""
    _check_include_values(include, allow_distances=allow_distances)
    sql_limit, sql_offset = _check_limit_offset_values(limit, offset)
    if where:
        check_where_values(where)
    if where_document:
        check_where_document_values(where_document)
    return frozenset(include), sql_limit, sql_offset


# -- queries --------------------------------------------------------------------------------


def validate_n_results(n_results: object, limits: StoreLimits | None = None) -> int:
    """A positive int (bool passes, as in chromadb), at most ``limits.max_n_results``."""
    if not isinstance(n_results, int):
        raise InvalidArgumentError(
            f"Expected requested number of results to be a int, got {n_results}",
            field="n_results",
        )
    if n_results <= 0:
        raise InvalidArgumentTypeError(
            f"Number of requested results {n_results}, cannot be negative, or zero.",
            field="n_results",
        )
    if limits is not None and n_results > limits.max_n_results:
        raise ResourceExhaustedError(
            f"Number of requested results {n_results} exceeds the maximum of "
            f"{limits.max_n_results}; ask for at most {limits.max_n_results} (the limit is the "
            "server's --max-n-results)",
            field="n_results",
        )
    return int(n_results)


def check_query_inputs_shape(
    query_embeddings: object, query_texts: object
) -> tuple[Vectors | None, list[str] | None]:
    """Exactly one of query vectors (2-D numeric) or query texts (a list of str)."""
    if (query_embeddings is None) == (query_texts is None):
        raise InvalidArgumentError(
            "query_embeddings: give exactly one of query_embeddings or query_texts",
            field="query_embeddings",
        )
    if query_texts is not None:
        if isinstance(query_texts, (str, bytes)) or not isinstance(query_texts, Sequence):
            raise InvalidArgumentError(
                f"Expected query_texts to be a list of str, got {query_texts}", field="query_texts"
            )
        if not all(isinstance(text, str) for text in query_texts):
            raise InvalidArgumentError(
                f"Expected query_texts to be a list of str, got {query_texts}", field="query_texts"
            )
        return None, list(query_texts)
    return check_embeddings_shape(query_embeddings, field="query_embeddings"), None


def check_query_texts_values(texts: Sequence[str]) -> None:
    if not texts:
        raise InvalidArgumentError(
            "query_texts: expected a non-empty list of str", field="query_texts"
        )


# -- documents the server embeds ------------------------------------------------------------

NO_EMBEDDER_MESSAGE = (
    "{field}: sent without embeddings, and this server does not embed text (server-side "
    "embedding is off); compute embeddings on the client and send them"
)


def documents_to_embed(batch: RecordBatch, *, can_embed: bool, is_update: bool) -> list[str] | None:
    """The texts a write needs embedded, or None when it needs none (or cannot have any).

    Add/upsert need a vector per record: given, or computed from a document when this store
    embeds text. Update re-embeds exactly when documents come without embeddings (Chroma's
    rule); a store that cannot embed then just replaces the documents, since the client
    embedded them already. Run after :func:`validate_batch`, before any model runs.
    """
    if batch.embeddings is not None:
        return None
    if batch.documents is None or all(document is None for document in batch.documents):
        # a column of Nones says no more than no column (and the wire cannot tell them apart)
        if is_update:
            return None
        raise InvalidArgumentError(
            "You must provide embeddings"
            + (" or documents to embed" if can_embed else ": the store does not compute them"),
            field="embeddings",
        )
    if not can_embed:
        if is_update:
            return None
        raise FailedPreconditionError(
            NO_EMBEDDER_MESSAGE.format(field="embeddings"), field="embeddings"
        )
    missing = [batch.ids[i] for i, document in enumerate(batch.documents) if document is None]
    if missing:
        raise InvalidArgumentError(
            f"documents: record {missing[0]!r} has no document to embed; send a document for "
            "every record or send embeddings",
            field="documents",
        )
    return [document for document in batch.documents if document is not None]
