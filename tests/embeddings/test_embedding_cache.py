"""The ONNX model cache: keyed by the weights' hash, atomic, env-overridable, read-only-safe."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from chroma_grpc.embeddings import model_cache
from chroma_grpc.embeddings.model_cache import (
    CACHE_DIR_ENV,
    cache_directory,
    cache_file_name,
    ensure_onnx_model,
    write_atomically,
)
from chroma_grpc.embeddings.model_files import ModelFiles
from chroma_grpc.embeddings.onnx_builder import BUILDER_VERSION

MakeModel = Callable[[str, int], ModelFiles]


def test_env_var_overrides_cache_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert cache_directory() == tmp_path / "elsewhere"
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_directory() == tmp_path / "xdg" / "chroma_grpc" / "onnx_models"


def test_built_file_lands_in_env_directory_named_by_hash(
    tiny_model: ModelFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    path = ensure_onnx_model(tiny_model)
    assert isinstance(path, Path)
    assert path.parent == tmp_path / "cache"
    assert path.name == cache_file_name(tiny_model.weights_sha256)
    assert tiny_model.weights_sha256[:16] in path.name
    assert path.name.endswith(f"-v{BUILDER_VERSION}.onnx")
    assert os.listdir(path.parent) == [path.name]  # no temp file left behind


def test_cached_file_is_reused_without_rebuilding(
    tiny_model: ModelFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ensure_onnx_model(tiny_model, tmp_path)
    assert isinstance(first, Path)
    stamp = first.stat().st_mtime_ns

    def no_build(*_: object) -> bytes:
        raise AssertionError("a cached model must not be rebuilt")

    monkeypatch.setattr(model_cache, "build_model_bytes", no_build)
    assert ensure_onnx_model(tiny_model, tmp_path) == first
    assert first.stat().st_mtime_ns == stamp


def test_different_weights_get_different_files(make_tiny_model: MakeModel, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    a = ensure_onnx_model(make_tiny_model("a", 1), cache)
    b = ensure_onnx_model(make_tiny_model("b", 2), cache)
    assert isinstance(a, Path) and isinstance(b, Path)
    assert a != b
    assert a.read_bytes() != b.read_bytes()
    assert sorted(os.listdir(cache)) == sorted([a.name, b.name])


def test_write_goes_through_temp_file_and_os_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        # At rename time the temp file is complete and the target does not exist yet.
        assert Path(src).read_bytes() == b"payload"
        assert not Path(dst).exists()
        calls.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(model_cache.os, "replace", spy)
    target = tmp_path / "m.onnx"
    write_atomically(target, b"payload")
    assert len(calls) == 1
    src, dst = calls[0]
    assert Path(src).parent == tmp_path and Path(src).name != target.name
    assert dst == str(target)
    assert target.read_bytes() == b"payload"


def test_failed_write_leaves_neither_partial_nor_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(model_cache.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(tmp_path / "m.onnx", b"x" * 1000)
    assert os.listdir(tmp_path) == []


def test_unwritable_cache_falls_back_to_in_memory_bytes(
    tiny_model: ModelFiles, tmp_path: Path
) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    result = ensure_onnx_model(tiny_model, blocker / "cache")
    assert isinstance(result, bytes) and len(result) > 0


def test_concurrent_builders_all_get_a_complete_file(
    tiny_model: ModelFiles, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    results: list[Path | bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_onnx_model(tiny_model, cache)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    (path,) = set(results)
    assert isinstance(path, Path)
    assert os.listdir(cache) == [path.name]
