"""Argument checks the store runs on every call, with chromadb 0.4.24's messages.

The store validates even though the Python client already did: gRPC callers in other languages
reach the store directly. Every check runs before any write, so a rejected call never changes
stored data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from chroma_grpc.store.errors import (
    BatchSizeExceededError,
    DuplicateIDError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    ResourceExhaustedError,
)
from chroma_grpc.store.filters import value_kind
from chroma_grpc.store.types import (
    MetadataValue,
    RecordBatch,
    StoreLimits,
    Vectors,
)

RESERVED_DOCUMENT_KEY = "chroma:document"
HNSW_SPACES = ("l2", "ip", "cosine")
_HNSW_INT_KEYS = (
    "hnsw:M",
    "hnsw:construction_ef",
    "hnsw:search_ef",
    "hnsw:num_threads",
    "hnsw:batch_size",
    "hnsw:sync_threshold",
)
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
_IPV4_RE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
CHANGE_SPACE_MESSAGE = (
    "Changing the distance function of a collection once it is created is not supported currently."
)


def validate_collection_name(name: object) -> str:
    """Chroma's ``check_index_name``; ``$`` matching before a final newline is kept on purpose."""
    message = (
        "Expected collection name that (1) contains 3-63 characters, (2) starts and ends with an "
        "alphanumeric character, (3) otherwise contains only alphanumeric characters, "
        "underscores or hyphens (-), (4) contains no two consecutive periods (..) and (5) is not "
        f"a valid IPv4 address, got {name}"
    )
    if not isinstance(name, str) or not 3 <= len(name) <= 63:
        raise InvalidArgumentError(message, field="name")
    if not _NAME_RE.match(name) or ".." in name or _IPV4_RE.match(name):
        raise InvalidArgumentError(message, field="name")
    return name


def validate_metadata(
    metadata: object, *, field: str = "metadata", allow_none_values: bool = False
) -> dict[str, MetadataValue | None]:
    """A non-empty dict of str keys to str/int/float/bool (None too for update: delete key)."""
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(
            f"Expected metadata to be a dict or None, got {metadata}", field=field
        )
    if len(metadata) == 0:
        raise InvalidArgumentError("Expected metadata to be a non-empty dict, got {}", field=field)
    for key, value in metadata.items():
        if key == RESERVED_DOCUMENT_KEY:
            raise InvalidArgumentError(
                f"Expected metadata to not contain the reserved key {RESERVED_DOCUMENT_KEY}",
                field=field,
            )
        if not isinstance(key, str):
            raise InvalidArgumentTypeError(
                f"Expected metadata key to be a str, got {key} which is a {type(key)}", field=field
            )
        kind = value_kind(value)
        if kind is None and not (allow_none_values and value is None):
            raise InvalidArgumentError(
                "Expected metadata value to be a str, int, float or bool, got "
                f"{value} which is a {type(value)}",
                field=field,
            )
        if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidArgumentError(
                f"Expected metadata int value to fit in 64 bits, got {value}", field=field
            )
        if isinstance(value, float) and math.isnan(value):
            raise InvalidArgumentError(
                f"Expected metadata float value to be a number, got {value}", field=field
            )
    return dict(metadata)


def validate_collection_metadata(metadata: object) -> dict[str, MetadataValue]:
    """Record-metadata rules plus the ``hnsw:*`` keys Chroma understands."""
    checked = validate_metadata(metadata)
    for key, value in checked.items():
        if not key.startswith("hnsw:"):
            continue
        kind = value_kind(value)
        if key == "hnsw:space":
            ok = value in HNSW_SPACES
        elif key in _HNSW_INT_KEYS:
            ok = kind == "i" and isinstance(value, int) and value > 0
        elif key == "hnsw:resize_factor":
            ok = kind in ("i", "f") and isinstance(value, (int, float)) and value > 0
        else:
            raise InvalidArgumentError(f"Unknown HNSW parameter: {key}", field="metadata")
        if not ok:
            raise InvalidArgumentError(
                f"Invalid value for HNSW parameter: {key} = {value}", field="metadata"
            )
    return {k: v for k, v in checked.items() if v is not None}


def batch_size_advice(max_batch_size: int) -> str:
    """How to stay under the batch limit; the same words wherever it is enforced."""
    return (
        f"split the records into batches of at most {max_batch_size} (client.max_batch_size; "
        "the limit is the server's --max-batch-size)"
    )


def validate_ids(ids: object, limits: StoreLimits | None = None) -> list[str]:
    """Non-empty list of non-empty unique strings, no longer than the batch limit."""
    if not isinstance(ids, list):
        raise InvalidArgumentError(f"Expected IDs to be a list, got {ids}", field="ids")
    if not ids:
        raise InvalidArgumentError("Expected IDs to be a non-empty list, got []", field="ids")
    if limits is not None and len(ids) > limits.max_batch_size:
        raise BatchSizeExceededError(
            f"Batch size {len(ids)} exceeds maximum batch size {limits.max_batch_size}; "
            f"{batch_size_advice(limits.max_batch_size)}",
            field="ids",
        )
    for id_ in ids:
        if not isinstance(id_, str):
            raise InvalidArgumentError(f"Expected ID to be a str, got {id_}", field="ids")
        if not id_:
            raise InvalidArgumentError("Expected ID to be a non-empty str, got ''", field="ids")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dups: dict[str, None] = {}
        for id_ in ids:
            if id_ in seen:
                dups[id_] = None
            seen.add(id_)
        names = list(dups)
        if len(names) < 10:
            message = f"Expected IDs to be unique, found duplicates of: {', '.join(names)}"
        else:
            ex = names[:11]
            message = (
                f"Expected IDs to be unique, found {len(names)} duplicated IDs: "
                f"{', '.join(ex[:5])}, ..., {', '.join(ex[-5:])}"
            )
        raise DuplicateIDError(message, field="ids")
    return ids


