"""Client-side argument validation, with chromadb 0.4.24's messages and exception classes.

These checks run before any call reaches the store, in both transports, so that a bad argument
fails the same way (and without a round trip) whether the client is embedded or remote.
Where chromadb raises ``ValueError``/``TypeError`` we raise ``InvalidArgumentError``/
``InvalidArgumentTypeError``, subclasses of both those builtins and of ``ChromaError``, exactly as
the store does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from chroma_grpc.client.types import (
    IDs,
    Include,
    Metadata,
    OneOrMany,
)
from chroma_grpc.errors import (
    BatchSizeExceededError,
    DuplicateIDError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDimensionException,
)
from chroma_grpc.store.filters import validate_where as _store_validate_where
from chroma_grpc.store.filters import validate_where_document as _store_validate_where_document
from chroma_grpc.store.types import Include as StoreInclude
from chroma_grpc.store.types import IncludeField as StoreIncludeField
from chroma_grpc.store.types import Vectors
from chroma_grpc.store.validation import batch_size_advice

RESERVED_DOCUMENT_KEY = "chroma:document"
_GET_INCLUDE: tuple[str, ...] = ("embeddings", "documents", "metadatas", "uris", "data")
_QUERY_INCLUDE: tuple[str, ...] = (*_GET_INCLUDE, "distances")


@dataclass
class EmbeddingSet:
    """The validated, list-normalised arguments of add/update/upsert."""

    ids: IDs
    embeddings: Vectors | None
    metadatas: list[Metadata | None] | None
    documents: list[str | None] | None
    images: list[Any] | None
    uris: list[str | None] | None


def maybe_cast_one_to_many(target: Any, single: type | tuple[type, ...]) -> Any:
    """Wrap ``target`` in a list when it is a single item of type ``single``."""
    return [target] if isinstance(target, single) else target


def normalize_embeddings(embeddings: Any) -> Any:
    """numpy arrays (2-D, 1-D, or a list of 1-D) become lists; one flat embedding is wrapped."""
    if isinstance(embeddings, np.ndarray):
        embeddings = embeddings.tolist()
    if isinstance(embeddings, tuple):
        embeddings = list(embeddings)
    if isinstance(embeddings, list):
        embeddings = [_as_list(e) for e in embeddings]
        if embeddings and _is_number(embeddings[0]):
            return [embeddings]
    return embeddings


def _as_list(embedding: Any) -> Any:
    if isinstance(embedding, np.ndarray):
        return embedding.tolist()
    return list(embedding) if isinstance(embedding, tuple) else embedding


def _is_number(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (int, float, np.integer, np.floating))


def validate_ids(ids: Any) -> IDs:
    """A non-empty list of unique ``str``; a single ``str`` is wrapped.

    Raises:
        ValueError: not a list, empty, or an id that is not a ``str``.
        DuplicateIDError: an id appears more than once.
    """
    ids = maybe_cast_one_to_many(ids, str)
    if not isinstance(ids, list):
        raise InvalidArgumentError(f"Expected IDs to be a list, got {ids}")
    if len(ids) == 0:
        raise InvalidArgumentError(f"Expected IDs to be a non-empty list, got {ids}")
    seen: set[str] = set()
    duplicates: dict[str, None] = {}  # insertion-ordered set
    for id_ in ids:
        if not isinstance(id_, str):
            raise InvalidArgumentError(f"Expected ID to be a str, got {id_}")
        if id_ in seen:
            duplicates[id_] = None
        seen.add(id_)
    if duplicates:
        dups = list(duplicates)
        if len(dups) < 10:
            message = f"Expected IDs to be unique, found duplicates of: {', '.join(dups)}"
        else:
            examples = f"{', '.join(dups[:5])}, ..., {', '.join(dups[-5:])}"
            message = f"Expected IDs to be unique, found {len(dups)} duplicated IDs: {examples}"
        raise DuplicateIDError(message)
    return cast(IDs, ids)


def validate_embeddings(embeddings: Any) -> Vectors:
    """A non-empty list of non-empty lists of int/float (bools rejected), or a numeric numpy
    array, returned as float32 rows of shape ``(count, dimension)``.

    Raises:
        ValueError: with chromadb's message for the first violation.
        InvalidDimensionException: rows of different lengths.
    """
    array = _numeric_array(embeddings)
    if array is not None:
        return array
    embeddings = normalize_embeddings(embeddings)
    if not isinstance(embeddings, list):
        raise InvalidArgumentError(f"Expected embeddings to be a list, got {embeddings}")
    if len(embeddings) == 0:
        raise InvalidArgumentError(
            f"Expected embeddings to be a list with at least one item, got {embeddings}"
        )
    if not all(isinstance(e, list) for e in embeddings):
        raise InvalidArgumentError(
            f"Expected each embedding in the embeddings to be a list, got {embeddings}"
        )
    for position, embedding in enumerate(embeddings):
        if len(embedding) == 0:
            raise InvalidArgumentError(
                "Expected each embedding in the embeddings to be a non-empty list, "
                f"got empty embedding at pos {position}"
            )
        if not all(_is_number(value) for value in embedding):
            raise InvalidArgumentError(
                f"Expected each value in the embedding to be a int or float, got {embeddings}"
            )
    return _rows_to_vectors(embeddings)


def _numeric_array(embeddings: Any) -> Vectors | None:
    """Fast path: a non-empty 1-D/2-D int or float array, without a round trip through lists."""
    if not isinstance(embeddings, np.ndarray) or embeddings.dtype.kind not in "iuf":
        return None
    if embeddings.ndim == 1:
        embeddings = embeddings.reshape(1, -1)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
        return None
    return np.ascontiguousarray(embeddings, dtype=np.float32)


def validate_metadata(metadata: Any) -> Metadata | None:
    """None, or a non-empty dict of str keys to str/int/float/bool values.

    Raises:
        ValueError: not a dict, empty, the reserved key, or a bad value.
        TypeError: a key that is not a ``str``.
    """
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidArgumentError(
            f"Expected metadata to be a dict or None, got {type(metadata).__name__} as metadata"
        )
    if len(metadata) == 0:
        raise InvalidArgumentError(f"Expected metadata to be a non-empty dict, got {metadata}")
    for key, value in metadata.items():
        if key == RESERVED_DOCUMENT_KEY:
            raise InvalidArgumentError(
                f"Expected metadata to not contain the reserved key {RESERVED_DOCUMENT_KEY}"
            )
        if not isinstance(key, str):
            raise InvalidArgumentTypeError(
                f"Expected metadata key to be a str, got {key} which is a {type(key)}"
            )
        if not isinstance(value, (str, int, float, bool)):
            raise InvalidArgumentError(
                "Expected metadata value to be a str, int, float or bool, "
                f"got {value} which is a {type(value)}"
            )
    return cast(Metadata, metadata)


def validate_metadatas(metadatas: Any) -> list[Metadata | None]:
    """A list of metadata dicts or None; a single dict is wrapped."""
    metadatas = maybe_cast_one_to_many(metadatas, dict)
    if isinstance(metadatas, tuple):
        metadatas = list(metadatas)
    if not isinstance(metadatas, list):
        raise InvalidArgumentError(f"Expected metadatas to be a list, got {metadatas}")
    return [validate_metadata(metadata) for metadata in metadatas]


def validate_strings(values: Any, what: str) -> list[str | None]:
    """Documents or uris: a list of ``str``/None; a single ``str`` is wrapped."""
    values = maybe_cast_one_to_many(values, str)
    if isinstance(values, tuple):
        values = list(values)
    if not isinstance(values, list):
        raise InvalidArgumentError(f"Expected {what}s to be a list, got {values}")
    for value in values:
        if value is not None and not isinstance(value, str):
            raise InvalidArgumentError(f"Expected {what} to be a str, got {value}")
    return cast(list[str | None], values)


def validate_include(include: Any, allow_distances: bool) -> Include:
    """A list of known include fields; ``distances`` only for query.

    Raises:
        ValueError: not a list, or an unknown item.
    """
    if not isinstance(include, list):
        raise InvalidArgumentError(f"Expected include to be a list, got {include}")
    allowed = _QUERY_INCLUDE if allow_distances else _GET_INCLUDE
    for item in include:
        if not isinstance(item, str):
            raise InvalidArgumentError(f"Expected include item to be a str, got {item}")
        if item not in allowed:
            raise InvalidArgumentError(
                f"Expected include item to be one of {', '.join(allowed)}, got {item}"
            )
    return cast(Include, list(include))


def store_include(include: Include) -> StoreInclude:
    """The store's include set: ``data`` is loaded client-side from the ``uris``."""
    fields: set[StoreIncludeField] = {f for f in include if f != "data"}
    if "data" in include:
        fields.add("uris")
    return frozenset(fields)


