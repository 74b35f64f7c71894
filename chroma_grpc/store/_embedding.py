"""Embedding inside the store, for callers that send text instead of vectors.

Only the server's store has an embedder (its default model): gRPC callers in any language
get Chroma's "give me documents" promise without running a model. Embedded clients embed on
the client side, as Chroma does, so their store has none. Which texts a call needs embedded is
a rule (:func:`chroma_grpc.store.validation.documents_to_embed`), checked with the rest of the
call's arguments before anything here runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chroma_grpc.store.errors import FailedPreconditionError
from chroma_grpc.store.types import TextEmbedder, Vectors
from chroma_grpc.store.validation import NO_EMBEDDER_MESSAGE


def embed_texts(texts: Sequence[str], embedder: TextEmbedder | None, *, field: str) -> Vectors:
    """One float32 row per text; FailedPreconditionError when this store cannot embed."""
    if embedder is None:
        raise FailedPreconditionError(NO_EMBEDDER_MESSAGE.format(field=field), field=field)
    try:
        vectors = embedder(list(texts))
    except (RuntimeError, OSError) as error:  # e.g. the model package is not installed
        raise FailedPreconditionError(f"{field}: cannot embed: {error}", field=field) from error
    return np.ascontiguousarray(vectors, dtype=np.float32)
