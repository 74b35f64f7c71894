"""chromadb's ``chromadb.utils.embedding_functions`` names, backed by our offline model.

Code written against chromadb 0.4.24 (``embedding_functions.DefaultEmbeddingFunction()``,
``embedding_functions.ONNXMiniLM_L6_V2()``) works unchanged after swapping the import.
"""

from chroma_grpc.embeddings.base import Documents, EmbeddingFunction, Embeddings
from chroma_grpc.embeddings.minilm import (
    DefaultEmbeddingFunction,
    ONNXMiniLM_L6_V2,
    default_embedder,
)

__all__ = [
    "DefaultEmbeddingFunction",
    "Documents",
    "EmbeddingFunction",
    "Embeddings",
    "ONNXMiniLM_L6_V2",
    "default_embedder",
]
