"""The loaded model: one tokenizer and one onnxruntime session per process and settings.

chromadb builds a new InferenceSession on every ``DefaultEmbeddingFunction()`` call; we share
one per (providers, threads) in a process-wide registry instead, since loading costs ~0.3 s
and ~200 MB. ``InferenceSession.run`` and ``Tokenizer.encode_batch`` are both safe to call from
many threads at once, and nothing here mutates shared state after loading, so a runtime may
serve every gRPC worker thread. Texts are padded to the longest one in each batch, not to
chromadb's fixed 256: the vectors are identical and short texts run 18-40x faster.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from chroma_grpc.embeddings.model_cache import ensure_onnx_model
from chroma_grpc.embeddings.model_files import locate_model_files

MAX_TOKENS = 256
BATCH_SIZE = 32
DIMENSION = 384
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
# intra-op threads per session; default: the cores this process may use.
THREADS_ENV = "CHROMA_GRPC_EMBEDDING_THREADS"

Padding = Literal["longest", "max_length"]
_log = logging.getLogger(__name__)
FloatMatrix = npt.NDArray[np.float32]


def default_thread_count() -> int:
    """Threads from the env setting, else the number of cores this process may run on."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
        return value
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RuntimeSettings:
    """What distinguishes one loaded session from another."""

    providers: tuple[str, ...] = DEFAULT_PROVIDERS
    intra_op_num_threads: int = 1


def _mean_pool_normalize(hidden: FloatMatrix, mask: npt.NDArray[np.int64]) -> FloatMatrix:
    """Mask-weighted mean over tokens, then L2 normalisation, exactly as chromadb does."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    norms[norms == 0] = 1e-12
    normalized: FloatMatrix = (pooled / norms).astype(np.float32)
    return normalized


class MiniLMRuntime:
    """Tokenizer plus session for all-MiniLM-L6-v2; see :func:`shared_runtime`."""

    def __init__(self, settings: RuntimeSettings) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        files = locate_model_files()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = settings.intra_op_num_threads
        options.inter_op_num_threads = 1
        providers = list(settings.providers)

        def load(model: Path | bytes) -> Any:
            source = model if isinstance(model, bytes) else str(model)
            return ort.InferenceSession(source, sess_options=options, providers=providers)

        model = ensure_onnx_model(files)
        try:
            session = load(model)
        except Exception as error:  # onnxruntime raises its own untyped errors
            if isinstance(model, bytes):
                raise
            # A cache file damaged outside our atomic writes (disk, manual edits): rebuild once.
            _log.warning("cached ONNX model %s failed to load (%s); rebuilding", model, error)
            session = load(ensure_onnx_model(files, rebuild=True))
        self.settings = settings
        self._session: Any = session
        tokenizer = Tokenizer.from_file(str(files.tokenizer))
        # tokenizer.json ships truncation/padding at 128; chromadb overrides to 256. We pad
        # ourselves per batch, so the tokenizer is never mutated after this point.
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, with [CLS]/[SEP], truncated to 256."""
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]

    def _run_batch(self, ids: list[list[int]], padding: Padding) -> FloatMatrix:
        width = MAX_TOKENS if padding == "max_length" else max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, token_ids in enumerate(ids):
            input_ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1
        feeds = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        hidden: FloatMatrix = self._session.run(["last_hidden_state"], feeds)[0]
        return _mean_pool_normalize(hidden, mask)

    def embed(
        self, texts: Sequence[str], batch_size: int = BATCH_SIZE, padding: Padding = "longest"
    ) -> FloatMatrix:
        """Return a float32 ``[len(texts), 384]`` matrix of unit vectors, in input order.

        Requests larger than one batch are sorted by token count first, so each batch pads
        to texts of similar length; rows are put back in input order afterwards.
        """
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenize(texts)
        order = list(range(len(ids)))
        if len(ids) > batch_size:
            order.sort(key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._run_batch([ids[i] for i in chunk], padding)
        return out


_registry: dict[RuntimeSettings, MiniLMRuntime] = {}
_registry_lock = threading.Lock()


def shared_runtime(settings: RuntimeSettings) -> MiniLMRuntime:
    """Return the process-wide runtime for ``settings``, loading it on first use."""
    runtime = _registry.get(settings)
    if runtime is not None:
        return runtime
    with _registry_lock:  # one load even when many threads ask at once
        runtime = _registry.get(settings)
        if runtime is None:
            runtime = MiniLMRuntime(settings)
            _registry[settings] = runtime
        return runtime


def clear_shared_runtimes() -> None:
    """Drop every loaded runtime (tests; or to free ~200 MB once embedding is done)."""
    with _registry_lock:
        _registry.clear()
