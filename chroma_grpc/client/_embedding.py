"""The client's default embedding function and its one place that embeds.

``DefaultEmbeddingFunction()`` is cheap to construct: the ONNX MiniLM model loads on first call,
so creating collections and passing embeddings works even where the model is not installed.
"""

from __future__ import annotations

from typing import Any

from chroma_grpc.client._arguments import validate_embeddings
from chroma_grpc.client.types import EmbeddingFunction
from chroma_grpc.embeddings import DefaultEmbeddingFunction
from chroma_grpc.errors import InvalidArgumentError
from chroma_grpc.store.types import Vectors

__all__ = ["DEFAULT_EMBEDDING_FUNCTION", "embed"]

NO_EMBEDDING_FUNCTION = (
    "You must provide an embedding function to compute embeddings."
    "https://docs.trychroma.com/embeddings"
)

DEFAULT_EMBEDDING_FUNCTION: EmbeddingFunction = DefaultEmbeddingFunction()


def embed(function: EmbeddingFunction | None, input: Any) -> Vectors:
    """Run ``function(input=...)`` and validate what it returns (lists, or a numpy array).

    Raises:
        ValueError: no embedding function, or it returned something that is not embeddings.
    """
    if function is None:
        raise InvalidArgumentError(NO_EMBEDDING_FUNCTION)
    return validate_embeddings(function(input=input))
