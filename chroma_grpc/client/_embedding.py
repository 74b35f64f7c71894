"""The default embedding function (loaded lazily) and the client's one place that embeds.

The ONNX MiniLM model is only needed when documents, images or uris arrive without
embeddings, so it is imported on first call: creating collections and passing embeddings
works even where onnxruntime or the model files are absent.
"""

from __future__ import annotations

import threading
from typing import Any

from chroma_grpc.client._validation import validate_embeddings
from chroma_grpc.client.types import Documents, EmbeddingFunction, Embeddings
from chroma_grpc.errors import InvalidArgumentError
from chroma_grpc.store.types import Vectors

__all__ = ["DEFAULT_EMBEDDING_FUNCTION", "LazyDefaultEmbeddingFunction", "embed"]

NO_EMBEDDING_FUNCTION = (
    "You must provide an embedding function to compute embeddings."
    "https://docs.trychroma.com/embeddings"
)


class LazyDefaultEmbeddingFunction:
    """Stands in for ``DefaultEmbeddingFunction()`` (ONNX all-MiniLM-L6-v2) until first use."""

    _function: EmbeddingFunction | None = None
    _lock = threading.Lock()

    def __call__(self, input: Documents) -> Embeddings:
        return self._load()(input=input)

    @classmethod
    def _load(cls) -> EmbeddingFunction:
        with cls._lock:
            if cls._function is None:
                from chroma_grpc.utils.embedding_functions import DefaultEmbeddingFunction

                cls._function = DefaultEmbeddingFunction()
            return cls._function

    def __repr__(self) -> str:
        return "DefaultEmbeddingFunction()"


DEFAULT_EMBEDDING_FUNCTION: EmbeddingFunction = LazyDefaultEmbeddingFunction()


def embed(function: EmbeddingFunction | None, input: Any) -> Vectors:
    """Run ``function(input=...)`` and validate what it returns (lists, or a numpy array).

    Raises:
        ValueError: no embedding function, or it returned something that is not embeddings.
    """
    if function is None:
        raise InvalidArgumentError(NO_EMBEDDING_FUNCTION)
    return validate_embeddings(function(input=input))
