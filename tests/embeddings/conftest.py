"""Fixtures for the embedding tests: a hermetic model cache and a tiny random BERT.

The real model is built once per test session into a session-scoped temporary cache, so the
tests never touch ~/.cache and never need the network. Cache-mechanics tests use a tiny random
BERT instead of the 90 MB weights, so they build in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from chroma_grpc.embeddings.model_cache import CACHE_DIR_ENV
from chroma_grpc.embeddings.model_files import MODEL_DIR_ENV, ModelFiles
from chroma_grpc.embeddings.runtime import THREADS_ENV, clear_shared_runtimes

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def session_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the ONNX cache at a fresh folder for the whole session (built once, reused)."""
    cache = tmp_path_factory.mktemp("onnx_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(cache))
        patch.delenv(MODEL_DIR_ENV, raising=False)
        patch.delenv(THREADS_ENV, raising=False)
        yield cache
    clear_shared_runtimes()


@dataclass
class Reference:
    texts: list[str]
    token_counts: list[int]
    embeddings: np.ndarray


@pytest.fixture(scope="session")
def reference() -> Reference:
    """sentence-transformers vectors made by scripts/regenerate_embedding_fixture.py."""
    meta = json.loads((FIXTURES / "minilm_reference.json").read_text(encoding="utf-8"))
    with np.load(FIXTURES / "minilm_reference.npz") as data:
        embeddings = data["embeddings"]
    return Reference(meta["texts"], meta["token_counts"], embeddings)


TINY_CONFIG = {
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 16,
    "layer_norm_eps": 1e-12,
    "hidden_act": "gelu",
    "vocab_size": 20,
    "max_position_embeddings": 16,
    "type_vocab_size": 2,
}


def tiny_weights(seed: int) -> dict[str, np.ndarray]:
    """Random BERT weights in the checkpoint's naming, with the 'bert.' prefix some use."""
    rng = np.random.default_rng(seed)
    h, inner = TINY_CONFIG["hidden_size"], TINY_CONFIG["intermediate_size"]

    def rand(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, size=shape).astype(np.float32)

    w: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": rand(TINY_CONFIG["vocab_size"], h),
        "embeddings.position_embeddings.weight": rand(16, h),
        "embeddings.token_type_embeddings.weight": rand(2, h),
        "embeddings.LayerNorm.weight": 1 + rand(h),
        "embeddings.LayerNorm.bias": rand(h),
        "embeddings.position_ids": np.arange(16, dtype=np.int64)[None, :],
        "pooler.dense.weight": rand(h, h),
        "pooler.dense.bias": rand(h),
    }
    for layer in range(TINY_CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        for name in ("query", "key", "value"):
            w[f"{p}.attention.self.{name}.weight"] = rand(h, h)
            w[f"{p}.attention.self.{name}.bias"] = rand(h)
        w[f"{p}.attention.output.dense.weight"] = rand(h, h)
        w[f"{p}.attention.output.dense.bias"] = rand(h)
        w[f"{p}.intermediate.dense.weight"] = rand(inner, h)
        w[f"{p}.intermediate.dense.bias"] = rand(inner)
        w[f"{p}.output.dense.weight"] = rand(h, inner)
        w[f"{p}.output.dense.bias"] = rand(h)
        for ln in (f"{p}.attention.output.LayerNorm", f"{p}.output.LayerNorm"):
            w[f"{ln}.weight"] = 1 + rand(h)
            w[f"{ln}.bias"] = rand(h)
    return {f"bert.{k}": v for k, v in w.items()}


def write_tiny_model(directory: Path, seed: int) -> ModelFiles:
    """Write a tiny model's safetensors, config and a placeholder tokenizer to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tiny_weights(seed), str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    (directory / "tokenizer.json").write_text("{}", encoding="utf-8")
    digest = hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest()
    return ModelFiles(directory=directory, weights_sha256=digest)


@pytest.fixture
def tiny_model(tmp_path: Path) -> ModelFiles:
    return write_tiny_model(tmp_path / "tiny", seed=0)


@pytest.fixture
def make_tiny_model(tmp_path: Path) -> Callable[[str, int], ModelFiles]:
    """Factory: ``make_tiny_model(name, seed)`` writes a tiny model under ``tmp_path/name``."""

    def make(name: str, seed: int) -> ModelFiles:
        return write_tiny_model(tmp_path / name, seed)

    return make