def validate_n_results(n_results: Any) -> int:
    """Raises ValueError for a non-int and TypeError for ``n_results <= 0``, as chromadb does."""
    if not isinstance(n_results, int):
        raise InvalidArgumentError(
            f"Expected requested number of results to be a int, got {n_results}"
        )
    if n_results <= 0:
        raise InvalidArgumentTypeError(
            f"Number of requested results {n_results}, cannot be negative, or zero."
        )
    return n_results


def validate_where(where: Any) -> Mapping[str, Any] | None:
    """A where filter, or None when empty (``{}`` means no filter)."""
    if not where:
        return None
    _store_validate_where(where)
    return cast(Mapping[str, Any], where)


def validate_where_document(where_document: Any) -> Mapping[str, Any] | None:
    """A where_document filter, or None when empty."""
    if not where_document:
        return None
    _store_validate_where_document(where_document)
    return cast(Mapping[str, Any], where_document)


def validate_embedding_set(
    ids: OneOrMany[str],
    embeddings: Any,
    metadatas: Any,
    documents: Any,
    images: Any,
    uris: Any,
    require_embeddings_or_data: bool = True,
) -> EmbeddingSet:
    """chromadb's ``_validate_embedding_set``: types, presence, then lengths, in that order."""
    valid = EmbeddingSet(
        ids=validate_ids(ids),
        embeddings=None if embeddings is None else validate_embeddings(embeddings),
        metadatas=None if metadatas is None else validate_metadatas(metadatas),
        documents=None if documents is None else validate_strings(documents, "document"),
        images=None if images is None else cast_images(images),
        uris=None if uris is None else validate_strings(uris, "uri"),
    )
    given = (valid.embeddings, valid.documents, valid.images, valid.uris)
    if require_embeddings_or_data and all(column is None for column in given):
        raise InvalidArgumentError("You must provide embeddings, documents, images, or uris.")
    if valid.documents is not None and valid.images is not None:
        raise InvalidArgumentError("You can only provide documents or images, not both.")
    columns: Sequence[tuple[str, Sized | None]] = (
        ("embeddings", valid.embeddings),
        ("metadatas", valid.metadatas),
        ("documents", valid.documents),
        ("images", valid.images),
        ("uris", valid.uris),
    )
    for name, column in columns:
        if column is not None and len(column) != len(valid.ids):
            raise InvalidArgumentError(
                f"Number of {name} {len(column)} must match number of ids {len(valid.ids)}"
            )
    return valid


def cast_images(images: Any) -> list[Any]:
    """A list of images; one ndarray with ndim >= 2 is one image, wrapped."""
    if isinstance(images, np.ndarray) and images.ndim > 1:
        return [images]
    if not isinstance(images, list):
        raise InvalidArgumentError(f"Expected images to be a list, got {images}")
    return images


def validate_batch_size(size: int, max_batch_size: int) -> None:
    """Raises BatchSizeExceededError (a ValueError) for a batch over the store's limit."""
    if size > max_batch_size:
        raise BatchSizeExceededError(
            f"Batch size {size} exceeds maximum batch size {max_batch_size}; "
            f"{batch_size_advice(max_batch_size)}"
        )


def _rows_to_vectors(embeddings: list[list[float]]) -> Vectors:
    """float32 rows; a batch of mixed lengths is a dimension error, as in chromadb."""
    dimension = len(embeddings[0])
    for embedding in embeddings:
        if len(embedding) != dimension:
            raise InvalidDimensionException(
                f"Embedding dimension {len(embedding)} does not match collection "
                f"dimensionality {dimension}"
            )
    return np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), dimension)
