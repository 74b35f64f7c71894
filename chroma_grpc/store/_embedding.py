"""Embedding inside the store, for callers that send text instead of vectors.

Only the server's store has an embedder (its default model): gRPC callers in any language
get Chroma's "give me documents" promise without running a model. Embedded clients embed on
the client side, as Chroma does, so their store has none and these checks explain why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from chroma_grpc.store.errors import FailedPreconditionError, InvalidArgumentError
from chroma_grpc.store.types import RecordBatch, TextEmbedder, Vectors

NO_EMBEDDER = (
    "{field}: sent without embeddings, and this server does not embed text (server-side "
    "embedding is off); compute embeddings on the client and send them"
)


def with_embedded_documents(
    batch: RecordBatch, embedder: TextEmbedder | None, *, is_update: bool
) -> RecordBatch:
    """The batch with vectors computed from its documents where vectors are missing.

    Add/upsert need a vector per record, so every record must then have a document. Update
    re-embeds exactly when documents are given without embeddings (Chroma's rule); without an
    embedder an update just replaces the documents, since the client already embedded.
    """
    if batch.embeddings is not None or batch.documents is None:
        return batch
    if embedder is None:
        if is_update:
            return batch
        raise FailedPreconditionError(NO_EMBEDDER.format(field="embeddings"), field="embeddings")
    missing = [batch.ids[i] for i, doc in enumerate(batch.documents) if doc is None]
    if missing:
        raise InvalidArgumentError(
            f"documents: record {missing[0]!r} has no document to embed; send a document for "
            "every record or send embeddings",
            field="documents",
        )
    if len(batch.documents) != len(batch.ids):
        return batch  # validation reports the length mismatch with Chroma's message
    texts = [doc for doc in batch.documents if doc is not None]
    return dataclasses.replace(batch, embeddings=embed_texts(texts, embedder, field="documents"))


def embed_texts(texts: Sequence[str], embedder: TextEmbedder | None, *, field: str) -> Vectors:
    """One float32 row per text; FailedPreconditionError when this store cannot embed."""
    if embedder is None:
        raise FailedPreconditionError(NO_EMBEDDER.format(field=field), field=field)
    if not texts or not all(isinstance(text, str) for text in texts):
        raise InvalidArgumentError(f"{field}: expected a non-empty list of str", field=field)
    try:
        vectors = embedder(list(texts))
    except (RuntimeError, OSError) as error:  # e.g. the model package is not installed
        raise FailedPreconditionError(f"{field}: cannot embed: {error}", field=field) from error
    return np.ascontiguousarray(vectors, dtype=np.float32)
