"""Chroma's embedding-function protocol (0.4.16+): ``__call__(self, input)``."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

Documents = list[str]
Embeddings = list[Sequence[float]]


@runtime_checkable
class EmbeddingFunction(Protocol):
    """Turns a batch of inputs (texts) into one vector per input."""

    def __call__(self, input: Documents) -> Embeddings: ...


def validate_embedding_function(function: Any) -> None:
    """Reject callables whose ``__call__`` is not ``(self, input)``, exactly as chromadb does.

    chromadb 0.4.24 compares the parameter names of ``__call__`` (lambdas, ``*args`` and the
    old ``texts`` name all fail) so that functions written for the old protocol fail loudly.
    """
    function_signature = inspect.signature(function.__class__.__call__).parameters.keys()
    protocol_signature = inspect.signature(EmbeddingFunction.__call__).parameters.keys()
    if list(function_signature) != list(protocol_signature):
        raise ValueError(
            "Expected EmbeddingFunction.__call__ to have the following signature: "
            f"{protocol_signature}, got {function_signature}\n"
            "Please see https://docs.trychroma.com/embeddings for details of the "
            "EmbeddingFunction interface.\n"
            "Please note the recent change to the EmbeddingFunction interface: "
            "https://docs.trychroma.com/migration#migration-to-0416---november-7-2023 \n"
        )
