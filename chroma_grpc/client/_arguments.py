"""The client API's argument handling: chromadb's "one or many" forms, then Chroma's rules.

chromadb accepts a single id, document, metadata or flat embedding where a list is expected,
and lists or numpy arrays for embeddings; this module turns each into the one list form and
checks it, in chromadb 0.4.24's order, with the rules of :mod:`chroma_grpc.store.validation`
(where every rule and message is defined). It runs before anything is embedded or sent, so a
bad argument fails the same way, without a round trip, whatever the transport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from chroma_grpc.client.types import IDs, Include, Metadata, OneOrMany
from chroma_grpc.store.errors import InvalidArgumentError, InvalidDimensionException
from chroma_grpc.store.types import ResultField, ResultFields, Vectors
from chroma_grpc.store.validation import (
    length_mismatch,
    validate_ids,
    validate_include,
    validate_metadata,
)

__all__ = [
    "EmbeddingSet",
    "cast_images",
    "maybe_cast_one_to_many",
    "result_fields",
    "validate_collection_metadata_argument",
    "validate_embedding_set",
    "validate_embeddings",
    "validate_include_list",
    "validate_lookup_ids",
    "validate_strings",
]


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


def _is_number(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (int, float, np.integer, np.floating))


def validate_embeddings(embeddings: Any) -> Vectors:
    """chromadb's embeddings: a non-empty list of non-empty lists of int/float (bools
    rejected), one flat list (wrapped), or a numeric numpy array; returned as float32 rows
    of shape ``(count, dimension)``, without a detour through Python lists for arrays.

    Raises:
        ValueError: with chromadb's message for the first violation.
        InvalidDimensionException: rows of different lengths.
    """
    array = _numeric_array(embeddings)
    if array is not None:
        return array
    if isinstance(embeddings, np.ndarray):
        embeddings = embeddings.tolist()
    if isinstance(embeddings, tuple):
        embeddings = list(embeddings)
    if isinstance(embeddings, list):
        embeddings = [e.tolist() if isinstance(e, np.ndarray) else e for e in embeddings]
        embeddings = [list(e) if isinstance(e, tuple) else e for e in embeddings]
        if embeddings and _is_number(embeddings[0]):
            embeddings = [embeddings]
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
    dimension = len(embeddings[0])
    for embedding in embeddings:
        if len(embedding) != dimension:
            raise InvalidDimensionException(
                f"Embedding dimension {len(embedding)} does not match collection "
                f"dimensionality {dimension}"
            )
    return np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), dimension)


def _numeric_array(embeddings: Any) -> Vectors | None:
    """A non-empty 1-D/2-D int or float array as float32 rows (no copy when already float32)."""
    if not isinstance(embeddings, np.ndarray) or embeddings.dtype.kind not in "iuf":
        return None
    if embeddings.ndim == 1:
        embeddings = embeddings.reshape(1, -1)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
        return None
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, which the store refuses
        return np.ascontiguousarray(embeddings, dtype=np.float32)


def _validate_ids(ids: Any) -> IDs:
    return validate_ids(maybe_cast_one_to_many(ids, str))


def validate_lookup_ids(ids: Any) -> IDs | None:
    """ids for get/delete: one or many; None or empty means no id filter."""
    return _validate_ids(ids) if ids else None


def _validate_metadatas(metadatas: Any) -> list[Metadata | None]:
    """A list of metadata dicts or None; a single dict is wrapped. chromadb refuses None
    values here, so a key cannot be deleted through ``update`` (as in 0.4.24)."""
    metadatas = maybe_cast_one_to_many(metadatas, Mapping)
    if isinstance(metadatas, tuple):
        metadatas = list(metadatas)
    if not isinstance(metadatas, list):
        raise InvalidArgumentError(f"Expected metadatas to be a list, got {metadatas}")
    return [None if m is None else validate_metadata(m, field="metadatas") for m in metadatas]


def validate_collection_metadata_argument(metadata: Any) -> None:
    """chromadb checks collection metadata client-side as record metadata (HNSW keys are the
    store's to judge)."""
    if metadata is not None:
        validate_metadata(metadata)


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


def validate_include_list(include: Any, *, allow_distances: bool) -> Include:
    """chromadb's include argument: a *list* of known fields; ``distances`` only for query."""
    if not isinstance(include, list):
        raise InvalidArgumentError(f"Expected include to be a list, got {include}")
    validate_include(include, allow_distances=allow_distances)
    return cast(Include, list(include))


def result_fields(include: Include) -> ResultFields:
    """The fields to ask the store for: ``data`` is loaded here, from the ``uris``."""
    fields: set[ResultField] = {f for f in include if f != "data"}
    if "data" in include:
        fields.add("uris")
    return frozenset(fields)


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
        ids=_validate_ids(ids),
        embeddings=None if embeddings is None else validate_embeddings(embeddings),
        metadatas=None if metadatas is None else _validate_metadatas(metadatas),
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
            raise length_mismatch(name, len(column), len(valid.ids))
    return valid


def cast_images(images: Any) -> list[Any]:
    """A list of images; one ndarray with ndim >= 2 is one image, wrapped."""
    if isinstance(images, np.ndarray) and images.ndim > 1:
        return [images]
    if not isinstance(images, list):
        raise InvalidArgumentError(f"Expected images to be a list, got {images}")
    return images
