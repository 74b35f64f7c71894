"""chromadb-compatible ``ONNXMiniLM_L6_V2`` and ``DefaultEmbeddingFunction``, offline.

Construction is cheap and never fails for a missing model, because chromadb evaluates
``DefaultEmbeddingFunction()`` as a default argument at import time; the model loads (and,
the first time, is built and cached) on the first call. Every instance with the same
settings shares one process-wide session.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

from chroma_grpc.embeddings.base import Documents, Embeddings
from chroma_grpc.embeddings.model_files import MODEL_NAME
from chroma_grpc.embeddings.runtime import (
    DEFAULT_PROVIDERS,
    MAX_TOKENS,
    FloatMatrix,
    MiniLMRuntime,
    RuntimeSettings,
    default_thread_count,
    shared_runtime,
)


def _check_providers(preferred: Sequence[str]) -> tuple[str, ...]:
    """Validate like chromadb does, with its messages."""
    import onnxruntime as ort

    if len(preferred) != len(set(preferred)):
        raise ValueError("Preferred providers must be unique")
    available = ort.get_available_providers()
    if not set(preferred) <= set(available):
        raise ValueError(f"Preferred providers must be subset of available providers: {available}")
    # chromadb >= 0.5 drops CoreML: it fails on this model's dynamic shapes.
    return tuple(p for p in preferred if p != "CoreMLExecutionProvider")


class ONNXMiniLM_L6_V2:  # noqa: N801 - chromadb's public name
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit length) on onnxruntime.

    ``__call__`` returns Python lists, as chromadb 0.4.24 does (its validation requires
    lists); :meth:`embed` returns the float32 matrix for callers that want numpy.
    ``intra_op_num_threads`` defaults to ``CHROMA_GRPC_EMBEDDING_THREADS`` or the core count.
    """

    MODEL_NAME = MODEL_NAME

    def __init__(
        self,
        preferred_providers: list[str] | None = None,
        intra_op_num_threads: int | None = None,
    ) -> None:
        if preferred_providers is not None and not all(
            isinstance(p, str) for p in preferred_providers
        ):
            raise ValueError("Preferred providers must be a list of strings")
        providers = (
            _check_providers(preferred_providers) if preferred_providers else DEFAULT_PROVIDERS
        )
        threads = default_thread_count() if intra_op_num_threads is None else intra_op_num_threads
        if threads < 1:
            raise ValueError(f"intra_op_num_threads must be positive, got {threads}")
        self._preferred_providers = preferred_providers
        # Plain data only: instances stay picklable and deep-copyable; the session lives in the
        # process-wide registry.
        self._settings = RuntimeSettings(providers=providers, intra_op_num_threads=threads)

    @property
    def intra_op_num_threads(self) -> int:
        return self._settings.intra_op_num_threads

    def _loaded(self) -> MiniLMRuntime:
        return shared_runtime(self._settings)

    def embed(self, input: Sequence[str]) -> FloatMatrix:
        """Return a float32 ``[len(input), 384]`` matrix; the fast path for the server."""
        if isinstance(input, str) or not all(isinstance(text, str) for text in input):
            raise TypeError("Expected input to be a list of str")
        return self._loaded().embed(input)

    def __call__(self, input: Documents) -> Embeddings:
        return cast(Embeddings, self.embed(input).tolist())

    # chromadb >= 0.5 metadata, harmless for 0.4.24 callers and useful for persistence later.
    @staticmethod
    def name() -> str:
        return "onnx_mini_lm_l6_v2"

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine", "l2", "ip"]

    def max_tokens(self) -> int:
        return MAX_TOKENS

    def get_config(self) -> dict[str, Any]:
        return {"preferred_providers": self._preferred_providers}

    @classmethod
    def build_from_config(cls, config: dict[str, Any]) -> ONNXMiniLM_L6_V2:
        return cls(preferred_providers=config.get("preferred_providers"))


class DefaultEmbeddingFunction(ONNXMiniLM_L6_V2):
    """The function collections use when none is given: MiniLM with the default settings.

    A class rather than chromadb 0.4.24's factory function, so ``isinstance`` checks work;
    calling it still yields an ``ONNXMiniLM_L6_V2``.
    """

    def __init__(self) -> None:
        super().__init__()

    @staticmethod
    def name() -> str:
        return "default"

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def build_from_config(cls, config: dict[str, Any]) -> DefaultEmbeddingFunction:
        return cls()


_default: DefaultEmbeddingFunction | None = None
_default_lock = threading.Lock()


def default_embedder() -> DefaultEmbeddingFunction:
    """The process-wide default embedding function (thread-safe; loads lazily)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = DefaultEmbeddingFunction()
    return _default
