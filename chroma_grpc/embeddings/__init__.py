"""Embedding functions: Chroma's protocol and the default all-MiniLM-L6-v2 model.

Importing this package is cheap: onnxruntime, tokenizers and onnx load on first use.
"""

from chroma_grpc.embeddings.base import (
    Documents,
    EmbeddingFunction,
    Embeddings,
    validate_embedding_function,
)
from chroma_grpc.embeddings.minilm import (
    DefaultEmbeddingFunction,
    ONNXMiniLM_L6_V2,
    default_embedder,
)
from chroma_grpc.embeddings.model_cache import CACHE_DIR_ENV
from chroma_grpc.embeddings.model_files import (
    INSTALL_COMMAND,
    MODEL_DIR_ENV,
    ModelNotInstalledError,
)
from chroma_grpc.embeddings.runtime import THREADS_ENV

__all__ = [
    "CACHE_DIR_ENV",
    "INSTALL_COMMAND",
    "MODEL_DIR_ENV",
    "THREADS_ENV",
    "DefaultEmbeddingFunction",
    "Documents",
    "EmbeddingFunction",
    "Embeddings",
    "ModelNotInstalledError",
    "ONNXMiniLM_L6_V2",
    "default_embedder",
    "validate_embedding_function",
]
