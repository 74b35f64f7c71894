"""The default embedding function on the real weights, against sentence-transformers' vectors."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from chroma_grpc.embeddings import (
    DefaultEmbeddingFunction,
    EmbeddingFunction,
    ONNXMiniLM_L6_V2,
    default_embedder,
    validate_embedding_function,
)
from chroma_grpc.embeddings.model_cache import CACHE_DIR_ENV, cache_file_name
from chroma_grpc.embeddings.model_files import EXPECTED_WEIGHTS_SHA256
from chroma_grpc.embeddings.runtime import (
    THREADS_ENV,
    MiniLMRuntime,
    RuntimeSettings,
    clear_shared_runtimes,
    default_thread_count,
    shared_runtime,
)
from chroma_grpc.utils import embedding_functions

if TYPE_CHECKING:  # annotations only: a runtime import could pick up another conftest
    from conftest import Reference

TOLERANCE = 1e-4  # per component; the eps and tanh-GELU mistakes exceed it, cosine would not


@pytest.fixture(scope="module")
def ef() -> ONNXMiniLM_L6_V2:
    return ONNXMiniLM_L6_V2()


def test_matches_sentence_transformers(ef: ONNXMiniLM_L6_V2, reference: Reference) -> None:
    got = ef.embed(reference.texts)
    diff = np.abs(got - reference.embeddings)
    worst = int(diff.max(axis=1).argmax())
    assert diff.max() <= TOLERANCE, (diff.max(), reference.texts[worst][:80])
    # The fixture covers the truncation boundary and texts far past it.
    assert {255, 256, 257} <= set(reference.token_counts)
    assert max(reference.token_counts) > 512
    assert "" in reference.texts


def test_call_returns_chromadb_shaped_lists(ef: ONNXMiniLM_L6_V2, reference: Reference) -> None:
    out = ef(["hello", "world"])
    assert isinstance(out, list) and len(out) == 2
    for row in out:
        assert isinstance(row, list) and len(row) == 384
        assert all(type(value) is float for value in row)
    # Values are float32-exact and unit length.
    as_array = np.asarray(out)
    assert np.array_equal(as_array, as_array.astype(np.float32).astype(np.float64))
    assert np.allclose(np.linalg.norm(as_array, axis=1), 1.0, atol=1e-6)


def test_embed_returns_float32_matrix(ef: ONNXMiniLM_L6_V2) -> None:
    matrix = ef.embed(["a", "b", "c"])
    assert matrix.dtype == np.float32 and matrix.shape == (3, 384)
    empty = ef.embed([])
    assert empty.shape == (0, 384)
    assert ef([]) == []


def test_batch_equals_single_and_keeps_order(ef: ONNXMiniLM_L6_V2, reference: Reference) -> None:
    texts = reference.texts
    batched = ef.embed(texts)  # > 32 texts: sorted by length internally, order restored
    singles = np.stack([ef.embed([text])[0] for text in texts])
    assert np.abs(batched - singles).max() < 1e-5
    reversed_batch = ef.embed(texts[::-1])
    assert np.abs(reversed_batch[::-1] - batched).max() < 1e-5


def test_pads_to_longest_in_batch_not_256(
    ef: ONNXMiniLM_L6_V2, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = ef._loaded()
    widths: list[int] = []
    real_run = MiniLMRuntime._run_batch

    def spy(self: MiniLMRuntime, ids: list[list[int]], padding: Any) -> Any:
        widths.append(max(len(row) for row in ids) if padding == "longest" else 256)
        return real_run(self, ids, padding)

    monkeypatch.setattr(MiniLMRuntime, "_run_batch", spy)
    ef.embed(["short text", "a slightly longer text than the first one"])
    assert widths == [len(runtime.tokenize(["a slightly longer text than the first one"])[0])]
    assert widths[0] < 20


def test_pad_to_longest_equals_pad_to_256(ef: ONNXMiniLM_L6_V2, reference: Reference) -> None:
    runtime = ef._loaded()
    texts = reference.texts[:20]
    longest = runtime.embed(texts, padding="longest")
    fixed = runtime.embed(texts, padding="max_length")
    assert np.abs(longest - fixed).max() < 1e-5


def test_instances_share_one_session() -> None:
    first, second = ONNXMiniLM_L6_V2(), ONNXMiniLM_L6_V2()
    default = DefaultEmbeddingFunction()
    assert first._loaded() is second._loaded() is default._loaded()
    assert first._loaded() is shared_runtime(first._settings)
    assert default_embedder() is default_embedder()
    assert isinstance(default_embedder(), ONNXMiniLM_L6_V2)


def test_thread_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "1")
    assert default_thread_count() == 1
    assert ONNXMiniLM_L6_V2().intra_op_num_threads == 1
    assert ONNXMiniLM_L6_V2(intra_op_num_threads=3).intra_op_num_threads == 3
    with pytest.raises(ValueError, match="positive"):
        ONNXMiniLM_L6_V2(intra_op_num_threads=0)
    monkeypatch.setenv(THREADS_ENV, "zero")
    with pytest.raises(ValueError, match=THREADS_ENV):
        default_thread_count()
    monkeypatch.delenv(THREADS_ENV)
    assert default_thread_count() >= 1


def test_single_thread_session_gives_same_vectors(
    ef: ONNXMiniLM_L6_V2, reference: Reference
) -> None:
    one = ONNXMiniLM_L6_V2(intra_op_num_threads=1)
    if ef.intra_op_num_threads != 1:
        assert one._loaded() is not ef._loaded()
    texts = reference.texts[:8]
    assert np.abs(one.embed(texts) - ef.embed(texts)).max() < 1e-5


def test_callable_from_many_threads(ef: ONNXMiniLM_L6_V2, reference: Reference) -> None:
    texts = reference.texts[:12]
    expected = ef.embed(texts)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: ef.embed([texts[i]])[0], range(len(texts))))
    assert np.abs(np.stack(results) - expected).max() < 1e-5


def test_rejects_non_list_input(ef: ONNXMiniLM_L6_V2) -> None:
    with pytest.raises(TypeError):
        ef.embed("a bare string")
    with pytest.raises(TypeError):
        ef([1, 2])  # type: ignore[list-item]


def test_chromadb_protocol_and_names() -> None:
    for function in (ONNXMiniLM_L6_V2(), DefaultEmbeddingFunction()):
        validate_embedding_function(function)
        assert isinstance(function, EmbeddingFunction)
        assert function.default_space() == "cosine"
        assert function.max_tokens() == 256
    assert ONNXMiniLM_L6_V2.name() == "onnx_mini_lm_l6_v2"
    assert DefaultEmbeddingFunction.name() == "default"
    assert embedding_functions.ONNXMiniLM_L6_V2 is ONNXMiniLM_L6_V2
    assert embedding_functions.DefaultEmbeddingFunction is DefaultEmbeddingFunction
    assert embedding_functions.EmbeddingFunction is EmbeddingFunction
    rebuilt = ONNXMiniLM_L6_V2.build_from_config({"preferred_providers": None})
    assert rebuilt.get_config() == {"preferred_providers": None}
    with pytest.raises(ValueError, match="subset of available providers"):
        ONNXMiniLM_L6_V2(preferred_providers=["NoSuchExecutionProvider"])
    with pytest.raises(ValueError, match="must be unique"):
        ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"] * 2)
    cpu_only = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    assert len(cpu_only(["x"])[0]) == 384


def test_torch_is_never_imported(session_model_cache: Path) -> None:
    """Run in a fresh interpreter so nothing another test imported can hide an import."""
    code = (
        "import sys\n"
        "from chroma_grpc.utils.embedding_functions import DefaultEmbeddingFunction\n"
        "assert len(DefaultEmbeddingFunction()(['hi'])[0]) == 384\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'sentence_transformers'))\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_damaged_cache_file_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Reference
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    damaged = tmp_path / cache_file_name(EXPECTED_WEIGHTS_SHA256)
    damaged.write_bytes(b"not an onnx model")
    clear_shared_runtimes()
    try:
        runtime = MiniLMRuntime(RuntimeSettings(intra_op_num_threads=1))
        got = runtime.embed(reference.texts[:3])
        assert np.abs(got - reference.embeddings[:3]).max() <= TOLERANCE
        assert damaged.stat().st_size > 80_000_000
    finally:
        clear_shared_runtimes()


def test_instances_copy_and_pickle_without_the_session(ef: ONNXMiniLM_L6_V2) -> None:
    for clone in (copy.deepcopy(ef), pickle.loads(pickle.dumps(ef))):
        assert clone._loaded() is ef._loaded()
        assert clone(["same"]) == ef(["same"])