def validate_lookup_ids(ids: Sequence[str] | None) -> list[str] | None:
    """ids for get/delete: None or [] means no id filter; duplicates are harmless."""
    if ids is None or len(ids) == 0:
        return None
    if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
        raise InvalidArgumentError(f"Expected IDs to be a list of str, got {ids}", field="ids")
    return list(ids)


def validate_embeddings(
    embeddings: object, limits: StoreLimits, *, field: str = "embeddings"
) -> Vectors:
    """A 2-D array of finite numbers, returned as C-contiguous float32."""
    arr = np.asarray(embeddings)
    if arr.ndim != 2:
        raise InvalidArgumentError(
            f"Expected {field} to be a 2-D array of shape (count, dimension), got shape "
            f"{arr.shape}",
            field=field,
        )
    if arr.shape[0] == 0:
        raise InvalidArgumentError(
            f"Expected {field} to be a list with at least one item, got 0 embeddings", field=field
        )
    if arr.shape[1] == 0:
        raise InvalidArgumentError(
            f"Expected each embedding in the {field} to be a non-empty list, got empty embedding "
            "at pos 0",
            field=field,
        )
    if arr.dtype.kind not in "iuf":
        raise InvalidArgumentError(
            f"Expected each value in the embedding to be a int or float, got {arr.dtype}",
            field=field,
        )
    if arr.shape[1] > limits.max_dimension:
        raise InvalidArgumentError(
            f"Embedding dimension {arr.shape[1]} exceeds maximum dimension "
            f"{limits.max_dimension}; use smaller vectors (the limit is the server's "
            "--max-dimension)",
            field=field,
        )
    vectors = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        pos = int(np.flatnonzero(~finite)[0])
        raise InvalidArgumentError(
            f"Expected {field} to contain only finite values, got NaN or infinity at pos {pos}",
            field=field,
        )
    return vectors


def validate_batch(
    batch: RecordBatch, limits: StoreLimits, *, require_embeddings: bool, is_update: bool
) -> Vectors | None:
    """Check every column of a write; returns the embeddings as float32 (or None)."""
    ids = validate_ids(batch.ids, limits)
    vectors = None
    if batch.embeddings is not None:
        vectors = validate_embeddings(batch.embeddings, limits)
    elif require_embeddings:
        raise InvalidArgumentError(
            "You must provide embeddings: the store does not compute them", field="embeddings"
        )
    if batch.metadatas is not None:
        _check_list(batch.metadatas, "metadatas")
        for md in batch.metadatas:
            if md is not None:
                validate_metadata(md, field="metadatas", allow_none_values=is_update)
    for name in ("documents", "uris"):
        column = getattr(batch, name)
        if column is not None:
            _check_list(column, name)
            bad = [v for v in column if v is not None and not isinstance(v, str)]
            if bad:
                raise InvalidArgumentError(
                    f"Expected each of {name} to be a str or None, got {bad[0]}", field=name
                )
    columns: dict[str, Collection[Any] | None] = {
        "embeddings": vectors,
        "metadatas": batch.metadatas,
        "documents": batch.documents,
        "uris": batch.uris,
    }
    for name, column in columns.items():
        if column is not None and len(column) != len(ids):
            raise InvalidArgumentError(
                f"Number of {name} {len(column)} must match number of ids {len(ids)}", field=name
            )
    return vectors


def _check_list(column: object, name: str) -> None:
    if not isinstance(column, list):
        raise InvalidArgumentError(f"Expected {name} to be a list, got {column}", field=name)


def validate_include(include: object, *, allow_distances: bool) -> frozenset[str]:
    """Chroma's ``validate_include``; ``data`` is accepted (the client layer loads it)."""
    if isinstance(include, (str, bytes)) or not isinstance(include, Collection):
        raise InvalidArgumentError(f"Expected include to be a list, got {include}", field="include")
    allowed = ["embeddings", "documents", "metadatas", "uris", "data"]
    if allow_distances:
        allowed.append("distances")
    for item in sorted(include, key=str):
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"Expected include item to be a str, got {item}", field="include"
            )
        if item not in allowed:
            raise InvalidArgumentError(
                f"Expected include item to be one of {', '.join(allowed)}, got {item}",
                field="include",
            )
    return frozenset(include)


def validate_n_results(n_results: object, limits: StoreLimits) -> int:
    """Positive int (bool passes, as in Chroma) no larger than ``limits.max_n_results``."""
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
    if n_results > limits.max_n_results:
        raise ResourceExhaustedError(
            f"Number of requested results {n_results} exceeds the maximum of "
            f"{limits.max_n_results}; ask for at most {limits.max_n_results} (the limit is the "
            "server's --max-n-results)",
            field="n_results",
        )
    return int(n_results)


def validate_limit_offset(limit: object, offset: object) -> tuple[int, int]:
    """Returns SQL ``(limit, offset)``; limit None or 0 means no limit (-1 in SQLite)."""
    for name, value in (("limit", limit), ("offset", offset)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidArgumentError(f"Expected {name} to be an int, got {value}", field=name)
        if value is not None and value < 0:
            raise InvalidArgumentError(f"{name.capitalize()} cannot be negative", field=name)
    sql_limit = limit if isinstance(limit, int) and limit > 0 else -1
    sql_offset = offset if isinstance(offset, int) else 0
    return sql_limit, sql_offset
